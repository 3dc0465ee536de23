//! Cloud accounts: a MAAS region (endpoint, CA) and the API key kubemaas uses on it. The key is a
//! secret: it lives only in the 0600 database and never shows in `Debug` (see [`ApiKey`]).

use super::codec::{col_opt_time, col_time, time_text};
use super::error::StoreError;
use super::named::{NamedTable, Users};
use super::tx::Tx;
use crate::maas::{ApiKey, Endpoint};
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{params, Row};

/// A cloud account to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub name: String,
    /// The gateway to reach the region through; `None` means directly from this host.
    pub gateway: Option<String>,
    pub endpoint: Endpoint,
    pub api_key: ApiKey,
    /// PEM of the CA that signs the region's certificate, when it is not a public one.
    pub ca_cert: Option<String>,
}

/// A recorded cloud account. Its `Debug` shows the key masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub name: String,
    pub gateway: Option<String>,
    pub endpoint: Endpoint,
    pub api_key: ApiKey,
    pub ca_cert: Option<String>,
    pub created: DateTime<Utc>,
    pub last_validated: Option<DateTime<Utc>>,
}

const ACCOUNTS: NamedTable = NamedTable {
    table: "cloud_accounts",
    columns: "name, gateway, endpoint, api_key, ca_cert, created, last_validated",
    kind: "cloud account",
    name_field: "cloud account name",
    list_hint: "list the accounts with `kubemaas account list`",
    duplicate_hint: "pick another name, or remove the old account first",
};

/// Live clusters keep their account.
const CLUSTERS: Users = Users {
    sql: "SELECT name FROM clusters WHERE account = ?1 AND deleted_at IS NULL ORDER BY name",
    label: "cluster(s)",
    hint: "delete those clusters first",
};

fn from_row(row: &Row<'_>) -> rusqlite::Result<AccountRow> {
    let endpoint: String = row.get("endpoint")?;
    let endpoint = Endpoint::parse(&endpoint)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, Type::Text, Box::new(e)))?;
    let api_key: String = row.get("api_key")?;
    // The parse error is replaced: it must not echo any part of the stored key.
    let api_key: ApiKey = api_key.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            Type::Text,
            "the stored MAAS API key is damaged: set it again with `kubemaas account set-key`"
                .into(),
        )
    })?;
    Ok(AccountRow {
        name: row.get("name")?,
        gateway: row.get("gateway")?,
        endpoint,
        api_key,
        ca_cert: row.get("ca_cert")?,
        created: col_time(row, "created")?,
        last_validated: col_opt_time(row, "last_validated")?,
    })
}

impl Tx<'_> {
    /// Records a cloud account; its name must be new and its gateway (if any) must exist.
    pub fn insert_account(&self, a: &NewAccount) -> Result<AccountRow, StoreError> {
        if let Some(gw) = &a.gateway {
            self.gateway(gw)?;
        }
        self.insert_named(
            &ACCOUNTS,
            &a.name,
            "(?1, ?2, ?3, ?4, ?5, ?6, NULL)",
            params![
                a.name,
                a.gateway,
                a.endpoint.api_base().as_str(),
                a.api_key.expose(),
                a.ca_cert,
                time_text(self.now()),
            ],
        )?;
        self.account(&a.name)
    }

    /// The cloud account called `name`.
    pub fn account(&self, name: &str) -> Result<AccountRow, StoreError> {
        self.named(&ACCOUNTS, name, from_row)
    }

    /// All cloud accounts, by name.
    pub fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        self.all_named(&ACCOUNTS, from_row)
    }

    /// Replaces an account's API key (after the operator rotated it in MAAS).
    pub fn set_account_api_key(&self, name: &str, key: &ApiKey) -> Result<(), StoreError> {
        self.update_named(
            &ACCOUNTS,
            name,
            "UPDATE cloud_accounts SET api_key = ?2, last_validated = NULL WHERE name = ?1",
            params![name, key.expose()],
            format!("replacing the API key of cloud account {name}"),
        )
    }

    /// Records that the account's key was just checked against MAAS and works.
    pub fn mark_account_validated(&self, name: &str) -> Result<(), StoreError> {
        self.update_named(
            &ACCOUNTS,
            name,
            "UPDATE cloud_accounts SET last_validated = ?2 WHERE name = ?1",
            params![name, time_text(self.now())],
            format!("marking cloud account {name} validated"),
        )
    }

    /// Removes an account no live cluster uses.
    pub fn delete_account(&self, name: &str) -> Result<(), StoreError> {
        self.delete_named(&ACCOUNTS, name, &CLUSTERS)
    }
}
