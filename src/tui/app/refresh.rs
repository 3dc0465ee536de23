//! When to reload the inventory: every `every` seconds, but never while a load runs, never
//! more often than twice the time the last load took (a big MAAS answers 5,000 machines
//! slowly; polling it back-to-back would keep it busy), and backing off exponentially while
//! loads fail. Counted in ticks (seconds) so it is deterministic and testable.

/// Longest wait between retries of a failing load, in ticks.
pub const MAX_BACKOFF: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshSchedule {
    every: u64,
    next_tick: u64,
    started_tick: u64,
    failures: u32,
    in_flight: bool,
}

impl RefreshSchedule {
    /// Reload every `every` ticks (at least 2, k9s's floor).
    pub fn new(every: u64) -> Self {
        let every = every.max(2);
        RefreshSchedule {
            every,
            next_tick: every,
            started_tick: 0,
            failures: 0,
            in_flight: false,
        }
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Whether a scheduled reload should start at tick `now`.
    pub fn due(&self, now: u64) -> bool {
        !self.in_flight && now >= self.next_tick
    }

    /// A load starts (scheduled or asked for).
    pub fn start(&mut self, now: u64) {
        self.in_flight = true;
        self.started_tick = now;
    }

    /// The load that started last ended at tick `now`.
    pub fn finished(&mut self, now: u64, ok: bool) {
        self.in_flight = false;
        if ok {
            self.failures = 0;
            let took = now.saturating_sub(self.started_tick);
            self.next_tick = now + self.every.max(2 * took);
        } else {
            self.failures = self.failures.saturating_add(1);
            let wait = self
                .every
                .saturating_mul(1 << self.failures.min(16))
                .min(MAX_BACKOFF);
            self.next_tick = now + wait;
        }
    }

    /// The tick the next scheduled reload is due.
    pub fn next_tick(&self) -> u64 {
        self.next_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_loads_stretch_the_interval_and_failures_back_off() {
        let mut s = RefreshSchedule::new(5);
        assert!(!s.due(4));
        assert!(s.due(5));
        s.start(5);
        assert!(!s.due(9), "never two loads at once");
        s.finished(6, true);
        assert_eq!(s.next_tick(), 11, "a quick load keeps the interval");
        s.start(11);
        s.finished(21, true);
        assert_eq!(s.next_tick(), 41, "a 10 s load waits 20 s before the next");
        s.start(41);
        s.finished(42, false);
        assert_eq!(s.next_tick(), 52);
        s.start(52);
        s.finished(52, false);
        assert_eq!(s.next_tick(), 72);
        for _ in 0..10 {
            s.start(72);
            s.finished(72, false);
        }
        assert_eq!(s.next_tick(), 72 + MAX_BACKOFF);
        s.start(200);
        s.finished(200, true);
        assert_eq!(s.next_tick(), 205, "success resets the back-off");
        assert_eq!(RefreshSchedule::new(0).next_tick(), 2);
    }
}
