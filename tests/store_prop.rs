//! Random sequences of store operations, checked against a plain in-memory model after every
//! step: no machine is ever held twice or by a deleted cluster, no machine is forgotten, failed
//! transactions leave no trace, the journal only grows, and open intents are exactly those
//! begun and not completed.

use kubemaas::maas::{ApiKey, Endpoint};
use kubemaas::store::*;
use proptest::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
enum Op {
    CreateCluster(u8),
    DeleteCluster(u8),
    Take {
        cluster: u8,
        machine: u8,
    },
    Release(u8),
    Event(u8),
    BeginIntent(u8),
    CompleteIntent(u8),
    /// Takes a machine and journals an event, then fails: nothing may remain.
    FailedTx {
        cluster: u8,
        machine: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4u8).prop_map(Op::CreateCluster),
        (0..4u8).prop_map(Op::DeleteCluster),
        (0..4u8, 0..6u8).prop_map(|(cluster, machine)| Op::Take { cluster, machine }),
        (0..6u8).prop_map(Op::Release),
        (0..4u8).prop_map(Op::Event),
        (0..4u8).prop_map(Op::BeginIntent),
        (0..8u8).prop_map(Op::CompleteIntent),
        (0..4u8, 0..6u8).prop_map(|(cluster, machine)| Op::FailedTx { cluster, machine }),
    ]
}

/// What the store should hold.
#[derive(Default)]
struct Model {
    /// Live clusters by name.
    live: BTreeMap<String, ClusterId>,
    deleted: BTreeSet<ClusterId>,
    /// Active machines: system_id -> cluster.
    held: BTreeMap<String, ClusterId>,
    events: usize,
    open_intents: BTreeSet<IntentId>,
    all_intents: Vec<IntentId>,
}

#[derive(Debug)]
struct Boom;

impl From<StoreError> for Boom {
    fn from(e: StoreError) -> Self {
        panic!("unexpected store error inside the failing transaction: {e}")
    }
}

