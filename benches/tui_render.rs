//! Benchmark of the console's rendering: time per frame of the machines table with 5,000 rows,
//! and bytes written to the terminal per frame (a full paint, one selection move, a data refresh
//! where a few machines changed status, and an unchanged state, which the event loop never draws).
//!
//! Then the cluster detail pane following a cluster as it is built: the real event loop, the
//! real embedded engine reconciling against the in-process simulated MAAS (fast clock), and
//! the real crossterm renderer writing into a counter — bytes and frames from submission to
//! Running, per wall-clock second and per simulated minute.
//!
//! Run: `cargo bench --bench tui_render` (options: `--rows N --frames F --speed S`; `--speed 1`
//! follows a deployment at MAAS's real pace, about ten minutes). Figures are written up in
//! docs/benchmarks.md.

#[path = "../tests/tui_support/mod.rs"]
mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::maas::NodeStatus;
use kubemaas::tui::app::{update, view, Msg};
use kubemaas::tui::event_loop::Renderer;
use kubemaas::tui::term::CrosstermRenderer;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tui_support::{fleet, loaded, press};

/// A terminal that counts what it is sent.
#[derive(Clone, Default)]
struct Counting(Arc<Mutex<usize>>);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        *self.0.lock().expect("counter") += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Counting {
    fn take(&self) -> usize {
        std::mem::take(&mut *self.0.lock().expect("counter"))
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rows = arg("--rows", 5_000);
    let frames = arg("--frames", 500).max(1);
    println!("machines table, {rows} rows, {frames} frames per size\n");
    println!("| size | µs per frame (view + diff) | bytes: first frame | one-row move | refresh with 10 status changes |");
    println!("|---|---|---|---|---|");
    for size in [(80u16, 24u16), (120, 40)] {
        // Time: what the loop does per frame, on a test backend (no terminal I/O).
        let mut state = loaded(rows, size);
        let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).expect("backend");
        let started = Instant::now();
        for i in 0..frames {
            // Move the selection so every frame has something new to draw.
            press(
                &mut state,
                if i % 2 == 0 {
                    KeyCode::Down
                } else {
                    KeyCode::Up
                },
            );
            terminal.draw(|f| view(&state, f)).expect("draw");
        }
        let per_frame_us = started.elapsed().as_secs_f64() * 1e6 / frames as f64;

        // Bytes: the real crossterm renderer writing into a counter.
        let out = Counting::default();
        let mut renderer = CrosstermRenderer::with_writer(out.clone(), size).expect("renderer");
        let mut state = loaded(rows, size);
        renderer.draw(&state).expect("draw");
        let first = out.take();
        press(&mut state, KeyCode::Down);
        renderer.draw(&state).expect("draw");
        let moved = out.take();
        let mut changed = fleet(rows);
        for m in changed.iter_mut().take(20).step_by(2) {
            m.status = NodeStatus::Deploying;
        }
        update(&mut state, Msg::MachinesLoaded(Ok(changed)));
        renderer.draw(&state).expect("draw");
        let refresh = out.take();
        println!(
            "| {}x{} | {per_frame_us:.0} | {first} | {moved} | {refresh} |",
            size.0, size.1
        );
    }
    println!("\nAn unchanged state is never drawn (the loop's dirty flag): idle costs 0 bytes.");

    let speed = arg("--speed", 20) as f64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(follow::provisioning(speed));
}

/// The detail pane following a cluster from submission to Running.
mod follow {
    use super::Counting;
    use kubemaas::engine::{EmbeddedEngine, EngineConfig};
    use kubemaas::maas::{Endpoint, MaasClient, MaasConfig};
    use kubemaas::model::{CloudAccount, ClusterSpec};
    use kubemaas::sim::{self, SimConfig};
    use kubemaas::tui::app::{Msg, ScreenId, State};
    use kubemaas::tui::clusters::{Detail, EngineLink, Phase};
    use kubemaas::tui::engine_source::EngineSource;
    use kubemaas::tui::event_loop::{run, LoopConfig, Renderer};
    use kubemaas::tui::source::ConsoleSource;
    use kubemaas::tui::term::CrosstermRenderer;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::sync::mpsc::UnboundedSender;

    /// Counts frames and ends the loop once the pane shows the cluster Running and Ready.
    struct Watching {
        inner: CrosstermRenderer<Counting>,
        frames: usize,
        done: Option<Instant>,
        quit: UnboundedSender<Msg>,
    }

