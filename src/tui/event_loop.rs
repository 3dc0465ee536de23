//! The event loop: the single owner of the state and the terminal.
//!
//! Wait for the first message (input, data, 1 Hz tick), drain everything already queued, run
//! `update` on each, start the loads it asks for on their own tasks, then draw — only if the
//! state is dirty, and at most `max_fps` times a second. While nothing changes, nothing is
//! written to the terminal at all.
//!
//! Switching gateways swaps the source: the new one is built on a task and handed back on
//! its own channel, and every answer carries the generation of the source it was asked of,
//! so an answer from the gateway just left is dropped instead of mixing into the new one's
//! screens.

use super::app::{init, update, Cmd, Msg, State};
use super::clusters::POLL_LIMIT;
use super::source::{ConsoleSource, CreateAnswer, ProgressSink, ResizeSink, SourceError};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::{Instant, MissedTickBehavior};

/// Something that can show the state (the real terminal, or a test buffer).
pub trait Renderer {
    /// Draws one whole frame of `state`.
    fn draw(&mut self, state: &State) -> io::Result<()>;
    /// The size of the drawing surface, (columns, rows).
    fn size(&self) -> io::Result<(u16, u16)>;
    /// Forgets what is on screen so the next frame repaints every cell.
    fn clear(&mut self) -> io::Result<()>;
}

/// Loop timing.
#[derive(Debug, Clone, Copy)]
pub struct LoopConfig {
    /// Frame cap (default 20): bursts of changes coalesce into at most this many frames.
    pub max_fps: u32,
    /// The clock's period (1 s).
    pub tick: Duration,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            max_fps: 20,
            tick: Duration::from_secs(1),
        }
    }
}

/// Where the loads' answers go: the loop's data channel, tagged with the source's generation,
/// and the channel a switched source comes back on.
struct Answers<S> {
    data: UnboundedSender<(u64, Msg)>,
    switched: UnboundedSender<(String, Result<Arc<S>, SourceError>)>,
    generation: u64,
}

/// Runs until the state says quit or the input closes. `source` is None when no MAAS is
/// configured (the state then shows the welcome screen and asks for no loads).
pub async fn run<S: ConsoleSource, R: Renderer>(
    state: &mut State,
    source: Option<Arc<S>>,
    renderer: &mut R,
    inputs: &mut UnboundedReceiver<Msg>,
    config: LoopConfig,
) -> io::Result<()> {
    let mut source = source;
    let frame = Duration::from_secs(1) / config.max_fps.max(1);
    let (data_tx, mut data_rx) = mpsc::unbounded_channel::<(u64, Msg)>();
    let (switch_tx, mut switch_rx) =
        mpsc::unbounded_channel::<(String, Result<Arc<S>, SourceError>)>();
    let mut answers = Answers {
        data: data_tx,
        switched: switch_tx,
        generation: 0,
    };
    let mut ticker = tokio::time::interval_at(Instant::now() + config.tick, config.tick);
    // After a stall, one tick, not a burst of catch-up ticks.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_draw: Option<Instant> = None;

    if let Ok(size) = renderer.size() {
        update(state, Msg::Resize(size.0, size.1));
    }
    for cmd in init(state) {
        spawn(cmd, &source, &answers);
    }

    while !state.quit {
        let mut deadline = None;
        if state.dirty {
            let now = Instant::now();
            match last_draw {
                Some(t) if now < t + frame => deadline = Some(t + frame),
                _ => {
                    if std::mem::take(&mut state.clear_requested) {
                        renderer.clear()?;
                    }
                    renderer.draw(state)?;
                    state.dirty = false;
                    last_draw = Some(now);
                }
            }
        }

        let first = tokio::select! {
            m = inputs.recv() => m.unwrap_or(Msg::Quit),
            Some((generation, m)) = data_rx.recv() => {
                if generation != answers.generation && generation != ANY_GENERATION {
                    continue;
                }
                m
            }
            Some((name, next)) = switch_rx.recv() => match next {
                // From here on every load asks the new source; answers still on their way
                // from the old one carry the old generation and are dropped.
                Ok(next) => {
                    let shows_maas = next.shows_maas();
                    source = Some(next);
                    answers.generation += 1;
                    Msg::GatewaySwitched { name, result: Ok(shows_maas) }
                }
                // A refusal is not an answer of any source: it always arrives.
                Err(e) => Msg::GatewaySwitched { name, result: Err(e) },
            },
            _ = ticker.tick() => Msg::Tick,
            _ = sleep_until(deadline), if deadline.is_some() => continue,
        };
        let mut batch = vec![first];
        while let Ok(m) = inputs.try_recv() {
            batch.push(m);
        }
        while let Ok((generation, m)) = data_rx.try_recv() {
            if generation == answers.generation || generation == ANY_GENERATION {
                batch.push(m);
            }
        }
        for msg in batch {
            for cmd in update(state, msg) {
                spawn(cmd, &source, &answers);
            }
            if state.quit {
                break;
            }
        }
    }
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(d).await;
    }
}

