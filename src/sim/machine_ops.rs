//! Machine operations on the region: allocate, deploy, release, abort, power, owner data,
//! broken/fixed, lock, listing filters, admin edits. Each returns the index of the machine it
//! changed (the API layer renders it) or MAAS's error for that situation (§3.5–3.9 of the
//! project's MAAS reference).

use super::allocate::{choose, Constraints};
use super::params::Params;
use super::reply::ApiError;
use super::state::{
    invalid_transition, transition_allowed, visible, Actor, Level, Region, Step, FULL_ERASE_SECS,
    QUICK_ERASE_SECS, RELEASE_SECS,
};
use crate::maas::{NodeStatus, PowerState};
use base64::Engine;
use chrono::Duration;
use serde_json::{json, Value};

/// Filters `GET machines/` takes (MAAS's ReadNodesForm, the part the simulator models).
const LIST_FILTERS: &[&str] = &[
    "id",
    "hostname",
    "mac_address",
    "domain",
    "zone",
    "not_in_zone",
    "pool",
    "not_in_pool",
    "agent_name",
    "tags",
    "not_tags",
    "status",
    "owner",
    "arch",
    "cpu_count",
    "mem",
    "power_state",
];

/// Known Ubuntu releases and their version numbers, for `distro_series=22.04`.
const UBUNTU_VERSIONS: &[(&str, &str)] = &[
    ("xenial", "16.04"),
    ("bionic", "18.04"),
    ("focal", "20.04"),
    ("jammy", "22.04"),
    ("noble", "24.04"),
];

fn flag(params: &Params, key: &str) -> Result<bool, ApiError> {
    params
        .flag(key, false)
        .map_err(|e| ApiError::field(key, e.to_string()))
}

impl Region {
    /// `machines/?op=allocate`. Serialised by the region lock, so concurrent callers never
    /// receive the same machine.
    pub fn allocate(&mut self, actor: &Actor, params: &Params) -> Result<(usize, Value), ApiError> {
        let constraints = Constraints::parse(params, &self.catalog, &self.machines)?;
        let choice = choose(&constraints, &self.machines, &self.catalog, |m| {
            m.status == NodeStatus::Ready && !m.locked && m.owner.is_none()
        })
        .ok_or_else(|| constraints.no_match(params))?;
        if flag(params, "dry_run")? {
            return Ok((choice.index, choice.constraints_by_type));
        }
        let now = self.now();
        let idx = choice.index;
        self.acquire(idx, actor, params.get("agent_name").unwrap_or_default());
        let comment = params.get("comment").unwrap_or_default().to_string();
        self.event(
            idx,
            Level::Info,
            "Allocated",
            &comment,
            Some(actor.username.clone()),
            now,
        );
        Ok((idx, choice.constraints_by_type))
    }

    fn acquire(&mut self, idx: usize, actor: &Actor, agent_name: &str) {
        let m = &mut self.machines[idx];
        m.status = NodeStatus::Allocated;
        m.owner = Some(actor.username.clone());
        m.agent_name = agent_name.to_string();
        m.error_description.clear();
    }

