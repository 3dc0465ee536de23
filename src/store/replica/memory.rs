//! A [`ReplicaLog`] in this process's memory: several stores of one process replicate through
//! it as through etcd. For tests and benchmarks of the store side without an etcd cluster; it
//! stores snapshots chunked like the etcd log does, with a chunk size of the caller's choice.

use super::log::{Appended, Entry, LogError, Read, ReplicaLog, Snapshot};
use super::snapshot::{assemble, split, Manifest, MAX_CHUNK};
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// An in-memory replicated log.
pub struct MemoryLog {
    state: Mutex<State>,
    changed: Condvar,
    chunk: usize,
}

#[derive(Default)]
struct State {
    head: u64,
    entries: BTreeMap<u64, Vec<u8>>,
    snapshot: Option<(Manifest, Vec<Vec<u8>>)>,
    wakes: u64,
}

impl Default for MemoryLog {
    fn default() -> Self {
        MemoryLog::new(MAX_CHUNK)
    }
}

impl MemoryLog {
    /// A log storing snapshots in chunks of at most `chunk` bytes.
    pub fn new(chunk: usize) -> Self {
        MemoryLog {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            chunk: chunk.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave `State` half-updated: every method changes it in
        // statements that cannot panic once started.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The head: the last entry's sequence number.
    pub fn head(&self) -> u64 {
        self.lock().head
    }

    /// How many entries are still stored (not compacted).
    pub fn stored_entries(&self) -> usize {
        self.lock().entries.len()
    }

    /// How many chunks the stored snapshot has.
    pub fn snapshot_chunks(&self) -> Option<usize> {
        self.lock().snapshot.as_ref().map(|(m, _)| m.chunks)
    }
}

impl ReplicaLog for MemoryLog {
    fn append(&self, after: u64, changeset: &[u8]) -> Result<Appended, LogError> {
        let mut s = self.lock();
        if s.head != after {
            return Ok(Appended::Behind { head: s.head });
        }
        s.head += 1;
        let seq = s.head;
        s.entries.insert(seq, changeset.to_vec());
        drop(s);
        self.changed.notify_all();
        Ok(Appended::At(seq))
    }

    fn read_after(&self, after: u64, limit: usize) -> Result<Read, LogError> {
        let s = self.lock();
        if after >= s.head {
            return Ok(Read::Entries(Vec::new()));
        }
        if !s.entries.contains_key(&(after + 1)) {
            return Ok(Read::Compacted);
        }
        let entries = s
            .entries
            .range(after + 1..)
            .take(limit.max(1))
            .map(|(seq, cs)| Entry {
                seq: *seq,
                changeset: cs.clone(),
            })
            .collect();
        Ok(Read::Entries(entries))
    }

    fn latest_snapshot(&self) -> Result<Option<Snapshot>, LogError> {
        let s = self.lock();
        match &s.snapshot {
            None => Ok(None),
            Some((manifest, chunks)) => Ok(Some(Snapshot {
                seq: manifest.seq,
                database: assemble(manifest, chunks.clone())?,
            })),
        }
    }

    fn snapshot_seq(&self) -> Result<Option<u64>, LogError> {
        Ok(self.lock().snapshot.as_ref().map(|(m, _)| m.seq))
    }

    fn put_snapshot(&self, snapshot: &Snapshot) -> Result<(), LogError> {
        let (manifest, parts) = split(snapshot.seq, &snapshot.database, self.chunk);
        let chunks = parts.into_iter().map(<[u8]>::to_vec).collect();
        let mut s = self.lock();
        if s.snapshot
            .as_ref()
            .is_some_and(|(m, _)| m.seq >= snapshot.seq)
        {
            return Ok(());
        }
        s.snapshot = Some((manifest, chunks));
        Ok(())
    }

    fn compact(&self, upto: u64) -> Result<(), LogError> {
        let mut s = self.lock();
        let keep = s.entries.split_off(&(upto + 1));
        s.entries = keep;
        Ok(())
    }

    fn wait_beyond(&self, seq: u64, max: Duration) -> u64 {
        let s = self.lock();
        let wakes = s.wakes;
        let (s, _) = self
            .changed
            .wait_timeout_while(s, max, |s| s.head <= seq && s.wakes == wakes)
            .unwrap_or_else(|p| p.into_inner());
        s.head
    }

    fn wake(&self) {
        self.lock().wakes += 1;
        self.changed.notify_all();
    }
}
