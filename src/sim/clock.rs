//! The simulator's virtual clock: `start + real elapsed × speed + manual advances`.
//!
//! Speed 0 freezes time so tests move it only with [`VirtualClock::advance`] and never sleep;
//! speed 60 turns a ten-minute deployment into ten real seconds for demos. Machine transitions are
//! applied lazily against this clock before every request, so no background timers exist.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

#[derive(Debug)]
struct ClockState {
    /// Virtual time at `anchor`.
    base: DateTime<Utc>,
    /// Real instant when `base` was taken; real time since then is scaled by `speed`.
    anchor: Instant,
    speed: f64,
}

/// A shareable handle on the virtual clock; clones see the same time.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    inner: Arc<Mutex<ClockState>>,
}

impl VirtualClock {
    /// A clock reading `start` now and running at `speed` virtual seconds per real second.
    /// Negative or non-finite speeds are treated as 0 (frozen) rather than running backwards.
    pub fn new(start: DateTime<Utc>, speed: f64) -> Self {
        VirtualClock {
            inner: Arc::new(Mutex::new(ClockState {
                base: start,
                anchor: Instant::now(),
                speed: sanitize_speed(speed),
            })),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> DateTime<Utc> {
        let state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        current(&state)
    }

    /// Virtual seconds per real second (0 = frozen).
    pub fn speed(&self) -> f64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .speed
    }

    /// Changes the speed from now on; the time already elapsed is kept.
    pub fn set_speed(&self, speed: f64) {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.base = current(&state);
        state.anchor = Instant::now();
        state.speed = sanitize_speed(speed);
    }

    /// Moves virtual time forward by `seconds` (fractions allowed; negative values are ignored,
    /// because MAAS time never runs backwards) and returns the new time.
    pub fn advance(&self, seconds: f64) -> DateTime<Utc> {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if seconds.is_finite() && seconds > 0.0 {
            let ms = (seconds.min(MAX_STEP_SECS) * 1000.0).round() as i64;
            if let Some(t) = state.base.checked_add_signed(Duration::milliseconds(ms)) {
                state.base = t;
            }
        }
        current(&state)
    }
}

/// The largest single advance (a century): bigger jumps are clamped rather than overflowing
/// the calendar.
const MAX_STEP_SECS: f64 = 100.0 * 365.25 * 86_400.0;
/// The fastest clock: a virtual day per real tenth of a second is plenty for any demo.
const MAX_SPEED: f64 = 1_000_000.0;

fn sanitize_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed.min(MAX_SPEED)
    } else {
        0.0
    }
}

fn current(state: &ClockState) -> DateTime<Utc> {
    if state.speed == 0.0 {
        return state.base;
    }
    let real_ms = state.anchor.elapsed().as_secs_f64() * 1000.0 * state.speed;
    let step = Duration::milliseconds(real_ms.min(MAX_STEP_SECS * 1000.0) as i64);
    state.base.checked_add_signed(step).unwrap_or(state.base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = VirtualClock::new(start, 0.0);
        assert_eq!(clock.now(), start);
        clock.advance(90.5);
        assert_eq!(clock.now(), start + Duration::milliseconds(90_500));
        clock.advance(-10.0);
        clock.advance(f64::NAN);
        assert_eq!(clock.now(), start + Duration::milliseconds(90_500));
        // Absurd jumps are clamped, never a panic.
        clock.advance(1e300);
        assert!(clock.now() > start + Duration::days(365 * 99));
        let far = clock.now();
        clock.advance(-1e300);
        assert_eq!(clock.now(), far);
    }

    #[test]
    fn bad_speeds_freeze() {
        let clock = VirtualClock::new(Utc::now(), f64::INFINITY);
        assert_eq!(clock.speed(), 0.0);
        clock.set_speed(-3.0);
        assert_eq!(clock.speed(), 0.0);
        clock.set_speed(60.0);
        assert_eq!(clock.speed(), 60.0);
    }
}
