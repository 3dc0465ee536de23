//! End to end, the real binary in a real terminal (tmux): `kubemaas --demo` (the simulated
//! MAAS, its `demo` account and the embedded engine running in the console), the cluster
//! wizard walked with keystrokes, deploy, the progress pane reaching Running, a pool resized
//! and settling, the cluster deleted by typing its name, and gone from the list. Skipped, with a
//! note, where tmux is not installed.
//!
//! The demo runs fast (KUBEMAAS_DEMO_SPEED, KUBEMAAS_ENGINE_POLL_MS). Waiting on another
//! process's screen cannot be done by message passing: `wait_until` polls the pane with a
//! generous bound and asserts on what the screen says, never on how long anything took.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kubemaas");
const WAIT: Duration = Duration::from_secs(120);

struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
    shell_pid: String,
}

impl Tmux {
    fn start(name: &str, args: &str, env: &[(&str, &str)]) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipped: tmux is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = format!("kubemaas-e2e-{name}-{}", std::process::id());
        let exit_file = dir.path().join("exit");
        let state_dir = dir.path().join("state");
        let script = format!(
            "trap '' HUP; {BIN} --state-dir {} {args}; echo $? > {}; trap - HUP; sleep 60",
            state_dir.display(),
            exit_file.display()
        );
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"]);
        cmd.args([
            "-s",
            "main",
            "-x",
            "120",
            "-y",
            "40",
            "-e",
            "TERM=xterm-256color",
        ]);
        for (k, v) in env {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
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

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "main"]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Literal text (no key names).
    fn text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
    }

    fn wait_for(&self, text: &str) -> String {
        self.wait_until(text, |s| s.contains(text))
    }

    fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < WAIT,
                "the screen never showed {what}:\n{screen}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn children(&self) -> Vec<String> {
        let shell = &self.shell_pid;
        std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
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

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("state/logs/kubemaas.log"))
            .unwrap_or_default();
        // The tail is what matters when a wait fails.
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let mut pids = self.children();
        pids.push(self.shell_pid.clone());
        for pid in pids.iter().filter(|p| !p.is_empty()) {
            let _ = Command::new("kill").args(["-KILL", pid]).output();
        }
        let _ = self.tmux(&["kill-server"]);
    }
}

#[test]
fn demo_wizard_deploy_resize_delete() {
    let Some(t) = Tmux::start(
        "cluster",
        "--demo",
        &[
            ("KUBEMAAS_DEMO_SPEED", "300"),
            ("KUBEMAAS_ENGINE_POLL_MS", "200"),
        ],
    ) else {
        return;
    };
    t.wait_for("[200/200]");
    t.keys(&[":", "clusters", "Enter"]);
    t.wait_for("No clusters yet");

    // The wizard, step by step: a name, then the defaults (the demo account is the only one).
    t.keys(&["n"]);
    t.wait_for("step 1/9");
    t.text("e2e-web");
    t.wait_for("e2e-web");
    // The MAAS lists (zones, pools, machine counts) arrive before the placement step matters.
    for step in 2..=9 {
        t.keys(&["PageDown"]);
        t.wait_for(&format!("step {step}/9"));
        if step == 4 {
            t.wait_for("200 machines");
        }
    }
    t.wait_for("Press enter to deploy");
    t.keys(&["Enter"]);
    t.wait_for("cluster e2e-web is being built");
    t.wait_for("Clusters [1/1]");

    // The progress pane, live, until Running with every node Ready.
    t.keys(&["Enter"]);
    t.wait_for("Cluster e2e-web");
    let screen = t.wait_until("Running and healthy", |s| {
        s.contains(" Running ") && s.contains("healthy") && s.contains("2/2 ready")
    });
    assert!(screen.contains("Machines (3)"), "{screen}");
    assert!(screen.contains("cluster is running"), "{screen}");

    // Resize the workers to 3 and watch it settle.
    t.keys(&["r"]);
    t.wait_for("Pick a pool");
    t.keys(&["Down", "Enter"]);
    t.wait_for("New size");
    t.keys(&["BSpace"]);
    t.text("3");
    t.keys(&["Enter"]);
    t.wait_for("resized to 3");
    let screen = t.wait_until("the resized pool settled", |s| {
        s.contains("3/3 ready") && s.contains("gen 2/2") && s.contains("Machines (4)")
    });
    assert!(screen.contains(" Running "), "{screen}");

    // Delete: the dialog opens on Cancel and wants the name typed.
    t.keys(&["d"]);
    t.wait_for("Delete cluster e2e-web?");
    t.keys(&["Tab"]);
    t.text("e2e-web");
    t.keys(&["Tab", "Enter"]);
    t.wait_for("deletion of cluster e2e-web requested");
    t.wait_until("the cluster deleted", |s| {
        s.contains(" Deleted ") && s.contains("Machines (0)")
    });
    t.keys(&["Escape"]);
    let screen = t.wait_for("No clusters yet");
    assert!(!screen.contains("e2e-web  "), "{screen}");

    // Nothing is mid-change: q leaves at once.
    t.keys(&["q"]);
    assert_eq!(t.exit_code(), "0", "log:\n{}", t.log());
}
