//! The gateway's reconciler loop: a pass every interval, at once when a console submitted a
//! change, until the gateway stops. Unlike a CLI's `wait`, it never ends on a failed pass — a
//! gateway must keep reconciling the other clusters — it logs, backs off and goes on.

use crate::engine::Engine;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// The longest pause after passes that keep failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Runs passes of `engine` until `stop` turns true.
pub async fn drive(
    engine: Arc<Engine>,
    interval: Duration,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = interval;
    loop {
        if *stop.borrow() {
            return;
        }
        delay = match engine.step().await {
            Ok(report) if report.transient_errors == 0 => interval,
            Ok(_) => (delay.max(Duration::from_secs(1)) * 2).min(MAX_BACKOFF),
            Err(e) => {
                tracing::error!(error = %e, "a reconcile pass failed; trying again");
                (delay.max(Duration::from_secs(1)) * 2).min(MAX_BACKOFF)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => {}
        }
    }
}
