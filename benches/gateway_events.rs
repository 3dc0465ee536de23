//! Gateway event streaming (`cargo bench --bench gateway_events`): an in-process gateway over
//! mutual TLS on 127.0.0.1, its journal fed by appends to its store as the engine makes them.
//!
//! * latency: from an event's append (committed) to an attached console holding it;
//! * fan-out: events per second one gateway streams to 20 consoles, live (appends while they
//!   listen) and catching up (20 consoles resuming from the start of a 20,000-event journal).

#[path = "../tests/gateway_support/mod.rs"]
mod gateway_support;

use gateway_support::InProcGateway;
use kubemaas::gateway::{EventFollower, Followed};
use kubemaas::store::{EventId, EventLevel, NewEvent};
use std::time::{Duration, Instant};

const CONSOLES: usize = 20;

async fn next_event(f: &mut EventFollower) -> EventId {
    loop {
        match f.next().await.expect("the stream works") {
            Followed::Event(row) => return row.id,
            Followed::Heartbeat => {}
        }
    }
}

fn event(i: usize) -> NewEvent {
    NewEvent::new(
        EventLevel::Info,
        "reconciler/create",
        format!("machine m-{i:05} deployed (10.0.{}.{})", i / 250, i % 250),
    )
    .machine(format!("m-{i:05}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn latency(gw: &InProcGateway) {
    let console = gw.console("latency").await;
    let mut f = console.follow(None, None);
    f.attach().await.unwrap();
    let mut samples = Vec::new();
    for i in 0..300 {
        let t0 = Instant::now();
        let id = gw.store.append_event(&event(i)).unwrap();
        let got = next_event(&mut f).await;
        samples.push(t0.elapsed());
        assert_eq!(got, id);
    }
    samples.sort();
    println!(
        "latency append -> console (300 events, one at a time): median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.95).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

async fn consoles(gw: &InProcGateway, after: Option<EventId>) -> Vec<EventFollower> {
    let mut followers = Vec::new();
    for i in 0..CONSOLES {
        let console = gw.console(&format!("c{i}")).await;
        let mut f = console.follow(None, after);
        if after.is_none() {
            f.attach().await.unwrap();
        }
        followers.push(f);
    }
    followers
}

/// Every console reads until it holds `last`; returns when all do.
async fn drain(followers: Vec<EventFollower>, last: EventId, count: usize) {
    let mut tasks = Vec::new();
    for mut f in followers {
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            loop {
                let id = next_event(&mut f).await;
                n += 1;
                if id == last {
                    break;
                }
            }
            assert_eq!(n, count, "every event exactly once");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn fan_out_live(gw: &InProcGateway) {
    const EVENTS: usize = 10_000;
    const BATCH: usize = 100;
    let followers = consoles(gw, None).await;
    let t0 = Instant::now();
    let store = gw.store.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut last = EventId(0);
        for b in 0..EVENTS / BATCH {
            last = store
                .tx(|tx| {
                    let mut id = EventId(0);
                    for i in 0..BATCH {
                        id = tx.append_event(&event(b * BATCH + i))?;
                    }
                    Ok::<_, kubemaas::store::StoreError>(id)
                })
                .unwrap();
        }
        last
    });
    let last = writer.await.unwrap();
    let written = t0.elapsed();
    drain(followers, last, EVENTS).await;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "fan-out live: {EVENTS} events appended in {:.0} ms (batches of {BATCH}) and streamed to {CONSOLES} consoles in {:.0} ms: {:.0} events/s per console, {:.0} event deliveries/s in all",
        written.as_secs_f64() * 1e3,
        secs * 1e3,
        EVENTS as f64 / secs,
        (EVENTS * CONSOLES) as f64 / secs
    );
}

async fn fan_out_catch_up(gw: &InProcGateway) {
    const EVENTS: usize = 20_000;
    let start = gw.store.read(|r| r.latest_event_id()).unwrap();
    let last = gw
        .store
        .tx(|tx| {
            let mut id = EventId(0);
            for i in 0..EVENTS {
                id = tx.append_event(&event(i))?;
            }
            Ok::<_, kubemaas::store::StoreError>(id)
        })
        .unwrap();
    let followers = consoles(gw, Some(start)).await;
    let t0 = Instant::now();
    drain(followers, last, EVENTS).await;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "fan-out catch-up: {CONSOLES} consoles resuming from an old id each read {EVENTS} events in {:.0} ms: {:.0} events/s per console, {:.0} event deliveries/s in all",
        secs * 1e3,
        EVENTS as f64 / secs,
        (EVENTS * CONSOLES) as f64 / secs
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let gw = InProcGateway::start(Duration::from_secs(15)).await;
        latency(&gw).await;
        fan_out_live(&gw).await;
        fan_out_catch_up(&gw).await;
    });
}
