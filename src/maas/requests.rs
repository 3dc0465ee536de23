//! The parameters of MAAS calls, with MAAS's own names. Lists go out as repeated keys
//! (`tags=a&tags=b`): MAAS reads every value, and sending one comma-joined value or only the
//! last one (as the Cluster API provider does) silently drops constraints.

use super::status::NodeStatus;
use base64::Engine;
use std::collections::BTreeMap;
use std::fmt;

/// Ordered `key=value` pairs, keys repeatable: a query string or a urlencoded form body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    pub fn push(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.push((key.to_string(), value.into()));
        self
    }

    pub fn push_opt(&mut self, key: &str, value: Option<impl ToString>) -> &mut Self {
        if let Some(v) = value {
            self.push(key, v.to_string());
        }
        self
    }

    /// One `key=value` per item.
    pub fn push_all<S: AsRef<str>>(&mut self, key: &str, values: &[S]) -> &mut Self {
        for v in values {
            self.push(key, v.as_ref());
        }
        self
    }

    /// `key=true` when set; MAAS's default for an absent flag is false.
    pub fn push_flag(&mut self, key: &str, on: bool) -> &mut Self {
        if on {
            self.push(key, "true");
        }
        self
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The urlencoded form (`a=1&tags=x&tags=y`).
    pub fn encode(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.0.iter())
            .finish()
    }
}

/// Filters of `GET machines/`. Empty means every machine the key may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineFilter {
    /// System ids (`id=`, repeated): one request polls a whole cluster's machines.
    pub ids: Vec<String>,
    pub hostnames: Vec<String>,
    pub zone: Option<String>,
    pub pool: Option<String>,
    /// Finds the machines an allocation stamped with this agent name (not shown in the JSON).
    pub agent_name: Option<String>,
    /// Machines carrying every one of these tags.
    pub tags: Vec<String>,
    pub status: Option<NodeStatus>,
    pub owner: Option<String>,
    pub domain: Option<String>,
    pub arch: Option<String>,
    pub mac_addresses: Vec<String>,
}

impl MachineFilter {
    /// The machines with these system ids.
    pub fn ids<S: Into<String>>(ids: impl IntoIterator<Item = S>) -> Self {
        MachineFilter {
            ids: ids.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// The machines allocated with this agent name.
    pub fn agent_name(agent_name: impl Into<String>) -> Self {
        MachineFilter {
            agent_name: Some(agent_name.into()),
            ..Default::default()
        }
    }

    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_all("id", &self.ids)
            .push_all("hostname", &self.hostnames)
            .push_opt("zone", self.zone.as_ref())
            .push_opt("pool", self.pool.as_ref())
            .push_opt("agent_name", self.agent_name.as_ref())
            .push_all("tags", &self.tags)
            .push_opt("status", self.status.map(|s| s.filter_name()))
            .push_opt("owner", self.owner.as_ref())
            .push_opt("domain", self.domain.as_ref())
            .push_opt("arch", self.arch.as_ref())
            .push_all("mac_address", &self.mac_addresses);
        p
    }
}

/// One disk a machine must have: `label:size(tag,…)`, size in decimal GB as MAAS counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConstraint {
    /// A name for the disk in `constraints_by_type` (`root`, `data`); MAAS numbers it if absent.
    pub label: Option<String>,
    pub size_gb: u64,
    pub tags: Vec<String>,
}

impl StorageConstraint {
    pub fn new(label: impl Into<String>, size_gb: u64) -> Self {
        StorageConstraint {
            label: Some(label.into()),
            size_gb,
            tags: Vec::new(),
        }
    }

    pub fn with_tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

impl fmt::Display for StorageConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(label) = &self.label {
            write!(f, "{label}:")?;
        }
        write!(f, "{}", self.size_gb)?;
        if !self.tags.is_empty() {
            write!(f, "({})", self.tags.join(","))?;
        }
        Ok(())
    }
}

/// `POST machines/?op=allocate`: every constraint is AND-ed; lists are all-of (tags) or none-of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllocateRequest {
    /// Minimum cores.
    pub cpu_count: Option<u32>,
    /// Minimum memory, MiB.
    pub mem: Option<u64>,
    /// Disks the machine must have, sent as `root:100,data:500(ssd)`.
    pub storage: Vec<StorageConstraint>,
    pub zone: Option<String>,
    pub not_in_zone: Vec<String>,
    pub pool: Option<String>,
    pub not_in_pool: Vec<String>,
    /// The machine must carry EVERY one of these tags.
    pub tags: Vec<String>,
    pub not_tags: Vec<String>,
    pub arch: Option<String>,
    pub system_id: Option<String>,
    /// Hostname or FQDN.
    pub name: Option<String>,
    /// Stamped on the allocation; `machines(agent_name=…)` finds it again after a crash.
    pub agent_name: Option<String>,
    /// Recorded in the machine's event log.
    pub comment: Option<String>,
    /// Select without allocating.
    pub dry_run: bool,
}

