//! Addresses and names: static IPs for deploying machines, user-reserved IPs
//! (`ipaddresses/?op=reserve|release`), DNS resources, and subnets' free ranges.

use super::allocate::{ip_in_subnet, subnet_matches};
use super::model::SimSubnet;
use super::params::Params;
use super::reply::ApiError;
use super::state::{Actor, DnsRecord, IpReservation, Region};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// A free range of a subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeRange {
    pub start: IpAddr,
    pub end: IpAddr,
    pub num_addresses: u128,
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(n: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(n.into())
    } else {
        IpAddr::V4((n as u32).into())
    }
}

/// The assignable host addresses of a CIDR as a numeric range (network and broadcast excluded
/// for IPv4, as MAAS never hands those out).
fn host_bounds(net: &ipnet::IpNet) -> Option<(u128, u128)> {
    let first = to_u128(net.network());
    let last = to_u128(net.broadcast());
    let (lo, hi) = match net {
        ipnet::IpNet::V4(n) if n.prefix_len() >= 31 => (first, last),
        _ => (first + 1, last.checked_sub(1)?),
    };
    (lo <= hi).then_some((lo, hi))
}

impl Region {
    /// Every address in use: machine links, reservations, gateways, DNS servers.
    fn used_addresses(&self) -> BTreeSet<u128> {
        let mut used = BTreeSet::new();
        let mut add = |s: &str| {
            if let Ok(ip) = s.trim().parse::<IpAddr>() {
                used.insert(to_u128(ip));
            }
        };
        for m in &self.machines {
            for n in &m.nics {
                if let Some(ip) = &n.ip_address {
                    add(ip);
                }
            }
        }
        for r in &self.reservations {
            add(&r.ip);
        }
        for s in &self.catalog.subnets {
            if let Some(g) = &s.gateway_ip {
                add(g);
            }
            for d in &s.dns_servers {
                add(d);
            }
        }
        used
    }

    /// The free ranges of a subnet (`subnets/{id}/?op=unreserved_ip_ranges`).
    pub fn free_ranges(&self, subnet: &SimSubnet) -> Vec<FreeRange> {
        let Ok(net) = subnet.cidr.parse::<ipnet::IpNet>() else {
            return Vec::new();
        };
        let Some((lo, hi)) = host_bounds(&net) else {
            return Vec::new();
        };
        let v6 = matches!(net, ipnet::IpNet::V6(_));
        let mut out = Vec::new();
        let mut start = lo;
        for u in self.used_addresses().range(lo..=hi) {
            if *u > start {
                out.push((start, u - 1));
            }
            start = u + 1;
        }
        if start <= hi {
            out.push((start, hi));
        }
        out.into_iter()
            .map(|(a, b)| FreeRange {
                start: from_u128(a, v6),
                end: from_u128(b, v6),
                num_addresses: b - a + 1,
            })
            .collect()
    }

    /// The reserved (used) addresses of a subnet, one range each, for `reserved_ip_ranges`.
    pub fn used_in(&self, subnet: &SimSubnet) -> Vec<IpAddr> {
        let Ok(net) = subnet.cidr.parse::<ipnet::IpNet>() else {
            return Vec::new();
        };
        let v6 = matches!(net, ipnet::IpNet::V6(_));
        let (lo, hi) = (to_u128(net.network()), to_u128(net.broadcast()));
        self.used_addresses()
            .range(lo..=hi)
            .map(|u| from_u128(*u, v6))
            .collect()
    }

    fn next_free(&self, subnet: &SimSubnet) -> Option<IpAddr> {
        self.free_ranges(subnet).first().map(|r| r.start)
    }

    /// Gives every linked NIC without an address the next free one of its subnet; all or
    /// nothing, with MAAS's 503 on exhaustion.
    pub(crate) fn assign_addresses(&mut self, idx: usize) -> Result<(), ApiError> {
        let mut assigned = Vec::new();
        for n in 0..self.machines[idx].nics.len() {
            let nic = &self.machines[idx].nics[n];
            // Only AUTO links get an address from MAAS at deployment; static links keep
            // theirs, DHCP and link-up links have none to give.
            if nic.ip_address.is_some() || !nic.link_mode.eq_ignore_ascii_case("auto") {
                continue;
            }
            let Some(subnet) = nic
                .subnet_id
                .and_then(|id| self.catalog.subnets.iter().find(|s| s.id == id))
                .cloned()
            else {
                continue;
            };
            match self.next_free(&subnet) {
                Some(ip) => {
                    self.machines[idx].nics[n].ip_address = Some(ip.to_string());
                    assigned.push(n);
                }
                None => {
                    for a in assigned {
                        self.machines[idx].nics[a].ip_address = None;
                    }
                    return Err(ApiError::Unavailable(format!(
                        "{}: Unable to allocate static IP due to address exhaustion.",
                        self.machines[idx].system_id
                    )));
                }
            }
        }
        Ok(())
    }

