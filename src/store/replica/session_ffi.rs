//! The few functions of SQLite's session extension the replicated store uses, declared by
//! hand. The bundled SQLite is compiled with `SQLITE_ENABLE_SESSION` and
//! `SQLITE_ENABLE_PREUPDATE_HOOK` (`LIBSQLITE3_FLAGS` in .cargo/config.toml), so the symbols
//! are in the library rusqlite links; rusqlite's own `session` feature would generate these
//! declarations with bindgen, which needs libclang on the build machine.
//!
//! The signatures are those of sqlite3.h (SQLite's C API is stable: these have not changed
//! since the extension appeared in 3.13).

use rusqlite::ffi::sqlite3;
use std::ffi::{c_char, c_int, c_void};

/// `sqlite3_session`, opaque.
#[repr(C)]
pub(super) struct Sqlite3Session {
    _private: [u8; 0],
}

/// `sqlite3_changeset_iter`, opaque.
#[repr(C)]
pub(super) struct Sqlite3ChangesetIter {
    _private: [u8; 0],
}

/// Conflict kinds passed to the conflict handler of [`sqlite3changeset_apply`].
pub(super) const SQLITE_CHANGESET_DATA: c_int = 1;
pub(super) const SQLITE_CHANGESET_NOTFOUND: c_int = 2;
pub(super) const SQLITE_CHANGESET_CONFLICT: c_int = 3;
pub(super) const SQLITE_CHANGESET_CONSTRAINT: c_int = 4;
pub(super) const SQLITE_CHANGESET_FOREIGN_KEY: c_int = 5;
/// The conflict handler's answer that stops the apply and rolls its changes back.
pub(super) const SQLITE_CHANGESET_ABORT: c_int = 2;

pub(super) type TableFilter = unsafe extern "C" fn(ctx: *mut c_void, table: *const c_char) -> c_int;
pub(super) type ConflictHandler =
    unsafe extern "C" fn(ctx: *mut c_void, kind: c_int, iter: *mut Sqlite3ChangesetIter) -> c_int;

extern "C" {
    pub(super) fn sqlite3session_create(
        db: *mut sqlite3,
        database: *const c_char,
        session: *mut *mut Sqlite3Session,
    ) -> c_int;
    pub(super) fn sqlite3session_delete(session: *mut Sqlite3Session);
    pub(super) fn sqlite3session_table_filter(
        session: *mut Sqlite3Session,
        filter: Option<TableFilter>,
        ctx: *mut c_void,
    );
    pub(super) fn sqlite3session_attach(
        session: *mut Sqlite3Session,
        table: *const c_char,
    ) -> c_int;
    pub(super) fn sqlite3session_isempty(session: *mut Sqlite3Session) -> c_int;
    pub(super) fn sqlite3session_changeset(
        session: *mut Sqlite3Session,
        size: *mut c_int,
        changeset: *mut *mut c_void,
    ) -> c_int;
    pub(super) fn sqlite3changeset_apply(
        db: *mut sqlite3,
        size: c_int,
        changeset: *mut c_void,
        filter: Option<TableFilter>,
        conflict: Option<ConflictHandler>,
        ctx: *mut c_void,
    ) -> c_int;
    pub(super) fn sqlite3changeset_op(
        iter: *mut Sqlite3ChangesetIter,
        table: *mut *const c_char,
        columns: *mut c_int,
        op: *mut c_int,
        indirect: *mut c_int,
    ) -> c_int;
}