impl AllocateRequest {
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("cpu_count", self.cpu_count)
            .push_opt("mem", self.mem)
            .push_opt("storage", self.storage_spec())
            .push_opt("zone", self.zone.as_ref())
            .push_all("not_in_zone", &self.not_in_zone)
            .push_opt("pool", self.pool.as_ref())
            .push_all("not_in_pool", &self.not_in_pool)
            .push_all("tags", &self.tags)
            .push_all("not_tags", &self.not_tags)
            .push_opt("arch", self.arch.as_ref())
            .push_opt("system_id", self.system_id.as_ref())
            .push_opt("name", self.name.as_ref())
            .push_opt("agent_name", self.agent_name.as_ref())
            .push_opt("comment", self.comment.as_ref())
            .push_flag("dry_run", self.dry_run);
        p
    }

    /// `root:100,data:500(ssd)`, or None without disk constraints.
    pub fn storage_spec(&self) -> Option<String> {
        (!self.storage.is_empty()).then(|| {
            self.storage
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// The constraints (not the bookkeeping: agent_name, comment, dry_run), grouped by name —
    /// what a no-match error reports when MAAS's own text cannot be read.
    pub fn constraints(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (k, v) in self.to_params().pairs() {
            if matches!(k.as_str(), "agent_name" | "comment" | "dry_run") {
                continue;
            }
            match out.iter_mut().find(|(name, _)| name == k) {
                Some((_, values)) => values.push(v.clone()),
                None => out.push((k.clone(), vec![v.clone()])),
            }
        }
        out
    }
}

/// `POST machines/<id>/?op=deploy`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DeployRequest {
    /// `jammy`, `noble`, or `custom/<name>`.
    pub distro_series: Option<String>,
    pub hwe_kernel: Option<String>,
    /// cloud-init user data, raw; sent base64-encoded as MAAS expects. Often holds bootstrap
    /// secrets, so Debug shows only its length.
    pub user_data: Option<Vec<u8>>,
    /// Applied only when deploy allocates a Ready machine itself (MAAS ignores it otherwise).
    pub agent_name: Option<String>,
    pub comment: Option<String>,
}

impl DeployRequest {
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("distro_series", self.distro_series.as_ref())
            .push_opt("hwe_kernel", self.hwe_kernel.as_ref())
            .push_opt(
                "user_data",
                self.user_data
                    .as_ref()
                    .map(|d| base64::engine::general_purpose::STANDARD.encode(d)),
            )
            .push_opt("agent_name", self.agent_name.as_ref())
            .push_opt("comment", self.comment.as_ref());
        p
    }
}

impl fmt::Debug for DeployRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeployRequest")
            .field("distro_series", &self.distro_series)
            .field("hwe_kernel", &self.hwe_kernel)
            .field(
                "user_data",
                &self
                    .user_data
                    .as_ref()
                    .map(|d| format!("<{} bytes>", d.len())),
            )
            .field("agent_name", &self.agent_name)
            .field("comment", &self.comment)
            .finish()
    }
}

/// `POST machines/<id>/?op=release`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseRequest {
    pub erase: bool,
    pub quick_erase: bool,
    pub secure_erase: bool,
    pub comment: Option<String>,
    /// Release even a machine MAAS thinks is busy (broken-machine path).
    pub force: bool,
}

impl ReleaseRequest {
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_flag("erase", self.erase)
            .push_flag("quick_erase", self.quick_erase)
            .push_flag("secure_erase", self.secure_erase)
            .push_opt("comment", self.comment.as_ref())
            .push_flag("force", self.force);
        p
    }
}

/// `set_owner_data` pairs: an empty value removes the key on MAAS.
pub fn owner_data_params(data: &BTreeMap<String, String>) -> Params {
    let mut p = Params::new();
    for (k, v) in data {
        p.push(k, v.as_str());
    }
    p
}

/// Which name a DNS resource gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsName {
    /// `name.domain`; the domain must exist in MAAS.
    Fqdn(String),
    /// A name in a domain given by name or id.
    InDomain { name: String, domain: String },
}

