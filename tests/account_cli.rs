//! `kubemaas account …` end to end: the real binary against the in-process simulator, with a
//! throw-away state dir per test.

mod sim_common;

use kubemaas::maas::{AllocateRequest, MaasClient, MaasConfig, NodeStatus, RetryPolicy};
use kubemaas::sim::SimHandle;
use kubemaas::store::{NewMachine, Store};
use serde_json::Value;
use sim_common::*;
use std::path::Path;
use std::process::{Output, Stdio};
use tokio::io::AsyncWriteExt;

/// Runs the binary with `--state-dir state`, no MAAS variables from the caller's environment,
/// `env` added, and `stdin` fed when given.
async fn km(state: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubemaas"));
    cmd.arg("--state-dir").arg(state).args(args);
    for var in [
        "MAAS_URL",
        "MAAS_API_KEY",
        "KUBEMAAS_STATE_DIR",
        "HTTP_PROXY",
        "http_proxy",
    ] {
        cmd.env_remove(var);
    }
    // Debug logging, so the test also proves the key stays out of a verbose log.
    cmd.env("KUBEMAAS_LOG", "debug");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    child.wait_with_output().await.unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn log_text(state: &Path) -> String {
    std::fs::read_to_string(state.join("logs").join("kubemaas.log")).unwrap_or_default()
}

/// No part of `key` in the output or in the log.
fn assert_key_hidden(state: &Path, key: &str, outputs: &[&Output]) {
    let parts: Vec<&str> = key.split(':').collect();
    for o in outputs {
        for text in [out(o), err(o)] {
            for part in &parts {
                assert!(!text.contains(part), "a key part leaked into: {text}");
            }
        }
    }
    let log = log_text(state);
    for part in &parts {
        assert!(!log.contains(part), "a key part leaked into the log");
    }
}

async fn sim() -> SimHandle {
    start(ready_fleet(6)).await
}

/// Adds account `name` for the simulator's admin, through MAAS_API_KEY.
async fn add(state: &Path, sim: &SimHandle, name: &str) -> Output {
    let key = sim.api_key().expose();
    let o = km(
        state,
        &["account", "add", name, "--endpoint", &sim.url()],
        &[("MAAS_API_KEY", &key)],
        None,
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    o
}

fn accounts_json(o: &Output) -> Vec<Value> {
    assert!(o.status.success(), "{}", err(o));
    serde_json::from_slice::<Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn client(sim: &SimHandle, key: kubemaas::maas::ApiKey) -> MaasClient {
    let mut config = MaasConfig::new(sim.endpoint(), key);
    config.retry = RetryPolicy::never();
    MaasClient::new(config).unwrap()
}

#[tokio::test]
async fn a_wrong_key_is_refused_by_name_and_nothing_is_saved() {
    let sim = sim().await;
    let state = tempfile::tempdir().unwrap();
    let wrong = "WrongConsumerKey12:WrongTokenKeyAbc12:WrongSecretWrongSecretWrongSecr";
    let o = km(
        state.path(),
        &[
            "account",
            "add",
            "lab",
            "--endpoint",
            &sim.url(),
            "--api-key",
            wrong,
        ],
        &[],
        None,
    )
    .await;
    assert!(!o.status.success());
    let e = err(&o);
    assert!(e.contains("refused the API key"), "{e}");
    assert!(e.contains("Nothing was saved"), "{e}");
    let list = km(state.path(), &["account", "list", "-o", "json"], &[], None).await;
    assert!(accounts_json(&list).is_empty());
    assert_key_hidden(state.path(), wrong, &[&o, &list]);
}

#[tokio::test]
async fn unreachable_and_non_maas_endpoints_say_so() {
    let sim = sim().await;
    let key = sim.api_key().expose();
    let state = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then released.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed}/MAAS/");
    let o = km(
        state.path(),
        &[
            "account",
            "add",
            "lab",
            "--endpoint",
            &url,
            "--api-key",
            &key,
        ],
        &[],
        None,
    )
    .await;
    assert!(!o.status.success());
    assert!(err(&o).contains("cannot reach MAAS at"), "{}", err(&o));

    let not_maas = format!("http://{}/other/MAAS/", sim.addr());
    let o2 = km(
        state.path(),
        &[
            "account",
            "add",
            "lab",
            "--endpoint",
            &not_maas,
            "--api-key",
            &key,
        ],
        &[],
        None,
    )
    .await;
    assert!(!o2.status.success());
    assert!(err(&o2).contains("not a MAAS API endpoint"), "{}", err(&o2));

    // A URL with a port and a wrong path is reported as a wrong path (not as a key).
    let wrong_path = format!("http://{}/NOTMAAS/", sim.addr());
    let o5 = km(
        state.path(),
        &[
            "account",
            "add",
            "lab",
            "--endpoint",
            &wrong_path,
            "--api-key",
            &key,
        ],
        &[],
        None,
    )
    .await;
    assert!(!o5.status.success());
    assert!(
        err(&o5).contains("is not where the MAAS API lives"),
        "{}",
        err(&o5)
    );

    // Problems found offline are all listed, and MAAS is not even asked.
    let o3 = km(
        state.path(),
        &[
            "account",
            "add",
            "Bad_Name",
            "--endpoint",
            "ftp://x",
            "--api-key",
            "a:b",
        ],
        &[],
        None,
    )
    .await;
    assert!(!o3.status.success());
    let e = err(&o3);
    assert!(
        e.contains("metadata.name") && e.contains("spec.endpoint") && e.contains("spec.apiKey"),
        "{e}"
    );
    let o4 = km(
        state.path(),
        &["account", "add", "lab", "--endpoint", &sim.url()],
        &[],
        None,
    )
    .await;
    assert!(!o4.status.success());
    assert!(err(&o4).contains("MAAS_API_KEY"), "{}", err(&o4));

    // A gateway must be known before MAAS is asked anything.
    let o6 = km(
        state.path(),
        &[
            "account",
            "add",
            "lab",
            "--endpoint",
            &sim.url(),
            "--api-key",
            &key,
            "--gateway",
            "edge-1",
        ],
        &[],
        None,
    )
    .await;
    assert!(!o6.status.success());
    assert!(err(&o6).contains("no gateway `edge-1`"), "{}", err(&o6));

    let list = km(state.path(), &["account", "list", "-o", "json"], &[], None).await;
    assert!(accounts_json(&list).is_empty());
    assert_key_hidden(state.path(), &key, &[&o, &o2, &o3, &o4, &o5, &o6, &list]);
}

#[tokio::test]
async fn add_list_show_validate_delete() {
    let sim = sim().await;
    let key = sim.api_key().expose();
    let state = tempfile::tempdir().unwrap();
    let o = add(state.path(), &sim, "lab").await;
    let text = out(&o);
    assert!(text.contains("account lab added"), "{text}");
    assert!(
        text.contains("MAAS 3.5.4") && text.contains("admin"),
        "{text}"
    );

    let dup = add_expect_fail(state.path(), &sim, "lab").await;
    assert!(err(&dup).contains("already exists"), "{}", err(&dup));

    // `maas` commands with a stored account: no endpoint or key on the command line.
    let version = km(
        state.path(),
        &["maas", "version", "--account", "lab"],
        &[],
        None,
    )
    .await;
    assert!(version.status.success(), "{}", err(&version));
    assert!(out(&version).contains("3.5.4"), "{}", out(&version));
    let unknown = km(
        state.path(),
        &["maas", "zones", "--account", "nope"],
        &[],
        None,
    )
    .await;
    assert!(!unknown.status.success());
    assert!(err(&unknown).contains("nope"), "{}", err(&unknown));

    let list = km(state.path(), &["account", "list"], &[], None).await;
    assert!(list.status.success());
    let table = out(&list);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("lab") && table.contains(&sim.url()),
        "{table}"
    );

    let show = km(
        state.path(),
        &["account", "show", "lab", "-o", "json"],
        &[],
        None,
    )
    .await;
    assert!(show.status.success(), "{}", err(&show));
    let v: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(v["name"], "lab");
    assert_eq!(v["gateway"], "local");
    assert!(v["api_key"].as_str().unwrap().ends_with(":****:****"));
    assert!(!v["last_validated"].is_null(), "add validates");
    let show_table = km(state.path(), &["account", "show", "lab"], &[], None).await;
    assert!(out(&show_table).contains("api key"));

    let val = km(
        state.path(),
        &["account", "validate", "lab", "-o", "yaml"],
        &[],
        None,
    )
    .await;
    assert!(val.status.success(), "{}", err(&val));
    let v: serde_yaml::Value = serde_yaml::from_slice(&val.stdout).unwrap();
    assert_eq!(v["maas_user"], "admin");
    assert_eq!(v["admin"], true);

    // The database holding the key is the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.path().join("state.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // In use by a cluster: refused, naming it.
    let cluster = {
        let store = Store::open(state.path()).unwrap();
        store
            .tx(|tx| tx.create_cluster("prod", "lab", &serde_json::json!({})))
            .unwrap()
    };
    let del = km(state.path(), &["account", "delete", "lab"], &[], None).await;
    assert!(!del.status.success());
    assert!(err(&del).contains("prod"), "{}", err(&del));
    {
        let store = Store::open(state.path()).unwrap();
        store.tx(|tx| tx.mark_cluster_deleted(&cluster.id)).unwrap();
    }
    let del = km(state.path(), &["account", "delete", "lab"], &[], None).await;
    assert!(del.status.success(), "{}", err(&del));
    let list = km(state.path(), &["account", "list", "-o", "json"], &[], None).await;
    assert!(accounts_json(&list).is_empty());
    assert_key_hidden(
        state.path(),
        &key,
        &[&o, &dup, &list, &show, &show_table, &val, &del],
    );
}

async fn add_expect_fail(state: &Path, sim: &SimHandle, name: &str) -> Output {
    let key = sim.api_key().expose();
    let o = km(
        state,
        &["account", "add", name, "--endpoint", &sim.url()],
        &[("MAAS_API_KEY", &key)],
        None,
    )
    .await;
    assert!(!o.status.success());
    o
}

#[tokio::test]
async fn a_key_from_stdin_and_a_non_admin_user() {
    let sim = sim().await;
    let key = sim.user_api_key().expose();
    let state = tempfile::tempdir().unwrap();
    let o = km(
        state.path(),
        &[
            "account",
            "add",
            "lab",
            "--endpoint",
            &sim.url(),
            "--api-key",
            "-",
        ],
        &[],
        Some(&format!("{key}\n")),
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(text.contains("non-admin"), "{text}");
    assert_key_hidden(state.path(), &key, &[&o]);

    // Rotating the key: a wrong one is refused and the old one kept.
    let bad = "RotatedConsumer123:RotatedTokenKey123:RotatedSecretRotatedSecretRotat";
    let r = km(
        state.path(),
        &["account", "set-key", "lab", "--api-key", bad],
        &[],
        None,
    )
    .await;
    assert!(!r.status.success());
    assert!(err(&r).contains("refused the API key"), "{}", err(&r));
    let v = km(state.path(), &["account", "validate", "lab"], &[], None).await;
    assert!(v.status.success(), "the old key still works: {}", err(&v));
    let admin = sim.api_key().expose();
    let r2 = km(
        state.path(),
        &["account", "set-key", "lab"],
        &[("MAAS_API_KEY", &admin)],
        None,
    )
    .await;
    assert!(r2.status.success(), "{}", err(&r2));
    assert!(out(&r2).contains("key replaced"));
    assert_key_hidden(state.path(), bad, &[&r, &v, &r2]);
    assert_key_hidden(state.path(), &admin, &[&r, &v, &r2]);
}

#[tokio::test]
async fn audit_finds_orphans_and_the_release_command_frees_them() {
    let sim = sim().await;
    let state = tempfile::tempdir().unwrap();
    add(state.path(), &sim, "lab").await;
    let admin = client(&sim, sim.api_key());
    let ids: Vec<String> = sim.machines().iter().map(|m| m.system_id.clone()).collect();
    let allocate = |i: usize, agent: &str| AllocateRequest {
        system_id: Some(ids[i].clone()),
        agent_name: Some(agent.to_string()),
        ..Default::default()
    };

    // A live cluster holding a machine, stamped with its agent name.
    let store = Store::open(state.path()).unwrap();
    let prod = store
        .tx(|tx| tx.create_cluster("prod", "lab", &serde_json::json!({})))
        .unwrap();
    admin
        .allocate(&allocate(0, &format!("kubemaas:{}", prod.id)))
        .await
        .unwrap();
    store
        .tx(|tx| {
            tx.record_machine(&NewMachine {
                cluster: prod.id.clone(),
                pool: "workers".into(),
                system_id: ids[0].clone(),
                hostname: None,
                role: "worker".into(),
                state: "allocated".into(),
                maas_status: Some("Allocated".into()),
                ip: None,
                generation: 1,
            })
        })
        .unwrap();
    // A deleted cluster whose machine was never given back.
    let old = store
        .tx(|tx| tx.create_cluster("old", "lab", &serde_json::json!({})))
        .unwrap();
    store.tx(|tx| tx.mark_cluster_deleted(&old.id)).unwrap();
    admin.allocate(&allocate(1, "kubemaas:old")).await.unwrap();
    // The orphan: allocated by a kubemaas nobody remembers.
    admin.allocate(&allocate(2, "kubemaas:dead")).await.unwrap();
    // Another user's machine is not ours to judge.
    client(&sim, sim.user_api_key())
        .allocate(&allocate(3, "somebody-else"))
        .await
        .unwrap();
    drop(store);

    let a = km(
        state.path(),
        &["account", "audit", "lab", "-o", "json"],
        &[],
        None,
    )
    .await;
    assert!(a.status.success(), "{}", err(&a));
    let report: Value = serde_json::from_slice(&a.stdout).unwrap();
    let verdict = |id: &str| -> Option<(String, Value)> {
        report["machines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["system_id"] == id)
            .map(|m| {
                (
                    m["verdict"].as_str().unwrap().to_string(),
                    m["cluster"].clone(),
                )
            })
    };
    assert_eq!(
        verdict(&ids[0]).unwrap(),
        (
            "held".to_string(),
            Value::from(format!("prod ({})", prod.id))
        )
    );
    assert_eq!(
        verdict(&ids[1]).unwrap(),
        (
            "orphan".to_string(),
            Value::from(format!("old ({}, deleted)", old.id))
        )
    );
    // MAAS never shows agent_name: without the name, the orphan is found as unaccounted.
    assert_eq!(verdict(&ids[2]).unwrap().0, "unaccounted");
    assert!(verdict(&ids[3]).is_none(), "{report}");
    let unclaimed: Vec<&str> = report["unclaimed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(unclaimed.len(), 2);
    assert!(unclaimed.contains(&ids[1].as_str()) && unclaimed.contains(&ids[2].as_str()));

    // Told the agent name, the audit names the mark.
    let a2 = km(
        state.path(),
        &["account", "audit", "lab", "--agent-name", "kubemaas:dead"],
        &[],
        None,
    )
    .await;
    assert!(a2.status.success(), "{}", err(&a2));
    let table = out(&a2);
    let orphan_line = table.lines().find(|l| l.starts_with(&ids[2])).unwrap();
    assert!(orphan_line.contains("orphan"), "{table}");
    assert!(orphan_line.contains("agent_name=kubemaas:dead"), "{table}");
    assert!(
        orphan_line.contains("dead (unknown to this store)"),
        "{table}"
    );
    let command = table
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("kubemaas ") && l.contains("account release lab"))
        .unwrap_or_else(|| panic!("no release command in:\n{table}"))
        .to_string();
    assert!(
        command.contains(&ids[1]) && command.contains(&ids[2]),
        "{command}"
    );
    assert!(
        !command.contains(&ids[0]),
        "a held machine is never offered for release"
    );

    // Run the printed command as printed (the state dir is part of it).
    let words: Vec<String> = command
        .split_whitespace()
        .skip(1)
        .map(|w| w.trim_matches('\'').to_string())
        .collect();
    assert_eq!(words[0], "--state-dir");
    let args: Vec<&str> = words[2..].iter().map(String::as_str).collect();
    let rel = km(Path::new(&words[1]), &args, &[], None).await;
    assert!(rel.status.success(), "{}", err(&rel));
    for id in [&ids[1], &ids[2]] {
        let status = sim.machine(id).unwrap().status;
        assert!(
            matches!(status, NodeStatus::Releasing | NodeStatus::Ready),
            "{id}: {status:?}"
        );
    }
    let after = km(
        state.path(),
        &["account", "audit", "lab", "-o", "json"],
        &[],
        None,
    )
    .await;
    let report: Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(report["unclaimed"], serde_json::json!([]), "{report}");
    assert!(report["release_command"].is_null());

    // A machine a live cluster holds is refused, by cluster name, and left alone.
    let refused = km(
        state.path(),
        &["account", "release", "lab", &ids[0]],
        &[],
        None,
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        err(&refused).contains("held by cluster prod"),
        "{}",
        err(&refused)
    );
    assert_eq!(sim.machine(&ids[0]).unwrap().status, NodeStatus::Allocated);
    // Another user's machine is refused too (the admin key could release it), and so is a
    // free one; nothing is released when any id is refused.
    let others = km(
        state.path(),
        &["account", "release", "lab", &ids[4], &ids[3]],
        &[],
        None,
    )
    .await;
    assert!(!others.status.success());
    assert!(err(&others).contains("held by nobody"), "{}", err(&others));
    let others = km(
        state.path(),
        &["account", "release", "lab", &ids[3]],
        &[],
        None,
    )
    .await;
    assert!(
        err(&others).contains("held by MAAS user user"),
        "{}",
        err(&others)
    );
    assert_eq!(sim.machine(&ids[3]).unwrap().status, NodeStatus::Allocated);
}

#[tokio::test]
async fn audit_of_an_unknown_account_says_how_to_list_them() {
    let state = tempfile::tempdir().unwrap();
    let o = km(state.path(), &["account", "audit", "nope"], &[], None).await;
    assert!(!o.status.success());
    assert!(err(&o).contains("kubemaas account list"), "{}", err(&o));
}

#[tokio::test]
async fn releasing_a_machine_no_cluster_accounts_for_needs_force() {
    let sim = sim().await;
    let state = tempfile::tempdir().unwrap();
    add(state.path(), &sim, "lab").await;
    let admin = client(&sim, sim.api_key());
    let ids: Vec<String> = sim.machines().iter().map(|m| m.system_id.clone()).collect();
    // A deleted cluster's leftover (kubemaas's: the store names its agent name) and a machine
    // someone allocated by hand with the same key.
    let store = Store::open(state.path()).unwrap();
    let old = store
        .tx(|tx| tx.create_cluster("old", "lab", &serde_json::json!({})))
        .unwrap();
    store.tx(|tx| tx.mark_cluster_deleted(&old.id)).unwrap();
    drop(store);
    for (i, agent) in [(0, "kubemaas:old"), (1, "by-hand")] {
        admin
            .allocate(&AllocateRequest {
                system_id: Some(ids[i].clone()),
                agent_name: Some(agent.to_string()),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    // Both at once: refused as a whole, naming the unaccounted one and the way out.
    let refused = km(
        state.path(),
        &["account", "release", "lab", &ids[0], &ids[1]],
        &[],
        None,
    )
    .await;
    assert!(!refused.status.success());
    let text = err(&refused);
    assert!(text.contains(&ids[1]), "{text}");
    assert!(!text.contains(&ids[0]), "{text}");
    assert!(text.contains("no cluster accounts for them"), "{text}");
    assert!(text.contains("--force"), "{text}");
    for id in &ids[..2] {
        assert_eq!(sim.machine(id).unwrap().status, NodeStatus::Allocated);
    }

    // The deleted cluster's machine goes without --force.
    let orphan = km(
        state.path(),
        &["account", "release", "lab", &ids[0]],
        &[],
        None,
    )
    .await;
    assert!(orphan.status.success(), "{}", err(&orphan));
    assert_ne!(sim.machine(&ids[0]).unwrap().status, NodeStatus::Allocated);
    // The agent name it carries makes the hand-allocated one kubemaas's to release.
    let named = km(
        state.path(),
        &[
            "account",
            "release",
            "lab",
            &ids[1],
            "--agent-name",
            "by-hand",
        ],
        &[],
        None,
    )
    .await;
    assert!(named.status.success(), "{}", err(&named));
    assert_ne!(sim.machine(&ids[1]).unwrap().status, NodeStatus::Allocated);

    // And --force releases an unaccounted one.
    admin
        .allocate(&AllocateRequest {
            system_id: Some(ids[2].clone()),
            agent_name: Some("by-hand".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let unforced = km(
        state.path(),
        &["account", "release", "lab", &ids[2]],
        &[],
        None,
    )
    .await;
    assert!(!unforced.status.success());
    assert_eq!(sim.machine(&ids[2]).unwrap().status, NodeStatus::Allocated);
    let forced = km(
        state.path(),
        &["account", "release", "lab", &ids[2], "--force"],
        &[],
        None,
    )
    .await;
    assert!(forced.status.success(), "{}", err(&forced));
    assert_ne!(sim.machine(&ids[2]).unwrap().status, NodeStatus::Allocated);
}
