//! `kubemaas gateway …`: set up and run a gateway (init, run, pairing-code) and, on a console,
//! pair with gateways and manage them (pair, list, show, unpair, delete).

use super::output::{print_structured, OutputFormat, Table};
use crate::cli::output::{say, say_inline};
use crate::engine::{ClusterView, EmbeddedEngine, EngineConfig};
use crate::gateway::admin;
use crate::gateway::client::GatewayClient;
use crate::gateway::clock::SystemClock;
use crate::gateway::config::{self, GatewayConfig, MachineSize};
use crate::gateway::console;
use crate::gateway::deploy::preissued::{self, Preissued};
use crate::gateway::gateway_state_dir;
use crate::gateway::journal::{self, JournalFeed};
use crate::gateway::nodes::{self, NodeDirectory};
use crate::gateway::pairing::{Limits, PairingCode, Pairings, CODE_LIFETIME};
use crate::gateway::pki::{fingerprint_text, GatewayPki};
use crate::gateway::protocol::CLUSTERS_PATH;
use crate::gateway::protocol::{GatewayInfo, MaasInfo};
use crate::gateway::queue;
use crate::gateway::registry::ConsoleRegistry;
use crate::gateway::replicated;
use crate::gateway::resize::{self as resize_gw, ResizeProgress};
use crate::gateway::resize_server::ResizeService;
use crate::gateway::server::{GatewayServer, ServerOptions, DEFAULT_HEARTBEAT};
use crate::gateway::upgrade::{self, UpgradeProgress};
use crate::gateway::upgrade_server::{self, BuildInfo, UpgradeGate};
use crate::gateway::upgrade_version::{self, VersionNotice};
use crate::gateway::RemoteEngine;
use crate::gateway::{driver, engine_routes, EngineService};
use crate::maas::{MaasClient, MaasConfig, TlsOptions};
use crate::model::account::LOCAL_GATEWAY;
use crate::paths::Paths;
use crate::store::KnownNode;
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
    /// Deploy the gateway gateway.yaml describes onto MAAS machines (per its placement), then
    /// pair this console with it. Idempotent: rerun after fixing gateway.yaml.
    Deploy(DeployArgs),
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
    /// Upgrade a paired gateway to this console's kubemaas (or --binary PATH), one node at a
    /// time; cluster requests made meanwhile are queued and sent once it is back.
    Upgrade(UpgradeArgs),
    /// Move a paired 1-node gateway onto etcd as the first node of a 3-node gateway (clusters
    /// being provisioned carry on), then print the command that starts each other node.
    Resize(ResizeArgs),
    /// Print what this build is (version, protocols) as JSON: a gateway asks an uploaded
    /// executable this before installing it.
    #[command(hide = true)]
    BuildInfo,
}

