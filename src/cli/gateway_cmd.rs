//! `kubemaas gateway …`: set up and run a gateway (init, run, pairing-code) and, on a console,
//! pair with gateways and manage them (pair, list, show, unpair, delete).

use super::output::{print_structured, OutputFormat, Table};
use crate::engine::{ClusterView, EmbeddedEngine, EngineConfig};
use crate::gateway::admin;
use crate::gateway::client::{self, GatewayClient};
use crate::gateway::clock::SystemClock;
use crate::gateway::config::{self, GatewayConfig, MachineSize};
use crate::gateway::console;
use crate::gateway::journal::{self, JournalFeed};
use crate::gateway::pairing::{Limits, PairingCode, Pairings, CODE_LIFETIME};
use crate::gateway::pki::{fingerprint_text, GatewayPki};
use crate::gateway::protocol::CLUSTERS_PATH;
use crate::gateway::protocol::{GatewayInfo, MaasInfo};
use crate::gateway::registry::ConsoleRegistry;
use crate::gateway::server::{GatewayServer, ServerOptions, DEFAULT_HEARTBEAT};
use crate::gateway::{driver, engine_routes, EngineService};
use crate::gateway::{gateway_state_dir, PROTOCOL_VERSION};
use crate::maas::{MaasClient, MaasConfig, TlsOptions};
use crate::model::account::LOCAL_GATEWAY;
use crate::paths::Paths;
use crate::store::{GatewayKind, NewAccount, Store, StoreError};
use clap::{Args, Subcommand};
use color_eyre::eyre::{bail, eyre, WrapErr};
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    #[command(subcommand)]
    pub command: GatewayCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum GatewayCommand {
    /// Write gateway.yaml: asks interactively, or takes --from FILE / flags.
    Init(Box<InitArgs>),
    /// Run this host as a gateway: serve consoles over mutual TLS until Ctrl-C / SIGTERM.
    Run(RunArgs),
    /// Print a new one-time pairing code from the gateway running with this state dir.
    PairingCode,
    /// On the gateway host: list the consoles the running gateway has paired.
    Consoles(OutputArgs),
    /// On the gateway host: shut a paired console out (its next request is refused).
    Revoke(ConsoleNameArgs),
    /// Pair this console with a gateway, using the code the gateway printed.
    Pair(PairArgs),
    /// List gateways: the embedded engine (`local`) and paired gateways.
    List(OutputArgs),
    /// Show one gateway, and ask it how it is when it is paired.
    Show(NameArgs),
    /// Forget this console's pairing with a gateway (keeps its record; pair again later).
    Unpair(NameArgs),
    /// Remove a gateway from this console (refused while clusters run on it).
    Delete(DeleteArgs),
}

