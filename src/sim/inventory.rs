//! Starting inventories: a seeded, realistic generated fleet, or a JSON dump of a real MAAS's
//! machines (`GET machines/` output, old regions without pools included).
//!
//! Generation lives in `generate` (with its word lists in `names`), loading in `load`; this
//! module is the entry point and the error type.

mod generate;
mod load;
mod names;

use super::model::{SimCatalog, SimInventory};
use std::path::{Path, PathBuf};

/// Why an inventory file cannot be used. Every variant says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read inventory file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("inventory file {path} is not JSON ({reason}): give the output of `maas $PROFILE machines read` or GET /MAAS/api/2.0/machines/")]
    NotJson { path: PathBuf, reason: String },
    #[error("inventory {what}: {problem}")]
    Invalid { what: String, problem: String },
}

/// A fleet of `machines` machines spread over zones and pools, the same for the same `seed`.
pub fn generate(machines: usize, seed: u64) -> SimInventory {
    generate::fleet(machines, seed)
}

/// The zones, pools, tags, domains, subnets and boot images of a generated region.
pub fn default_catalog() -> SimCatalog {
    generate::catalog()
}

/// Loads a JSON array of machine objects as a real MAAS returns them.
pub fn load_file(path: &Path) -> Result<SimInventory, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if text.trim().is_empty() {
        return Err(InventoryError::Invalid {
            what: format!("file {}", path.display()),
            problem: "is empty: save the output of `maas $PROFILE machines read` (GET /MAAS/api/2.0/machines/) into it".into(),
        });
    }
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| InventoryError::NotJson {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    from_machines_json(&value)
}

/// Builds an inventory (machines plus the catalogue they imply) from `GET machines/` JSON.
pub fn from_machines_json(value: &serde_json::Value) -> Result<SimInventory, InventoryError> {
    load::machines(value)
}
