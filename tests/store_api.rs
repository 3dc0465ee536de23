//! The state store's typed APIs, migrations, file modes and transaction atomicity.

use kubemaas::maas::{ApiKey, Endpoint};
use kubemaas::store::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::Path;

fn key() -> ApiKey {
    ApiKey::from_parts(
        "consumerconsumer12",
        "tokentokentoken123",
        "secretsecretsecretsecretsecret12",
    )
}

fn account(name: &str, gateway: Option<&str>) -> NewAccount {
    NewAccount {
        name: name.into(),
        gateway: gateway.map(str::to_string),
        endpoint: Endpoint::parse("http://127.0.0.1:5240/MAAS").unwrap(),
        api_key: key(),
        ca_cert: None,
    }
}

fn machine(cluster: &ClusterId, system_id: &str) -> NewMachine {
    NewMachine {
        cluster: cluster.clone(),
        pool: "workers".into(),
        system_id: system_id.into(),
        hostname: Some(format!("host-{system_id}")),
        role: "worker".into(),
        state: "allocated".into(),
        maas_status: Some("Allocated".into()),
        ip: None,
        generation: 1,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Spec {
    workers: u32,
    version: String,
}

fn spec(workers: u32) -> Spec {
    Spec {
        workers,
        version: "1.31".into(),
    }
}

/// A store with one account `acct` and one cluster `c1`.
fn fixture(dir: &Path) -> (Store, ClusterId) {
    let store = Store::open(dir).unwrap();
    let id = store
        .tx(|tx| {
            tx.insert_account(&account("acct", None))?;
            Ok::<_, StoreError>(tx.create_cluster("c1", "acct", &spec(3))?.id)
        })
        .unwrap();
    (store, id)
}

#[test]
fn opens_migrates_and_reopens_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.path(), dir.path().join(DB_FILE));
    let version: i64 = rusqlite::Connection::open(store.path())
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    store
        .tx(|tx| tx.insert_account(&account("acct", None)).map(|_| ()))
        .unwrap();
    drop(store);
    // A second open of a current database changes nothing and keeps the data.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.read(|r| r.accounts()).unwrap().len(), 1);
    let mode: String = rusqlite::Connection::open(store.path())
        .unwrap()
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn refuses_a_database_from_a_newer_kubemaas() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5)
        .unwrap();
    drop(conn);
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, known, .. } if found == SCHEMA_VERSION + 5 && known == SCHEMA_VERSION)
    );
    assert!(
        err.to_string()
            .contains("this state dir was written by a newer kubemaas"),
        "{err}"
    );
}

#[test]
fn refuses_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(DB_FILE),
        b"this is not sqlite, just some text long enough to have a header....",
    )
    .unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Open { .. } | StoreError::Db { .. } | StoreError::Migration { .. }
        ),
        "{err:?}"
    );
}

