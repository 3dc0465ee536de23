//! Cluster profiles: named, versioned documents (layers of packs). Their content belongs to the
//! model; the store keeps them as JSON.

use super::codec::{col_json, col_time, from_json_value, time_text, to_json_text};
use super::error::{db_err, is_unique_violation, StoreError};
use super::named::non_empty;
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A stored profile version.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    pub name: String,
    pub version: String,
    pub document: Value,
    /// Shipped with kubemaas (refreshed at start-up, never deleted by operators).
    pub builtin: bool,
    pub created: DateTime<Utc>,
}

impl ProfileRow {
    /// The document as the caller's type.
    pub fn document_as<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        from_json_value(
            &self.document,
            &format!("profile {}@{}", self.name, self.version),
        )
    }
}

const COLUMNS: &str = "name, version, document, builtin, created";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ProfileRow> {
    Ok(ProfileRow {
        name: row.get("name")?,
        version: row.get("version")?,
        document: col_json(row, "document")?,
        builtin: row.get("builtin")?,
        created: col_time(row, "created")?,
    })
}

fn not_found(name: &str, version: &str) -> StoreError {
    StoreError::NotFound {
        kind: "profile",
        key: format!("{name}@{version}"),
        hint: "list the profiles with `kubemaas profile list`",
    }
}

impl Tx<'_> {
    /// Records a new profile version; `name`+`version` must be new.
    pub fn insert_profile<T: Serialize + ?Sized>(
        &self,
        name: &str,
        version: &str,
        document: &T,
        builtin: bool,
    ) -> Result<ProfileRow, StoreError> {
        non_empty("profile name", name)?;
        non_empty("profile version", version)?;
        let doc = to_json_text(document, &format!("profile {name}@{version}"))?;
        self.conn()
            .execute(
                &format!("INSERT INTO profiles ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
                params![name, version, doc, builtin, time_text(self.now())],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate {
                        kind: "profile",
                        key: format!("{name}@{version}"),
                        hint: "profile versions are immutable: publish it under a new version",
                    }
                } else {
                    db_err(format!("recording profile {name}@{version}"))(e)
                }
            })?;
        self.profile(name, version)
    }

    /// Records or replaces a profile version (used to refresh built-in profiles at start-up).
    pub fn upsert_profile<T: Serialize + ?Sized>(
        &self,
        name: &str,
        version: &str,
        document: &T,
        builtin: bool,
    ) -> Result<ProfileRow, StoreError> {
        non_empty("profile name", name)?;
        non_empty("profile version", version)?;
        let doc = to_json_text(document, &format!("profile {name}@{version}"))?;
        self.conn()
            .execute(
                &format!(
                    "INSERT INTO profiles ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (name, version) DO UPDATE SET document = excluded.document,
                     builtin = excluded.builtin"
                ),
                params![name, version, doc, builtin, time_text(self.now())],
            )
            .map_err(db_err(format!("recording profile {name}@{version}")))?;
        self.profile(name, version)
    }

    /// One profile version.
    pub fn profile(&self, name: &str, version: &str) -> Result<ProfileRow, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM profiles WHERE name = ?1 AND version = ?2"),
                params![name, version],
                from_row,
            )
            .optional()
            .map_err(db_err(format!("reading profile {name}@{version}")))?
            .ok_or_else(|| not_found(name, version))
    }

    /// All profile versions, by name then in the order they were recorded.
    pub fn profiles(&self) -> Result<Vec<ProfileRow>, StoreError> {
        let what = "listing profiles";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!("SELECT {COLUMNS} FROM profiles ORDER BY name, id"))
            .map_err(db_err(what))?;
        let rows = stmt.query_map([], from_row).map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// Removes an operator's profile version; built-in ones are refused.
    pub fn delete_profile(&self, name: &str, version: &str) -> Result<(), StoreError> {
        if self.profile(name, version)?.builtin {
            return Err(StoreError::Invalid {
                what: "profile removal",
                reason: format!("{name}@{version} ships with kubemaas and cannot be removed; copy it under another name to change it"),
            });
        }
        self.conn()
            .execute(
                "DELETE FROM profiles WHERE name = ?1 AND version = ?2",
                params![name, version],
            )
            .map_err(db_err(format!("removing profile {name}@{version}")))?;
        Ok(())
    }
}
