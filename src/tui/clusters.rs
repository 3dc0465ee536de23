//! The console's picture of the engine: plain cluster, machine, task and event rows (no store or
//! HTTP types reach a screen), and the state of the Clusters, cluster detail and Events screens.
//!
//! The picture is kept current from the engine's journal: the event loop asks for the events
//! after the last id it has seen, and only when some arrived does it re-read the clusters they
//! name. Nothing is re-read per frame.

use crate::engine::{ClusterView, KubeSummary, PoolProgress};
use crate::gateway::queue::{QueueState, QueuedRequest};
use crate::store::ClusterPhase;
use crate::tui::filter::Filter;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tui_input::Input;

/// How many journal entries the console keeps (older ones drop off the front).
pub const JOURNAL_CAP: usize = 5_000;
/// How many journal entries one poll asks for.
pub const POLL_LIMIT: usize = 500;
/// The id of a queued request's row starts with this (engine ids are UUIDs, never like it).
pub const QUEUED_ID_PREFIX: &str = "queued-";

/// A cluster's phase, as the console shows and colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Provisioning,
    Running,
    Updating,
    Deleting,
    Deleted,
    Failed,
    Aborting,
    Aborted,
    /// Not a cluster yet: a request this console keeps until its gateway answers.
    Queued,
    /// A queued request the gateway refused for good (its reason says why).
    Refused,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Provisioning => "Provisioning",
            Phase::Running => "Running",
            Phase::Updating => "Updating",
            Phase::Deleting => "Deleting",
            Phase::Deleted => "Deleted",
            Phase::Failed => "Failed",
            Phase::Aborting => "Aborting",
            Phase::Aborted => "Aborted",
            Phase::Queued => "Queued",
            Phase::Refused => "Refused",
        }
    }

    /// The reconcilers still have work: leaving the console (which runs them) stops it.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            Phase::Pending
                | Phase::Provisioning
                | Phase::Updating
                | Phase::Deleting
                | Phase::Aborting
        )
    }

    /// Machines are being taken and deployed for the first time: abort applies.
    pub fn is_provisioning(self) -> bool {
        matches!(self, Phase::Pending | Phase::Provisioning)
    }

    /// The cluster was built (or tried to be): delete applies.
    pub fn is_provisioned(self) -> bool {
        matches!(
            self,
            Phase::Running | Phase::Updating | Phase::Failed | Phase::Aborted
        )
    }

    /// Its machines can be resized: a spec change while nothing tears it down.
    pub fn is_resizable(self) -> bool {
        matches!(
            self,
            Phase::Running | Phase::Updating | Phase::Provisioning | Phase::Pending | Phase::Failed
        )
    }
}

impl From<ClusterPhase> for Phase {
    fn from(p: ClusterPhase) -> Self {
        match p {
            ClusterPhase::Pending => Phase::Pending,
            ClusterPhase::Provisioning => Phase::Provisioning,
            ClusterPhase::Running => Phase::Running,
            ClusterPhase::Updating => Phase::Updating,
            ClusterPhase::Deleting => Phase::Deleting,
            ClusterPhase::Deleted => Phase::Deleted,
            ClusterPhase::Failed => Phase::Failed,
            ClusterPhase::Aborting => Phase::Aborting,
            ClusterPhase::Aborted => Phase::Aborted,
        }
    }
}

/// One machine of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineLine {
    pub system_id: String,
    pub hostname: String,
    pub pool: String,
    pub role: String,
    /// The engine's word: allocated, deploying, deployed, failed, retiring …
    pub state: String,
    pub maas_status: String,
    /// MAAS's status message ("Installing OS", "Failed deployment: …"), when known.
    pub message: String,
    pub ip: String,
}

/// One step the engine took for a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLine {
    pub kind: String,
    pub state: String,
    pub message: String,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
}

impl TaskLine {
    /// How long the step ran (or has run so far, at `now`).
    pub fn elapsed(&self, now: DateTime<Utc>) -> String {
        let end = self.finished.unwrap_or(now);
        duration_label((end - self.started).num_seconds())
    }
}