    /// `machines/{id}/?op=deploy`: from Allocated (or straight from Ready, allocating first).
    pub fn deploy(
        &mut self,
        system_id: &str,
        actor: &Actor,
        params: &Params,
    ) -> Result<usize, ApiError> {
        let idx = self.find_editable(system_id, actor)?;
        let status = self.machines[idx].status;
        let owner = self.machines[idx].owner.clone();
        // A Ready machine is allocated in the same call; otherwise DEPLOYING must be a legal
        // next state (so a Failed deployment has to be released first, as in MAAS).
        if status != NodeStatus::Ready && !transition_allowed(status, NodeStatus::Deploying) {
            return Err(ApiError::Conflict(format!(
                "Can't deploy a machine that is in the '{}' state",
                status.label()
            )));
        }
        if status != NodeStatus::Ready && owner.as_deref() != Some(actor.username.as_str()) {
            return Err(ApiError::Conflict(
                "Can't allocate a machine belonging to another user.".into(),
            ));
        }
        let (osystem, series) = self.resolve_series(params.get_nonempty("distro_series"))?;
        let hwe_kernel = match params.get_nonempty("hwe_kernel") {
            Some(k) if k.starts_with("ga-") || k.starts_with("hwe-") || k == "generic" => {
                Some(k.to_string())
            }
            Some(k) => {
                return Err(ApiError::field(
                    "hwe_kernel",
                    format!(
                        "{k} is not available for {series} on {}.",
                        self.machines[idx].architecture
                    ),
                ))
            }
            None => None,
        };
        if !self.machines[idx]
            .nics
            .iter()
            .any(|n| n.subnet_id.is_some())
        {
            return Err(ApiError::field(
                "network",
                "Node must be configured to use a network",
            ));
        }
        self.assign_addresses(idx)?;
        let now = self.now();
        if status == NodeStatus::Ready {
            self.acquire(idx, actor, params.get("agent_name").unwrap_or_default());
            self.event(
                idx,
                Level::Info,
                "Allocated",
                "",
                Some(actor.username.clone()),
                now,
            );
        }
        let user_data = params.get("user_data").map(|raw| {
            let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
            // MAAS stores what it is given and base64-decodes when serving; so decode when it
            // is base64 and keep the raw bytes otherwise.
            base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .unwrap_or_else(|_| raw.as_bytes().to_vec())
        });
        let m = &mut self.machines[idx];
        m.osystem = osystem;
        m.distro_series = series;
        m.hwe_kernel = hwe_kernel;
        m.user_data = user_data;
        m.status = NodeStatus::Deploying;
        m.power_state = PowerState::On;
        m.error_description.clear();
        let comment = params.get("comment").unwrap_or_default().to_string();
        self.event(
            idx,
            Level::Info,
            "Deploying",
            &comment,
            Some(actor.username.clone()),
            now,
        );
        let deploying_event = self.events.len() - 1;
        self.k8s.learn(
            system_id,
            self.machines[idx].user_data.as_deref(),
            deploying_event,
            self.machines[idx].ip_addresses().into_iter().next(),
        );
        let plan = self.deploy_plan(now);
        self.schedule(system_id, plan);
        Ok(idx)
    }