fn default_config_help() -> &'static str {
    "gateway.yaml in the config dir (STATE_DIR/config with --state-dir)"
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Where to write gateway.yaml.
    #[arg(short = 'c', long = "config", value_name = "FILE", help = format!("Where to write gateway.yaml [default: {}]", default_config_help()))]
    pub config: Option<PathBuf>,
    /// Take every setting from this gateway.yaml (checked, validated against MAAS, rewritten 0600).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "maas_url"])]
    pub from: Option<PathBuf>,
    /// Replace an existing gateway.yaml.
    #[arg(long)]
    pub force: bool,
    /// Gateway name (a DNS label, like dc1).
    #[arg(long)]
    pub name: Option<String>,
    /// MAAS region URL, like http://maas.example:5240/MAAS.
    #[arg(long, env = "MAAS_URL")]
    pub maas_url: Option<String>,
    /// MAAS API key (never printed; prefer MAAS_API_KEY to keep it out of the process list).
    #[arg(long, env = "MAAS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// PEM file with the CA of an https MAAS.
    #[arg(long, value_name = "FILE")]
    pub maas_ca_file: Option<PathBuf>,
    #[arg(long, value_name = "URL")]
    pub https_proxy: Option<String>,
    #[arg(long, value_name = "URL")]
    pub http_proxy: Option<String>,
    /// Comma-separated hosts, domains, IPs and CIDRs that bypass the proxy.
    #[arg(long, value_name = "LIST")]
    pub no_proxy: Option<String>,
    #[arg(long, value_name = "CIDR")]
    pub pod_cidr: Option<String>,
    #[arg(long, value_name = "CIDR")]
    pub service_cidr: Option<String>,
    /// Availability zone for gateway nodes.
    #[arg(long)]
    pub zone: Option<String>,
    /// Resource pool for gateway nodes.
    #[arg(long)]
    pub pool: Option<String>,
    /// Least CPU cores of a gateway node.
    #[arg(long)]
    pub min_cpu: Option<u64>,
    /// Least memory of a gateway node, MiB.
    #[arg(long)]
    pub min_memory_mib: Option<u64>,
    /// Gateway nodes: 1, or 3 for high availability.
    #[arg(long)]
    pub nodes: Option<u64>,
    /// Where consoles connect, like 0.0.0.0:8443.
    #[arg(long)]
    pub listen: Option<String>,
    /// Extra names/IPs consoles use to reach the gateway (repeatable).
    #[arg(long = "tls-name", value_name = "NAME")]
    pub tls_names: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[arg(short = 'c', long = "config", value_name = "FILE", help = format!("The gateway's configuration [default: {}]", default_config_help()))]
    pub config: Option<PathBuf>,
    /// Listen here instead of gateway.yaml's `listen` (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Milliseconds between reconcile passes (a submitted change starts one at once).
    #[arg(long, default_value_t = 5000, hide = true)]
    pub reconcile_ms: u64,
    /// Milliseconds between heartbeat lines of an idle event stream.
    #[arg(long, default_value_t = DEFAULT_HEARTBEAT.as_millis() as u64, hide = true)]
    pub heartbeat_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    pub name: String,
    /// Delete even when the gateway cannot be asked which clusters it still runs.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PairArgs {
    /// The gateway's HOST:PORT.
    #[arg(long)]
    pub address: String,
    /// The pairing code the gateway printed.
    #[arg(long, env = "KUBEMAAS_PAIRING_CODE", hide_env_values = true)]
    pub code: String,
    /// How this console names the gateway (default: the gateway's own name).
    #[arg(long)]
    pub name: Option<String>,
    /// How the gateway knows this console (default: this host's name).
    #[arg(long)]
    pub console_name: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct ConsoleNameArgs {
    /// The console's name, as `kubemaas gateway consoles` lists it.
    pub console: String,
}

#[derive(Debug, Clone, Args)]
pub struct NameArgs {
    pub name: String,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

pub async fn run(args: GatewayArgs, paths: &Paths) -> color_eyre::Result<()> {
    match args.command {
        GatewayCommand::Init(a) => init(*a, paths).await,
        GatewayCommand::Run(a) => serve(a, paths).await,
        GatewayCommand::PairingCode => pairing_code(paths).await,
        GatewayCommand::Consoles(a) => {
            let consoles = admin::list_consoles(&gateway_state_dir(&paths.state_dir)).await?;
            if a.output != OutputFormat::Table {
                return print_structured(a.output, &consoles);
            }
            let mut table = Table::new(["CONSOLE", "PAIRED", "FROM", "STATE"]);
            for c in &consoles {
                table.row([
                    c.name.clone(),
                    c.paired_at.format("%Y-%m-%d %H:%M").to_string(),
                    c.remote.clone(),
                    match c.revoked_at {
                        Some(t) => format!("revoked {}", t.format("%Y-%m-%d %H:%M")),
                        None => "active".into(),
                    },
                ]);
            }
            print!("{}", table.render());
            Ok(())
        }
        GatewayCommand::Revoke(a) => {
            let n = admin::revoke_console(&gateway_state_dir(&paths.state_dir), &a.console).await?;
            println!(
                "revoked {n} pairing(s) of console {}: its requests are refused from now on",
                a.console
            );
            Ok(())
        }
        GatewayCommand::Pair(a) => pair(a, paths).await,
        GatewayCommand::List(a) => list(a, paths),
        GatewayCommand::Show(a) => show(a, paths).await,
        GatewayCommand::Unpair(a) => {
            let store = Store::open(&paths.state_dir)?;
            console::unpair(&store, &paths.state_dir, &a.name)?;
            println!(
                "unpaired gateway {}: its record stays; pair again with `kubemaas gateway pair`",
                a.name
            );
            Ok(())
        }
        GatewayCommand::Delete(a) => delete(a, paths).await,
    }
}

fn config_path(given: Option<PathBuf>, paths: &Paths) -> PathBuf {
    given.unwrap_or_else(|| paths.config_dir.join("gateway.yaml"))
}

// ---- init ----

/// Reads answers: from a terminal with prompts (secrets without echo), or line by line from
/// whatever stdin is.
struct Prompter {
    tty: bool,
    lines: std::io::StdinLock<'static>,
}

/// Turns terminal echo off while alive (a small no-echo reader: `stty` on the terminal).
struct NoEcho;

impl NoEcho {
    fn start() -> Option<NoEcho> {
        let ok = std::process::Command::new("stty")
            .arg("-echo")
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(NoEcho)
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        let _ = std::process::Command::new("stty")
            .arg("echo")
            .stdin(std::process::Stdio::inherit())
            .status();
    }
}

impl Prompter {
    fn new() -> Self {
        let stdin = std::io::stdin();
        Prompter {
            tty: stdin.is_terminal(),
            lines: stdin.lock(),
        }
    }

