//! End to end through a gateway, every piece a real process on 127.0.0.1: a simulated MAAS
//! (`kubemaas sim`), a gateway (`kubemaas gateway init --from` + `gateway run`) and the real
//! console in tmux with its own state dir and no MAAS of its own. The pairing wizard is walked
//! with keystrokes (address, code, the fingerprint checked against the one the gateway
//! printed, confirm), Enter on the gateway switches every screen to it, a cluster is built
//! through the cluster wizard (its zones and machine counts come from the gateway), and the
//! progress pane — streamed from the gateway — reaches Running. Then the gateway is stopped:
//! the header says it is unreachable and the screen keeps the cluster, marked stale. A cluster
//! deployed from the wizard while the gateway is stopped shows as Queued (the console keeps
//! the request) and, once the gateway is started again on the same address, becomes the
//! gateway's cluster without the operator doing anything. An account
//! added through the wizard is kept on the gateway, not in the console. A second
//! console, paired from the command line and started with `--gateway dc1`, sees the cluster.
//!
//! The simulator runs fast (`--speed`), the gateway reconciles every 200 ms. Waiting on
//! other processes cannot be done by message passing: every wait polls (the pane, a child's
//! output) under a generous bound and asserts on what was shown, never on how long it took.
//! Skipped, with a note, where tmux is not installed.

mod tmux_support;

mod cli_support;

use std::path::Path;
use std::process::{Command, Stdio};
use tmux_support::Tmux;

use cli_support::proc::{after, gateway_input, run_gateway, Proc};
use cli_support::BIN;

