//! Seeded, reproducible faults: failed deployments, random 503s, and one-shot injections
//! ("the next N requests to endpoint X answer 503 / 409 + Retry-After") for retry tests.
//! Machine-level faults (vanish, power loss, Broken, Missing) live in `state`, which owns the
//! machines; this module decides *whether* and *how* things fail.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A transient failure the server answers instead of running the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransientKind {
    /// 503 with `Retry-After` (MAAS: rack controller unreachable, external process failures).
    Unavailable,
    /// 409 with `Retry-After: 5` (MAAS ≥ 3.2 giving up on database serialisation conflicts).
    RetryConflict,
    /// 504 (MAAS: RPC timeout to a rack controller).
    GatewayTimeout,
}

impl TransientKind {
    pub fn status(self) -> u16 {
        match self {
            TransientKind::Unavailable => 503,
            TransientKind::RetryConflict => 409,
            TransientKind::GatewayTimeout => 504,
        }
    }

    /// Parses "503", "409", "504" or the snake_case names.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "503" | "unavailable" => Some(TransientKind::Unavailable),
            "409" | "retry_conflict" => Some(TransientKind::RetryConflict),
            "504" | "gateway_timeout" => Some(TransientKind::GatewayTimeout),
            _ => None,
        }
    }
}

/// "The next `remaining` requests to `endpoint` (optionally only this method / op) fail".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Injection {
    /// Endpoint template relative to /MAAS/api/2.0/, e.g. `machines/` or `machines/{system_id}/`.
    pub endpoint: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub op: Option<String>,
    pub kind: TransientKind,
    pub remaining: u32,
    /// Seconds in `Retry-After`; `None` means the MAAS default for the kind (503: 10, 409: 5),
    /// and 504 never carries one.
    #[serde(default)]
    pub retry_after: Option<u64>,
}

/// The answer a fault imposes on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransientFailure {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: String,
}

/// Where and how a deployment will fail.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployFailure {
    /// Index of the deployment phase during which it fails (see `state::DEPLOY_PHASES`).
    pub phase: usize,
}

/// Fault settings plus the seeded random stream that drives them.
#[derive(Debug)]
pub struct Faults {
    rng: ChaCha8Rng,
    pub fail_deploy_rate: f64,
    pub http_error_rate: f64,
    /// `Retry-After` on random 503s.
    pub retry_after_secs: u64,
    injections: Vec<Injection>,
}

impl Faults {
    pub fn new(
        seed: u64,
        fail_deploy_rate: f64,
        http_error_rate: f64,
        retry_after_secs: u64,
    ) -> Self {
        Faults {
            // A stream of its own so that faults do not shift when the fleet generator changes.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17_0000_0001),
            fail_deploy_rate,
            http_error_rate,
            retry_after_secs,
            injections: Vec::new(),
        }
    }

    pub fn inject(&mut self, injection: Injection) {
        if injection.remaining > 0 {
            self.injections.push(injection);
        }
    }

    pub fn injections(&self) -> &[Injection] {
        &self.injections
    }

    pub fn clear_injections(&mut self) {
        self.injections.clear();
    }

    /// Decides whether this API request fails before reaching its handler: injections first
    /// (deterministic), then the random `http_error_rate`. `describe/` and `version/` never
    /// fail randomly so that clients can always connect.
    pub fn on_request(
        &mut self,
        method: &str,
        endpoint: &str,
        op: Option<&str>,
    ) -> Option<TransientFailure> {
        if let Some(pos) = self.injections.iter().position(|i| {
            i.endpoint == endpoint
                && i.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && i.op.as_deref().is_none_or(|o| Some(o) == op)
        }) {
            let inj = &mut self.injections[pos];
            inj.remaining -= 1;
            let failure = transient(inj.kind, inj.retry_after);
            if inj.remaining == 0 {
                self.injections.remove(pos);
            }
            return Some(failure);
        }
        if endpoint == "describe/" || endpoint == "version/" || self.http_error_rate <= 0.0 {
            return None;
        }
        if self.rng.random::<f64>() < self.http_error_rate {
            return Some(transient(
                TransientKind::Unavailable,
                Some(self.retry_after_secs),
            ));
        }
        None
    }

    /// Decides at deployment start whether (and in which of `phases` phases) it will fail.
    pub fn deploy_outcome(&mut self, phases: usize) -> Option<DeployFailure> {
        if self.fail_deploy_rate <= 0.0 || phases == 0 {
            return None;
        }
        if self.rng.random::<f64>() < self.fail_deploy_rate {
            Some(DeployFailure {
                phase: self.rng.random_range(0..phases),
            })
        } else {
            None
        }
    }

    /// A factor in [0.8, 1.3] that makes phase durations differ between machines and runs.
    pub fn jitter(&mut self) -> f64 {
        self.rng.random_range(0.8..1.3)
    }
}

fn transient(kind: TransientKind, retry_after: Option<u64>) -> TransientFailure {
    match kind {
        TransientKind::Unavailable => TransientFailure {
            status: 503,
            retry_after: Some(retry_after.unwrap_or(10)),
            body: "Unable to connect to any rack controller; no connections available.".into(),
        },
        TransientKind::RetryConflict => TransientFailure {
            status: 409,
            retry_after: Some(retry_after.unwrap_or(5)),
            body: "Conflict: the request could not be completed because of a database serialization conflict. Please retry.".into(),
        },
        TransientKind::GatewayTimeout => TransientFailure {
            status: 504,
            retry_after,
            body: "Timed out waiting for a rack controller to respond.".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injections_fire_exactly_n_times_and_only_where_asked() {
        let mut f = Faults::new(1, 0.0, 0.0, 10);
        f.inject(Injection {
            endpoint: "machines/".into(),
            method: Some("POST".into()),
            op: Some("allocate".into()),
            kind: TransientKind::RetryConflict,
            remaining: 2,
            retry_after: None,
        });
        assert_eq!(f.on_request("GET", "machines/", None), None);
        let first = f.on_request("POST", "machines/", Some("allocate")).unwrap();
        assert_eq!((first.status, first.retry_after), (409, Some(5)));
        assert!(f
            .on_request("POST", "machines/", Some("allocate"))
            .is_some());
        assert_eq!(f.on_request("POST", "machines/", Some("allocate")), None);
    }

    #[test]
    fn random_errors_are_seeded_and_spare_describe() {
        let run = |seed| {
            let mut f = Faults::new(seed, 0.0, 0.5, 10);
            (0..64)
                .map(|_| f.on_request("GET", "machines/", None).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert!(run(3).iter().any(|x| *x) && run(3).iter().any(|x| !*x));
        let mut always = Faults::new(3, 0.0, 1.0, 10);
        for _ in 0..50 {
            assert_eq!(always.on_request("GET", "describe/", None), None);
            assert_eq!(always.on_request("GET", "version/", None), None);
        }
    }

    #[test]
    fn deploy_failures_follow_the_rate() {
        let mut never = Faults::new(1, 0.0, 0.0, 10);
        let mut always = Faults::new(1, 1.0, 0.0, 10);
        for _ in 0..20 {
            assert_eq!(never.deploy_outcome(6), None);
            assert!(always.deploy_outcome(6).unwrap().phase < 6);
        }
    }
}
