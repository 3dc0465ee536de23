//! `kubemaas cluster …`: write a spec, create, list, show, follow, delete, abort, scale and wait
//! for clusters, through the engine interface the console uses too.

use super::output::{print_structured, OutputFormat, Table};
use crate::accounts::connect;
use crate::engine::{ClusterView, EmbeddedEngine, EngineApi, EngineConfig, EngineEvent, WaitFor};
use crate::gateway::{Followed, RemoteEngine};
use crate::model::maas_check::capacity_shortfalls;
use crate::model::{cluster_template, ClusterSpec, MaasSnapshot};
use crate::store::{EventId, EventRow};
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
    /// Seconds between reconcile passes (or journal reads) while waiting.
    #[arg(long, default_value_t = 5, global = true, hide = true)]
    pub poll_seconds: u64,
    /// The engine to work with: `local` (this host's) or a paired gateway's name.
    #[arg(long, default_value = crate::model::account::LOCAL_GATEWAY, global = true)]
    pub gateway: String,
    /// How long to try draining a node (cordon, evict its pods) before releasing its machine
    /// anyway, with a warning, when a pool shrinks or rolls. Used by the process that runs the
    /// reconcilers (this one while it waits).
    #[arg(long, value_name = "SECONDS", default_value_t = 600, global = true)]
    pub drain_timeout: u64,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ClusterCommand {
    /// Print a complete, commented cluster spec that `cluster create -f` accepts as is.
    New {
        name: String,
        /// The cloud account (MAAS region) to deploy on.
        #[arg(long)]
        account: String,
        /// Control-plane nodes: 1, 3 or 5.
        #[arg(long, default_value_t = 1)]
        control_plane: u32,
        /// Worker nodes.
        #[arg(long, default_value_t = 2)]
        workers: u32,
    },
    /// Create a cluster from a spec file.
    Create {
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Run (or follow) the reconcilers until the cluster is Running.
        #[arg(long)]
        wait: bool,
    },
    /// List clusters.
    List,
    /// Show a cluster: phase, reason, pools, machines, tasks.
    Show { name: String },
    /// Show a cluster's event journal.
    Events {
        name: String,
        /// Keep printing new events.
        #[arg(long)]
        follow: bool,
    },
    /// Delete a provisioned cluster: release its machines, VIP and DNS record.
    Delete {
        name: String,
        /// Erase the machines' disks on release.
        #[arg(long)]
        erase: bool,
        #[arg(long)]
        wait: bool,
    },
    /// Stop a cluster still provisioning and release everything it took.
    Abort {
        name: String,
        #[arg(long)]
        wait: bool,
    },
    /// Change a pool's size.
    Scale {
        name: String,
        #[arg(long)]
        pool: String,
        #[arg(long)]
        size: u32,
        #[arg(long)]
        wait: bool,
    },
    /// Run the reconcilers (resuming whatever an earlier process left) until the cluster gets there.
    Wait {
        name: String,
        #[arg(long = "for", value_enum)]
        target: WaitTarget,
    },
    /// Print the cluster's admin kubeconfig (it holds a private key: keep it private).
    Kubeconfig { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitTarget {
    Running,
    Deleted,
}

/// Why a cluster command failed before reaching the engine.
#[derive(Debug, thiserror::Error)]
pub enum ClusterCmdError {
    #[error("cannot read the spec file {path}: {source}")]
    ReadSpec {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the spec file {path} is not a valid cluster spec: {detail}")]
    ParseSpec { path: PathBuf, detail: String },
    #[error("cannot write a spec with these arguments:\n{0}")]
    Template(String),
}

pub async fn run(args: ClusterArgs, state_dir: &Path) -> color_eyre::Result<()> {
    let mut config = EngineConfig::new(state_dir);
    config.poll_interval = Duration::from_secs(args.poll_seconds.max(1));
    config.drain_timeout = Duration::from_secs(args.drain_timeout);
    if let ClusterCommand::New {
        name,
        account,
        control_plane,
        workers,
    } = &args.command
    {
        let text = cluster_template(name, account, *control_plane, *workers)
            .map_err(|p| ClusterCmdError::Template(p.to_string()))?;
        emit_raw(&text)?;
        return Ok(());
    }
    let store = crate::store::Store::open(state_dir)?;
    if args.gateway != crate::model::account::LOCAL_GATEWAY {
        // The gateway reconciles; this process only submits and follows.
        let engine = RemoteEngine::connect(&store, &args.gateway)?;
        if let ClusterCommand::Create { file, .. } = &args.command {
            if let Ok(spec) = read_spec(file) {
                let snapshot = engine
                    .maas_snapshot(&spec.spec.cloud_account)
                    .await
                    .map_err(|e| e.to_string());
                warn_capacity(&spec, snapshot);
            }
        }
        if let ClusterCommand::Events { name, follow: true } = &args.command {
            return follow_remote(&engine, name, args.output).await;
        }
        // Creating and listing know about requests queued while the gateway is away.
        if let ClusterCommand::Create { file, wait } = &args.command {
            let spec = read_spec(file)?;
            return match super::gateway_cmd::create_on_gateway(&store, &engine, spec, *wait).await?
            {
                Some(id) => {
                    finish(
                        &engine,
                        &id,
                        wait.then_some(WaitFor::Running),
                        args.output,
                        "created",
                    )
                    .await
                }
                None => Ok(()),
            };
        }
        if let ClusterCommand::List = &args.command {
            return super::gateway_cmd::list_on_gateway(&store, &engine, args.output).await;
        }
        return exec(&engine, args).await;
    }
    if let ClusterCommand::Create { file, .. } = &args.command {
        if let Ok(spec) = read_spec(file) {
            let snapshot = local_snapshot(&store, state_dir, &spec.spec.cloud_account).await;
            warn_capacity(&spec, snapshot);
        }
    }
    // Commands only record changes and read; the reconciler lock is taken by whoever waits.
    let engine = EmbeddedEngine::watcher(store, config);
    exec(&engine, args).await
}

/// Runs a command against `engine`, embedded or remote: the same calls, the same output.
async fn exec<E: EngineApi>(engine: &E, args: ClusterArgs) -> color_eyre::Result<()> {
    let out = args.output;
    match args.command {
        ClusterCommand::New { .. } => Ok(()),
        ClusterCommand::Create { file, wait } => {
            let spec = read_spec(&file)?;
            let view = engine.create_cluster(spec).await?;
            finish(
                engine,
                &view.name,
                wait.then_some(WaitFor::Running),
                out,
                "created",
            )
            .await
        }
        ClusterCommand::List => {
            let views = engine.clusters().await?;
            match out {
                OutputFormat::Table => {
                    emit(&list_table(&views))?;
                }
                f => print_structured(f, &views)?,
            }
            Ok(())
        }
        ClusterCommand::Show { name } => {
            let view = engine.cluster(&name).await?;
            show(&view, out)
        }
        ClusterCommand::Events { name, follow } => {
            let view = engine.cluster(&name).await?;
            let mut after = EventId(0);
            loop {
                let batch = engine.events(Some(&view.id), after, 500).await?;
                let rows: Vec<EventRow> = batch
                    .into_iter()
                    .map(|e| match e {
                        EngineEvent::Journal(row) => row,
                    })
                    .collect();
                if let Some(last) = rows.last() {
                    after = last.id;
                }
                let open = print_events(&rows, out)?;
                if !follow || !open {
                    return Ok(());
                }
                if rows.is_empty() {
                    tokio::time::sleep(Duration::from_secs(args.poll_seconds.max(1))).await;
                }
            }
        }
        ClusterCommand::Delete { name, erase, wait } => {
            // By id from here on: a gateway reconciling at once may finish the deletion before
            // the name is looked up again, and a deleted cluster is found by id only.
            let id = engine.cluster(&name).await?.id.to_string();
            engine.delete_cluster(&id, erase).await?;
            finish(
                engine,
                &id,
                wait.then_some(WaitFor::Deleted),
                out,
                "deletion requested",
            )
            .await
        }
        ClusterCommand::Abort { name, wait } => {
            let id = engine.cluster(&name).await?.id.to_string();
            engine.abort_cluster(&id).await?;
            finish(
                engine,
                &id,
                wait.then_some(WaitFor::Settled),
                out,
                "abort requested",
            )
            .await
        }
        ClusterCommand::Scale {
            name,
            pool,
            size,
            wait,
        } => {
            engine.scale_pool(&name, &pool, size).await?;
            finish(
                engine,
                &name,
                wait.then_some(WaitFor::Running),
                out,
                "scaled",
            )
            .await
        }
        ClusterCommand::Wait { name, target } => {
            let target = match target {
                WaitTarget::Running => WaitFor::Running,
                WaitTarget::Deleted => WaitFor::Deleted,
            };
            finish(engine, &name, Some(target), out, "").await
        }
        ClusterCommand::Kubeconfig { name } => {
            emit_raw(&engine.kubeconfig(&name).await?)?;
            Ok(())
        }
    }
}

/// Reads and parses a spec file.
/// The account's MAAS as the wizards see it, read from here.
async fn local_snapshot(
    store: &crate::store::Store,
    state_dir: &Path,
    account: &str,
) -> Result<MaasSnapshot, String> {
    let row = store
        .read(|r| r.account(account))
        .map_err(|e| e.to_string())?;
    let client = connect::client_for(state_dir, &row, connect::Patience::Check)
        .map_err(|e| e.to_string())?;
    MaasSnapshot::fetch(&client)
        .await
        .map_err(|e| e.to_string())
}

/// Says on stderr, before the cluster is created, which pools MAAS cannot fill now, with the
/// counts: the cluster is created all the same and waits for the machines (the engine checks
/// again). A MAAS that cannot be read is said too; the engine reports what it finds then.
fn warn_capacity(spec: &ClusterSpec, snapshot: Result<MaasSnapshot, String>) {
    let text = match snapshot {
        Ok(maas) => {
            let (waitable, never) = capacity_shortfalls(spec, &maas);
            let waits = waitable.iter().map(|p| {
                format!("warning: not enough machines for {p}: the cluster will wait for them\n")
            });
            let refused = never.iter().map(|p| {
                format!("warning: {p}: the cluster will fail before taking any machine\n")
            });
            waits.chain(refused).collect::<String>()
        }
        Err(e) => format!("note: could not count the machines MAAS has for each pool ({e}); the engine checks when it starts\n"),
    };
    if !text.is_empty() {
        eprint!("{}", crate::untrusted::terminal_safe(&text));
    }
}

fn read_spec(file: &Path) -> Result<ClusterSpec, ClusterCmdError> {
    let text = std::fs::read_to_string(file).map_err(|source| ClusterCmdError::ReadSpec {
        path: file.to_path_buf(),
        source,
    })?;
    ClusterSpec::from_yaml(&text).map_err(|e| ClusterCmdError::ParseSpec {
        path: file.to_path_buf(),
        detail: e.to_string(),
    })
}

/// `cluster events NAME --follow --gateway GW`: the journal so far, then each event as the
/// gateway appends it (its live stream, resumed after the last event if the connection drops).
async fn follow_remote(
    engine: &RemoteEngine,
    name: &str,
    out: OutputFormat,
) -> color_eyre::Result<()> {
    let view = engine.cluster(name).await?;
    let mut follower = engine.follow(Some(view.id), Some(EventId(0)));
    loop {
        if let Followed::Event(row) = follower.next().await? {
            if !print_events(std::slice::from_ref(&row), out)? {
                return Ok(());
            }
        }
    }
}

/// Prints the cluster after a command, waiting first when asked (a progress line per pool
/// whenever it changes). A cluster that ends Failed makes the command fail with the reason.
async fn finish<E: EngineApi>(
    engine: &E,
    name: &str,
    wait: Option<WaitFor>,
    out: OutputFormat,
    done: &str,
) -> color_eyre::Result<()> {
    // A deleted cluster is only reachable by id: resolve it now.
    let id = engine.cluster(name).await?.id.to_string();
    let view = match wait {
        None => engine.cluster(&id).await?,
        Some(target) => {
            let mut last = String::new();
            let table = out == OutputFormat::Table;
            // A cluster ending Failed comes back as `EngineError::ClusterFailed` with its reason,
            // which main prints before exiting non-zero.
            engine
                .wait(&id, target, |v| {
                    let line = progress_lines(v);
                    if table && line != last {
                        // A closed pipe only means nobody reads the progress any more.
                        let _ = emit(&line);
                        last = line;
                    }
                })
                .await?
        }
    };
    match out {
        OutputFormat::Table => {
            if !done.is_empty() {
                emit(&format!("cluster {} {done}: {}\n", view.name, view.phase))?;
            } else {
                emit(&format!("cluster {} is {}\n", view.name, view.phase))?;
            }
        }
        f => print_structured(f, &view)?,
    }
    Ok(())
}

/// `phase (reason)` then one line per pool.
pub fn progress_lines(v: &ClusterView) -> String {
    let mut s = format!("{}: {}", v.name, v.phase);
    if let Some(r) = &v.reason {
        s.push_str(&format!(" ({r})"));
    }
    s.push('\n');
    for p in &v.status.pools {
        s.push_str(&format!("  {}\n", p.line()));
    }
    s
}

pub fn list_table(views: &[ClusterView]) -> String {
    let mut t = Table::new([
        "NAME", "ID", "ACCOUNT", "PHASE", "NODES", "ENDPOINT", "REASON",
    ]);
    for v in views {
        let desired: u32 = v.status.pools.iter().map(|p| p.desired).sum();
        let ready: u32 = v.status.pools.iter().map(|p| p.ready).sum();
        t.row([
            v.name.clone(),
            v.id.to_string(),
            v.account.clone(),
            v.phase.to_string(),
            format!("{ready}/{desired}"),
            v.status
                .vip
                .clone()
                .or_else(|| v.status.dns_fqdn.clone())
                .unwrap_or_else(|| "-".into()),
            v.reason.clone().unwrap_or_default(),
        ]);
    }
    if t.is_empty() {
        return "no clusters: write a spec with `kubemaas cluster new NAME --account A > spec.yaml`, then `kubemaas cluster create -f spec.yaml`\n".into();
    }
    t.render()
}

fn show(v: &ClusterView, out: OutputFormat) -> color_eyre::Result<()> {
    if out != OutputFormat::Table {
        return print_structured(out, v);
    }
    emit(&show_text(v))?;
    Ok(())
}

/// `cluster show` as text: progress, endpoint, machines, tasks.
pub fn show_text(v: &ClusterView) -> String {
    let mut s = progress_lines(v);
    s.push_str(&format!(
        "id: {}  account: {}  spec generation: {} (reconciled: {})\n",
        v.id, v.account, v.spec_generation, v.observed_generation
    ));
    if let Some(vip) = &v.status.vip {
        s.push_str(&format!("endpoint: https://{vip}:6443\n"));
    } else if let Some(fqdn) = &v.status.dns_fqdn {
        s.push_str(&format!("endpoint: https://{fqdn}:6443\n"));
    }
    s.push('\n');
    let mut t = Table::new([
        "SYSTEM ID",
        "HOSTNAME",
        "POOL",
        "ROLE",
        "STATE",
        "MAAS",
        "IP",
    ]);
    for m in &v.machines {
        t.row([
            m.system_id.clone(),
            m.hostname.clone().unwrap_or_default(),
            m.pool.clone(),
            m.role.clone(),
            m.state.clone(),
            m.maas_status.clone().unwrap_or_default(),
            m.ip.clone().unwrap_or_default(),
        ]);
    }
    s.push_str(&t.render());
    s.push('\n');
    let mut t = Table::new(["TASK", "KIND", "STATE", "STARTED", "MESSAGE"]);
    for task in &v.tasks {
        t.row([
            task.id.to_string(),
            task.kind.clone(),
            task.state.clone(),
            task.started.format("%H:%M:%S").to_string(),
            task.message.clone(),
        ]);
    }
    s.push_str(&t.render());
    s
}

#[derive(serde::Serialize)]
struct EventOut<'a> {
    id: i64,
    time: String,
    level: String,
    source: &'a str,
    machine: Option<&'a str>,
    message: &'a str,
}

/// Prints events; `Ok(false)` when stdout was closed (`| head`): stop following.
fn print_events(rows: &[EventRow], out: OutputFormat) -> color_eyre::Result<bool> {
    match out {
        OutputFormat::Table => {
            let mut text = String::new();
            for e in rows {
                text.push_str(&format!(
                    "{} {:<5} {}{}\n",
                    e.time.format("%H:%M:%S"),
                    e.level.to_string(),
                    e.machine
                        .as_deref()
                        .map(|m| format!("[{m}] "))
                        .unwrap_or_default(),
                    e.message
                ));
            }
            Ok(emit(&text)?)
        }
        f => {
            let list: Vec<EventOut<'_>> = rows
                .iter()
                .map(|e| EventOut {
                    id: e.id.0,
                    time: e.time.to_rfc3339(),
                    level: e.level.to_string(),
                    source: &e.source,
                    machine: e.machine.as_deref(),
                    message: &e.message,
                })
                .collect();
            print_structured(f, &list)?;
            Ok(true)
        }
    }
}

/// Writes text for people to stdout. Reasons, events and names come from MAAS, probes and
/// specs: their control characters are shown escaped ([`crate::untrusted::terminal_safe`]).
fn emit(text: &str) -> std::io::Result<bool> {
    emit_raw(&crate::untrusted::terminal_safe(text))
}

/// Writes kubemaas's own documents (a spec template, a kubeconfig) as they are, for files and
/// pipes. A closed pipe (`kubemaas cluster events x | head`) is not an error: the reader has
/// seen enough, so it returns `Ok(false)`.
fn emit_raw(text: &str) -> std::io::Result<bool> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}
