//! Where the console's data comes from. Screens see only the plain rows defined here, never
//! HTTP or MAAS wire types, so the engine can replace [`MaasSource`] later without touching a
//! screen, and every screen can be tested from hand-built rows.

use crate::maas::{MaasClient, MaasError, Machine, MachineFilter, NodeStatus};
use std::future::Future;

/// Which MAAS the console is looking at, for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaasIdentity {
    /// The region URL, as the operator gave it.
    pub endpoint: String,
    pub version: String,
    pub user: String,
}

/// One machine of the MAAS inventory, as the Machines screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineRow {
    pub system_id: String,
    pub hostname: String,
    pub status: NodeStatus,
    pub zone: String,
    pub pool: String,
    pub cores: u32,
    /// MiB, as MAAS reports it.
    pub memory_mib: u64,
    /// Physical disks, largest first, in decimal GB.
    pub disks_gb: Vec<u64>,
    pub tags: Vec<String>,
    pub owner: Option<String>,
}

impl MachineRow {
    /// Memory in GiB, for display.
    pub fn memory_gib(&self) -> f64 {
        self.memory_mib as f64 / 1024.0
    }

    /// "2×960G" style summary of the disks.
    pub fn disks_label(&self) -> String {
        match self.disks_gb.as_slice() {
            [] => "-".to_string(),
            [one] => format!("{one}G"),
            [first, rest @ ..] if rest.iter().all(|d| d == first) => {
                format!("{}×{first}G", rest.len() + 1)
            }
            many => many
                .iter()
                .map(|d| format!("{d}G"))
                .collect::<Vec<_>>()
                .join("+"),
        }
    }

    /// The sum of the disks, for sorting.
    pub fn disks_total_gb(&self) -> u64 {
        self.disks_gb.iter().sum()
    }
}

impl From<&Machine> for MachineRow {
    fn from(m: &Machine) -> Self {
        MachineRow {
            system_id: m.system_id.clone(),
            hostname: m.hostname.clone(),
            status: m.status,
            zone: m.zone.name.clone(),
            pool: m.pool_name().to_string(),
            cores: m.cpu_count,
            memory_mib: m.memory,
            disks_gb: m.disk_sizes_gb(),
            tags: m.tag_names.clone(),
            owner: m.owner.clone().filter(|o| !o.is_empty()),
        }
    }
}

/// A failed load, worded for the operator (what failed and what to do). Never holds secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
}

impl From<MaasError> for SourceError {
    fn from(e: MaasError) -> Self {
        // MaasError's texts already scrub the API key and say how to fix the problem.
        SourceError {
            message: e.to_string(),
        }
    }
}

/// What the console needs from whoever knows about MAAS. Futures are `Send` so loads run on
/// their own tasks and answer the event loop by message; the render path never awaits them.
pub trait ConsoleSource: Send + Sync + 'static {
    /// The MAAS region, its version and the user the console acts as.
    fn identify(&self) -> impl Future<Output = Result<MaasIdentity, SourceError>> + Send;
    /// Every machine the user may see.
    fn list_machines(&self) -> impl Future<Output = Result<Vec<MachineRow>, SourceError>> + Send;
}

/// The console over a MAAS client (until the engine provides its own interface).
#[derive(Debug, Clone)]
pub struct MaasSource {
    client: MaasClient,
}

impl MaasSource {
    pub fn new(client: MaasClient) -> Self {
        MaasSource { client }
    }
}

impl ConsoleSource for MaasSource {
    async fn identify(&self) -> Result<MaasIdentity, SourceError> {
        let (version, user) = self.client.identify().await?;
        Ok(MaasIdentity {
            endpoint: self.client.endpoint().to_string(),
            version: version.version,
            user: user.username,
        })
    }

    async fn list_machines(&self) -> Result<Vec<MachineRow>, SourceError> {
        let machines = self.client.machines(&MachineFilter::default()).await?;
        Ok(machines.iter().map(MachineRow::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(disks: &[u64]) -> MachineRow {
        MachineRow {
            system_id: "abc".into(),
            hostname: "h".into(),
            status: NodeStatus::Ready,
            zone: "z".into(),
            pool: "p".into(),
            cores: 4,
            memory_mib: 8192,
            disks_gb: disks.to_vec(),
            tags: vec![],
            owner: None,
        }
    }

    #[test]
    fn disk_labels() {
        assert_eq!(row(&[]).disks_label(), "-");
        assert_eq!(row(&[960]).disks_label(), "960G");
        assert_eq!(row(&[960, 960]).disks_label(), "2×960G");
        assert_eq!(row(&[1920, 480]).disks_label(), "1920G+480G");
        assert_eq!(row(&[1920, 480]).disks_total_gb(), 2400);
        assert_eq!(row(&[]).memory_gib(), 8.0);
    }
}
