//! The schema, as an ordered list of migrations. `PRAGMA user_version` records how many have been
//! applied. Migrations are append-only: a released step is never edited, a change is a new step.

use super::error::{db_err, StoreError};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// Migration `i` (0-based) brings the database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r#"
CREATE TABLE gateways (
    name             TEXT PRIMARY KEY NOT NULL,
    address          TEXT NOT NULL,
    fingerprint      TEXT,
    client_cert_path TEXT,
    client_key_path  TEXT,
    kind             TEXT NOT NULL CHECK (kind IN ('local', 'remote')),
    created          TEXT NOT NULL
);

CREATE TABLE cloud_accounts (
    name           TEXT PRIMARY KEY NOT NULL,
    gateway        TEXT REFERENCES gateways(name),
    endpoint       TEXT NOT NULL,
    api_key        TEXT NOT NULL,
    ca_cert        TEXT,
    created        TEXT NOT NULL,
    last_validated TEXT
);

CREATE TABLE profiles (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name     TEXT NOT NULL,
    version  TEXT NOT NULL,
    document TEXT NOT NULL,
    builtin  INTEGER NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1)),
    created  TEXT NOT NULL,
    UNIQUE (name, version)
);

-- Clusters are never removed, only marked deleted, so their ids stay unique forever and the
-- journal and intents of a deleted cluster keep pointing somewhere. The account is checked by
-- the store rather than by a foreign key so that an account can be removed once only deleted
-- clusters remember it.
CREATE TABLE clusters (
    id                  TEXT PRIMARY KEY NOT NULL,
    name                TEXT NOT NULL,
    account             TEXT NOT NULL,
    spec                TEXT NOT NULL,
    spec_generation     INTEGER NOT NULL DEFAULT 1,
    observed_generation INTEGER NOT NULL DEFAULT 0,
    phase               TEXT NOT NULL,
    reason              TEXT,
    status              TEXT,
    created             TEXT NOT NULL,
    updated             TEXT NOT NULL,
    deleted_at          TEXT
);
CREATE UNIQUE INDEX clusters_live_name ON clusters(name) WHERE deleted_at IS NULL;

-- A machine row is active until released; released rows stay as history. The partial unique
-- index is the guarantee that one MAAS machine is never recorded for two clusters at once.
CREATE TABLE machines (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster     TEXT NOT NULL REFERENCES clusters(id),
    pool        TEXT NOT NULL,
    system_id   TEXT NOT NULL,
    hostname    TEXT,
    role        TEXT NOT NULL,
    state       TEXT NOT NULL,
    maas_status TEXT,
    ip          TEXT,
    generation  INTEGER NOT NULL DEFAULT 0,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    released_at TEXT
);
CREATE UNIQUE INDEX machines_active_system_id ON machines(system_id) WHERE released_at IS NULL;
CREATE INDEX machines_cluster ON machines(cluster);

CREATE TABLE tasks (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster  TEXT REFERENCES clusters(id),
    kind     TEXT NOT NULL,
    state    TEXT NOT NULL,
    progress TEXT,
    message  TEXT NOT NULL DEFAULT '',
    started  TEXT NOT NULL,
    finished TEXT
);
CREATE INDEX tasks_cluster ON tasks(cluster, id);

-- AUTOINCREMENT: event ids are never reused, so a follower's "after id N" cursor stays valid.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster TEXT REFERENCES clusters(id),
    time    TEXT NOT NULL,
    level   TEXT NOT NULL,
    source  TEXT NOT NULL,
    message TEXT NOT NULL,
    machine TEXT,
    detail  TEXT
);
CREATE INDEX events_cluster ON events(cluster, id);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event journal is append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event journal is append-only'); END;

-- Intents: a MAAS mutation is written here before it is sent and completed after its answer;
-- an intent still open after a restart is something the engine must look up in MAAS.
CREATE TABLE intents (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster   TEXT NOT NULL REFERENCES clusters(id),
    op        TEXT NOT NULL,
    target    TEXT NOT NULL,
    params    TEXT NOT NULL,
    started   TEXT NOT NULL,
    completed TEXT,
    outcome   TEXT
);
CREATE INDEX intents_open ON intents(cluster, id) WHERE completed IS NULL;
CREATE TRIGGER intents_never_deleted BEFORE DELETE ON intents
BEGIN SELECT RAISE(ABORT, 'the intent journal is append-only'); END;

CREATE TABLE commands (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster      TEXT REFERENCES clusters(id),
    kind         TEXT NOT NULL,
    args         TEXT NOT NULL,
    state        TEXT NOT NULL,
    submitted    TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    claimed_by   TEXT,
    claimed_at   TEXT,
    finished     TEXT,
    result       TEXT
);
CREATE INDEX commands_state ON commands(state, id);
"#;

