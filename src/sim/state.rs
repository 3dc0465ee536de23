//! The simulated region's behaviour: machines moving through MAAS's real states on the virtual
//! clock, the events they leave behind, users, and the fault stream. One [`Region`] sits behind
//! one mutex, so allocations are serialised exactly as MAAS serialises them with its advisory
//! lock: two callers never get the same machine.
//!
//! Timed work (deploying, releasing, erasing) is a list of scheduled steps per machine, applied
//! lazily by [`Region::advance_to`] before every request and on every clock advance — no
//! background timers, so a frozen clock makes everything deterministic.

use super::auth::{NonceStore, SimUser};
use super::faults::Faults;
use super::model::{SimInventory, SimMachine};
use super::reply::ApiError;
use crate::maas::{NodeStatus, PowerState};
use chrono::{DateTime, Duration, Utc};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

pub use super::model::SimCatalog;

/// Deployment phases after "Deploying": (event type, seconds after deployment start at jitter
/// 1.0). Roughly ten virtual minutes in all, as a small bare-metal install takes.
pub const DEPLOY_PHASES: [(&str, i64); 6] = [
    ("Performing PXE boot", 20),
    ("Loading ephemeral", 60),
    ("Configuring storage", 150),
    ("Installing OS", 210),
    ("Configuring OS", 450),
    ("Rebooting", 540),
];
/// Seconds after deployment start when the machine reports Deployed (at jitter 1.0).
pub const DEPLOY_TOTAL_SECS: i64 = 600;
/// MAAS's `node_timeout`: a deployment that never reports back fails after 30 minutes.
pub const NODE_TIMEOUT_SECS: i64 = 1800;
pub const RELEASE_SECS: i64 = 60;
pub const QUICK_ERASE_SECS: i64 = 120;
pub const FULL_ERASE_SECS: i64 = 900;

/// Event levels as MAAS names and orders them (`level=` is a minimum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Audit = 0,
    Debug = 10,
    Info = 20,
    Warning = 30,
    Error = 40,
    Critical = 50,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Audit => "AUDIT",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        [
            Level::Audit,
            Level::Debug,
            Level::Info,
            Level::Warning,
            Level::Error,
            Level::Critical,
        ]
        .into_iter()
        .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// One entry of `events/?op=query`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    pub id: i64,
    pub node: String,
    pub hostname: String,
    pub username: Option<String>,
    pub level: Level,
    pub created: DateTime<Utc>,
    pub kind: String,
    pub description: String,
}

/// The random stream API keys come from. Its state would let anyone predict the next key, so
/// `Debug` shows nothing of it.
pub(crate) struct KeyRng(pub ChaCha8Rng);

impl std::fmt::Debug for KeyRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRng(..)")
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub username: String,
    pub admin: bool,
}

/// A scheduled change to one machine.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// A progress event; the machine's status message follows it.
    Phase(String),
    /// The operation succeeded: new status and power state, closing event.
    Finish {
        status: NodeStatus,
        power: PowerState,
        event: String,
    },
    /// The operation failed.
    Fail {
        status: NodeStatus,
        event: String,
        reason: String,
    },
}

/// Simulator-only bookkeeping per machine (what `SimMachine` does not model).
#[derive(Debug, Clone, Default)]
pub(crate) struct Book {
    /// Pending steps, in time order.
    pub steps: Vec<(DateTime<Utc>, Step)>,
    /// The status to return to on `mark_fixed` (Deployed machines stay deployed).
    pub broken_from: Option<NodeStatus>,
    pub swap_size: Option<u64>,
}

/// A user-reserved IP address (`ipaddresses/?op=reserve`).
#[derive(Debug, Clone, PartialEq)]
pub struct IpReservation {
    pub id: i64,
    pub ip: String,
    pub subnet_id: i64,
    pub owner: String,
    pub created: DateTime<Utc>,
    pub hostname: Option<String>,
    pub mac: Option<String>,
    pub comment: String,
}

