//! Benchmark of the engine: provisioning a cluster from Pending to Running against the in-process
//! MAAS simulator on a fast virtual clock, with the production driver ([`EngineApi::wait`]), the
//! production probe choice (the simulator's Kubernetes side) and default retries. For each size
//! it reports the wall time, the virtual (MAAS) time against the 600 s a simulated deployment
//! takes, the reconcile passes, and the MAAS requests in total, per provisioned machine and by
//! endpoint (the simulator's counters).
//!
//! Run: `cargo bench --profile dev --bench engine_provision` (a release build is not needed: the
//! dependencies are optimised in the dev profile). Options: `--speed S` (virtual seconds per
//! second, default 600: a deployment takes one second), `--poll-seconds P` (the engine's pause
//! between passes in virtual seconds, default 10 as in production), `--budget-seconds B` (wall
//! time allowed per size, default 120) and `--only CP+W` (one size, e.g. `--only 3+100`).
//! Figures are written up in docs/benchmarks.md.

#[path = "../tests/engine_support/mod.rs"]
mod engine_support;

use engine_support::{fleet, spec, Harness};
use kubemaas::engine::{EmbeddedEngine, EngineApi, EngineConfig, WaitFor};
use kubemaas::store::{EventId, EventLevel};
use std::time::{Duration, Instant};

/// The simulator's deployment time in virtual seconds.
const DEPLOY_SECS: f64 = kubemaas::sim::state::DEPLOY_TOTAL_SECS as f64;
/// The least virtual time any cluster can take in the simulator: every machine deployed at
/// once, then kubeadm init on the first control-plane node, then its node Ready (the other
/// nodes join meanwhile). The engine's cost is what it adds on top.
const IDEAL_SECS: f64 = DEPLOY_SECS
    + (kubemaas::sim::k8s::API_SERVER_SECS + kubemaas::sim::k8s::NODE_READY_SECS) as f64;

struct Options {
    speed: f64,
    poll_seconds: f64,
    budget: Duration,
    sizes: Vec<(u32, u32)>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        speed: 600.0,
        poll_seconds: 10.0,
        budget: Duration::from_secs(120),
        sizes: vec![(1, 2), (3, 20), (3, 100)],
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).map(String::as_str);
        let number = value
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| *v > 0.0);
        match (args[i].as_str(), number) {
            ("--speed", Some(v)) => o.speed = v,
            ("--poll-seconds", Some(v)) => o.poll_seconds = v,
            ("--budget-seconds", Some(v)) => o.budget = Duration::from_secs_f64(v),
            ("--only", _) => {
                let size = value
                    .and_then(|v| v.split_once('+'))
                    .and_then(|(cp, w)| Some((cp.parse().ok()?, w.parse().ok()?)))
                    .ok_or("--only takes CONTROL_PLANE+WORKERS, e.g. --only 3+100")?;
                o.sizes = vec![size];
            }
            (flag @ ("--speed" | "--poll-seconds" | "--budget-seconds"), None) => {
                return Err(format!("{flag} takes a number greater than 0"));
            }
            // `cargo bench` passes `--bench`; ignore anything we do not know.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    Ok(o)
}

struct Run {
    machines: u32,
    wall: Duration,
    virtual_secs: f64,
    passes: u32,
    requests: u64,
    by_endpoint: Vec<(u64, String)>,
    /// The journal's warnings and errors (retries, replacements), first few.
    warnings: Vec<String>,
    warning_count: usize,
}

