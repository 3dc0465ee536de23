//! `kubemaas sim`: serve a simulated MAAS region on loopback until stopped.

use crate::sim::{self, inventory, SimConfig};
use clap::Args;
use color_eyre::eyre::{bail, WrapErr};
use std::io::Write;
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
    /// Accept OAuth timestamps of any age and reused nonces (for replaying captured requests).
    #[arg(long)]
    pub no_replay_checks: bool,
}

/// Turns the flags into a simulator configuration, with errors that name the flag.
pub fn config_from(args: &SimArgs) -> color_eyre::Result<SimConfig> {
    for (flag, value) in [
        ("--fail-deploy-rate", args.fail_deploy_rate),
        ("--http-error-rate", args.http_error_rate),
    ] {
        if !(0.0..=1.0).contains(&value) {
            bail!("{flag} must be a fraction between 0 and 1 (e.g. 0.1 for 10%), not {value}");
        }
    }
    if !args.speed.is_finite() || args.speed < 0.0 {
        bail!(
            "--speed must be a number ≥ 0 (0 freezes the virtual clock, 60 runs a virtual minute per second), not {}",
            args.speed
        );
    }
    let base = match &args.inventory {
        Some(path) => {
            let inv = inventory::load_file(path).wrap_err_with(|| {
                format!("--inventory {}: cannot use this file", path.display())
            })?;
            SimConfig::with_inventory(inv)
        }
        None => SimConfig::generated(args.machines, args.seed),
    };
    Ok(base
        .seed(args.seed)
        .listen(args.listen)
        .speed(args.speed)
        .fail_deploy_rate(args.fail_deploy_rate)
        .http_error_rate(args.http_error_rate)
        .latency_ms(args.latency_ms)
        .check_timestamps(!args.no_replay_checks)
        .check_nonces(!args.no_replay_checks))
}

pub async fn run(args: SimArgs) -> color_eyre::Result<()> {
    let config = config_from(&args)?;
    let sim = sim::start(config).await?;
    let machines = sim.with_region(|r| r.machines.len());
    let key = sim.api_key().expose();
    {
        let mut out = std::io::stdout().lock();
        if args.print_env {
            writeln!(out, "MAAS_URL={}", sim.url())?;
            writeln!(out, "MAAS_API_KEY={key}")?;
        } else {
            writeln!(
                out,
                "kubemaas sim: a simulated MAAS region with {machines} machines is listening."
            )?;
            writeln!(out, "  URL:     {}", sim.url())?;
            writeln!(
                out,
                "  clock:   {}x real time (control API at {})",
                args.speed,
                sim.control_url()
            )?;
            writeln!(out, "Point kubemaas (or any MAAS client) at it:")?;
            writeln!(out, "  export MAAS_URL={}", sim.url())?;
            writeln!(out, "  export MAAS_API_KEY={key}")?;
            writeln!(out, "  kubemaas maas machines")?;
            writeln!(out, "Stop with Ctrl-C.")?;
        }
        out.flush()?;
    }
    wait_for_stop().await?;
    tracing::info!("stopping the simulated MAAS");
    sim.shutdown().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn wait_for_stop() -> color_eyre::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .wrap_err("cannot listen for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.wrap_err("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .wrap_err("cannot listen for Ctrl-C")?;
    Ok(())
}
