//! What is wrong when the state database cannot be opened, said as its real cause: a damaged
//! (empty or truncated) file, a full disk, a read-only filesystem or an I/O error — not SQLite's
//! generic "disk I/O error" with a guess about file ownership.

use super::error::StoreError;
use std::io::Read;
use std::path::Path;

/// The SQLite file header's first bytes.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Refuses an existing database file that is empty or shorter than its own header says.
///
/// Never called on a file this process has just created: that one is empty on purpose. Any
/// other empty file is a database that lost its content (a full disk, a bad copy, a truncation),
/// and opening it would silently make a new, empty store while MAAS still holds the machines
/// the old one recorded.
pub(super) fn check_not_damaged(path: &Path) -> Result<(), StoreError> {
    let damaged = |what: String| StoreError::Damaged {
        path: path.to_path_buf(),
        what,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        // Unreadable: SQLite's own open reports it, with the permission or I/O cause.
        Err(_) => return Ok(()),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Err(damaged("it is empty (0 bytes)".into()));
    }
    let mut header = [0u8; 100];
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    let magic_len = read.min(MAGIC.len());
    if header[..magic_len] != MAGIC[..magic_len] {
        // Not SQLite at all: SQLite's "file is not a database" says so; nothing of ours lost.
        return Ok(());
    }
    if read < header.len() {
        return Err(damaged(format!(
            "it is {len} bytes, shorter than a database header"
        )));
    }
    // Page size: 2 bytes at 16, big-endian; 1 means 65536.
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536u64,
        n => u64::from(n),
    };
    // The database size in pages (at 28) is valid when the change counter (24) matches the
    // "version valid for" number (92), as SQLite itself reads it.
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    let valid = header[24..28] == header[92..96];
    if page_size >= 512 && valid && pages > 0 && len < pages * page_size {
        return Err(damaged(format!(
            "it is truncated: {len} bytes where its header records {pages} pages of {page_size} bytes ({} bytes)",
            pages * page_size
        )));
    }
    Ok(())
}

/// The cause of a SQLite failure met while opening `path` (in `what`), as a [`StoreError`]
/// that names it: a full disk, a read-only filesystem, a damaged file or an I/O error. SQLite
/// reports a write that ran out of space as either "database or disk is full" or a bare
/// "disk I/O error", so an I/O error is checked by writing a probe file next to the database.
pub(super) fn classify(path: &Path, what: &str, source: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    let dir = path.parent().unwrap_or(Path::new("."));
    match source.sqlite_error_code() {
        Some(C::DiskFull) => StoreError::DiskFull {
            dir: dir.to_path_buf(),
            what: what.to_string(),
        },
        Some(C::ReadOnly) => StoreError::ReadOnly {
            what: what.to_string(),
        },
        // "Not a database" stays SQLite's word (someone else's file at that name); a corrupt
        // kubemaas database is damaged.
        Some(C::DatabaseCorrupt) => StoreError::Damaged {
            path: path.to_path_buf(),
            what: format!("SQLite reads it as damaged ({source})"),
        },
        Some(C::SystemIoFailure) => match probe_write(dir) {
            Some(e) if is_full(&e) => StoreError::DiskFull {
                dir: dir.to_path_buf(),
                what: what.to_string(),
            },
            Some(e) if e.kind() == std::io::ErrorKind::ReadOnlyFilesystem => StoreError::ReadOnly {
                what: what.to_string(),
            },
            _ => StoreError::Io {
                path: path.to_path_buf(),
                what: format!("{what}: {source}"),
            },
        },
        _ => StoreError::Open {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Whether an I/O error means the filesystem is out of space (or of the user's quota).
pub(super) fn is_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Writes and removes a 64 KiB file in `dir`; the error when that fails.
fn probe_write(dir: &Path) -> Option<std::io::Error> {
    use std::io::Write;
    let probe = dir.join(format!(".kubemaas-space-probe.{}", std::process::id()));
    let result = std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(&[0u8; 65536]).and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    result.err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_short_and_truncated_files_are_damaged_a_missing_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        assert!(check_not_damaged(&path).is_ok());
        std::fs::write(&path, b"").unwrap();
        let e = check_not_damaged(&path).unwrap_err().to_string();
        assert!(e.contains("empty (0 bytes)"), "{e}");
        std::fs::write(&path, b"SQLite format 3\0").unwrap();
        assert!(check_not_damaged(&path).is_err());
        // Someone else's file: not ours to call damaged (SQLite says it is no database).
        std::fs::write(&path, b"just text").unwrap();
        assert!(check_not_damaged(&path).is_ok());
        // A header recording 10 pages of 4096 bytes, and only 8192 bytes of file.
        let mut bytes = vec![0u8; 8192];
        bytes[..16].copy_from_slice(MAGIC);
        bytes[16..18].copy_from_slice(&4096u16.to_be_bytes());
        bytes[28..32].copy_from_slice(&10u32.to_be_bytes());
        bytes[24..28].copy_from_slice(&7u32.to_be_bytes());
        bytes[92..96].copy_from_slice(&7u32.to_be_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let e = check_not_damaged(&path).unwrap_err().to_string();
        assert!(e.contains("truncated: 8192 bytes"), "{e}");
        bytes.resize(40960, 0);
        std::fs::write(&path, &bytes).unwrap();
        assert!(check_not_damaged(&path).is_ok());
    }
}
