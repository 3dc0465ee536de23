//! Starting the console: settle theme, keymap and the MAAS to look at *before* the terminal is
//! taken (so setup errors print normally), then run the event loop inside a terminal guard.

use super::app::{Connection, FlashLevel, State, StateOptions};
use super::clusters::EngineLink;
use super::engine_source::EngineSource;
use super::event_loop::{self, LoopConfig, Renderer};
use super::input;
use super::keymap::Keymap;
use super::term::TerminalGuard;
use super::theme::{ColorSupport, Theme, ThemeError, DEFAULT_THEME};
use crate::engine::{EmbeddedEngine, EngineConfig, EngineError};
use crate::maas::{
    ApiKey, ApiKeyError, ClientConfigError, Endpoint, EndpointError, MaasClient, MaasConfig,
};
use crate::paths::Paths;
use crate::sim::{self, SimConfig, SimError};
use std::io::IsTerminal;
use std::sync::Arc;

/// How `kubemaas` (no subcommand) was asked to run.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// `--theme NAME`; None = dark.
    pub theme: Option<String>,
    /// `--readonly`.
    pub readonly: bool,
    /// `--mouse`: capture the mouse (off by default: capture breaks text selection).
    pub mouse: bool,
    /// `--demo`: an in-process simulated MAAS.
    pub demo: bool,
    /// `--gateway NAME`: open on this paired gateway instead of the embedded engine.
    pub gateway: Option<String>,
    /// `config_dir`: theme and keymap overrides. `state_dir`: the engine's state (a throw-away
    /// directory with `--demo`).
    pub paths: Paths,
}

/// The simulated fleet of `--demo`: big enough to scroll and filter, quick to generate.
pub const DEMO_MACHINES: usize = 200;
/// Virtual seconds per real second in `--demo`: a 10-minute deployment takes 10 seconds.
pub const DEMO_SPEED: f64 = 60.0;
const DEMO_SEED: u64 = 42;
/// The demo's speed, overridable (tests run the demo much faster).
pub const DEMO_SPEED_ENV: &str = "KUBEMAAS_DEMO_SPEED";
/// The engine's pause between passes in milliseconds, overridable (tests shorten it).
pub const ENGINE_POLL_ENV: &str = "KUBEMAAS_ENGINE_POLL_MS";
/// The account `--demo` adds for its simulated MAAS.
pub const DEMO_ACCOUNT: &str = "demo";
/// The engine's pause between passes in the console: progress shows within two seconds.
const CONSOLE_POLL_MS: u64 = 2_000;

