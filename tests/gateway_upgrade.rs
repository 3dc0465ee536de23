//! `kubemaas gateway upgrade` and the protocol checks, with real processes on 127.0.0.1.
//!
//! The "newer" kubemaas is the same binary run through a small shell wrapper that sets
//! `KUBEMAAS_REPORT_VERSION=0.2.0` (the build's test hook for the version it reports) and then
//! execs it. The wrapper also holds the restarted gateway until the test creates a file, so the
//! window in which the gateway is away is the test's to control, not a race: a cluster request
//! made in it is queued, shown Queued, and created exactly once when the gateway is back.
//!
//! The gateway runs from a hard link to the test binary in a directory of its own (under
//! CARGO_TARGET_TMPDIR, the same file system as the build), because an upgrade replaces the
//! executable it runs from: the link is replaced, the build's binary is not.
//!
//! Every wait polls a condition under a deadline; child processes die with the test.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cli_support::proc::{after, gateway_input, run_gateway, Proc, DEADLINE};
use cli_support::BIN;
const API_KEY: &str = "abcdefghijklmnopqr:ABCDEFGHIJKLMNOPQR:0123456789abcdef0123456789abcdef";

/// One console command, bounded by the deadline.
fn run(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut p = Command::new(BIN);
    p.arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("MAAS_URL")
        .env_remove("MAAS_API_KEY")
        .env_remove("KUBEMAAS_STATE_DIR")
        .env_remove("KUBEMAAS_REPORT_VERSION")
        .env_remove("KUBEMAAS_REPORT_PROTOCOL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Some(p.spawn().expect("kubemaas runs"));
    let end = Instant::now() + DEADLINE;
    loop {
        let c = child.as_mut().unwrap();
        if c.try_wait().unwrap().is_some() {
            return child.take().unwrap().wait_with_output().unwrap();
        }
        if Instant::now() >= end {
            let _ = c.kill();
            panic!("kubemaas {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ok(state: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(state, args, env);
    assert!(
        out.status.success(),
        "kubemaas {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(state: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(state, args, env);
    assert!(
        !out.status.success(),
        "kubemaas {args:?} should fail:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A directory the gateway's executable lives in: a hard link to the test binary (a copy
/// where linking is not possible).
fn install_dir(root: &Path) -> PathBuf {
    let dir = root.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("kubemaas");
    if std::fs::hard_link(BIN, &exe).is_err() {
        std::fs::copy(BIN, &exe).unwrap();
    }
    exe
}

fn gateway_yaml(path: &Path, maas_url: &str, api_key: &str) {
    std::fs::write(path, gateway_input(maas_url, api_key)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

struct Gateway {
    proc: Proc,
    address: String,
    code: String,
}

fn start_gateway(exe: &Path, state: &Path, config: &Path, env: &[(&str, &str)]) -> Gateway {
    let (mut proc, address) = run_gateway(exe, state, config, env);
    let code = after(
        &proc.until("the pairing code", |l| l.starts_with("pairing code: ")),
        "pairing code: ",
    )
    .split_whitespace()
    .next()
    .unwrap()
    .to_string();
    Gateway {
        proc,
        address,
        code,
    }
}

fn pair(console: &Path, gw: &Gateway) {
    let out = ok(
        console,
        &[
            "gateway",
            "pair",
            "--address",
            &gw.address,
            "--code",
            &gw.code,
            "--console-name",
            "console-a",
        ],
        &[],
    );
    assert!(out.contains("paired with gateway dc1"), "{out}");
}

/// A closed port on loopback: a MAAS that is not there.
fn closed_maas() -> String {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    format!("http://{addr}/MAAS/")
}

fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn count_named(list_json: &str, name: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(list_json).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == name)
        .count()
}

const NEWER: &[(&str, &str)] = &[("KUBEMAAS_REPORT_VERSION", "0.2.0")];

#[test]
fn an_upgrade_queues_a_cluster_request_and_creates_it_once_when_the_gateway_is_back() {
    let root = tempfile::Builder::new()
        .prefix("upgrade-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let exe = install_dir(root.path());
    let mut sim = Proc::spawn_with(
        Path::new(BIN),
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
        &[],
    );
    let url = after(&sim.until("MAAS_URL", |l| l.starts_with("MAAS_URL=")), "=").to_string();
    let key = after(
        &sim.until("MAAS_API_KEY", |l| l.starts_with("MAAS_API_KEY=")),
        "=",
    )
    .to_string();
    let gw_state = root.path().join("gateway");
    let config = root.path().join("gateway.yaml");
    gateway_yaml(&config, &url, &key);
    let mut gw = start_gateway(&exe, &gw_state, &config, &[]);
    let pid = gw.proc.child.id();
    let console = root.path().join("console");
    pair(&console, &gw);

    // This console is "newer": it says so, with what changed.
    let shown = ok(&console, &["gateway", "show", "dc1"], NEWER);
    assert!(
        shown.contains("gateway dc1 runs 0.1.0, this console 0.2.0"),
        "{shown}"
    );
    assert!(shown.contains("kubemaas gateway upgrade dc1"), "{shown}");
    let listed = ok(&console, &["gateway", "list"], NEWER);
    assert!(
        listed.contains("0.1.0 (older than this console)"),
        "{listed}"
    );
    let listed = ok(&console, &["gateway", "list", "-o", "json"], NEWER);
    assert!(
        listed.contains("\"console_version\": \"0.2.0\""),
        "{listed}"
    );

    let spec = ok(
        &console,
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
        &[],
    );
    let spec_file = root.path().join("spec.yaml");
    std::fs::write(&spec_file, spec).unwrap();

    // The "newer" build, which holds the restarted gateway until `go` exists.
    let go = root.path().join("go");
    let next = root.path().join("kubemaas-next");
    script(
        &next,
        &format!(
            "#!/bin/sh\nexport KUBEMAAS_REPORT_VERSION=0.2.0\nif [ \"$2\" != build-info ]; then\n  while [ ! -e '{}' ]; do sleep 0.05; done\nfi\nexec '{}' \"$@\"\n",
            go.display(),
            BIN
        ),
    );

    let mut upgrade = Proc::spawn_with(
        Path::new(BIN),
        Some(&console),
        &[
            "gateway",
            "upgrade",
            "dc1",
            "--binary",
            next.to_str().unwrap(),
        ],
        NEWER,
    );
    let line = upgrade.until("the gateway taking the executable", |l| {
        l.contains("installed it: draining")
    });
    assert!(line.contains("from kubemaas 0.1.0 into 0.2.0"), "{line}");

    // The gateway is draining or held: the request is queued, and shown Queued.
    let out = ok(
        &console,
        &[
            "cluster",
            "create",
            "--gateway",
            "dc1",
            "-f",
            spec_file.to_str().unwrap(),
        ],
        NEWER,
    );
    assert!(
        out.contains("cluster web queued: gateway dc1 is away"),
        "{out}"
    );
    let list = ok(&console, &["cluster", "list", "--gateway", "dc1"], NEWER);
    assert!(
        list.lines()
            .any(|l| l.starts_with("web ") && l.contains("Queued")),
        "{list}"
    );
    let shown = ok(&console, &["gateway", "show", "dc1"], NEWER);
    assert!(shown.contains("web (Queued)"), "{shown}");

    // Let the new build start: the upgrade sees it back and sends the queued request.
    std::fs::write(&go, b"").unwrap();
    let (success, printed) = upgrade.exit();
    assert!(success, "{printed}");
    assert!(
        printed.contains("is back, running kubemaas 0.2.0"),
        "{printed}"
    );
    assert!(
        printed.contains("gateway dc1 upgraded: it now runs kubemaas 0.2.0"),
        "{printed}"
    );
    assert!(
        printed.contains("queued request submitted: cluster web"),
        "{printed}"
    );
    gw.proc.until("the restarted gateway", |l| {
        l.contains("gateway dc1 listening on")
    });
    // Re-executed in place: the same process, on the same address, now the script.
    assert!(gw.proc.child.try_wait().unwrap().is_none());
    assert_eq!(gw.proc.child.id(), pid);
    assert_eq!(
        std::fs::read_to_string(&exe).unwrap().lines().next(),
        Some("#!/bin/sh")
    );

    // The gateway now runs what the console runs: no notice.
    let shown = ok(&console, &["gateway", "show", "dc1"], NEWER);
    assert!(
        shown.contains("reachable:      yes (kubemaas 0.2.0"),
        "{shown}"
    );
    assert!(!shown.contains("upgrade it with"), "{shown}");

    let list = ok(
        &console,
        &["cluster", "list", "--gateway", "dc1", "-o", "json"],
        NEWER,
    );
    assert_eq!(count_named(&list, "web"), 1, "{list}");

    // A console that died after the gateway took the request, before writing that down, sends
    // it again: the gateway knows the key and answers with the same cluster.
    let store = rusqlite::Connection::open(console.join(kubemaas::store::DB_FILE)).unwrap();
    let changed = store
        .execute(
            "UPDATE console_request_queue SET state = 'queued' WHERE name = 'web'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(store);
    let list = ok(&console, &["cluster", "list", "--gateway", "dc1"], NEWER);
    assert!(
        list.contains("queued request submitted: cluster web"),
        "{list}"
    );
    let list = ok(
        &console,
        &["cluster", "list", "--gateway", "dc1", "-o", "json"],
        NEWER,
    );
    assert_eq!(count_named(&list, "web"), 1, "{list}");

    // It reaches Running against the simulator, through the upgraded gateway.
    let out = ok(
        &console,
        &[
            "cluster",
            "wait",
            "web",
            "--for",
            "running",
            "--gateway",
            "dc1",
        ],
        NEWER,
    );
    assert!(out.contains("cluster web is Running"), "{out}");
    let events = ok(
        &console,
        &["cluster", "events", "web", "--gateway", "dc1"],
        NEWER,
    );
    assert_eq!(
        events.matches("cluster web submitted").count(),
        1,
        "{events}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocols_are_checked_both_ways_and_bad_uploads_are_refused() {
    use kubemaas::gateway::{console, tls, upgrade};
    let root = tempfile::Builder::new()
        .prefix("upgrade-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let exe = install_dir(root.path());
    let gw_state = root.path().join("gateway");
    let config = root.path().join("gateway.yaml");
    gateway_yaml(&config, &closed_maas(), API_KEY);
    let gw = start_gateway(&exe, &gw_state, &config, &[]);
    let console_dir = root.path().join("console");
    pair(&console_dir, &gw);
    let before = sha256_hex(&exe);

    let store = kubemaas::store::Store::open(&console_dir).unwrap();
    let client = console::client_for(&store, "dc1").unwrap();

    // A damaged upload: refused, nothing replaced, nothing left behind.
    let junk = root.path().join("junk");
    script(&junk, "#!/bin/sh\nexit 3\n");
    let len = std::fs::metadata(&junk).unwrap().len();
    let wrong = "0".repeat(64);
    let err = upgrade::upload(&client, &junk, &wrong, len)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 422") && err.contains("damaged on the way"),
        "{err}"
    );
    // The right digest of a file that is not kubemaas: refused before anything is replaced.
    let err = upgrade::upload(&client, &junk, &sha256_hex(&junk), len)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not run as kubemaas"), "{err}");
    assert_eq!(sha256_hex(&exe), before);
    let left: Vec<_> = std::fs::read_dir(exe.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("kubemaas")]);
    let status = upgrade::status(&client).await.unwrap();
    assert_eq!(
        status.state,
        kubemaas::gateway::upgrade_server::UpgradeState::Serving
    );

    // A console speaking a protocol the gateway does not: the gateway refuses it (426),
    // naming both and saying to upgrade the gateway.
    let newer = [("KUBEMAAS_REPORT_PROTOCOL", "99")];
    let out = ok(
        &console_dir,
        &["gateway", "show", "dc1", "-o", "json"],
        &newer,
    );
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    let problem = shown["problem"].as_str().unwrap();
    assert!(problem.contains("HTTP 426"), "{problem}");
    assert!(
        problem.contains("(protocol 99)") && problem.contains("(protocol 1)"),
        "{problem}"
    );
    assert!(
        problem.contains("kubemaas gateway upgrade dc1"),
        "{problem}"
    );
    let err = fails(
        &console_dir,
        &["cluster", "list", "--gateway", "dc1"],
        &newer,
    );
    assert!(err.contains("kubemaas gateway upgrade dc1"), "{err}");

    // Strangers get nothing, the upgrade route included.
    let ca_pem = std::fs::read_to_string(console_dir.join("gateways/dc1/ca.pem")).unwrap();
    let ca = kubemaas::gateway::pki::cert_from_pem(&ca_pem, Path::new("ca.pem")).unwrap();
    let anonymous = reqwest::Client::builder()
        .use_preconfigured_tls(tls::pinned_anonymous_config(&ca).unwrap())
        .build()
        .unwrap();
    let answer = anonymous
        .post(format!("https://{}/v1/upgrade", gw.address))
        .header("x-kubemaas-sha256", sha256_hex(&junk))
        .body(std::fs::read(&junk).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert!(answer.headers().get("x-kubemaas-version").is_none());

    // The gateway restarted as a build speaking protocol 99 (on the same address): this
    // console refuses it, naming both and saying to upgrade the console.
    let address = gw.address.clone();
    drop(gw);
    let mut newer_gw = Proc::spawn_with(
        &exe,
        Some(&gw_state),
        &["gateway", "run", "-c", config.to_str().unwrap()],
        &[
            ("KUBEMAAS_REPORT_PROTOCOL", "99"),
            ("KUBEMAAS_GATEWAY_LISTEN", &address),
        ],
    );
    newer_gw.until("the listen address", |l| {
        l.contains(&format!("listening on {address}"))
    });
    let out = ok(&console_dir, &["gateway", "show", "dc1", "-o", "json"], &[]);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["reachable"], false, "{shown}");
    let problem = shown["problem"].as_str().unwrap();
    assert!(
        problem.contains("(protocol 99)") && problem.contains("(protocol 1)"),
        "{problem}"
    );
    assert!(problem.contains("upgrade this console"), "{problem}");
    let err = fails(&console_dir, &["cluster", "list", "--gateway", "dc1"], &[]);
    assert!(err.contains("upgrade this console"), "{err}");

    // A console without a paired certificate cannot upgrade it.
    ok(&console_dir, &["gateway", "unpair", "dc1"], &[]);
    let err = fails(
        &console_dir,
        &[
            "gateway",
            "upgrade",
            "dc1",
            "--binary",
            junk.to_str().unwrap(),
        ],
        &[],
    );
    assert!(err.contains("not paired with this console"), "{err}");
    assert_eq!(sha256_hex(&exe), before);
}