    impl Renderer for Watching {
        fn draw(&mut self, state: &State) -> std::io::Result<()> {
            self.inner.draw(state)?;
            self.frames += 1;
            let running = state
                .clusters
                .detail
                .as_ref()
                .and_then(|d| d.info.as_ref())
                .is_some_and(|i| {
                    i.phase == Phase::Running && i.pools.iter().all(|p| p.ready == p.desired)
                });
            if running && self.done.is_none() {
                self.done = Some(Instant::now());
                let _ = self.quit.send(Msg::Quit);
            }
            Ok(())
        }
        fn size(&self) -> std::io::Result<(u16, u16)> {
            self.inner.size()
        }
        fn clear(&mut self) -> std::io::Result<()> {
            self.inner.clear()
        }
    }

    pub async fn provisioning(speed: f64) {
        println!("\ncluster detail pane following a cluster (1 control plane, 2 workers) from submission to Running, simulator at {speed}x\n");
        println!("| size | wall s | simulated min | frames | bytes | bytes per wall s | bytes per simulated min |");
        println!("|---|---|---|---|---|---|---|");
        for size in [(80u16, 24u16), (120, 40)] {
            one(size, speed).await;
        }
    }

    async fn one(size: (u16, u16), speed: f64) {
        let dir = tempfile::tempdir().expect("state dir");
        let sim = sim::start(SimConfig::generated(200, 42).speed(speed))
            .await
            .expect("simulator");
        let endpoint = Endpoint::parse(&sim.url()).expect("endpoint");
        let account = CloudAccount {
            name: "bench".into(),
            description: String::new(),
            gateway: kubemaas::model::account::LOCAL_GATEWAY.into(),
            endpoint: endpoint.clone(),
            api_key: sim.api_key(),
            ca_cert: None,
        };
        kubemaas::accounts::add_account(dir.path(), &account)
            .await
            .expect("account");
        let mut config = EngineConfig::new(dir.path());
        // The console's own pace (launch.rs): a pass every two seconds.
        config.poll_interval = Duration::from_millis(2_000);
        let engine = EmbeddedEngine::open(config).expect("engine");
        let reconciler = engine.engine().expect("this process reconciles");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let driver = tokio::spawn(async move { reconciler.run(stop_rx).await });
        let client =
            MaasClient::new(MaasConfig::new(endpoint, sim.api_key())).expect("MAAS client");
        let source = Arc::new(
            EngineSource::new(engine, dir.path().to_path_buf(), Some(client)).expect("source"),
        );
        let kubemaas::tui::source::CreateAnswer::Created(name) = source
            .create_cluster(ClusterSpec::with_defaults("bench", "bench", 1, 2))
            .await
            .expect("the engine accepts the spec")
        else {
            panic!("the embedded engine never queues a request");
        };

        // The console already on the cluster's detail, as after Enter on the Clusters list.
        let mut state = State::new(super::tui_support::options(size));
        state.clusters.link = EngineLink::Reconciling;
        state.screen = ScreenId::ClusterDetail;
        state.history.push(ScreenId::Clusters);
        state.clusters.detail = Some(Detail {
            key: name,
            info: None,
            error: None,
            log_back: 0,
            load_in_flight: false,
            stale: false,
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out = Counting::default();
        let mut renderer = Watching {
            inner: CrosstermRenderer::with_writer(out.clone(), size).expect("renderer"),
            frames: 0,
            done: None,
            quit: tx.clone(),
        };
        let started = Instant::now();
        run(
            &mut state,
            Some(source),
            &mut renderer,
            &mut rx,
            LoopConfig::default(),
        )
        .await
        .expect("the loop runs");
        let wall = renderer
            .done
            .unwrap_or_else(Instant::now)
            .duration_since(started)
            .as_secs_f64();
        let bytes = out.take();
        let simulated_min = wall * speed / 60.0;
        println!(
            "| {}x{} | {wall:.1} | {simulated_min:.1} | {} | {bytes} | {:.0} | {:.0} |",
            size.0,
            size.1,
            renderer.frames,
            bytes as f64 / wall,
            bytes as f64 / simulated_min
        );
        let _ = stop_tx.send(true);
        let _ = driver.await;
        sim.shutdown().await;
        drop(tx);
    }
}
