//! Exactly-once cluster creation on a gateway. A console that sends `POST /v1/clusters` with an
//! [`IDEMPOTENCY_HEADER`] may send it again (the connection dropped before the answer, the
//! gateway restarted for an upgrade, two consoles flushed the same queue): the gateway
//! remembers each key together with the cluster it created, and answers a repeated key with
//! that cluster instead of creating another. The same key with another body is refused
//! ([`EngineError::KeyReused`], 422), as in the IETF idempotency-key draft: the second request
//! would otherwise be dropped without a word.
//!
//! The key and the cluster are written in one store transaction, so a gateway that dies at any
//! point has either both or neither. The table lives in the gateway's own store, created on
//! first use (it is the gateway's business, not the engine's schema).

use crate::engine::{ClusterView, EmbeddedEngine, EngineApi, EngineError};
use crate::model::ClusterSpec;
use crate::store::{EventLevel, NewEvent, StoreError, Tx};
use rusqlite::OptionalExtension;
use sha2::{Digest, Sha256};

/// The header carrying a request's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// How long a key is remembered: far longer than any console keeps a request queued.
const KEEP_DAYS: i64 = 30;

/// Why a key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {IDEMPOTENCY_HEADER} header must be 16 to 128 letters, digits, `-` or `_`: send the key the console generated")]
pub struct BadKey;

/// Checks a key's shape (it is stored and compared as is).
pub fn check_key(key: &str) -> Result<(), BadKey> {
    let ok = (16..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(BadKey)
    }
}

fn db(what: &str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Db {
        what: what.to_string(),
        source,
    }
}

/// What was recorded for a key: the cluster it created and the fingerprint of its body
/// (none for keys recorded before fingerprints were).
struct Seen {
    cluster: String,
    body_sha256: Option<String>,
}

/// The cluster (id) created for `key`, if any.
fn lookup(tx: &Tx<'_>, key: &str) -> Result<Option<Seen>, StoreError> {
    tx.conn()
        .query_row(
            "SELECT cluster, body_sha256 FROM gateway_request_keys WHERE key = ?1",
            [key],
            |r| {
                Ok(Seen {
                    cluster: r.get(0)?,
                    body_sha256: r.get(1)?,
                })
            },
        )
        .optional()
        .map_err(db("reading a request key"))
}

/// The request's fingerprint: a SHA-256 of the spec as JSON. Compared after parsing, so a
/// repeat that differs only in layout (whitespace, key order) is still the same request.
fn fingerprint(spec: &ClusterSpec) -> Result<String, EngineError> {
    let json =
        serde_json::to_vec(&serde_json::to_value(spec).map_err(|e| {
            EngineError::Other(format!("cannot fingerprint the cluster spec: {e}"))
        })?)
        .map_err(|e| EngineError::Other(format!("cannot fingerprint the cluster spec: {e}")))?;
    Ok(hex(&Sha256::digest(&json)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cluster a repeated key answers with, or [`EngineError::KeyReused`] when the key came
/// with another body the first time.
async fn repeat(
    engine: &EmbeddedEngine,
    seen: Seen,
    body_sha256: &str,
) -> Result<ClusterView, EngineError> {
    let view = engine.cluster(&seen.cluster).await?;
    if seen
        .body_sha256
        .as_deref()
        .is_some_and(|s| s != body_sha256)
    {
        return Err(EngineError::KeyReused { cluster: view.name });
    }
    Ok(view)
}

/// Creates the cluster of `spec` unless a request with `key` already did; either way answers
/// the cluster and whether this call created it.
pub async fn create_once(
    engine: &EmbeddedEngine,
    key: &str,
    spec: ClusterSpec,
) -> Result<(ClusterView, bool), EngineError> {
    check_key(key).map_err(|e| EngineError::Other(e.to_string()))?;
    let body_sha256 = fingerprint(&spec)?;
    // A repeat is answered even when its spec would no longer pass (a profile changed since).
    let seen = engine.store().tx(|tx| lookup(tx, key))?;
    if let Some(seen) = seen {
        return Ok((repeat(engine, seen, &body_sha256).await?, false));
    }
    engine.check_spec(&spec)?;
    let now = chrono::Utc::now();
    let created = engine.store().tx(|tx| {
        // Looked up again inside the write transaction: two copies of one request racing
        // here are serialised by it, and only the first creates.
        if let Some(seen) = lookup(tx, key)? {
            return Ok::<_, EngineError>(Err(seen));
        }
        let row = tx.create_cluster(spec.name(), &spec.spec.cloud_account, &spec)?;
        tx.append_event(
            &NewEvent::new(
                EventLevel::Info,
                "console",
                format!("cluster {} submitted", row.name),
            )
            .cluster(&row.id),
        )?;
        tx.conn()
            .execute(
                "INSERT INTO gateway_request_keys (key, cluster, created, body_sha256) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![key, row.id.to_string(), now.to_rfc3339(), body_sha256],
            )
            .map_err(db("recording a request key"))?;
        let old = (now - chrono::Duration::days(KEEP_DAYS)).to_rfc3339();
        tx.conn()
            .execute("DELETE FROM gateway_request_keys WHERE created < ?1", [old])
            .map_err(db("forgetting old request keys"))?;
        Ok(Ok(row.id.to_string()))
    })?;
    match created {
        Ok(id) => Ok((engine.cluster(&id).await?, true)),
        Err(seen) => Ok((repeat(engine, seen, &body_sha256).await?, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_for_shape() {
        assert!(check_key("0123456789abcdef").is_ok());
        assert!(check_key("short").is_err());
        assert!(check_key("0123456789abcdef'; DROP").is_err());
        assert!(check_key(&"a".repeat(129)).is_err());
    }
}