/// A DNS resource (`dnsresources/`).
#[derive(Debug, Clone, PartialEq)]
pub struct DnsRecord {
    pub id: i64,
    pub name: String,
    pub domain: String,
    pub address_ttl: Option<u32>,
    pub ips: Vec<String>,
}

impl DnsRecord {
    pub fn fqdn(&self) -> String {
        if self.name.is_empty() || self.name == "@" {
            self.domain.clone()
        } else {
            format!("{}.{}", self.name, self.domain)
        }
    }
}

/// A static route (`static-routes/`): traffic from one subnet to another goes through
/// `gateway_ip`, an address of the source subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct SimStaticRoute {
    pub id: i64,
    pub source: i64,
    pub destination: i64,
    pub gateway_ip: String,
    pub metric: i64,
}

/// The whole simulated region.
pub struct Region {
    pub catalog: SimCatalog,
    /// In MAAS's listing order (by id), which is insertion order here.
    pub machines: Vec<SimMachine>,
    pub(crate) books: HashMap<String, Book>,
    pub users: Vec<SimUser>,
    pub nonces: NonceStore,
    pub faults: Faults,
    pub(crate) events: Vec<SimEvent>,
    next_event_id: i64,
    pub reservations: Vec<IpReservation>,
    pub dns: Vec<DnsRecord>,
    pub devices: Vec<super::devices::SimDevice>,
    pub files: Vec<super::files::StoredFile>,
    pub static_routes: Vec<SimStaticRoute>,
    pub(crate) next_id: i64,
    /// Issues keys for `account/?op=create_authorisation_token`, reproducibly.
    pub(crate) key_rng: KeyRng,
    /// The Kubernetes nodes learnt from deployed machines' user-data (`sim::k8s`).
    pub k8s: super::k8s::K8sSim,
    now: DateTime<Utc>,
}

impl std::fmt::Debug for Region {
    /// A summary: machines carry user-data (bootstrap tokens) and users carry keys, neither of
    /// which belongs in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("now", &self.now)
            .field("machines", &self.machines.len())
            .field("users", &self.users.len())
            .field("events", &self.events.len())
            .field("reservations", &self.reservations.len())
            .field("dns", &self.dns.len())
            .field("devices", &self.devices.len())
            .field("files", &self.files.len())
            .field("faults", &self.faults)
            .finish()
    }
}

impl Region {
    pub fn new(
        inventory: SimInventory,
        users: Vec<SimUser>,
        faults: Faults,
        key_rng: ChaCha8Rng,
        now: DateTime<Utc>,
    ) -> Self {
        let books = inventory
            .machines
            .iter()
            .map(|m| (m.system_id.clone(), Book::default()))
            .collect();
        let mut region = Region {
            catalog: inventory.catalog,
            machines: inventory.machines,
            books,
            users,
            nonces: NonceStore::default(),
            faults,
            events: Vec::new(),
            next_event_id: 1,
            reservations: Vec::new(),
            dns: Vec::new(),
            devices: Vec::new(),
            files: Vec::new(),
            static_routes: Vec::new(),
            next_id: 1,
            key_rng: KeyRng(key_rng),
            k8s: super::k8s::K8sSim::default(),
            now,
        };
        region.resume_work();
        region
    }

    /// Machines that start in a working state (a generated fleet's Commissioning machines, a
    /// dump taken mid-deployment) finish that work in a few virtual minutes, as they would on
    /// the real region, instead of staying stuck forever.
    fn resume_work(&mut self) {
        let now = self.now;
        for idx in 0..self.machines.len() {
            let (secs, status, power, event) = match self.machines[idx].status {
                NodeStatus::Commissioning | NodeStatus::Testing => {
                    (300, NodeStatus::Ready, PowerState::Off, "Ready")
                }
                NodeStatus::Deploying => (300, NodeStatus::Deployed, PowerState::On, "Deployed"),
                NodeStatus::Releasing => {
                    (RELEASE_SECS, NodeStatus::Ready, PowerState::Off, "Released")
                }
                NodeStatus::DiskErasing => (
                    QUICK_ERASE_SECS,
                    NodeStatus::Ready,
                    PowerState::Off,
                    "Released",
                ),
                _ => continue,
            };
            let jitter = self.faults.jitter();
            let at = now + Duration::milliseconds((secs as f64 * jitter * 1000.0) as i64);
            let system_id = self.machines[idx].system_id.clone();
            self.schedule(
                &system_id,
                vec![(
                    at,
                    Step::Finish {
                        status,
                        power,
                        event: event.into(),
                    },
                )],
            );
        }
    }

