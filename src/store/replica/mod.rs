//! The replicated store: each gateway node keeps its own SQLite database as a materialised copy
//! of an ordered log of write transactions held in etcd (see docs/ha.md).
//!
//! * A write ([`Store::tx`]) records its changes as a changeset and, before committing locally,
//!   appends it to the log if and only if the log's head is the last entry this copy applied
//!   (optimistic concurrency: any node may write, and writes are linearised by the log). When
//!   another node appended first, the transaction is rolled back, the missing entries applied,
//!   and the closure run again. The local commit records the entry's number in the same SQLite
//!   transaction, so a crash never leaves the copy ahead of the log or unaware of what it holds.
//! * A [`Follower`] applies the entries other nodes append, in order, and now and then stores a
//!   snapshot and drops older entries; a copy too far behind loads the snapshot first.
//!
//! Every decision taken in [`Store::tx`] is made on the latest state: a transaction that
//! changes nothing still confirms with the log that the copy was current (one read), and reruns
//! when it was not. [`Store::read`] stays local (no network): a node serves what it has
//! applied, which is what the event streams of its consoles need.

mod changeset;
mod codes;
mod follow;
mod identity;
mod log;
mod memory;
mod session_ffi;
mod snapshot;
mod watch;

pub use codes::StoredCode;
pub use follow::Follower;
pub use identity::{StoredCa, StoredConsole, StoredNode};
pub use log::{Appended, Entry, LogError, Read, ReplicaLog, Snapshot};
pub use memory::MemoryLog;
pub use snapshot::{assemble, split, Manifest, MAX_CHUNK};
pub use watch::AppliedWatch;

use super::db::Store;
use super::error::{db_err, StoreError};
use super::tx::Tx;
use changeset::STATE_TABLE;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use watch::{Touched, Watches};

/// How often a transaction is tried again when other nodes keep appending first. Each retry
/// starts from a copy caught up with the log, so only a node racing many busy writers gets
/// near this.
const MAX_ATTEMPTS: u32 = 64;

/// Tuning of a replicated store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaOptions {
    /// A follower stores a snapshot once the log grew this many entries past the last one.
    pub snapshot_every: u64,
    /// Entries read from the log per request while catching up.
    pub batch: usize,
}

impl Default for ReplicaOptions {
    fn default() -> Self {
        ReplicaOptions {
            snapshot_every: 1000,
            batch: 256,
        }
    }
}

/// Why replication failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("entry {seq} of the replicated state log does not apply to this node's copy ({conflicts}): the copies diverged; stop this gateway node, remove its state dir and start it again to reload the state from etcd")]
    Diverged { seq: u64, conflicts: String },
    #[error("gave up a state change after {attempts} attempts because other gateway nodes kept changing the state first: retry it")]
    Contended { attempts: u32 },
    #[error("{path} holds state that was never replicated, and the replicated log already holds another: move that state dir away (or pass another --state-dir) so this node loads the shared state")]
    Unreplicated { path: std::path::PathBuf },
}

impl From<LogError> for StoreError {
    fn from(e: LogError) -> Self {
        StoreError::Replica(ReplicaError::Log(e))
    }
}

impl From<ReplicaError> for StoreError {
    fn from(e: ReplicaError) -> Self {
        StoreError::Replica(e)
    }
}

/// A store's link to its log.
pub(crate) struct Replica {
    log: Arc<dyn ReplicaLog>,
    options: ReplicaOptions,
    /// The last entry applied here, as committed (the table is the truth; this is its cache for
    /// followers and tests, updated under the writer's mutex after each commit).
    applied: AtomicU64,
    /// Who wants to know that other nodes' changes were applied here ([`Store::on_applied`]).
    watches: Watches,
}

impl Store {
    /// Opens `state_dir`'s database as one node's copy of the replicated state in `log`, and
    /// brings it up to date (from the log's snapshot when its early entries were compacted).
    /// Start a [`Follower`] ([`Store::follow`]) to keep applying what other nodes write.
    pub fn open_replicated(
        state_dir: &Path,
        log: Arc<dyn ReplicaLog>,
        options: ReplicaOptions,
    ) -> Result<Store, StoreError> {
        let replica = Arc::new(Replica {
            log,
            options,
            applied: AtomicU64::new(0),
            watches: Watches::default(),
        });
        let store = Store::open_with(state_dir, Some(Arc::clone(&replica)))?;
        {
            let mut conn = store.writer();
            prepare(&mut conn, &replica, store.path())?;
            catch_up(&mut conn, &replica)?;
        }
        Ok(store)
    }

    /// True for a store opened with [`Store::open_replicated`].
    pub fn is_replicated(&self) -> bool {
        self.replica().is_some()
    }

