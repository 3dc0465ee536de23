//! The reconciler lock: exactly one process per state dir runs the reconcilers. It is an OS file
//! lock (`flock`) on `state_dir/engine.lock`, so the kernel frees it when the holder exits,
//! however it exits (kill -9 included): there is never a stale lock to clean up by hand. The file
//! also records who holds it, for "the engine runs in pid 4242 on jump1 since 09:12" messages.

use chrono::{DateTime, Utc};
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the state dir.
pub const LOCK_FILE: &str = "engine.lock";

/// Who holds (or held) the reconciler lock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub since: DateTime<Utc>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "process {} on {} (since {})",
            self.pid,
            self.host,
            self.since.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process runs the reconcilers. `holder` is `None` only in the instant between its
    /// taking the lock and writing its name.
    #[error("{}", held_message(holder.as_ref()))]
    Held { holder: Option<LockHolder> },
    #[error("cannot use the reconciler lock file {path}: {source} (check the state dir's owner and permissions, or pass --state-dir DIR)")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn held_message(holder: Option<&LockHolder>) -> String {
    let who = match holder {
        Some(h) => h.to_string(),
        None => "another process (it is just starting)".to_string(),
    };
    format!(
        "the reconcilers of this state dir already run in {who}: this process only submits changes and watches; stop that process to run them here"
    )
}

/// The held reconciler lock. Dropping it (or the process dying) frees it.
#[derive(Debug)]
pub struct EngineLock {
    file: File,
    path: PathBuf,
    holder: LockHolder,
}

impl EngineLock {
    /// Takes the lock of `state_dir` without waiting, or says who holds it.
    pub fn try_acquire(state_dir: &Path) -> Result<EngineLock, LockError> {
        let path = state_dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut opts = OpenOptions::new();
        // Never truncate on open: the file may carry the current holder's name.
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    holder: read_holder(&mut file),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let holder = LockHolder {
            pid: std::process::id(),
            host: host_name(),
            since: Utc::now(),
        };
        let text = serde_json::to_string(&holder).map_err(|e| io(std::io::Error::other(e)))?;
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        tracing::info!(path = %path.display(), pid = holder.pid, "took the reconciler lock");
        Ok(EngineLock { file, path, holder })
    }

    /// Who holds the lock: this process.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for EngineLock {
    fn drop(&mut self) {
        // Clear the name first so nobody reads a departed holder; the lock itself goes with the
        // file handle. Failures here cannot be acted on and the kernel frees the lock anyway.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
        tracing::info!(path = %self.path.display(), "released the reconciler lock");
    }
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// This machine's host name, for lock and command records.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// `pid@host` of this process.
pub fn process_identity() -> String {
    format!("{}@{}", std::process::id(), host_name())
}
