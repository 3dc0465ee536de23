//! `kubemaas maas …`: read a MAAS region directly (machines, zones, pools, version).

use super::output::OutputFormat;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// How to reach a MAAS region: flags first, then MAAS_URL / MAAS_API_KEY from the environment.
#[derive(Debug, Clone, Args)]
pub struct MaasConnArgs {
    /// MAAS region URL, e.g. http://maas.example:5240/MAAS
    #[arg(long, env = "MAAS_URL", global = true)]
    pub endpoint: Option<String>,
    /// MAAS API key consumer_key:token_key:token_secret (never printed)
    #[arg(long, env = "MAAS_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
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

pub async fn run(args: MaasArgs) -> color_eyre::Result<()> {
    let _ = args;
    color_eyre::eyre::bail!("`kubemaas maas` is being built")
}
