//! The live journal feed: one task per gateway watches the store for new events and hands each
//! one to every attached console at once.
//!
//! The engine appends events from wherever it is (reconcilers, commands); the store has no
//! append hook, but SQLite's `data_version` moves on every commit by any connection, and reading
//! it costs no I/O. So the feed checks it every `poll` (a few milliseconds), and only when it
//! moved reads the events after the last one it sent — one read per change however many
//! consoles listen. A [`JournalFeed::wake`] after a write made in this process skips the wait.
//! Consoles that fall behind the broadcast buffer catch up from the store (see `routes`), so
//! nothing is ever lost, only delayed.

use crate::store::{EventId, EventRow, Store, StoreError};
use axum::body::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify};

/// How many events the broadcast keeps for slow consoles before they must read the store.
const BUFFER: usize = 4096;
/// The most events read from the store in one go.
const PAGE: usize = 1000;
/// How often the feed looks at the store's change counter by default.
pub const DEFAULT_POLL: Duration = Duration::from_millis(5);

/// One journaled event, serialised once for every console.
#[derive(Debug)]
pub struct FeedItem {
    pub row: EventRow,
    /// The event as a stream line (`StreamLine::Event`, newline-terminated).
    pub line: Bytes,
}

/// The sending side of the live journal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JournalFeed {
    tx: broadcast::Sender<Arc<FeedItem>>,
    wake: Arc<Notify>,
}

impl JournalFeed {
    /// Starts watching `store` from its newest event; stops when `stop` turns true.
    pub fn start(
        store: Store,
        poll: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> Result<JournalFeed, StoreError> {
        let (tx, _) = broadcast::channel(BUFFER);
        let wake = Arc::new(Notify::new());
        let feed = JournalFeed {
            tx: tx.clone(),
            wake: wake.clone(),
        };
        let mut last = store.read(|r| r.latest_event_id())?;
        let mut seen_version: Option<i64> = None;
        tokio::spawn(async move {
            loop {
                if *stop.borrow() {
                    break;
                }
                match store.data_version() {
                    Ok(v) if Some(v) != seen_version => {
                        // Read first, remember the version after: a commit in between is
                        // caught on the next look.
                        match publish(&store, &tx, &mut last) {
                            Ok(()) => seen_version = Some(v),
                            Err(e) => tracing::warn!(error = %e, "reading the journal failed"),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the store's change counter failed")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = wake.notified() => {}
                    _ = stop.changed() => {}
                }
            }
        });
        Ok(feed)
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedItem>> {
        self.tx.subscribe()
    }

    /// Looks at the store now (after this process wrote to it).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Serialises one event as a stream line.
pub fn event_line(row: &EventRow) -> Bytes {
    let mut line =
        serde_json::to_vec(&super::protocol::StreamLine::Event(row.clone())).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn publish(
    store: &Store,
    tx: &broadcast::Sender<Arc<FeedItem>>,
    last: &mut EventId,
) -> Result<(), StoreError> {
    loop {
        let rows = store.events_after(None, *last, PAGE)?;
        let n = rows.len();
        for row in rows {
            *last = row.id;
            let line = event_line(&row);
            // No receiver is fine: nobody is attached right now.
            let _ = tx.send(Arc::new(FeedItem { row, line }));
        }
        if n < PAGE {
            return Ok(());
        }
    }
}
