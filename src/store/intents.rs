//! The intent journal for MAAS mutations. The engine writes an intent (in its own committed
//! transaction) *before* it sends a mutation, and completes it with the outcome afterwards. After
//! a crash, every intent still open is a call that may or may not have reached MAAS: the engine
//! looks the target up in MAAS (machines carry the cluster id) and adopts or retries.

use super::codec::{
    col_json, col_opt_json, col_opt_time, col_time, row_id, time_text, to_json_text,
};
use super::error::{db_err, StoreError};
use super::ids::ClusterId;
use super::tasks::clamp_limit;
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

row_id! {
    /// An intent's id.
    IntentId
}

/// A journaled intent.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentRow {
    pub id: IntentId,
    pub cluster: ClusterId,
    /// The MAAS operation, e.g. `allocate`, `deploy`, `release` (engine vocabulary).
    pub op: String,
    /// What it acts on: a system_id, or a description of the constraints for an allocation.
    pub target: String,
    pub params: Value,
    pub started: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
    pub outcome: Option<Value>,
}

impl IntentRow {
    pub fn is_open(&self) -> bool {
        self.completed.is_none()
    }

    /// The parameters as the caller's type.
    pub fn params_as<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        super::codec::from_json_value(
            &self.params,
            &format!("the parameters of intent {}", self.id),
        )
    }
}

const COLUMNS: &str = "id, cluster, op, target, params, started, completed, outcome";

fn from_row(row: &Row<'_>) -> rusqlite::Result<IntentRow> {
    Ok(IntentRow {
        id: row.get("id")?,
        cluster: row.get("cluster")?,
        op: row.get("op")?,
        target: row.get("target")?,
        params: col_json(row, "params")?,
        started: col_time(row, "started")?,
        completed: col_opt_time(row, "completed")?,
        outcome: col_opt_json(row, "outcome")?,
    })
}

impl Tx<'_> {
    /// Journals a MAAS mutation about to be sent. Commit this transaction before sending.
    pub fn begin_intent<T: Serialize + ?Sized>(
        &self,
        cluster: &ClusterId,
        op: &str,
        target: &str,
        params: &T,
    ) -> Result<IntentId, StoreError> {
        self.cluster(cluster)?;
        let params_text = to_json_text(params, &format!("the parameters of a {op} intent"))?;
        self.conn()
            .execute(
                &format!(
                    "INSERT INTO intents ({COLUMNS}) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, NULL, NULL)"
                ),
                params![cluster, op, target, params_text, time_text(self.now())],
            )
            .map_err(db_err(format!("journaling a {op} intent")))?;
        Ok(IntentId(self.conn().last_insert_rowid()))
    }

    /// Closes an open intent with what came of it (success or failure alike).
    pub fn complete_intent<T: Serialize + ?Sized>(
        &self,
        id: IntentId,
        outcome: &T,
    ) -> Result<(), StoreError> {
        let intent = self.intent(id)?;
        if !intent.is_open() {
            return Err(StoreError::WrongState {
                kind: "intent",
                id: id.0,
                state: "already completed".into(),
                action: "completed again",
            });
        }
        let outcome = to_json_text(outcome, &format!("the outcome of intent {id}"))?;
        self.conn()
            .execute(
                "UPDATE intents SET completed = ?2, outcome = ?3 WHERE id = ?1",
                params![id, time_text(self.now()), outcome],
            )
            .map_err(db_err(format!("completing intent {id}")))?;
        Ok(())
    }

    /// One intent.
    pub fn intent(&self, id: IntentId) -> Result<IntentRow, StoreError> {
        self.conn()
            .query_row(&format!("SELECT {COLUMNS} FROM intents WHERE id = ?1"), [id], from_row)
            .optional()
            .map_err(db_err(format!("reading intent {id}")))?
            .ok_or_else(|| StoreError::NotFound {
                kind: "intent",
                key: id.to_string(),
                hint: "intents are only made by the engine; this is a kubemaas bug if it came from there",
            })
    }

    /// Intents still open, oldest first; of one cluster, or of all when `None` (recovery at
    /// start-up wants all of them).
    pub fn open_intents(&self, cluster: Option<&ClusterId>) -> Result<Vec<IntentRow>, StoreError> {
        let what = "listing open intents";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM intents WHERE completed IS NULL AND (?1 IS NULL OR cluster = ?1)
                 ORDER BY id"
            ))
            .map_err(db_err(what))?;
        let rows = stmt
            .query_map(params![cluster], from_row)
            .map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// A cluster's newest `limit` intents (open or not), newest first.
    pub fn intents(&self, cluster: &ClusterId, limit: usize) -> Result<Vec<IntentRow>, StoreError> {
        let what = "listing intents";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM intents WHERE cluster = ?1 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(db_err(what))?;
        let rows = stmt
            .query_map(params![cluster, clamp_limit(limit)], from_row)
            .map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }
}