#[cfg(unix)]
#[test]
fn database_files_and_state_dir_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (store, _) = fixture(&state);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", store.path().display());
        assert_eq!(mode(Path::new(&p)), 0o600, "{p}");
    }
    drop(store);
    // A database someone made world-readable is tightened on the next open.
    std::fs::set_permissions(state.join(DB_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = Store::open(&state).unwrap();
    assert_eq!(mode(&state.join(DB_FILE)), 0o600);
}

#[test]
fn gateways_round_trip_and_guard_their_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let gw = NewGateway {
        name: "dc1".into(),
        address: "127.0.0.1:7443".into(),
        fingerprint: None,
        client_cert_path: Some("/state/gw/dc1.crt".into()),
        client_key_path: Some("/state/gw/dc1.key".into()),
        kind: GatewayKind::Remote,
    };
    let row = store.tx(|tx| tx.insert_gateway(&gw)).unwrap();
    assert_eq!((row.name.as_str(), row.kind), ("dc1", GatewayKind::Remote));
    assert_eq!(row.client_key_path, gw.client_key_path);
    let dup = store.tx(|tx| tx.insert_gateway(&gw)).unwrap_err();
    assert!(
        matches!(
            dup,
            StoreError::Duplicate {
                kind: "gateway",
                ..
            }
        ),
        "{dup:?}"
    );
    store
        .tx(|tx| tx.set_gateway_fingerprint("dc1", "sha256:abcd"))
        .unwrap();
    assert_eq!(
        store
            .read(|r| r.gateway("dc1"))
            .unwrap()
            .fingerprint
            .as_deref(),
        Some("sha256:abcd")
    );
    store
        .tx(|tx| tx.insert_account(&account("a1", Some("dc1"))))
        .unwrap();
    let unknown_gw = store
        .tx(|tx| tx.insert_account(&account("a2", Some("nope"))))
        .unwrap_err();
    assert!(matches!(
        unknown_gw,
        StoreError::NotFound {
            kind: "gateway",
            ..
        }
    ));
    let in_use = store.tx(|tx| tx.delete_gateway("dc1")).unwrap_err();
    assert!(matches!(in_use, StoreError::InUse { .. }));
    assert!(in_use.to_string().contains("a1"));
    store.tx(|tx| tx.delete_account("a1")).unwrap();
    store.tx(|tx| tx.delete_gateway("dc1")).unwrap();
    assert!(store.read(|r| r.gateways()).unwrap().is_empty());
    assert!(matches!(
        store.tx(|tx| tx.delete_gateway("dc1")),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn accounts_keep_their_key_but_never_show_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let row = store
        .tx(|tx| tx.insert_account(&account("acct", None)))
        .unwrap();
    assert_eq!(row.api_key, key());
    assert_eq!(
        row.endpoint.api_base().as_str(),
        "http://127.0.0.1:5240/MAAS/api/2.0/"
    );
    assert!(row.last_validated.is_none());
    let shown = format!("{row:?}");
    assert!(
        !shown.contains("secretsecret") && !shown.contains("tokentokentoken123"),
        "{shown}"
    );

    store.tx(|tx| tx.mark_account_validated("acct")).unwrap();
    assert!(store
        .read(|r| r.account("acct"))
        .unwrap()
        .last_validated
        .is_some());
    let new_key = ApiKey::from_parts(
        "c2c2c2c2c2c2c2c2c2",
        "t2t2t2t2t2t2t2t2t2",
        "s2s2s2s2s2s2s2s2s2s2s2s2s2s2s2s2",
    );
    store
        .tx(|tx| tx.set_account_api_key("acct", &new_key))
        .unwrap();
    let row = store.read(|r| r.account("acct")).unwrap();
    assert_eq!(row.api_key, new_key);
    assert!(
        row.last_validated.is_none(),
        "a new key is not validated yet"
    );

    let dup = store
        .tx(|tx| tx.insert_account(&account("acct", None)))
        .unwrap_err();
    assert!(matches!(dup, StoreError::Duplicate { .. }));
    assert!(!dup.to_string().contains("secret"));
    let empty = store
        .tx(|tx| tx.insert_account(&account("  ", None)))
        .unwrap_err();
    assert!(matches!(empty, StoreError::Invalid { .. }));

    store
        .tx(|tx| tx.create_cluster("c1", "acct", &spec(1)))
        .unwrap();
    let used = store.tx(|tx| tx.delete_account("acct")).unwrap_err();
    assert!(
        matches!(used, StoreError::InUse { .. }) && used.to_string().contains("c1"),
        "{used}"
    );
    assert!(matches!(
        store.tx(|tx| tx.delete_account("ghost")),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn profiles_are_versioned_and_builtins_protected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .tx(|tx| {
            tx.insert_profile("k8s", "1.0.0", &json!({"layers": ["os"]}), true)?;
            tx.insert_profile("k8s", "1.1.0", &json!({"layers": ["os", "cni"]}), false)
        })
        .unwrap();
    let dup = store
        .tx(|tx| tx.insert_profile("k8s", "1.0.0", &json!({}), false))
        .unwrap_err();
    assert!(matches!(
        dup,
        StoreError::Duplicate {
            kind: "profile",
            ..
        }
    ));
    // upsert refreshes a built-in's document in place.
    store
        .tx(|tx| tx.upsert_profile("k8s", "1.0.0", &json!({"layers": ["os2"]}), true))
        .unwrap();
    let p = store.read(|r| r.profile("k8s", "1.0.0")).unwrap();
    assert_eq!(p.document, json!({"layers": ["os2"]}));
    assert!(p.builtin);
    let layers: serde_json::Map<String, serde_json::Value> = p.document_as().unwrap();
    assert!(layers.contains_key("layers"));
    let all = store.read(|r| r.profiles()).unwrap();
    assert_eq!(
        all.iter().map(|p| p.version.as_str()).collect::<Vec<_>>(),
        ["1.0.0", "1.1.0"]
    );
    assert!(matches!(
        store.tx(|tx| tx.delete_profile("k8s", "1.0.0")),
        Err(StoreError::Invalid { .. })
    ));
    store.tx(|tx| tx.delete_profile("k8s", "1.1.0")).unwrap();
    assert!(matches!(
        store.read(|r| r.profile("k8s", "1.1.0")),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn clusters_track_spec_generations_status_and_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    let c = store.read(|r| r.cluster(&id)).unwrap();
    assert_eq!(
        (
            c.name.as_str(),
            c.phase,
            c.spec_generation,
            c.observed_generation
        ),
        ("c1", ClusterPhase::Pending, 1, 0)
    );
    assert_eq!(c.spec_as::<Spec>().unwrap(), spec(3));
    assert_eq!(c.status, serde_json::Value::Null);
    assert_eq!(
        store.read(|r| r.cluster_by_name("c1")).unwrap().unwrap().id,
        id
    );

    assert_eq!(store.read(|r| r.resolve_cluster("c1")).unwrap().id, id);
    assert_eq!(
        store.read(|r| r.resolve_cluster(id.as_str())).unwrap().name,
        "c1"
    );
    assert!(matches!(
        store.read(|r| r.resolve_cluster("nope")),
        Err(StoreError::NotFound {
            kind: "cluster",
            ..
        })
    ));

    let dup = store
        .tx(|tx| tx.create_cluster("c1", "acct", &spec(1)))
        .unwrap_err();
    assert!(matches!(
        dup,
        StoreError::Duplicate {
            kind: "cluster",
            ..
        }
    ));
    let no_acct = store
        .tx(|tx| tx.create_cluster("c2", "nope", &spec(1)))
        .unwrap_err();
    assert!(matches!(
        no_acct,
        StoreError::NotFound {
            kind: "cloud account",
            ..
        }
    ));

    assert_eq!(
        store
            .tx(|tx| tx.update_cluster_spec(&id, &spec(5), Some(1)))
            .unwrap(),
        2
    );
    let stale = store
        .tx(|tx| tx.update_cluster_spec(&id, &spec(7), Some(1)))
        .unwrap_err();
    assert!(
        matches!(
            stale,
            StoreError::GenerationConflict {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{stale:?}"
    );
    assert_eq!(
        store
            .tx(|tx| tx.update_cluster_spec(&id, &spec(6), None))
            .unwrap(),
        3
    );

    store
        .tx(|tx| {
            tx.set_cluster_phase(
                &id,
                ClusterPhase::Provisioning,
                Some("allocating 6 workers"),
            )
        })
        .unwrap();
    store
        .tx(|tx| tx.set_cluster_status(&id, &json!({"ready": 2}), 3))
        .unwrap();
    let bad_gen = store
        .tx(|tx| tx.set_cluster_status(&id, &json!({}), 4))
        .unwrap_err();
    assert!(matches!(bad_gen, StoreError::Invalid { .. }));
    let c = store.read(|r| r.cluster(&id)).unwrap();
    assert_eq!(
        (c.phase, c.reason.as_deref(), c.observed_generation),
        (ClusterPhase::Provisioning, Some("allocating 6 workers"), 3)
    );
    assert_eq!(c.status, json!({"ready": 2}));
    assert!(matches!(
        store.tx(|tx| tx.set_cluster_phase(&id, ClusterPhase::Deleted, None)),
        Err(StoreError::Invalid { .. })
    ));

    // Deletion frees the name; the deleted row stays and refuses changes.
    store.tx(|tx| tx.mark_cluster_deleted(&id)).unwrap();
    assert!(store.read(|r| r.cluster_by_name("c1")).unwrap().is_none());
    assert!(store.read(|r| r.clusters(false)).unwrap().is_empty());
    let deleted = store.read(|r| r.cluster(&id)).unwrap();
    assert!(deleted.is_deleted() && deleted.phase == ClusterPhase::Deleted);
    assert!(matches!(
        store.tx(|tx| tx.update_cluster_spec(&id, &spec(1), None)),
        Err(StoreError::ClusterDeleted { .. })
    ));
    let again = store
        .tx(|tx| tx.create_cluster("c1", "acct", &spec(1)))
        .unwrap();
    assert_ne!(again.id, id);
    let all = store.read(|r| r.clusters(true)).unwrap();
    assert_eq!(all.len(), 2);
    // The account is free to go once only deleted clusters remember it... but c1 lives again.
    assert!(store.tx(|tx| tx.delete_account("acct")).is_err());
}

#[test]
fn one_machine_can_never_be_recorded_for_two_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let (store, c1) = fixture(dir.path());
    let c2 = store
        .tx(|tx| tx.create_cluster("c2", "acct", &spec(1)).map(|c| c.id))
        .unwrap();
    store
        .tx(|tx| tx.record_machine(&machine(&c1, "abc123")))
        .unwrap();
    let err = store
        .tx(|tx| tx.record_machine(&machine(&c2, "abc123")))
        .unwrap_err();
    match &err {
        StoreError::MachineTaken { system_id, cluster } => {
            assert_eq!(
                (system_id.as_str(), cluster.as_str()),
                ("abc123", c1.as_str())
            )
        }
        other => panic!("expected MachineTaken, got {other:?}"),
    }
    // Not even twice for the same cluster.
    assert!(matches!(
        store.tx(|tx| tx.record_machine(&machine(&c1, "abc123"))),
        Err(StoreError::MachineTaken { .. })
    ));
    // Once released it may be taken again, and the history keeps both rows.
    store.tx(|tx| tx.release_machine("abc123")).unwrap();
    store
        .tx(|tx| tx.record_machine(&machine(&c2, "abc123")))
        .unwrap();
    assert_eq!(store.read(|r| r.machines(&c1, true)).unwrap().len(), 1);
    assert!(store.read(|r| r.machines(&c1, false)).unwrap().is_empty());
    assert_eq!(
        store
            .read(|r| r.active_machine("abc123"))
            .unwrap()
            .unwrap()
            .cluster,
        c2
    );

    // The partial unique index holds even against raw SQL that skips the store's check.
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let raw = conn.execute(
        "INSERT INTO machines (cluster, pool, system_id, role, state, created, updated)
         VALUES (?1, 'p', 'abc123', 'worker', 'x', 't', 't')",
        [c1.as_str()],
    );
    let raw = raw.expect_err("the database itself must refuse a second active row");
    assert!(raw.to_string().contains("UNIQUE"), "{raw}");
}

#[test]
fn machines_update_release_and_block_cluster_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    store
        .tx(|tx| {
            tx.record_machine(&machine(&id, "m1"))?;
            tx.record_machine(&machine(&id, "m2"))
        })
        .unwrap();
    let m = store
        .tx(|tx| {
            tx.update_machine(
                "m1",
                &MachineUpdate {
                    state: Some("deploying".into()),
                    maas_status: Some("Deploying".into()),
                    ip: Some("10.0.0.5".into()),
                    ..Default::default()
                },
            )
        })
        .unwrap();
    assert_eq!(
        (
            m.state.as_str(),
            m.maas_status.as_deref(),
            m.ip.as_deref(),
            m.hostname.as_deref()
        ),
        (
            "deploying",
            Some("Deploying"),
            Some("10.0.0.5"),
            Some("host-m1")
        )
    );
    let err = store.tx(|tx| tx.mark_cluster_deleted(&id)).unwrap_err();
    assert!(
        matches!(err, StoreError::MachinesRemain { count: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("m1"));
    store
        .tx(|tx| tx.release_machine("m1").and(tx.release_machine("m2")))
        .unwrap();
    assert!(matches!(
        store.tx(|tx| tx.release_machine("m1")),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.tx(|tx| tx.update_machine("m1", &MachineUpdate::default())),
        Err(StoreError::NotFound { .. })
    ));
    store.tx(|tx| tx.mark_cluster_deleted(&id)).unwrap();
    assert!(matches!(
        store.tx(|tx| tx.record_machine(&machine(&id, "m3"))),
        Err(StoreError::ClusterDeleted { .. })
    ));
}

#[test]
fn leak_check_finds_untracked_vanished_and_mismatched_machines() {
    let dir = tempfile::tempdir().unwrap();
    let (store, c1) = fixture(dir.path());
    store
        .tx(|tx| {
            tx.record_machine(&machine(&c1, "kept"))?;
            tx.record_machine(&machine(&c1, "gone"))?;
            tx.record_machine(&machine(&c1, "retagged"))
        })
        .unwrap();
    let owned = |id: &str, tag: Option<&str>| OwnedInMaas {
        system_id: id.into(),
        hostname: None,
        cluster_tag: tag.map(str::to_string),
    };
    let report = store
        .read(|r| {
            r.leak_check(&[
                owned("kept", Some(c1.as_str())),
                owned("retagged", Some("0badc0de")),
                owned("orphan", Some(c1.as_str())),
            ])
        })
        .unwrap();
    assert!(!report.is_clean());
    assert_eq!(
        report
            .untracked
            .iter()
            .map(|o| o.system_id.as_str())
            .collect::<Vec<_>>(),
        ["orphan"]
    );
    assert_eq!(
        report
            .vanished
            .iter()
            .map(|m| m.system_id.as_str())
            .collect::<Vec<_>>(),
        ["gone"]
    );
    assert_eq!(report.mismatched.len(), 1);
    assert_eq!(report.mismatched[0].0.system_id, "retagged");
    let clean = store
        .read(|r| {
            r.leak_check(&[
                owned("kept", None),
                owned("gone", None),
                owned("retagged", Some(c1.as_str())),
            ])
        })
        .unwrap();
    assert!(clean.is_clean(), "{clean:?}");
}

#[test]
fn tasks_progress_and_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    let t = store
        .tx(|tx| tx.start_task(Some(&id), "create", "starting"))
        .unwrap();
    store
        .tx(|tx| tx.set_task_progress(t, &json!({"allocated": 2, "of": 3}), Some("allocating")))
        .unwrap();
    let row = store.read(|r| r.task(t)).unwrap();
    assert_eq!(
        (row.state, row.message.as_str(), row.cluster.as_ref()),
        (TaskState::Running, "allocating", Some(&id))
    );
    assert_eq!(row.progress, json!({"allocated": 2, "of": 3}));
    assert!(matches!(
        store.tx(|tx| tx.finish_task(t, TaskState::Running, "x")),
        Err(StoreError::Invalid { .. })
    ));
    store
        .tx(|tx| tx.finish_task(t, TaskState::Succeeded, "done"))
        .unwrap();
    let row = store.read(|r| r.task(t)).unwrap();
    assert!(row.finished.is_some() && row.state == TaskState::Succeeded);
    assert!(matches!(
        store.tx(|tx| tx.finish_task(t, TaskState::Failed, "x")),
        Err(StoreError::WrongState { .. })
    ));
    assert!(matches!(
        store.tx(|tx| tx.set_task_progress(t, &1, None)),
        Err(StoreError::WrongState { .. })
    ));

    let global = store
        .tx(|tx| tx.start_task(None, "validate-account", ""))
        .unwrap();
    let other = store
        .tx(|tx| tx.start_task(Some(&id), "scale", ""))
        .unwrap();
    assert_eq!(
        store
            .read(|r| r.tasks(Some(&id), 10))
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        [other, t]
    );
    assert_eq!(
        store
            .read(|r| r.tasks(None, 2))
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        [other, global]
    );
    assert_eq!(store.read(|r| r.unfinished_tasks()).unwrap().len(), 2);
    assert_eq!(
        store
            .tx(|tx| tx.interrupt_unfinished_tasks("the engine process died"))
            .unwrap(),
        2
    );
    assert_eq!(
        store.read(|r| r.task(other)).unwrap().state,
        TaskState::Interrupted
    );
    assert!(store.read(|r| r.unfinished_tasks()).unwrap().is_empty());
    assert!(matches!(
        store.read(|r| r.task(TaskId(999))),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn events_are_ordered_paged_filtered_and_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let (store, c1) = fixture(dir.path());
    let c2 = store
        .tx(|tx| tx.create_cluster("c2", "acct", &spec(1)).map(|c| c.id))
        .unwrap();
    assert_eq!(store.read(|r| r.latest_event_id()).unwrap(), EventId(0));
    let mut ids = Vec::new();
    for i in 0..25 {
        let cluster = if i % 2 == 0 { &c1 } else { &c2 };
        let e = NewEvent::new(EventLevel::Info, "test", format!("event {i}"))
            .cluster(cluster)
            .machine(format!("m{i}"))
            .detail(detail_of(&json!({"i": i})).unwrap());
        ids.push(store.append_event(&e).unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // Page through everything 10 at a time.
    let mut seen = Vec::new();
    let mut cursor = EventId(0);
    loop {
        let page = store.events_after(None, cursor, 10).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        cursor = page.last().unwrap().id;
        seen.extend(page);
    }
    assert_eq!(seen.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    assert_eq!(seen[3].message, "event 3");
    assert_eq!(seen[3].detail, Some(json!({"i": 3})));
    assert_eq!(seen[3].machine.as_deref(), Some("m3"));
    // One cluster only.
    let c1_events = store.events_after(Some(&c1), EventId(0), 100).unwrap();
    assert_eq!(c1_events.len(), 13);
    assert!(c1_events.iter().all(|e| e.cluster.as_ref() == Some(&c1)));
    let tail = store.read(|r| r.last_events(Some(&c2), 3)).unwrap();
    assert_eq!(
        tail.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
        ["event 19", "event 21", "event 23"]
    );
    assert_eq!(
        store.read(|r| r.latest_event_id()).unwrap(),
        *ids.last().unwrap()
    );

    let conn = rusqlite::Connection::open(store.path()).unwrap();
    assert!(conn
        .execute("UPDATE events SET message = 'rewritten'", [])
        .is_err());
    assert!(conn.execute("DELETE FROM events", []).is_err());
}

#[test]
fn intents_open_complete_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    let a = store
        .begin_intent(&id, "allocate", "pool=workers", &json!({"cpu": 4}))
        .unwrap();
    let b = store
        .begin_intent(&id, "deploy", "m1", &json!({"distro": "noble"}))
        .unwrap();
    store
        .complete_intent(a, &json!({"system_id": "m1"}))
        .unwrap();
    assert!(matches!(
        store.complete_intent(a, &json!({})),
        Err(StoreError::WrongState { .. })
    ));
    assert!(matches!(
        store.complete_intent(IntentId(999), &json!({})),
        Err(StoreError::NotFound { .. })
    ));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let open = store.open_intents(None).unwrap();
    assert_eq!(open.iter().map(|i| i.id).collect::<Vec<_>>(), [b]);
    assert_eq!(
        (open[0].op.as_str(), open[0].target.as_str()),
        ("deploy", "m1")
    );
    assert_eq!(
        open[0].params_as::<serde_json::Value>().unwrap(),
        json!({"distro": "noble"})
    );
    let done = store.read(|r| r.intent(a)).unwrap();
    assert_eq!(done.outcome, Some(json!({"system_id": "m1"})));
    assert!(!done.is_open());
    assert_eq!(store.read(|r| r.intents(&id, 10)).unwrap().len(), 2);
    let unknown = ClusterId::parse("00000000").unwrap();
    assert!(store.open_intents(Some(&unknown)).unwrap().is_empty());
    assert!(store
        .begin_intent(&unknown, "allocate", "x", &json!({}))
        .is_err());
}

#[test]
fn commands_flow_from_submitters_to_the_reconciler() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    let scale = store
        .submit_command(Some(&id), "scale", &json!({"workers": 5}))
        .unwrap();
    let delete = store
        .submit_command(Some(&id), "delete", &json!({}))
        .unwrap();
    let withdrawn = store.submit_command(None, "abort", &json!({})).unwrap();
    store.tx(|tx| tx.cancel_command(withdrawn)).unwrap();

    let first = store.tx(|tx| tx.claim_next_command()).unwrap().unwrap();
    assert_eq!(
        (first.id, first.kind.as_str(), first.state),
        (scale, "scale", CommandState::Claimed)
    );
    assert_eq!(
        first.claimed_by.as_deref(),
        Some(process_identity().as_str())
    );
    assert_eq!(
        first.args_as::<serde_json::Value>().unwrap(),
        json!({"workers": 5})
    );
    assert!(matches!(
        store.tx(|tx| tx.cancel_command(scale)),
        Err(StoreError::WrongState { .. })
    ));
    store
        .tx(|tx| tx.complete_command(scale, CommandState::Done, &json!({"ok": true})))
        .unwrap();
    assert_eq!(
        store.read(|r| r.command(scale)).unwrap().result,
        Some(json!({"ok": true}))
    );

    // A claim left by a process that died goes back to the queue.
    let second = store.tx(|tx| tx.claim_next_command()).unwrap().unwrap();
    assert_eq!(second.id, delete);
    assert_eq!(store.tx(|tx| tx.requeue_claimed_commands()).unwrap(), 1);
    let again = store.tx(|tx| tx.claim_next_command()).unwrap().unwrap();
    assert_eq!(again.id, delete);
    assert!(matches!(
        store.tx(|tx| tx.complete_command(delete, CommandState::Pending, &())),
        Err(StoreError::Invalid { .. })
    ));
    store
        .tx(|tx| tx.complete_command(delete, CommandState::Failed, &json!({"error": "x"})))
        .unwrap();
    assert!(store.tx(|tx| tx.claim_next_command()).unwrap().is_none());
    let states: Vec<_> = store
        .read(|r| r.commands(None, 10))
        .unwrap()
        .iter()
        .map(|c| c.state)
        .collect();
    assert_eq!(
        states,
        [
            CommandState::Cancelled,
            CommandState::Failed,
            CommandState::Done
        ]
    );
}

#[derive(Debug, thiserror::Error)]
enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("MAAS said no")]
    Maas,
}

#[test]
fn an_error_mid_transaction_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    let task = store
        .tx(|tx| tx.start_task(Some(&id), "create", ""))
        .unwrap();
    let before = store.read(|r| r.latest_event_id()).unwrap();
    let err = store
        .tx(|tx| -> Result<(), EngineError> {
            tx.record_machine(&machine(&id, "m1"))?;
            tx.append_event(&NewEvent::new(EventLevel::Info, "engine", "took m1").cluster(&id))?;
            tx.set_task_progress(task, &json!({"allocated": 1}), None)?;
            tx.update_cluster_spec(&id, &spec(9), None)?;
            Err(EngineError::Maas)
        })
        .unwrap_err();
    assert!(matches!(err, EngineError::Maas));
    assert!(store.read(|r| r.active_machine("m1")).unwrap().is_none());
    assert_eq!(store.read(|r| r.latest_event_id()).unwrap(), before);
    assert_eq!(
        store.read(|r| r.task(task)).unwrap().progress,
        serde_json::Value::Null
    );
    assert_eq!(store.read(|r| r.cluster(&id)).unwrap().spec_generation, 1);

    // A store error half-way (the second machine is taken) rolls back the first one too.
    store
        .tx(|tx| tx.record_machine(&machine(&id, "taken")))
        .unwrap();
    let err = store
        .tx(|tx| {
            tx.record_machine(&machine(&id, "m2"))?;
            tx.record_machine(&machine(&id, "taken"))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::MachineTaken { .. }));
    assert!(store.read(|r| r.active_machine("m2")).unwrap().is_none());

    // And a panic inside the closure rolls back as well, leaving the store usable.
    let s = store.clone();
    let id2 = id.clone();
    let panicked = std::thread::spawn(move || {
        let _ = s.tx(|tx| -> Result<(), StoreError> {
            tx.record_machine(&machine(&id2, "m3"))?;
            panic!("engine bug");
        });
    })
    .join();
    assert!(panicked.is_err());
    assert!(store.read(|r| r.active_machine("m3")).unwrap().is_none());
    store
        .tx(|tx| tx.record_machine(&machine(&id, "m3")))
        .unwrap();
}

#[test]
fn a_successful_transaction_commits_everything_together() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    let task = store
        .tx(|tx| tx.start_task(Some(&id), "create", ""))
        .unwrap();
    store
        .tx(|tx| {
            tx.record_machine(&machine(&id, "m1"))?;
            tx.append_event(
                &NewEvent::new(EventLevel::Info, "engine", "took m1")
                    .cluster(&id)
                    .machine("m1"),
            )?;
            tx.set_task_progress(task, &json!({"allocated": 1}), Some("1/3"))
        })
        .unwrap();
    assert!(store.read(|r| r.active_machine("m1")).unwrap().is_some());
    assert_eq!(
        store.events_after(Some(&id), EventId(0), 10).unwrap()[0]
            .machine
            .as_deref(),
        Some("m1")
    );
    assert_eq!(store.read(|r| r.task(task)).unwrap().message, "1/3");
}

#[test]
fn reads_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = store
        .read(|r| r.insert_account(&account("acct", None)))
        .unwrap_err();
    assert!(matches!(err, StoreError::Db { .. }), "{err:?}");
    assert!(store.read(|r| r.accounts()).unwrap().is_empty());
}

#[test]
fn data_version_moves_when_anyone_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    let other = Store::open(dir.path()).unwrap();
    let v0 = store.data_version().unwrap();
    assert_eq!(store.data_version().unwrap(), v0, "nothing happened");
    other
        .append_event(&NewEvent::new(EventLevel::Info, "cli", "hello").cluster(&id))
        .unwrap();
    let v1 = store.data_version().unwrap();
    assert_ne!(v1, v0);
    store
        .append_event(&NewEvent::new(EventLevel::Info, "engine", "hi"))
        .unwrap();
    assert_ne!(store.data_version().unwrap(), v1);
}

#[test]
fn text_enums_round_trip_and_refuse_unknown_names() {
    for p in ClusterPhase::ALL {
        assert_eq!(p.as_str().parse::<ClusterPhase>().unwrap(), *p);
        assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
    }
    let err = "Exploded".parse::<ClusterPhase>().unwrap_err();
    assert!(err.to_string().contains("Provisioning"), "{err}");
    assert!(TaskState::Interrupted.is_terminal() && !TaskState::Running.is_terminal());
}

#[test]
fn an_unknown_enum_in_the_database_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.execute(
        "UPDATE clusters SET phase = 'Hibernating' WHERE id = ?1",
        [id.as_str()],
    )
    .unwrap();
    let err = store.read(|r| r.cluster(&id)).unwrap_err();
    assert!(
        err.to_string().contains("Hibernating") && err.to_string().contains("newer kubemaas"),
        "{err}"
    );
}
