//! The scriptable command line. Every command talks to MAAS or the engine through the same
//! interfaces the console uses; output is a table for people or `-o json|yaml` for scripts.

pub mod account_cmd;
pub mod cluster_cmd;
pub mod gateway_cmd;
pub mod maas_cmd;
pub mod output;
pub mod profile_cmd;
pub mod secret_arg;
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
    /// Console colour theme: dark (default), light, high-contrast, or NAME for
    /// CONFIG_DIR/themes/NAME.yaml. NO_COLOR switches colours off whatever the theme.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Open the console read-only: destructive actions are hidden and refused.
    #[arg(long)]
    pub readonly: bool,
    /// Open the console on this paired gateway (`local`: the embedded engine, the default).
    #[arg(long, value_name = "NAME")]
    pub gateway: Option<String>,
    /// Let the console capture the mouse (off by default: capture stops text selection).
    #[arg(long)]
    pub mouse: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a simulated MAAS region on loopback (for demos, rehearsals and tests).
    Sim(sim_cmd::SimArgs),
    /// Read a MAAS region directly: machines, zones, pools, version.
    Maas(maas_cmd::MaasArgs),
    /// Cloud accounts: the MAAS regions clusters are built on (add, list, show, validate,
    /// set-key, delete, audit, release).
    Account(account_cmd::AccountArgs),
    /// Cluster profiles: the software layers a cluster runs (list, show, import).
    Profile(profile_cmd::ProfileArgs),
    /// Gateways: set one up and run it (init, run, pairing-code), or pair this console with
    /// one and manage it (pair, list, show, unpair, delete).
    Gateway(gateway_cmd::GatewayArgs),
    /// Create, follow, scale and delete Kubernetes clusters on MAAS.
    Cluster(cluster_cmd::ClusterArgs),
}
