//! The replicated state log in etcd (the [`ReplicaLog`] of a 3-node gateway's stores).
//!
//! Keys under the configured prefix `P`:
//! * `P/log/head`: the last entry's number, in decimal;
//! * `P/log/e/NNNNNNNNNNNNNNNNNNNN`: entry N's changeset (zero-padded so keys sort as numbers);
//! * `P/snap/manifest`: the latest snapshot's [`Manifest`] (JSON), written after its chunks;
//! * `P/snap/NNNN.../CCCCCC`: the chunks of snapshot N.
//!
//! An append is one etcd transaction: "if head is A, then head := A+1 and put entry A+1", so
//! the log never has gaps and two nodes can never both append entry A+1. Each entry starts with
//! a random tag: when an append's answer is lost (a member died mid-request) and it is retried
//! on another member, the tag tells whether entry A+1 is this very append, so it is never
//! applied twice (once from the log, once more by rerunning the transaction).
//!
//! The log holds one client per member and moves to the next member when one fails, so a
//! killed member costs one timed-out request, not the service.
//!
//! The store calls this synchronously; the client lives on a runtime of its own (one worker
//! thread) and each call waits for its answer on a channel, which works from plain threads and
//! from inside any other tokio runtime alike.

use super::config::EtcdConfig;
use super::error::HaError;
use crate::etcd::{
    Compare, EtcdClient as Client, EtcdError, KeyValue, Op, Range, Txn, TxnResponse,
};
use crate::store::replica::{
    assemble, split, Appended, Entry, LogError, Manifest, Read, ReplicaLog, Snapshot, MAX_CHUNK,
};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Entries fetched per request at most: entries are small (a few KiB), and this keeps a reply
/// far under the client's bound on an answer even with large ones.
const READ_LIMIT: usize = 64;

/// Pause before re-establishing a broken watch on the head.
const REWATCH: Duration = Duration::from_millis(500);

/// Rounds over all members before a request is reported failed, and the pause between them.
const ROUNDS: usize = 3;
const ROUND_PAUSE: Duration = Duration::from_millis(500);

/// Bytes of the random tag in front of each entry's changeset.
const TAG: usize = 16;

/// A replicated log stored in etcd.
pub struct EtcdLog {
    runtime: Option<tokio::runtime::Runtime>,
    /// One client per member, in the configured order.
    clients: Vec<Client>,
    /// The member requests go to first; moves on when it fails.
    current: AtomicUsize,
    keys: Keys,
    endpoints: String,
    head: Arc<HeadCache>,
}

impl std::fmt::Debug for EtcdLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdLog")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.keys.prefix)
            .finish()
    }
}

#[derive(Default)]
struct HeadCache {
    state: Mutex<(u64, u64)>, // (head as last seen, wake count)
    changed: Condvar,
}

impl HeadCache {
    fn saw(&self, head: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if head > s.0 {
            s.0 = head;
            drop(s);
            self.changed.notify_all();
        }
    }
}

#[derive(Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn head(&self) -> String {
        format!("{}/log/head", self.prefix)
    }
    fn entry(&self, seq: u64) -> String {
        format!("{}/log/e/{seq:020}", self.prefix)
    }
    /// The end of the entries' key range ('0' follows '/').
    fn entries_end(&self) -> String {
        format!("{}/log/e0", self.prefix)
    }
    fn manifest(&self) -> String {
        format!("{}/snap/manifest", self.prefix)
    }
    fn chunk(&self, seq: u64, i: usize) -> String {
        format!("{}/snap/{seq:020}/{i:06}", self.prefix)
    }
    fn chunks_of(&self, seq: u64) -> String {
        format!("{}/snap/{seq:020}/", self.prefix)
    }
    fn seq_of_entry(&self, key: &[u8]) -> Option<u64> {
        let key = std::str::from_utf8(key).ok()?;
        key.strip_prefix(&format!("{}/log/e/", self.prefix))?
            .parse()
            .ok()
    }
}

fn parse_head(value: &[u8]) -> Result<u64, LogError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| LogError::Corrupt {
            detail: "the log head is not a number".to_string(),
        })
}

