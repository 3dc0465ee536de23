//! Canonical's own client, python-libmaas, against `kubemaas sim` running as a real process:
//! log in, list, allocate, deploy, release (tests/libmaas/accept.py).
//!
//! Needs the venv `.ci/install-test-tools` creates in `.tools/` (the test runs it when the venv
//! is missing, and fails saying how when it cannot).

mod tools_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Kills the simulator on every path out of the test.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn python_libmaas_accepts_the_simulator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = tools_support::require_libmaas();
    let state = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kubemaas"))
        .arg("--state-dir")
        .arg(state.path())
        .args(["sim", "--speed", "0", "--machines", "12", "--print-env"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubemaas runs");
    let mut guard = Guard(child);
    let mut out = BufReader::new(guard.0.stdout.take().unwrap());
    let mut env = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let (k, v) = line
            .trim_end()
            .split_once('=')
            .unwrap_or_else(|| panic!("expected NAME=value, got {line:?}"));
        env.push((k.to_string(), v.to_string()));
    }
    let result = Command::new(&python)
        .arg(root.join("tests/libmaas/accept.py"))
        .envs(env)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "python-libmaas rejected the simulator\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("\"libmaas\": \"accepted\""), "{stdout}");
    drop(guard);
}
