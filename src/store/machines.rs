//! Machines taken from MAAS for a cluster. A row stays active from the moment kubemaas holds a
//! machine until it is released back; released rows stay as history. At most one active row per
//! MAAS `system_id` exists, across all clusters.

use super::codec::{col_opt_time, col_time, time_text};
use super::error::{db_err, is_unique_violation, StoreError};
use super::ids::ClusterId;
use super::named::non_empty;
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

/// A machine to record for a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMachine {
    pub cluster: ClusterId,
    pub pool: String,
    pub system_id: String,
    pub hostname: Option<String>,
    pub role: String,
    /// The machine's state in the engine's eyes (engine vocabulary).
    pub state: String,
    /// MAAS's status name, as last seen.
    pub maas_status: Option<String>,
    pub ip: Option<String>,
    /// The cluster spec generation the machine was taken for.
    pub generation: i64,
}

/// Fields of a machine to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineUpdate {
    pub state: Option<String>,
    pub maas_status: Option<String>,
    pub hostname: Option<String>,
    pub ip: Option<String>,
}

/// A recorded machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineRow {
    pub id: i64,
    pub cluster: ClusterId,
    pub pool: String,
    pub system_id: String,
    pub hostname: Option<String>,
    pub role: String,
    pub state: String,
    pub maas_status: Option<String>,
    pub ip: Option<String>,
    pub generation: i64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
}

impl MachineRow {
    pub fn is_active(&self) -> bool {
        self.released_at.is_none()
    }
}

const COLUMNS: &str = "id, cluster, pool, system_id, hostname, role, state, maas_status, ip, \
                       generation, created, updated, released_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<MachineRow> {
    Ok(MachineRow {
        id: row.get("id")?,
        cluster: row.get("cluster")?,
        pool: row.get("pool")?,
        system_id: row.get("system_id")?,
        hostname: row.get("hostname")?,
        role: row.get("role")?,
        state: row.get("state")?,
        maas_status: row.get("maas_status")?,
        ip: row.get("ip")?,
        generation: row.get("generation")?,
        created: col_time(row, "created")?,
        updated: col_time(row, "updated")?,
        released_at: col_opt_time(row, "released_at")?,
    })
}

fn not_active(system_id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "active machine",
        key: system_id.to_string(),
        hint: "kubemaas holds no such machine; list a cluster's machines with `kubemaas cluster show NAME`",
    }
}

impl Tx<'_> {
    /// Records that `m.cluster` now holds MAAS machine `m.system_id`. Refused when any cluster
    /// (this one included) already holds it, or when the cluster is deleted.
    pub fn record_machine(&self, m: &NewMachine) -> Result<MachineRow, StoreError> {
        non_empty("machine system_id", &m.system_id)?;
        self.live_cluster(&m.cluster, "taking a machine")?;
        if let Some(holder) = self.active_machine(&m.system_id)? {
            return Err(StoreError::MachineTaken {
                system_id: m.system_id.clone(),
                cluster: holder.cluster.to_string(),
            });
        }
        let now = time_text(self.now());
        self.conn()
            .execute(
                "INSERT INTO machines (cluster, pool, system_id, hostname, role, state, maas_status,
                                       ip, generation, created, updated, released_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, NULL)",
                params![
                    m.cluster,
                    m.pool,
                    m.system_id,
                    m.hostname,
                    m.role,
                    m.state,
                    m.maas_status,
                    m.ip,
                    m.generation,
                    now
                ],
            )
            .map_err(|e| {
                // The check above runs in the same write transaction, so this is a backstop.
                if is_unique_violation(&e) {
                    StoreError::MachineTaken {
                        system_id: m.system_id.clone(),
                        cluster: "another cluster".into(),
                    }
                } else {
                    db_err(format!("recording machine {}", m.system_id))(e)
                }
            })?;
        let id = self.conn().last_insert_rowid();
        self.machine_by_row(id)
    }

    fn machine_by_row(&self, id: i64) -> Result<MachineRow, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM machines WHERE id = ?1"),
                [id],
                from_row,
            )
            .map_err(db_err(format!("reading machine row {id}")))
    }

    /// The active row for MAAS machine `system_id`, if kubemaas holds it.
    pub fn active_machine(&self, system_id: &str) -> Result<Option<MachineRow>, StoreError> {
        self.conn()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM machines WHERE system_id = ?1 AND released_at IS NULL"
                ),
                [system_id],
                from_row,
            )
            .optional()
            .map_err(db_err(format!("reading machine {system_id}")))
    }

    /// A cluster's machines in the order they were taken; released ones only when asked.
    pub fn machines(
        &self,
        cluster: &ClusterId,
        include_released: bool,
    ) -> Result<Vec<MachineRow>, StoreError> {
        let what = format!("listing the machines of cluster {cluster}");
        let filter = if include_released {
            ""
        } else {
            "AND released_at IS NULL"
        };
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM machines WHERE cluster = ?1 {filter} ORDER BY id"
            ))
            .map_err(db_err(what.clone()))?;
        let rows = stmt
            .query_map([cluster], from_row)
            .map_err(db_err(what.clone()))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// Every machine kubemaas holds, across clusters (for the leak check).
    pub fn all_active_machines(&self) -> Result<Vec<MachineRow>, StoreError> {
        let what = "listing the machines kubemaas holds";
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM machines WHERE released_at IS NULL ORDER BY id"
            ))
            .map_err(db_err(what))?;
        let rows = stmt.query_map([], from_row).map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// Changes the given fields of the active machine `system_id`.
    pub fn update_machine(
        &self,
        system_id: &str,
        u: &MachineUpdate,
    ) -> Result<MachineRow, StoreError> {
        self.conn()
            .execute(
                "UPDATE machines SET state = COALESCE(?2, state),
                                     maas_status = COALESCE(?3, maas_status),
                                     hostname = COALESCE(?4, hostname),
                                     ip = COALESCE(?5, ip),
                                     updated = ?6
                 WHERE system_id = ?1 AND released_at IS NULL",
                params![
                    system_id,
                    u.state,
                    u.maas_status,
                    u.hostname,
                    u.ip,
                    time_text(self.now())
                ],
            )
            .map_err(db_err(format!("updating machine {system_id}")))?;
        self.active_machine(system_id)?
            .ok_or_else(|| not_active(system_id))
    }

    /// Records that the machine went back to MAAS; its row stays as history and the
    /// `system_id` is free to be taken again.
    pub fn release_machine(&self, system_id: &str) -> Result<MachineRow, StoreError> {
        let row = self
            .active_machine(system_id)?
            .ok_or_else(|| not_active(system_id))?;
        let now = time_text(self.now());
        self.conn()
            .execute(
                "UPDATE machines SET released_at = ?2, updated = ?2 WHERE id = ?1",
                params![row.id, now],
            )
            .map_err(db_err(format!("releasing machine {system_id}")))?;
        self.machine_by_row(row.id)
    }
}
