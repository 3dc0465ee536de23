//! Opening the state database and running transactions on it.
//!
//! # Sharing a [`Store`]
//!
//! A `Store` is a cheap handle (`Clone`, `Send`, `Sync`): clone it into every thread or task
//! that needs it. Inside, one connection writes and one reads. Writes are serialised by a mutex
//! in this process and by SQLite's lock across processes (`BEGIN IMMEDIATE` plus a busy
//! timeout, so a second process waits its turn instead of failing). Reads use their own
//! connection and, thanks to WAL, never wait for a writer.
//!
//! Calls block (SQLite is synchronous and fast here: milliseconds). Async code wraps them:
//!
//! ```no_run
//! # async fn demo(store: kubemaas::store::Store) -> Result<(), Box<dyn std::error::Error>> {
//! let s = store.clone();
//! let clusters = tokio::task::spawn_blocking(move || s.read(|r| r.clusters(false))).await??;
//! # Ok(()) }
//! ```

use super::error::{db_err, StoreError, BUSY_TIMEOUT_SECS};
use super::replica::Replica;
use super::schema;
use super::tx::Tx;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The database file's name inside the state dir.
pub const DB_FILE: &str = "state.db";

/// A handle on one state dir's database. See the module docs for how to share it.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Set on a node of a replicated gateway: writes go through its log first.
    replica: Option<Arc<Replica>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) `state_dir/state.db`: the directory is made 0700, the database
    /// and its WAL siblings 0600 before SQLite touches them, then the schema is migrated.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(state_dir, None)
    }

    /// [`Store::open`], as a standalone store or as a copy replicated through `replica`'s log.
    pub(super) fn open_with(
        state_dir: &Path,
        replica: Option<Arc<Replica>>,
    ) -> Result<Store, StoreError> {
        crate::paths::create_private_dir(state_dir).map_err(|e| match e {
            crate::paths::PathsError::Create { path, source } => {
                StoreError::StateDir { path, source }
            }
            crate::paths::PathsError::NoHome => StoreError::StateDir {
                path: state_dir.to_path_buf(),
                source: std::io::Error::other("no home directory"),
            },
        })?;
        let path = state_dir.join(DB_FILE);
        let _opening = OPENING.lock().unwrap_or_else(|p| p.into_inner());
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            create_private_file(&file)?;
        }
        let mut writer = connect(&path)?;
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal { path, mode });
        }
        schema::migrate(&mut writer, &path)?;
        let reader = connect(&path)?;
        // The reader can never write, even by mistake: a write inside `Store::read` fails loudly.
        reader
            .pragma_update(None, "query_only", true)
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        tracing::debug!(path = %path.display(), version = schema::SCHEMA_VERSION, "state database open");
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
                replica,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in one write transaction: everything it does is committed together when it
    /// returns `Ok`, and nothing at all is kept when it returns `Err` (or panics). The
    /// transaction is `IMMEDIATE`: it takes the database's write lock up front (waiting for
    /// other processes), so it can never fail half-way with "database is locked".
    ///
    /// On a replicated store (see [`super::replica`]) `f` may run more than once: when another
    /// node changed the state first, the attempt is rolled back and `f` runs again on the
    /// updated state. So `f` only changes the database, never anything else.
    pub fn tx<T, E>(&self, mut f: impl FnMut(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if let Some(replica) = &self.inner.replica {
            return super::replica::write(self, replica, f);
        }
        let mut conn = lock(&self.inner.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err("starting a write transaction"))?;
        let value = f(&Tx::new(&tx))?;
        tx.commit()
            .map_err(db_err("committing a write transaction"))?;
        Ok(value)
    }

    /// Runs `f` on a consistent snapshot of the database (one read transaction). Writes inside
    /// it fail: use [`Store::tx`] for those.
    pub fn read<T, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = lock(&self.inner.reader);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(db_err("starting a read transaction"))?;
        let value = f(&Tx::new(&tx))?;
        tx.commit().map_err(db_err("ending a read transaction"))?;
        Ok(value)
    }

    /// The writer connection, for the replication code (which runs its own transactions).
    pub(super) fn writer(&self) -> MutexGuard<'_, Connection> {
        lock(&self.inner.writer)
    }

    pub(super) fn replica(&self) -> Option<&Arc<Replica>> {
        self.inner.replica.as_ref()
    }

    /// A number that changes whenever any connection (this process's writer or another
    /// process) commits. Watchers poll it and re-read only when it moved.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        let conn = lock(&self.inner.reader);
        conn.pragma_query_value(None, "data_version", |r| r.get(0))
            .map_err(db_err("reading the database's change counter"))
    }
}

/// A poisoned mutex only means a closure panicked while holding the connection; its
/// transaction was rolled back when it unwound, so the connection is still sound.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(BUSY_TIMEOUT_SECS))
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(open_err)?;
    // FULL, not NORMAL: in WAL mode NORMAL survives a killed process but may lose the last
    // commits on power loss, and the intent journal must be on disk before the MAAS call it
    // announces is sent, or a machine could be allocated with no trace here. kubemaas writes
    // a few transactions a second at most, so an fsync per commit costs nothing noticeable.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    Ok(conn)
}

/// Creates `path` as an empty 0600 file if missing; tightens it to 0600 if it exists wider.
///
/// An existing file is never opened here, only `chmod`ed by path: SQLite's POSIX locks belong
/// to the process, and closing *any* descriptor of a file drops all of them, so opening and
/// closing the database behind another open `Store` of this process would silently unlock it.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::CreateFile {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        // Brand new: no connection can hold a lock on it yet (opens are serialised by OPENING).
        Ok(file) => drop(file),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(e)),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(err)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "state file was readable by others; making it 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        }
    }
    Ok(())
}

/// Serialises [`Store::open`] within the process, so that a file it has just created cannot be
/// opened by SQLite in another thread before it is closed again (see [`create_private_file`]).
static OPENING: Mutex<()> = Mutex::new(());