    /// A subnet by id, CIDR, name or MAAS specifier.
    pub fn find_subnet(&self, spec: &str) -> Option<&SimSubnet> {
        self.catalog
            .subnets
            .iter()
            .find(|s| subnet_matches(spec, s))
    }

    /// The domain new names go in: the default one (MAAS always has one).
    pub(crate) fn default_domain(&self) -> String {
        self.catalog
            .domains
            .iter()
            .find(|d| d.is_default)
            .or_else(|| self.catalog.domains.first())
            .map(|d| d.name.clone())
            .unwrap_or_else(|| "maas".into())
    }

    /// Splits `name.domain` when the suffix is a known domain; otherwise the whole string is a
    /// name in the default domain.
    fn split_fqdn(&self, fqdn: &str) -> (String, String) {
        let fqdn = fqdn.trim().trim_end_matches('.');
        for d in &self.catalog.domains {
            if fqdn == d.name {
                return ("@".into(), d.name.clone());
            }
            if let Some(name) = fqdn.strip_suffix(&format!(".{}", d.name)) {
                return (name.to_string(), d.name.clone());
            }
        }
        match fqdn.split_once('.') {
            Some((name, domain)) => (name.to_string(), domain.to_string()),
            None => (fqdn.to_string(), self.default_domain()),
        }
    }