/// The generation of answers delivered whichever source is in use (a gateway's upgrade).
const ANY_GENERATION: u64 = u64::MAX;

/// Runs a command on its own task; the answer comes back as a message.
fn spawn<S: ConsoleSource>(cmd: Cmd, source: &Option<Arc<S>>, answers: &Answers<S>) {
    let Some(source) = source.clone() else {
        tracing::debug!(cmd = cmd.name(), "no MAAS configured: command ignored");
        return;
    };
    let tx = answers.data.clone();
    let generation = answers.generation;
    let name = cmd.name();
    if let Cmd::UseGateway(gateway) = cmd {
        let switched = answers.switched.clone();
        tokio::spawn(async move {
            let next = match source.use_gateway(gateway.clone()).await {
                Ok(next) => {
                    tracing::info!(gateway = %gateway, "console switched gateway");
                    Ok(Arc::new(next))
                }
                Err(e) => {
                    tracing::warn!(gateway = %gateway, error = %e, "cannot switch gateway");
                    Err(e)
                }
            };
            let _ = switched.send((gateway, next));
        });
        return;
    }
    tokio::spawn(async move {
        let msg = match cmd {
            Cmd::Identify => Msg::Identified(source.identify().await),
            Cmd::LoadMachines => Msg::MachinesLoaded(source.list_machines().await),
            Cmd::LoadProfiles => Msg::ProfilesLoaded(source.profiles().await),
            Cmd::LoadAccounts => Msg::AccountsLoaded(source.accounts().await),
            Cmd::LoadChoices => Msg::ChoicesLoaded(Box::new(source.placement_choices().await)),
            Cmd::ValidateAccount(draft) => {
                Msg::AccountValidated(source.validate_account(draft).await)
            }
            Cmd::SaveAccount(draft) => Msg::AccountSaved(source.save_account(draft).await),
            Cmd::DeleteAccount(name) => Msg::AccountDeleted(source.delete_account(name).await),
            Cmd::CreateCluster(spec) => match source.create_cluster(*spec).await {
                Ok(CreateAnswer::Created(name)) => Msg::ClusterCreated(Ok(name)),
                Ok(CreateAnswer::Queued { name, reason }) => Msg::ClusterQueued { name, reason },
                Err(e) => Msg::ClusterCreated(Err(e)),
            },
            Cmd::PollEvents(after) => {
                Msg::EventsPolled(source.events_after(after, POLL_LIMIT).await)
            }
            Cmd::LoadClusters => {
                // The console's own queued requests come with every list (first, so the list's
                // answer finds them in place): they show even while the gateway is away.
                let (list, queued) = tokio::join!(source.clusters(), source.queued_requests());
                if let Err(e) = &queued {
                    tracing::warn!(error = %e, "cannot read the queued cluster requests");
                }
                let _ = tx.send((generation, Msg::QueueLoaded(queued)));
                Msg::ClustersLoaded(list)
            }
            Cmd::LoadCluster(key) => {
                let result = source.cluster(key.clone()).await;
                Msg::ClusterLoaded(key, Box::new(result))
            }
            Cmd::DeleteCluster(c) => Msg::ClusterActionDone {
                done: format!("deletion of cluster {c} requested"),
                result: source.delete_cluster(c).await,
            },
            Cmd::AbortCluster(c) => Msg::ClusterActionDone {
                done: format!("abort of cluster {c} requested"),
                result: source.abort_cluster(c).await,
            },
            Cmd::ScalePool {
                cluster,
                pool,
                size,
            } => Msg::ClusterActionDone {
                done: format!("pool {pool} of {cluster} resized to {size}"),
                result: source.scale_pool(cluster, pool, size).await,
            },
            Cmd::WriteKubeconfig { cluster, path } => Msg::ClusterActionDone {
                done: format!(
                    "kubeconfig of {cluster} written to {} (0600)",
                    path.display()
                ),
                result: source.write_kubeconfig(cluster, path).await,
            },
            Cmd::LoadGateways => Msg::GatewaysLoaded(source.gateways().await),
            Cmd::LoadGatewayNodes => Msg::GatewayNodesLoaded(source.gateway_nodes().await),
            Cmd::UnpairGateway(name) => {
                let result = source.unpair_gateway(name.clone()).await;
                Msg::GatewayUnpaired(name, result)
            }
            Cmd::PairGateway { address, code } => {
                Msg::GatewayPaired(source.pair_gateway(address, code).await)
            }
            Cmd::ConfirmPairing(address) => {
                Msg::PairingSaved(source.confirm_pairing(address).await)
            }
            Cmd::UpgradeGateway(gateway) => {
                // Steps and result concern the gateway, not the source in use: they arrive
                // whatever gateway the console switched to meanwhile.
                let steps = tx.clone();
                let who = gateway.clone();
                let sink: ProgressSink = Box::new(move |p| {
                    let _ = steps.send((ANY_GENERATION, Msg::UpgradeProgressed(who.clone(), p)));
                });
                let result = source.upgrade_gateway(gateway.clone(), sink).await;
                if let Err(e) = &result {
                    tracing::warn!(cmd = name, error = %e, "console command failed");
                }
                let _ = tx.send((ANY_GENERATION, Msg::GatewayUpgraded(gateway, result)));
                return;
            }
            Cmd::ResizeGateway { gateway, settings } => {
                // Like an upgrade: about the gateway, whatever source is in use meanwhile.
                let steps = tx.clone();
                let who = gateway.clone();
                let sink: ResizeSink = Box::new(move |p| {
                    let _ = steps.send((ANY_GENERATION, Msg::ResizeProgressed(who.clone(), p)));
                });
                let result = source
                    .resize_gateway(gateway.clone(), settings.clone(), sink)
                    .await;
                if let Err(e) = &result {
                    tracing::warn!(cmd = name, error = %e, "console command failed");
                }
                let _ = tx.send((ANY_GENERATION, Msg::GatewayResized(gateway, result)));
                return;
            }
            Cmd::CheckGateway(gateway) => {
                let reachability = source.check_gateway(gateway.clone()).await;
                Msg::GatewayChecked(gateway, reachability)
            }
            // Handled above: its answer is a new source, not a message.
            Cmd::UseGateway(_) => return,
        };
        if let Msg::Identified(Err(e))
        | Msg::MachinesLoaded(Err(e))
        | Msg::ProfilesLoaded(Err(e))
        | Msg::AccountsLoaded(Err(e))
        | Msg::AccountSaved(Err(e))
        | Msg::AccountDeleted(Err(e))
        | Msg::ClusterCreated(Err(e))
        | Msg::EventsPolled(Err(e))
        | Msg::ClustersLoaded(Err(e))
        | Msg::GatewaysLoaded(Err(e))
        | Msg::GatewayNodesLoaded(Err(e))
        | Msg::GatewayUnpaired(_, Err(e))
        | Msg::PairingSaved(Err(e))
        | Msg::ClusterActionDone { result: Err(e), .. } = &msg
        {
            tracing::warn!(cmd = name, error = %e, "console command failed");
        }
        // The loop is gone when the console quit mid-load: nothing to tell.
        let _ = tx.send((generation, msg));
    });
}
