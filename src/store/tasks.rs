//! Tasks: long operations (create, scale, delete a cluster...) with their progress, so any
//! process sharing the state dir can show how far they got.

use super::codec::{
    col_json, col_opt_time, col_time, from_json_value, row_id, time_text, to_json_text,
};
use super::enums::TaskState;
use super::error::{db_err, StoreError};
use super::ids::ClusterId;
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

row_id! {
    /// A task's id.
    TaskId
}

/// A stored task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub id: TaskId,
    pub cluster: Option<ClusterId>,
    /// Engine vocabulary, e.g. `create`, `scale`, `delete`.
    pub kind: String,
    pub state: TaskState,
    /// The engine's progress payload; JSON `null` until it reports one.
    pub progress: Value,
    pub message: String,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
}

impl TaskRow {
    /// The progress as the caller's type.
    pub fn progress_as<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        from_json_value(&self.progress, &format!("the progress of task {}", self.id))
    }
}

const COLUMNS: &str = "id, cluster, kind, state, progress, message, started, finished";

fn from_row(row: &Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        id: row.get("id")?,
        cluster: row.get("cluster")?,
        kind: row.get("kind")?,
        state: row.get("state")?,
        progress: col_json(row, "progress")?,
        message: row.get("message")?,
        started: col_time(row, "started")?,
        finished: col_opt_time(row, "finished")?,
    })
}

fn not_found(id: TaskId) -> StoreError {
    StoreError::NotFound {
        kind: "task",
        key: id.to_string(),
        hint: "list a cluster's tasks with `kubemaas cluster show NAME`",
    }
}

impl Tx<'_> {
    /// Records a task that starts now (state `running`).
    pub fn start_task(
        &self,
        cluster: Option<&ClusterId>,
        kind: &str,
        message: &str,
    ) -> Result<TaskId, StoreError> {
        if let Some(c) = cluster {
            self.cluster(c)?;
        }
        self.conn()
            .execute(
                "INSERT INTO tasks (cluster, kind, state, progress, message, started, finished)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?5, NULL)",
                params![
                    cluster,
                    kind,
                    TaskState::Running,
                    message,
                    time_text(self.now())
                ],
            )
            .map_err(db_err(format!("recording a {kind} task")))?;
        Ok(TaskId(self.conn().last_insert_rowid()))
    }

    /// Stores a running task's progress (and, when given, a new message).
    pub fn set_task_progress<T: Serialize + ?Sized>(
        &self,
        id: TaskId,
        progress: &T,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        let task = self.task(id)?;
        if task.state.is_terminal() {
            return Err(StoreError::WrongState {
                kind: "task",
                id: id.0,
                state: task.state.to_string(),
                action: "given progress",
            });
        }
        let progress = to_json_text(progress, &format!("the progress of task {id}"))?;
        self.conn()
            .execute(
                "UPDATE tasks SET progress = ?2, message = COALESCE(?3, message) WHERE id = ?1",
                params![id, progress, message],
            )
            .map_err(db_err(format!("recording the progress of task {id}")))?;
        Ok(())
    }

    /// Ends a task in a terminal `state` with a final message.
    pub fn finish_task(
        &self,
        id: TaskId,
        state: TaskState,
        message: &str,
    ) -> Result<(), StoreError> {
        if !state.is_terminal() {
            return Err(StoreError::Invalid {
                what: "task end state",
                reason: format!("`{state}` is not a final state: use succeeded, failed, cancelled or interrupted"),
            });
        }
        let task = self.task(id)?;
        if task.state.is_terminal() {
            return Err(StoreError::WrongState {
                kind: "task",
                id: id.0,
                state: task.state.to_string(),
                action: "finished again",
            });
        }
        self.conn()
            .execute(
                "UPDATE tasks SET state = ?2, message = ?3, finished = ?4 WHERE id = ?1",
                params![id, state, message, time_text(self.now())],
            )
            .map_err(db_err(format!("finishing task {id}")))?;
        Ok(())
    }

    /// One task.
    pub fn task(&self, id: TaskId) -> Result<TaskRow, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(db_err(format!("reading task {id}")))?
            .ok_or_else(|| not_found(id))
    }

    /// The newest `limit` tasks, newest first; of one cluster, or of all when `None`.
    pub fn tasks(
        &self,
        cluster: Option<&ClusterId>,
        limit: usize,
    ) -> Result<Vec<TaskRow>, StoreError> {
        let what = "listing tasks";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE (?1 IS NULL OR cluster = ?1) ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(db_err(what))?;
        let rows = stmt
            .query_map(params![cluster, clamp_limit(limit)], from_row)
            .map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// Tasks not yet finished, oldest first.
    pub fn unfinished_tasks(&self) -> Result<Vec<TaskRow>, StoreError> {
        let what = "listing unfinished tasks";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE state IN ('pending', 'running') ORDER BY id"
            ))
            .map_err(db_err(what))?;
        let rows = stmt.query_map([], from_row).map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// Marks every unfinished task `interrupted`. Called by a process that just took the
    /// reconciler lock: whoever ran those tasks is gone. Returns how many were marked.
    pub fn interrupt_unfinished_tasks(&self, message: &str) -> Result<usize, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE tasks SET state = ?1, message = ?2, finished = ?3
                 WHERE state IN ('pending', 'running')",
                params![TaskState::Interrupted, message, time_text(self.now())],
            )
            .map_err(db_err("marking unfinished tasks interrupted"))?;
        Ok(n)
    }
}

/// SQLite takes an i64 limit; a usize beyond it means "no limit".
pub(crate) fn clamp_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
