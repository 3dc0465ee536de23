//! `kubemaas maas …`: read a MAAS region (machines, zones, pools, version): directly with
//! --endpoint / MAAS_URL, through a stored cloud account (`--account NAME`), or through a paired
//! gateway (`--gateway NAME`), which asks its MAAS itself so the key never leaves it.

use super::output::{print_structured, OutputFormat, Table};
use super::secret_arg::SecretArg;
use crate::accounts::connect::{client_for, Patience};
use crate::cli::output::{say_err, say_inline};
use crate::gateway::protocol::MachineSummary;
use crate::gateway::remote::RemoteEngine;
use crate::maas::{
    ApiKey, ApiKeyError, Endpoint, EndpointError, MaasClient, MaasConfig, Machine, MachineFilter,
    ResourcePool, TlsOptions, User, Version, Zone,
};
use crate::store::Store;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How to reach a MAAS region: flags first, then MAAS_URL / MAAS_API_KEY from the environment.
#[derive(Debug, Clone, Args)]
pub struct MaasConnArgs {
    /// MAAS region URL, e.g. http://maas.example:5240/MAAS
    #[arg(long, env = "MAAS_URL", global = true)]
    pub endpoint: Option<String>,
    /// MAAS API key consumer_key:token_key:token_secret (never printed)
    #[arg(long, env = "MAAS_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<SecretArg>,
    /// PEM file with the CA that signed the MAAS region's TLS certificate.
    #[arg(long, value_name = "FILE", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the MAAS TLS certificate. Dangerous: anyone on the path can read the API key.
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MaasArgs {
    #[command(subcommand)]
    pub command: MaasCommand,
    #[command(flatten)]
    pub conn: MaasConnArgs,
    /// Read the MAAS of this stored cloud account (on --gateway: of that gateway's account;
    /// default there: the gateway's default account). Wins over --endpoint / MAAS_URL.
    #[arg(long, value_name = "NAME", global = true)]
    pub account: Option<String>,
    /// Ask this paired gateway (`kubemaas gateway list`) instead of MAAS directly; `local` is
    /// this host.
    #[arg(long, value_name = "NAME", global = true)]
    pub gateway: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MaasCommand {
    /// List machines (hostname, status, zone, pool, cores, memory, disks, tags, owner).
    Machines,
    /// List availability zones.
    Zones,
    /// List resource pools.
    Pools,
    /// Show the MAAS version and who the API key belongs to.
    Version,
}

/// Why the connection flags / environment do not describe a MAAS region to talk to.
#[derive(Debug, thiserror::Error)]
pub enum ConnArgsError {
    #[error("no MAAS endpoint given: pass --endpoint URL or set MAAS_URL (like http://maas.example:5240/MAAS)")]
    MissingEndpoint,
    #[error("the MAAS endpoint from --endpoint / MAAS_URL is invalid: {0}")]
    Endpoint(#[from] EndpointError),
    #[error("no MAAS API key given: pass --api-key KEY or set MAAS_API_KEY (copy it from the MAAS UI: your user > API keys)")]
    MissingApiKey,
    #[error("the MAAS API key from --api-key / MAAS_API_KEY is invalid: {0}")]
    ApiKey(#[from] ApiKeyError),
}

/// The client configuration the flags (or MAAS_URL / MAAS_API_KEY) describe.
pub fn client_config(conn: &MaasConnArgs) -> Result<MaasConfig, ConnArgsError> {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let endpoint = given(&conn.endpoint).ok_or(ConnArgsError::MissingEndpoint)?;
    let endpoint = Endpoint::parse(&endpoint)?;
    let key = given(&conn.api_key.as_ref().map(|k| k.expose().to_string()))
        .ok_or(ConnArgsError::MissingApiKey)?;
    let key: ApiKey = key.parse()?;
    let mut config = MaasConfig::new(endpoint, key);
    config.tls = TlsOptions {
        ca_cert: conn.ca_cert.clone(),
        insecure_skip_tls_verify: conn.insecure_skip_tls_verify,
    };
    Ok(config)
}

pub async fn run(args: MaasArgs, state_dir: &Path) -> color_eyre::Result<()> {
    let gateway = args
        .gateway
        .as_deref()
        .filter(|g| *g != crate::model::account::LOCAL_GATEWAY);
    if let Some(gateway) = gateway {
        return run_on_gateway(&args, gateway, state_dir).await;
    }
    let client = match &args.account {
        Some(name) => {
            let store = Store::open(state_dir)?;
            let row = store.read(|r| r.account(name))?;
            client_for(state_dir, &row, Patience::Work)?
        }
        None => {
            let config = client_config(&args.conn)?;
            if config.tls.insecure_skip_tls_verify {
                say_err!(
                    "WARNING: TLS verification of MAAS is off (--insecure-skip-tls-verify): anyone \
                     on the network path can read the API key. Use --ca-cert FILE instead."
                );
            }
            MaasClient::new(config)?
        }
    };
    let format = args.output;
    match args.command {
        MaasCommand::Machines => {
            let machines = client.machines(&MachineFilter::default()).await?;
            emit(format, &machines, || render_machines(&machines))
        }
        MaasCommand::Zones => {
            let zones = client.zones().await?;
            emit(format, &zones, || render_zones(&zones))
        }
        MaasCommand::Pools => {
            let pools = client.resource_pools().await?;
            emit(format, &pools, || render_pools(&pools))
        }
        MaasCommand::Version => {
            let (version, user) = client.identify().await?;
            let report = VersionReport { version, user };
            emit(format, &report, || render_version(&report))
        }
    }
}

/// The same questions through a paired gateway: it answers from its own MAAS account.
async fn run_on_gateway(
    args: &MaasArgs,
    gateway: &str,
    state_dir: &Path,
) -> color_eyre::Result<()> {
    let store = Store::open(state_dir)?;
    let remote = RemoteEngine::connect(&store, gateway)?;
    let account = match &args.account {
        Some(a) => a.clone(),
        None => remote.info().await?.default_account,
    };
    let format = args.output;
    match args.command {
        MaasCommand::Machines => {
            let machines = remote.machines(&account).await?;
            emit(format, &machines, || render_machine_summaries(&machines))
        }
        MaasCommand::Zones => {
            let zones = remote.maas_snapshot(&account).await?.zones;
            emit(format, &zones, || render_zones(&zones))
        }
        MaasCommand::Pools => {
            let pools = remote.maas_snapshot(&account).await?.pools;
            emit(format, &pools, || render_pools(&pools))
        }
        MaasCommand::Version => {
            let id = remote.maas_identity(&account).await?;
            emit(format, &id, || {
                let mut t = Table::new(["MAAS VERSION", "USER", "ENDPOINT"]);
                t.row([id.version.clone(), id.user.clone(), id.endpoint.clone()]);
                t.render()
            })
        }
    }
}

fn emit<T: Serialize + ?Sized>(
    format: OutputFormat,
    value: &T,
    table: impl FnOnce() -> String,
) -> color_eyre::Result<()> {
    match format {
        OutputFormat::Table => {
            say_inline!("{}", table());
            Ok(())
        }
        _ => print_structured(format, value),
    }
}

/// `kubemaas maas version`: the region's version and whose key this is.
#[derive(Debug, Clone, Serialize)]
pub struct VersionReport {
    #[serde(flatten)]
    pub version: Version,
    pub user: User,
}

const MACHINE_COLUMNS: [&str; 10] = [
    "HOSTNAME",
    "SYSTEM_ID",
    "STATUS",
    "ZONE",
    "POOL",
    "CORES",
    "MEMORY (GiB)",
    "DISKS",
    "TAGS",
    "OWNER",
];

/// HOSTNAME SYSTEM_ID STATUS ZONE POOL CORES MEMORY (GiB) DISKS TAGS OWNER.
pub fn render_machines(machines: &[Machine]) -> String {
    let rows: Vec<MachineSummary> = machines.iter().cloned().map(MachineSummary::from).collect();
    render_machine_summaries(&rows)
}

/// The machines a gateway reports, in the same columns as [`render_machines`].
pub fn render_machine_summaries(machines: &[MachineSummary]) -> String {
    let mut t = Table::new(MACHINE_COLUMNS);
    for m in machines {
        t.row([
            m.hostname.clone(),
            m.system_id.clone(),
            m.status.clone(),
            m.zone.clone(),
            // MAAS puts a machine with no pool in `default`.
            m.pool.clone().unwrap_or_else(|| "default".to_string()),
            m.cpu_count.to_string(),
            gib(m.memory),
            disks(&m.disks_gb),
            dash_if_empty(m.tags.join(",")),
            dash_if_empty(m.owner.clone().unwrap_or_default()),
        ]);
    }
    t.render()
}

pub fn render_zones(zones: &[Zone]) -> String {
    let mut t = Table::new(["NAME", "DESCRIPTION"]);
    for z in zones {
        t.row([z.name.clone(), z.description.clone()]);
    }
    t.render()
}

pub fn render_pools(pools: &[ResourcePool]) -> String {
    let mut t = Table::new(["NAME", "DESCRIPTION"]);
    for p in pools {
        t.row([p.name.clone(), p.description.clone()]);
    }
    t.render()
}

pub fn render_version(report: &VersionReport) -> String {
    let v = &report.version;
    let version = if v.subversion.is_empty() {
        v.version.clone()
    } else {
        format!("{} ({})", v.version, v.subversion)
    };
    let role = if report.user.is_superuser {
        "admin"
    } else {
        "user"
    };
    let mut t = Table::new(["MAAS VERSION", "USER", "ROLE"]);
    t.row([version, report.user.username.clone(), role.to_string()]);
    t.render()
}

fn dash_if_empty(s: String) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s
    }
}

/// MiB as GiB: whole numbers plain, others with one decimal.
fn gib(mib: u64) -> String {
    let g = mib as f64 / 1024.0;
    if (g - g.round()).abs() < 0.05 {
        format!("{:.0}", g)
    } else {
        format!("{g:.1}")
    }
}

/// Disk sizes (largest first) as `2×1000G,500G`.
fn disks(sizes_gb: &[u64]) -> String {
    let mut groups: Vec<(u64, usize)> = Vec::new();
    for &s in sizes_gb {
        match groups.last_mut() {
            Some((size, n)) if *size == s => *n += 1,
            _ => groups.push((s, 1)),
        }
    }
    if groups.is_empty() {
        return "-".to_string();
    }
    groups
        .iter()
        .map(|(size, n)| {
            if *n > 1 {
                format!("{n}×{size}G")
            } else {
                format!("{size}G")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(endpoint: Option<&str>, key: Option<&str>) -> MaasConnArgs {
        MaasConnArgs {
            endpoint: endpoint.map(str::to_string),
            api_key: key.map(|k| k.parse().expect("infallible")),
            ca_cert: None,
            insecure_skip_tls_verify: false,
        }
    }

    #[test]
    fn missing_or_invalid_connection_names_the_flag_and_env_var() {
        let key = "aaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbb:cccccccccccccccccccccccccccccccc";
        let e = client_config(&conn(None, Some(key)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--endpoint") && e.contains("MAAS_URL"), "{e}");
        let e = client_config(&conn(Some("  "), Some(key)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("MAAS_URL"), "{e}");
        let e = client_config(&conn(Some("ftp://x"), Some(key)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--endpoint / MAAS_URL"), "{e}");
        let e = client_config(&conn(Some("http://127.0.0.1:5240/MAAS"), None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--api-key") && e.contains("MAAS_API_KEY"), "{e}");
        let bad = "aaaa:bbbb:cccc:dddd";
        let e = client_config(&conn(Some("http://127.0.0.1:5240/MAAS"), Some(bad)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("MAAS_API_KEY") && !e.contains(bad), "{e}");
        let ok = client_config(&conn(Some("http://127.0.0.1:5240/MAAS"), Some(key))).unwrap();
        assert_eq!(
            ok.endpoint.api_base().as_str(),
            "http://127.0.0.1:5240/MAAS/api/2.0/"
        );
    }

    #[test]
    fn memory_and_disks_are_compact() {
        assert_eq!(gib(16384), "16");
        assert_eq!(gib(1536), "1.5");
        assert_eq!(disks(&[1000, 1000, 500]), "2×1000G,500G");
        assert_eq!(disks(&[]), "-");
    }

    #[test]
    fn machines_table_has_the_documented_columns() {
        let m: Machine = serde_json::from_value(serde_json::json!({
            "system_id": "abc123", "hostname": "node-1", "status": 4, "status_name": "Ready",
            "cpu_count": 8, "memory": 32768, "zone": {"name": "az1"},
            "pool": {"name": "k8s"}, "tag_names": ["ssd", "gpu"], "owner": null,
            "physicalblockdevice_set": [{"name": "sda", "size": 500107862016u64}]
        }))
        .unwrap();
        let out = render_machines(&[m]);
        let mut lines = out.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap()
            .split("  ")
            .filter(|s| !s.is_empty())
            .map(str::trim)
            .collect();
        assert_eq!(
            header,
            [
                "HOSTNAME",
                "SYSTEM_ID",
                "STATUS",
                "ZONE",
                "POOL",
                "CORES",
                "MEMORY (GiB)",
                "DISKS",
                "TAGS",
                "OWNER"
            ]
        );
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            row,
            ["node-1", "abc123", "Ready", "az1", "k8s", "8", "32", "500G", "ssd,gpu", "-"]
        );
    }
}