    fn line(
        &mut self,
        question: &str,
        default: Option<&str>,
        secret: bool,
    ) -> color_eyre::Result<String> {
        let shown = match default {
            Some(d) if !d.is_empty() => format!("{question} [{d}]: "),
            _ => format!("{question}: "),
        };
        print!("{shown}");
        std::io::stdout().flush()?;
        let _guard = if secret && self.tty {
            NoEcho::start()
        } else {
            None
        };
        let mut answer = String::new();
        let n = self.lines.read_line(&mut answer)?;
        if secret && self.tty {
            println!();
        }
        if n == 0 {
            bail!("the input ended before `{question}` was answered: answer every question, or use `kubemaas gateway init --from FILE`");
        }
        let answer = answer.trim().to_string();
        Ok(match (answer.is_empty(), default) {
            (true, Some(d)) => d.to_string(),
            _ => answer,
        })
    }

    /// Asks until `check` accepts the answer, saying what is wrong each time.
    fn ask<T>(
        &mut self,
        question: &str,
        default: Option<&str>,
        secret: bool,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> color_eyre::Result<T> {
        loop {
            let answer = self.line(question, default, secret)?;
            match check(&answer) {
                Ok(v) => return Ok(v),
                Err(e) => println!("  {e}"),
            }
            if !self.tty {
                bail!("`{question}`: the answer was refused (see above); with input that is not a terminal, kubemaas does not ask again");
            }
        }
    }

    /// An optional answer: empty means none.
    fn ask_optional<T>(
        &mut self,
        question: &str,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> color_eyre::Result<Option<T>> {
        self.ask(question, None, false, |a| {
            if a.is_empty() {
                Ok(None)
            } else {
                check(a).map(Some)
            }
        })
    }
}

fn flag<T>(
    flag: &str,
    value: Option<&str>,
    check: impl Fn(&str) -> Result<T, String>,
) -> color_eyre::Result<Option<T>> {
    value
        .map(|v| check(v).map_err(|e| eyre!("{flag}: {e}")))
        .transpose()
}

/// What the live MAAS check found.
struct MaasCheck {
    version: String,
    user: String,
}

impl std::fmt::Display for MaasCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MAAS {} (API key of user {})", self.version, self.user)
    }
}

/// Why the live MAAS check failed: MAAS's own precise error, or a MAAS too old to drive.
#[derive(Debug, thiserror::Error)]
enum MaasCheckError {
    #[error(transparent)]
    Maas(#[from] crate::maas::MaasError),
    #[error(transparent)]
    Version(#[from] crate::model::AccountCheckError),
}

/// Validates the MAAS endpoint and key live, and that this MAAS is new enough.
async fn check_maas(cfg: &config::MaasSettings) -> Result<MaasCheck, MaasCheckError> {
    let mut mc = MaasConfig::new(cfg.endpoint.clone(), cfg.api_key.clone());
    mc.tls = TlsOptions {
        ca_cert: cfg.ca_file.clone(),
        insecure_skip_tls_verify: false,
    };
    mc.timeout = Duration::from_secs(20);
    mc.connect_timeout = Duration::from_secs(5);
    mc.retry = crate::maas::RetryPolicy::never();
    let client = MaasClient::new(mc).map_err(|e| crate::maas::MaasError::Connect {
        endpoint: cfg.endpoint.to_string(),
        detail: e.to_string(),
    })?;
    let (version, user) = client.identify().await?;
    crate::model::account::check_maas_version(&version)?;
    Ok(MaasCheck {
        version: version.version,
        user: user.username,
    })
}

async fn init(args: InitArgs, paths: &Paths) -> color_eyre::Result<()> {
    let path = config_path(args.config.clone(), paths);
    if path.exists() && !args.force {
        bail!(
            "{} already exists: pass --force to replace it, or -c FILE to write another",
            path.display()
        );
    }
    let cfg = if let Some(from) = &args.from {
        let cfg = GatewayConfig::load(from)?;
        let who = check_maas(&cfg.maas)
            .await
            .wrap_err("the MAAS endpoint and API key in the file do not work")?;
        println!("MAAS checked: {who}");
        cfg
    } else if args.name.is_some() && args.maas_url.is_some() && args.api_key.is_some() {
        let cfg = from_flags(&args, &mut None)?;
        let who = check_maas(&cfg.maas)
            .await
            .wrap_err("the MAAS endpoint and API key given do not work")?;
        println!("MAAS checked: {who}");
        cfg
    } else {
        interactive(&args).await?
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    }
    cfg.save(&path)?;
    println!("wrote {} (0600: it holds the MAAS API key)", path.display());
    println!(
        "start the gateway with: kubemaas gateway run -c {}",
        path.display()
    );
    Ok(())
}

/// Builds the configuration from flags; with a prompter, asks for what the flags leave out.
fn from_flags(
    args: &InitArgs,
    ask: &mut Option<&mut Prompter>,
) -> color_eyre::Result<GatewayConfig> {
    macro_rules! get {
        ($flag:expr, $value:expr, $check:expr, $question:expr, $default:expr) => {
            match (flag($flag, $value, $check)?, ask.as_deref_mut()) {
                (Some(v), _) => v,
                (None, Some(p)) => p.ask($question, $default, false, $check)?,
                (None, None) => {
                    $check($default.unwrap_or_default()).map_err(|e| eyre!("{}: {e}", $flag))?
                }
            }
        };
    }
    macro_rules! optional {
        ($flag:expr, $value:expr, $check:expr, $question:expr) => {
            match (flag($flag, $value, $check)?, ask.as_deref_mut()) {
                (Some(v), _) => Some(v),
                (None, Some(p)) => p.ask_optional($question, $check)?,
                (None, None) => None,
            }
        };
    }
    let name = get!(
        "--name",
        args.name.as_deref(),
        config::check_name,
        "Gateway name (a DNS label)",
        Some("dc1")
    );
    let listen = get!(
        "--listen",
        args.listen.as_deref(),
        config::check_listen,
        "Listen address for consoles",
        Some(config::DEFAULT_LISTEN)
    );
    // MAAS endpoint and key: asked (and re-asked) by `interactive`, so only taken from flags here.
    let endpoint = flag(
        "--maas-url",
        args.maas_url.as_deref(),
        config::check_endpoint,
    )?
    .ok_or_else(|| {
        eyre!("--maas-url is missing: give the MAAS region URL, like http://maas.example:5240/MAAS")
    })?;
    let api_key =
        flag("--api-key", args.api_key.as_deref(), config::check_api_key)?.ok_or_else(|| {
            eyre!("--api-key is missing: give the MAAS API key (or set MAAS_API_KEY)")
        })?;
    let ca_file = flag(
        "--maas-ca-file",
        args.maas_ca_file.as_ref().and_then(|p| p.to_str()),
        config::check_ca_file,
    )?;
    let https = optional!(
        "--https-proxy",
        args.https_proxy.as_deref(),
        config::check_proxy_url,
        "HTTPS proxy for nodes (empty for none)"
    );
    let http = optional!(
        "--http-proxy",
        args.http_proxy.as_deref(),
        config::check_proxy_url,
        "HTTP proxy for nodes (empty for none)"
    );
    let no_proxy = optional!(
        "--no-proxy",
        args.no_proxy.as_deref(),
        config::check_no_proxy_text,
        "No-proxy list, comma-separated (empty for none)"
    )
    .unwrap_or_default();
    let (pod, service) = loop {
        let pod = get!(
            "--pod-cidr",
            args.pod_cidr.as_deref(),
            |s: &str| config::check_cidr(s, "the pod network"),
            "Pod CIDR for clusters",
            Some(config::DEFAULT_POD_CIDR)
        );
        let service = get!(
            "--service-cidr",
            args.service_cidr.as_deref(),
            |s: &str| config::check_cidr(s, "the service network"),
            "Service CIDR for clusters",
            Some(config::DEFAULT_SERVICE_CIDR)
        );
        match (config::check_networks(pod, service), ask.as_deref_mut()) {
            (Ok(()), _) => break (pod, service),
            (Err(e), Some(p))
                if p.tty && args.pod_cidr.is_none() && args.service_cidr.is_none() =>
            {
                println!("  {e}")
            }
            (Err(e), _) => bail!("--service-cidr: {e}"),
        }
    };
    let zone = optional!(
        "--zone",
        args.zone.as_deref(),
        |s: &str| config::check_word(s, "zone"),
        "Availability zone for gateway nodes (empty for any)"
    );
    let pool = optional!(
        "--pool",
        args.pool.as_deref(),
        |s: &str| config::check_word(s, "resource pool"),
        "Resource pool for gateway nodes (empty for any)"
    );
    let min_cpu = optional!(
        "--min-cpu",
        args.min_cpu.map(|n| n.to_string()).as_deref(),
        |s: &str| s
            .parse::<u64>()
            .map_err(|_| format!("`{s}` is not a whole number"))
            .and_then(config::check_min_cpu),
        "Least CPU cores of a gateway node (empty for any)"
    );
    let min_mem = optional!(
        "--min-memory-mib",
        args.min_memory_mib.map(|n| n.to_string()).as_deref(),
        |s: &str| s
            .parse::<u64>()
            .map_err(|_| format!("`{s}` is not a whole number"))
            .and_then(config::check_min_memory),
        "Least memory of a gateway node in MiB (empty for any)"
    );
    let nodes = get!(
        "--nodes",
        args.nodes.map(|n| n.to_string()).as_deref(),
        |s: &str| s
            .parse::<u64>()
            .map_err(|_| format!("`{s}` is not a whole number"))
            .and_then(config::check_nodes),
        "Gateway nodes (1, or 3 for high availability)",
        Some("1")
    );
    let machine = match (min_cpu, min_mem) {
        (None, None) => None,
        (cpu, mem) => Some(MachineSize {
            min_cpu: cpu.unwrap_or(1),
            min_memory_mib: mem.unwrap_or(1024),
        }),
    };
    let cfg = GatewayConfig {
        name,
        listen,
        tls_names: args.tls_names.clone(),
        maas: config::MaasSettings {
            endpoint,
            api_key,
            ca_file,
        },
        proxy: config::ProxySettings {
            https,
            http,
            no_proxy,
        },
        network: config::NetworkDefaults {
            pod_cidr: pod,
            service_cidr: service,
        },
        placement: config::Placement {
            zone,
            pool,
            machine,
            nodes,
        },
    };
    // The written file must read back: run it through the file checks once.
    GatewayConfig::parse(&cfg.to_yaml()).map_err(|problems| {
        eyre!(
            "the settings do not make a valid gateway.yaml:\n{}",
            problems
                .iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

async fn interactive(args: &InitArgs) -> color_eyre::Result<GatewayConfig> {
    let mut p = Prompter::new();
    if p.tty {
        println!("Setting up a kubemaas gateway. Press Enter to take the [default].");
    }
    let mut args = args.clone();
    loop {
        let url = match &args.maas_url {
            Some(u) => u.clone(),
            None => p.ask("MAAS URL", None, false, |s| {
                config::check_endpoint(s).map(|_| s.to_string())
            })?,
        };
        let key = match &args.api_key {
            Some(k) => k.clone(),
            None => p.ask("MAAS API key (not shown)", None, true, |s| {
                config::check_api_key(s).map(|_| s.to_string())
            })?,
        };
        let ca = match &args.maas_ca_file {
            Some(c) => Some(c.clone()),
            None if url.trim().starts_with("https://") => p.ask_optional(
                "CA file for MAAS's certificate (empty to use the system's)",
                config::check_ca_file,
            )?,
            None => None,
        };
        let maas = config::MaasSettings {
            endpoint: config::check_endpoint(&url).map_err(|e| eyre!("MAAS URL: {e}"))?,
            api_key: config::check_api_key(&key).map_err(|e| eyre!("MAAS API key: {e}"))?,
            ca_file: ca.clone(),
        };
        match check_maas(&maas).await {
            Ok(who) => {
                println!("  MAAS checked: {who}");
                args.maas_url = Some(url);
                args.api_key = Some(key);
                args.maas_ca_file = ca;
                break;
            }
            Err(e) if p.tty => {
                println!("  {e}");
                println!("  Enter the MAAS URL and API key again.");
                args.maas_url = None;
                args.api_key = None;
                args.maas_ca_file = None;
            }
            Err(e) => return Err(e).wrap_err("the MAAS URL and API key do not work"),
        }
    }
    from_flags(&args, &mut Some(&mut p))
}

// ---- run ----

/// Records gateway.yaml's MAAS as this gateway's default cloud account (named after the
/// gateway), in the gateway's own store; a changed key replaces the stored one.
fn ensure_default_account(store: &Store, cfg: &GatewayConfig) -> color_eyre::Result<String> {
    console::ensure_local(store)?;
    let ca_cert = match &cfg.maas.ca_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .wrap_err_with(|| format!("cannot read maas.caFile {}", p.display()))?,
        ),
        None => None,
    };
    store.tx(|tx| {
        match tx.account(&cfg.name) {
            Ok(existing) => {
                if existing.api_key != cfg.maas.api_key {
                    tx.set_account_api_key(&cfg.name, &cfg.maas.api_key)?;
                }
            }
            Err(StoreError::NotFound { .. }) => {
                tx.insert_account(&NewAccount {
                    name: cfg.name.clone(),
                    gateway: Some(LOCAL_GATEWAY.into()),
                    endpoint: cfg.maas.endpoint.clone(),
                    api_key: cfg.maas.api_key.clone(),
                    ca_cert: ca_cert.clone(),
                })?;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    })?;
    Ok(cfg.name.clone())
}

/// gateway.yaml holds the MAAS API key: say so when others can read it (the operator's file is
/// not changed behind their back).
fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "gateway.yaml readable by others");
                println!(
                    "warning: {} holds the MAAS API key but is readable by other users (mode {mode:o}): run `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(args: RunArgs, paths: &Paths) -> color_eyre::Result<()> {
    let path = config_path(args.config, paths);
    let cfg = GatewayConfig::load(&path)?;
    warn_if_readable_by_others(&path);
    let listen = args.listen.unwrap_or(cfg.listen);
    let dir = gateway_state_dir(&paths.state_dir);
    // 0700: the admin socket and the CA key live here.
    crate::paths::create_private_dir(&dir)?;
    let pki = Arc::new(GatewayPki::load_or_create(
        &dir.join("pki"),
        &cfg.certificate_names(listen),
    )?);
    let store = Store::open(&paths.state_dir)?;
    let default_account = ensure_default_account(&store, &cfg)?;
    // The gateway is the one process reconciling its state dir: it must hold the lock.
    let mut engine_config = EngineConfig::new(&paths.state_dir);
    engine_config.poll_interval = Duration::from_millis(args.reconcile_ms.max(10));
    let embedded = EmbeddedEngine::with_store(store.clone(), engine_config.clone())?;
    let Some(reconciler) = embedded.engine() else {
        bail!(
            "another kubemaas process holds the reconciler lock of {}: a gateway must run the reconcilers itself; stop that process (or give the gateway its own --state-dir)",
            paths.state_dir.display()
        );
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let heartbeat = Duration::from_millis(args.heartbeat_ms.max(10));
    let feed = JournalFeed::start(store.clone(), journal::DEFAULT_POLL, stop_rx.clone())?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let api = engine_routes(EngineService {
        engine: embedded.clone(),
        feed,
        state_dir: paths.state_dir.clone(),
        heartbeat,
        wake_driver: wake.clone(),
        shutdown: stop_rx.clone(),
    });
    let driver = tokio::spawn(driver::drive(
        reconciler,
        engine_config.poll_interval,
        wake,
        stop_rx,
    ));
    let maas_version = match check_maas(&cfg.maas).await {
        Ok(who) => {
            tracing::info!(maas = %who, "MAAS reachable");
            Some(who.version)
        }
        Err(e) => {
            // The gateway still serves: MAAS may come back, and consoles should see why not.
            println!("warning: MAAS is not usable now: {e}");
            None
        }
    };
    let pairings = Pairings::new(Arc::new(SystemClock), Limits::default());
    let consoles = ConsoleRegistry::load(&dir.join("consoles.json"))?;
    let _admin = admin::serve(&dir, pairings.clone(), consoles.clone()).await?;
    let server = GatewayServer::bind(ServerOptions {
        listen,
        pki: pki.clone(),
        pairings: pairings.clone(),
        consoles,
        info: GatewayInfo {
            name: cfg.name.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: PROTOCOL_VERSION,
            maas: MaasInfo {
                endpoint: cfg.maas.endpoint.to_string(),
                version: maas_version,
            },
            default_account,
        },
        api,
        heartbeat,
    })
    .await?;
    let addr = server.local_addr();
    let code = pairings.issue();
    println!("gateway {} listening on {addr}", cfg.name);
    println!(
        "CA fingerprint: {}",
        fingerprint_text(&pki.ca_fingerprint())
    );
    println!(
        "pairing code: {} (valid {} minutes, single use)",
        code.reveal(),
        CODE_LIFETIME.as_secs() / 60
    );
    println!(
        "pair a console with: kubemaas gateway pair --address {addr} --code {}",
        code.reveal()
    );
    std::io::stdout().flush()?;
    tracing::info!(%addr, gateway = %cfg.name, "gateway serving");
    server
        .serve(async move {
            shutdown_signal().await;
            // Streams and the reconciler loop end with the server.
            let _ = stop_tx.send(true);
        })
        .await?;
    // A pass in flight finishes its MAAS calls (and journals them) before the process exits.
    if let Err(e) = driver.await {
        tracing::error!(error = %e, "the reconciler loop ended abnormally");
    }
    println!("gateway {} stopped", cfg.name);
    Ok(())
}

/// `gateway delete NAME`: refused while the gateway (asked when reachable) or this console's
/// records show clusters on it.
async fn delete(args: DeleteArgs, paths: &Paths) -> color_eyre::Result<()> {
    let store = Store::open(&paths.state_dir)?;
    let row = store.read(|r| r.gateway(&args.name))?;
    if row.kind == GatewayKind::Remote && row.fingerprint.is_some() {
        let asked = async {
            let client = console::client_for(&store, &args.name)?;
            Ok::<_, color_eyre::Report>(client.get::<Vec<ClusterView>>(CLUSTERS_PATH).await?)
        }
        .await;
        match asked {
            Ok(clusters) if !clusters.is_empty() => {
                return Err(console::ConsoleError::ClustersRemain {
                    name: args.name.clone(),
                    clusters: clusters
                        .iter()
                        .map(|c| c.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into());
            }
            Ok(_) => {}
            Err(e) if !args.force => {
                bail!(
                    "cannot ask gateway {} which clusters it still runs ({e:#}): start it and try again, or pass --force to delete it anyway (its clusters keep running, unmanaged from here)",
                    args.name
                );
            }
            Err(e) => println!(
                "warning: gateway {} not asked ({e:#}); deleting anyway",
                args.name
            ),
        }
    }
    console::delete(&store, &paths.state_dir, &args.name)?;
    println!("deleted gateway {}", args.name);
    Ok(())
}

async fn pairing_code(paths: &Paths) -> color_eyre::Result<()> {
    let (code, secs) = admin::request_pairing_code(&gateway_state_dir(&paths.state_dir)).await?;
    println!(
        "pairing code: {code} (valid {} minutes, single use)",
        secs / 60
    );
    Ok(())
}

// ---- console side ----

/// The first half of pairing, shared by `kubemaas gateway pair` and the console's wizard:
/// settles the gateway's name (given, or the one it announces), checks it is free in the
/// store, then pairs with `code`. Nothing is stored yet: the caller shows the operator the
/// gateway's name and CA fingerprint and calls [`finish_pairing`] to keep it.
pub async fn begin_pairing(
    store: &Store,
    address: &str,
    code: &PairingCode,
    name: Option<&str>,
    console_name: &str,
) -> color_eyre::Result<(String, client::PairedMaterial)> {
    // Settle the name first, so that a name already taken is refused before the code is spent.
    let name = match name {
        Some(n) => n.to_string(),
        None => client::hello(address).await?.gateway,
    };
    config::check_name(&name).map_err(|e| eyre!("gateway name: {e} (pass --name NAME)"))?;
    console::ensure_local(store)?;
    console::check_free(store, &name, address)?;
    let material = client::pair(address, code, console_name).await?;
    Ok((name, material))
}

/// The second half: stores the pairing (material 0600, the row) and makes the first mutually
/// authenticated call, whose answer it returns.
pub async fn finish_pairing(
    store: &Store,
    state_dir: &std::path::Path,
    name: &str,
    address: &str,
    material: &client::PairedMaterial,
) -> color_eyre::Result<GatewayInfo> {
    console::save_pairing(store, state_dir, name, address, material)?;
    let client = console::client_for(store, name)?;
    client
        .info()
        .await
        .wrap_err("paired, but the first mutually authenticated call failed")
}

async fn pair(args: PairArgs, paths: &Paths) -> color_eyre::Result<()> {
    let code = PairingCode::parse(&args.code)?;
    let console_name = args
        .console_name
        .clone()
        .unwrap_or_else(crate::store::host_name);
    let store = Store::open(&paths.state_dir)?;
    let (name, material) = begin_pairing(
        &store,
        &args.address,
        &code,
        args.name.as_deref(),
        &console_name,
    )
    .await?;
    let info = finish_pairing(&store, &paths.state_dir, &name, &args.address, &material).await?;
    println!("paired with gateway {name} at {}", args.address);
    println!(
        "CA fingerprint (pinned): {}",
        fingerprint_text(&material.ca_fingerprint)
    );
    println!(
        "gateway {} runs kubemaas {}, MAAS {} ({}); default cloud account: {}",
        info.name,
        info.version,
        info.maas.endpoint,
        info.maas.version.as_deref().unwrap_or("version unknown"),
        info.default_account
    );
    Ok(())
}

#[derive(Debug, Serialize)]
struct GatewayView {
    name: String,
    kind: String,
    address: String,
    paired: bool,
    ca_fingerprint: Option<String>,
    created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<GatewayInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reachable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    clusters: Vec<String>,
}

fn view(row: &crate::store::GatewayRow, clusters: Vec<String>) -> GatewayView {
    GatewayView {
        name: row.name.clone(),
        kind: row.kind.to_string(),
        address: row.address.clone(),
        paired: row.kind == GatewayKind::Local || row.fingerprint.is_some(),
        ca_fingerprint: row.fingerprint.clone(),
        created: row.created.to_rfc3339(),
        info: None,
        reachable: None,
        problem: None,
        clusters,
    }
}

fn list(args: OutputArgs, paths: &Paths) -> color_eyre::Result<()> {
    let store = Store::open(&paths.state_dir)?;
    console::ensure_local(&store)?;
    let rows = store.read(|r| r.gateways())?;
    let mut views = Vec::new();
    for row in &rows {
        views.push(view(row, console::clusters_on(&store, &row.name)?));
    }
    if args.output != OutputFormat::Table {
        return print_structured(args.output, &views);
    }
    let mut table = Table::new(["NAME", "KIND", "ADDRESS", "PAIRED", "CLUSTERS"]);
    for v in &views {
        table.row([
            v.name.clone(),
            v.kind.clone(),
            v.address.clone(),
            if v.paired { "yes" } else { "no" }.to_string(),
            v.clusters.len().to_string(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

async fn show(args: NameArgs, paths: &Paths) -> color_eyre::Result<()> {
    let store = Store::open(&paths.state_dir)?;
    console::ensure_local(&store)?;
    let row = store.read(|r| r.gateway(&args.name))?;
    let mut v = view(&row, console::clusters_on(&store, &row.name)?);
    if row.kind == GatewayKind::Remote && row.fingerprint.is_some() {
        let outcome = async {
            let client: GatewayClient = console::client_for(&store, &row.name)?;
            Ok::<_, color_eyre::Report>(client.info().await?)
        }
        .await;
        match outcome {
            Ok(info) => {
                v.info = Some(info);
                v.reachable = Some(true);
            }
            Err(e) => {
                v.reachable = Some(false);
                v.problem = Some(format!("{e:#}"));
            }
        }
    }
    if args.output != OutputFormat::Table {
        return print_structured(args.output, &v);
    }
    println!("name:           {}", v.name);
    println!("kind:           {}", v.kind);
    println!("address:        {}", v.address);
    println!("paired:         {}", if v.paired { "yes" } else { "no" });
    if let Some(fp) = &v.ca_fingerprint {
        println!("CA fingerprint: {fp}");
    }
    println!("recorded:       {}", v.created);
    println!(
        "clusters:       {}",
        if v.clusters.is_empty() {
            "none".to_string()
        } else {
            v.clusters.join(", ")
        }
    );
    match (&v.reachable, &v.info, &v.problem) {
        (Some(true), Some(info), _) => {
            println!(
                "reachable:      yes (kubemaas {}, protocol {})",
                info.version, info.protocol
            );
            println!(
                "MAAS:           {} ({})",
                info.maas.endpoint,
                info.maas.version.as_deref().unwrap_or("version unknown")
            );
            println!("default account: {}", info.default_account);
        }
        (Some(false), _, Some(problem)) => println!("reachable:      no: {problem}"),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_default_config_lives_in_the_config_dir() {
        let paths = Paths::resolve(Some(Path::new("/tmp/km-gw"))).unwrap();
        assert_eq!(
            config_path(None, &paths),
            PathBuf::from("/tmp/km-gw/config/gateway.yaml")
        );
        assert_eq!(
            config_path(Some("g.yaml".into()), &paths),
            PathBuf::from("g.yaml")
        );
    }
}
