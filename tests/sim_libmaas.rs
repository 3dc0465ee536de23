//! Canonical's own client, python-libmaas, against `kubemaas sim` running as a real process:
//! log in, list, allocate, deploy, release (tests/libmaas/accept.py).
//!
//! Needs the venv `.ci/install-test-tools` creates in `.tools/` (the test runs it when the venv
//! is missing, and fails saying how when it cannot).

mod tools_support;

mod sim_process;

use sim_process::SimProcess;
use std::path::Path;
use std::process::Command;

#[test]
fn python_libmaas_accepts_the_simulator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = tools_support::require_libmaas();
    let sim = SimProcess::start();
    let result = Command::new(&python)
        .arg(root.join("tests/libmaas/accept.py"))
        .envs(sim.env.clone())
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "python-libmaas rejected the simulator\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("\"libmaas\": \"accepted\""), "{stdout}");
    drop(sim);
}
