//! The real binary in a real terminal (tmux): `kubemaas --demo` opens the console on the
//! in-process simulator, answers keys, and leaves cleanly on `q` and on SIGHUP (a dropped SSH
//! session). Skipped, with a note, where tmux is not installed.
//!
//! Waiting on another process's screen cannot be done by message passing; `wait_for` polls the
//! pane with a generous bound and asserts on content, never on how long anything took.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kubemaas");
const WAIT: Duration = Duration::from_secs(60);

struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
    /// The pane's shell, to end whatever is left of it when the test is done.
    shell_pid: String,
}

impl Tmux {
    /// A private tmux server running `kubemaas <args>` in an 80x24 pane; the exit code is
    /// written to `<dir>/exit` when it ends.
    fn start(name: &str, args: &str, env: &[(&str, &str)]) -> Option<Tmux> {
        Tmux::start_with(name, args, env, |_| {})
    }

    /// Like `start`, after `prepare` has set up the state dir (config files).
    fn start_with(
        name: &str,
        args: &str,
        env: &[(&str, &str)],
        prepare: impl FnOnce(&Path),
    ) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipped: tmux is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        prepare(&dir.path().join("state"));
        let socket = format!("kubemaas-test-{name}-{}", std::process::id());
        let exit_file = dir.path().join("exit");
        let state_dir = dir.path().join("state");
        // The shell ignores SIGHUP so it survives the pane closing long enough to record
        // kubemaas's exit code; kubemaas installs its own handler, so it still receives it.
        // After kubemaas, the shell keeps the pane open (with SIGHUP back to normal so the
        // pane's end ends it) so the test can look at the terminal kubemaas left behind.
        let script = format!(
            "trap '' HUP; {BIN} --state-dir {} {args}; echo $? > {}; trap - HUP; sleep 60",
            state_dir.display(),
            exit_file.display()
        );
        let mut cmd = Command::new("tmux");
        cmd.args([
            "-L",
            &socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "main",
        ]);
        cmd.args(["-x", "80", "-y", "24", "-e", "TERM=xterm-256color"]);
        for (k, v) in env {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        // MAAS_URL / MAAS_API_KEY of the developer's shell must not leak into the test.
        cmd.arg(format!(
            "env -u MAAS_URL -u MAAS_API_KEY sh -c \"{script}\""
        ));
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut t = Tmux {
            socket,
            dir,
            shell_pid: String::new(),
        };
        let pid = t.tmux(&["list-panes", "-t", "main", "-F", "#{pane_pid}"]);
        t.shell_pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap()
    }

    fn screen(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", "main"];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&self.tmux(&args).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn wait_for(&self, text: &str) -> String {
        self.wait_until(|s| s.contains(text))
    }

