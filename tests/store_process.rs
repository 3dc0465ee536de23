//! Several processes on one state dir: the reconciler lock (held, reported, freed by kill -9),
//! concurrent writers without "database is locked" failures, and a crash mid-way through the
//! engine's work. Child processes are this test binary re-run with `KUBEMAAS_STORE_CHILD` set
//! (see `child_process_role`), and talk to the parent over stdin/stdout, so nothing waits on time.

use kubemaas::maas::{ApiKey, Endpoint};
use kubemaas::store::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

const ROLE_ENV: &str = "KUBEMAAS_STORE_CHILD";
const MARK: &str = "@@child@@ ";

/// Not a test of its own: the entry point of child processes. Without the variable it does
/// nothing (and passes); with it, it plays the role the parent asked for.
#[test]
fn child_process_role() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let parts: Vec<&str> = role.split('|').collect();
    let dir = Path::new(parts[1]);
    match parts[0] {
        "lock" => {
            let _lock = EngineLock::try_acquire(dir).expect("child takes the lock");
            say(&format!("LOCKED {}", std::process::id()));
            wait_for_parent();
        }
        "writer" => {
            let store = Store::open(dir).unwrap();
            let cluster = ClusterId::parse(parts[2]).unwrap();
            let n: usize = parts[3].parse().unwrap();
            say("READY");
            wait_for_line();
            write_events(&store, &cluster, "child", n);
            say("DONE");
        }
        "crash" => {
            let store = Store::open(dir).unwrap();
            let cluster = ClusterId::parse(parts[2]).unwrap();
            let intent = store
                .begin_intent(&cluster, "allocate", "pool=workers", &json!({"cpu": 4}))
                .unwrap();
            say(&format!("INTENT {intent}"));
            let _ = store.tx(|tx| -> Result<(), StoreError> {
                tx.record_machine(&new_machine(&cluster, "m-crash"))?;
                tx.append_event(&NewEvent::new(EventLevel::Info, "child", "took m-crash"))?;
                say("IN_TX");
                wait_for_parent();
                Ok(())
            });
        }
        "try-write" => {
            // Another process trying to write right now, without waiting.
            let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
            conn.busy_timeout(std::time::Duration::ZERO).unwrap();
            match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
                Ok(()) => say("RESULT FREE"),
                Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
                    say("RESULT BUSY")
                }
                Err(e) => say(&format!("RESULT ERROR {e}")),
            }
        }
        other => panic!("unknown child role {other}"),
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A marker, because libtest prints `test child_process_role ... ` on the same line first.
    writeln!(out, "{MARK}{line}").unwrap();
    out.flush().unwrap();
}

/// Blocks until the parent closes our stdin or kills us.
fn wait_for_parent() {
    let mut sink = String::new();
    while std::io::stdin()
        .read_line(&mut sink)
        .map(|n| n > 0)
        .unwrap_or(false)
    {}
}

fn wait_for_line() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}

struct ChildProc {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl ChildProc {
    fn spawn(role: &str) -> ChildProc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_process_role",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ROLE_ENV, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        ChildProc { child, out }
    }

    /// The next line the child said that starts with `prefix` (libtest's own lines are skipped).
    fn expect(&mut self, prefix: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(n > 0, "the child exited before saying {prefix}");
            let wanted = format!("{MARK}{prefix}");
            if let Some(pos) = line.find(&wanted) {
                return line[pos + wanted.len()..].trim().to_string();
            }
        }
    }

    fn tell(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// SIGKILL: no destructor, no unlock, no rollback runs in the child.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn wait_success(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

fn new_machine(cluster: &ClusterId, system_id: &str) -> NewMachine {
    NewMachine {
        cluster: cluster.clone(),
        pool: "workers".into(),
        system_id: system_id.into(),
        hostname: None,
        role: "worker".into(),
        state: "allocated".into(),
        maas_status: None,
        ip: None,
        generation: 1,
    }
}

fn fixture(dir: &Path) -> (Store, ClusterId) {
    let store = Store::open(dir).unwrap();
    let id = store
        .tx(|tx| {
            tx.insert_account(&NewAccount {
                name: "acct".into(),
                gateway: None,
                endpoint: Endpoint::parse("http://127.0.0.1:5240/MAAS").unwrap(),
                api_key: ApiKey::from_parts("a", "b", "c"),
                ca_cert: None,
            })?;
            Ok::<_, StoreError>(tx.create_cluster("c1", "acct", &json!({"workers": 3}))?.id)
        })
        .unwrap();
    (store, id)
}

/// `n` write transactions, each an event plus a read of the journal, as an engine would do.
fn write_events(store: &Store, cluster: &ClusterId, source: &str, n: usize) {
    for i in 0..n {
        store
            .tx(|tx| {
                tx.append_event(
                    &NewEvent::new(EventLevel::Info, source, format!("{source} {i}"))
                        .cluster(cluster),
                )?;
                tx.latest_event_id()
            })
            .unwrap_or_else(|e| panic!("{source} write {i} failed: {e}"));
        store
            .events_after(Some(cluster), EventId(0), 5)
            .unwrap_or_else(|e| panic!("{source} read {i} failed: {e}"));
    }
}

#[test]
fn the_lock_is_exclusive_names_its_holder_and_is_freed_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let lock = EngineLock::try_acquire(dir.path()).unwrap();
    assert_eq!(lock.holder().pid, std::process::id());
    assert_eq!(lock.path(), dir.path().join(LOCK_FILE));
    // flock belongs to the open file: a second open, even in this process, is refused.
    match EngineLock::try_acquire(dir.path()) {
        Err(LockError::Held { holder: Some(h) }) => {
            assert_eq!(h, *lock.holder());
            let msg = LockError::Held { holder: Some(h) }.to_string();
            assert!(
                msg.contains(&std::process::id().to_string()) && msg.contains(&host_name()),
                "{msg}"
            );
        }
        other => panic!("expected Held, got {other:?}"),
    }
    drop(lock);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(),
        "",
        "the name goes with the lock"
    );
    let again = EngineLock::try_acquire(dir.path()).unwrap();
    drop(again);
}

