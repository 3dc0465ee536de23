//! Snapshots: the whole database serialised with SQLite's backup API, and cut into chunks small
//! enough for one etcd request each (etcd refuses requests over 1.5 MiB by default).

use super::log::LogError;
use rusqlite::backup::Backup;
use rusqlite::{Connection, MAIN_DB};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The largest chunk a log stores in one key: well under etcd's 1.5 MiB request limit, with
/// room for the key and the request's framing.
pub const MAX_CHUNK: usize = 1024 * 1024;

/// What a stored snapshot is made of, written last so that readers never see half a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub seq: u64,
    pub bytes: usize,
    pub chunks: usize,
    /// Hex SHA-256 of the whole database, checked after reassembly.
    pub sha256: String,
}

/// Cuts `database` into chunks of at most `chunk` bytes and describes them.
pub fn split(seq: u64, database: &[u8], chunk: usize) -> (Manifest, Vec<&[u8]>) {
    let chunk = chunk.max(1);
    let parts: Vec<&[u8]> = database.chunks(chunk).collect();
    let manifest = Manifest {
        seq,
        bytes: database.len(),
        chunks: parts.len(),
        sha256: hex_sha256(database),
    };
    (manifest, parts)
}

/// Puts the chunks of `manifest` back together, checking their number, size and digest.
pub fn assemble(manifest: &Manifest, chunks: Vec<Vec<u8>>) -> Result<Vec<u8>, LogError> {
    if chunks.len() != manifest.chunks {
        return Err(LogError::Corrupt {
            detail: format!(
                "snapshot {} has {} chunk(s) stored, its manifest lists {}",
                manifest.seq,
                chunks.len(),
                manifest.chunks
            ),
        });
    }
    let database = chunks.concat();
    if database.len() != manifest.bytes || hex_sha256(&database) != manifest.sha256 {
        return Err(LogError::Corrupt {
            detail: format!(
                "snapshot {} does not match its manifest ({} bytes reassembled, {} expected, or its SHA-256 differs)",
                manifest.seq,
                database.len(),
                manifest.bytes
            ),
        });
    }
    Ok(database)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Serialises the database `conn` is on: backed up into memory, then taken as bytes.
pub(crate) fn serialize(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    let mut mem = Connection::open_in_memory()?;
    {
        let backup = Backup::new(conn, &mut mem)?;
        // The source is this process's own writer connection, locked by our mutex: the copy
        // never meets a busy database, so the pause between steps is never taken.
        backup.run_to_completion(1024, Duration::ZERO, None)?;
    }
    let mut bytes = mem.serialize(MAIN_DB)?.to_vec();
    set_legacy_journal(&mut bytes);
    Ok(bytes)
}

/// Replaces the database `conn` is on by `database` (from [`serialize`]), through the backup
/// API so that the connection's WAL and the other connections stay valid.
pub(crate) fn restore(conn: &mut Connection, database: &[u8]) -> rusqlite::Result<()> {
    let mut mem = Connection::open_in_memory()?;
    mem.deserialize_read_exact(MAIN_DB, database, database.len(), false)?;
    let backup = Backup::new(&mem, conn)?;
    backup.run_to_completion(1024, Duration::ZERO, None)
}

/// Marks the image as a rollback-journal database (header bytes 18 and 19, the file format's
/// write and read versions): an image copied from a WAL database says "WAL", which an
/// in-memory database cannot open. The backup into the WAL destination sets it back.
fn set_legacy_journal(bytes: &mut [u8]) {
    if bytes.len() >= 20 {
        bytes[18] = 1;
        bytes[19] = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_assemble_round_trip_at_every_chunk_size() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for chunk in [1, 7, 4096, 9_999, 10_000, 10_001, MAX_CHUNK] {
            let (manifest, parts) = split(42, &data, chunk);
            assert_eq!(manifest.chunks, data.len().div_ceil(chunk));
            assert!(parts.iter().all(|p| p.len() <= chunk));
            let owned = parts.iter().map(|p| p.to_vec()).collect();
            assert_eq!(assemble(&manifest, owned).unwrap(), data);
        }
    }

    #[test]
    fn a_missing_or_altered_chunk_is_refused() {
        let data = vec![5u8; 3000];
        let (manifest, parts) = split(1, &data, 1000);
        let mut owned: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        owned.pop();
        assert!(matches!(
            assemble(&manifest, owned.clone()),
            Err(LogError::Corrupt { .. })
        ));
        owned.push(vec![6u8; 1000]);
        assert!(matches!(
            assemble(&manifest, owned),
            Err(LogError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_database_survives_serialize_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let src = Connection::open(dir.path().join("a.db")).unwrap();
        src.pragma_update(None, "journal_mode", "wal").unwrap();
        src.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one'), (2, 'two');")
            .unwrap();
        let image = serialize(&src).unwrap();
        let mut dst = Connection::open(dir.path().join("b.db")).unwrap();
        dst.pragma_update(None, "journal_mode", "wal").unwrap();
        dst.execute_batch("CREATE TABLE other (x); INSERT INTO other VALUES (1);")
            .unwrap();
        restore(&mut dst, &image).unwrap();
        let rows: Vec<(i64, String)> = dst
            .prepare("SELECT k, v FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, vec![(1, "one".to_string()), (2, "two".to_string())]);
        let mode: String = dst
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(
            dst.prepare("SELECT * FROM other").is_err(),
            "restore replaces everything"
        );
    }
}
