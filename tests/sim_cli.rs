//! `kubemaas sim` as a real process: `--print-env` output, bad arguments, clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Kills the child on every path out of a test.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kubemaas(state: &tempfile::TempDir) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubemaas"));
    c.arg("--state-dir").arg(state.path());
    c
}

#[test]
fn print_env_prints_exactly_two_lines_and_sigterm_exits_cleanly() {
    let state = tempfile::tempdir().unwrap();
    let child = kubemaas(&state)
        .args(["sim", "--speed", "0", "--machines", "3", "--print-env"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubemaas runs");
    let mut guard = Guard(child);
    let mut out = BufReader::new(guard.0.stdout.take().unwrap());
    let mut url = String::new();
    let mut key = String::new();
    out.read_line(&mut url).unwrap();
    out.read_line(&mut key).unwrap();
    let url = url
        .trim_end()
        .strip_prefix("MAAS_URL=")
        .expect("first line MAAS_URL=")
        .to_string();
    let key = key
        .trim_end()
        .strip_prefix("MAAS_API_KEY=")
        .expect("second line MAAS_API_KEY=")
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/MAAS/"),
        "{url}"
    );
    let parts: Vec<&str> = key.split(':').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        vec![18, 18, 32]
    );
    // It serves.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let version = rt.block_on(async {
        match reqwest::get(format!("{url}api/2.0/version/")).await {
            Ok(v) => v.text().await.unwrap(),
            Err(e) => panic!("simulator not reachable at {url}: {e}"),
        }
    });
    assert!(version.contains("\"version\""), "{version}");
    let status = Command::new("kill")
        .args(["-TERM", &guard.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    out.read_line(&mut rest).unwrap();
    assert_eq!(rest, "", "nothing but the two lines on stdout");
    let (tx, rx) = mpsc::channel();
    let mut child = std::mem::replace(&mut guard.0, Command::new("true").spawn().unwrap());
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let exit = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("kubemaas sim stops after SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

#[test]
fn bad_arguments_fail_with_a_clear_message() {
    let state = tempfile::tempdir().unwrap();
    let out = kubemaas(&state)
        .args(["sim", "--fail-deploy-rate", "1.5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--fail-deploy-rate must be a fraction between 0 and 1"),
        "{err}"
    );

    let out = kubemaas(&state)
        .args(["sim", "--http-error-rate=-0.1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--http-error-rate"));

    let missing = state.path().join("no-such-inventory.json");
    let out = kubemaas(&state)
        .args(["sim", "--inventory"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-inventory.json"), "{err}");
}