fn machine(cluster: &ClusterId, sid: &str) -> NewMachine {
    NewMachine {
        cluster: cluster.clone(),
        pool: "p".into(),
        system_id: sid.into(),
        hostname: None,
        role: "worker".into(),
        state: "allocated".into(),
        maas_status: None,
        ip: None,
        generation: 1,
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .tx(|tx| {
            tx.insert_account(&NewAccount {
                name: "acct".into(),
                gateway: None,
                endpoint: Endpoint::parse("http://127.0.0.1:5240/MAAS").unwrap(),
                api_key: ApiKey::from_parts("a", "b", "c"),
                ca_cert: None,
            })
        })
        .unwrap();
    let mut m = Model::default();
    let name = |i: u8| format!("c{i}");
    let sid = |i: u8| format!("sys{i}");
    for op in ops {
        match op {
            Op::CreateCluster(i) => {
                let r = store.tx(|tx| tx.create_cluster(&name(i), "acct", &json!({"i": i})));
                match (m.live.contains_key(&name(i)), r) {
                    (false, Ok(c)) => {
                        m.live.insert(name(i), c.id);
                    }
                    (true, Err(StoreError::Duplicate { .. })) => {}
                    (exists, r) => prop_assert!(false, "create {i} (exists: {exists}) gave {r:?}"),
                }
            }
            Op::DeleteCluster(i) => {
                let Some(id) = m.live.get(&name(i)).cloned() else {
                    continue;
                };
                let r = store.tx(|tx| tx.mark_cluster_deleted(&id));
                let holds = m.held.values().any(|c| *c == id);
                match (holds, r) {
                    (false, Ok(())) => {
                        m.live.remove(&name(i));
                        m.deleted.insert(id);
                    }
                    (true, Err(StoreError::MachinesRemain { .. })) => {}
                    (holds, r) => prop_assert!(false, "delete {i} (holds: {holds}) gave {r:?}"),
                }
            }
            Op::Take {
                cluster,
                machine: mi,
            } => {
                let Some(id) = m.live.get(&name(cluster)).cloned() else {
                    continue;
                };
                let r = store.tx(|tx| tx.record_machine(&machine(&id, &sid(mi))));
                match (m.held.get(&sid(mi)), r) {
                    (None, Ok(row)) => {
                        prop_assert_eq!(&row.cluster, &id);
                        m.held.insert(sid(mi), id);
                    }
                    (Some(holder), Err(StoreError::MachineTaken { cluster: c, .. })) => {
                        prop_assert_eq!(holder.as_str(), c.as_str());
                    }
                    (h, r) => prop_assert!(false, "take {mi} (held by {h:?}) gave {r:?}"),
                }
            }
            Op::Release(mi) => {
                let r = store.tx(|tx| tx.release_machine(&sid(mi)));
                match (m.held.contains_key(&sid(mi)), r) {
                    (true, Ok(row)) => {
                        prop_assert!(!row.is_active());
                        m.held.remove(&sid(mi));
                    }
                    (false, Err(StoreError::NotFound { .. })) => {}
                    (h, r) => prop_assert!(false, "release {mi} (held: {h}) gave {r:?}"),
                }
            }
            Op::Event(i) => {
                let mut e = NewEvent::new(EventLevel::Info, "prop", format!("e{}", m.events));
                if let Some(id) = m.live.get(&name(i)) {
                    e = e.cluster(id);
                }
                store.append_event(&e).unwrap();
                m.events += 1;
            }
            Op::BeginIntent(i) => {
                let Some(id) = m.live.get(&name(i)).cloned() else {
                    continue;
                };
                let intent = store
                    .begin_intent(&id, "allocate", "pool=p", &json!({}))
                    .unwrap();
                m.open_intents.insert(intent);
                m.all_intents.push(intent);
            }
            Op::CompleteIntent(k) => {
                let Some(&intent) = m.all_intents.get(k as usize) else {
                    continue;
                };
                let r = store.complete_intent(intent, &json!({"ok": true}));
                match (m.open_intents.remove(&intent), r) {
                    (true, Ok(())) | (false, Err(StoreError::WrongState { .. })) => {}
                    (open, r) => prop_assert!(false, "complete {intent} (open: {open}) gave {r:?}"),
                }
            }
            Op::FailedTx {
                cluster,
                machine: mi,
            } => {
                let Some(id) = m.live.get(&name(cluster)).cloned() else {
                    continue;
                };
                if m.held.contains_key(&sid(mi)) {
                    continue;
                }
                let r = store.tx(|tx| -> Result<(), Boom> {
                    tx.record_machine(&machine(&id, &sid(mi)))?;
                    tx.append_event(
                        &NewEvent::new(EventLevel::Error, "prop", "doomed").cluster(&id),
                    )?;
                    tx.begin_intent(&id, "deploy", &sid(mi), &json!({}))?;
                    Err(Boom)
                });
                prop_assert!(r.is_err());
            }
        }
        check(&store, &m)?;
    }
    // Everything survives a reopen.
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    check(&store, &m)
}

fn check(store: &Store, m: &Model) -> Result<(), TestCaseError> {
    store
        .read(|r| -> Result<(), StoreError> {
            let active = r.all_active_machines().unwrap();
            let held: BTreeMap<String, ClusterId> = active
                .iter()
                .map(|row| (row.system_id.clone(), row.cluster.clone()))
                .collect();
            assert_eq!(held.len(), active.len(), "a machine is held twice");
            assert_eq!(&held, &m.held, "held machines differ from the model");
            for row in &active {
                assert!(
                    !m.deleted.contains(&row.cluster),
                    "deleted cluster holds {}",
                    row.system_id
                );
            }
            let live: BTreeMap<String, ClusterId> = r
                .clusters(false)?
                .into_iter()
                .map(|c| (c.name, c.id))
                .collect();
            assert_eq!(&live, &m.live);
            assert_eq!(r.clusters(true)?.len(), m.live.len() + m.deleted.len());
            let events = r.events_after(None, EventId(0), usize::MAX)?;
            assert_eq!(events.len(), m.events, "journal length");
            assert!(events.windows(2).all(|w| w[0].id < w[1].id));
            assert!(events
                .iter()
                .all(|e| e.source == "prop" && e.level == EventLevel::Info));
            let open: BTreeSet<IntentId> =
                r.open_intents(None)?.into_iter().map(|i| i.id).collect();
            assert_eq!(&open, &m.open_intents);
            let owned: Vec<OwnedInMaas> = m
                .held
                .iter()
                .map(|(sid, c)| OwnedInMaas {
                    system_id: sid.clone(),
                    hostname: None,
                    cluster_tag: Some(c.to_string()),
                })
                .collect();
            assert!(
                r.leak_check(&owned)?.is_clean(),
                "the store forgot or invented a machine"
            );
            Ok(())
        })
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_keep_the_invariants(ops in prop::collection::vec(op(), 1..40)) {
        run(ops)?;
    }
}
