//! Clusters: the desired spec (with a generation that moves on every change) and the observed
//! status the engine reports. Rows are never removed, only marked deleted.

use super::codec::{col_json, col_opt_time, col_time, from_json_value, time_text, to_json_text};
use super::enums::ClusterPhase;
use super::error::{db_err, is_unique_violation, StoreError};
use super::ids::ClusterId;
use super::named::non_empty;
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A stored cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRow {
    pub id: ClusterId,
    pub name: String,
    pub account: String,
    /// The desired state, as the model wrote it.
    pub spec: Value,
    /// Moves by one on every spec change.
    pub spec_generation: i64,
    /// The spec generation the engine last reconciled (0: never).
    pub observed_generation: i64,
    pub phase: ClusterPhase,
    pub reason: Option<String>,
    /// The engine's observed status; JSON `null` until it reports one.
    pub status: Value,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl ClusterRow {
    /// The spec as the caller's type.
    pub fn spec_as<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        from_json_value(&self.spec, &format!("the spec of cluster {}", self.name))
    }

    /// The observed status as the caller's type.
    pub fn status_as<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        from_json_value(
            &self.status,
            &format!("the status of cluster {}", self.name),
        )
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

const COLUMNS: &str = "id, name, account, spec, spec_generation, observed_generation, phase, \
                       reason, status, created, updated, deleted_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ClusterRow> {
    Ok(ClusterRow {
        id: row.get("id")?,
        name: row.get("name")?,
        account: row.get("account")?,
        spec: col_json(row, "spec")?,
        spec_generation: row.get("spec_generation")?,
        observed_generation: row.get("observed_generation")?,
        phase: row.get("phase")?,
        reason: row.get("reason")?,
        status: col_json(row, "status")?,
        created: col_time(row, "created")?,
        updated: col_time(row, "updated")?,
        deleted_at: col_opt_time(row, "deleted_at")?,
    })
}

fn not_found(key: &str) -> StoreError {
    StoreError::NotFound {
        kind: "cluster",
        key: key.to_string(),
        hint: "list the clusters with `kubemaas cluster list`",
    }
}

/// How many fresh ids to try before giving up: a second collision in 32 random bits means the
/// random source is broken, not bad luck.
const ID_ATTEMPTS: usize = 4;