    /// The virtual time the region was last brought up to.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub(crate) fn fresh_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn machine(&self, system_id: &str) -> Option<&SimMachine> {
        self.machines.iter().find(|m| m.system_id == system_id)
    }

    pub(crate) fn index_of(&self, system_id: &str) -> Option<usize> {
        self.machines.iter().position(|m| m.system_id == system_id)
    }

    pub fn events(&self) -> &[SimEvent] {
        &self.events
    }

    pub(crate) fn book(&mut self, system_id: &str) -> &mut Book {
        self.books.entry(system_id.to_string()).or_default()
    }

    pub(crate) fn swap_size(&self, system_id: &str) -> Option<u64> {
        self.books.get(system_id).and_then(|b| b.swap_size)
    }

    /// Whether a machine has timed work pending (deploying, releasing, erasing).
    pub fn is_busy(&self, system_id: &str) -> bool {
        self.books
            .get(system_id)
            .is_some_and(|b| !b.steps.is_empty())
    }

    /// Records an event; a status event also becomes the machine's `status_message`
    /// (`"<type>"` or `"<type> - <description>"`, as MAAS derives it).
    pub(crate) fn event(
        &mut self,
        idx: usize,
        level: Level,
        kind: &str,
        description: &str,
        username: Option<String>,
        at: DateTime<Utc>,
    ) {
        let m = &mut self.machines[idx];
        m.status_message = Some(if description.is_empty() {
            kind.to_string()
        } else {
            format!("{kind} - {description}")
        });
        let event = SimEvent {
            id: self.next_event_id,
            node: m.system_id.clone(),
            hostname: m.hostname.clone(),
            username,
            level,
            created: at,
            kind: kind.to_string(),
            description: description.to_string(),
        };
        self.next_event_id += 1;
        self.events.push(event);
    }

    /// Applies every scheduled step due at or before `now`, across machines in time order, so
    /// event ids follow virtual time even after a long jump.
    pub fn advance_to(&mut self, now: DateTime<Utc>) {
        if now > self.now {
            self.now = now;
        }
        let mut due: Vec<(DateTime<Utc>, String)> = self
            .books
            .iter()
            .flat_map(|(id, b)| {
                b.steps
                    .iter()
                    .filter(|(at, _)| *at <= now)
                    .map(|(at, _)| (*at, id.clone()))
            })
            .collect();
        due.sort();
        for (_, system_id) in due {
            let Some(book) = self.books.get_mut(&system_id) else {
                continue;
            };
            if book.steps.is_empty() {
                continue;
            }
            let (at, step) = book.steps.remove(0);
            let Some(idx) = self.index_of(&system_id) else {
                continue;
            };
            self.apply_step(idx, at, step);
        }
    }

    fn apply_step(&mut self, idx: usize, at: DateTime<Utc>, step: Step) {
        match step {
            Step::Phase(kind) => self.event(idx, Level::Info, &kind, "", None, at),
            Step::Finish {
                status,
                power,
                event,
            } => {
                let m = &mut self.machines[idx];
                m.status = status;
                m.power_state = power;
                self.event(idx, Level::Info, &event, "", None, at);
            }
            Step::Fail {
                status,
                event,
                reason,
            } => {
                let m = &mut self.machines[idx];
                m.status = status;
                m.error_description = reason.clone();
                let system_id = m.system_id.clone();
                self.book(&system_id).steps.clear();
                self.event(idx, Level::Error, &event, &reason, None, at);
            }
        }
    }

    /// Replaces a machine's pending steps.
    pub(crate) fn schedule(&mut self, system_id: &str, steps: Vec<(DateTime<Utc>, Step)>) {
        self.book(system_id).steps = steps;
    }

    /// Drops a machine's pending work (abort, release during deployment).
    pub(crate) fn cancel(&mut self, system_id: &str) {
        self.book(system_id).steps.clear();
    }

    /// The steps of a deployment started at `start`, with this machine's jitter and fate.
    pub(crate) fn deploy_plan(&mut self, start: DateTime<Utc>) -> Vec<(DateTime<Utc>, Step)> {
        let jitter = self.faults.jitter();
        let at = |secs: i64| start + Duration::milliseconds((secs as f64 * jitter * 1000.0) as i64);
        let failure = self.faults.deploy_outcome(DEPLOY_PHASES.len());
        let mut steps = Vec::new();
        for (i, (kind, secs)) in DEPLOY_PHASES.iter().enumerate() {
            steps.push((at(*secs), Step::Phase((*kind).to_string())));
            if let Some(f) = &failure {
                if f.phase == i {
                    let (when, reason) = failure_of_phase(i);
                    let when = match when {
                        // A machine that never PXE boots is only noticed at MAAS's timeout.
                        FailAt::Timeout => start + Duration::seconds(NODE_TIMEOUT_SECS),
                        FailAt::During => at(*secs) + Duration::seconds(15),
                    };
                    steps.push((
                        when,
                        Step::Fail {
                            status: NodeStatus::FailedDeployment,
                            event: "Failed deployment".into(),
                            reason,
                        },
                    ));
                    return steps;
                }
            }
        }
        steps.push((
            at(DEPLOY_TOTAL_SECS),
            Step::Finish {
                status: NodeStatus::Deployed,
                power: PowerState::On,
                event: "Deployed".into(),
            },
        ));
        steps
    }

    pub fn user(&self, username: &str) -> Option<&SimUser> {
        self.users.iter().find(|u| u.username == username)
    }

    /// Machine-level fault: the machine disappears from the API (deleted behind our back).
    pub fn vanish(&mut self, system_id: &str) -> bool {
        let Some(idx) = self.index_of(system_id) else {
            return false;
        };
        self.machines.remove(idx);
        self.books.remove(system_id);
        true
    }

    /// Machine-level fault: power is lost (the BMC reports off; status unchanged, as in MAAS).
    pub fn power_loss(&mut self, system_id: &str) -> bool {
        let now = self.now;
        let Some(idx) = self.index_of(system_id) else {
            return false;
        };
        self.machines[idx].power_state = PowerState::Off;
        self.event(
            idx,
            Level::Warning,
            "Power off",
            "power lost (simulated fault)",
            None,
            now,
        );
        self.restore_message(idx);
        true
    }

    /// Machine-level fault: the BMC reports `state` (`error` and `unknown` included).
    pub fn set_power_state(&mut self, system_id: &str, state: PowerState) -> bool {
        let Some(idx) = self.index_of(system_id) else {
            return false;
        };
        self.machines[idx].power_state = state;
        true
    }

    /// Machine-level fault: the machine goes to `status` (Broken, Missing, …) at once.
    pub fn force_status(&mut self, system_id: &str, status: NodeStatus, reason: &str) -> bool {
        let now = self.now;
        let Some(idx) = self.index_of(system_id) else {
            return false;
        };
        let previous = self.machines[idx].status;
        self.cancel(system_id);
        if status == NodeStatus::Broken {
            self.book(system_id).broken_from = Some(previous);
            self.machines[idx].error_description = reason.to_string();
        }
        if status == NodeStatus::Missing {
            self.machines[idx].power_state = PowerState::Unknown;
        }
        self.machines[idx].status = status;
        self.event(idx, Level::Error, status.label(), reason, None, now);
        true
    }

    /// A power event should not hide what the machine is doing: keep the status message of the
    /// latest status event.
    fn restore_message(&mut self, idx: usize) {
        let id = self.machines[idx].system_id.clone();
        let latest = self
            .events
            .iter()
            .rev()
            .filter(|e| e.node == id && e.kind != "Power off")
            .map(|e| {
                if e.description.is_empty() {
                    e.kind.clone()
                } else {
                    format!("{} - {}", e.kind, e.description)
                }
            })
            .next();
        self.machines[idx].status_message = latest;
    }

    /// A visible-to-caller machine or MAAS's 404.
    pub(crate) fn find_visible(&self, system_id: &str, actor: &Actor) -> Result<usize, ApiError> {
        let idx = self.index_of(system_id).ok_or_else(ApiError::no_machine)?;
        if !visible(&self.machines[idx], actor) {
            return Err(ApiError::no_machine());
        }
        Ok(idx)
    }

    /// A machine the caller may change: admins always, users when they own it or nobody does;
    /// locked machines are refused to everyone (MAAS's edit permission).
    pub(crate) fn find_editable(&self, system_id: &str, actor: &Actor) -> Result<usize, ApiError> {
        let idx = self.find_visible(system_id, actor)?;
        let m = &self.machines[idx];
        if m.locked {
            return Err(ApiError::Forbidden(format!(
                "Machine {} is locked: unlock it (POST machines/{}/?op=unlock) before changing it.",
                m.system_id, m.system_id
            )));
        }
        if !actor.admin && m.owner.as_deref().is_some_and(|o| o != actor.username) {
            return Err(ApiError::Forbidden(format!(
                "You don't have permission to change machine {}: it belongs to another user.",
                m.system_id
            )));
        }
        Ok(idx)
    }
}

