//! What can go wrong with the state store. Every message says what is wrong and what to do about
//! it; none ever carries a secret (API keys are bound as SQL parameters, and SQLite's own messages
//! name columns, never values).

use std::path::PathBuf;

/// An error from the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot prepare the state directory {path}: {source} (check its owner and permissions, or pass --state-dir DIR)")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create {path} with owner-only permissions: {source} (check the state directory's owner and free space, or pass --state-dir DIR)")]
    CreateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the state database {path}: {source} (check that you own the file and that it is a kubemaas state database, or pass --state-dir DIR)")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the state database {path} is damaged: {what}. kubemaas will not start a new, empty store over it (MAAS may still hold the machines it recorded). Restore it: stop every kubemaas using this state dir, copy your backup over {path} and remove {path}-wal and {path}-shm if present. Without a backup, move the file aside, add the account again, and find the machines kubemaas still holds with `kubemaas account audit ACCOUNT`")]
    Damaged { path: PathBuf, what: String },
    #[error("the filesystem holding {dir} is full (no space left while {what}): free some space there, or pass --state-dir DIR on another filesystem")]
    DiskFull { dir: PathBuf, what: String },
    #[error("the state database is read-only ({what}): this command changes kubemaas's state, so it needs a writable state dir (remount it read-write or fix its permissions); commands that only read (cluster list, cluster show, account list) work as it is")]
    ReadOnly { what: String },
    #[error("an I/O error on the state database {path} while {what} (the disk or filesystem failed: check the kernel log, e.g. `dmesg`, and the device)")]
    Io { path: PathBuf, what: String },
    #[error("the state database {path} has schema version {found} and this kubemaas needs {known}, but the state dir is read-only so it cannot be upgraded: run kubemaas once with the state dir writable")]
    ReadOnlyOld {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("the state database {path} cannot use write-ahead logging (its journal mode is `{mode}`): keep the state dir on a local, writable filesystem (not NFS), or pass --state-dir DIR")]
    NoWal { path: PathBuf, mode: String },
    #[error("this state dir was written by a newer kubemaas (database schema version {found}; this kubemaas knows versions up to {known}) at {path}: upgrade kubemaas, or pass --state-dir DIR to use another state dir")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("upgrading the state database {path} to schema version {version} failed: {source} (the database was left at the previous version; report this as a kubemaas bug, with the log)")]
    Migration {
        path: PathBuf,
        version: i64,
        source: rusqlite::Error,
    },
    #[error("the state database stayed locked by another kubemaas process for over {seconds} s while {what}: retry, and look for a stuck kubemaas process sharing this state dir")]
    Busy { what: String, seconds: u64 },
    #[error("the state database failed while {what}: {source} (check free disk space and the state dir's permissions)")]
    Db {
        what: String,
        source: rusqlite::Error,
    },
    #[error("no {kind} `{key}` in the state store: {hint}")]
    NotFound {
        kind: &'static str,
        key: String,
        hint: &'static str,
    },
    #[error("a {kind} `{key}` already exists: {hint}")]
    Duplicate {
        kind: &'static str,
        key: String,
        hint: &'static str,
    },
    #[error("{kind} `{key}` is still used by {users}: {hint}")]
    InUse {
        kind: &'static str,
        key: String,
        users: String,
        hint: &'static str,
    },
    #[error("MAAS machine {system_id} is already recorded for cluster {cluster}: one machine can belong to one cluster only (release it from {cluster} first)")]
    MachineTaken { system_id: String, cluster: String },
    #[error("cluster {id} was changed meanwhile (its spec is at generation {actual}, the change was made to generation {expected}): reload the cluster and apply the change again")]
    GenerationConflict {
        id: String,
        expected: i64,
        actual: i64,
    },
    #[error("cluster {id} still has {count} machine(s) taken from MAAS ({sample}): release them before marking the cluster deleted, so that no machine is forgotten")]
    MachinesRemain {
        id: String,
        count: usize,
        sample: String,
    },
    #[error("cluster {id} is deleted: {what} is only possible on a live cluster (list live clusters with `kubemaas cluster list`)")]
    ClusterDeleted { id: String, what: &'static str },
    #[error("{kind} {id} is {state}, so it cannot be {action}")]
    WrongState {
        kind: &'static str,
        id: i64,
        state: String,
        action: &'static str,
    },
    #[error("cannot {action} JSON for {what}: {source}")]
    Json {
        action: &'static str,
        what: String,
        source: serde_json::Error,
    },
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// A replicated store's log failed or refused (a node of a 3-node gateway).
    #[error(transparent)]
    Replica(super::replica::ReplicaError),
}

/// Seconds a connection waits for another process's write transaction before giving up.
/// Long enough for any real kubemaas transaction (milliseconds), short enough that a hung
/// process is reported instead of freezing every CLI call.
pub(crate) const BUSY_TIMEOUT_SECS: u64 = 30;

/// Maps a SQLite error met while doing `what`; "busy" and "locked" become [`StoreError::Busy`]
/// because they mean another process held the database past the busy timeout.
pub(crate) fn db_err(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| {
        let what = what.into();
        match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy {
                    what,
                    seconds: BUSY_TIMEOUT_SECS,
                }
            }
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull {
                dir: PathBuf::from("the state dir"),
                what,
            },
            _ => StoreError::Db { what, source },
        }
    }
}

/// True when `e` is a UNIQUE or PRIMARY KEY constraint violation.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error(),
        Some(err) if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}