    /// The number of the last log entry applied to this copy (0 for a standalone store).
    pub fn applied_seq(&self) -> u64 {
        self.replica()
            .map_or(0, |r| r.applied.load(Ordering::Acquire))
    }

    /// Applies every entry other nodes appended since the last call; returns how many.
    /// A standalone store has nothing to catch up with.
    pub fn catch_up(&self) -> Result<u64, StoreError> {
        match self.replica() {
            None => Ok(0),
            Some(r) => catch_up(&mut self.writer(), r),
        }
    }

    /// Stores a snapshot of this copy in the log and drops the entries the previous snapshot
    /// covers (one snapshot interval stays, for nodes slightly behind). Returns the snapshot's
    /// entry number; 0 for a standalone store.
    pub fn snapshot_to_log(&self) -> Result<u64, StoreError> {
        let Some(r) = self.replica() else {
            return Ok(0);
        };
        let (seq, database) = {
            let conn = self.writer();
            let seq = applied(&conn)?;
            let database = snapshot::serialize(&conn).map_err(db_err("serialising a snapshot"))?;
            (seq, database)
        };
        let previous = r.log.snapshot_seq()?;
        if let Some(previous) = previous.filter(|p| *p >= seq) {
            return Ok(previous);
        }
        r.log.put_snapshot(&Snapshot { seq, database })?;
        let upto = previous.unwrap_or(0);
        if upto > 0 {
            r.log.compact(upto)?;
        }
        tracing::info!(
            seq,
            compacted_upto = upto,
            "stored a state snapshot in the log"
        );
        Ok(seq)
    }
}

/// Creates the position table on a copy that has none. A database that already holds rows but
/// was never replicated cannot join a log that holds state: the two histories would mix.
fn prepare(conn: &mut Connection, replica: &Replica, path: &Path) -> Result<(), StoreError> {
    let exists: bool = conn
        .query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [STATE_TABLE],
            |r| r.get(0),
        )
        .map_err(db_err("looking for the replication position"))?;
    if !exists {
        let has_rows: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM gateways) OR EXISTS (SELECT 1 FROM cloud_accounts)
                 OR EXISTS (SELECT 1 FROM profiles) OR EXISTS (SELECT 1 FROM clusters)
                 OR EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM commands)",
                [],
                |r| r.get(0),
            )
            .map_err(db_err("checking whether the state dir is empty"))?;
        let latest = replica.log.snapshot_seq()?;
        let log_empty = latest.is_none()
            && matches!(replica.log.read_after(0, 1)?, Read::Entries(e) if e.is_empty());
        if has_rows && !log_empty {
            return Err(ReplicaError::Unreplicated {
                path: path.to_path_buf(),
            }
            .into());
        }
        conn.execute_batch(&format!(
            "CREATE TABLE {STATE_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), applied INTEGER NOT NULL);
             INSERT INTO {STATE_TABLE} (id, applied) VALUES (1, 0);"
        ))
        .map_err(db_err("creating the replication position"))?;
        if has_rows {
            // The first node of a new replicated gateway: its existing state becomes the
            // log's starting snapshot (at 0, before any entry), which the others load.
            let database =
                snapshot::serialize(conn).map_err(db_err("serialising the initial state"))?;
            replica.log.put_snapshot(&Snapshot { seq: 0, database })?;
        } else if latest.is_some() {
            // A new node: the snapshot is the shortest way to the current state (and the only
            // one to a starting snapshot at 0).
            load_snapshot(conn, replica, 0)?;
        }
    }
    replica.applied.store(applied(conn)?, Ordering::Release);
    Ok(())
}

fn applied(conn: &Connection) -> Result<u64, StoreError> {
    let seq: Option<i64> = conn
        .query_row(
            &format!("SELECT applied FROM {STATE_TABLE} WHERE id = 1"),
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err("reading the replication position"))?;
    Ok(seq.map_or(0, |s| s.max(0) as u64))
}

fn set_applied(conn: &Connection, seq: u64) -> Result<(), StoreError> {
    conn.execute(
        &format!("UPDATE {STATE_TABLE} SET applied = ?1 WHERE id = 1"),
        [seq as i64],
    )
    .map_err(db_err("recording the replication position"))?;
    Ok(())
}

