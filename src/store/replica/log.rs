//! The replicated log as the store sees it: an ordered sequence of changesets (entry `n` turns
//! the state after entry `n - 1` into the state after `n`), plus the latest snapshot so that old
//! entries can be dropped. Implemented over etcd by [`crate::ha::EtcdLog`] and in memory by
//! [`super::MemoryLog`] (tests and benchmarks).
//!
//! The calls block: [`crate::store::Store::tx`] is synchronous, and an implementation over the
//! network runs its I/O elsewhere and waits for it.

use std::time::Duration;

/// One entry of the log: its sequence number (1, 2, ...) and the changeset it carries.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub changeset: Vec<u8>,
}

impl std::fmt::Debug for Entry {
    // Changesets hold row values, API keys among them: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("seq", &self.seq)
            .field("bytes", &self.changeset.len())
            .finish()
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The entry is in the log with this sequence number.
    At(u64),
    /// Another writer appended first: the log's head is at `head`, past what the caller had
    /// applied. Catch up and try again.
    Behind { head: u64 },
}

/// What reading after a sequence number found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The next entries, in order, starting at `after + 1` (empty: nothing new).
    Entries(Vec<Entry>),
    /// Entries right after `after` were compacted away: load the latest snapshot first.
    Compacted,
}

/// The database as of entry `seq`, serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub seq: u64,
    pub database: Vec<u8>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("seq", &self.seq)
            .field("bytes", &self.database.len())
            .finish()
    }
}

/// Why the log could not be used. Never carries entry or snapshot contents.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    #[error("the replicated state log is unreachable while {what}: {detail} (check that the etcd members listed in the gateway's `etcd:` endpoints run and a majority of them is up)")]
    Unavailable { what: String, detail: String },
    #[error("the replicated state log is inconsistent: {detail} (this is a kubemaas bug or the etcd keys were edited by hand; restore the gateway's etcd data from a backup)")]
    Corrupt { detail: String },
    #[error("one state change is {bytes} bytes, over the replicated log's limit of {limit} bytes per change: split the change (import fewer profiles or machines at once)")]
    TooLarge { bytes: usize, limit: usize },
}

/// The log's interface to the store. Implementations are shared by all the store's threads.
pub trait ReplicaLog: Send + Sync + 'static {
    /// Appends `changeset` as entry `after + 1` if and only if the log's head is `after`.
    fn append(&self, after: u64, changeset: &[u8]) -> Result<Appended, LogError>;

    /// Up to `limit` entries after `after`, in order.
    fn read_after(&self, after: u64, limit: usize) -> Result<Read, LogError>;

    /// The latest snapshot, if any was ever stored.
    fn latest_snapshot(&self) -> Result<Option<Snapshot>, LogError>;

    /// The entry number the latest snapshot covers (`None`: no snapshot), without fetching it.
    /// A snapshot at 0 is the state a replicated gateway started from, before any entry.
    fn snapshot_seq(&self) -> Result<Option<u64>, LogError>;

    /// Stores `snapshot` unless a newer one is already there (then this is a no-op).
    fn put_snapshot(&self, snapshot: &Snapshot) -> Result<(), LogError>;

    /// Drops the entries up to and including `upto`. Callers only pass a number covered by the
    /// stored snapshot, so a node that needs them loads the snapshot instead.
    fn compact(&self, upto: u64) -> Result<(), LogError>;

    /// Waits until the head may have moved past `seq` (or `max` passed, or [`ReplicaLog::wake`]
    /// was called) and returns the head as last known. Spurious returns are allowed.
    fn wait_beyond(&self, seq: u64, max: Duration) -> u64;

    /// Ends every [`ReplicaLog::wait_beyond`] in progress (a follower stopping).
    fn wake(&self);
}
