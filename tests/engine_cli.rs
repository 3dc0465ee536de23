//! `kubemaas cluster …` as a subprocess against an in-process simulator (frozen clock). These
//! paths never deploy a machine, so no probe ever targets a control-plane address.

mod engine_support;

use engine_support::*;
use kubemaas::model::ClusterSpec;
use kubemaas::store::ClusterPhase;
use std::path::Path;

async fn kubemaas(state: &Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubemaas"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .args(["--poll-seconds", "1"])
        .env_remove("KUBEMAAS_STATE_DIR")
        // A command that hangs is stopped with the test that gave up on it.
        .kill_on_drop(true)
        .output()
        .await
        .expect("kubemaas runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_prints_a_spec_create_accepts() {
    let h = Harness::new(4, 61).await;
    let (ok, out, err) = kubemaas(
        h.dir.path(),
        &[
            "cluster",
            "new",
            "web",
            "--account",
            "lab",
            "--control-plane",
            "3",
            "--workers",
            "2",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let spec = ClusterSpec::from_yaml(&out).expect("the template parses");
    assert_eq!(spec.control_plane().unwrap().size, 3);
    let (ok, _, err) = kubemaas(
        h.dir.path(),
        &[
            "cluster",
            "new",
            "web",
            "--account",
            "lab",
            "--control-plane",
            "2",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("nodePools[0].size"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_says_at_once_when_maas_has_too_few_machines_for_a_pool() {
    let h = Harness::new(3, 63).await;
    let file = h.dir.path().join("spec.yaml");
    std::fs::write(&file, spec("big", 1, &[("workers", 5)]).to_yaml()).unwrap();
    let (ok, _, err) = kubemaas(
        h.dir.path(),
        &["cluster", "create", "-f", file.to_str().unwrap()],
    )
    .await;
    // Recorded (the engine then refuses it), but said at once, with the counts, before
    // anything is taken: 3 machines in MAAS can never hold 1 + 5.
    assert!(ok, "{err}");
    assert!(err.contains("warning: spec.nodePools[1].size"), "{err}");
    assert!(
        err.contains("needs 5 machines") && err.contains("of the 3 machine(s) in MAAS"),
        "the counts: {err}"
    );
    assert!(
        err.contains("the cluster will fail before taking any machine"),
        "{err}"
    );
    assert!(
        h.sim.machines().iter().all(|m| m.owner.is_none()),
        "nothing is taken by create"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_show_abort_delete() {
    let h = Harness::new(6, 62).await;
    let file = h.dir.path().join("spec.yaml");
    std::fs::write(&file, spec("web", 1, &[("workers", 1)]).to_yaml()).unwrap();
    let state = h.dir.path();

    let (ok, out, err) = kubemaas(
        state,
        &[
            "cluster",
            "create",
            "-f",
            file.to_str().unwrap(),
            "-o",
            "json",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(!err.contains("not enough machines"), "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["phase"], "Pending");
    let id = created["id"].as_str().unwrap().to_string();

    let (ok, out, _) = kubemaas(state, &["cluster", "list"]).await;
    assert!(
        ok && out.contains("web") && out.contains("Pending"),
        "{out}"
    );
    let (ok, out, _) = kubemaas(state, &["cluster", "list", "-o", "yaml"]).await;
    assert!(ok);
    let listed: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
    assert_eq!(listed[0]["name"], "web");

    // A second create of the same name is refused with the fix.
    let (ok, _, err) = kubemaas(state, &["cluster", "create", "-f", file.to_str().unwrap()]).await;
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");

    // Delete is for provisioned clusters; abort stops this one.
    let (ok, _, err) = kubemaas(state, &["cluster", "delete", "web"]).await;
    assert!(!ok && err.contains("abort"), "{err}");
    let (ok, out, err) = kubemaas(state, &["cluster", "abort", "web", "--wait"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("Aborted"), "{out}");
    assert_eq!(h.cluster("web").phase, ClusterPhase::Aborted);

    let (ok, out, _) = kubemaas(state, &["cluster", "show", "web"]).await;
    assert!(
        ok && out.contains("Aborted") && out.contains("abort"),
        "{out}"
    );
    let (ok, out, _) = kubemaas(state, &["cluster", "events", "web"]).await;
    assert!(ok && out.contains("abort requested"), "{out}");

    let (ok, _, err) = kubemaas(state, &["cluster", "delete", "web", "--wait"]).await;
    assert!(ok, "{err}");
    let (ok, out, _) = kubemaas(state, &["cluster", "list"]).await;
    assert!(ok && out.contains("no clusters"), "{out}");
    // A deleted cluster is still reachable by id.
    let (ok, out, _) = kubemaas(state, &["cluster", "show", &id, "-o", "json"]).await;
    assert!(ok, "{out}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["phase"], "Deleted");
    let (ok, _, err) = kubemaas(state, &["cluster", "show", "nope"]).await;
    assert!(!ok && err.contains("kubemaas cluster list"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_exits_non_zero_with_the_reason_when_the_cluster_fails() {
    let h = Harness::new(4, 63).await;
    let mut s = spec("bad", 1, &[("workers", 1)]);
    // Locally fine, but it overlaps a MAAS subnet: the engine fails the cluster.
    s.spec.network.pod_cidr = "10.10.0.0/16".into();
    let file = h.dir.path().join("bad.yaml");
    std::fs::write(&file, s.to_yaml()).unwrap();
    let (ok, out, err) = kubemaas(
        h.dir.path(),
        &["cluster", "create", "-f", file.to_str().unwrap(), "--wait"],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(err.contains("failed") && err.contains("overlaps"), "{err}");
    assert!(out.contains("bad: "), "no progress line: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_an_aborted_cluster_to_be_deleted_says_how_and_fails() {
    let h = Harness::new(4, 65).await;
    create(&h, spec("gone", 1, &[("workers", 1)])).await;
    let state = h.dir.path();
    let (ok, _, err) = kubemaas(state, &["cluster", "abort", "gone", "--wait"]).await;
    assert!(ok, "{err}");
    // Without the rule this never returns: the guard turns a hang into a failure.
    let waited = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        kubemaas(state, &["cluster", "wait", "gone", "--for", "deleted"]),
    )
    .await;
    let (ok, _, err) = waited.expect("`cluster wait --for deleted` on an Aborted cluster returns");
    assert!(!ok);
    assert!(err.contains("is Aborted"), "{err}");
    assert!(err.contains("kubemaas cluster delete gone"), "{err}");
    // A delete queued, then waited for by another command: the wait sees it through.
    let (ok, _, err) = kubemaas(state, &["cluster", "delete", "gone"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = kubemaas(state, &["cluster", "wait", "gone", "--for", "deleted"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("Deleted"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_is_not_a_crash() {
    let h = Harness::new(4, 64).await;
    create(&h, spec("piped", 1, &[("workers", 1)])).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubemaas"))
        .arg("--state-dir")
        .arg(h.dir.path())
        .args(["cluster", "events", "piped"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -0`: the reader is gone before anything is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_timeout_is_a_number_of_seconds() {
    let h = Harness::new(2, 67).await;
    let (ok, _, err) = kubemaas(
        h.dir.path(),
        &["cluster", "list", "--drain-timeout", "soon"],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("--drain-timeout"), "{err}");
    let (ok, out, err) =
        kubemaas(h.dir.path(), &["cluster", "list", "--drain-timeout", "30"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("no clusters"), "{out}");
}