#[derive(Debug, Clone, Args)]
pub struct UpgradeArgs {
    /// The paired gateway, as `kubemaas gateway list` names it.
    pub name: String,
    /// The kubemaas executable to install (default: this console's own).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// How long to wait for each node to come back running the new version.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ResizeArgs {
    /// The paired gateway, as `kubemaas gateway list` names it.
    pub name: String,
    /// The number of nodes: 3.
    #[arg(long, value_name = "N")]
    pub nodes: u64,
    /// Client URL of an etcd member, as the gateway host reaches it (repeat for each member).
    #[arg(long = "etcd-endpoint", value_name = "URL")]
    pub etcd_endpoints: Vec<String>,
    /// Key prefix of this gateway's state in etcd [default: /kubemaas].
    #[arg(long, value_name = "PREFIX")]
    pub etcd_prefix: Option<String>,
    /// CA of the etcd members' certificates: a path on the gateway host.
    #[arg(long, value_name = "FILE")]
    pub etcd_ca: Option<PathBuf>,
    /// The gateway's etcd client certificate: a path on the gateway host.
    #[arg(long, value_name = "FILE")]
    pub etcd_cert: Option<PathBuf>,
    /// Its private key: a path on the gateway host.
    #[arg(long, value_name = "FILE")]
    pub etcd_key: Option<PathBuf>,
    /// Where each new node listens, in order (gw2, then gw3): shown in the printed commands.
    #[arg(long = "node-listen", value_name = "HOST:PORT")]
    pub node_listen: Vec<String>,
    /// Then wait up to SECS for every node to join.
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
    /// How long the gateway may take to come back on etcd.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// One JSON object at the end instead of progress lines (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `--readonly` refuses the gateway commands that change a gateway.
pub fn check_readonly(args: &GatewayArgs, readonly: bool) -> color_eyre::Result<()> {
    if readonly {
        if let GatewayCommand::Resize(a) = &args.command {
            bail!(
                "read-only: resizing gateway {} is refused because kubemaas was started with --readonly; run it without --readonly",
                a.name
            );
        }
    }
    Ok(())
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
    /// A pairing code issued by the console that deployed this gateway: accepted once, within
    /// an hour of the file being written; the file is deleted when read.
    #[arg(long, value_name = "FILE")]
    pub pairing_code_file: Option<PathBuf>,
    /// This node's name in a 3-node gateway (instead of gateway.yaml's `node: name`; default:
    /// the host name).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// The address consoles reach this node at, announced to them in a 3-node gateway's node
    /// list (instead of gateway.yaml's `node: address`; default: the listen address unless it
    /// is a wildcard like 0.0.0.0).
    #[arg(long, value_name = "HOST:PORT", value_parser = config::check_advertise)]
    pub advertise: Option<String>,
    /// Seconds a 3-node gateway's leader keeps the role without renewing it: how long a dead
    /// leader's reconcilers stay unclaimed.
    #[arg(long, default_value_t = 10, hide = true)]
    pub lease_secs: u64,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[arg(short = 'c', long = "config", value_name = "FILE", help = format!("The gateway's configuration [default: {}]", default_config_help()))]
    pub config: Option<PathBuf>,
    /// Where the nodes download kubemaas from (instead of gateway.yaml's artifact.url).
    #[arg(long, value_name = "URL", conflicts_with = "serve_binary")]
    pub gateway_binary_url: Option<String>,
    /// SHA-256 of the file at --gateway-binary-url (as `sha256sum` prints it).
    #[arg(long, value_name = "DIGEST", requires = "gateway_binary_url")]
    pub gateway_binary_sha256: Option<String>,
    /// Serve this console's own kubemaas binary to the nodes at http://ADDR/kubemaas while
    /// they install (ADDR: an address of this host the nodes reach).
    #[arg(long, value_name = "ADDR")]
    pub serve_binary: Option<SocketAddr>,
    /// Seconds to wait for the machines to be Deployed, and again for the gateway to answer.
    #[arg(long, value_name = "SECS", default_value_t = 2400)]
    pub timeout: u64,
    /// Pair at this HOST:PORT instead of the first node's MAAS address and the listen port.
    #[arg(long, value_name = "HOST:PORT")]
    pub pair_address: Option<String>,
    /// Deploy only; pair later with `kubemaas gateway pair`.
    #[arg(long)]
    pub no_pair: bool,
    /// How the gateway knows this console (default: this host's name).
    #[arg(long)]
    pub console_name: Option<String>,
    /// Progress as one JSON object per line, then the outcome (for scripts).
    #[arg(long)]
    pub json: bool,
    /// Seconds between two looks at MAAS.
    #[arg(long, default_value_t = crate::gateway::deploy::DEFAULT_POLL.as_secs(), hide = true)]
    pub poll_secs: u64,
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
    /// The pairing code the gateway printed; `-` reads it from stdin, and left out it is asked
    /// for on the terminal: either way it stays out of `ps` and the shell history.
    #[arg(long, env = "KUBEMAAS_PAIRING_CODE", hide_env_values = true)]
    pub code: Option<String>,
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
        GatewayCommand::Deploy(a) => deploy_cmd(a, paths).await,
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
            say_inline!("{}", table.render());
            Ok(())
        }
        GatewayCommand::Revoke(a) => {
            let n = admin::revoke_console(&gateway_state_dir(&paths.state_dir), &a.console).await?;
            say!(
                "revoked {n} pairing(s) of console {}: its requests are refused from now on",
                a.console
            );
            Ok(())
        }
        GatewayCommand::Pair(a) => pair(a, paths).await,
        GatewayCommand::List(a) => list(a, paths).await,
        GatewayCommand::Show(a) => show(a, paths).await,
        GatewayCommand::Unpair(a) => {
            let store = Store::open(&paths.state_dir)?;
            console::unpair(&store, &paths.state_dir, &a.name)?;
            say!(
                "unpaired gateway {}: its record stays; pair again with `kubemaas gateway pair`",
                a.name
            );
            Ok(())
        }
        GatewayCommand::Delete(a) => delete(a, paths).await,
        GatewayCommand::Upgrade(a) => upgrade(a, paths).await,
        GatewayCommand::Resize(a) => resize(a, paths).await,
        GatewayCommand::BuildInfo => {
            say!("{}", serde_json::to_string(&BuildInfo::current())?);
            Ok(())
        }
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
        say_inline!("{shown}");
        std::io::stdout().flush()?;
        let _guard = if secret && self.tty {
            NoEcho::start()
        } else {
            None
        };
        let mut answer = String::new();
        let n = self.lines.read_line(&mut answer)?;
        if secret && self.tty {
            say!();
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
                Err(e) => say!("  {e}"),
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
        say!("MAAS checked: {who}");
        cfg
    } else if args.name.is_some() && args.maas_url.is_some() && args.api_key.is_some() {
        let cfg = from_flags(&args, &mut None)?;
        let who = check_maas(&cfg.maas)
            .await
            .wrap_err("the MAAS endpoint and API key given do not work")?;
        say!("MAAS checked: {who}");
        cfg
    } else {
        interactive(&args).await?
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    }
    cfg.save(&path)?;
    say!("wrote {} (0600: it holds the MAAS API key)", path.display());
    say!(
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
                say!("  {e}")
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
        artifact: None,
        etcd: None,
        node: config::NodeSettings::default(),
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
        say!("Setting up a kubemaas gateway. Press Enter to take the [default].");
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
                say!("  MAAS checked: {who}");
                args.maas_url = Some(url);
                args.api_key = Some(key);
                args.maas_ca_file = ca;
                break;
            }
            Err(e) if p.tty => {
                say!("  {e}");
                say!("  Enter the MAAS URL and API key again.");
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
                say!(
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

/// Who runs the reconcilers of a gateway process.
enum Reconcile {
    /// A 1-node gateway: this process, holding the state dir's lock.
    Locked(Arc<crate::engine::Engine>),
    /// A node of a 3-node gateway: whichever node etcd elects.
    Elected(Arc<crate::ha::Candidate>),
}

/// Records where consoles reach this node (the store write waits on etcd: off the workers).
async fn announce_node(store: &Store, name: &str, address: &str) -> color_eyre::Result<()> {
    let (store, name, address) = (store.clone(), name.to_string(), address.to_string());
    tokio::task::spawn_blocking(move || store.tx(|tx| tx.announce_gateway_node(&name, &address)))
        .await??;
    Ok(())
}

/// What this node announces (see [`nodes::announced_address`]), saying so when it was not
/// told and warning when it had to guess.
async fn node_address(
    advertised: Option<&str>,
    bound: SocketAddr,
    cfg: &GatewayConfig,
) -> nodes::Announced {
    // Only a wildcard bound with nothing advertised needs the route (a name lookup).
    let toward_maas = if advertised.is_none() && bound.ip().is_unspecified() {
        nodes::address_toward(cfg.maas.endpoint.api_base()).await
    } else {
        None
    };
    let announced = nodes::announced_address(
        advertised,
        bound,
        toward_maas,
        &cfg.tls_names,
        &crate::store::host_name(),
    );
    let fix = "set `node: {address: HOST:PORT}` in gateway.yaml or pass --advertise HOST:PORT";
    match &announced {
        nodes::Announced::TowardMaas(address) => {
            tracing::info!(%bound, announced = %address, "announcing this node's address toward MAAS");
            say!(
                "this node listens on {bound}: consoles are told to call it at {address}, its address toward MAAS (if consoles reach it elsewhere, {fix})"
            );
        }
        nodes::Announced::Guessed { address, from } => {
            tracing::warn!(%bound, announced = %address, from, "this node listens on a wildcard address and advertises none");
            say!(
                "warning: this node listens on {bound}, which names no host: consoles are told to call it at {address} ({from}); if they cannot reach it there, {fix}"
            );
        }
        nodes::Announced::Advertised(_) | nodes::Announced::Bound(_) => {}
    }
    announced
}

async fn serve(args: RunArgs, paths: &Paths) -> color_eyre::Result<()> {
    let path = config_path(args.config, paths);
    let cfg = GatewayConfig::load(&path)?;
    warn_if_readable_by_others(&path);
    // A gateway re-executed by an upgrade takes the address it had (its consoles recorded
    // it, even when it was started on port 0).
    let listen = upgrade_server::inherited_listen()
        .or(args.listen)
        .or(cfg.node.listen)
        .unwrap_or(cfg.listen);
    let node_name = args
        .node
        .clone()
        .or_else(|| cfg.node.name.clone())
        .unwrap_or_else(crate::store::host_name);
    let dir = gateway_state_dir(&paths.state_dir);
    // 0700: the admin socket and the CA key live here.
    crate::paths::create_private_dir(&dir)?;
    // A 3-node gateway (gateway.yaml's `etcd:`) keeps its state, CA and paired consoles in the
    // replicated store; a 1-node gateway in its state dir.
    let (store, _follower) = match &cfg.etcd {
        Some(etcd) => replicated::open_store(etcd, &paths.state_dir).await?,
        None => (Store::open(&paths.state_dir)?, None),
    };
    // The flag wins over gateway.yaml (both checked by `config::check_advertise`).
    let advertised = args.advertise.clone().or_else(|| cfg.node.address.clone());
    let names = cfg.certificate_names(listen, advertised.as_deref());
    let pki = Arc::new(match &cfg.etcd {
        Some(_) => replicated::shared_pki(&store, &dir.join("pki"), &names).await?,
        None => GatewayPki::load_or_create(&dir.join("pki"), &names)?,
    });
    let default_account = ensure_default_account(&store, &cfg)?;
    let mut engine_config = EngineConfig::new(&paths.state_dir);
    engine_config.poll_interval = Duration::from_millis(args.reconcile_ms.max(10));
    // The reconcilers: a 1-node gateway is the one process reconciling its state dir and must
    // hold the lock; a node of a 3-node gateway runs them only while elected.
    let (embedded, reconcile) = match &cfg.etcd {
        Some(etcd) => {
            let candidate = crate::ha::Candidate::connect(
                etcd,
                node_name.clone(),
                Duration::from_secs(args.lease_secs.max(2)),
            )
            .await?;
            (
                EmbeddedEngine::watcher(store.clone(), engine_config.clone()),
                Reconcile::Elected(Arc::new(candidate)),
            )
        }
        None => {
            let embedded = EmbeddedEngine::with_store(store.clone(), engine_config.clone())?;
            let Some(reconciler) = embedded.engine() else {
                bail!(
                    "another kubemaas process holds the reconciler lock of {}: a gateway must run the reconcilers itself; stop that process (or give the gateway its own --state-dir)",
                    paths.state_dir.display()
                );
            };
            (embedded, Reconcile::Locked(reconciler))
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // A replicated node lists its gateway's nodes and the elected one in `/v1/info`.
    let nodes = match &reconcile {
        Reconcile::Elected(candidate) => {
            let directory = NodeDirectory::new(store.clone(), &node_name);
            nodes::watch_leader(directory.clone(), candidate.clone(), stop_rx.clone());
            Some(directory)
        }
        Reconcile::Locked(_) => None,
    };
    // The reconciler loop stops on its own signal: an upgrade lets the pass in flight finish
    // while the server still answers (refusing new engine work).
    let (driver_stop_tx, driver_stop_rx) = tokio::sync::watch::channel(false);
    let gate = UpgradeGate::new(
        &cfg.name,
        upgrade_server::installed_binary().wrap_err(
            "cannot tell where this gateway's executable is installed (upgrades replace it)",
        )?,
    );
    // A node of a replicated gateway says which node it is, whether it leads and how far its
    // copy is: a rolling upgrade restarts the leader last and waits for each node to catch up.
    let gate = match &reconcile {
        Reconcile::Elected(candidate) => gate.replicated(upgrade_server::ReplicatedNode {
            name: node_name.clone(),
            store: store.clone(),
            leading: candidate.role(),
        }),
        Reconcile::Locked(_) => gate,
    };
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
    })
    .layer(axum::middleware::from_fn_with_state(
        gate.clone(),
        upgrade_server::refuse_while_upgrading,
    ))
    .merge(gate.routes())
    .merge(crate::gateway::membership_route::routes(cfg.etcd.clone()));
    let (driver_done_tx, driver_done_rx) = tokio::sync::watch::channel(false);
    let driver_store = store.clone();
    let driver = tokio::spawn(async move {
        match reconcile {
            Reconcile::Locked(reconciler) => {
                driver::drive(
                    reconciler,
                    engine_config.poll_interval,
                    wake,
                    driver_stop_rx,
                )
                .await
            }
            Reconcile::Elected(candidate) => {
                if let Err(e) = crate::ha::lead(
                    &candidate,
                    driver_store,
                    engine_config,
                    wake,
                    driver_stop_rx,
                )
                .await
                {
                    tracing::error!(error = %e, "this node stopped campaigning for the reconcilers");
                }
            }
        }
        let _ = driver_done_tx.send(true);
    });
    let maas_version = match check_maas(&cfg.maas).await {
        Ok(who) => {
            tracing::info!(maas = %who, "MAAS reachable");
            Some(who.version)
        }
        Err(e) => {
            // The gateway still serves: MAAS may come back, and consoles should see why not.
            say!("warning: MAAS is not usable now: {e}");
            None
        }
    };
    let pairings = Pairings::new(Arc::new(SystemClock), Limits::default());
    // A replicated gateway's codes are redeemed on any of its nodes.
    let pairings = match &cfg.etcd {
        Some(_) => pairings.replicated(store.clone()),
        None => pairings,
    };
    if let Some(file) = &args.pairing_code_file {
        match preissued::admit_from_file(file, &pairings, std::time::SystemTime::now())? {
            Preissued::Admitted(left) => say!(
                "the pairing code of the console that deployed this gateway is accepted once, for {} more minutes",
                left.as_secs() / 60
            ),
            Preissued::Expired => say!(
                "warning: the pairing code in {} expired (it lasts an hour after first boot) and was removed: pair with a code from `kubemaas gateway pairing-code`",
                file.display()
            ),
            Preissued::Absent => {}
        }
    }
    let consoles = match &cfg.etcd {
        Some(_) => ConsoleRegistry::replicated(store.clone()),
        None => ConsoleRegistry::load(&dir.join("consoles.json"))?,
    };
    let _admin = admin::serve(&dir, pairings.clone(), consoles.clone()).await?;
    // `gateway resize`: moves a 1-node gateway onto etcd (through the restart path above).
    let resize = ResizeService::new(
        &cfg.name,
        path.clone(),
        args.node.clone().or_else(|| cfg.node.name.clone()),
        store.clone(),
        dir.join("pki"),
        consoles.clone(),
        gate.clone(),
    );
    let api = api.merge(resize.routes());
    let server = GatewayServer::bind(ServerOptions {
        listen,
        pki: pki.clone(),
        pairings: pairings.clone(),
        consoles,
        info: GatewayInfo {
            name: cfg.name.clone(),
            version: upgrade_version::running_version(),
            protocol: upgrade_version::ProtocolRange::ours().newest,
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
    resize.serving_at(addr);
    if let Some(nodes) = nodes {
        server.set_nodes(nodes);
    }
    if cfg.etcd.is_some() {
        let address = node_address(advertised.as_deref(), addr, &cfg).await;
        let announced = announce_node(&store, &node_name, address.address()).await;
        announced.wrap_err("cannot record this node in the replicated store")?;
        // Two lines: scripts (and tests) match the first one whole.
        say!("node {node_name} of gateway {}", cfg.name);
        say!(
            "consoles are told to call this node at {}",
            address.address()
        );
    }
    let code = pairings.issue();
    say!("gateway {} listening on {addr}", cfg.name);
    say!(
        "CA fingerprint: {}",
        fingerprint_text(&pki.ca_fingerprint())
    );
    say!(
        "pairing code: {} (valid {} minutes, single use)",
        code.reveal(),
        CODE_LIFETIME.as_secs() / 60
    );
    // Where a console should pair: the address this node advertises, when it has one.
    let pair_at = advertised.clone().unwrap_or_else(|| addr.to_string());
    say!(
        "pair a console with: kubemaas gateway pair --address {pair_at} --code {}",
        code.reveal()
    );
    std::io::stdout().flush()?;
    tracing::info!(%addr, gateway = %cfg.name, "gateway serving");
    let (restart_tx, mut restart_rx) = tokio::sync::watch::channel(None);
    let upgrade_gate = gate.clone();
    let mut driver_finished = driver_done_rx;
    server
        .serve(async move {
            tokio::select! {
                _ = shutdown_signal() => {}
                restart = upgrade_gate.restart_requested() => {
                    // Draining: engine work is refused from now on, while the pass in flight
                    // finishes and is journaled; only then does the server stop. A node of a
                    // replicated gateway also resigns (ha::lead revokes its lease and waits),
                    // so another node reconciles while this one restarts.
                    let _ = driver_stop_tx.send(true);
                    let _ = driver_finished.wait_for(|done| *done).await;
                    let _ = restart_tx.send(Some(restart));
                }
            }
            // Streams and the reconciler loop end with the server.
            let _ = driver_stop_tx.send(true);
            let _ = stop_tx.send(true);
        })
        .await?;
    // A pass in flight finishes its MAAS calls (and journals them) before the process exits
    // or re-executes.
    if let Err(e) = driver.await {
        tracing::error!(error = %e, "the reconciler loop ended abnormally");
    }
    let restart = restart_rx.borrow_and_update().clone();
    if let Some(restart) = restart {
        say!(
            "gateway {} restarting into kubemaas {}",
            cfg.name,
            restart.next.version
        );
        std::io::stdout().flush()?;
        let error = upgrade_server::reexec(&restart.binary, addr);
        bail!(
            "gateway {} could not start the upgraded executable {}: {error}; it is installed, so starting `kubemaas gateway run` again runs the new version",
            cfg.name,
            restart.binary.display()
        );
    }
    say!("gateway {} stopped", cfg.name);
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
            Err(e) => say!(
                "warning: gateway {} not asked ({e:#}); deleting anyway",
                args.name
            ),
        }
    }
    console::delete(&store, &paths.state_dir, &args.name)?;
    say!("deleted gateway {}", args.name);
    Ok(())
}

async fn pairing_code(paths: &Paths) -> color_eyre::Result<()> {
    let (code, secs) = admin::request_pairing_code(&gateway_state_dir(&paths.state_dir)).await?;
    say!(
        "pairing code: {code} (valid {} minutes, single use)",
        secs / 60
    );
    Ok(())
}

// ---- deploy ----

/// `gateway deploy`: where the nodes get kubemaas, the MAAS client, then the deploy itself.
async fn deploy_cmd(args: DeployArgs, paths: &Paths) -> color_eyre::Result<()> {
    use crate::bootstrap::gateway_user_data::BinaryArtifact;
    use crate::gateway::deploy::{self, serve_binary, DeployError, DeployOptions, Progress, Sleep};
    let path = config_path(args.config.clone(), paths);
    let cfg = GatewayConfig::load(&path)?;
    warn_if_readable_by_others(&path);
    // Kept alive until the deploy ends: the nodes download while they install.
    let mut _served = None;
    let binary = if let Some(addr) = args.serve_binary {
        let exe =
            std::env::current_exe().wrap_err("cannot find this kubemaas binary to serve it")?;
        let server = serve_binary::serve_binary(addr, &exe).await?;
        let b = BinaryArtifact {
            url: server.url.clone(),
            sha256: server.sha256.clone(),
            served: true,
        };
        _served = Some(server);
        b
    } else if let Some(url) = &args.gateway_binary_url {
        let url =
            config::check_artifact_url(url).map_err(|e| eyre!("--gateway-binary-url: {e}"))?;
        let sha256 = match (&args.gateway_binary_sha256, &cfg.artifact) {
            (Some(d), _) => {
                config::check_sha256(d).map_err(|e| eyre!("--gateway-binary-sha256 {e}"))?
            }
            (None, Some(a)) if a.url == url => a.sha256.clone(),
            (None, _) => return Err(DeployError::NoDigest.into()),
        };
        BinaryArtifact {
            url,
            sha256,
            served: false,
        }
    } else {
        match &cfg.artifact {
            Some(a) => BinaryArtifact {
                url: a.url.clone(),
                sha256: a.sha256.clone(),
                served: false,
            },
            None => return Err(DeployError::NoArtifact { config: path }.into()),
        }
    };
    let mut mc = MaasConfig::new(cfg.maas.endpoint.clone(), cfg.maas.api_key.clone());
    mc.tls = TlsOptions {
        ca_cert: cfg.maas.ca_file.clone(),
        insecure_skip_tls_verify: false,
    };
    let client = MaasClient::new(mc)?;
    let store = Store::open(&paths.state_dir)?;
    console::ensure_local(&store)?;
    let options = DeployOptions {
        binary,
        timeout: Duration::from_secs(args.timeout),
        poll: Duration::from_secs(args.poll_secs.max(1)),
        pair_address: args.pair_address.clone(),
        skip_pairing: args.no_pair,
        console_name: args
            .console_name
            .clone()
            .unwrap_or_else(crate::store::host_name),
    };
    let json = args.json;
    let report = move |p: &Progress| {
        if json {
            say!("{}", serde_json::to_string(p).unwrap_or_default());
        } else {
            say!("{}", p.message);
        }
        let _ = std::io::stdout().flush();
    };
    let outcome = deploy::deploy(
        &cfg,
        &client,
        &store,
        &paths.state_dir,
        &options,
        &Sleep(options.poll),
        &report,
    )
    .await?;
    if json {
        say!("{}", serde_json::to_string(&outcome)?);
    } else if outcome.pairing == "not_paired" {
        say!(
            "not paired (--no-pair): pair with `kubemaas gateway pair --address {} --code CODE`, the code from `kubemaas gateway pairing-code` on the node",
            outcome.address.as_deref().unwrap_or("HOST:PORT")
        );
    }
    Ok(())
}

// ---- console side ----

/// The pairing code: as given, one line of stdin for `-`, or asked for on the terminal when
/// `--code` is left out (a code on the command line shows in `ps` to every user of the host).
fn pairing_code_text(arg: Option<&str>) -> color_eyre::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let read_line = || -> color_eyre::Result<String> {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim().to_string())
    };
    match arg {
        Some("-") => read_line(),
        Some(code) => Ok(code.to_string()),
        None if std::io::stdin().is_terminal() => {
            eprint!("pairing code (from the gateway's log or `kubemaas gateway pairing-code`): ");
            std::io::stderr().flush()?;
            read_line()
        }
        None => Err(color_eyre::eyre::eyre!(
            "no pairing code: give --code - and pipe the code in, or run on a terminal to be asked for it"
        )),
    }
}

async fn pair(args: PairArgs, paths: &Paths) -> color_eyre::Result<()> {
    let code = PairingCode::parse(&pairing_code_text(args.code.as_deref())?)?;
    let console_name = args
        .console_name
        .clone()
        .unwrap_or_else(crate::store::host_name);
    let store = Store::open(&paths.state_dir)?;
    let (name, material) = console::begin_pairing(
        &store,
        &args.address,
        &code,
        args.name.as_deref(),
        &console_name,
    )
    .await?;
    let info =
        console::finish_pairing(&store, &paths.state_dir, &name, &args.address, &material).await?;
    say!("paired with gateway {name} at {}", args.address);
    say!(
        "CA fingerprint (pinned): {}",
        fingerprint_text(&material.ca_fingerprint)
    );
    say!(
        "gateway {} runs kubemaas {}, MAAS {} ({}); default cloud account: {}",
        info.name,
        info.version,
        info.maas.endpoint,
        info.maas.version.as_deref().unwrap_or("version unknown"),
        info.default_account
    );
    if let Some(n) = upgrade_version::notice_for(&name, &info) {
        say!("{n}");
    }
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
    /// The kubemaas version the gateway answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// Set when the gateway runs an older kubemaas than this console.
    #[serde(skip_serializing_if = "Option::is_none")]
    upgrade: Option<VersionNotice>,
    /// A replicated gateway's nodes: as it listed them now, or as last recorded when it
    /// cannot be asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nodes: Vec<NodeView>,
}

/// One node of a replicated gateway, as `gateway show` and `gateway list` report it.
#[derive(Debug, Serialize)]
struct NodeView {
    name: String,
    address: String,
    leader: bool,
    /// Whether it answered this console just now (`gateway show` asks each node).
    #[serde(skip_serializing_if = "Option::is_none")]
    reachable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

impl From<KnownNode> for NodeView {
    fn from(n: KnownNode) -> Self {
        NodeView {
            name: n.node,
            address: n.address,
            leader: n.leader,
            reachable: None,
            problem: None,
        }
    }
}

/// Asks every node of `nodes` for its health at once (through `client`'s identity, each
/// node alone), within `patience` each.
async fn probe_nodes(client: &GatewayClient, nodes: &mut [NodeView], patience: Duration) {
    let answers = futures_util::future::join_all(nodes.iter().map(|n| async move {
        let pinned = client.pinned(&n.address)?;
        match tokio::time::timeout(patience, pinned.health()).await {
            Ok(answer) => answer.map(|_| ()).map_err(color_eyre::Report::from),
            Err(_) => bail!("no answer within {patience:?}"),
        }
    }))
    .await;
    for (n, answer) in nodes.iter_mut().zip(answers) {
        n.reachable = Some(answer.is_ok());
        n.problem = answer.err().map(|e| format!("{e:#}"));
    }
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
        version: None,
        upgrade: None,
        nodes: Vec::new(),
    }
}

/// How long `gateway list` waits for each gateway's answer (they are asked at once).
const LIST_PATIENCE: Duration = Duration::from_secs(3);

/// Asks paired gateway `name` who it is, within `patience`.
async fn ask_info(
    store: &Store,
    name: &str,
    patience: Duration,
) -> color_eyre::Result<GatewayInfo> {
    let client: GatewayClient = console::client_for(store, name)?;
    match tokio::time::timeout(patience, client.info()).await {
        Ok(answer) => Ok(answer?),
        Err(_) => bail!("no answer within {patience:?}"),
    }
}

/// Fills in what the gateway's answer says: reachable, version, and whether it is older
/// than this console.
fn record_answer(v: &mut GatewayView, outcome: color_eyre::Result<GatewayInfo>) {
    match outcome {
        Ok(info) => {
            v.version = Some(info.version.clone());
            v.upgrade = upgrade_version::notice_for(&v.name, &info);
            v.info = Some(info);
            v.reachable = Some(true);
        }
        Err(e) => {
            v.reachable = Some(false);
            v.problem = Some(format!("{e:#}"));
        }
    }
}

async fn list(args: OutputArgs, paths: &Paths) -> color_eyre::Result<()> {
    let store = Store::open(&paths.state_dir)?;
    console::ensure_local(&store)?;
    let rows = store.read(|r| r.gateways())?;
    let mut views = Vec::new();
    for row in &rows {
        views.push(view(row, console::clusters_on(&store, &row.name)?));
    }
    // Every paired gateway is asked at once: one that does not answer holds up nobody.
    let asked = futures_util::future::join_all(rows.iter().map(|row| {
        let store = &store;
        async move {
            if row.kind == GatewayKind::Remote && row.fingerprint.is_some() {
                Some(ask_info(store, &row.name, LIST_PATIENCE).await)
            } else {
                None
            }
        }
    }))
    .await;
    for (v, outcome) in views.iter_mut().zip(asked) {
        if let Some(outcome) = outcome {
            record_answer(v, outcome);
        }
        // Read after asking: an answer that listed nodes was recorded.
        v.nodes = console::known_nodes(&store, &v.name)?
            .into_iter()
            .map(NodeView::from)
            .collect();
        if v.kind == GatewayKind::Local.to_string() {
            v.version = Some(upgrade_version::running_version());
        }
        // The full answer is for `gateway show`.
        v.info = None;
    }
    if args.output != OutputFormat::Table {
        return print_structured(args.output, &views);
    }
    let mut table = Table::new([
        "NAME", "KIND", "ADDRESS", "PAIRED", "VERSION", "CLUSTERS", "NODES",
    ]);
    for v in &views {
        let version = match (&v.version, &v.upgrade, v.reachable) {
            (Some(ver), Some(_), _) => format!("{ver} (older than this console)"),
            (Some(ver), None, _) => ver.clone(),
            (None, _, Some(false)) => "unreachable".into(),
            _ => "-".into(),
        };
        table.row([
            v.name.clone(),
            v.kind.clone(),
            v.address.clone(),
            if v.paired { "yes" } else { "no" }.to_string(),
            version,
            v.clusters.len().to_string(),
            // A replicated gateway's node count; `-` for one node (it lists none).
            match v.nodes.len() {
                0 => "-".to_string(),
                n => n.to_string(),
            },
        ]);
    }
    say_inline!("{}", table.render());
    for v in &views {
        if let Some(n) = &v.upgrade {
            say!("{n}");
        }
    }
    Ok(())
}

async fn show(args: NameArgs, paths: &Paths) -> color_eyre::Result<()> {
    let store = Store::open(&paths.state_dir)?;
    console::ensure_local(&store)?;
    let row = store.read(|r| r.gateway(&args.name))?;
    let mut v = view(&row, console::clusters_on(&store, &row.name)?);
    let mut answered_by = None;
    if row.kind == GatewayKind::Remote && row.fingerprint.is_some() {
        let client = console::client_for(&store, &row.name);
        let answer = match &client {
            Ok(client) => client.info_nodes().await.map_err(color_eyre::Report::from),
            Err(e) => Err(color_eyre::eyre::eyre!("{e}")),
        };
        let outcome = answer.map(|a| {
            answered_by = a.nodes.node.clone();
            v.nodes = a
                .nodes
                .nodes
                .into_iter()
                .map(|n| NodeView {
                    name: n.name,
                    address: n.address,
                    leader: n.leader,
                    reachable: None,
                    problem: None,
                })
                .collect();
            a.gateway
        });
        record_answer(&mut v, outcome);
        if v.nodes.is_empty() {
            // Unreachable now: the nodes it listed last.
            v.nodes = console::known_nodes(&store, &row.name)?
                .into_iter()
                .map(NodeView::from)
                .collect();
        }
        if let Ok(client) = &client {
            probe_nodes(client, &mut v.nodes, LIST_PATIENCE).await;
        }
    }
    if args.output != OutputFormat::Table {
        return print_structured(args.output, &v);
    }
    say!("name:           {}", v.name);
    say!("kind:           {}", v.kind);
    say!("address:        {}", v.address);
    say!("paired:         {}", if v.paired { "yes" } else { "no" });
    if let Some(fp) = &v.ca_fingerprint {
        say!("CA fingerprint: {fp}");
    }
    say!("recorded:       {}", v.created);
    say!(
        "clusters:       {}",
        if v.clusters.is_empty() {
            "none".to_string()
        } else {
            v.clusters.join(", ")
        }
    );
    match (&v.reachable, &v.info, &v.problem) {
        (Some(true), Some(info), _) => {
            say!(
                "reachable:      yes (kubemaas {}, protocol {})",
                info.version,
                info.protocol
            );
            say!(
                "MAAS:           {} ({})",
                info.maas.endpoint,
                info.maas.version.as_deref().unwrap_or("version unknown")
            );
            say!("default account: {}", info.default_account);
        }
        (Some(false), _, Some(problem)) => say!("reachable:      no: {problem}"),
        _ => {}
    }
    if !v.nodes.is_empty() {
        say!(
            "nodes:          {}{}",
            v.nodes.len(),
            answered_by
                .map(|n| format!(" ({n} answered)"))
                .unwrap_or_default()
        );
        let width = v.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
        let addr_width = v.nodes.iter().map(|n| n.address.len()).max().unwrap_or(0);
        for n in &v.nodes {
            let reachable = match (n.reachable, &n.problem) {
                (Some(true), _) => "reachable: yes".to_string(),
                (Some(false), Some(p)) => format!("reachable: no: {p}"),
                (Some(false), None) => "reachable: no".to_string(),
                (None, _) => String::new(),
            };
            say!(
                "  {:width$}  {:addr_width$}  {:6}  {reachable}",
                n.name,
                n.address,
                if n.leader { "leader" } else { "" },
            );
        }
    }
    if let Some(n) = &v.upgrade {
        say!("{n}");
    }
    let waiting = queue::queued(&store, &row.name)?;
    if !waiting.is_empty() {
        say!(
            "queued:         {} cluster request(s) waiting for this gateway: {}",
            waiting.len(),
            waiting
                .iter()
                .map(|r| format!("{} ({})", r.name, r.state))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

// ---- cluster requests through a gateway (called by `kubemaas cluster … --gateway NAME`) ----

/// How often `cluster create --wait` asks again for a gateway that is away.
const QUEUE_RETRY: Duration = Duration::from_secs(2);

/// Sends the requests queued for `engine`'s gateway, saying what happened to each. A gateway
/// still away is not an error here: the requests stay queued.
pub async fn flush_queue(
    store: &Store,
    engine: &RemoteEngine,
) -> color_eyre::Result<queue::FlushReport> {
    let report = queue::flush(store, engine.gateway(), engine.client()).await?;
    for (request, view) in &report.submitted {
        say!(
            "queued request submitted: cluster {} ({}) is {}",
            request.name,
            view.id,
            view.phase
        );
    }
    for (request, reason) in &report.failed {
        say!("queued request refused: cluster {}: {reason}", request.name);
    }
    Ok(report)
}

/// `cluster create --gateway NAME`: creates the cluster, or — while the gateway is upgrading
/// or unreachable — keeps the request as Queued and sends it once the gateway answers (at
/// once with `wait`, otherwise on the next command that reaches the gateway). Gives the
/// cluster's id once the gateway created it, `None` when it was left queued.
pub async fn create_on_gateway(
    store: &Store,
    engine: &RemoteEngine,
    spec: crate::model::ClusterSpec,
    wait: bool,
) -> color_eyre::Result<Option<String>> {
    // Requests queued earlier go first.
    flush_queue(store, engine).await?;
    let gateway = engine.gateway();
    let request = match queue::create_or_queue(store, gateway, engine.client(), spec).await? {
        queue::CreateOutcome::Created(view) => return Ok(Some(view.id.to_string())),
        queue::CreateOutcome::Queued(request) => request,
    };
    say!(
        "cluster {} queued: gateway {gateway} is away ({}); the request is kept here and sent once it answers (`kubemaas cluster list --gateway {gateway}` shows it)",
        request.name,
        request.reason.as_deref().unwrap_or("no answer")
    );
    std::io::stdout().flush()?;
    if !wait {
        return Ok(None);
    }
    loop {
        tokio::time::sleep(QUEUE_RETRY).await;
        flush_queue(store, engine).await?;
        let still = queue::queued(store, gateway)?;
        match still.iter().find(|r| r.id == request.id) {
            None => {
                // Submitted: the gateway's answer named the cluster.
                return Ok(Some(request.name.clone()));
            }
            Some(r) if r.state == queue::QueueState::Failed => bail!(
                "the gateway refused the queued request for cluster {}: {}",
                r.name,
                r.reason.as_deref().unwrap_or("no reason given")
            ),
            Some(_) => {}
        }
    }
}

/// A queued request as `cluster list -o json|yaml` shows it, beside the gateway's clusters.
#[derive(Debug, Serialize)]
struct QueuedView<'a> {
    name: &'a str,
    account: &'a str,
    phase: String,
    queued: String,
    reason: Option<&'a str>,
}

/// `cluster list --gateway NAME`: sends what was queued, then lists the gateway's clusters
/// and the requests still queued (phase Queued) or refused (Failed). With requests queued, a
/// gateway that is away is reported rather than failing the command.
pub async fn list_on_gateway(
    store: &Store,
    engine: &RemoteEngine,
    out: OutputFormat,
) -> color_eyre::Result<()> {
    use crate::engine::EngineApi;
    flush_queue(store, engine).await?;
    let listed = engine.clusters().await;
    let waiting = queue::queued(store, engine.gateway())?;
    let views = match listed {
        Ok(v) => v,
        Err(e) if !waiting.is_empty() => {
            say!(
                "gateway {} is not answering ({e}); its clusters cannot be listed now",
                engine.gateway()
            );
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    if out != OutputFormat::Table {
        let mut all: Vec<serde_json::Value> = views
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        for r in &waiting {
            all.push(serde_json::to_value(QueuedView {
                name: &r.name,
                account: &r.account,
                phase: r.state.to_string(),
                queued: r.queued.to_rfc3339(),
                reason: r.reason.as_deref(),
            })?);
        }
        return print_structured(out, &all);
    }
    if !views.is_empty() || waiting.is_empty() {
        say_inline!("{}", super::cluster_cmd::list_table(&views));
    }
    if !waiting.is_empty() {
        let mut table = Table::new(["NAME", "ACCOUNT", "PHASE", "QUEUED", "REASON"]);
        for r in &waiting {
            table.row([
                r.name.clone(),
                r.account.clone(),
                r.state.to_string(),
                r.queued.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.reason.clone().unwrap_or_default(),
            ]);
        }
        say_inline!("{}", table.render());
    }
    Ok(())
}

/// `gateway upgrade NAME [--binary PATH]`.
async fn upgrade(args: UpgradeArgs, paths: &Paths) -> color_eyre::Result<()> {
    let store = Store::open(&paths.state_dir)?;
    let binary = match args.binary {
        Some(p) => p,
        None => upgrade::own_binary()?,
    };
    let patience = Duration::from_secs(args.timeout.max(1));
    let name = args.name.clone();
    let report = upgrade::upgrade_gateway(&store, &args.name, &binary, patience, |p| {
        match p {
            UpgradeProgress::Node {
                index,
                total,
                name: node,
                address,
                leader,
            } => say!(
                "node {index}/{total} {node} of gateway {name} at {address}{}",
                if leader {
                    " (the leader: it resigns, another node takes over)"
                } else {
                    ""
                }
            ),
            UpgradeProgress::Uploading { address, bytes } => say!(
                "uploading {} ({bytes} bytes) to gateway {name} at {address}",
                binary.display()
            ),
            UpgradeProgress::Restarting { address, from, to } => say!(
                "gateway {name} at {address} installed it: draining, then restarting from kubemaas {from} into {to}"
            ),
            UpgradeProgress::Back { address, version } => {
                say!("gateway {name} at {address} is back, running kubemaas {version}")
            }
        }
        let _ = std::io::stdout().flush();
    })
    .await?;
    for node in &report.nodes {
        tracing::info!(address = %node.address, from = %node.from_version, to = %node.to_version, sha256 = %node.sha256, "gateway node upgraded");
    }
    let to = report
        .nodes
        .last()
        .map(|n| n.to_version.clone())
        .unwrap_or_default();
    say!(
        "gateway {} upgraded: it now runs kubemaas {to}",
        report.gateway
    );
    if report.rolled {
        say!(
            "rolled {} nodes one at a time: the other nodes served while each restarted, so no request was queued",
            report.nodes.len()
        );
    }
    print_flushed(&report.flushed);
    if report.flushed.still_queued > 0 {
        say!(
            "{} queued request(s) still waiting: {}",
            report.flushed.still_queued,
            report
                .flushed
                .away
                .as_deref()
                .unwrap_or("the gateway did not take them")
        );
    }
    Ok(())
}

/// What `gateway resize --json` prints.
#[derive(Debug, Serialize)]
struct ResizeOutcome<'a> {
    gateway: &'a str,
    switched: bool,
    nodes: &'a resize_gw::NodesReport,
    join: &'a [resize_gw::JoinCommand],
    submitted: Vec<&'a str>,
}

/// `gateway resize NAME --nodes 3 --etcd-endpoint URL …`.
async fn resize(args: ResizeArgs, paths: &Paths) -> color_eyre::Result<()> {
    let (nodes, etcd) = resize_gw::settings(
        args.nodes,
        args.etcd_endpoints.clone(),
        args.etcd_prefix.clone(),
        args.etcd_ca.clone(),
        args.etcd_cert.clone(),
        args.etcd_key.clone(),
    )?;
    let store = Store::open(&paths.state_dir)?;
    let name = args.name.clone();
    let quiet = args.json;
    let endpoints = etcd.endpoints.join(", ");
    let report = resize_gw::resize_gateway(
        &store,
        &args.name,
        nodes,
        etcd,
        Duration::from_secs(args.timeout.max(1)),
        |p| {
            if quiet {
                return;
            }
            match p {
                ResizeProgress::Checking { address } => say!(
                    "asking gateway {name} at {address} to move onto etcd at {endpoints}"
                ),
                ResizeProgress::Switching { node, config, .. } => say!(
                    "gateway {name} checked etcd and wrote its `etcd:` section into {config}: draining, then restarting as node {node} (cluster requests made meanwhile are queued)"
                ),
                ResizeProgress::Back { address } => {
                    say!("gateway {name} at {address} is back, keeping its state in etcd")
                }
                ResizeProgress::Waiting { have, want } => {
                    say!("gateway {name} has {have} of {want} nodes: waiting")
                }
            }
            let _ = std::io::stdout().flush();
        },
    )
    .await?;
    let want = usize::from(nodes);
    let mut joined = report.nodes.clone();
    if !report.switched && !quiet {
        say!(
            "gateway {} keeps its state in etcd already: nothing changed",
            report.gateway
        );
    }
    if !quiet {
        print_flushed(&report.flushed);
    }
    let join = resize_gw::join_commands(&joined, want, &args.node_listen);
    if !quiet && !join.is_empty() {
        say!(
            "start the other nodes: copy {} (it holds the MAAS API key: keep it 0600) to each host, then run there:",
            joined.config
        );
        for j in &join {
            say!("  {}", j.command);
        }
        std::io::stdout().flush()?;
    }
    if let Some(secs) = args.wait {
        let client = console::client_for(&store, &args.name)?;
        joined =
            resize_gw::wait_for_nodes(&client, &args.name, want, Duration::from_secs(secs), |p| {
                if let (false, ResizeProgress::Waiting { have, want }) = (quiet, p) {
                    say!("gateway {} has {have} of {want} nodes: waiting", args.name);
                    let _ = std::io::stdout().flush();
                }
            })
            .await?;
    }
    if quiet {
        let outcome = ResizeOutcome {
            gateway: &report.gateway,
            switched: report.switched,
            nodes: &joined,
            join: &join,
            submitted: report
                .flushed
                .submitted
                .iter()
                .map(|(r, _)| r.name.as_str())
                .collect(),
        };
        say!("{}", serde_json::to_string(&outcome)?);
        return Ok(());
    }
    say!(
        "gateway {} has {} node(s): {}",
        report.gateway,
        joined.nodes.len(),
        joined
            .nodes
            .iter()
            .map(|n| format!("{} ({})", n.name, n.address))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// What became of the cluster requests this console had queued, a line each (after an
/// upgrade or a resize brought the gateway back).
fn print_flushed(flushed: &crate::gateway::queue::FlushReport) {
    for (request, view) in &flushed.submitted {
        say!(
            "queued request submitted: cluster {} ({}) is {}",
            request.name,
            view.id,
            view.phase
        );
    }
    for (request, reason) in &flushed.failed {
        say!("queued request refused: cluster {}: {reason}", request.name);
    }
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
