//! `kubemaas gateway deploy` and `kubemaas gateway run --pairing-code-file` as real processes on
//! 127.0.0.1, the simulator as MAAS: deploy with `--json`, start the gateway the way the node's
//! systemd unit does with the code from the user-data, then deploy again to pair back; the
//! console records the gateway. No secret in any output.

use kubemaas::bootstrap::cloud_config::CloudConfig;
use kubemaas::bootstrap::gateway_user_data::PAIRING_CODE_PATH;
use kubemaas::gateway::deploy::agent_name;
use kubemaas::sim::{self, SimConfig};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kubemaas");

fn kubemaas(state: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("MAAS_API_KEY")
        .env_remove("MAAS_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_then_the_gateway_accepts_the_embedded_code_once_and_the_console_pairs_back() {
    // A fast virtual clock: a deployment (ten virtual minutes) takes about a real second, and
    // the command polls every second until it is done.
    let sim = sim::start(SimConfig::generated(4, 21).speed(600.0))
        .await
        .unwrap();
    let key = sim.api_key().expose();
    let dir = tempfile::tempdir().unwrap();
    let console = dir.path().join("console");
    let node = dir.path().join("node");
    let config = dir.path().join("gateway.yaml");
    let text = format!(
        "apiVersion: kubemaas.io/v1
kind: Gateway
name: dc1
listen: 127.0.0.1:0
maas:
  endpoint: {}
  apiKey: {key}
placement:
  nodes: 1
artifact:
  url: https://files.example/kubemaas
  sha256: {}
",
        sim.url(),
        "c".repeat(64)
    );
    kubemaas::paths::write_private_file(&config, text.as_bytes()).unwrap();
    let cfg = config.to_str().unwrap();
    let mut printed = String::new();

    // Deploy only, for scripts.
    let out = kubemaas(
        &console,
        &[
            "gateway",
            "deploy",
            "-c",
            cfg,
            "--json",
            "--no-pair",
            "--poll-secs",
            "1",
        ],
    );
    let stdout = ok(&out, "gateway deploy --json");
    printed.push_str(&stdout);
    printed.push_str(&String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let steps: Vec<&str> = lines.iter().filter_map(|v| v["step"].as_str()).collect();
    assert!(
        steps.contains(&"allocate") && steps.contains(&"deployed"),
        "{stdout}"
    );
    let outcome = lines.last().unwrap();
    assert_eq!(outcome["pairing"], "not_paired");
    assert_eq!(outcome["machines"][0]["status"], "Deployed");

    // On the node: cloud-init writes the code file, the unit starts the gateway with it.
    let machine = sim
        .machines()
        .into_iter()
        .find(|m| m.agent_name == agent_name("dc1") && m.owner.is_some())
        .expect("the gateway's machine");
    let ud: CloudConfig = serde_yaml::from_slice(machine.user_data.as_deref().unwrap()).unwrap();
    let code_file = dir.path().join("pairing-code");
    let content = &ud
        .write_files
        .iter()
        .find(|f| f.path == PAIRING_CODE_PATH)
        .unwrap()
        .content;
    std::fs::write(&code_file, content).unwrap();
    let mut child = Command::new(BIN)
        .arg("--state-dir")
        .arg(&node)
        .args(["gateway", "run", "-c", cfg, "--pairing-code-file"])
        .arg(&code_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let gateway = Killed(child);
    let mut addr = None;
    let mut started = String::new();
    while addr.is_none() {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            panic!("the gateway stopped before it was ready:\n{started}");
        }
        started.push_str(&line);
        if let Some(rest) = line.strip_prefix("gateway dc1 listening on ") {
            addr = Some(rest.trim().to_string());
        }
    }
    // Its own code is printed after the address; read up to it.
    while !started.contains("pair a console with:") {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        started.push_str(&line);
    }
    printed.push_str(&started);
    assert!(started.contains("accepted once"), "{started}");
    assert!(!code_file.exists(), "the code file is deleted when read");
    let addr = addr.unwrap();

    // Deploy again with the address the console reaches it at: nothing redone, paired back.
    let out = kubemaas(
        &console,
        &[
            "gateway",
            "deploy",
            "-c",
            cfg,
            "--pair-address",
            &addr,
            "--poll-secs",
            "1",
            "--console-name",
            "laptop",
        ],
    );
    let stdout = ok(&out, "gateway deploy (pair back)");
    printed.push_str(&stdout);
    printed.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("paired with gateway dc1"), "{stdout}");
    assert!(stdout.contains("nothing changed in MAAS"), "{stdout}");
    let list = ok(
        &kubemaas(&console, &["gateway", "list", "-o", "json"]),
        "list",
    );
    let rows: serde_json::Value = serde_json::from_str(&list).unwrap();
    let dc1 = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "dc1")
        .expect("dc1 recorded");
    assert_eq!(dc1["paired"], true);
    assert_eq!(dc1["address"], addr.as_str());

    // The code pairs once: the gateway refuses it now (the console knows it paired, so ask
    // with `gateway pair` under another name).
    let code = content.trim().to_string();
    let out = kubemaas(
        &dir.path().join("other-console"),
        &["gateway", "pair", "--address", &addr, "--code", &code],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already used"));
    drop(gateway);

    for part in key.split(':') {
        assert!(
            !printed.contains(part),
            "a part of the MAAS API key was printed"
        );
    }
    assert!(!printed.contains(&code), "the embedded code was printed");
}
