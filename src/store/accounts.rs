//! Cloud accounts: a MAAS region (endpoint, CA) and the API key kubemaas uses on it. The key is a
//! secret: it lives only in the 0600 database and never shows in `Debug` (see [`ApiKey`]).

use super::codec::{col_opt_time, col_time, time_text};
use super::error::{db_err, is_unique_violation, StoreError};
use super::gateways::non_empty;
use super::tx::Tx;
use crate::maas::{ApiKey, Endpoint};
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{params, OptionalExtension, Row};

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

const COLUMNS: &str = "name, gateway, endpoint, api_key, ca_cert, created, last_validated";

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

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        kind: "cloud account",
        key: name.to_string(),
        hint: "list the accounts with `kubemaas account list`",
    }
}

impl Tx<'_> {
    /// Records a cloud account; its name must be new and its gateway (if any) must exist.
    pub fn insert_account(&self, a: &NewAccount) -> Result<AccountRow, StoreError> {
        non_empty("cloud account name", &a.name)?;
        if let Some(gw) = &a.gateway {
            self.gateway(gw)?;
        }
        self.conn()
            .execute(
                &format!(
                    "INSERT INTO cloud_accounts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)"
                ),
                params![
                    a.name,
                    a.gateway,
                    a.endpoint.api_base().as_str(),
                    a.api_key.expose(),
                    a.ca_cert,
                    time_text(self.now()),
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate {
                        kind: "cloud account",
                        key: a.name.clone(),
                        hint: "pick another name, or remove the old account first",
                    }
                } else {
                    db_err(format!("recording cloud account {}", a.name))(e)
                }
            })?;
        self.account(&a.name)
    }

    /// The cloud account called `name`.
    pub fn account(&self, name: &str) -> Result<AccountRow, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM cloud_accounts WHERE name = ?1"),
                [name],
                from_row,
            )
            .optional()
            .map_err(db_err(format!("reading cloud account {name}")))?
            .ok_or_else(|| not_found(name))
    }

    /// All cloud accounts, by name.
    pub fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        let what = "listing cloud accounts";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM cloud_accounts ORDER BY name"
            ))
            .map_err(db_err(what))?;
        let rows = stmt.query_map([], from_row).map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// Replaces an account's API key (after the operator rotated it in MAAS).
    pub fn set_account_api_key(&self, name: &str, key: &ApiKey) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE cloud_accounts SET api_key = ?2, last_validated = NULL WHERE name = ?1",
                params![name, key.expose()],
            )
            .map_err(db_err(format!(
                "replacing the API key of cloud account {name}"
            )))?;
        if self.changes() == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// Records that the account's key was just checked against MAAS and works.
    pub fn mark_account_validated(&self, name: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE cloud_accounts SET last_validated = ?2 WHERE name = ?1",
                params![name, time_text(self.now())],
            )
            .map_err(db_err(format!("marking cloud account {name} validated")))?;
        if self.changes() == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// Removes an account no live cluster uses.
    pub fn delete_account(&self, name: &str) -> Result<(), StoreError> {
        let what = format!("removing cloud account {name}");
        let users: Vec<String> = {
            let mut stmt = self
                .conn()
                .prepare_cached(
                    "SELECT name FROM clusters WHERE account = ?1 AND deleted_at IS NULL ORDER BY name",
                )
                .map_err(db_err(what.clone()))?;
            let rows = stmt
                .query_map([name], |r| r.get(0))
                .map_err(db_err(what.clone()))?;
            rows.collect::<Result<_, _>>()
                .map_err(db_err(what.clone()))?
        };
        if !users.is_empty() {
            return Err(StoreError::InUse {
                kind: "cloud account",
                key: name.to_string(),
                users: format!("cluster(s) {}", users.join(", ")),
                hint: "delete those clusters first",
            });
        }
        self.conn()
            .execute("DELETE FROM cloud_accounts WHERE name = ?1", [name])
            .map_err(db_err(what))?;
        if self.changes() == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }
}
