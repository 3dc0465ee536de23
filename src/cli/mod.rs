//! The scriptable command line. Every command talks to MAAS or the engine through the same
//! interfaces the console uses; output is a table for people or `-o json|yaml` for scripts.

pub mod cluster_cmd;
pub mod maas_cmd;
pub mod output;
pub mod sim_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Deploy and run bare-metal Kubernetes clusters on Canonical MAAS.
#[derive(Debug, Parser)]
#[command(name = "kubemaas", version, about, propagate_version = true)]
pub struct Cli {
    /// Where kubemaas keeps its state (database, keys, logs).
    #[arg(long, env = "KUBEMAAS_STATE_DIR", value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Run against an in-process simulated MAAS with a seeded fleet and a throw-away state dir.
    #[arg(long)]
    pub demo: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a simulated MAAS region on loopback (for demos, rehearsals and tests).
    Sim(sim_cmd::SimArgs),
    /// Read a MAAS region directly: machines, zones, pools, version.
    Maas(maas_cmd::MaasArgs),
    /// Create, follow, scale and delete Kubernetes clusters on MAAS.
    Cluster(cluster_cmd::ClusterArgs),
}