/// Why the console could not start (or had to stop).
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("the console needs an interactive terminal, and stdin/stdout is not one: run kubemaas in a terminal, or use the scriptable commands (e.g. `kubemaas maas machines`)")]
    NotATerminal,
    #[error(transparent)]
    Theme(#[from] ThemeError),
    #[error("{set} is set but {missing} is not: set both to open the console on your MAAS, or unset both (or use `kubemaas --demo`)")]
    HalfConfigured {
        set: &'static str,
        missing: &'static str,
    },
    #[error("MAAS_URL is not usable: {0}")]
    Endpoint(#[from] EndpointError),
    #[error("MAAS_API_KEY is not usable: {0}")]
    ApiKey(#[from] ApiKeyError),
    #[error("cannot set up the MAAS client: {0}")]
    Client(#[from] ClientConfigError),
    #[error("cannot start the demo MAAS simulator: {0}")]
    Demo(#[from] SimError),
    #[error("cannot open the engine on the state dir: {0}")]
    Engine(#[from] EngineError),
    #[error("cannot read the cloud accounts in the state dir: {0}")]
    Accounts(String),
    #[error("cannot open the state dir: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot add the demo's cloud account: {0}")]
    DemoAccount(String),
    #[error("{var} is not usable: {detail}")]
    BadEnv { var: &'static str, detail: String },
    #[error("cannot open the console on the gateway: {0}")]
    Gateway(String),
    #[error("the terminal failed: {0} (if the SSH session dropped, just reconnect and start kubemaas again)")]
    Terminal(#[from] std::io::Error),
}

/// Runs the console until the operator quits (or a signal / dropped terminal ends it).
pub async fn run_console(opts: ConsoleOptions) -> Result<(), ConsoleError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(ConsoleError::NotATerminal);
    }
    tracing::info!(state_dir = %opts.paths.state_dir.display(), demo = opts.demo, readonly = opts.readonly, "console starting");
    let theme_name = opts.theme.as_deref().unwrap_or(DEFAULT_THEME);
    let theme = Theme::load(theme_name, Some(&opts.paths.config_dir))?
        .for_terminal(ColorSupport::from_env());
    let (keymap, warnings) = Keymap::load(Some(&opts.paths.config_dir));
    for w in &warnings {
        tracing::warn!(warning = %w, "keymap");
    }

    // Where the data comes from, settled before the terminal is taken.
    let env = |k: &str| std::env::var(k).ok();
    let (client, sim) = if opts.demo {
        let speed = env_number(&env, DEMO_SPEED_ENV)?.unwrap_or(DEMO_SPEED);
        let sim = sim::start(SimConfig::generated(DEMO_MACHINES, DEMO_SEED).speed(speed)).await?;
        tracing::info!(url = %sim.url(), speed, "demo: simulated MAAS started");
        let endpoint = Endpoint::parse(&sim.url())?;
        let client = MaasClient::new(MaasConfig::new(endpoint.clone(), sim.api_key()))?;
        add_demo_account(&opts.paths.state_dir, endpoint, sim.api_key()).await?;
        (Some(client), Some(sim))
    } else {
        match maas_from_env(env)? {
            Some(config) => (Some(MaasClient::new(config)?), None),
            // No MAAS in the environment: the cloud account the operator added with
            // `kubemaas account add` (the first on this host), so the console opens on it.
            None => (stored_account_client(&opts.paths.state_dir)?, None),
        }
    };
    let poll_ms = env_number(&env, ENGINE_POLL_ENV)?
        .map(|ms: f64| ms.max(10.0) as u64)
        .unwrap_or(CONSOLE_POLL_MS);
    let mut config = EngineConfig::new(&opts.paths.state_dir);
    config.poll_interval = std::time::Duration::from_millis(poll_ms);
    // A read-only console changes nothing, not even by resuming queued work: it only watches.
    let engine = if opts.readonly {
        EmbeddedEngine::watcher(
            crate::store::Store::open(&opts.paths.state_dir)?,
            config.clone(),
        )
    } else {
        EmbeddedEngine::open(config.clone())?
    };
    let link = if engine.engine().is_some() {
        EngineLink::Reconciling
    } else {
        EngineLink::Watching
    };
    let mut source = EngineSource::new(engine.clone(), opts.paths.state_dir.clone(), client)
        .map_err(|e| ConsoleError::Accounts(e.message))?;
    let local_maas = source.has_maas();
    // Settled before the terminal is taken: a gateway that is not paired or does not answer
    // is said plainly on the shell.
    let gateway = opts
        .gateway
        .clone()
        .filter(|g| g != crate::model::account::LOCAL_GATEWAY);
    if let Some(name) = &gateway {
        source = source
            .on_gateway(name)
            .await
            .map_err(|e| ConsoleError::Gateway(e.message))?;
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let driver =
        (!opts.readonly).then(|| tokio::spawn(drive(engine, config.poll_interval, stop_rx)));
    let connection = if source.has_maas() {
        Connection::Connecting
    } else {
        Connection::NotConfigured
    };
    let mut state = State::new(StateOptions {
        theme,
        keymap,
        readonly: opts.readonly,
        connection,
        refresh_secs: 5,
        size: (80, 24),
    });
    state.gateways.local_link = link;
    state.gateways.local_maas = local_maas;
    state.clusters.link = link;
    if let Some(name) = gateway {
        // The gateway reconciles; this console watches it (leaving stops nothing there).
        state.clusters.link = EngineLink::Watching;
        state.gateways.in_use = name.clone();
        state.flash(
            FlashLevel::Info,
            format!("this console works through gateway {name}"),
        );
    } else if link == EngineLink::Watching && !opts.readonly {
        state.flash(
            FlashLevel::Info,
            "another kubemaas process runs the engine on this state dir: this console watches",
        );
    }
    if opts.demo {
        state.flash(
            FlashLevel::Info,
            format!(
                "Demo: a simulated MAAS with {DEMO_MACHINES} machines (nothing real is touched)"
            ),
        );
    }

    // After the demo note, so a broken keymap is what the operator sees first.
    if let Some(first) = warnings.first() {
        let more = match warnings.len() {
            1 => String::new(),
            n => format!(" (+{} more in the log)", n - 1),
        };
        state.flash(FlashLevel::Warning, format!("{first}{more}"));
    }
    let result = run_in_terminal(&mut state, Some(Arc::new(source)), opts.mouse).await;
    // Stop the reconcilers between passes: the store stays consistent and the next start (or
    // `kubemaas cluster wait`) resumes from it.
    let _ = stop_tx.send(true);
    if let Some(Err(e)) = match driver {
        Some(d) => Some(d.await),
        None => None,
    } {
        tracing::warn!(error = %e, "engine driver ended abnormally");
    }
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    result
}

/// A client for the first cloud account reached from this host (gateway `local`), if any.
pub fn stored_account_client(
    state_dir: &std::path::Path,
) -> Result<Option<MaasClient>, ConsoleError> {
    use crate::accounts::connect::{client_for, Patience};
    let store = crate::store::Store::open(state_dir)?;
    let accounts = store.read(|r| r.accounts())?;
    let Some(row) = accounts
        .iter()
        .find(|a| a.gateway.as_deref().is_none_or(|g| g == "local"))
    else {
        return Ok(None);
    };
    tracing::info!(account = %row.name, "console: MAAS from the stored cloud account");
    client_for(state_dir, row, Patience::Work)
        .map(Some)
        .map_err(|e| ConsoleError::Accounts(e.to_string()))
}

async fn run_in_terminal(
    state: &mut State,
    source: Option<Arc<EngineSource>>,
    mouse: bool,
) -> Result<(), ConsoleError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let signals = input::spawn_signal_watch(tx.clone())?;
    let guard = TerminalGuard::enter(mouse)?;
    let mut renderer = guard.renderer()?;
    if let Ok(size) = renderer.size() {
        state.size = size;
    }
    let hangup = input::spawn_hangup_watch(tx.clone());
    let keys = input::spawn_terminal_input(tx);
    let result =
        event_loop::run(state, source, &mut renderer, &mut rx, LoopConfig::default()).await;
    keys.abort();
    signals.abort();
    hangup.abort();
    renderer.close();
    drop(guard);
    match result {
        Ok(()) => {
            tracing::info!("console closed");
            Ok(())
        }
        // The terminal went away under us (a dropped SSH session): nobody is left to read an
        // error, and leaving is exactly what was wanted.
        Err(e) if !std::io::stdout().is_terminal() => {
            tracing::info!(error = %e, "console closed: the terminal is gone");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs the reconcilers in this process while the console is open: at once when it holds the
/// lock, or as soon as the process holding it exits (until then the console only watches).
async fn drive(
    engine: EmbeddedEngine,
    poll: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match engine.take_over() {
            Ok(Some(reconciler)) => {
                if let Err(e) = reconciler.run(stop).await {
                    tracing::error!(error = %e, "the engine stopped");
                }
                return;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot take the reconciler lock"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

/// Adds the `demo` account for the simulated MAAS (checked live, like `account add`).
async fn add_demo_account(
    state_dir: &std::path::Path,
    endpoint: Endpoint,
    key: ApiKey,
) -> Result<(), ConsoleError> {
    let account = crate::model::CloudAccount {
        name: DEMO_ACCOUNT.to_string(),
        description: "the --demo simulator".to_string(),
        gateway: crate::model::account::LOCAL_GATEWAY.to_string(),
        endpoint,
        api_key: key,
        ca_cert: None,
    };
    crate::accounts::add_account(state_dir, &account)
        .await
        .map_err(|e| ConsoleError::DemoAccount(e.to_string()))?;
    Ok(())
}

/// A positive number from the environment, None when unset.
fn env_number(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<f64>, ConsoleError> {
    match var(name).map(|v| v.trim().to_string()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => match v.parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => Ok(Some(n)),
            _ => Err(ConsoleError::BadEnv {
                var: name,
                detail: format!("`{v}` is not a positive number: unset it or give e.g. 60"),
            }),
        },
    }
}

/// The MAAS described by MAAS_URL / MAAS_API_KEY (read through `var`), None when neither is set.
pub fn maas_from_env(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<MaasConfig>, ConsoleError> {
    let get = |k: &str| {
        var(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    match (get("MAAS_URL"), get("MAAS_API_KEY")) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConsoleError::HalfConfigured {
            set: "MAAS_URL",
            missing: "MAAS_API_KEY",
        }),
        (None, Some(_)) => Err(ConsoleError::HalfConfigured {
            set: "MAAS_API_KEY",
            missing: "MAAS_URL",
        }),
        (Some(url), Some(key)) => {
            let endpoint = Endpoint::parse(&url)?;
            let key: ApiKey = key.parse()?;
            Ok(Some(MaasConfig::new(endpoint, key)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn env_configuration() {
        assert!(maas_from_env(env(&[])).unwrap().is_none());
        assert!(
            maas_from_env(env(&[("MAAS_URL", " "), ("MAAS_API_KEY", "")]))
                .unwrap()
                .is_none()
        );
        let e = maas_from_env(env(&[("MAAS_URL", "http://127.0.0.1:5240/MAAS")])).unwrap_err();
        assert!(e.to_string().contains("MAAS_API_KEY is not"), "{e}");
        let e = maas_from_env(env(&[
            ("MAAS_URL", "http://127.0.0.1:5240/MAAS"),
            ("MAAS_API_KEY", "secretpart:only"),
        ]))
        .unwrap_err();
        assert!(matches!(e, ConsoleError::ApiKey(_)), "{e}");
        assert!(
            e.to_string().starts_with("MAAS_API_KEY is not usable"),
            "{e}"
        );
        assert!(!e.to_string().contains("secretpart"), "the key leaked: {e}");
        let ok = maas_from_env(env(&[
            ("MAAS_URL", "http://127.0.0.1:5240/MAAS"),
            (
                "MAAS_API_KEY",
                "aaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbb:cccccccccccccccccccccccccccccccc",
            ),
        ]))
        .unwrap();
        assert!(ok.is_some());
    }
}
