//! Capturing a write transaction's changes as an SQLite changeset, and applying one: the two
//! halves of replication. A changeset lists rows by primary key with their old and new values,
//! so applying it in log order to an identical copy reproduces the writer's state exactly.

use super::session_ffi as ffi;
use rusqlite::ffi as sqlite;
use rusqlite::Connection;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::marker::PhantomData;

/// The table where a replicated store records the last log entry it applied. Never captured:
/// every node writes its own position.
pub(crate) const STATE_TABLE: &str = "kubemaas_replica";

/// A recording of the changes made through one connection; stops when dropped.
pub(crate) struct Session<'conn> {
    raw: *mut ffi::Sqlite3Session,
    _conn: PhantomData<&'conn Connection>,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // SAFETY: `raw` came from sqlite3session_create and is deleted once, here, while its
        // connection (borrowed for 'conn) is still open.
        unsafe { ffi::sqlite3session_delete(self.raw) }
    }
}

/// The error SQLite reported on `conn` for return code `rc`.
fn sqlite_error(conn: &Connection, rc: c_int) -> rusqlite::Error {
    // SAFETY: the handle is the open connection's; sqlite3_errmsg returns a string owned by
    // SQLite, valid until the next call on the connection, and copied at once.
    let message = unsafe {
        let text = sqlite::sqlite3_errmsg(conn.handle());
        (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(sqlite::Error::new(rc), message)
}

/// Records every table but [`STATE_TABLE`].
unsafe extern "C" fn not_the_state_table(_ctx: *mut c_void, table: *const c_char) -> c_int {
    // SAFETY: SQLite passes the table's name as a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(table) };
    c_int::from(name.to_bytes() != STATE_TABLE.as_bytes())
}

/// Starts recording every change made through `conn` to any table but [`STATE_TABLE`].
pub(crate) fn start(conn: &Connection) -> rusqlite::Result<Session<'_>> {
    let mut raw = std::ptr::null_mut();
    // SAFETY: the handle is the open connection's; "main" is NUL-terminated; on success
    // `raw` is a session owned by the returned value.
    let rc = unsafe { ffi::sqlite3session_create(conn.handle(), c"main".as_ptr(), &mut raw) };
    if rc != sqlite::SQLITE_OK {
        return Err(sqlite_error(conn, rc));
    }
    let session = Session {
        raw,
        _conn: PhantomData,
    };
    // SAFETY: the filter is a plain function needing no context; a null table attaches
    // every table of the database.
    let rc = unsafe {
        ffi::sqlite3session_table_filter(raw, Some(not_the_state_table), std::ptr::null_mut());
        ffi::sqlite3session_attach(raw, std::ptr::null())
    };
    if rc != sqlite::SQLITE_OK {
        return Err(sqlite_error(conn, rc));
    }
    Ok(session)
}

/// The changes recorded so far; empty when the transaction changed nothing.
pub(crate) fn finish(session: &mut Session<'_>) -> rusqlite::Result<Vec<u8>> {
    // SAFETY: `raw` is a live session.
    if unsafe { ffi::sqlite3session_isempty(session.raw) } != 0 {
        return Ok(Vec::new());
    }
    let mut size: c_int = 0;
    let mut data: *mut c_void = std::ptr::null_mut();
    // SAFETY: on success SQLite hands over a buffer of `size` bytes, copied here and freed
    // with sqlite3_free as its documentation says.
    unsafe {
        let rc = ffi::sqlite3session_changeset(session.raw, &mut size, &mut data);
        if rc != sqlite::SQLITE_OK {
            return Err(rusqlite::Error::SqliteFailure(
                sqlite::Error::new(rc),
                Some("cannot read the recorded changes".to_string()),
            ));
        }
        let out = if data.is_null() || size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(data as *const u8, size as usize).to_vec()
        };
        sqlite::sqlite3_free(data);
        Ok(out)
    }
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

/// What the apply callbacks learn: the tables the changeset touches, and its conflicts.
#[derive(Default)]
struct Applying {
    tables: Vec<String>,
    conflicts: Vec<String>,
}

/// SQLite asks the filter once per table of the changeset, before its changes: the cheapest
/// way to learn the tables without iterating the changeset a second time.
unsafe extern "C" fn note_table(ctx: *mut c_void, table: *const c_char) -> c_int {
    // SAFETY: `ctx` is the `Applying` that `apply` passed, alive for the call; the name is a
    // NUL-terminated string from SQLite.
    let (applying, name) = unsafe { (&mut *(ctx as *mut Applying), CStr::from_ptr(table)) };
    let name = name.to_string_lossy();
    if !applying.tables.iter().any(|t| *t == name) {
        applying.tables.push(name.into_owned());
    }
    1
}

/// Any conflict aborts, noting the table and the kind of conflict.
unsafe extern "C" fn abort_on_conflict(
    ctx: *mut c_void,
    kind: c_int,
    iter: *mut ffi::Sqlite3ChangesetIter,
) -> c_int {
    let mut table: *const c_char = std::ptr::null();
    let (mut columns, mut op, mut indirect) = (0, 0, 0);
    // SAFETY: `ctx` is `apply`'s `Applying`; `iter` is the iterator SQLite passes for this
    // conflict, and the table name it gives lives as long as the iterator's current change.
    let (applying, table) = unsafe {
        let rc = ffi::sqlite3changeset_op(iter, &mut table, &mut columns, &mut op, &mut indirect);
        let name = if rc == sqlite::SQLITE_OK && !table.is_null() {
            CStr::from_ptr(table).to_string_lossy().into_owned()
        } else {
            "?".to_string()
        };
        (&mut *(ctx as *mut Applying), name)
    };
    let what = match kind {
        ffi::SQLITE_CHANGESET_DATA => "a row to change holds other values",
        ffi::SQLITE_CHANGESET_NOTFOUND => "a row to change is missing",
        ffi::SQLITE_CHANGESET_CONFLICT => "a row to insert already exists",
        ffi::SQLITE_CHANGESET_CONSTRAINT => "a constraint fails",
        ffi::SQLITE_CHANGESET_FOREIGN_KEY => "a foreign key fails",
        _ => "an unknown conflict",
    };
    applying.conflicts.push(format!("table {table}: {what}"));
    ffi::SQLITE_CHANGESET_ABORT
}

/// Applies `changeset` to `conn` (inside the caller's transaction) and returns the tables it
/// changed rows of (what [`super::watch`] wakes on). Any conflict aborts: on a copy that
/// applied every earlier entry there is none, so one means the copies diverged, and skipping it
/// would hide that forever.
pub(crate) fn apply(conn: &Connection, changeset: &[u8]) -> Result<Vec<String>, ApplyFailure> {
    let size = c_int::try_from(changeset.len()).map_err(|_| ApplyFailure {
        conflicts: Vec::new(),
        source: rusqlite::Error::SqliteFailure(
            sqlite::Error::new(sqlite::SQLITE_TOOBIG),
            Some("the changeset is larger than SQLite takes".to_string()),
        ),
    })?;
    let mut applying = Applying::default();
    // SAFETY: SQLite only reads the changeset (the C signature is not const); the callbacks
    // get `applying`, which outlives the call.
    let rc = unsafe {
        ffi::sqlite3changeset_apply(
            conn.handle(),
            size,
            changeset.as_ptr() as *mut c_void,
            Some(note_table),
            Some(abort_on_conflict),
            &mut applying as *mut Applying as *mut c_void,
        )
    };
    if rc != sqlite::SQLITE_OK {
        return Err(ApplyFailure {
            conflicts: applying.conflicts,
            source: sqlite_error(conn, rc),
        });
    }
    Ok(applying.tables)
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
