//! The command queue: processes that do not hold the reconciler lock (a CLI, a second TUI)
//! submit desired changes here; the reconciling process claims them one at a time, acts, and
//! completes them with a result the submitter can watch for.

use super::codec::{
    col_json, col_opt_json, col_opt_time, col_time, row_id, time_text, to_json_text,
};
use super::enums::CommandState;
use super::error::{db_err, StoreError};
use super::ids::ClusterId;
use super::lock::process_identity;
use super::tasks::clamp_limit;
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

row_id! {
    /// A command's id.
    CommandId
}

/// A queued command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRow {
    pub id: CommandId,
    pub cluster: Option<ClusterId>,
    /// Engine vocabulary, e.g. `delete`, `abort`, `scale`.
    pub kind: String,
    pub args: Value,
    pub state: CommandState,
    pub submitted: DateTime<Utc>,
    /// `pid@host` of the submitting process.
    pub submitted_by: String,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub result: Option<Value>,
}

impl CommandRow {
    /// The arguments as the caller's type.
    pub fn args_as<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        super::codec::from_json_value(&self.args, &format!("the arguments of command {}", self.id))
    }
}

const COLUMNS: &str =
    "id, cluster, kind, args, state, submitted, submitted_by, claimed_by, claimed_at, finished, result";

fn from_row(row: &Row<'_>) -> rusqlite::Result<CommandRow> {
    Ok(CommandRow {
        id: row.get("id")?,
        cluster: row.get("cluster")?,
        kind: row.get("kind")?,
        args: col_json(row, "args")?,
        state: row.get("state")?,
        submitted: col_time(row, "submitted")?,
        submitted_by: row.get("submitted_by")?,
        claimed_by: row.get("claimed_by")?,
        claimed_at: col_opt_time(row, "claimed_at")?,
        finished: col_opt_time(row, "finished")?,
        result: col_opt_json(row, "result")?,
    })
}

impl Tx<'_> {
    /// Queues a command for the reconciling process.
    pub fn submit_command<T: Serialize + ?Sized>(
        &self,
        cluster: Option<&ClusterId>,
        kind: &str,
        args: &T,
    ) -> Result<CommandId, StoreError> {
        if let Some(c) = cluster {
            self.live_cluster(c, "queueing a command")?;
        }
        let args = to_json_text(args, &format!("the arguments of a {kind} command"))?;
        self.conn()
            .execute(
                "INSERT INTO commands (cluster, kind, args, state, submitted, submitted_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    cluster,
                    kind,
                    args,
                    CommandState::Pending,
                    time_text(self.now()),
                    process_identity()
                ],
            )
            .map_err(db_err(format!("queueing a {kind} command")))?;
        Ok(CommandId(self.conn().last_insert_rowid()))
    }

    /// Takes the oldest pending command, if any, for this process. Only the holder of the
    /// reconciler lock should call it.
    pub fn claim_next_command(&self) -> Result<Option<CommandRow>, StoreError> {
        let next: Option<CommandId> = self
            .conn()
            .query_row(
                "SELECT id FROM commands WHERE state = 'pending' ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err("looking for queued commands"))?;
        let Some(id) = next else { return Ok(None) };
        self.conn()
            .execute(
                "UPDATE commands SET state = ?2, claimed_by = ?3, claimed_at = ?4 WHERE id = ?1",
                params![
                    id,
                    CommandState::Claimed,
                    process_identity(),
                    time_text(self.now())
                ],
            )
            .map_err(db_err(format!("claiming command {id}")))?;
        self.command(id).map(Some)
    }

    /// Ends a claimed command as `Done` or `Failed`, with a result for the submitter.
    pub fn complete_command<T: Serialize + ?Sized>(
        &self,
        id: CommandId,
        state: CommandState,
        result: &T,
    ) -> Result<(), StoreError> {
        if !matches!(state, CommandState::Done | CommandState::Failed) {
            return Err(StoreError::Invalid {
                what: "command end state",
                reason: format!("`{state}` is not how a claimed command ends: use done or failed"),
            });
        }
        self.finish_command(id, CommandState::Claimed, state, Some(result), "completed")
    }

    /// Withdraws a command nobody has claimed yet.
    pub fn cancel_command(&self, id: CommandId) -> Result<(), StoreError> {
        self.finish_command::<Value>(
            id,
            CommandState::Pending,
            CommandState::Cancelled,
            None,
            "cancelled",
        )
    }

    fn finish_command<T: Serialize + ?Sized>(
        &self,
        id: CommandId,
        from: CommandState,
        to: CommandState,
        result: Option<&T>,
        action: &'static str,
    ) -> Result<(), StoreError> {
        let cmd = self.command(id)?;
        if cmd.state != from {
            return Err(StoreError::WrongState {
                kind: "command",
                id: id.0,
                state: cmd.state.to_string(),
                action,
            });
        }
        let result = match result {
            Some(r) => Some(to_json_text(r, &format!("the result of command {id}"))?),
            None => None,
        };
        self.conn()
            .execute(
                "UPDATE commands SET state = ?2, finished = ?3, result = ?4 WHERE id = ?1",
                params![id, to, time_text(self.now()), result],
            )
            .map_err(db_err(format!("finishing command {id}")))?;
        Ok(())
    }

    /// Puts commands claimed by a process that died back in the queue. Called by a process
    /// that just took the reconciler lock. Returns how many were requeued.
    pub fn requeue_claimed_commands(&self) -> Result<usize, StoreError> {
        self.conn()
            .execute(
                "UPDATE commands SET state = ?1, claimed_by = NULL, claimed_at = NULL WHERE state = ?2",
                params![CommandState::Pending, CommandState::Claimed],
            )
            .map_err(db_err("requeueing claimed commands"))
    }

    /// One command.
    pub fn command(&self, id: CommandId) -> Result<CommandRow, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM commands WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(db_err(format!("reading command {id}")))?
            .ok_or_else(|| StoreError::NotFound {
                kind: "command",
                key: id.to_string(),
                hint: "it was never submitted to this state dir",
            })
    }

    /// The newest `limit` commands, newest first; of one cluster, or of all when `None`.
    pub fn commands(
        &self,
        cluster: Option<&ClusterId>,
        limit: usize,
    ) -> Result<Vec<CommandRow>, StoreError> {
        let what = "listing commands";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM commands WHERE (?1 IS NULL OR cluster = ?1) ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(db_err(what))?;
        let rows = stmt
            .query_map(params![cluster, clamp_limit(limit)], from_row)
            .map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }
}