    /// Maps `distro_series` (`jammy`, `ubuntu/jammy`, `22.04`, `custom/x`) to (osystem, series)
    /// using the boot resources; absent means the default (jammy, else the first image).
    fn resolve_series(&self, wanted: Option<&str>) -> Result<(String, String), ApiError> {
        let images: Vec<(String, String)> = self
            .catalog
            .boot_resources
            .iter()
            .filter_map(|r| {
                r.name
                    .split_once('/')
                    .map(|(o, s)| (o.to_string(), s.to_string()))
            })
            .collect();
        let version_of = |series: &str| {
            UBUNTU_VERSIONS
                .iter()
                .find(|(s, _)| *s == series)
                .map(|(_, v)| *v)
        };
        let found = match wanted {
            None => images
                .iter()
                .find(|(o, s)| o == "ubuntu" && s == "jammy")
                .or_else(|| images.iter().find(|(o, _)| o == "ubuntu"))
                .or_else(|| images.first()),
            Some(w) => images.iter().find(|(o, s)| {
                w == s
                    || w == format!("{o}/{s}")
                    || (o == "ubuntu"
                        && version_of(s).is_some_and(|v| w == v || w == format!("ubuntu/{v}")))
            }),
        };
        match found {
            Some((o, s)) => Ok((o.clone(), s.clone())),
            None => {
                let choices = images
                    .iter()
                    .map(|(o, s)| format!("'{o}/{s}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let msg = match wanted {
                    Some(w) => format!("'{w}' is not a valid distro_series.  It should be one of: {choices}."),
                    None => "No boot images are available to deploy: import or upload one in MAAS first.".into(),
                };
                Err(ApiError::field("distro_series", msg))
            }
        }
    }

    /// `machines/{id}/?op=release`.
    pub fn release(
        &mut self,
        system_id: &str,
        actor: &Actor,
        params: &Params,
    ) -> Result<usize, ApiError> {
        let idx = self.find_editable(system_id, actor)?;
        let status = self.machines[idx].status;
        if matches!(status, NodeStatus::Ready | NodeStatus::Releasing) {
            return Ok(idx);
        }
        if !status.is_releasable() {
            return Err(ApiError::Conflict(format!(
                "Machine cannot be released in its current state ('{}').",
                status.label()
            )));
        }
        let secure = flag(params, "secure_erase")?;
        let quick = flag(params, "quick_erase")?;
        let erase = flag(params, "erase")? || secure || quick;
        let target = if erase {
            NodeStatus::DiskErasing
        } else {
            NodeStatus::Releasing
        };
        if !transition_allowed(status, target) {
            return Err(invalid_transition(status, target));
        }
        let comment = params.get("comment").unwrap_or_default().to_string();
        self.start_release(idx, actor, erase, quick && !secure, &comment);
        Ok(idx)
    }

    fn start_release(
        &mut self,
        idx: usize,
        actor: &Actor,
        erase: bool,
        quick: bool,
        comment: &str,
    ) {
        let now = self.now();
        let system_id = self.machines[idx].system_id.clone();
        // Before anything changes: a control-plane machine still in etcd is a fault.
        super::k8s::etcd::note_release(self, &system_id);
        self.cancel(&system_id);
        let m = &mut self.machines[idx];
        m.owner = None;
        m.agent_name.clear();
        m.owner_data.clear();
        m.osystem.clear();
        m.distro_series.clear();
        m.hwe_kernel = None;
        m.user_data = None;
        m.error_description.clear();
        for nic in &mut m.nics {
            // AUTO addresses go back to the pool; a static assignment belongs to the machine.
            if nic.link_mode.eq_ignore_ascii_case("auto") {
                nic.ip_address = None;
            }
        }
        let powered_off = m.power_state == PowerState::Off;
        self.book(&system_id).broken_from = None;
        if erase {
            self.machines[idx].status = NodeStatus::DiskErasing;
            self.machines[idx].power_state = PowerState::On;
            self.event(
                idx,
                Level::Info,
                "Disk erasing",
                comment,
                Some(actor.username.clone()),
                now,
            );
            let secs = if quick {
                QUICK_ERASE_SECS
            } else {
                FULL_ERASE_SECS
            };
            self.schedule(
                &system_id,
                vec![(
                    now + Duration::seconds(secs),
                    Step::Finish {
                        status: NodeStatus::Ready,
                        power: PowerState::Off,
                        event: "Released".into(),
                    },
                )],
            );
        } else if powered_off {
            // MAAS finishes a release at once when the machine is already off.
            self.machines[idx].status = NodeStatus::Ready;
            self.event(
                idx,
                Level::Info,
                "Released",
                comment,
                Some(actor.username.clone()),
                now,
            );
        } else {
            self.machines[idx].status = NodeStatus::Releasing;
            self.event(
                idx,
                Level::Info,
                "Releasing",
                comment,
                Some(actor.username.clone()),
                now,
            );
            self.schedule(
                &system_id,
                vec![(
                    now + Duration::seconds(RELEASE_SECS),
                    Step::Finish {
                        status: NodeStatus::Ready,
                        power: PowerState::Off,
                        event: "Released".into(),
                    },
                )],
            );
        }
    }

    /// `machines/?op=release` with repeated `machines=`: all or nothing, like MAAS.
    pub fn release_many(&mut self, actor: &Actor, params: &Params) -> Result<Value, ApiError> {
        let ids: Vec<String> = params.list("machines");
        if ids.is_empty() {
            return Err(ApiError::field("machines", "This field is required."));
        }
        let unknown: Vec<&str> = ids
            .iter()
            .filter(|id| {
                self.index_of(id)
                    .is_none_or(|i| !visible(&self.machines[i], actor))
            })
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "Unknown machine(s): {}.",
                unknown.join(", ")
            )));
        }
        let forbidden: Vec<&str> = ids
            .iter()
            .filter(|id| self.find_editable(id, actor).is_err())
            .map(String::as_str)
            .collect();
        if !forbidden.is_empty() {
            return Err(ApiError::Forbidden(format!(
                "You don't have the required permission to release the following machine(s): {}.",
                forbidden.join(", ")
            )));
        }
        let stuck: Vec<String> = ids
            .iter()
            .filter_map(|id| {
                let m = self.machine(id)?;
                (!m.status.is_releasable()
                    && !matches!(m.status, NodeStatus::Ready | NodeStatus::Releasing))
                .then(|| format!("{id} ('{}')", m.status.label()))
            })
            .collect();
        if !stuck.is_empty() {
            return Err(ApiError::Conflict(format!(
                "Machine(s) cannot be released in their current state: {}.",
                stuck.join(", ")
            )));
        }
        let comment = params.get("comment").unwrap_or_default().to_string();
        let mut released = Vec::new();
        for id in &ids {
            let Some(idx) = self.index_of(id) else {
                continue;
            };
            if self.machines[idx].status.is_releasable() {
                self.start_release(idx, actor, false, false, &comment);
                released.push(id.clone());
            }
        }
        Ok(json!(released))
    }

    /// `machines/{id}/?op=abort`.
    pub fn abort(
        &mut self,
        system_id: &str,
        actor: &Actor,
        params: &Params,
    ) -> Result<usize, ApiError> {
        let idx = self.find_editable(system_id, actor)?;
        let now = self.now();
        let comment = params.get("comment").unwrap_or_default().to_string();
        let user = Some(actor.username.clone());
        match self.machines[idx].status {
            NodeStatus::Deploying => {
                self.cancel(system_id);
                self.machines[idx].status = NodeStatus::Allocated;
                self.machines[idx].power_state = PowerState::Off;
                self.event(idx, Level::Info, "Aborted deployment", &comment, user, now);
            }
            NodeStatus::DiskErasing => {
                self.cancel(system_id);
                self.machines[idx].status = NodeStatus::FailedDiskErasing;
                self.machines[idx].power_state = PowerState::Off;
                self.event(
                    idx,
                    Level::Info,
                    "Aborted disk erasing",
                    &comment,
                    user,
                    now,
                );
            }
            other => {
                return Err(ApiError::Conflict(format!(
                    "Cannot abort in current state: node {system_id} is in state {}.",
                    other.label()
                )))
            }
        }
        Ok(idx)
    }

    /// `op=power_on` / `op=power_off`.
    pub fn set_power(
        &mut self,
        system_id: &str,
        actor: &Actor,
        on: bool,
    ) -> Result<usize, ApiError> {
        let idx = self.find_editable(system_id, actor)?;
        if on && self.machines[idx].owner.is_none() {
            return Err(ApiError::Conflict(
                "Can't start node: it hasn't been allocated.".into(),
            ));
        }
        let now = self.now();
        let previous = self.machines[idx].status_message.clone();
        self.machines[idx].power_state = if on { PowerState::On } else { PowerState::Off };
        let kind = if on { "Powering on" } else { "Powering off" };
        self.event(
            idx,
            Level::Info,
            kind,
            "",
            Some(actor.username.clone()),
            now,
        );
        // Power requests are not status events: the status message stays what it was.
        self.machines[idx].status_message = previous;
        Ok(idx)
    }

    /// `op=set_owner_data` / `op=set_workload_annotations`: empty values delete keys.
    pub fn set_owner_data(
        &mut self,
        system_id: &str,
        actor: &Actor,
        params: &Params,
    ) -> Result<usize, ApiError> {
        let idx = self.find_editable(system_id, actor)?;
        if self.machines[idx].owner.is_none() {
            return Err(ApiError::Conflict(
                "Cannot set workload annotation: it hasn't been acquired.".into(),
            ));
        }
        let m = &mut self.machines[idx];
        for (k, v) in params.pairs() {
            if k == "op" {
                continue;
            }
            if v.is_empty() {
                m.owner_data.remove(k);
            } else {
                m.owner_data.insert(k.clone(), v.clone());
            }
        }
        Ok(idx)
    }

    /// `op=mark_broken`: an Allocated machine is released first; Deployed ones stay owned.
    pub fn mark_broken(
        &mut self,
        system_id: &str,
        actor: &Actor,
        params: &Params,
    ) -> Result<usize, ApiError> {
        let idx = self.find_editable(system_id, actor)?;
        if !actor.admin && self.machines[idx].owner.as_deref() != Some(actor.username.as_str()) {
            return Err(ApiError::Forbidden(
                "You must own a machine (or be an administrator) to mark it broken.".into(),
            ));
        }
        let now = self.now();
        let reason = params
            .get_nonempty("comment")
            .or_else(|| params.get_nonempty("error_description"))
            .unwrap_or_default()
            .to_string();
        let previous = self.machines[idx].status;
        if previous == NodeStatus::Broken {
            return Ok(idx);
        }
        if !transition_allowed(previous, NodeStatus::Broken) {
            return Err(invalid_transition(previous, NodeStatus::Broken));
        }
        self.cancel(system_id);
        if previous == NodeStatus::Allocated {
            let m = &mut self.machines[idx];
            m.owner = None;
            m.agent_name.clear();
            m.owner_data.clear();
        }
        self.book(system_id).broken_from = Some(previous);
        self.machines[idx].status = NodeStatus::Broken;
        self.machines[idx].error_description = reason.clone();
        self.event(
            idx,
            Level::Info,
            "Marking node broken",
            &reason,
            Some(actor.username.clone()),
            now,
        );
        Ok(idx)
    }

    /// `op=mark_fixed`: Broken → Ready, or back to Deployed if it was deployed.
    pub fn mark_fixed(
        &mut self,
        system_id: &str,
        actor: &Actor,
        params: &Params,
    ) -> Result<usize, ApiError> {
        let idx = self.find_editable(system_id, actor)?;
        if self.machines[idx].status != NodeStatus::Broken {
            return Err(ApiError::Conflict(
                "Can't mark a non-broken node as 'Ready'.".into(),
            ));
        }
        let now = self.now();
        let back = match self.book(system_id).broken_from.take() {
            Some(NodeStatus::Deployed) if self.machines[idx].owner.is_some() => {
                NodeStatus::Deployed
            }
            _ => NodeStatus::Ready,
        };
        if back == NodeStatus::Ready {
            let m = &mut self.machines[idx];
            m.owner = None;
            m.agent_name.clear();
            m.owner_data.clear();
        }
        self.machines[idx].status = back;
        self.machines[idx].error_description.clear();
        let comment = params.get("comment").unwrap_or_default().to_string();
        self.event(
            idx,
            Level::Info,
            "Marking node fixed",
            &comment,
            Some(actor.username.clone()),
            now,
        );
        Ok(idx)
    }

    /// `op=lock` / `op=unlock`: only deployed machines can be locked (MAAS's rule).
    pub fn set_lock(
        &mut self,
        system_id: &str,
        actor: &Actor,
        lock: bool,
    ) -> Result<usize, ApiError> {
        let idx = self.find_visible(system_id, actor)?;
        let m = &self.machines[idx];
        if !actor.admin && m.owner.as_deref() != Some(actor.username.as_str()) {
            return Err(ApiError::Forbidden(format!(
                "You don't have permission to lock or unlock machine {system_id}."
            )));
        }
        if lock && m.locked {
            return Err(ApiError::Conflict("Machine is already locked.".into()));
        }
        if lock && m.status != NodeStatus::Deployed {
            return Err(ApiError::Conflict(format!(
                "Can't lock, machine is in the '{}' state: only deployed machines can be locked.",
                m.status.label()
            )));
        }
        if !lock && !m.locked {
            return Err(ApiError::Conflict("Machine is not locked.".into()));
        }
        self.machines[idx].locked = lock;
        Ok(idx)
    }

    /// `GET machines/` with ReadNodesForm filters; unknown filters are 400 `No such constraint.`
    pub fn list_machines(&self, actor: &Actor, params: &Params) -> Result<Vec<usize>, ApiError> {
        let unknown: Vec<&str> = params
            .keys()
            .into_iter()
            .filter(|k| *k != "op" && !LIST_FILTERS.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::no_such_constraint(&unknown));
        }
        let mut statuses = Vec::new();
        for s in params.list("status") {
            let status = NodeStatus::ALL
                .iter()
                .copied()
                .find(|st| st.filter_name() == s)
                .ok_or_else(|| {
                    ApiError::field(
                        "status",
                        format!("Select a valid choice. {s} is not one of the available choices."),
                    )
                })?;
            statuses.push(status);
        }
        let num = |key: &str| -> Result<Option<f64>, ApiError> {
            params
                .get_nonempty(key)
                .map(|v| {
                    v.parse::<f64>()
                        .map_err(|_| ApiError::field(key, "Enter a number."))
                })
                .transpose()
        };
        let cpu = num("cpu_count")?;
        let mem = num("mem")?;
        // Each filter's values are read once, not once per machine: a poll for one cluster's
        // machines scans the whole fleet.
        let list = |key: &str| params.list(key);
        let (hostnames, ids, domains) = (list("hostname"), list("id"), list("domain"));
        let (zones, not_zones, pools) = (list("zone"), list("not_in_zone"), list("pool"));
        let (not_pools, agents, owners) = (list("not_in_pool"), list("agent_name"), list("owner"));
        let (powers, tags, not_tags) = (list("power_state"), list("tags"), list("not_tags"));
        let (arches, macs) = (list("arch"), list("mac_address"));
        let any_of = |wanted: &[String], value: &str| {
            wanted.is_empty() || wanted.iter().any(|w| *w == value)
        };
        let none_of = |unwanted: &[String], value: &str| !unwanted.iter().any(|w| *w == value);
        Ok(self
            .machines
            .iter()
            .enumerate()
            .filter(|(_, m)| visible(m, actor))
            .filter(|(_, m)| {
                (hostnames.is_empty()
                    || hostnames.iter().any(|h| *h == m.hostname || *h == m.fqdn()))
                    && any_of(&ids, &m.system_id)
                    && any_of(&domains, &m.domain)
                    && any_of(&zones, &m.zone)
                    && none_of(&not_zones, &m.zone)
                    && any_of(&pools, &m.pool)
                    && none_of(&not_pools, &m.pool)
                    && any_of(&agents, &m.agent_name)
                    && any_of(&owners, m.owner.as_deref().unwrap_or_default())
                    && any_of(&powers, m.power_state.as_str())
                    && tags.iter().all(|t| m.tags.contains(t))
                    && !not_tags.iter().any(|t| m.tags.contains(t))
                    && (statuses.is_empty() || statuses.contains(&m.status))
                    && (arches.is_empty()
                        || arches.iter().any(|a| {
                            *a == m.architecture
                                || m.architecture.split('/').next() == Some(a.as_str())
                        }))
                    && (macs.is_empty()
                        || m.nics
                            .iter()
                            .any(|n| macs.iter().any(|x| x.eq_ignore_ascii_case(&n.mac_address))))
                    && cpu.is_none_or(|c| m.cpu_count as f64 >= c)
                    && mem.is_none_or(|c| m.memory_mib as f64 >= c)
            })
            .map(|(i, _)| i)
            .collect())
    }

    /// `PUT machines/{id}/` (admin only in MAAS).
    pub fn update_machine(
        &mut self,
        system_id: &str,
        actor: &Actor,
        params: &Params,
    ) -> Result<usize, ApiError> {
        let idx = self.find_visible(system_id, actor)?;
        if !actor.admin {
            return Err(ApiError::Forbidden(
                "You don't have permission to update machines: this needs an administrator's API key.".into(),
            ));
        }
        if self.machines[idx].locked {
            return Err(ApiError::Forbidden(format!(
                "Machine {system_id} is locked: unlock it before changing it."
            )));
        }
        if let Some(zone) = params.get_nonempty("zone") {
            if !self.catalog.zones.iter().any(|z| z.name == zone) {
                return Err(ApiError::field(
                    "zone",
                    format!("Select a valid choice. {zone} is not one of the available choices."),
                ));
            }
        }
        if let Some(pool) = params.get_nonempty("pool") {
            if !self.catalog.pools.iter().any(|p| p.name == pool) {
                return Err(ApiError::field(
                    "pool",
                    format!("Select a valid choice. {pool} is not one of the available choices."),
                ));
            }
        }
        let swap = match params.get("swap_size") {
            Some(raw) if !raw.trim().is_empty() => Some(parse_size(raw).ok_or_else(|| {
                ApiError::field(
                    "swap_size",
                    "Invalid size for swap: use bytes or a suffix such as 2G.",
                )
            })?),
            _ => None,
        };
        let cpu = match params.get_nonempty("cpu_count") {
            Some(v) => Some(
                v.parse::<u32>()
                    .map_err(|_| ApiError::field("cpu_count", "Enter a whole number."))?,
            ),
            None => None,
        };
        let mem = match params.get_nonempty("memory") {
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| ApiError::field("memory", "Enter a whole number."))?,
            ),
            None => None,
        };
        if let Some(s) = swap {
            self.book(system_id).swap_size = Some(s);
        }
        let m = &mut self.machines[idx];
        if let Some(h) = params.get_nonempty("hostname") {
            m.hostname = h.to_string();
        }
        if let Some(d) = params.get("description") {
            m.description = d.to_string();
        }
        if let Some(z) = params.get_nonempty("zone") {
            m.zone = z.to_string();
        }
        if let Some(p) = params.get_nonempty("pool") {
            m.pool = p.to_string();
        }
        if let Some(k) = params.get_nonempty("min_hwe_kernel") {
            m.min_hwe_kernel = k.to_string();
        }
        if let Some(c) = cpu {
            m.cpu_count = c;
        }
        if let Some(mm) = mem {
            m.memory_mib = mm;
        }
        Ok(idx)
    }

    /// `DELETE machines/{id}/` (admin only).
    pub fn delete_machine(&mut self, system_id: &str, actor: &Actor) -> Result<(), ApiError> {
        self.find_visible(system_id, actor)?;
        if !actor.admin {
            return Err(ApiError::Forbidden(
                "You don't have permission to delete machines: this needs an administrator's API key.".into(),
            ));
        }
        self.vanish(system_id);
        Ok(())
    }
}

/// Bytes, or a number with a K/M/G/T suffix (MAAS's swap_size syntax).
fn parse_size(raw: &str) -> Option<u64> {
    let t = raw.trim();
    let (num, mult) = match t.chars().last()? {
        'K' | 'k' => (&t[..t.len() - 1], 1u64 << 10),
        'M' | 'm' => (&t[..t.len() - 1], 1 << 20),
        'G' | 'g' => (&t[..t.len() - 1], 1 << 30),
        'T' | 't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}