/// `kubemaas <args>` to completion; its stdout.
fn ok(state: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("MAAS_URL")
        .env_remove("MAAS_API_KEY")
        .env_remove("KUBEMAAS_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("kubemaas runs");
    assert!(
        out.status.success(),
        "kubemaas {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Gateway {
    _sim: Proc,
    process: Proc,
    address: String,
    fingerprint: String,
    code: String,
    /// The gateway's state dir (its admin socket issues more codes).
    state: std::path::PathBuf,
    /// Its gateway.yaml (to start it again).
    config: std::path::PathBuf,
    /// The simulator's URL and API key (an account added from the console).
    url: String,
    key: String,
    _dir: tempfile::TempDir,
}

/// A simulator with 40 machines (enough Ready ones in its default pool for the wizard's
/// default pools) and a gateway named dc1 on it.
fn start_gateway() -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Proc::spawn(
        None,
        &[
            "sim",
            "--print-env",
            "--machines",
            "40",
            "--seed",
            "5",
            "--speed",
            "300",
        ],
    );
    let url = after(&sim.until("MAAS_URL", |l| l.starts_with("MAAS_URL=")), "=").to_string();
    let key = after(
        &sim.until("MAAS_API_KEY", |l| l.starts_with("MAAS_API_KEY=")),
        "=",
    )
    .to_string();
    let input = dir.path().join("in.yaml");
    std::fs::write(&input, gateway_input(&url, &key)).unwrap();
    let state = dir.path().join("gateway");
    let config = dir.path().join("gateway.yaml");
    ok(
        &state,
        &[
            "gateway",
            "init",
            "--from",
            input.to_str().unwrap(),
            "-c",
            config.to_str().unwrap(),
        ],
    );
    let (mut process, address) = run_gateway(Path::new(BIN), &state, &config, &[]);
    let fingerprint = after(
        &process.until("the CA fingerprint", |l| l.starts_with("CA fingerprint: ")),
        "CA fingerprint: ",
    )
    .to_string();
    let code = after(
        &process.until("the pairing code", |l| l.starts_with("pairing code: ")),
        "pairing code: ",
    )
    .split_whitespace()
    .next()
    .unwrap()
    .to_string();
    Gateway {
        _sim: sim,
        process,
        address,
        fingerprint,
        code,
        state,
        config,
        url,
        key,
        _dir: dir,
    }
}

/// `gateway run` again on the same state, config and address (the console pinned both).
fn restart_gateway(gw: &Gateway) -> Proc {
    let mut process = Proc::spawn(
        Some(&gw.state),
        &[
            "gateway",
            "run",
            "-c",
            gw.config.to_str().unwrap(),
            "--listen",
            &gw.address,
            "--reconcile-ms",
            "200",
            "--heartbeat-ms",
            "1000",
        ],
    );
    process.until("the listen address", |l| l.contains(" listening on "));
    process
}

#[test]
fn pair_switch_build_and_watch_a_cluster_through_a_gateway() {
    // The console has no MAAS of its own: everything it shows of MAAS comes via the gateway.
    let t = Tmux::start_sized("gateway", "", &[], (120, 40));
    t.wait_for("No MAAS is configured yet");
    let mut gw = start_gateway();

    // The pairing wizard: address, code, then the fingerprint to compare before trusting.
    t.keys(&[":", "gw", "Enter"]);
    t.wait_for("embedded");
    t.keys(&["n"]);
    t.wait_for("step 1/2");
    t.text(&gw.address);
    t.keys(&["Tab"]);
    t.text(&gw.code);
    t.keys(&["Enter"]);
    let screen = t.wait_for("proved it knows the pairing code");
    assert!(screen.contains("Gateway dc1 at"), "{screen}");
    assert!(
        screen.contains(&gw.fingerprint),
        "the wizard shows the fingerprint the gateway printed ({}):\n{screen}",
        gw.fingerprint
    );
    t.keys(&["Enter"]);
    t.wait_for("paired with gateway dc1");
    let screen = t.wait_for("reachable");
    assert!(screen.contains(&gw.address), "{screen}");

    // Enter on it: every screen works through dc1; its MAAS is the header's.
    t.keys(&["Down"]);
    t.keys(&["Enter"]);
    t.wait_for("every screen now works through gateway dc1");
    let screen = t.wait_for("MAAS 3.");
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains("gateway dc1 ✓"), "{header}");
    t.keys(&[":", "m", "Enter"]);
    t.wait_for("[40/40]");
    t.keys(&[":", "accounts", "Enter"]);
    t.wait_for("dc1");

    // An account added from the console is kept (and checked again) on the gateway in use:
    // the wizard chose it.
    t.keys(&[":", "new-account", "Enter"]);
    t.wait_for("New cloud account");
    let screen = t.wait_for("the gateway in use");
    assert!(screen.contains("dc1 (the gateway in use)"), "{screen}");
    t.keys(&["lab2", "Tab", "Tab"]);
    t.text(&gw.url);
    t.keys(&["Tab"]);
    t.text(&gw.key);
    t.keys(&["PageDown"]);
    t.wait_for("Press enter to save the account");
    t.keys(&["Enter"]);
    t.wait_for("cloud account lab2 saved");
    let screen = t.wait_for("lab2");
    assert!(!screen.contains(&gw.key), "the key is never shown");
    let listed = ok(
        &t.state_dir().join("state"),
        &["account", "list", "--gateway", "dc1"],
    );
    assert!(listed.contains("lab2"), "{listed}");
    let here = ok(&t.state_dir().join("state"), &["account", "list"]);
    assert!(!here.contains("lab2"), "{here}");

    // The cluster wizard, its MAAS lists fetched through the gateway.
    t.keys(&[":", "clusters", "Enter"]);
    t.wait_for("No clusters yet");
    t.keys(&["n"]);
    t.wait_for("step 1/9");
    t.text("gw-web");
    t.wait_for("gw-web");
    for step in 2..=9 {
        t.keys(&["PageDown"]);
        t.wait_for(&format!("step {step}/9"));
        if step == 4 {
            t.wait_for("40 machines");
        }
    }
    t.wait_for("Press enter to deploy");
    t.keys(&["Enter"]);
    t.wait_for("cluster gw-web is being built");
    t.wait_for("Clusters [1/1]");

    // The progress pane follows the gateway's stream until Running with every node Ready.
    t.keys(&["Enter"]);
    t.wait_for("Cluster gw-web");
    let screen = t.wait_until("Running and healthy", |s| {
        s.contains(" Running ") && s.contains("healthy") && s.contains("2/2 ready")
    });
    assert!(screen.contains("Machines (3)"), "{screen}");
    assert!(screen.contains("cluster is running"), "{screen}");
    // It lives on the gateway, not in this console's own store.
    let local = ok(&t.state_dir().join("state"), &["cluster", "list"]);
    assert!(local.contains("no clusters"), "{local}");
    let remote = ok(
        &t.state_dir().join("state"),
        &["cluster", "list", "--gateway", "dc1"],
    );
    assert!(remote.contains("gw-web"), "{remote}");

    // A second console, paired from the command line, opens straight on the gateway and sees
    // the same cluster.
    let out = ok(&gw.state, &["gateway", "pairing-code"]);
    let code = after(&out, "pairing code: ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let address = gw.address.clone();
    let pair = move |state: &Path| {
        let out = ok(
            state,
            &[
                "gateway",
                "pair",
                "--address",
                &address,
                "--code",
                &code,
                "--console-name",
                "second",
            ],
        );
        assert!(out.contains("paired with gateway dc1"), "{out}");
    };
    let t2 = Tmux::start_with("gateway2", "--gateway dc1", &[], pair);
    t2.wait_for("[40/40]");
    t2.keys(&[":", "clusters", "Enter"]);
    let screen = t2.wait_for("gw-web");
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains("gateway dc1"), "{header}");
    assert!(screen.contains("Running"), "{screen}");
    t2.keys(&["q"]);
    assert_eq!(t2.exit_code(), "0", "log:\n{}", t2.log_tail(40));

    // The gateway goes away: the header says so loudly, the pane keeps the last data, stale.
    gw.process.kill();
    let screen = t.wait_for("UNREACHABLE");
    assert!(screen.contains("Cluster gw-web"), "{screen}");
    let screen = t.wait_for("Cluster gw-web stale");
    assert!(screen.contains(" Running "), "{screen}");
    assert!(screen.contains("2/2 ready"), "{screen}");

    // A cluster requested while the gateway is stopped is kept by the console, Queued. The
    // wizard's MAAS lists come from the gateway, so it is started again for the walk and
    // stopped before the deploy.
    let mut restarted = restart_gateway(&gw);
    t.wait_until("dc1 answers again", |s| {
        s.lines()
            .next()
            .unwrap_or_default()
            .contains("gateway dc1 ✓")
    });
    t.keys(&["Escape"]);
    // Esc and `:` sent together read as alt-: (terminals encode alt that way), and the keys
    // after it as hotkeys of the detail pane: wait until the pane has closed.
    t.wait_until("the detail pane closed", |s| {
        !s.contains("┌ Cluster gw-web")
    });
    t.keys(&[":", "clusters", "Enter"]);
    t.wait_for("Clusters [1/1]");
    t.keys(&["n"]);
    t.wait_for("step 1/9");
    t.text("gw-q");
    t.wait_for("gw-q");
    for step in 2..=9 {
        t.keys(&["PageDown"]);
        t.wait_for(&format!("step {step}/9"));
    }
    t.wait_for("Press enter to deploy");
    restarted.kill();
    t.wait_for("UNREACHABLE");
    t.keys(&["Enter"]);
    t.wait_for("cluster gw-q queued");
    let screen = t.wait_for("Queued");
    assert!(screen.contains("gw-web"), "{screen}");
    assert!(screen.contains("1 queued"), "{screen}");
    let kept = ok(
        &t.state_dir().join("state"),
        &["cluster", "list", "--gateway", "dc1"],
    );
    assert!(
        kept.lines()
            .any(|l| l.contains("gw-q") && l.contains("Queued")),
        "{kept}"
    );

    // The gateway starts again: the console's check sends the request and the row becomes
    // the gateway's cluster.
    let _back = restart_gateway(&gw);
    let screen = t.wait_until("gw-q created on the gateway", |s| {
        s.contains("gw-q") && !s.contains("Queued") && s.contains("Clusters [2/2]")
    });
    assert!(!screen.contains("UNREACHABLE"), "{screen}");
    let remote = ok(
        &t.state_dir().join("state"),
        &["cluster", "list", "--gateway", "dc1"],
    );
    assert!(remote.contains("gw-q"), "{remote}");

    // Watching a gateway holds no work here: q leaves at once.
    t.keys(&["q"]);
    assert_eq!(t.exit_code(), "0", "log:\n{}", t.log_tail(40));
    t.assert_terminal_restored();
}
