//! The `kubemaas` binary run as operators run it, for the CLI suites: commands whose output is
//! all kept (to check that no secret is among it), and a `kubemaas gateway run` process read
//! until it is ready to pair.
#![allow(dead_code)]

pub mod proc;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_kubemaas");

/// Every byte any command printed, to check that no secret is among them.
#[derive(Default)]
pub struct Transcript(pub String);

impl Transcript {
    /// `kubemaas --state-dir STATE ARGS` with `stdin` piped in (closed at once when `None`),
    /// without the MAAS environment variables of whoever runs the tests.
    pub fn run(&mut self, state: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--state-dir").arg(state).args(args);
        cmd.env_remove("MAAS_URL").env_remove("MAAS_API_KEY");
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubemaas runs");
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        self.0.push_str(&String::from_utf8_lossy(&out.stdout));
        self.0.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&mut self, state: &Path, args: &[&str]) -> String {
        let out = self.run(state, args, None);
        assert!(
            out.status.success(),
            "kubemaas {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must fail; its stderr.
    pub fn fails(&mut self, state: &Path, args: &[&str]) -> String {
        let out = self.run(state, args, None);
        assert!(!out.status.success(), "kubemaas {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// No part of the MAAS API key `key` and no private key was printed.
    pub fn assert_no_secrets(&self, key: &str) {
        for part in key.split(':') {
            assert!(
                !self.0.contains(part),
                "a part of the MAAS API key was printed"
            );
        }
        assert!(!self.0.contains("PRIVATE KEY"), "a private key was printed");
    }
}

/// A running `kubemaas gateway run`, killed when dropped.
pub struct GatewayProcess {
    pub child: Child,
    /// What the gateway prints after it is ready.
    pub stdout: BufReader<std::process::ChildStdout>,
    /// Where consoles reach it, and its pairing code, as its "pair a console with" line says.
    pub addr: String,
    pub code: String,
    /// What it printed up to that line.
    pub printed: String,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kubemaas --state-dir STATE gateway run -c CONFIG EXTRA` and reads its stdout up to
/// the line that tells how to pair a console (the gateway is serving by then).
pub fn start_gateway(state: &Path, config: &Path, extra: &[&str]) -> GatewayProcess {
    let mut child = Command::new(BIN)
        .arg("--state-dir")
        .arg(state)
        .args(["gateway", "run", "-c"])
        .arg(config)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let (mut addr, mut code) = (None, None);
    while addr.is_none() || code.is_none() {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            panic!("the gateway stopped before it was ready:\n{printed}");
        }
        let line = line.trim_end().to_string();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) =
            line.strip_prefix("pair a console with: kubemaas gateway pair --address ")
        {
            let mut words = rest.split_whitespace();
            addr = words.next().map(str::to_string);
            code = words.nth(1).map(str::to_string);
        }
    }
    GatewayProcess {
        child,
        stdout,
        addr: addr.unwrap(),
        code: code.unwrap(),
        printed,
    }
}