async fn provision(o: &Options, cp: u32, workers: u32, seed: u64) -> Result<Run, String> {
    let machines = cp + workers;
    // A few spare machines, as an operator would have; the fleet is uniform so every pool fits.
    let inventory = fleet(machines as usize + 6, seed, false);
    // The account `lab` on the simulator, in a fresh state dir.
    let h = Harness::with_fleet_at_speed(inventory, seed, o.speed).await;
    let (sim, store) = (&h.sim, &h.store);
    let mut config = EngineConfig::new(h.dir.path());
    config.poll_interval = Duration::from_secs_f64(o.poll_seconds / o.speed);
    let engine = EmbeddedEngine::with_store(store.clone(), config).map_err(|e| e.to_string())?;
    let name = format!("bench-{cp}-{workers}");
    let id = engine
        .create_cluster(spec(&name, cp, &[("workers", workers)]))
        .await
        .map_err(|e| e.to_string())?
        .id;

    sim.counters().reset();
    let clock = sim.clock();
    let virtual_start = clock.now();
    let started = Instant::now();
    let mut passes = 0u32;
    let waited = tokio::time::timeout(
        o.budget,
        engine.wait(&name, WaitFor::Running, |_| passes += 1),
    )
    .await;
    let wall = started.elapsed();
    let virtual_secs = (clock.now() - virtual_start).num_milliseconds() as f64 / 1000.0;
    match waited {
        Err(_) => {
            return Err(format!(
                "{cp} + {workers}: not Running within the {:?} budget (raise --budget-seconds)",
                o.budget
            ))
        }
        Ok(Err(e)) => return Err(format!("{cp} + {workers}: {e}")),
        Ok(Ok(view)) => {
            let deployed = view.machines.len() as u32;
            if deployed != machines {
                return Err(format!(
                    "{cp} + {workers}: Running with {deployed} machines"
                ));
            }
        }
    }
    let requests = sim.counters().total();
    let mut by_endpoint: Vec<(u64, String)> = sim
        .counters()
        .snapshot()
        .into_iter()
        .map(|r| {
            let op = r.op.map(|o| format!("?op={o}")).unwrap_or_default();
            (r.count, format!("{} {}{op}", r.method, r.endpoint))
        })
        .collect();
    by_endpoint.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    // Confirm through MAAS itself that every machine ended Deployed (not just the store).
    let deployed = sim
        .machines()
        .iter()
        .filter(|m| m.status == kubemaas::maas::NodeStatus::Deployed)
        .count() as u32;
    if deployed != machines {
        return Err(format!(
            "{cp} + {workers}: MAAS shows {deployed} deployed machines"
        ));
    }
    let noteworthy: Vec<String> = store
        .events_after(Some(&id), EventId(0), 100_000)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|e| e.level != EventLevel::Info)
        .map(|e| format!("{} {}", e.level, e.message))
        .collect();
    Ok(Run {
        warning_count: noteworthy.len(),
        warnings: noteworthy.into_iter().take(5).collect(),
        machines,
        wall,
        virtual_secs,
        passes,
        requests,
        by_endpoint,
    })
}

#[tokio::main]
async fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("engine_provision: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "engine_provision: simulator speed {}x (a deployment: {:.2} s wall), engine poll every {} virtual s",
        o.speed,
        DEPLOY_SECS / o.speed,
        o.poll_seconds
    );
    println!(
        "floor: {IDEAL_SECS:.0} virtual s (deploy {DEPLOY_SECS:.0} + kubeadm init + node Ready); at high speeds the engine's own CPU time, multiplied by the speed, shows as virtual time"
    );
    let mut failed = false;
    for (i, (cp, workers)) in o.sizes.iter().copied().enumerate() {
        match provision(&o, cp, workers, 90 + i as u64).await {
            Ok(r) => {
                println!(
                    "\n{cp} + {workers} nodes: Running in {:.2} s wall, {:.0} virtual s ({:.2}x the {IDEAL_SECS:.0} s floor), {} passes",
                    r.wall.as_secs_f64(),
                    r.virtual_secs,
                    r.virtual_secs / IDEAL_SECS,
                    r.passes
                );
                println!(
                    "  MAAS requests: {} ({:.2} per provisioned machine)",
                    r.requests,
                    r.requests as f64 / r.machines as f64
                );
                for (count, what) in &r.by_endpoint {
                    println!("  {count:>6}  {what}");
                }
                if r.warning_count > 0 {
                    println!("  journal warnings and errors: {}", r.warning_count);
                    for w in &r.warnings {
                        println!("    {w}");
                    }
                }
            }
            Err(e) => {
                eprintln!("engine_provision: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