impl EtcdLog {
    /// Connects to the members of `config` and starts watching the log's head.
    pub fn connect(config: &EtcdConfig) -> Result<Arc<EtcdLog>, HaError> {
        config.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kubemaas-etcd")
            .enable_all()
            .build()
            .map_err(HaError::Runtime)?;
        let mut clients = Vec::new();
        for endpoint in &config.endpoints {
            let cfg = config.clone();
            let endpoint = vec![endpoint.clone()];
            let client = wait(&runtime, async move { cfg.connect_to(&endpoint).await })
                .unwrap_or_else(|| {
                    Err(HaError::Etcd {
                        endpoints: config.endpoints_text(),
                        what: "connecting",
                        detail: "the client's runtime stopped".to_string(),
                    })
                })?;
            clients.push(client);
        }
        let keys = Keys {
            prefix: config.prefix.trim_end_matches('/').to_string(),
        };
        let head = Arc::new(HeadCache::default());
        runtime.spawn(watch_head(clients.clone(), keys.clone(), Arc::clone(&head)));
        Ok(Arc::new(EtcdLog {
            runtime: Some(runtime),
            clients,
            current: AtomicUsize::new(0),
            keys,
            endpoints: config.endpoints_text(),
            head,
        }))
    }

    fn unavailable(&self, what: &str, e: impl std::fmt::Display) -> LogError {
        LogError::Unavailable {
            what: what.to_string(),
            detail: format!("{e} (etcd at {})", self.endpoints),
        }
    }

    /// Runs `op` with a member's client on the log's runtime and waits for it; when the member
    /// fails, tries the next one, a few rounds over all of them. `op` must be safe to repeat (appends are,
    /// thanks to their tag).
    fn call<T, F, Fut>(&self, what: &str, op: F) -> Result<T, LogError>
    where
        T: Send + 'static,
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, EtcdError>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| self.unavailable(what, "the log is closed"))?;
        let n = self.clients.len();
        let mut last = String::new();
        // A few rounds over the members: an etcd leader election (a member died, or a loaded
        // machine missed heartbeats) refuses requests for about an election timeout.
        for round in 0..ROUNDS {
            if round > 0 {
                std::thread::sleep(ROUND_PAUSE);
            }
            for _ in 0..n {
                let i = self.current.load(Ordering::Acquire) % n;
                match wait(runtime, op(self.clients[i].clone())) {
                    Some(Ok(value)) => return Ok(value),
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, member = i, what, "an etcd member failed; trying the next");
                        let _ = self.current.compare_exchange(
                            i,
                            (i + 1) % n,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        );
                        last = e.to_string();
                    }
                    None => return Err(self.unavailable(what, "the client's runtime stopped")),
                }
            }
        }
        Err(self.unavailable(what, last))
    }

    fn get(&self, what: &str, key: String) -> Result<Vec<KeyValue>, LogError> {
        self.call(what, |c| {
            let range = Range::key(key.clone());
            async move { Ok(c.range(&range).await?.kvs) }
        })
    }

    fn txn(&self, what: &str, txn: Txn) -> Result<TxnResponse, LogError> {
        self.call(what, |c| {
            let txn = txn.clone();
            async move { c.txn(&txn).await }
        })
    }

    fn manifest(&self) -> Result<Option<(Manifest, i64)>, LogError> {
        let kvs = self.get("reading the snapshot manifest", self.keys.manifest())?;
        let Some(kv) = kvs.first() else {
            return Ok(None);
        };
        let manifest: Manifest =
            serde_json::from_slice(&kv.value).map_err(|e| LogError::Corrupt {
                detail: format!("the snapshot manifest is not valid JSON: {e}"),
            })?;
        Ok(Some((manifest, kv.mod_revision)))
    }
}

