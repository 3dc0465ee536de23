//! The append-only event journal: what happened, to which cluster and machine, when. Followers
//! (TUI, `kubemaas cluster watch`) page through it by id with [`Tx::events_after`].

use super::codec::{col_opt_json, col_time, row_id, time_text, to_json_text};
use super::enums::EventLevel;
use super::error::{db_err, StoreError};
use super::ids::ClusterId;
use super::tasks::clamp_limit;
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, Row};
use serde::Serialize;
use serde_json::Value;

row_id! {
    /// An event's id: increasing, never reused, so "after id N" is a stable cursor.
    EventId
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub cluster: Option<ClusterId>,
    pub level: EventLevel,
    /// Who says so, e.g. `engine`, `reconciler/create`, `cli`.
    pub source: String,
    pub message: String,
    /// The MAAS system_id or hostname the event is about.
    pub machine: Option<String>,
    pub detail: Option<Value>,
}

impl NewEvent {
    pub fn new(level: EventLevel, source: impl Into<String>, message: impl Into<String>) -> Self {
        NewEvent {
            cluster: None,
            level,
            source: source.into(),
            message: message.into(),
            machine: None,
            detail: None,
        }
    }

    pub fn cluster(mut self, id: &ClusterId) -> Self {
        self.cluster = Some(id.clone());
        self
    }

    pub fn machine(mut self, machine: impl Into<String>) -> Self {
        self.machine = Some(machine.into());
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// A journaled event (serialisable: a gateway streams it to consoles).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct EventRow {
    pub id: EventId,
    pub cluster: Option<ClusterId>,
    pub time: DateTime<Utc>,
    pub level: EventLevel,
    pub source: String,
    pub message: String,
    pub machine: Option<String>,
    pub detail: Option<Value>,
}

const COLUMNS: &str = "id, cluster, time, level, source, message, machine, detail";

fn from_row(row: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: row.get("id")?,
        cluster: row.get("cluster")?,
        time: col_time(row, "time")?,
        level: row.get("level")?,
        source: row.get("source")?,
        message: row.get("message")?,
        machine: row.get("machine")?,
        detail: col_opt_json(row, "detail")?,
    })
}

impl Tx<'_> {
    /// Appends an event, stamped with the transaction's time.
    pub fn append_event(&self, e: &NewEvent) -> Result<EventId, StoreError> {
        let detail = match &e.detail {
            Some(d) => Some(to_json_text::<Value>(d, "an event's detail")?),
            None => None,
        };
        self.conn()
            .execute(
                &format!(
                    "INSERT INTO events ({COLUMNS}) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    e.cluster,
                    time_text(self.now()),
                    e.level,
                    e.source,
                    e.message,
                    e.machine,
                    detail
                ],
            )
            .map_err(db_err("journaling an event"))?;
        Ok(EventId(self.conn().last_insert_rowid()))
    }

    /// Up to `limit` events with an id above `after`, oldest first; of one cluster, or of all
    /// when `None`. Start with `EventId(0)` and pass the last id seen to follow the journal.
    pub fn events_after(
        &self,
        cluster: Option<&ClusterId>,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let what = "reading the event journal";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events WHERE id > ?1 AND (?2 IS NULL OR cluster = ?2)
                 ORDER BY id LIMIT ?3"
            ))
            .map_err(db_err(what))?;
        let rows = stmt
            .query_map(params![after, cluster, clamp_limit(limit)], from_row)
            .map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// The newest `limit` events, oldest first (a screenful to start a follower from).
    pub fn last_events(
        &self,
        cluster: Option<&ClusterId>,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let what = "reading the event journal";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM (SELECT {COLUMNS} FROM events WHERE ?1 IS NULL OR cluster = ?1
                 ORDER BY id DESC LIMIT ?2) ORDER BY id"
            ))
            .map_err(db_err(what))?;
        let rows = stmt
            .query_map(params![cluster, clamp_limit(limit)], from_row)
            .map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// The id of the newest event (`EventId(0)` when the journal is empty).
    pub fn latest_event_id(&self) -> Result<EventId, StoreError> {
        self.conn()
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
            .map_err(db_err("reading the event journal"))
    }
}

/// Lets callers journal a typed detail without building a `Value` themselves.
pub fn detail_of<T: Serialize + ?Sized>(detail: &T) -> Result<Value, StoreError> {
    serde_json::to_value(detail).map_err(|source| StoreError::Json {
        action: "encode",
        what: "an event's detail".into(),
        source,
    })
}