/// A cluster, as every cluster screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInfo {
    pub id: String,
    pub name: String,
    pub account: String,
    pub phase: Phase,
    pub reason: Option<String>,
    /// `https://VIP:6443` once decided.
    pub endpoint: Option<String>,
    pub waiting: Option<String>,
    pub kubernetes: Option<KubeSummary>,
    pub pools: Vec<PoolProgress>,
    pub machines: Vec<MachineLine>,
    /// Oldest first.
    pub tasks: Vec<TaskLine>,
    pub created: DateTime<Utc>,
    pub spec_generation: i64,
    pub observed_generation: i64,
}

impl ClusterInfo {
    /// From the engine's view; MAAS status messages (by system id) when the source has them.
    pub fn from_view(v: ClusterView, messages: &HashMap<String, String>) -> ClusterInfo {
        let endpoint = v
            .status
            .vip
            .clone()
            .or_else(|| v.status.dns_fqdn.clone())
            .map(|h| format!("https://{h}:6443"));
        let machines = v
            .machines
            .into_iter()
            .map(|m| MachineLine {
                message: messages.get(&m.system_id).cloned().unwrap_or_default(),
                hostname: m.hostname.unwrap_or_default(),
                system_id: m.system_id,
                pool: m.pool,
                role: m.role,
                state: m.state,
                maas_status: m.maas_status.unwrap_or_default(),
                ip: m.ip.unwrap_or_default(),
            })
            .collect();
        let mut tasks: Vec<TaskLine> = v
            .tasks
            .into_iter()
            .map(|t| TaskLine {
                kind: t.kind,
                state: t.state,
                message: t.message,
                started: t.started,
                finished: t.finished,
            })
            .collect();
        // The engine gives the newest first; a list of steps reads top to bottom.
        tasks.reverse();
        ClusterInfo {
            id: v.id.to_string(),
            name: v.name,
            account: v.account,
            phase: v.phase.into(),
            reason: v.reason,
            endpoint,
            waiting: v.status.waiting,
            kubernetes: v.status.kubernetes,
            pools: v.status.pools,
            machines,
            tasks,
            created: v.created,
            spec_generation: v.spec_generation,
            observed_generation: v.observed_generation,
        }
    }

    /// A request kept by this console for its gateway (not a cluster yet), as the Clusters
    /// list shows it: `Queued` while it waits, `Refused` once the gateway turned it down; the
    /// reason says why, so the detail can show it.
    pub fn from_request(r: &QueuedRequest) -> ClusterInfo {
        let why = r.reason.as_deref().unwrap_or("no answer yet");
        let (phase, reason) = match r.state {
            QueueState::Failed => (
                Phase::Refused,
                format!(
                    "gateway {} refused this queued request: {why}; fix the spec and create the cluster again",
                    r.gateway
                ),
            ),
            // Submitted requests are not listed by the queue; one seen here is still waiting.
            QueueState::Queued | QueueState::Submitted => (
                Phase::Queued,
                format!(
                    "waiting for gateway {} ({why}); this console sends it as soon as the gateway answers (attempts so far: {})",
                    r.gateway, r.attempts
                ),
            ),
        };
        ClusterInfo {
            id: format!("{QUEUED_ID_PREFIX}{}", r.id),
            name: r.name.clone(),
            account: r.account.clone(),
            phase,
            waiting: (phase == Phase::Queued).then(|| reason.clone()),
            reason: Some(reason),
            endpoint: None,
            kubernetes: None,
            pools: Vec::new(),
            machines: Vec::new(),
            tasks: Vec::new(),
            created: r.queued,
            spec_generation: 0,
            observed_generation: 0,
        }
    }

    /// Whether this row is a request kept by the console rather than a cluster of the engine.
    pub fn is_request(&self) -> bool {
        self.id.starts_with(QUEUED_ID_PREFIX)
    }