/// Exactly-once cluster requests: the keys a gateway has created clusters for
/// (`gateway::idempotency`), and a console's requests made while a gateway was away
/// (`gateway::queue`). Tables come from migrations, never from the code that uses them: a
/// replicated store's log carries rows, not schema, so every node must create them the same way.
const V2: &str = r#"
CREATE TABLE gateway_request_keys (
    key     TEXT PRIMARY KEY NOT NULL,
    cluster TEXT NOT NULL,
    created TEXT NOT NULL
);

CREATE TABLE console_request_queue (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    gateway    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    account    TEXT NOT NULL,
    key        TEXT NOT NULL UNIQUE,
    body       TEXT NOT NULL,
    state      TEXT NOT NULL,
    queued     TEXT NOT NULL,
    reason     TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    cluster_id TEXT,
    finished   TEXT
);
"#;

/// A replicated (3-node) gateway's shared identity: its CA, the consoles it paired and the
/// nodes that serve it. They are tables rather than files so that the replicated log carries
/// them to every node (a console paired with one node is then known to all).
const V3: &str = r#"
CREATE TABLE gateway_identity (
    name     TEXT PRIMARY KEY NOT NULL,
    key_pem  TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    created  TEXT NOT NULL
);

CREATE TABLE gateway_consoles (
    fingerprint TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    remote      TEXT NOT NULL,
    paired_at   TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE gateway_nodes (
    name    TEXT PRIMARY KEY NOT NULL,
    address TEXT NOT NULL,
    started TEXT NOT NULL
);
"#;

/// Every node of a replicated gateway, on two sides:
/// * a console's `gateway_addresses`: the nodes a paired gateway listed in its last `/v1/info`
///   answer, so that it can reach the gateway through another node when one is down;
/// * a gateway's `gateway_pairing_codes`: pairing codes by their derived key (never the code),
///   so that a code printed by one node is redeemed on any, once.
const V4: &str = r#"
CREATE TABLE gateway_addresses (
    gateway TEXT NOT NULL REFERENCES gateways(name) ON DELETE CASCADE,
    node    TEXT NOT NULL,
    address TEXT NOT NULL,
    leader  INTEGER NOT NULL DEFAULT 0 CHECK (leader IN (0, 1)),
    seen    TEXT NOT NULL,
    PRIMARY KEY (gateway, node)
);

CREATE TABLE gateway_pairing_codes (
    key     TEXT PRIMARY KEY NOT NULL,
    expires TEXT NOT NULL,
    used    TEXT
);
"#;

/// A console's `gateway_last_node`: the address of the node of each paired gateway that last
/// answered it, so that a new console process starts there instead of waiting out a connect
/// timeout on a node whose host is down. A table of its own rather than a column of
/// `gateways`: a gateway's replicated log holds changesets of `gateways` rows written by
/// older builds, which must keep applying to a table of the same shape.
const V5: &str = r#"
CREATE TABLE gateway_last_node (
    gateway TEXT PRIMARY KEY NOT NULL REFERENCES gateways(name) ON DELETE CASCADE,
    address TEXT NOT NULL,
    at      TEXT NOT NULL
);
"#;

/// The body each gateway request key came with (a SHA-256 of the spec), so that a key sent
/// again with another body is refused instead of answered with the first cluster. Keys
/// recorded before have none, and are answered as before.
const V6: &str = r#"
ALTER TABLE gateway_request_keys ADD COLUMN body_sha256 TEXT;
"#;

/// Brings the database up to [`SCHEMA_VERSION`]. Each step runs in its own IMMEDIATE
/// transaction and re-reads the version inside it, so two processes opening a fresh state dir
/// at once apply each step exactly once.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    // The common case, an up-to-date database, is settled by a plain read: taking the write
    // lock would make every CLI call wait for the engine's transaction in flight.
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db_err("reading the schema version"))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err("starting a schema upgrade"))?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db_err("reading the schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        if version < 0 {
            return Err(StoreError::Invalid {
                what: "state database",
                reason: format!(
                    "{} has schema version {version}, which no kubemaas writes: it is not a kubemaas state database (pass --state-dir DIR to use another state dir)",
                    path.display()
                ),
            });
        }
        let step = MIGRATIONS[version as usize];
        let next = version + 1;
        let fail = |source| StoreError::Migration {
            path: path.to_path_buf(),
            version: next,
            source,
        };
        tx.execute_batch(step).map_err(fail)?;
        tx.pragma_update(None, "user_version", next).map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(version = next, path = %path.display(), "state database schema upgraded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_applies_and_leaves_a_consistent_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        let fk_problems: i64 = conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk_problems, 0);
        // Running again is a no-op.
        migrate(&mut conn, Path::new(":memory:")).unwrap();
    }

    #[test]
    fn a_negative_version_is_refused_without_panicking() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", -3).unwrap();
        let err = migrate(&mut conn, Path::new(":memory:")).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    }
}
