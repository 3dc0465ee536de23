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
use super::open_check;
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
    /// Opened on a read-only state dir: every write is refused up front, saying so.
    read_only: bool,
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
        let path = state_dir.join(DB_FILE);
        let _opening = OPENING.lock().unwrap_or_else(|p| p.into_inner());
        open_check::check_not_damaged(&path)?;
        let created = match prepare_writable(state_dir, &path) {
            Ok(created) => created,
            // A read-only state dir (a read-only mount, a backup being inspected): the commands
            // that only read still work on an existing database; every write says why it fails.
            Err(e) if replica.is_none() && is_read_only(&e) && path.is_file() => {
                let conn = || connect_read_only(&path);
                let (writer, reader) = (conn()?, conn()?);
                check_version_read_only(&reader, &path)?;
                tracing::warn!(path = %path.display(), "the state dir is read-only: the database is open for reading only");
                return Ok(Store::from_parts(path, writer, reader, None, true));
            }
            Err(e) => return Err(e),
        };
        // Whatever fails from here on a database this call created takes its files away again:
        // left behind, an empty state.db would be refused as damaged by the next open.
        let opened = open_writable(&path);
        if opened.is_err() && created {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        let (writer, reader) = opened?;
        tracing::debug!(path = %path.display(), version = schema::SCHEMA_VERSION, "state database open");
        Ok(Store::from_parts(path, writer, reader, replica, false))
    }

    fn from_parts(
        path: PathBuf,
        writer: Connection,
        reader: Connection,
        replica: Option<Arc<Replica>>,
        read_only: bool,
    ) -> Store {
        Store {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
                replica,
                read_only,
            }),
        }
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
        if self.inner.read_only {
            return Err(StoreError::ReadOnly {
                what: format!("{} cannot be written", self.inner.path.display()),
            }
            .into());
        }
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

/// Makes the state dir (0700) and the database's files (0600) when missing. True when this
/// call created the database file.
fn prepare_writable(state_dir: &Path, path: &Path) -> Result<bool, StoreError> {
    crate::paths::create_private_dir(state_dir).map_err(|e| match e {
        crate::paths::PathsError::Create { path, source } => StoreError::StateDir { path, source },
        crate::paths::PathsError::NoHome => StoreError::StateDir {
            path: state_dir.to_path_buf(),
            source: std::io::Error::other("no home directory"),
        },
    })?;
    let mut created = false;
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        let new = create_private_file(&file)?;
        created |= suffix.is_empty() && new;
    }
    Ok(created)
}

/// Whether preparing the state dir failed only because it cannot be written.
fn is_read_only(e: &StoreError) -> bool {
    let io = match e {
        StoreError::StateDir { source, .. } | StoreError::CreateFile { source, .. } => source,
        _ => return false,
    };
    matches!(
        io.kind(),
        std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
    )
}

/// The writer (WAL mode, schema migrated) and the query-only reader of a writable database.
fn open_writable(path: &Path) -> Result<(Connection, Connection), StoreError> {
    let mut writer = connect(path)?;
    let mode: String = writer
        .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
        .map_err(|source| open_check::classify(path, "switching to write-ahead logging", source))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    schema::migrate(&mut writer, path).map_err(|e| match e {
        StoreError::Migration { source, .. } | StoreError::Db { source, .. } => {
            open_check::classify(path, "upgrading the schema", source)
        }
        other => other,
    })?;
    let reader = connect(path)?;
    // The reader can never write, even by mistake: a write inside `Store::read` fails loudly.
    reader
        .pragma_update(None, "query_only", true)
        .map_err(|source| open_check::classify(path, "opening a reader", source))?;
    Ok((writer, reader))
}

/// A connection that only reads, on a state dir that cannot be written. A WAL database needs
/// its `-shm` file; when there is none (a cleanly closed store) and none can be made, SQLite
/// reads the file as immutable, which is exact since nothing can write the directory either.
fn connect_read_only(path: &Path) -> Result<Connection, StoreError> {
    let sibling = |suffix: &str| PathBuf::from(format!("{}{suffix}", path.display()));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let has_wal = sibling("-wal").is_file() && sibling("-shm").is_file();
    let encoded =
        percent_encoding::utf8_percent_encode(&path.display().to_string(), &URI_PATH).to_string();
    let uri = if has_wal {
        format!("file:{encoded}?mode=ro")
    } else {
        format!("file:{encoded}?mode=ro&immutable=1")
    };
    let conn = Connection::open_with_flags(&uri, flags)
        .map_err(|source| open_check::classify(path, "opening it read-only", source))?;
    conn.busy_timeout(Duration::from_secs(BUSY_TIMEOUT_SECS))
        .map_err(|source| open_check::classify(path, "opening it read-only", source))?;
    Ok(conn)
}

/// The characters a file name must not carry raw in a SQLite URI.
const URI_PATH: percent_encoding::AsciiSet = percent_encoding::CONTROLS
    .add(b'%')
    .add(b'?')
    .add(b'#')
    .add(b' ');

/// A read-only store cannot migrate: its schema must be this build's.
fn check_version_read_only(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|source| open_check::classify(path, "reading the schema version", source))?;
    match found {
        v if v == schema::SCHEMA_VERSION => Ok(()),
        v if v > schema::SCHEMA_VERSION => Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: v,
            known: schema::SCHEMA_VERSION,
        }),
        v => Err(StoreError::ReadOnlyOld {
            path: path.to_path_buf(),
            found: v,
            known: schema::SCHEMA_VERSION,
        }),
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| open_check::classify(path, "opening it", source);
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

/// Creates `path` as an empty 0600 file if missing (returning true); tightens it to 0600 if it
/// exists wider.
///
/// An existing file is never opened here, only `chmod`ed by path: SQLite's POSIX locks belong
/// to the process, and closing *any* descriptor of a file drops all of them, so opening and
/// closing the database behind another open `Store` of this process would silently unlock it.
fn create_private_file(path: &Path) -> Result<bool, StoreError> {
    let err = |source: std::io::Error| {
        if open_check::is_full(&source) {
            StoreError::DiskFull {
                dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                what: format!("creating {}", path.display()),
            }
        } else {
            StoreError::CreateFile {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let mut created = false;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        // Brand new: no connection can hold a lock on it yet (opens are serialised by OPENING).
        Ok(file) => {
            drop(file);
            created = true;
        }
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
    Ok(created)
}

/// Serialises [`Store::open`] within the process, so that a file it has just created cannot be
/// opened by SQLite in another thread before it is closed again (see [`create_private_file`]).
static OPENING: Mutex<()> = Mutex::new(());
