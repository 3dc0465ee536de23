//! Capturing a write transaction's changes as an SQLite changeset, and applying one: the two
//! halves of replication. A changeset lists rows by primary key with their old and new values,
//! so applying it in log order to an identical copy reproduces the writer's state exactly.

use rusqlite::session::{ConflictAction, ConflictType, Session};
use rusqlite::Connection;
use std::sync::{Arc, Mutex};

/// The table where a replicated store records the last log entry it applied. Never captured:
/// every node writes its own position.
pub(crate) const STATE_TABLE: &str = "kubemaas_replica";

/// Starts recording every change made through `conn` to any table but [`STATE_TABLE`].
pub(crate) fn start(conn: &Connection) -> rusqlite::Result<Session<'_>> {
    let mut session = Session::new(conn)?;
    session.table_filter(Some(|table: &str| table != STATE_TABLE));
    session.attach(None::<&str>)?;
    Ok(session)
}

/// The changes recorded so far; empty when the transaction changed nothing.
pub(crate) fn finish(session: &mut Session<'_>) -> rusqlite::Result<Vec<u8>> {
    let mut out = Vec::new();
    if !session.is_empty() {
        session.changeset_strm(&mut out)?;
    }
    Ok(out)
}

/// Why a changeset did not apply, naming tables and kinds of conflict, never values.
#[derive(Debug)]
pub(crate) struct ApplyFailure {
    pub conflicts: Vec<String>,
    pub source: rusqlite::Error,
}

impl std::fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.conflicts.is_empty() {
            write!(f, "{}", self.source)
        } else {
            write!(f, "{}", self.conflicts.join("; "))
        }
    }
}

/// Applies `changeset` to `conn` (inside the caller's transaction) and returns the tables it
/// changed rows of (what [`super::watch`] wakes on). Any conflict aborts: on a copy that
/// applied every earlier entry there is none, so one means the copies diverged, and skipping it
/// would hide that forever.
pub(crate) fn apply(conn: &Connection, changeset: &[u8]) -> Result<Vec<String>, ApplyFailure> {
    let conflicts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&conflicts);
    let tables = Arc::new(Mutex::new(Vec::<String>::new()));
    let named = Arc::clone(&tables);
    // SQLite asks the filter once per table of the changeset, before its changes: it is the
    // cheapest way to learn the tables without iterating the changeset a second time.
    let filter = move |table: &str| {
        let mut named = named.lock().unwrap_or_else(|p| p.into_inner());
        if !named.iter().any(|t| t == table) {
            named.push(table.to_string());
        }
        true
    };
    let mut input: &[u8] = changeset;
    let result = conn.apply_strm(&mut input, Some(filter), move |kind, item| {
        let table = item
            .op()
            .map(|op| op.table_name().to_string())
            .unwrap_or_else(|_| "?".to_string());
        let what = match kind {
            ConflictType::SQLITE_CHANGESET_DATA => "a row to change holds other values",
            ConflictType::SQLITE_CHANGESET_NOTFOUND => "a row to change is missing",
            ConflictType::SQLITE_CHANGESET_CONFLICT => "a row to insert already exists",
            ConflictType::SQLITE_CHANGESET_CONSTRAINT => "a constraint fails",
            ConflictType::SQLITE_CHANGESET_FOREIGN_KEY => "a foreign key fails",
            _ => "an unknown conflict",
        };
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("table {table}: {what}"));
        ConflictAction::SQLITE_CHANGESET_ABORT
    });
    result.map_err(|source| ApplyFailure {
        conflicts: std::mem::take(&mut *conflicts.lock().unwrap_or_else(|p| p.into_inner())),
        source,
    })?;
    let touched = std::mem::take(&mut *tables.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(touched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(&format!(
            "CREATE TABLE t (k INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL);
             CREATE TABLE {STATE_TABLE} (id INTEGER PRIMARY KEY, applied INTEGER NOT NULL);"
        ))
        .unwrap();
        c
    }

    fn rows(c: &Connection) -> Vec<(i64, String)> {
        c.prepare("SELECT k, v FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn capture(c: &Connection, sql: &str) -> Vec<u8> {
        let mut s = start(c).unwrap();
        c.execute_batch(sql).unwrap();
        finish(&mut s).unwrap()
    }

    #[test]
    fn inserts_updates_and_deletes_replay_on_a_copy() {
        let (a, b) = (db(), db());
        for sql in [
            "INSERT INTO t (v) VALUES ('x'), ('y'), ('z')",
            "UPDATE t SET v = 'Y' WHERE k = 2; DELETE FROM t WHERE k = 1",
            "INSERT INTO t (v) VALUES ('w')",
        ] {
            let cs = capture(&a, sql);
            assert!(!cs.is_empty());
            assert_eq!(apply(&b, &cs).unwrap(), vec!["t".to_string()]);
            assert_eq!(rows(&a), rows(&b));
        }
        // AUTOINCREMENT's counter follows the explicit ids applied, so ids never get reused.
        a.execute("DELETE FROM t WHERE k = 4", []).unwrap();
        b.execute("DELETE FROM t WHERE k = 4", []).unwrap();
        a.execute("INSERT INTO t (v) VALUES ('n')", []).unwrap();
        b.execute("INSERT INTO t (v) VALUES ('n')", []).unwrap();
        assert_eq!(rows(&a), rows(&b));
    }

    #[test]
    fn the_position_table_and_no_op_transactions_are_not_captured() {
        let a = db();
        let cs = capture(&a, &format!("INSERT INTO {STATE_TABLE} VALUES (1, 7)"));
        assert!(cs.is_empty());
        let cs = capture(&a, "UPDATE t SET v = 'q' WHERE k = 99");
        assert!(cs.is_empty());
    }

    #[test]
    fn a_conflict_aborts_and_names_the_table_only() {
        let (a, b) = (db(), db());
        let cs = capture(&a, "INSERT INTO t (v) VALUES ('secret-value')");
        b.execute("INSERT INTO t (k, v) VALUES (1, 'other')", [])
            .unwrap();
        let err = apply(&b, &cs).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("table t"), "{text}");
        assert!(!text.contains("secret-value"), "{text}");
        assert_eq!(rows(&b), vec![(1, "other".to_string())]);
        // An update whose old values differ is refused too.
        let c = db();
        c.execute("INSERT INTO t (k, v) VALUES (1, 'drifted')", [])
            .unwrap();
        let cs = capture(&a, "UPDATE t SET v = 'new' WHERE k = 1");
        assert!(apply(&c, &cs).is_err());
    }
}
