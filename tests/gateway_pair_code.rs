//! `gateway pair --code -` reads the code from stdin, so it never sits on the command line
//! (where `ps` shows it to every user of the host).

use kubemaas::gateway::clock::ManualClock;
use kubemaas::gateway::pairing::{Limits, Pairings};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_kubemaas");

fn pair_with_stdin(state: &std::path::Path, stdin: &str) -> String {
    // Port 9 on loopback: nothing listens, so a code that was read gets as far as connecting.
    let mut child = Command::new(BIN)
        .arg("--state-dir")
        .arg(state)
        .args(["gateway", "pair", "--address", "127.0.0.1:9", "--code", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_code_is_read_from_stdin_with_dash() {
    let state = tempfile::tempdir().unwrap();
    let code = Pairings::new(Arc::new(ManualClock::new()), Limits::default()).issue();
    let good = pair_with_stdin(state.path(), &format!("{}\n", code.reveal()));
    // Read and accepted as a code: the failure is reaching the gateway, not the code's form.
    let bad = pair_with_stdin(state.path(), "x\n");
    assert_ne!(good, bad, "{good}");
    assert!(
        !good.contains(&code.reveal()),
        "the code was printed: {good}"
    );
    assert!(bad.to_lowercase().contains("code"), "{bad}");
}
