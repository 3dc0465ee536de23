//! Gateways: how kubemaas reaches MAAS regions (this host, or a remote gateway over mTLS).

use super::codec::{col_time, time_text};
use super::enums::GatewayKind;
use super::error::{db_err, is_unique_violation, StoreError};
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use std::path::PathBuf;

/// A gateway to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGateway {
    pub name: String,
    pub address: String,
    /// The pinned certificate fingerprint of a remote gateway.
    pub fingerprint: Option<String>,
    pub client_cert_path: Option<PathBuf>,
    pub client_key_path: Option<PathBuf>,
    pub kind: GatewayKind,
}

/// A recorded gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRow {
    pub name: String,
    pub address: String,
    pub fingerprint: Option<String>,
    pub client_cert_path: Option<PathBuf>,
    pub client_key_path: Option<PathBuf>,
    pub kind: GatewayKind,
    pub created: DateTime<Utc>,
}

const COLUMNS: &str =
    "name, address, fingerprint, client_cert_path, client_key_path, kind, created";

fn from_row(row: &Row<'_>) -> rusqlite::Result<GatewayRow> {
    Ok(GatewayRow {
        name: row.get("name")?,
        address: row.get("address")?,
        fingerprint: row.get("fingerprint")?,
        client_cert_path: row
            .get::<_, Option<String>>("client_cert_path")?
            .map(PathBuf::from),
        client_key_path: row
            .get::<_, Option<String>>("client_key_path")?
            .map(PathBuf::from),
        kind: row.get("kind")?,
        created: col_time(row, "created")?,
    })
}

fn path_text(p: &Option<PathBuf>) -> Option<String> {
    p.as_ref().map(|p| p.to_string_lossy().into_owned())
}

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        kind: "gateway",
        key: name.to_string(),
        hint: "list the gateways with `kubemaas gateway list`",
    }
}

impl Tx<'_> {
    /// Records a gateway; its name must be new.
    pub fn insert_gateway(&self, g: &NewGateway) -> Result<GatewayRow, StoreError> {
        non_empty("gateway name", &g.name)?;
        self.conn()
            .execute(
                &format!("INSERT INTO gateways ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    g.name,
                    g.address,
                    g.fingerprint,
                    path_text(&g.client_cert_path),
                    path_text(&g.client_key_path),
                    g.kind,
                    time_text(self.now()),
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate {
                        kind: "gateway",
                        key: g.name.clone(),
                        hint: "pick another name, or remove the old gateway first",
                    }
                } else {
                    db_err(format!("recording gateway {}", g.name))(e)
                }
            })?;
        self.gateway(&g.name)
    }

    /// The gateway called `name`.
    pub fn gateway(&self, name: &str) -> Result<GatewayRow, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM gateways WHERE name = ?1"),
                [name],
                from_row,
            )
            .optional()
            .map_err(db_err(format!("reading gateway {name}")))?
            .ok_or_else(|| not_found(name))
    }

    /// All gateways, by name.
    pub fn gateways(&self) -> Result<Vec<GatewayRow>, StoreError> {
        let what = "listing gateways";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!("SELECT {COLUMNS} FROM gateways ORDER BY name"))
            .map_err(db_err(what))?;
        let rows = stmt.query_map([], from_row).map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// Pins (or re-pins) a gateway's certificate fingerprint.
    pub fn set_gateway_fingerprint(&self, name: &str, fingerprint: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE gateways SET fingerprint = ?2 WHERE name = ?1",
                params![name, fingerprint],
            )
            .map_err(db_err(format!("pinning gateway {name}")))?;
        if self.changes() == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// Removes a gateway no cloud account uses.
    pub fn delete_gateway(&self, name: &str) -> Result<(), StoreError> {
        let what = format!("removing gateway {name}");
        let users: Vec<String> = {
            let mut stmt = self
                .conn()
                .prepare_cached("SELECT name FROM cloud_accounts WHERE gateway = ?1 ORDER BY name")
                .map_err(db_err(what.clone()))?;
            let rows = stmt
                .query_map([name], |r| r.get(0))
                .map_err(db_err(what.clone()))?;
            rows.collect::<Result<_, _>>()
                .map_err(db_err(what.clone()))?
        };
        if !users.is_empty() {
            return Err(StoreError::InUse {
                kind: "gateway",
                key: name.to_string(),
                users: format!("cloud account(s) {}", users.join(", ")),
                hint: "remove or move those accounts first",
            });
        }
        self.conn()
            .execute("DELETE FROM gateways WHERE name = ?1", [name])
            .map_err(db_err(what))?;
        if self.changes() == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }
}

/// Refuses empty or blank names, which no command line could address later.
pub(crate) fn non_empty(what: &'static str, value: &str) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(StoreError::Invalid {
            what,
            reason: "it is empty: give a name".into(),
        });
    }
    Ok(())
}
