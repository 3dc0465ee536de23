//! Telling interested code that this copy applied other nodes' changes to some tables: the
//! leader's engine is woken when a console's request arrives through another node, instead of
//! waiting for its next pass.
//!
//! Only entries *applied* from the log signal: a copy's own writes are committed locally and
//! never come back through [`Store::catch_up`], so the engine is not woken by its own work.
//! A signal is raised at most once per catch-up, however many entries it applied, and the
//! signal itself should coalesce (a `tokio::sync::Notify` keeps one permit), so a burst of
//! requests costs one extra pass, not one per request.

use super::Replica;
use crate::store::Store;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

type Signal = Arc<dyn Fn() + Send + Sync>;

/// What a catch-up changed on this copy.
#[derive(Debug, Default)]
pub(crate) enum Touched {
    /// Nothing applied.
    #[default]
    Nothing,
    /// Entries applied, changing rows of these tables.
    Tables(BTreeSet<String>),
    /// A snapshot replaced the whole copy: any table may have changed.
    Everything,
}

impl Touched {
    pub(crate) fn add_tables(&mut self, tables: impl IntoIterator<Item = String>) {
        match self {
            Touched::Everything => {}
            Touched::Tables(set) => set.extend(tables),
            Touched::Nothing => *self = Touched::Tables(tables.into_iter().collect()),
        }
    }

    pub(crate) fn everything(&mut self) {
        *self = Touched::Everything;
    }

    fn concerns(&self, tables: &[String]) -> bool {
        match self {
            Touched::Nothing => false,
            Touched::Everything => true,
            Touched::Tables(set) => tables.iter().any(|t| set.contains(t)),
        }
    }
}

struct Registered {
    id: u64,
    tables: Vec<String>,
    signal: Signal,
}

/// The watches registered on one replicated store (shared by all its clones).
#[derive(Default)]
pub(crate) struct Watches {
    next: AtomicU64,
    list: Mutex<Vec<Registered>>,
}

impl Watches {
    /// Raises the signal of every watch whose tables `touched` concerns.
    pub(crate) fn notify(&self, touched: &Touched) {
        if matches!(touched, Touched::Nothing) {
            return;
        }
        // Collected first, raised after the lock is released: a signal that registers or drops
        // a watch must not deadlock.
        let due: Vec<Signal> = self
            .lock()
            .iter()
            .filter(|w| touched.concerns(&w.tables))
            .map(|w| Arc::clone(&w.signal))
            .collect();
        for signal in due {
            signal();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Registered>> {
        // A panicking signal cannot leave the list half-changed: recover it.
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A registered watch (see [`Store::on_applied`]); dropping it unregisters it.
pub struct AppliedWatch {
    id: u64,
    replica: Option<Weak<Replica>>,
}

impl std::fmt::Debug for AppliedWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppliedWatch")
            .field("id", &self.id)
            .field("replicated", &self.replica.is_some())
            .finish()
    }
}

impl Drop for AppliedWatch {
    fn drop(&mut self) {
        if let Some(replica) = self.replica.as_ref().and_then(Weak::upgrade) {
            replica.watches.lock().retain(|w| w.id != self.id);
        }
    }
}

impl Store {
    /// Calls `signal` each time this copy applied entries written by *other* nodes that changed
    /// rows of any of `tables` (or loaded a snapshot, which may change anything), until the
    /// returned watch is dropped. Called at most once per catch-up, after the entries were
    /// committed, so whatever it wakes reads them.
    ///
    /// `signal` runs on the thread that applied the entries (the follower, or a writer that
    /// caught up) while it holds this copy's writer: it must be quick and must not use the
    /// store — notify something (`Notify::notify_one`) and return. A standalone store applies
    /// nothing from others, so its watch never fires.
    pub fn on_applied(
        &self,
        tables: &[&str],
        signal: impl Fn() + Send + Sync + 'static,
    ) -> AppliedWatch {
        let Some(replica) = self.replica() else {
            return AppliedWatch {
                id: 0,
                replica: None,
            };
        };
        let id = replica.watches.next.fetch_add(1, Ordering::Relaxed);
        replica.watches.lock().push(Registered {
            id,
            tables: tables.iter().map(|t| t.to_string()).collect(),
            signal: Arc::new(signal),
        });
        AppliedWatch {
            id,
            replica: Some(Arc::downgrade(replica)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(names: &[&str]) -> Touched {
        let mut t = Touched::default();
        t.add_tables(names.iter().map(|n| n.to_string()));
        t
    }

    #[test]
    fn only_watches_on_a_touched_table_fire() {
        let watches = Watches::default();
        let hits = Arc::new(AtomicU64::new(0));
        let h = Arc::clone(&hits);
        watches.lock().push(Registered {
            id: 1,
            tables: vec!["commands".into(), "clusters".into()],
            signal: Arc::new(move || {
                h.fetch_add(1, Ordering::Relaxed);
            }),
        });
        watches.notify(&Touched::Nothing);
        watches.notify(&tables(&["events", "gateway_nodes"]));
        assert_eq!(hits.load(Ordering::Relaxed), 0);
        watches.notify(&tables(&["events", "commands"]));
        assert_eq!(hits.load(Ordering::Relaxed), 1);
        watches.notify(&Touched::Everything);
        assert_eq!(hits.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_snapshot_absorbs_later_tables() {
        let mut t = Touched::default();
        t.everything();
        t.add_tables(["events".to_string()]);
        assert!(matches!(t, Touched::Everything));
    }
}
