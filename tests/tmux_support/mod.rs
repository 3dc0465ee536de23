//! The real binary in a real terminal: a private tmux server running `kubemaas` in one pane,
//! shared by the console's end-to-end tests.
//!
//! Waiting on another process's screen cannot be done by message passing: `wait_until` polls
//! the pane with a generous bound and asserts on what the screen says, never on how long
//! anything took. A missing tmux is installed by .ci/install-test-tools where it can be,
//! and otherwise fails the test with the command to run.
#![allow(dead_code)] // each test crate uses a different part

// Test crates may include several support modules that each bring this one.
#[allow(clippy::duplicate_mod)]
#[path = "../tools_support/mod.rs"]
mod tools_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kubemaas");
/// The bound on every wait: generous, because CI runs several of these at once on 2 cores.
const WAIT: Duration = Duration::from_secs(120);

pub struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
    /// The pane's shell, to end whatever is left of it when the test is done.
    shell_pid: String,
}

impl Tmux {
    /// `kubemaas <args>` in an 80x24 pane; the exit code is written to `<dir>/exit` when it
    /// ends.
    pub fn start(name: &str, args: &str, env: &[(&str, &str)]) -> Tmux {
        Tmux::launch(name, args, env, (80, 24), |_| {})
    }

    /// Like `start`, in a pane of `size` (columns, rows).
    pub fn start_sized(name: &str, args: &str, env: &[(&str, &str)], size: (u16, u16)) -> Tmux {
        Tmux::launch(name, args, env, size, |_| {})
    }

    /// Like `start`, after `prepare` has set up the state dir (config files).
    pub fn start_with(
        name: &str,
        args: &str,
        env: &[(&str, &str)],
        prepare: impl FnOnce(&Path),
    ) -> Tmux {
        Tmux::launch(name, args, env, (80, 24), prepare)
    }

    fn launch(
        name: &str,
        args: &str,
        env: &[(&str, &str)],
        size: (u16, u16),
        prepare: impl FnOnce(&Path),
    ) -> Tmux {
        tools_support::require("tmux");
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        prepare(&state_dir);
        let socket = format!("kubemaas-test-{name}-{}", std::process::id());
        let exit_file = dir.path().join("exit");
        // The shell ignores SIGHUP so it survives the pane closing long enough to record
        // kubemaas's exit code; kubemaas installs its own handler, so it still receives it.
        // After kubemaas, the shell keeps the pane open (with SIGHUP back to normal so the
        // pane's end ends it) so the test can look at the terminal kubemaas left behind.
        let script = format!(
            "trap '' HUP; {BIN} --state-dir {} {args}; echo $? > {}; trap - HUP; sleep 60",
            state_dir.display(),
            exit_file.display()
        );
        let (cols, rows) = (size.0.to_string(), size.1.to_string());
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"]);
        cmd.args(["-s", "main", "-x", &cols, "-y", &rows]);
        cmd.args(["-e", "TERM=xterm-256color"]);
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
        t
    }

    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap()
    }

    /// The pane's text.
    pub fn screen(&self) -> String {
        self.capture(&["capture-pane", "-p", "-t", "main"])
    }

    /// The pane's text with its colour and style escapes.
    pub fn screen_with_escapes(&self) -> String {
        self.capture(&["capture-pane", "-p", "-e", "-t", "main"])
    }

    fn capture(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.tmux(args).stdout).into_owned()
    }

    /// Keys by tmux name (`Enter`, `Escape`, `PageDown`) or plain text.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Literal text (no key names).
    pub fn text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
    }

    pub fn wait_for(&self, text: &str) -> String {
        self.wait_until(text, |s| s.contains(text))
    }

    /// Polls the screen until `ok`; fails naming `what`, with the screen and the log's tail.
    pub fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < WAIT,
                "the screen never showed {what}:\n{screen}\nlog:\n{}",
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pids of the pane shell's children (kubemaas, later the closing sleep).
    pub fn children(&self) -> Vec<String> {
        let shell = &self.shell_pid;
        std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The pid of kubemaas: the child of the pane's shell.
    pub fn kubemaas_pid(&self) -> String {
        self.children().into_iter().next().expect("kubemaas runs")
    }

    pub fn exit_code(&self) -> String {
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
    pub fn assert_terminal_restored(&self) {
        let out = self.tmux(&[
            "display-message",
            "-p",
            "-t",
            "main",
            "#{alternate_on} #{cursor_flag}",
        ]);
        let flags = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(flags, "0 1", "alternate screen / cursor flags after exit");
        let screen = self.screen();
        assert!(!screen.contains("[200/"), "{screen}");
    }

    /// kubemaas's whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state/logs/kubemaas.log")).unwrap_or_default()
    }

    /// The last `n` lines of the log: what matters when a wait fails.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The test's directory (the state dir is `state/` inside it).
    pub fn state_dir(&self) -> &Path {
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