/// [`Store::tx`] on a replicated store. See the module docs; `f` may run more than once.
pub(crate) fn write<T, E>(
    store: &Store,
    replica: &Replica,
    mut f: impl FnMut(&Tx<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    let mut conn = store.writer();
    for attempt in 1..=MAX_ATTEMPTS {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err("starting a write transaction"))?;
        let after = applied(&tx)?;
        let mut session = changeset::start(&tx).map_err(db_err("recording a transaction"))?;
        let value = match f(&Tx::new(&tx)) {
            Ok(value) => value,
            Err(e) => {
                drop(session);
                drop(tx);
                // The closure may have refused because this copy missed something (a cluster
                // another node just created): if the log moved, decide again on fresh state.
                if catch_up(&mut conn, replica)? > 0 {
                    continue;
                }
                return Err(e);
            }
        };
        let changes = changeset::finish(&mut session).map_err(db_err("recording a transaction"))?;
        drop(session);
        if changes.is_empty() {
            // Nothing to append, but the closure decided on this copy: "no task to interrupt"
            // is only true if no other node just started one. Confirm the copy was current,
            // or decide again on the entries it missed.
            drop(tx);
            if catch_up(&mut conn, replica)? > 0 {
                continue;
            }
            return Ok(value);
        }
        match replica
            .log
            .append(after, &changes)
            .map_err(StoreError::from)?
        {
            Appended::At(seq) => {
                set_applied(&tx, seq)?;
                tx.commit()
                    .map_err(db_err("committing a replicated write transaction"))?;
                replica.applied.store(seq, Ordering::Release);
                return Ok(value);
            }
            Appended::Behind { head } => {
                drop(tx);
                tracing::debug!(
                    after,
                    head,
                    attempt,
                    "another node wrote first; catching up and retrying"
                );
                catch_up(&mut conn, replica)?;
            }
        }
    }
    Err(StoreError::from(ReplicaError::Contended {
        attempts: MAX_ATTEMPTS,
    })
    .into())
}

/// Applies the log's entries past this copy's position; returns how many it moved forward.
/// Then tells the watches which tables changed (once, also when a later batch failed: what
/// was committed before stays applied).
fn catch_up(conn: &mut Connection, replica: &Replica) -> Result<u64, StoreError> {
    let mut touched = Touched::default();
    let result = apply_pending(conn, replica, &mut touched);
    replica.watches.notify(&touched);
    result
}

fn apply_pending(
    conn: &mut Connection,
    replica: &Replica,
    touched: &mut Touched,
) -> Result<u64, StoreError> {
    let mut moved = 0;
    loop {
        let after = applied(conn)?;
        match replica.log.read_after(after, replica.options.batch)? {
            Read::Entries(entries) if entries.is_empty() => return Ok(moved),
            Read::Entries(entries) => {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(db_err("starting to apply log entries"))?;
                let mut seq = after;
                let mut tables = Vec::new();
                for entry in &entries {
                    if entry.seq != seq + 1 {
                        return Err(LogError::Corrupt {
                            detail: format!(
                                "entry {} follows entry {seq} (expected {})",
                                entry.seq,
                                seq + 1
                            ),
                        }
                        .into());
                    }
                    let changed = changeset::apply(&tx, &entry.changeset).map_err(|failure| {
                        ReplicaError::Diverged {
                            seq: entry.seq,
                            conflicts: failure.to_string(),
                        }
                    })?;
                    tables.extend(changed);
                    seq = entry.seq;
                }
                set_applied(&tx, seq)?;
                tx.commit()
                    .map_err(db_err("committing applied log entries"))?;
                replica.applied.store(seq, Ordering::Release);
                touched.add_tables(tables);
                moved += seq - after;
            }
            Read::Compacted => {
                moved += load_snapshot(conn, replica, after)?;
                touched.everything();
            }
        }
    }
}

/// Replaces this copy by the log's latest snapshot, which must be past `after`; returns how many
/// entries that moved it forward.
fn load_snapshot(conn: &mut Connection, replica: &Replica, after: u64) -> Result<u64, StoreError> {
    let snap = replica
        .log
        .latest_snapshot()?
        .ok_or_else(|| LogError::Corrupt {
            detail: format!("entries after {after} were compacted but no snapshot is stored"),
        })?;
    if snap.seq < after || (snap.seq == after && after > 0) {
        return Err(LogError::Corrupt {
            detail: format!(
                "entries after {after} were compacted but the latest snapshot only covers entries up to {}",
                snap.seq
            ),
        }
        .into());
    }
    snapshot::restore(conn, &snap.database).map_err(db_err("loading the state snapshot"))?;
    let now = applied(conn)?;
    if now != snap.seq {
        return Err(LogError::Corrupt {
            detail: format!("snapshot {} records position {now}", snap.seq),
        }
        .into());
    }
    tracing::info!(seq = snap.seq, "loaded the state snapshot from the log");
    replica.applied.store(now, Ordering::Release);
    Ok(now - after)
}