#[test]
fn a_lock_held_by_another_process_is_reported_and_freed_by_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = ChildProc::spawn(&format!("lock|{}", dir.path().display()));
    let child_pid: u32 = child.expect("LOCKED").parse().unwrap();
    assert_eq!(child_pid, child.child.id());
    match EngineLock::try_acquire(dir.path()) {
        Err(LockError::Held { holder: Some(h) }) => {
            assert_eq!(h.pid, child_pid);
            assert_eq!(h.host, host_name());
        }
        other => panic!("expected Held by the child, got {other:?}"),
    }
    child.kill9();
    let lock = EngineLock::try_acquire(dir.path()).expect("kill -9 frees the lock");
    assert_eq!(lock.holder().pid, std::process::id());
}

#[test]
fn two_processes_write_and_read_concurrently_without_busy_errors() {
    const N: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    let mut child = ChildProc::spawn(&format!("writer|{}|{id}|{N}", dir.path().display()));
    child.expect("READY");
    // A second handle in this process too: three connections' worth of writers at once.
    let other = Store::open(dir.path()).unwrap();
    child.tell("go");
    let (a, b) = (store.clone(), id.clone());
    let t1 = std::thread::spawn(move || write_events(&a, &b, "parent-a", N));
    let (c, d) = (other.clone(), id.clone());
    let t2 = std::thread::spawn(move || write_events(&c, &d, "parent-b", N));
    t1.join().unwrap();
    t2.join().unwrap();
    child.expect("DONE");
    child.wait_success();

    let all = store.events_after(Some(&id), EventId(0), 10 * N).unwrap();
    assert_eq!(all.len(), 3 * N);
    for source in ["child", "parent-a", "parent-b"] {
        let mine: Vec<&str> = all
            .iter()
            .filter(|e| e.source == source)
            .map(|e| e.message.as_str())
            .collect();
        let want: Vec<String> = (0..N).map(|i| format!("{source} {i}")).collect();
        assert_eq!(mine, want, "each writer's events stay in its own order");
    }
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
}

#[test]
fn a_crash_leaves_the_intent_open_and_the_half_transaction_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    drop(store);
    let mut child = ChildProc::spawn(&format!("crash|{}|{id}", dir.path().display()));
    let intent: i64 = child.expect("INTENT").parse().unwrap();
    child.expect("IN_TX");
    child.kill9();

    let store = Store::open(dir.path()).unwrap();
    let open = store.open_intents(None).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].id, open[0].op.as_str(), &open[0].cluster),
        (IntentId(intent), "allocate", &id)
    );
    assert_eq!(store.open_intents(Some(&id)).unwrap().len(), 1);
    // The transaction the child was inside never happened, and its write lock is gone.
    assert!(store
        .read(|r| r.active_machine("m-crash"))
        .unwrap()
        .is_none());
    assert!(store.events_after(None, EventId(0), 10).unwrap().is_empty());
    store
        .tx(|tx| tx.record_machine(&new_machine(&id, "m-crash")))
        .unwrap();
    store
        .complete_intent(IntentId(intent), &json!({"adopted": "m-crash"}))
        .unwrap();
    assert!(store.open_intents(None).unwrap().is_empty());
}

#[test]
fn opening_a_second_store_in_a_process_keeps_the_first_ones_locks() {
    // SQLite's locks are POSIX locks, dropped when the process closes *any* descriptor of the
    // file; Store::open must not open and close the database files behind a live Store.
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = fixture(dir.path());
    let (in_tx, in_tx_rx) = std::sync::mpsc::channel();
    let (finish, finish_rx) = std::sync::mpsc::channel::<()>();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            store
                .tx(|tx| {
                    tx.append_event(&NewEvent::new(EventLevel::Info, "a", "holding").cluster(&id))?;
                    in_tx.send(()).unwrap();
                    finish_rx.recv().unwrap();
                    Ok::<_, StoreError>(())
                })
                .unwrap();
        })
    };
    in_tx_rx.recv().unwrap();
    let second = Store::open(dir.path()).unwrap();
    let mut child = ChildProc::spawn(&format!("try-write|{}", dir.path().display()));
    assert_eq!(
        child.expect("RESULT"),
        "BUSY",
        "the first store's write lock was lost"
    );
    child.wait_success();
    finish.send(()).unwrap();
    writer.join().unwrap();
    assert_eq!(second.events_after(None, EventId(0), 10).unwrap().len(), 1);
}
