//! `kubemaas sim` as a real process, for the real MAAS clients' suites (python-libmaas,
//! gomaasapi): a frozen clock, 12 machines, its `MAAS_URL` and `MAAS_API_KEY` read from
//! `--print-env`, and killed on every path out of the test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct SimProcess {
    child: Child,
    _state: tempfile::TempDir,
    /// `MAAS_URL` and `MAAS_API_KEY`, as the simulator printed them.
    pub env: Vec<(String, String)>,
}

impl SimProcess {
    pub fn start() -> SimProcess {
        let state = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubemaas"))
            .arg("--state-dir")
            .arg(state.path())
            .args(["sim", "--speed", "0", "--machines", "12", "--print-env"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubemaas runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
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
        SimProcess {
            child,
            _state: state,
            env,
        }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
