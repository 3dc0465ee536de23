//! Gateways: how kubemaas reaches MAAS regions (this host, or a remote gateway over mTLS).

use super::codec::{col_time, time_text};
use super::enums::GatewayKind;
use super::error::StoreError;
use super::named::{NamedTable, Users};
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, Row};
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

const GATEWAYS: NamedTable = NamedTable {
    table: "gateways",
    columns: "name, address, fingerprint, client_cert_path, client_key_path, kind, created",
    kind: "gateway",
    name_field: "gateway name",
    list_hint: "list the gateways with `kubemaas gateway list`",
    duplicate_hint: "pick another name, or remove the old gateway first",
};

/// Cloud accounts keep the gateway they reach MAAS through.
const ACCOUNTS: Users = Users {
    sql: "SELECT name FROM cloud_accounts WHERE gateway = ?1 ORDER BY name",
    label: "cloud account(s)",
    hint: "remove or move those accounts first",
};

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

impl Tx<'_> {
    /// Records a gateway; its name must be new.
    pub fn insert_gateway(&self, g: &NewGateway) -> Result<GatewayRow, StoreError> {
        self.insert_named(
            &GATEWAYS,
            &g.name,
            "(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                g.name,
                g.address,
                g.fingerprint,
                path_text(&g.client_cert_path),
                path_text(&g.client_key_path),
                g.kind,
                time_text(self.now()),
            ],
        )?;
        self.gateway(&g.name)
    }

    /// The gateway called `name`.
    pub fn gateway(&self, name: &str) -> Result<GatewayRow, StoreError> {
        self.named(&GATEWAYS, name, from_row)
    }

    /// All gateways, by name.
    pub fn gateways(&self) -> Result<Vec<GatewayRow>, StoreError> {
        self.all_named(&GATEWAYS, from_row)
    }

    /// Pins (or re-pins) a gateway's certificate fingerprint.
    pub fn set_gateway_fingerprint(&self, name: &str, fingerprint: &str) -> Result<(), StoreError> {
        self.update_named(
            &GATEWAYS,
            name,
            "UPDATE gateways SET fingerprint = ?2 WHERE name = ?1",
            params![name, fingerprint],
            format!("pinning gateway {name}"),
        )
    }

    /// Removes a gateway no cloud account uses.
    pub fn delete_gateway(&self, name: &str) -> Result<(), StoreError> {
        self.delete_named(&GATEWAYS, name, &ACCOUNTS)
    }
}
