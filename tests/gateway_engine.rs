//! The engine through a gateway, with real processes on 127.0.0.1: a simulator, a gateway
//! (`gateway init --from` + `gateway run`) and two consoles, each with its own state dir and
//! pairing. A cluster is created through the gateway, the console that created it is killed
//! mid-provisioning, a second console watches it reach Running, both list it, the gateway
//! cannot be deleted while it exists, and it is deleted through the gateway.
//!
//! Every wait polls a condition under a deadline; child processes die with the test.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cli_support::proc::{after, gateway_input, run_gateway, Proc, DEADLINE};
use cli_support::BIN;

fn run(state: &Path, args: &[&str]) -> Output {
    let mut p = Command::new(BIN);
    p.arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("MAAS_URL")
        .env_remove("MAAS_API_KEY")
        .env_remove("KUBEMAAS_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = p.spawn().expect("kubemaas runs");
    // Bounded: a command that hangs is killed by its guard.
    let mut guard = ChildGuard(Some(child));
    let end = Instant::now() + DEADLINE;
    loop {
        let child = guard.0.as_mut().unwrap();
        if child.try_wait().unwrap().is_some() {
            return guard.0.take().unwrap().wait_with_output().unwrap();
        }
        assert!(Instant::now() < end, "kubemaas {args:?} did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn ok(state: &Path, args: &[&str]) -> String {
    let out = run(state, args);
    assert!(
        out.status.success(),
        "kubemaas {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(state: &Path, args: &[&str]) -> String {
    let out = run(state, args);
    assert!(
        !out.status.success(),
        "kubemaas {args:?} should fail:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Setup {
    _sim: Proc,
    gateway: Proc,
    dir: tempfile::TempDir,
    gw_state: PathBuf,
    address: String,
    url: String,
    api_key: String,
}

fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Proc::spawn(
        None,
        &[
            "sim",
            "--print-env",
            "--machines",
            "12",
            "--seed",
            "5",
            "--speed",
            "120",
        ],
    );
    let url = after(&sim.until("MAAS_URL", |l| l.starts_with("MAAS_URL=")), "=").to_string();
    let api_key = after(
        &sim.until("MAAS_API_KEY", |l| l.starts_with("MAAS_API_KEY=")),
        "=",
    )
    .to_string();
    let input = dir.path().join("in.yaml");
    std::fs::write(&input, gateway_input(&url, &api_key)).unwrap();
    let gw_state = dir.path().join("gateway");
    let config = dir.path().join("gateway.yaml");
    ok(
        &gw_state,
        &[
            "gateway",
            "init",
            "--from",
            input.to_str().unwrap(),
            "-c",
            config.to_str().unwrap(),
        ],
    );
    let (gateway, address) = run_gateway(Path::new(BIN), &gw_state, &config, &[]);
    Setup {
        _sim: sim,
        gateway,
        dir,
        gw_state,
        address,
        url,
        api_key,
    }
}

impl Setup {
    /// A console with its own state dir, paired as `gw1` with a fresh code.
    fn console(&mut self, name: &str) -> PathBuf {
        let state = self.dir.path().join(name);
        let code = if name == "console-a" {
            after(
                &self
                    .gateway
                    .until("the pairing code", |l| l.starts_with("pairing code: ")),
                "pairing code: ",
            )
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
        } else {
            let out = ok(&self.gw_state, &["gateway", "pairing-code"]);
            after(&out, "pairing code: ")
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        };
        let out = ok(
            &state,
            &[
                "gateway",
                "pair",
                "--address",
                &self.address,
                "--code",
                &code,
                "--name",
                "gw1",
                "--console-name",
                name,
            ],
        );
        assert!(out.contains("paired with gateway gw1"), "{out}");
        state
    }
}

#[test]
fn a_cluster_through_a_gateway_survives_its_console_and_is_watched_from_another() {
    let mut s = start();
    let a = s.console("console-a");
    let b = s.console("console-b");

    // The gateway's MAAS is its default account, seen from a console through it.
    let accounts = ok(&a, &["account", "list", "--gateway", "gw1"]);
    assert!(
        accounts.contains("dc1") && accounts.contains("gw1"),
        "{accounts}"
    );

    let spec = ok(
        &a,
        &[
            "cluster",
            "new",
            "web",
            "--account",
            "dc1",
            "--control-plane",
            "1",
            "--workers",
            "1",
        ],
    );
    let file = s.dir.path().join("spec.yaml");
    std::fs::write(&file, spec).unwrap();

    // An account added from a console is checked and kept on the gateway, not here.
    let out = ok(
        &b,
        &[
            "account",
            "add",
            "lab2",
            "--endpoint",
            &s.url,
            "--api-key",
            &s.api_key,
            "--gateway",
            "gw1",
        ],
    );
    assert!(out.contains("account lab2 added"), "{out}");
    let listed = ok(&a, &["account", "list", "--gateway", "gw1", "-o", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dc1", "lab2"]);
    let shown = ok(&a, &["account", "show", "lab2", "--gateway", "gw1"]);
    assert!(shown.contains("gw1"), "{shown}");
    let local = ok(&b, &["account", "list"]);
    assert!(!local.contains("lab2"), "{local}");

    // Console A creates and follows; it is killed once it has seen provisioning under way.
    let mut creator = Proc::spawn(
        Some(&a),
        &[
            "cluster",
            "create",
            "--gateway",
            "gw1",
            "-f",
            file.to_str().unwrap(),
            "--wait",
        ],
    );
    // Console B follows the journal live from the start, once the cluster exists.
    let first = creator.until("the cluster created", |l| l.starts_with("web: "));
    let mut events = Proc::spawn(
        Some(&b),
        &["cluster", "events", "web", "--follow", "--gateway", "gw1"],
    );
    events.until("the submission, from the journal", |l| {
        l.contains("cluster web submitted")
    });
    if !first.starts_with("web: Provisioning") {
        creator.until("provisioning progress", |l| {
            l.starts_with("web: Provisioning")
        });
    }
    creator.kill();

    strangers_get_nothing(&s.address, &a);

    // Nothing of it lives in the consoles' own state dirs.
    let local = ok(&a, &["cluster", "list"]);
    assert!(local.contains("no clusters"), "{local}");

    // Console B attaches and sees it through to Running.
    let mut watcher = Proc::spawn(
        Some(&b),
        &[
            "cluster",
            "wait",
            "web",
            "--for",
            "running",
            "--gateway",
            "gw1",
        ],
    );
    let (done, out) = watcher.exit();
    assert!(done, "wait failed:\n{out}");
    assert!(out.contains("cluster web is Running"), "{out}");

    for console in [&a, &b] {
        let list = ok(console, &["cluster", "list", "--gateway", "gw1"]);
        assert!(list.contains("web") && list.contains("Running"), "{list}");
    }
    let shown = ok(
        &b,
        &["cluster", "show", "web", "--gateway", "gw1", "-o", "json"],
    );
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["phase"], "Running");

    // The gateway still runs `web`: deleting it from a console is refused, naming it.
    let err = fails(&a, &["gateway", "delete", "gw1"]);
    assert!(err.contains("web"), "{err}");

    let out = ok(
        &b,
        &["cluster", "delete", "web", "--gateway", "gw1", "--wait"],
    );
    assert!(out.contains("Deleted"), "{out}");
    let list = ok(&a, &["cluster", "list", "--gateway", "gw1"]);
    assert!(list.contains("no clusters"), "{list}");
    // The follower saw the deletion live, over the same connection it opened at the start.
    events.until("the deletion, live", |l| l.contains("delete requested"));
    events.kill();
    ok(&a, &["gateway", "delete", "gw1"]);

    // A gateway that cannot be asked is not deleted without --force.
    s.gateway.kill();
    let err = fails(&b, &["gateway", "delete", "gw1"]);
    assert!(err.contains("--force"), "{err}");
    ok(&b, &["gateway", "delete", "gw1", "--force"]);

    // No console ever printed the MAAS key.
    let out = format!("{out}{accounts}");
    for part in s.api_key.split(':') {
        assert!(!out.contains(part) && !list.contains(part));
    }
}

/// A client without a certificate, and one with a certificate from another CA, get nothing
/// from the engine routes of the running gateway.
fn strangers_get_nothing(address: &str, paired: &Path) {
    use kubemaas::gateway::{pki, tls, GatewayClient, GatewayPki};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ca_pem = std::fs::read_to_string(paired.join("gateways/gw1/ca.pem")).unwrap();
    let ca = pki::cert_from_pem(&ca_pem, Path::new("ca.pem")).unwrap();
    rt.block_on(async {
        let anonymous = reqwest::Client::builder()
            .use_preconfigured_tls(tls::pinned_anonymous_config(&ca).unwrap())
            .build()
            .unwrap();
        for path in [
            "/v1/clusters",
            "/v1/clusters/web",
            "/v1/events/stream",
            "/v1/accounts",
        ] {
            let answer = anonymous
                .get(format!("https://{address}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 401, "{path}");
            let body = answer.text().await.unwrap();
            assert!(!body.contains("web") && !body.contains("dc1"), "{body}");
        }
        let other = tempfile::tempdir().unwrap();
        let foreign = GatewayPki::load_or_create(other.path(), &[]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = foreign
            .issue_client("mallory", key.public_key_raw())
            .unwrap();
        let client = GatewayClient::new(address, &ca_pem, &cert, &key.serialize_pem()).unwrap();
        assert!(
            client
                .get::<serde_json::Value>("/v1/clusters")
                .await
                .is_err(),
            "a foreign certificate must get nothing"
        );
    });
}
