//! [`Tx`]: the typed view of one transaction. Every table module adds its methods to it, so one
//! closure passed to [`Store::tx`](super::Store::tx) can record a machine, its event and task
//! progress together.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

/// One open transaction (read or write). All store APIs are methods on it.
pub struct Tx<'c> {
    conn: &'c Connection,
    now: DateTime<Utc>,
}

impl<'c> Tx<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Tx {
            conn,
            now: Utc::now(),
        }
    }

    /// The transaction's clock: one instant for everything it writes, so rows changed together
    /// carry the same time.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub(crate) fn conn(&self) -> &Connection {
        self.conn
    }

    /// The number of rows changed by the last statement.
    pub(crate) fn changes(&self) -> u64 {
        self.conn.changes()
    }
}