    /// `healthy`, `2/3 nodes`, `api down`, or `-` before Kubernetes was probed.
    pub fn health(&self) -> Health {
        // A cluster being built, torn down or gone has no health to speak of: an API server
        // not answering yet is expected then, not an alarm.
        let meaningful = matches!(self.phase, Phase::Running | Phase::Updating | Phase::Failed);
        if !meaningful {
            return Health::Unknown;
        }
        match &self.kubernetes {
            None => Health::Unknown,
            Some(k) if !k.api_server_ready => Health::Down,
            Some(k) if k.nodes_ready >= k.nodes_expected => Health::Healthy,
            Some(k) => Health::Degraded {
                ready: k.nodes_ready,
                expected: k.nodes_expected,
            },
        }
    }

    /// `control-plane 1/1 · workers 2/3`: ready over desired per pool.
    pub fn nodes_label(&self) -> String {
        if self.pools.is_empty() {
            return "-".into();
        }
        self.pools
            .iter()
            .map(|p| format!("{} {}/{}", short_pool(&p.pool), p.ready, p.desired))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The lowercase text `/` searches.
    pub fn haystack(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.name,
            self.phase.label(),
            self.account,
            self.endpoint.as_deref().unwrap_or(""),
            self.reason.as_deref().unwrap_or("")
        )
        .to_lowercase()
    }
}

/// Pool names are free text; the list column only has room for a short form.
fn short_pool(name: &str) -> String {
    match name {
        "control-plane" => "cp".into(),
        "workers" => "wk".into(),
        other => other.chars().take(8).collect(),
    }
}

/// Kubernetes health as last probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Healthy,
    Degraded { ready: usize, expected: usize },
    Down,
}

impl Health {
    pub fn label(self) -> String {
        match self {
            Health::Unknown => "-".into(),
            Health::Healthy => "healthy".into(),
            Health::Degraded { ready, expected } => format!("{ready}/{expected} nodes"),
            Health::Down => "api down".into(),
        }
    }
}

/// How much a journal entry matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    pub id: i64,
    /// The cluster's id, when the entry is about one.
    pub cluster: Option<String>,
    pub time: DateTime<Utc>,
    pub level: Level,
    pub source: String,
    pub machine: Option<String>,
    pub message: String,
}

impl From<crate::store::EventRow> for EventLine {
    fn from(e: crate::store::EventRow) -> Self {
        use crate::store::EventLevel;
        EventLine {
            id: e.id.0,
            cluster: e.cluster.map(|c| c.to_string()),
            time: e.time,
            level: match e.level {
                EventLevel::Debug => Level::Debug,
                EventLevel::Info => Level::Info,
                EventLevel::Warn => Level::Warn,
                EventLevel::Error => Level::Error,
            },
            source: e.source,
            machine: e.machine,
            message: e.message,
        }
    }
}

/// One answer to a journal poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    /// New entries, oldest first.
    pub events: Vec<EventLine>,
    /// The engine's clock (ages and elapsed times are relative to it).
    pub now: DateTime<Utc>,
    /// This process runs the reconcilers (it may take them over when another process exits).
    pub reconciling: bool,
    /// The source pushes events (a gateway's live stream) and answers as they arrive: ask
    /// again at once instead of on the next tick.
    pub streaming: bool,
}

/// `42s`, `3m05s`, `2h10m`, `3d4h`.
pub fn duration_label(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A cluster's age on the list, to the minute (the list redraws once a minute for it).
pub fn age_label(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => "<1m".into(),
        60..=3599 => format!("{}m", s / 60),
        _ => duration_label(s),
    }
}

/// Is the console attached to an engine, and does it run the reconcilers?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineLink {
    /// Only MAAS (MAAS_URL / MAAS_API_KEY without a state dir): no clusters.
    #[default]
    Absent,
    /// This process holds the reconciler lock: leaving stops the work.
    Reconciling,
    /// Another kubemaas process runs the reconcilers; the console watches.
    Watching,
}

/// Whether the cluster list is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Load {
    #[default]
    NotLoaded,
    Loaded,
    Failed(String),
}

