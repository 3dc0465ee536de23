//! `kubemaas gateway deploy` and `kubemaas gateway run --pairing-code-file` as real processes on
//! 127.0.0.1, the simulator as MAAS: deploy with `--json`, start the gateway the way the node's
//! systemd unit does with the code from the user-data, then deploy again to pair back; the
//! console records the gateway. No secret in any output.

mod cli_support;

use cli_support::{start_gateway, Transcript};
use kubemaas::bootstrap::cloud_config::CloudConfig;
use kubemaas::bootstrap::gateway_user_data::PAIRING_CODE_PATH;
use kubemaas::gateway::deploy::agent_name;
use kubemaas::sim::{self, SimConfig};

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
    let mut t = Transcript::default();

    // Deploy only, for scripts.
    let stdout = t.ok(
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
    let gateway = start_gateway(
        &node,
        &config,
        &["--pairing-code-file", code_file.to_str().unwrap()],
    );
    t.0.push_str(&gateway.printed);
    assert!(
        gateway.printed.contains("accepted once"),
        "{}",
        gateway.printed
    );
    assert!(!code_file.exists(), "the code file is deleted when read");
    let addr = gateway.addr.clone();

    // Deploy again with the address the console reaches it at: nothing redone, paired back.
    let stdout = t.ok(
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
    assert!(stdout.contains("paired with gateway dc1"), "{stdout}");
    assert!(stdout.contains("nothing changed in MAAS"), "{stdout}");
    let list = t.ok(&console, &["gateway", "list", "-o", "json"]);
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
    let err = t.fails(
        &dir.path().join("other-console"),
        &["gateway", "pair", "--address", &addr, "--code", &code],
    );
    assert!(err.contains("already used"), "{err}");
    drop(gateway);

    t.assert_no_secrets(&key);
    assert!(!t.0.contains(&code), "the embedded code was printed");
}