    fn wait_until(&self, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen(false);
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < WAIT,
                "the screen never got there:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pids of the pane shell's children (kubemaas, later the closing sleep).
    fn children(&self) -> Vec<String> {
        let shell = &self.shell_pid;
        std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The pid of kubemaas: the child of the pane's shell.
    fn kubemaas_pid(&self) -> String {
        self.children().into_iter().next().expect("kubemaas runs")
    }

    fn exit_code(&self) -> String {
        let path: PathBuf = self.dir.path().join("exit");
        let start = Instant::now();
        loop {
            if let Ok(code) = std::fs::read_to_string(&path) {
                if !code.is_empty() {
                    return code.trim().to_string();
                }
            }
            assert!(start.elapsed() < WAIT, "kubemaas did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the pane is back on the main screen with a visible cursor, as before kubemaas.
    fn assert_terminal_restored(&self) {
        let out = self.tmux(&[
            "display-message",
            "-p",
            "-t",
            "main",
            "#{alternate_on} #{cursor_flag}",
        ]);
        let flags = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(flags, "0 1", "alternate screen / cursor flags after exit");
        let screen = self.screen(false);
        assert!(!screen.contains("[200/"), "{screen}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state/logs/kubemaas.log")).unwrap_or_default()
    }

    fn state_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The shell ignores SIGHUP while kubemaas runs, so ending the server may not end it:
        // end this test's own processes by pid.
        let mut pids = self.children();
        pids.push(self.shell_pid.clone());
        for pid in pids.iter().filter(|p| !p.is_empty()) {
            let _ = Command::new("kill").args(["-KILL", pid]).output();
        }
        let _ = self.tmux(&["kill-server"]);
    }
}

#[test]
fn demo_cluster_wizard_to_the_engine() {
    let Some(t) = Tmux::start("wizard", "--demo", &[]) else {
        return;
    };
    t.wait_for("[200/200]");
    t.keys(&[":", "clusters", "Enter"]);
    t.wait_for("No clusters yet");
    t.keys(&["n"]);
    t.wait_for("step 1/9: Basics");
    t.keys(&["demo-1", "PageDown"]);
    t.wait_for("step 2/9: Profile");
    // The simulated MAAS's zones, pools and tags arrive with their machine counts.
    t.keys(&["PageDown", "PageDown", "PageDown", "PageDown"]);
    t.wait_for("step 6/9: Node pools");
    t.wait_for("(n) = Ready machines");
    t.keys(&["PageDown", "PageDown"]);
    // The defaults (pod network 10.244.0.0/16) fit the demo MAAS: the review finds nothing.
    let screen = t.wait_for("step 8/9: Review");
    assert!(screen.contains("podCIDR: 10.244.0.0/16"), "{screen}");
    t.wait_for("No problems");
    t.keys(&["Enter"]);
    t.wait_for("Press enter to deploy");
    t.keys(&["Enter"]);
    // The demo runs the engine: the cluster is accepted and the list shows it.
    t.wait_for("cluster demo-1 is being built");
    t.wait_for("demo-1");
    t.keys(&["q"]);
}

#[test]
fn demo_account_wizard_reports_a_wrong_key() {
    let Some(t) = Tmux::start("account", "--demo", &[]) else {
        return;
    };
    let screen = t.wait_for("[200/200]");
    // The demo MAAS's URL, from the header.
    let endpoint = screen
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .expect("the endpoint is in the header")
        .to_string();
    t.keys(&[":", "new-account", "Enter"]);
    t.wait_for("New cloud account");
    t.keys(&["lab2", "Tab", "Tab", &endpoint, "Tab"]);
    // A well-formed key this MAAS never issued: shown as bullets only.
    let key = "AAAAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBB:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";
    t.keys(&[key]);
    let screen = t.wait_for("••••••••");
    assert!(!screen.contains("AAAAAAAA"), "{screen}");
    t.keys(&["PageDown"]);
    let screen = t.wait_for("refused the API key");
    assert!(
        screen.contains("API key:"),
        "the failure names the field: {screen}"
    );
    t.keys(&["PageUp"]);
    t.wait_for("step 1/2");
    t.keys(&["Escape"]);
    t.wait_for("Discard the new cloud account?");
    t.keys(&["Escape"]);
    t.keys(&["Escape"]);
    t.keys(&["Tab", "Enter"]);
    t.wait_for("[200/200]");
    t.keys(&["q"]);
}

#[test]
fn demo_console_walkthrough() {
    let Some(t) = Tmux::start("walk", "--demo --readonly", &[]) else {
        return;
    };
    let screen = t.wait_for("[200/200]");
    assert!(screen.contains("user admin"), "{screen}");
    assert!(screen.contains("READ-ONLY"), "{screen}");
    t.keys(&[":", "clusters", "Enter"]);
    t.wait_for("No clusters yet.");
    // Read-only: the wizard is refused, and the footer says why.
    t.keys(&["n"]);
    t.wait_for("read-only: creating a cluster is refused");
    t.keys(&["Escape"]);
    t.wait_for("[200/200]");
    t.keys(&["/", "!Ready", "Enter"]);
    let screen = t.wait_for("/!Ready");
    assert!(!screen.contains("│Ready"), "{screen}");
    t.keys(&["?"]);
    t.wait_for("Help");
    // Esc and q sent together read as alt-q (that is how terminals encode alt): wait between.
    t.keys(&["Escape"]);
    t.wait_until(|s| !s.contains("Help"));
    t.keys(&["q"]);
    assert_eq!(t.exit_code(), "0", "log:\n{}", t.log());
    t.assert_terminal_restored();
    // Logs stay in the state dir; the demo's throw-away state dir is gone.
    let log = t.log();
    let demo_dir = log
        .split("state_dir=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the log names the demo state dir:\n{log}"));
    assert!(demo_dir.contains("kubemaas-demo-"), "{demo_dir}");
    assert!(!Path::new(demo_dir).exists(), "{demo_dir} was left behind");
    assert!(t.state_dir().join("state/logs").exists());
}

#[test]
fn sighup_and_sigterm_leave_cleanly() {
    for signal in ["HUP", "TERM"] {
        let Some(t) = Tmux::start(&format!("sig{signal}"), "--demo", &[]) else {
            return;
        };
        t.wait_for("[200/200]");
        let pid = t.kubemaas_pid();
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        assert_eq!(t.exit_code(), "0", "log:\n{}", t.log());
        let log = t.log();
        assert!(
            log.contains(&format!("SIG{signal}")) && log.contains("console closed"),
            "log:\n{log}"
        );
        t.assert_terminal_restored();
    }
}

#[test]
fn a_terminal_that_hangs_up_without_a_signal_is_noticed() {
    let Some(t) = Tmux::start("hangup", "--demo", &[]) else {
        return;
    };
    t.wait_for("[200/200]");
    // Closing the session hangs up the pane's terminal, as a dropped SSH connection does;
    // the pane's shell ignores SIGHUP, so only the hang-up itself tells kubemaas.
    t.tmux(&["kill-session", "-t", "main"]);
    assert_eq!(t.exit_code(), "0", "log:\n{}", t.log());
    assert!(
        t.log().contains("the terminal hung up"),
        "log:\n{}",
        t.log()
    );
}

#[test]
fn no_color_means_no_colour_codes() {
    let Some(t) = Tmux::start("nocolor", "--demo", &[("NO_COLOR", "1")]) else {
        return;
    };
    t.wait_for("[200/200]");
    let screen = t.screen(true);
    for sgr in screen.split("\x1b[").skip(1) {
        let Some(end) = sgr.find('m') else { continue };
        for p in sgr[..end].split(';').filter_map(|p| p.parse::<u32>().ok()) {
            assert!(
                !matches!(p, 30..=38 | 40..=48 | 90..=97 | 100..=107),
                "colour SGR {p} under NO_COLOR in {:?}",
                &sgr[..end]
            );
        }
    }
    // Attributes carry the meaning instead: the selection is reversed (SGR 7).
    let reversed = screen.split("\x1b[").skip(1).any(|sgr| {
        sgr.split_once('m')
            .is_some_and(|(params, _)| params.split(';').any(|p| p == "7"))
    });
    assert!(reversed, "{screen:?}");
    t.keys(&["q"]);
    assert_eq!(t.exit_code(), "0");
    t.assert_terminal_restored();
}

#[test]
fn without_maas_the_console_explains_how_to_start() {
    let Some(t) = Tmux::start("welcome", "", &[]) else {
        return;
    };
    let screen = t.wait_for("No MAAS is configured yet");
    assert!(screen.contains("kubemaas --demo"), "{screen}");
    t.keys(&["q"]);
    assert_eq!(t.exit_code(), "0");
    t.assert_terminal_restored();
}

#[test]
fn a_broken_keymap_is_reported_in_the_console_and_a_user_theme_applies() {
    let prepare = |state: &Path| {
        let config = state.join("config");
        std::fs::create_dir_all(config.join("themes")).unwrap();
        std::fs::write(config.join("keymap.yaml"), "quit: [x]\nexplode: y\n").unwrap();
        std::fs::write(
            config.join("themes/site.yaml"),
            "tokens:\n  title: { fg: red }\n",
        )
        .unwrap();
    };
    let Some(t) = Tmux::start_with("config", "--demo --theme site", &[], prepare) else {
        return;
    };
    let screen = t.wait_for("[200/200]");
    assert!(screen.contains("unknown action `explode`"), "{screen}");
    // The valid part applies: x quits, q no longer does.
    t.keys(&["q"]);
    t.keys(&[":", "gw", "Enter"]);
    // The Gateways screen lists the embedded engine (asked on a task, so it comes a bit later).
    t.wait_for("embedded");
    t.keys(&["x"]);
    assert_eq!(t.exit_code(), "0", "log:\n{}", t.log());
}