impl Tx<'_> {
    /// Records a new cluster in phase `Pending` with spec generation 1, under a fresh id. The
    /// name must be unused among live clusters and the account must exist.
    pub fn create_cluster<T: Serialize + ?Sized>(
        &self,
        name: &str,
        account: &str,
        spec: &T,
    ) -> Result<ClusterRow, StoreError> {
        non_empty("cluster name", name)?;
        self.account(account)?;
        if let Some(existing) = self.cluster_by_name(name)? {
            return Err(StoreError::Duplicate {
                kind: "cluster",
                key: name.to_string(),
                hint: if existing.phase == ClusterPhase::Deleting {
                    "it is being deleted: wait for that, or pick another name"
                } else {
                    "pick another name, or delete the existing cluster first"
                },
            });
        }
        let spec = to_json_text(spec, &format!("the spec of cluster {name}"))?;
        let now = time_text(self.now());
        let mut rng = rand::rng();
        for _ in 0..ID_ATTEMPTS {
            let id = ClusterId::generate(&mut rng);
            let inserted = self.conn().execute(
                &format!(
                    "INSERT INTO clusters ({COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, 1, 0, ?5, NULL, NULL, ?6, ?6, NULL)"
                ),
                params![id, name, account, spec, ClusterPhase::Pending, now],
            );
            match inserted {
                Ok(_) => return self.cluster(&id),
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(db_err(format!("recording cluster {name}"))(e)),
            }
        }
        Err(StoreError::Invalid {
            what: "cluster id",
            reason: format!("{ID_ATTEMPTS} random ids in a row were already taken: the system's random source looks broken"),
        })
    }

    /// The cluster with this id (live or deleted).
    pub fn cluster(&self, id: &ClusterId) -> Result<ClusterRow, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM clusters WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(db_err(format!("reading cluster {id}")))?
            .ok_or_else(|| not_found(id.as_str()))
    }

    /// The live cluster called `name`, if any.
    pub fn cluster_by_name(&self, name: &str) -> Result<Option<ClusterRow>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM clusters WHERE name = ?1 AND deleted_at IS NULL"),
                [name],
                from_row,
            )
            .optional()
            .map_err(db_err(format!("reading cluster {name}")))
    }

    /// The cluster an operator means by `key`: a live cluster's name, or any cluster's id.
    /// Names win, so a cluster named like an id is still reachable by its name.
    pub fn resolve_cluster(&self, key: &str) -> Result<ClusterRow, StoreError> {
        if let Some(c) = self.cluster_by_name(key)? {
            return Ok(c);
        }
        match ClusterId::parse(key) {
            Ok(id) => self.cluster(&id),
            Err(_) => Err(not_found(key)),
        }
    }

    /// Clusters by name (then age); deleted ones only when asked.
    pub fn clusters(&self, include_deleted: bool) -> Result<Vec<ClusterRow>, StoreError> {
        let what = "listing clusters";
        let filter = if include_deleted {
            ""
        } else {
            "WHERE deleted_at IS NULL"
        };
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM clusters {filter} ORDER BY name, created, id"
            ))
            .map_err(db_err(what))?;
        let rows = stmt.query_map([], from_row).map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// Replaces a live cluster's spec and returns the new generation. With
    /// `expected_generation`, the change applies only if nobody changed the spec since that
    /// generation was read (two operators editing at once: the second one is told).
    pub fn update_cluster_spec<T: Serialize + ?Sized>(
        &self,
        id: &ClusterId,
        spec: &T,
        expected_generation: Option<i64>,
    ) -> Result<i64, StoreError> {
        let current = self.live_cluster(id, "changing the spec")?;
        if let Some(expected) = expected_generation {
            if expected != current.spec_generation {
                return Err(StoreError::GenerationConflict {
                    id: id.to_string(),
                    expected,
                    actual: current.spec_generation,
                });
            }
        }
        let spec = to_json_text(spec, &format!("the spec of cluster {}", current.name))?;
        let next = current.spec_generation + 1;
        self.conn()
            .execute(
                "UPDATE clusters SET spec = ?2, spec_generation = ?3, updated = ?4 WHERE id = ?1",
                params![id, spec, next, time_text(self.now())],
            )
            .map_err(db_err(format!("changing the spec of cluster {id}")))?;
        Ok(next)
    }

    /// Sets a cluster's observed phase and its reason (`None` clears the reason).
    pub fn set_cluster_phase(
        &self,
        id: &ClusterId,
        phase: ClusterPhase,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        if phase == ClusterPhase::Deleted {
            return Err(StoreError::Invalid {
                what: "cluster phase",
                reason:
                    "Deleted is set by mark_cluster_deleted, which checks that no machine remains"
                        .into(),
            });
        }
        self.live_cluster(id, "changing the phase")?;
        self.conn()
            .execute(
                "UPDATE clusters SET phase = ?2, reason = ?3, updated = ?4 WHERE id = ?1",
                params![id, phase, reason, time_text(self.now())],
            )
            .map_err(db_err(format!("changing the phase of cluster {id}")))?;
        Ok(())
    }

    /// Stores the engine's observed status and the spec generation it reflects.
    pub fn set_cluster_status<T: Serialize + ?Sized>(
        &self,
        id: &ClusterId,
        status: &T,
        observed_generation: i64,
    ) -> Result<(), StoreError> {
        let current = self.live_cluster(id, "reporting status")?;
        if observed_generation < 0 || observed_generation > current.spec_generation {
            return Err(StoreError::Invalid {
                what: "observed generation",
                reason: format!(
                    "{observed_generation} is outside 0..={} for cluster {id}",
                    current.spec_generation
                ),
            });
        }
        let status = to_json_text(status, &format!("the status of cluster {}", current.name))?;
        // Unchanged status writes nothing (`updated` keeps the time of the last change): the
        // engine reports status every pass, and on a replicated store every write is a log entry.
        self.conn()
            .execute(
                "UPDATE clusters SET status = ?2, observed_generation = ?3, updated = ?4 \
                 WHERE id = ?1 AND (status IS NOT ?2 OR observed_generation IS NOT ?3)",
                params![id, status, observed_generation, time_text(self.now())],
            )
            .map_err(db_err(format!("reporting the status of cluster {id}")))?;
        Ok(())
    }

    /// Marks a cluster deleted (phase `Deleted`, name free for reuse). Refused while any machine
    /// taken from MAAS is still recorded as active for it: those must be released first.
    pub fn mark_cluster_deleted(&self, id: &ClusterId) -> Result<(), StoreError> {
        self.live_cluster(id, "marking it deleted")?;
        let active = self.machines(id, false)?;
        if !active.is_empty() {
            let mut sample: Vec<&str> = active
                .iter()
                .take(5)
                .map(|m| m.system_id.as_str())
                .collect();
            if active.len() > sample.len() {
                sample.push("…");
            }
            return Err(StoreError::MachinesRemain {
                id: id.to_string(),
                count: active.len(),
                sample: sample.join(", "),
            });
        }
        let now = time_text(self.now());
        self.conn()
            .execute(
                "UPDATE clusters SET phase = ?2, deleted_at = ?3, updated = ?3 WHERE id = ?1",
                params![id, ClusterPhase::Deleted, now],
            )
            .map_err(db_err(format!("marking cluster {id} deleted")))?;
        Ok(())
    }

    /// The cluster, refusing a deleted one for `what`.
    pub(crate) fn live_cluster(
        &self,
        id: &ClusterId,
        what: &'static str,
    ) -> Result<ClusterRow, StoreError> {
        let c = self.cluster(id)?;
        if c.is_deleted() {
            return Err(StoreError::ClusterDeleted {
                id: id.to_string(),
                what,
            });
        }
        Ok(c)
    }
}