    /// `ipaddresses/?op=reserve`.
    pub fn reserve_ip(&mut self, actor: &Actor, params: &Params) -> Result<usize, ApiError> {
        let ip_param = params
            .get_nonempty("ip")
            .or_else(|| params.get_nonempty("ip_address"));
        let subnet_param = params.get_nonempty("subnet");
        let subnet = match (ip_param, subnet_param) {
            (None, None) => {
                return Err(ApiError::BadRequest(
                    "Must supply either the 'subnet' or the 'ip' parameter.".into(),
                ))
            }
            (_, Some(spec)) => self
                .find_subnet(spec)
                .cloned()
                .ok_or_else(|| ApiError::NotFound("No Subnet matches the given query.".into()))?,
            (Some(ip), None) => self
                .catalog
                .subnets
                .iter()
                .find(|s| ip_in_subnet(ip, s))
                .cloned()
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("No known subnet for IP address: {ip}."))
                })?,
        };
        let ip = match ip_param {
            Some(raw) => {
                let ip: IpAddr = raw.trim().parse().map_err(|_| {
                    ApiError::field(
                        "ip",
                        format!("Enter a valid IPv4 or IPv6 address (not {raw:?})."),
                    )
                })?;
                if !ip_in_subnet(&ip.to_string(), &subnet) {
                    return Err(ApiError::BadRequest(format!(
                        "IP address {ip} is not within subnet {}.",
                        subnet.cidr
                    )));
                }
                if self.used_addresses().contains(&to_u128(ip)) {
                    return Err(ApiError::NotFound(format!(
                        "The IP address {ip} is already in use."
                    )));
                }
                ip
            }
            None => self.next_free(&subnet).ok_or_else(|| {
                ApiError::Unavailable(format!("No more IPs available in subnet: {}.", subnet.cidr))
            })?,
        };
        let hostname = params.get_nonempty("hostname").map(str::to_string);
        let id = self.fresh_id();
        let now = self.now();
        self.reservations.push(IpReservation {
            id,
            ip: ip.to_string(),
            subnet_id: subnet.id,
            owner: actor.username.clone(),
            created: now,
            hostname: hostname.clone(),
            mac: params.get_nonempty("mac").map(str::to_string),
            comment: params.get("comment").unwrap_or_default().to_string(),
        });
        if let Some(h) = hostname {
            let (name, domain) = self.split_fqdn(&h);
            let ip = ip.to_string();
            match self
                .dns
                .iter_mut()
                .find(|r| r.name == name && r.domain == domain)
            {
                Some(rec) => {
                    if !rec.ips.contains(&ip) {
                        rec.ips.push(ip);
                    }
                }
                None => {
                    let id = self.fresh_id();
                    self.dns.push(DnsRecord {
                        id,
                        name,
                        domain,
                        address_ttl: None,
                        ips: vec![ip],
                    });
                }
            }
        }
        Ok(self.reservations.len() - 1)
    }

    /// `ipaddresses/?op=release`: the caller's own reservation (admins with `force=true` any).
    pub fn release_ip(&mut self, actor: &Actor, params: &Params) -> Result<(), ApiError> {
        let ip = params
            .get_nonempty("ip")
            .or_else(|| params.get_nonempty("ip_address"))
            .ok_or_else(|| ApiError::field("ip", "This field is required."))?
            .to_string();
        let force = params
            .flag("force", false)
            .map_err(|e| ApiError::field("force", e.to_string()))?;
        let pos = self
            .reservations
            .iter()
            .position(|r| r.ip == ip && (r.owner == actor.username || (force && actor.admin)))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "IP address {ip} does not exist, is not the correct type of address, or does not belong to the requesting user.\nIf you are sure you want to release this address, use the force=true parameter."
                ))
            })?;
        self.reservations.remove(pos);
        for rec in &mut self.dns {
            rec.ips.retain(|a| *a != ip);
        }
        Ok(())
    }

    /// `POST dnsresources/` (admin): `fqdn`, or `name` + `domain`; `ip_addresses` whitespace-separated.
    pub fn create_dns(&mut self, actor: &Actor, params: &Params) -> Result<usize, ApiError> {
        if !actor.admin {
            return Err(ApiError::Forbidden(
                "You don't have permission to create DNS resources: this needs an administrator's API key.".into(),
            ));
        }
        let (name, domain) = match (params.get_nonempty("name"), params.get_nonempty("domain")) {
            (Some(_), _) | (_, Some(_)) => {
                let name = params.get_nonempty("name").unwrap_or("@").to_string();
                let domain = match params.get_nonempty("domain") {
                    Some(d) => self.domain_name(d)?,
                    None => self.default_domain(),
                };
                (name, domain)
            }
            _ => {
                let fqdn = params.get_nonempty("fqdn").ok_or_else(|| {
                    ApiError::field("fqdn", "Either fqdn or name and domain must be given.")
                })?;
                let (name, domain) = self.split_fqdn(fqdn);
                if !self.catalog.domains.iter().any(|d| d.name == domain) {
                    return Err(ApiError::NotFound(
                        "No Domain matches the given query.".into(),
                    ));
                }
                (name, domain)
            }
        };
        if self
            .dns
            .iter()
            .any(|r| r.name == name && r.domain == domain)
        {
            return Err(ApiError::field(
                "__all__",
                "Labels must be unique within their zone.".to_string(),
            ));
        }
        let ips = parse_ips(params.get("ip_addresses").unwrap_or_default())?;
        let ttl = parse_ttl(params)?;
        let id = self.fresh_id();
        self.dns.push(DnsRecord {
            id,
            name,
            domain,
            address_ttl: ttl,
            ips,
        });
        Ok(self.dns.len() - 1)
    }

    fn domain_name(&self, spec: &str) -> Result<String, ApiError> {
        self.catalog
            .domains
            .iter()
            .find(|d| d.name == spec || d.id.to_string() == spec)
            .map(|d| d.name.clone())
            .ok_or_else(|| ApiError::NotFound("No Domain matches the given query.".into()))
    }

    /// `PUT dnsresources/{id}/`: `ip_addresses` replaces the set.
    pub fn update_dns(
        &mut self,
        id: i64,
        actor: &Actor,
        params: &Params,
    ) -> Result<usize, ApiError> {
        let pos = self.dns_index(id)?;
        if !actor.admin {
            return Err(ApiError::Forbidden(
                "You don't have permission to change DNS resources: this needs an administrator's API key.".into(),
            ));
        }
        let domain = match params.get_nonempty("domain") {
            Some(d) => Some(self.domain_name(d)?),
            None => None,
        };
        let ips = match params.get("ip_addresses") {
            Some(raw) => Some(parse_ips(raw)?),
            None => None,
        };
        let ttl = parse_ttl(params)?;
        let fqdn_parts = params.get_nonempty("fqdn").map(|f| self.split_fqdn(f));
        let rec = &mut self.dns[pos];
        if let Some((n, d)) = fqdn_parts {
            rec.name = n;
            rec.domain = d;
        }
        if let Some(n) = params.get_nonempty("name") {
            rec.name = n.to_string();
        }
        if let Some(d) = domain {
            rec.domain = d;
        }
        if let Some(ips) = ips {
            rec.ips = ips;
        }
        if params.contains("address_ttl") {
            rec.address_ttl = ttl;
        }
        Ok(pos)
    }

    pub fn delete_dns(&mut self, id: i64, actor: &Actor) -> Result<(), ApiError> {
        let pos = self.dns_index(id)?;
        if !actor.admin {
            return Err(ApiError::Forbidden(
                "You don't have permission to delete DNS resources: this needs an administrator's API key.".into(),
            ));
        }
        self.dns.remove(pos);
        Ok(())
    }

    pub fn dns_index(&self, id: i64) -> Result<usize, ApiError> {
        self.dns
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| ApiError::NotFound("No DNSResource matches the given query.".into()))
    }
}

fn parse_ips(raw: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for part in raw
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|p| !p.is_empty())
    {
        let ip: IpAddr = part.parse().map_err(|_| {
            ApiError::field(
                "ip_addresses",
                format!("'{part}' is not a valid IP address."),
            )
        })?;
        if !out.contains(&ip.to_string()) {
            out.push(ip.to_string());
        }
    }
    Ok(out)
}

fn parse_ttl(params: &Params) -> Result<Option<u32>, ApiError> {
    match params.get_nonempty("address_ttl") {
        None => Ok(None),
        Some(v) => v
            .parse::<u32>()
            .map(Some)
            .map_err(|_| ApiError::field("address_ttl", "Enter a whole number.")),
    }
}
