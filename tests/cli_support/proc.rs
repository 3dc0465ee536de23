//! A `kubemaas` child process for the multi-process suites: its stdout read line by line on a
//! thread, waited on under a deadline, killed when the test ends.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Far longer than any step needs; a hang fails instead of blocking the suite.
pub const DEADLINE: Duration = Duration::from_secs(240);

/// A child process killed when the test ends, its stdout read line by line.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    /// The test's kubemaas with `--state-dir state` (when given) and `args`.
    pub fn spawn(state: Option<&Path>, args: &[&str]) -> Proc {
        Proc::spawn_with(Path::new(super::BIN), state, args, &[])
    }

    /// `program` (a kubemaas, or a wrapper that execs one) with extra environment. The
    /// operator's MAAS / state / test-hook variables never leak in from the test's own.
    pub fn spawn_with(
        program: &Path,
        state: Option<&Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Proc {
        let mut cmd = Command::new(program);
        if let Some(s) = state {
            cmd.arg("--state-dir").arg(s);
        }
        cmd.args(args)
            .env_remove("MAAS_URL")
            .env_remove("MAAS_API_KEY")
            .env_remove("KUBEMAAS_STATE_DIR")
            .env_remove("KUBEMAAS_REPORT_VERSION")
            .env_remove("KUBEMAAS_REPORT_PROTOCOL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("kubemaas starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `want`; panics with what was seen at the deadline or
    /// when the process ends first.
    pub fn until(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {what}; seen:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Waits for the process to exit, under the deadline: whether it succeeded, and all it
    /// printed.
    pub fn exit(&mut self) -> (bool, String) {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    self.seen.push(line);
                }
                return (status.success(), self.seen.join("\n"));
            }
            assert!(
                Instant::now() < end,
                "still running; seen:\n{}",
                self.seen.join("\n")
            );
            // Polling a child's exit status: no event to wait on in std.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What follows `prefix` in `line`, trimmed ("" when it is not there).
pub fn after<'a>(line: &'a str, prefix: &str) -> &'a str {
    line.split_once(prefix).map(|(_, r)| r).unwrap_or("").trim()
}

/// The `gateway init --from` input of a 1-node gateway `dc1` in front of the MAAS at `url`.
pub fn gateway_input(url: &str, api_key: &str) -> String {
    format!(
        "apiVersion: kubemaas.io/v1
kind: Gateway
name: dc1
listen: 127.0.0.1:0
maas:
  endpoint: {url}
  apiKey: {api_key}
network:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
placement:
  nodes: 1
"
    )
}

/// `program gateway run -c config` on 127.0.0.1:0, reconciling every 200 ms, read until it
/// listens: the process and the address consoles reach it at. Its later lines (CA
/// fingerprint, pairing code) are still to be read.
pub fn run_gateway(
    program: &Path,
    state: &Path,
    config: &Path,
    env: &[(&str, &str)],
) -> (Proc, String) {
    let mut proc = Proc::spawn_with(
        program,
        Some(state),
        &[
            "gateway",
            "run",
            "-c",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--reconcile-ms",
            "200",
            "--heartbeat-ms",
            "1000",
        ],
        env,
    );
    let address = after(
        &proc.until("the listen address", |l| l.contains(" listening on ")),
        " listening on ",
    )
    .to_string();
    (proc, address)
}