/// Non-admins see machines nobody owns and their own; admins see everything.
pub fn visible(m: &SimMachine, actor: &Actor) -> bool {
    actor.admin || m.owner.is_none() || m.owner.as_deref() == Some(actor.username.as_str())
}

enum FailAt {
    Timeout,
    During,
}

/// How a deployment fails in a given phase, with MAAS-like messages.
fn failure_of_phase(phase: usize) -> (FailAt, String) {
    match phase {
        0 | 1 => (
            FailAt::Timeout,
            "Node operation 'Deploying' timed out after 30 minutes.".into(),
        ),
        2 => (
            FailAt::During,
            "Installation failed: storage configuration failed (refer to the installation log for more information).".into(),
        ),
        3 => (
            FailAt::During,
            "Installation failed (refer to the installation log for more information).".into(),
        ),
        4 => (
            FailAt::During,
            "cloud-init failed to configure the OS (refer to the installation log for more information).".into(),
        ),
        _ => (
            FailAt::Timeout,
            "Node operation 'Deploying' timed out after 30 minutes.".into(),
        ),
    }
}

/// MAAS's node state machine (`NODE_TRANSITIONS`): whether an operation may move a machine
/// from `from` to `to`. Simulated faults bypass it, as hardware does.
pub fn transition_allowed(from: NodeStatus, to: NodeStatus) -> bool {
    use NodeStatus::*;
    let allowed: &[NodeStatus] = match from {
        New => &[
            Commissioning,
            Missing,
            Ready,
            Retired,
            Broken,
            EnteringRescueMode,
        ],
        Commissioning => &[
            FailedCommissioning,
            Ready,
            Retired,
            Missing,
            New,
            Broken,
            Testing,
        ],
        FailedCommissioning => &[
            Commissioning,
            Missing,
            Retired,
            Broken,
            EnteringRescueMode,
            Testing,
        ],
        Ready => &[
            EnteringRescueMode,
            Commissioning,
            Allocated,
            Reserved,
            Retired,
            Missing,
            Broken,
            Testing,
        ],
        Reserved => &[
            Ready,
            Allocated,
            Retired,
            Missing,
            Broken,
            DiskErasing,
            Releasing,
            EnteringRescueMode,
            Testing,
        ],
        Allocated => &[
            Ready,
            Retired,
            Missing,
            Broken,
            Deploying,
            DiskErasing,
            Releasing,
            EnteringRescueMode,
            Testing,
        ],
        Releasing => &[
            Allocated,
            Reserved,
            Deployed,
            Ready,
            Broken,
            Missing,
            FailedDeployment,
            FailedDiskErasing,
            FailedReleasing,
        ],
        Deploying => &[
            Allocated,
            Missing,
            Broken,
            FailedDeployment,
            Deployed,
            Ready,
            DiskErasing,
            Releasing,
        ],
        FailedDeployment => &[
            Allocated,
            Missing,
            Broken,
            Ready,
            DiskErasing,
            Releasing,
            EnteringRescueMode,
            Testing,
        ],
        Deployed => &[
            Allocated,
            Missing,
            Broken,
            Ready,
            DiskErasing,
            Releasing,
            EnteringRescueMode,
            Testing,
        ],
        Missing => &[
            New,
            Ready,
            Allocated,
            Commissioning,
            Broken,
            EnteringRescueMode,
            Testing,
        ],
        Retired => &[New, Ready, Missing, Broken, EnteringRescueMode, Testing],
        Broken => &[
            Commissioning,
            Ready,
            DiskErasing,
            Releasing,
            EnteringRescueMode,
            Testing,
        ],
        FailedReleasing => &[Releasing, DiskErasing, Ready, Broken, Testing],
        DiskErasing => &[Broken, DiskErasing, FailedDiskErasing, Ready, Releasing],
        FailedDiskErasing => &[
            DiskErasing,
            Releasing,
            Broken,
            Allocated,
            Ready,
            EnteringRescueMode,
            Testing,
        ],
        EnteringRescueMode => &[
            Ready,
            Broken,
            Deployed,
            RescueMode,
            FailedEnteringRescueMode,
            ExitingRescueMode,
        ],
        FailedEnteringRescueMode => &[Broken, EnteringRescueMode, ExitingRescueMode, Testing],
        RescueMode => &[Broken, ExitingRescueMode, Testing],
        ExitingRescueMode => &[
            New,
            Broken,
            FailedCommissioning,
            Ready,
            Reserved,
            Allocated,
            FailedDeployment,
            Deployed,
            Missing,
            Retired,
            FailedReleasing,
            FailedDiskErasing,
            RescueMode,
            FailedEnteringRescueMode,
            FailedExitingRescueMode,
            FailedTesting,
        ],
        FailedExitingRescueMode => &[Broken, ExitingRescueMode, Testing],
        Testing => &[
            Broken,
            New,
            Ready,
            Reserved,
            Allocated,
            Deployed,
            Commissioning,
            FailedDeployment,
            Missing,
            Retired,
            FailedReleasing,
            FailedDiskErasing,
            FailedEnteringRescueMode,
            FailedExitingRescueMode,
            FailedTesting,
        ],
        FailedTesting => &[
            Commissioning,
            Broken,
            Missing,
            EnteringRescueMode,
            Testing,
            Ready,
            Deployed,
        ],
    };
    allowed.contains(&to)
}

/// MAAS's `NodeStateViolation` answer.
pub fn invalid_transition(from: NodeStatus, to: NodeStatus) -> ApiError {
    ApiError::Conflict(format!(
        "Invalid transition: {} -> {}.",
        from.label(),
        to.label()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_maas() {
        use NodeStatus::*;
        assert!(transition_allowed(Allocated, Deploying));
        assert!(
            !transition_allowed(FailedDeployment, Deploying),
            "a failed deployment is released first"
        );
        assert!(transition_allowed(Deployed, Broken));
        assert!(!transition_allowed(Broken, Broken));
        assert!(!transition_allowed(Commissioning, Releasing));
        assert_eq!(
            invalid_transition(Retired, Deploying).to_string(),
            "Invalid transition: Retired -> Deploying."
        );
    }
}