impl Drop for EtcdLog {
    fn drop(&mut self) {
        // Not a plain drop: dropping a runtime inside another runtime's task panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs `fut` on `runtime` and blocks the calling thread for its output (`None`: the runtime
/// shut down first).
fn wait<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    fut: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().ok()
}

/// Keeps `cache` at the log's head: a read, then a watch from the revision after it; on a
/// failure, the same with the next member.
async fn watch_head(clients: Vec<Client>, keys: Keys, cache: Arc<HeadCache>) {
    for member in (0..clients.len()).cycle() {
        let client = &clients[member];
        let head = Range::key(keys.head());
        let result: Result<(), EtcdError> = async {
            let resp = client.range(&head).await?;
            if let Some(kv) = resp.kvs.first() {
                if let Ok(seq) = parse_head(&kv.value) {
                    cache.saw(seq);
                }
            }
            let mut stream = client.watch(&head, resp.header.revision + 1).await?;
            while let Some(msg) = stream.message().await? {
                for event in &msg.events {
                    if let Ok(seq) = parse_head(&event.kv.value) {
                        cache.saw(seq);
                    }
                }
                if msg.canceled {
                    break;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "the watch on the state log's head broke; watching again");
        }
        tokio::time::sleep(REWATCH).await;
    }
}

impl ReplicaLog for EtcdLog {
    fn append(&self, after: u64, changeset: &[u8]) -> Result<Appended, LogError> {
        if changeset.len() > MAX_CHUNK {
            return Err(LogError::TooLarge {
                bytes: changeset.len(),
                limit: MAX_CHUNK,
            });
        }
        let head = self.keys.head();
        let guard = if after == 0 {
            Compare::Version(head.clone().into(), 0)
        } else {
            Compare::Value(head.clone().into(), after.to_string().into())
        };
        let seq = after + 1;
        let tag: [u8; TAG] = rand::random();
        let mut value = Vec::with_capacity(TAG + changeset.len());
        value.extend_from_slice(&tag);
        value.extend_from_slice(changeset);
        let txn = Txn::new()
            .when([guard])
            .and_then([
                Op::Put(head.clone().into(), seq.to_string().into()),
                Op::Put(self.keys.entry(seq).into(), value),
            ])
            .or_else([
                Op::Get(Range::key(head)),
                Op::Get(Range::key(self.keys.entry(seq))),
            ]);
        let resp = self.txn("appending a state change", txn)?;
        if resp.succeeded {
            self.head.saw(seq);
            return Ok(Appended::At(seq));
        }
        let gets = &resp.ranges;
        // A retry of an append whose answer was lost finds its own entry: it is in the log.
        let ours = gets
            .get(1)
            .and_then(|g| g.kvs.first())
            .is_some_and(|kv| kv.value.starts_with(&tag));
        if ours {
            self.head.saw(seq);
            return Ok(Appended::At(seq));
        }
        let current = match gets.first().and_then(|g| g.kvs.first()) {
            Some(kv) => parse_head(&kv.value)?,
            None => 0,
        };
        if current <= after {
            // The compare failed yet the head is not past us: this copy is ahead of the log
            // (the etcd data was replaced). Retrying cannot help.
            return Err(LogError::Corrupt {
                detail: format!("this node applied entry {after} but the log's head is {current} (was this state dir used with another etcd cluster or prefix?)"),
            });
        }
        self.head.saw(current);
        Ok(Appended::Behind { head: current })
    }

    fn read_after(&self, after: u64, limit: usize) -> Result<Read, LogError> {
        let range = Range::key(self.keys.entry(after + 1))
            .until(self.keys.entries_end())
            .limit(limit.clamp(1, READ_LIMIT) as i64);
        let txn = Txn::new().and_then([Op::Get(Range::key(self.keys.head())), Op::Get(range)]);
        let resp = self.txn("reading the state log", txn)?;
        let mut gets = resp.ranges.into_iter();
        let (Some(head), Some(entries)) = (gets.next(), gets.next()) else {
            return Err(LogError::Corrupt {
                detail: "etcd answered a log read without its two parts".to_string(),
            });
        };
        let head = match head.kvs.first() {
            Some(kv) => parse_head(&kv.value)?,
            None => 0,
        };
        self.head.saw(head);
        if head <= after {
            return Ok(Read::Entries(Vec::new()));
        }
        let mut out = Vec::new();
        for kv in &entries.kvs {
            let seq = self
                .keys
                .seq_of_entry(&kv.key)
                .ok_or_else(|| LogError::Corrupt {
                    detail: "a log entry's key is not a number".to_string(),
                })?;
            if seq > head {
                // Written after the head we read? Impossible in one revision; stop to be safe.
                break;
            }
            let changeset = kv.value.get(TAG..).ok_or_else(|| LogError::Corrupt {
                detail: format!("log entry {seq} is shorter than its tag"),
            })?;
            out.push(Entry {
                seq,
                changeset: changeset.to_vec(),
            });
        }
        if out.first().is_none_or(|e| e.seq != after + 1) {
            return Ok(Read::Compacted);
        }
        Ok(Read::Entries(out))
    }

    fn latest_snapshot(&self) -> Result<Option<Snapshot>, LogError> {
        // A newer snapshot may replace the chunks while they are read: then start again.
        let mut last_error = None;
        for _ in 0..3 {
            let Some((manifest, _)) = self.manifest()? else {
                return Ok(None);
            };
            let mut chunks = Vec::with_capacity(manifest.chunks);
            for i in 0..manifest.chunks {
                let kvs = self.get("reading a snapshot", self.keys.chunk(manifest.seq, i))?;
                match kvs.into_iter().next() {
                    Some(kv) => chunks.push(kv.value),
                    None => break,
                }
            }
            match assemble(&manifest, chunks) {
                Ok(database) => {
                    return Ok(Some(Snapshot {
                        seq: manifest.seq,
                        database,
                    }))
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| LogError::Corrupt {
            detail: "the snapshot kept changing while it was read".to_string(),
        }))
    }

    fn snapshot_seq(&self) -> Result<Option<u64>, LogError> {
        Ok(self.manifest()?.map(|(m, _)| m.seq))
    }

    fn put_snapshot(&self, snapshot: &Snapshot) -> Result<(), LogError> {
        let (manifest, parts) = split(snapshot.seq, &snapshot.database, MAX_CHUNK);
        for (i, part) in parts.iter().enumerate() {
            let (key, value) = (self.keys.chunk(snapshot.seq, i), part.to_vec());
            self.call("storing a snapshot", |c| {
                let (key, value) = (key.clone(), value.clone());
                async move { c.put(key.as_bytes(), &value).await }
            })?;
        }
        let text = serde_json::to_vec(&manifest).map_err(|e| LogError::Corrupt {
            detail: format!("cannot encode a snapshot manifest: {e}"),
        })?;
        loop {
            let current = self.manifest()?;
            if let Some((m, _)) = &current {
                if m.seq >= snapshot.seq {
                    if m.seq > snapshot.seq {
                        self.delete_chunks(snapshot.seq)?;
                    }
                    return Ok(());
                }
            }
            let revision = current.as_ref().map_or(0, |(_, r)| *r);
            let txn = Txn::new()
                .when([Compare::ModRevision(self.keys.manifest().into(), revision)])
                .and_then([Op::Put(self.keys.manifest().into(), text.clone())]);
            let resp = self.txn("storing a snapshot", txn)?;
            if resp.succeeded {
                if let Some((old, _)) = current {
                    self.delete_chunks(old.seq)?;
                }
                return Ok(());
            }
        }
    }

    fn compact(&self, upto: u64) -> Result<(), LogError> {
        let range = Range::key(self.keys.entry(0)).until(self.keys.entry(upto + 1));
        self.call("compacting the state log", |c| {
            let range = range.clone();
            async move { c.delete(&range).await }
        })?;
        Ok(())
    }

    fn wait_beyond(&self, seq: u64, max: Duration) -> u64 {
        let s = self.head.state.lock().unwrap_or_else(|p| p.into_inner());
        let wakes = s.1;
        let (s, _) = self
            .head
            .changed
            .wait_timeout_while(s, max, |s| s.0 <= seq && s.1 == wakes)
            .unwrap_or_else(|p| p.into_inner());
        s.0
    }

    fn wake(&self) {
        self.head.state.lock().unwrap_or_else(|p| p.into_inner()).1 += 1;
        self.head.changed.notify_all();
    }
}

impl EtcdLog {
    fn delete_chunks(&self, seq: u64) -> Result<(), LogError> {
        let range = Range::prefix(self.keys.chunks_of(seq));
        self.call("dropping an old snapshot", |c| {
            let range = range.clone();
            async move { c.delete(&range).await }
        })?;
        Ok(())
    }
}