/// A small prompt over the detail screen.
#[derive(Debug, Clone)]
pub enum Prompt {
    /// `r`: pick a pool (↑/↓), then type its new size.
    Resize {
        cluster: String,
        /// (pool, desired size now).
        pools: Vec<(String, u32)>,
        selected: usize,
        size: Input,
        typing: bool,
        error: Option<String>,
    },
    /// `k`: where to write the kubeconfig.
    Kubeconfig {
        cluster: String,
        path: Input,
        error: Option<String>,
    },
}

/// The cluster detail screen.
#[derive(Debug, Clone)]
pub struct Detail {
    /// Name (or id, once deleted) the detail was opened for.
    pub key: String,
    pub info: Option<ClusterInfo>,
    pub error: Option<String>,
    /// Lines scrolled back from the newest event (0 = follow the log).
    pub log_back: usize,
    pub load_in_flight: bool,
    /// Events arrived while a load was in flight: load again when it answers.
    pub stale: bool,
}

/// Everything the cluster screens show.
#[derive(Debug, Clone, Default)]
pub struct ClustersModel {
    pub link: EngineLink,
    pub list: Vec<ClusterInfo>,
    /// Requests this console keeps for the gateway in use (Queued, or Refused), listed after
    /// its clusters; read from the console's own store, so shown while the gateway is away.
    pub queued: Vec<ClusterInfo>,
    pub load: Load,
    pub selected: usize,
    pub filter: String,
    /// Cluster id → name, also for deleted clusters (the journal outlives them).
    pub names: HashMap<String, String>,
    pub detail: Option<Detail>,
    pub journal: Vec<EventLine>,
    pub last_event: i64,
    pub poll_in_flight: bool,
    pub list_in_flight: bool,
    pub list_stale: bool,
    pub events_filter: String,
    /// Lines scrolled back from the newest event on the Events screen.
    pub events_back: usize,
    pub prompt: Option<Prompt>,
    /// The engine's clock at the last answer (ages and elapsed times are relative to it).
    pub now: Option<DateTime<Utc>>,
    /// The start-up summary was shown.
    pub greeted: bool,
}

impl ClustersModel {
    /// The clusters passing the `/` filter, in list order.
    pub fn shown(&self) -> Vec<&ClusterInfo> {
        let f = Filter::parse(&self.filter);
        // A request the gateway took between two reads is already in the list by its name.
        let taken = |q: &&ClusterInfo| {
            q.phase == Phase::Queued && self.list.iter().any(|c| c.name == q.name)
        };
        self.list
            .iter()
            .chain(self.queued.iter().filter(|q| !taken(q)))
            .filter(|c| f.matches(&c.haystack()))
            .collect()
    }

    /// Replaces the queued requests; keeps the selection in place. Returns whether it changed.
    pub fn set_queued(&mut self, queued: Vec<ClusterInfo>) -> bool {
        if self.queued == queued {
            return false;
        }
        let keep = self.selected_cluster().map(|c| c.id.clone());
        self.queued = queued;
        if let Some(i) = keep.and_then(|id| self.shown().iter().position(|c| c.id == id)) {
            self.selected = i;
        }
        self.selected = self.selected.min(self.shown().len().saturating_sub(1));
        true
    }

    /// Whether a request is still waiting for the gateway.
    pub fn has_waiting(&self) -> bool {
        self.queued.iter().any(|q| q.phase == Phase::Queued)
    }

    pub fn selected_cluster(&self) -> Option<&ClusterInfo> {
        self.shown().get(self.selected).copied()
    }

    /// Moves the selection; returns whether it moved.
    pub fn move_by(&mut self, by: isize) -> bool {
        let n = self.shown().len();
        if n == 0 {
            return false;
        }
        let next = (self.selected as isize)
            .saturating_add(by)
            .clamp(0, n as isize - 1) as usize;
        let moved = next != self.selected;
        self.selected = next;
        moved
    }

