//! `kubemaas sim`: serve a simulated MAAS region on loopback until stopped.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Number of machines to generate (ignored with --inventory).
    #[arg(long, default_value_t = 50)]
    pub machines: usize,
    /// Load machines from a JSON dump of a real MAAS (the output of GET machines/).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Seed for the generated fleet and for fault injection.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Virtual-clock speed: 60 makes a 10-minute deployment take 10 seconds.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Fraction (0..=1) of deployments that end in "Failed deployment".
    #[arg(long, default_value_t = 0.0)]
    pub fail_deploy_rate: f64,
    /// Fraction (0..=1) of API requests answered with HTTP 503.
    #[arg(long, default_value_t = 0.0)]
    pub http_error_rate: f64,
    /// Latency added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Print MAAS_URL=… and MAAS_API_KEY=… once listening, one per line.
    #[arg(long)]
    pub print_env: bool,
}

pub async fn run(args: SimArgs) -> color_eyre::Result<()> {
    let _ = args;
    color_eyre::eyre::bail!("`kubemaas sim` is being built")
}