/// `POST dnsresources/` (admin key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDnsResource {
    pub name: DnsName,
    pub address_ttl: Option<u32>,
    /// Addresses of the A/AAAA records; may be empty (a record to fill later).
    pub ip_addresses: Vec<String>,
}

impl CreateDnsResource {
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        match &self.name {
            DnsName::Fqdn(fqdn) => p.push("fqdn", fqdn.as_str()),
            DnsName::InDomain { name, domain } => p
                .push("name", name.as_str())
                .push("domain", domain.as_str()),
        };
        p.push_opt("address_ttl", self.address_ttl)
            .push("ip_addresses", self.ip_addresses.join(" "));
        p
    }
}

/// Filters of `GET dnsresources/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsResourceFilter {
    pub fqdn: Option<String>,
    pub name: Option<String>,
    pub domain: Option<String>,
}

impl DnsResourceFilter {
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("fqdn", self.fqdn.as_ref())
            .push_opt("name", self.name.as_ref())
            .push_opt("domain", self.domain.as_ref());
        p
    }
}

/// `POST ipaddresses/?op=reserve`: give `subnet` (MAAS picks a free address) and/or `ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReserveIpRequest {
    /// CIDR, id or specifier of the subnet.
    pub subnet: Option<String>,
    pub ip: Option<String>,
    /// `name` or `name.domain`: MAAS also creates the DNS A record.
    pub hostname: Option<String>,
    pub comment: Option<String>,
}

impl ReserveIpRequest {
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("subnet", self.subnet.as_ref())
            .push_opt("ip", self.ip.as_ref())
            .push_opt("hostname", self.hostname.as_ref())
            .push_opt("comment", self.comment.as_ref());
        p
    }
}

/// `GET events/?op=query`. MAAS lists newest first; `after` pages forward from an event id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Machines' system ids (repeated `id=`).
    pub ids: Vec<String>,
    /// Minimum level: DEBUG, INFO (MAAS's default), WARNING, ERROR, CRITICAL, AUDIT.
    pub level: Option<String>,
    /// At most 1000 (MAAS's cap); MAAS's default is 100.
    pub limit: Option<u32>,
    pub after: Option<i64>,
    pub before: Option<i64>,
}

impl EventQuery {
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_all("id", &self.ids)
            .push_opt("level", self.level.as_ref())
            .push_opt("limit", self.limit)
            .push_opt("after", self.after)
            .push_opt("before", self.before);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_sends_every_constraint_with_maas_names() {
        let req = AllocateRequest {
            cpu_count: Some(4),
            mem: Some(8192),
            storage: vec![
                StorageConstraint::new("root", 100),
                StorageConstraint::new("data", 500).with_tags(["ssd"]),
            ],
            zone: Some("az1".into()),
            not_in_zone: vec!["az2".into(), "az3".into()],
            tags: vec!["k8s".into(), "gpu".into()],
            agent_name: Some("kubemaas:c1".into()),
            dry_run: true,
            ..Default::default()
        };
        assert_eq!(
            req.to_params().encode(),
            "cpu_count=4&mem=8192&storage=root%3A100%2Cdata%3A500%28ssd%29&zone=az1\
             &not_in_zone=az2&not_in_zone=az3&tags=k8s&tags=gpu&agent_name=kubemaas%3Ac1&dry_run=true"
        );
        let c = req.constraints();
        assert!(c.contains(&(
            "tags".to_string(),
            vec!["k8s".to_string(), "gpu".to_string()]
        )));
        assert!(!c.iter().any(|(k, _)| k == "agent_name" || k == "dry_run"));
    }

    #[test]
    fn deploy_debug_hides_user_data() {
        let req = DeployRequest {
            user_data: Some(b"token: hunter2".to_vec()),
            ..Default::default()
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("<14 bytes>"));
        assert_eq!(req.to_params().pairs()[0].1, "dG9rZW46IGh1bnRlcjI=");
    }

    #[test]
    fn dns_addresses_are_space_separated() {
        let req = CreateDnsResource {
            name: DnsName::InDomain {
                name: "api".into(),
                domain: "maas".into(),
            },
            address_ttl: Some(10),
            ip_addresses: vec!["10.0.0.5".into(), "10.0.0.6".into()],
        };
        assert_eq!(
            req.to_params().encode(),
            "name=api&domain=maas&address_ttl=10&ip_addresses=10.0.0.5+10.0.0.6"
        );
    }
}