    /// Replaces the list; keeps the selection on the same cluster. Returns whether it changed.
    pub fn set_list(&mut self, list: Vec<ClusterInfo>) -> bool {
        let keep = self.selected_cluster().map(|c| c.id.clone());
        for c in &list {
            self.names.insert(c.id.clone(), c.name.clone());
        }
        let changed = self.list != list || self.load != Load::Loaded;
        self.list = list;
        self.load = Load::Loaded;
        if let Some(id) = keep {
            if let Some(i) = self.shown().iter().position(|c| c.id == id) {
                self.selected = i;
            }
        }
        self.selected = self.selected.min(self.shown().len().saturating_sub(1));
        changed
    }

    /// Appends journal entries (newer than the last seen); returns the cluster ids they touch.
    pub fn append_events(&mut self, events: Vec<EventLine>) -> Vec<Option<String>> {
        let mut touched = Vec::new();
        for e in events {
            if e.id <= self.last_event {
                continue;
            }
            self.last_event = e.id;
            if !touched.contains(&e.cluster) {
                touched.push(e.cluster.clone());
            }
            self.journal.push(e);
        }
        let excess = self.journal.len().saturating_sub(JOURNAL_CAP);
        self.journal.drain(..excess);
        touched
    }

    /// The journal entries passing the Events screen's filter.
    pub fn shown_events(&self) -> Vec<&EventLine> {
        let f = Filter::parse(&self.events_filter);
        self.journal
            .iter()
            .filter(|e| f.is_empty() || f.matches(&self.event_haystack(e)))
            .collect()
    }

    /// The name of the cluster an entry is about, or its id when the console never saw it.
    pub fn cluster_name<'a>(&'a self, e: &'a EventLine) -> &'a str {
        match &e.cluster {
            Some(id) => self.names.get(id).map(String::as_str).unwrap_or(id),
            None => "-",
        }
    }

    fn event_haystack(&self, e: &EventLine) -> String {
        format!(
            "{} {} {} {} {}",
            self.cluster_name(e),
            e.level.label(),
            e.source,
            e.machine.as_deref().unwrap_or(""),
            e.message
        )
        .to_lowercase()
    }

    /// Clusters whose work stops when the console (holding the reconciler lock) exits.
    pub fn busy(&self) -> Vec<&ClusterInfo> {
        if self.link != EngineLink::Reconciling {
            return Vec::new();
        }
        self.list.iter().filter(|c| c.phase.is_busy()).collect()
    }

    /// The journal entries of the detail's cluster.
    pub fn detail_events(&self) -> Vec<&EventLine> {
        let Some(id) = self
            .detail
            .as_ref()
            .and_then(|d| d.info.as_ref())
            .map(|i| i.id.as_str())
        else {
            return Vec::new();
        };
        self.journal
            .iter()
            .filter(|e| e.cluster.as_deref() == Some(id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_label(-3), "0s");
        assert_eq!(duration_label(42), "42s");
        assert_eq!(duration_label(185), "3m05s");
        assert_eq!(duration_label(7_800), "2h10m");
        assert_eq!(duration_label(273_600), "3d4h");
        assert_eq!(age_label(42), "<1m");
        assert_eq!(age_label(185), "3m");
        assert_eq!(age_label(7_800), "2h10m");
    }

    fn ev(id: i64, cluster: Option<&str>) -> EventLine {
        EventLine {
            id,
            cluster: cluster.map(String::from),
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            level: Level::Info,
            source: "engine".into(),
            machine: None,
            message: format!("m{id}"),
        }
    }

    #[test]
    fn journal_skips_seen_ids_and_reports_touched_clusters() {
        let mut m = ClustersModel::default();
        let touched = m.append_events(vec![ev(1, Some("a")), ev(2, Some("a")), ev(3, None)]);
        assert_eq!(touched, vec![Some("a".to_string()), None]);
        assert_eq!(m.last_event, 3);
        assert!(m.append_events(vec![ev(2, Some("b"))]).is_empty());
        assert_eq!(m.journal.len(), 3);
        m.events_filter = "m2".into();
        assert_eq!(m.shown_events().len(), 1);
    }
}
