//! Benchmark of the MAAS simulator: `GET machines/` throughput with a large fleet, the cost of the
//! engine's polling pattern (`machines/?id=…` for one cluster's machines), and memory.
//!
//! Run: `cargo bench --bench sim_list` (defaults: 5,000 machines, 4 concurrent clients, 10 s per
//! phase). Options: `--machines N --concurrency C --seconds S --max-requests R`. Every loop is
//! bounded by both a request count and a time budget, and all traffic stays on 127.0.0.1.
//! Figures are written up in docs/benchmarks.md.

use kubemaas::maas::{MaasClient, MaasConfig, MachineFilter, RetryPolicy};
use kubemaas::sim::{self, SimConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    machines: usize,
    concurrency: usize,
    seconds: u64,
    max_requests: u64,
}

fn options() -> Options {
    let mut o = Options {
        machines: 5_000,
        concurrency: 4,
        seconds: 10,
        max_requests: 10_000,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match (args[i].as_str(), value) {
            ("--machines", Some(v)) => o.machines = v as usize,
            ("--concurrency", Some(v)) => o.concurrency = v.max(1) as usize,
            ("--seconds", Some(v)) => o.seconds = v.max(1),
            ("--max-requests", Some(v)) => o.max_requests = v.max(1),
            // `cargo bench` passes `--bench`; ignore anything we do not know.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

/// Resident and peak memory of this process in KiB, from /proc (Linux).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct PhaseResult {
    requests: u64,
    elapsed: Duration,
    /// Machines returned, summed over the phase.
    machines: u64,
    latencies_ms: Vec<f64>,
}

/// Runs `call` from `concurrency` tasks until the time budget or the request cap is reached.
async fn phase<F, Fut>(o: &Options, call: F) -> PhaseResult
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let issued = Arc::new(AtomicU64::new(0));
    let returned = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency {
        let (issued, returned, call, max) = (
            issued.clone(),
            returned.clone(),
            call.clone(),
            o.max_requests,
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
                let t = Instant::now();
                returned.fetch_add(call().await, Ordering::Relaxed);
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut latencies_ms = Vec::new();
    for t in tasks {
        latencies_ms.extend(t.await.expect("benchmark task"));
    }
    latencies_ms.sort_by(|a, b| a.total_cmp(b));
    PhaseResult {
        requests: latencies_ms.len() as u64,
        elapsed: started.elapsed(),
        machines: returned.load(Ordering::Relaxed),
        latencies_ms,
    }
}

fn report(name: &str, r: &PhaseResult) {
    let pct = |p: f64| {
        let i = ((r.latencies_ms.len() as f64 - 1.0) * p).round() as usize;
        r.latencies_ms.get(i).copied().unwrap_or(0.0)
    };
    let secs = r.elapsed.as_secs_f64();
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
        r.requests,
        r.requests as f64 / secs,
        pct(0.5),
        pct(0.95),
        pct(0.99),
        r.machines as f64 / secs,
    );
}

#[tokio::main]
async fn main() {
    let o = options();
    let (rss_before, _) = memory_kib();
    let t = Instant::now();
    let handle = sim::start(SimConfig::generated(o.machines, 1).speed(0.0))
        .await
        .expect("simulator starts");
    let startup = t.elapsed();
    let (rss_started, _) = memory_kib();

    let mut config = MaasConfig::new(handle.endpoint(), handle.api_key());
    config.retry = RetryPolicy::never();
    config.timeout = Duration::from_secs(120);
    let client = MaasClient::new(config).expect("client");
    let sample: Vec<String> = client
        .machines(&MachineFilter::default())
        .await
        .expect("warm-up list")
        .iter()
        .take(10)
        .map(|m| m.system_id.clone())
        .collect();

    println!(
        "simulator: {} machines, started in {:.0} ms, {} concurrent clients, {} s per phase\n",
        o.machines,
        startup.as_secs_f64() * 1000.0,
        o.concurrency,
        o.seconds
    );
    let n_machines = o.machines as u64;
    println!("| request | requests | req/s | p50 ms | p95 ms | p99 ms | machines/s |");
    println!("|---|---|---|---|---|---|---|");

    // The simulator alone: the raw JSON of every machine, signed but not parsed.
    let raw = reqwest::Client::new();
    let (list_url, key) = (format!("{}machines/", handle.api_url()), handle.api_key());
    let raw_list = phase(&o, move || {
        let (raw, url, key) = (raw.clone(), list_url.clone(), key.clone());
        async move {
            let body = raw
                .get(&url)
                .header(
                    reqwest::header::AUTHORIZATION,
                    kubemaas::maas::oauth::authorization(&key),
                )
                .send()
                .await
                .expect("raw list")
                .bytes()
                .await
                .expect("raw body");
            assert!(body.len() > 1_000, "a real listing");
            n_machines
        }
    })
    .await;
    report(
        &format!("GET machines/ (all {}), raw bytes", o.machines),
        &raw_list,
    );

    let c = client.clone();
    let full = phase(&o, move || {
        let c = c.clone();
        async move {
            let machines = c.machines(&MachineFilter::default()).await.expect("list");
            machines.len() as u64
        }
    })
    .await;
    report(
        &format!("GET machines/ (all {}), parsed by MaasClient", o.machines),
        &full,
    );

    let c = client.clone();
    let ids = sample.clone();
    let poll = phase(&o, move || {
        let (c, ids) = (c.clone(), ids.clone());
        async move {
            let machines = c.machines(&MachineFilter::ids(ids)).await.expect("poll");
            machines.len() as u64
        }
    })
    .await;
    report("GET machines/?id=…×10 (engine poll)", &poll);

    let c = client.clone();
    let one = sample[0].clone();
    let read = phase(&o, move || {
        let (c, id) = (c.clone(), one.clone());
        async move {
            c.machine(&id).await.expect("read");
            1
        }
    })
    .await;
    report("GET machines/{id}/", &read);

    let (rss_after, peak) = memory_kib();
    println!(
        "\nmemory (whole process, KiB): before start {rss_before}, after start {rss_started} \
         (fleet: +{}), after the runs {rss_after}, peak {peak}",
        rss_started.saturating_sub(rss_before)
    );
    handle.shutdown().await;
}
