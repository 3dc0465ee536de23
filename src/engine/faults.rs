//! Simulated crashes for the crash-safety tests: the engine passes named checkpoints (after an
//! intent is journaled, after MAAS answered, ...) and a [`CrashPlan`] can make the Nth one fail
//! with [`EngineError::Crashed`]. From then on every checkpoint fails, so in-flight work stops
//! where it is, exactly like a killed process; the test then drops the engine and starts a new
//! one on the same store. Inert (one atomic increment per checkpoint) unless armed.

use super::error::EngineError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// When to crash. Cloning shares the counter.
#[derive(Debug, Clone, Default)]
pub struct CrashPlan {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Crash at this checkpoint number (1-based); 0 = never.
    at: AtomicU64,
    passed: AtomicU64,
    crashed: AtomicBool,
}

impl CrashPlan {
    /// Never crashes.
    pub fn never() -> Self {
        CrashPlan::default()
    }

    /// Crashes at the `n`th checkpoint (1-based) and every one after it.
    pub fn at(n: u64) -> Self {
        let plan = CrashPlan::default();
        plan.inner.at.store(n, Ordering::SeqCst);
        plan
    }

    /// How many checkpoints were passed so far.
    pub fn passed(&self) -> u64 {
        self.inner.passed.load(Ordering::SeqCst)
    }

    /// True once the plan fired.
    pub fn crashed(&self) -> bool {
        self.inner.crashed.load(Ordering::SeqCst)
    }

    /// One checkpoint.
    pub fn check(&self, point: &str) -> Result<(), EngineError> {
        let n = self.inner.passed.fetch_add(1, Ordering::SeqCst) + 1;
        let at = self.inner.at.load(Ordering::SeqCst);
        if self.crashed() || (at != 0 && n >= at) {
            self.inner.crashed.store(true, Ordering::SeqCst);
            tracing::warn!(point, checkpoint = n, "simulated crash");
            return Err(EngineError::Crashed {
                point: point.to_string(),
            });
        }
        Ok(())
    }
}
