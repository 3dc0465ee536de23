//! `gateway.yaml`: everything a gateway needs, like an installer's configuration file.
//!
//! ```yaml
//! apiVersion: kubemaas.io/v1
//! kind: Gateway
//! name: dc1                        # DNS label; how consoles list this gateway
//! listen: 0.0.0.0:8443             # where consoles connect (HTTPS, mutual TLS)
//! tlsNames: [gw1.dc1.example]      # extra names/IPs for the server certificate (optional)
//! maas:
//!   endpoint: http://maas.dc1.example:5240/MAAS
//!   apiKey: consumer:token:secret  # written 0600, never shown
//!   caFile: /etc/kubemaas/maas-ca.pem   # optional, for an https MAAS with a private CA
//! proxy:                           # optional; propagated to every node the gateway deploys
//!   https: http://proxy.dc1.example:3128
//!   http: http://proxy.dc1.example:3128
//!   noProxy: [10.0.0.0/8, .dc1.example]
//! network:                         # defaults for this gateway's clusters
//!   podCIDR: 10.244.0.0/16
//!   serviceCIDR: 10.96.0.0/12
//! placement:                       # where gateway nodes go
//!   zone: default
//!   pool: infra                    # a resource pool, and/or a machine size:
//!   machine: {minCpu: 4, minMemoryMiB: 8192}
//!   nodes: 1                       # 1 or 3
//! artifact:                        # optional; the kubemaas binary `gateway deploy` installs
//!   url: https://files.dc1.example/kubemaas-0.1.0-linux-amd64
//!   sha256: 3f5a…                  # 64 hex digits: the node refuses any other file
//! etcd:                            # optional: a 3-node gateway's replicated state (docs/ha.md)
//!   endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379, https://10.0.0.3:2379]
//!   prefix: /kubemaas/dc1          # optional
//!   tls: {ca: /etc/kubemaas/etcd-ca.pem, cert: /etc/kubemaas/etcd.pem, key: /etc/kubemaas/etcd-key.pem}
//! node:                            # optional: this node of a 3-node gateway (or --node/--listen)
//!   name: gw1
//!   listen: 10.0.0.1:8443
//!   address: 10.0.0.1:8443         # where consoles reach this node (or --advertise; see below)
//! ```
//!
//! `node.address` is what a node of a 3-node gateway announces to consoles (they call the
//! other nodes there when theirs is down): it matters when the node listens on a wildcard
//! (`0.0.0.0:8443` names no host) or behind NAT. Without it a node announces the address it
//! bound or, when that is a wildcard, its own address toward MAAS with the bound port (see
//! [`crate::gateway::nodes::announced_address`] for the whole rule).
//!
//! A file is checked whole: every problem is reported at once, each naming its key, the line
//! it is on and the fix. The same per-field checks serve `kubemaas gateway init`'s questions.

use crate::maas::{ApiKey, Endpoint};
use crate::model::{names, suggest, validate};
use ipnet::IpNet;
use serde_yaml::{Mapping, Value};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const GATEWAY_KIND: &str = "Gateway";
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8443";
pub const DEFAULT_POD_CIDR: &str = "10.244.0.0/16";
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";

/// A checked gateway configuration. `Debug` masks the API key (see [`ApiKey`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    pub name: String,
    pub listen: SocketAddr,
    pub tls_names: Vec<String>,
    pub maas: MaasSettings,
    pub proxy: ProxySettings,
    pub network: NetworkDefaults,
    pub placement: Placement,
    /// Where `kubemaas gateway deploy` has nodes download kubemaas from; `gateway run` ignores it.
    pub artifact: Option<ArtifactSettings>,
    /// The etcd members of a 3-node gateway: with it, `gateway run` keeps its state in the
    /// replicated store and runs the reconcilers only while elected.
    pub etcd: Option<crate::ha::EtcdConfig>,
    /// This node's own settings; the only part of gateway.yaml that differs between nodes.
    pub node: NodeSettings,
}

/// One node of a (3-node) gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeSettings {
    /// How the node is known to the others and to consoles (defaults to the host name).
    pub name: Option<String>,
    /// Where this node listens (defaults to the gateway's `listen`).
    pub listen: Option<SocketAddr>,
    /// `HOST:PORT` consoles reach this node at, when that is not where it listens (a wildcard
    /// listen address, NAT). Checked by [`check_advertise`].
    pub address: Option<String>,
}

/// The kubemaas binary a deployed gateway node downloads, and the digest it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactSettings {
    /// An http(s) URL the nodes can reach (through the proxy, if one is set).
    pub url: String,
    /// SHA-256 of the file, 64 lowercase hex digits.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaasSettings {
    pub endpoint: Endpoint,
    pub api_key: ApiKey,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxySettings {
    pub https: Option<String>,
    pub http: Option<String>,
    pub no_proxy: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkDefaults {
    pub pod_cidr: IpNet,
    pub service_cidr: IpNet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub zone: Option<String>,
    pub pool: Option<String>,
    pub machine: Option<MachineSize>,
    /// 1, or 3 for a highly available gateway.
    pub nodes: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineSize {
    pub min_cpu: u32,
    pub min_memory_mib: u64,
}

/// One thing wrong in gateway.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, from the top: `maas.apiKey`.
    pub key: String,
    /// 1-based line of the key (or of its parent, for a missing key), when known.
    pub line: Option<usize>,
    /// What is wrong and how to fix it. Never holds the API key.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// Why a gateway.yaml cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the gateway configuration {path}: {source} (create it with `kubemaas gateway init`, or pass -c FILE)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the gateway configuration {path}: {source} (check the directory exists and is writable)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has {} problem{}:\n{}", problems.len(), if problems.len() == 1 { "" } else { "s" }, problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<ConfigProblem>,
    },
}

// ---- per-field checks, shared with `gateway init`'s questions ----

/// A gateway name: a DNS label, and not `local` (the embedded engine's name).
pub fn check_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    names::check_dns1123_label(name).map_err(|e| format!("the gateway name {e}"))?;
    if name == crate::model::account::LOCAL_GATEWAY {
        return Err("`local` is the embedded engine's name: pick another, like dc1".into());
    }
    Ok(name.to_string())
}

pub fn check_listen(raw: &str) -> Result<SocketAddr, String> {
    raw.trim().parse().map_err(|_| {
        format!("`{}` is not an address and port: write it like 0.0.0.0:8443 (all addresses) or 10.0.0.5:8443", raw.trim())
    })
}

/// An address consoles can call a node at: `HOST:PORT`, the host an IP address or a DNS name,
/// not a wildcard (`0.0.0.0`, `::`, which name no host), the port not 0. IPv6 in brackets.
/// Returned trimmed, an IP address in its canonical form.
pub fn check_advertise(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let example = "write it like 10.0.0.5:8443, [fd00::5]:8443 or gw1.dc1.example:8443";
    if raw.contains("://") || raw.contains('/') || raw.contains('@') {
        return Err(format!(
            "`{raw}` is not HOST:PORT (no scheme, user or path): {example}"
        ));
    }
    let wildcard = |host: &str| {
        format!(
            "`{raw}`: {host} is a wildcard address, which names no host a console can reach: give this node's own address (the one consoles reach it at), {example}"
        )
    };
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        if addr.ip().is_unspecified() {
            return Err(wildcard(&addr.ip().to_string()));
        }
        if addr.port() == 0 {
            return Err(format!(
                "`{raw}` has port 0, which no console can call: give the port the node serves on, {example}"
            ));
        }
        return Ok(addr.to_string());
    }
    let Some((host, port)) = raw.rsplit_once(':') else {
        return Err(format!("`{raw}` has no port: {example}"));
    };
    let port: u16 = match port.parse() {
        Ok(0) | Err(_) => {
            return Err(format!(
                "`{raw}`: `{port}` is not a port (1 to 65535): {example}"
            ))
        }
        Ok(p) => p,
    };
    if host.starts_with('[') || host.contains(':') || host.parse::<std::net::IpAddr>().is_ok() {
        // An IP that did not parse as a socket address with its port: a malformed one.
        return Err(format!(
            "`{raw}` is not an IP address and port: {example} (IPv6 in brackets)"
        ));
    }
    names::check_dns1123_subdomain(&host.to_ascii_lowercase())
        .map_err(|e| format!("`{raw}`: the host name {e}; {example}"))?;
    Ok(format!("{host}:{port}"))
}

/// The host of a checked advertised `HOST:PORT` (an IPv6 address without its brackets).
pub fn advertised_host(address: &str) -> Option<&str> {
    let (host, _port) = address.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some(host)
}

pub fn check_endpoint(raw: &str) -> Result<Endpoint, String> {
    if raw.parse::<ApiKey>().is_ok() && !raw.contains("://") {
        return Err("holds what looks like an API key: put the key in maas.apiKey and the MAAS URL (like http://maas.example:5240/MAAS) here".into());
    }
    Endpoint::parse(raw).map_err(|e| e.to_string())
}

pub fn check_api_key(raw: &str) -> Result<ApiKey, String> {
    if raw.contains("****") {
        return Err("this is a masked key as kubemaas displays it: paste the real key (MAAS UI > your user > API keys)".into());
    }
    raw.parse::<ApiKey>().map_err(|e| e.to_string())
}

pub fn check_ca_file(raw: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(raw.trim());
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {} ({e}): give the path of the PEM file with the CA that signed MAAS's certificate",
            path.display()
        )
    })?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "{} holds no PEM certificate: it must contain a -----BEGIN CERTIFICATE----- block",
            path.display()
        ));
    }
    Ok(path)
}

pub fn check_proxy_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    match url::Url::parse(raw) {
        Err(e) => Err(format!(
            "`{raw}` is not a URL ({e}): write it like http://proxy.example:3128"
        )),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => Err(format!(
            "`{raw}` uses `{}:`; a proxy URL starts with http:// or https://",
            u.scheme()
        )),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Err(format!(
            "`{raw}` has no host: write it like http://proxy.example:3128"
        )),
        Ok(_) => Ok(raw.to_string()),
    }
}

/// `noProxy` as a comma-separated text.
pub fn check_no_proxy_text(raw: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        out.push(check_no_proxy_entry(entry)?);
    }
    Ok(out)
}

fn check_no_proxy_entry(entry: &str) -> Result<String, String> {
    let entry = entry.trim();
    if entry.is_empty() || entry.chars().any(|c| c.is_whitespace() || c == ',') {
        return Err(format!("`{entry}` is not a no-proxy entry: give host names, domains (.example.com), IPs or CIDRs, one per list item"));
    }
    Ok(entry.to_string())
}

/// A CIDR for the gateway's cluster defaults. Unlike a spec, a config with host bits set is
/// refused outright: it is written once and read by every cluster after.
pub fn check_cidr(raw: &str, what: &str) -> Result<IpNet, String> {
    match validate::read_cidr(raw, what)? {
        (_, Some(host_bits)) => Err(host_bits),
        (net, None) => Ok(net),
    }
}

/// The pod and service ranges together, by the same rules as a cluster spec: no overlap, one
/// IP family, a service range the API server accepts. The first problem, if any.
pub fn check_networks(pod: IpNet, service: IpNet) -> Result<(), String> {
    let first = validate::pod_service_conflicts(pod, service)
        .into_iter()
        .next()
        .or_else(|| validate::service_range_problem(service));
    match first {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

pub fn check_nodes(n: u64) -> Result<u8, String> {
    match n {
        1 => Ok(1),
        3 => Ok(3),
        _ => Err(format!(
            "{n} gateway nodes: use 1, or 3 for a highly available gateway"
        )),
    }
}

pub fn check_min_cpu(n: u64) -> Result<u32, String> {
    match u32::try_from(n) {
        Ok(c) if (1..=1024).contains(&c) => Ok(c),
        _ => Err(format!("{n} CPUs: give the least number of cores a gateway node needs, from 1 to 1024 (4 is typical)")),
    }
}

pub fn check_min_memory(n: u64) -> Result<u64, String> {
    if (1024..=64 * 1024 * 1024).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} MiB: give the least memory of a gateway node in MiB, at least 1024 (8192 is typical)"))
    }
}

/// The URL a gateway node downloads kubemaas from: http or https, with a host and a path.
pub fn check_artifact_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    match url::Url::parse(raw) {
        Err(e) => Err(format!(
            "`{raw}` is not a URL ({e}): write it like https://files.example/kubemaas-linux-amd64"
        )),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => Err(format!(
            "`{raw}` uses `{}:`; the nodes download with curl over http:// or https://",
            u.scheme()
        )),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Err(format!(
            "`{raw}` has no host: write it like https://files.example/kubemaas-linux-amd64"
        )),
        Ok(u) if u.path().trim_matches('/').is_empty() => Err(format!(
            "`{raw}` names no file: give the URL of the kubemaas binary itself"
        )),
        Ok(_) => Ok(raw.to_string()),
    }
}

/// A SHA-256 digest as `sha256sum` prints it (case does not matter; stored lowercase).
pub fn check_sha256(raw: &str) -> Result<String, String> {
    let v = raw.trim().to_ascii_lowercase();
    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v)
    } else {
        Err(format!(
            "is not a SHA-256 digest ({} characters): give the 64 hex digits `sha256sum FILE` prints for the binary",
            raw.trim().chars().count()
        ))
    }
}

/// A name that is not just blanks (zones, pools).
pub fn check_word(raw: &str, what: &str) -> Result<String, String> {
    let v = raw.trim();
    if v.is_empty() || v.chars().any(char::is_whitespace) {
        return Err(format!(
            "`{v}` is not a MAAS {what} name: give the name as MAAS shows it, without spaces"
        ));
    }
    Ok(v.to_string())
}

// ---- locating keys in the text ----

/// The line of every block-style key, by dotted path (`maas.apiKey` → 8). Flow-style values
/// (`{a: 1}`) are not looked into: their problems point at the parent key's line.
fn key_lines(text: &str) -> HashMap<String, usize> {
    let mut lines = HashMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with("- ") || trimmed == "-" {
            continue;
        }
        let Some(colon) = trimmed.find(':') else {
            continue;
        };
        let key = trimmed[..colon].trim().trim_matches(['"', '\'']);
        if key.is_empty() || key.contains(' ') {
            continue;
        }
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let mut path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
        path.push(key);
        lines.entry(path.join(".")).or_insert(index + 1);
        stack.push((indent, key.to_string()));
    }
    lines
}

/// Walks the YAML value collecting problems.
struct Walk {
    lines: HashMap<String, usize>,
    problems: Vec<ConfigProblem>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a true/false value",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

impl Walk {
    fn line(&self, key: &str) -> Option<usize> {
        let mut k = key;
        loop {
            if let Some(l) = self.lines.get(k) {
                return Some(*l);
            }
            k = k.rsplit_once('.')?.0;
        }
    }

    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            key: key.to_string(),
            line: self.line(key),
            message: message.into(),
        });
    }

    /// The mapping at `path`, with unknown keys reported.
    fn mapping<'v>(&mut self, v: &'v Value, path: &str, known: &[&str]) -> Option<&'v Mapping> {
        let Value::Mapping(m) = v else {
            self.problem(
                path,
                format!(
                    "is {}, but a mapping with keys {} is expected",
                    kind_of(v),
                    known.join(", ")
                ),
            );
            return None;
        };
        for key in m.keys() {
            let Some(key) = key.as_str() else {
                self.problem(
                    path,
                    "has a key that is not text: keys are names like `endpoint`",
                );
                continue;
            };
            if !known.contains(&key) {
                let hint = match suggest::closest(key, known.iter().copied()) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("the keys here are {}", known.join(", ")),
                };
                self.problem(
                    &join(path, key),
                    format!("is not a gateway.yaml key: {hint}"),
                );
            }
        }
        Some(m)
    }

    /// A text value; `None` when absent (and then reported if `required`, with `example`).
    fn text(
        &mut self,
        m: &Mapping,
        path: &str,
        key: &str,
        example: Option<&str>,
    ) -> Option<String> {
        let full = join(path, key);
        match m.get(key) {
            None | Some(Value::Null) => {
                if let Some(example) = example {
                    let under = if path.is_empty() {
                        String::new()
                    } else {
                        format!(" under `{path}:`")
                    };
                    self.problem(&full, format!("is missing: add `{key}: {example}`{under}"));
                }
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => {
                self.problem(
                    &full,
                    format!("is {}, but text is expected", kind_of(other)),
                );
                None
            }
        }
    }

    fn number(&mut self, m: &Mapping, path: &str, key: &str) -> Option<u64> {
        let full = join(path, key);
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(other) => {
                self.problem(
                    &full,
                    format!("is {}, but a whole number is expected", kind_of(other)),
                );
                None
            }
        }
    }

    fn check<T>(&mut self, key: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|e| self.problem(key, e)).ok()
    }
}

const TOP_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "name",
    "listen",
    "tlsNames",
    "maas",
    "proxy",
    "network",
    "placement",
    "artifact",
    "etcd",
    "node",
];
const ETCD_KEYS: &[&str] = &["endpoints", "prefix", "tls"];
const ETCD_TLS_KEYS: &[&str] = &["ca", "cert", "key"];
const NODE_KEYS: &[&str] = &["name", "listen", "address"];
const MAAS_KEYS: &[&str] = &["endpoint", "apiKey", "caFile"];
const PROXY_KEYS: &[&str] = &["https", "http", "noProxy"];
const NETWORK_KEYS: &[&str] = &["podCIDR", "serviceCIDR"];
const PLACEMENT_KEYS: &[&str] = &["zone", "pool", "machine", "nodes"];
const MACHINE_KEYS: &[&str] = &["minCpu", "minMemoryMiB"];
const ARTIFACT_KEYS: &[&str] = &["url", "sha256"];

impl GatewayConfig {
    /// Reads and checks a gateway.yaml text, reporting every problem.
    pub fn parse(text: &str) -> Result<GatewayConfig, Vec<ConfigProblem>> {
        let value: Value = serde_yaml::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line());
            // serde_yaml's message may quote the text near the error; the key could be there.
            vec![ConfigProblem {
                key: "(file)".into(),
                line,
                message:
                    "this is not valid YAML: check the indentation and quoting around that line"
                        .into(),
            }]
        })?;
        let mut w = Walk {
            lines: key_lines(text),
            problems: Vec::new(),
        };
        if matches!(value, Value::Null) {
            w.problem(
                "(file)",
                "the file is empty: create it with `kubemaas gateway init`",
            );
            return Err(w.problems);
        }
        let top = w
            .mapping(&value, "", TOP_KEYS)
            .ok_or_else(|| w.problems.clone())?;
        match w.text(top, "", "apiVersion", Some(crate::model::API_VERSION)) {
            Some(v) if v != crate::model::API_VERSION => w.problem(
                "apiVersion",
                format!(
                    "`{v}` is not one this kubemaas reads: use `{}`",
                    crate::model::API_VERSION
                ),
            ),
            _ => {}
        }
        match w.text(top, "", "kind", Some(GATEWAY_KIND)) {
            Some(k) if k != GATEWAY_KIND => w.problem(
                "kind",
                format!("this is a `{k}` document: a gateway.yaml has `kind: {GATEWAY_KIND}`"),
            ),
            _ => {}
        }
        let name = w
            .text(top, "", "name", Some("dc1"))
            .and_then(|n| w.check("name", check_name(&n)));
        let listen = match w.text(top, "", "listen", None) {
            Some(l) => w.check("listen", check_listen(&l)),
            None => check_listen(DEFAULT_LISTEN).ok(),
        };
        let tls_names = match top.get("tlsNames") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => {
                let mut names = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str().map(str::trim) {
                        Some(n) if !n.is_empty() && !n.contains(char::is_whitespace) => {
                            names.push(n.to_string())
                        }
                        _ => w.problem(
                            &format!("tlsNames[{i}]"),
                            "give a host name or IP address consoles use to reach this gateway",
                        ),
                    }
                }
                names
            }
            Some(other) => {
                w.problem(
                    "tlsNames",
                    format!(
                        "is {}, but a list of host names is expected, like [gw1.example]",
                        kind_of(other)
                    ),
                );
                Vec::new()
            }
        };

        let maas = match top.get("maas") {
            None | Some(Value::Null) => {
                w.problem("maas", "is missing: add a `maas:` section with `endpoint:` and `apiKey:`");
                None
            }
            Some(v) => w.mapping(v, "maas", MAAS_KEYS).cloned().and_then(|m| {
                let endpoint = w
                    .text(&m, "maas", "endpoint", Some("http://maas.example:5240/MAAS"))
                    .and_then(|e| w.check("maas.endpoint", check_endpoint(&e)));
                let api_key = w
                    .text(&m, "maas", "apiKey", Some("<consumer_key:token_key:token_secret>"))
                    .and_then(|k| w.check("maas.apiKey", check_api_key(&k)));
                let ca_file = w
                    .text(&m, "maas", "caFile", None)
                    .and_then(|c| w.check("maas.caFile", check_ca_file(&c)));
                if ca_file.is_some() && endpoint.as_ref().is_some_and(|e| !e.is_https()) {
                    w.problem("maas.caFile", "is set but the endpoint is http://: use the https:// URL of MAAS, or drop caFile");
                }
                Some(MaasSettings {
                    endpoint: endpoint?,
                    api_key: api_key?,
                    ca_file,
                })
            }),
        };

        let proxy = match top.get("proxy") {
            None | Some(Value::Null) => Some(ProxySettings::default()),
            Some(v) => w.mapping(v, "proxy", PROXY_KEYS).cloned().map(|m| {
                let https = w
                    .text(&m, "proxy", "https", None)
                    .and_then(|u| w.check("proxy.https", check_proxy_url(&u)));
                let http = w
                    .text(&m, "proxy", "http", None)
                    .and_then(|u| w.check("proxy.http", check_proxy_url(&u)));
                let no_proxy = match m.get("noProxy") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::String(s)) => w
                        .check("proxy.noProxy", check_no_proxy_text(s))
                        .unwrap_or_default(),
                    Some(Value::Sequence(items)) => items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, item)| {
                            let key = format!("proxy.noProxy[{i}]");
                            match item.as_str() {
                                Some(s) => w.check(&key, check_no_proxy_entry(s)),
                                None => {
                                    w.problem(
                                        &key,
                                        format!(
                                            "is {}, but a host, domain, IP or CIDR is expected",
                                            kind_of(item)
                                        ),
                                    );
                                    None
                                }
                            }
                        })
                        .collect(),
                    Some(other) => {
                        w.problem(
                            "proxy.noProxy",
                            format!(
                                "is {}, but a list like [10.0.0.0/8, .example.com] is expected",
                                kind_of(other)
                            ),
                        );
                        Vec::new()
                    }
                };
                ProxySettings {
                    https,
                    http,
                    no_proxy,
                }
            }),
        };

        let network = {
            let m = match top.get("network") {
                None | Some(Value::Null) => Some(Mapping::new()),
                Some(v) => w.mapping(v, "network", NETWORK_KEYS).cloned(),
            };
            m.and_then(|m| {
                let pod = w
                    .text(&m, "network", "podCIDR", None)
                    .unwrap_or_else(|| DEFAULT_POD_CIDR.into());
                let service = w
                    .text(&m, "network", "serviceCIDR", None)
                    .unwrap_or_else(|| DEFAULT_SERVICE_CIDR.into());
                let pod = w.check("network.podCIDR", check_cidr(&pod, "the pod network"));
                let service = w.check(
                    "network.serviceCIDR",
                    check_cidr(&service, "the service network"),
                );
                let (pod, service) = (pod?, service?);
                w.check("network.serviceCIDR", check_networks(pod, service))?;
                Some(NetworkDefaults {
                    pod_cidr: pod,
                    service_cidr: service,
                })
            })
        };

        let placement = {
            let m = match top.get("placement") {
                None | Some(Value::Null) => Some(Mapping::new()),
                Some(v) => w.mapping(v, "placement", PLACEMENT_KEYS).cloned(),
            };
            m.and_then(|m| {
                let zone = w
                    .text(&m, "placement", "zone", None)
                    .and_then(|z| w.check("placement.zone", check_word(&z, "zone")));
                let pool = w
                    .text(&m, "placement", "pool", None)
                    .and_then(|p| w.check("placement.pool", check_word(&p, "resource pool")));
                let machine = match m.get("machine") {
                    None | Some(Value::Null) => None,
                    Some(v) => w
                        .mapping(v, "placement.machine", MACHINE_KEYS)
                        .cloned()
                        .and_then(|mm| {
                            let cpu = w.number(&mm, "placement.machine", "minCpu");
                            let mem = w.number(&mm, "placement.machine", "minMemoryMiB");
                            let cpu = w
                                .check("placement.machine.minCpu", check_min_cpu(cpu.unwrap_or(1)));
                            let mem = w.check(
                                "placement.machine.minMemoryMiB",
                                check_min_memory(mem.unwrap_or(1024)),
                            );
                            Some(MachineSize {
                                min_cpu: cpu?,
                                min_memory_mib: mem?,
                            })
                        }),
                };
                let nodes = match w.number(&m, "placement", "nodes") {
                    None => Some(1),
                    Some(n) => w.check("placement.nodes", check_nodes(n)),
                };
                Some(Placement {
                    zone,
                    pool,
                    machine,
                    nodes: nodes?,
                })
            })
        };

        let artifact = match top.get("artifact") {
            None | Some(Value::Null) => None,
            Some(v) => w
                .mapping(v, "artifact", ARTIFACT_KEYS)
                .cloned()
                .and_then(|m| {
                    let url = w
                        .text(
                            &m,
                            "artifact",
                            "url",
                            Some("https://files.example/kubemaas"),
                        )
                        .and_then(|u| w.check("artifact.url", check_artifact_url(&u)));
                    let sha256 = w
                        .text(
                            &m,
                            "artifact",
                            "sha256",
                            Some("<64 hex digits of sha256sum>"),
                        )
                        .and_then(|d| w.check("artifact.sha256", check_sha256(&d)));
                    Some(ArtifactSettings {
                        url: url?,
                        sha256: sha256?,
                    })
                }),
        };

        let etcd = match top.get("etcd") {
            None | Some(Value::Null) => None,
            Some(v) => w
                .mapping(v, "etcd", ETCD_KEYS)
                .cloned()
                .and_then(|m| parse_etcd(&mut w, &m)),
        };
        let node = match top.get("node") {
            None | Some(Value::Null) => NodeSettings::default(),
            Some(v) => match w.mapping(v, "node", NODE_KEYS).cloned() {
                Some(m) => NodeSettings {
                    name: w
                        .text(&m, "node", "name", None)
                        .and_then(|n| w.check("node.name", check_name(&n))),
                    listen: w
                        .text(&m, "node", "listen", None)
                        .and_then(|l| w.check("node.listen", check_listen(&l))),
                    address: w
                        .text(&m, "node", "address", None)
                        .and_then(|a| w.check("node.address", check_advertise(&a))),
                },
                None => NodeSettings::default(),
            },
        };

        if !w.problems.is_empty() {
            return Err(w.problems);
        }
        match (name, listen, maas, proxy, network, placement) {
            (Some(name), Some(listen), Some(maas), Some(proxy), Some(network), Some(placement)) => {
                Ok(GatewayConfig {
                    name,
                    listen,
                    tls_names,
                    maas,
                    proxy,
                    network,
                    placement,
                    artifact,
                    etcd,
                    node,
                })
            }
            // Every `None` above pushed a problem; this arm keeps the function total.
            _ => Err(vec![ConfigProblem {
                key: "(file)".into(),
                line: None,
                message: "the configuration is incomplete: run `kubemaas gateway init` to write a complete one".into(),
            }]),
        }
    }

    /// Reads and checks gateway.yaml at `path`.
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }

    /// The configuration as gateway.yaml text, API key in clear: write it with
    /// [`GatewayConfig::save`] (0600) only.
    pub fn to_yaml(&self) -> String {
        let mut top = Mapping::new();
        let s = |v: &str| Value::String(v.to_string());
        top.insert(s("apiVersion"), s(crate::model::API_VERSION));
        top.insert(s("kind"), s(GATEWAY_KIND));
        top.insert(s("name"), s(&self.name));
        top.insert(s("listen"), s(&self.listen.to_string()));
        if !self.tls_names.is_empty() {
            top.insert(
                s("tlsNames"),
                Value::Sequence(self.tls_names.iter().map(|n| s(n)).collect()),
            );
        }
        let mut maas = Mapping::new();
        maas.insert(s("endpoint"), s(&self.maas.endpoint.to_string()));
        maas.insert(s("apiKey"), s(&self.maas.api_key.expose()));
        if let Some(ca) = &self.maas.ca_file {
            maas.insert(s("caFile"), s(&ca.to_string_lossy()));
        }
        top.insert(s("maas"), Value::Mapping(maas));
        let mut proxy = Mapping::new();
        if let Some(u) = &self.proxy.https {
            proxy.insert(s("https"), s(u));
        }
        if let Some(u) = &self.proxy.http {
            proxy.insert(s("http"), s(u));
        }
        if !self.proxy.no_proxy.is_empty() {
            proxy.insert(
                s("noProxy"),
                Value::Sequence(self.proxy.no_proxy.iter().map(|n| s(n)).collect()),
            );
        }
        if !proxy.is_empty() {
            top.insert(s("proxy"), Value::Mapping(proxy));
        }
        let mut network = Mapping::new();
        network.insert(s("podCIDR"), s(&self.network.pod_cidr.to_string()));
        network.insert(s("serviceCIDR"), s(&self.network.service_cidr.to_string()));
        top.insert(s("network"), Value::Mapping(network));
        let mut placement = Mapping::new();
        if let Some(z) = &self.placement.zone {
            placement.insert(s("zone"), s(z));
        }
        if let Some(p) = &self.placement.pool {
            placement.insert(s("pool"), s(p));
        }
        if let Some(m) = &self.placement.machine {
            let mut mm = Mapping::new();
            mm.insert(s("minCpu"), Value::Number(m.min_cpu.into()));
            mm.insert(s("minMemoryMiB"), Value::Number(m.min_memory_mib.into()));
            placement.insert(s("machine"), Value::Mapping(mm));
        }
        placement.insert(s("nodes"), Value::Number(self.placement.nodes.into()));
        top.insert(s("placement"), Value::Mapping(placement));
        if let Some(a) = &self.artifact {
            let mut am = Mapping::new();
            am.insert(s("url"), s(&a.url));
            am.insert(s("sha256"), s(&a.sha256));
            top.insert(s("artifact"), Value::Mapping(am));
        }
        if let Some(e) = &self.etcd {
            let mut em = Mapping::new();
            em.insert(
                s("endpoints"),
                Value::Sequence(e.endpoints.iter().map(|n| s(n)).collect()),
            );
            em.insert(s("prefix"), s(&e.prefix));
            if let Some(tls) = &e.tls {
                let mut tm = Mapping::new();
                tm.insert(s("ca"), s(&tls.ca.to_string_lossy()));
                if let Some(c) = &tls.cert {
                    tm.insert(s("cert"), s(&c.to_string_lossy()));
                }
                if let Some(k) = &tls.key {
                    tm.insert(s("key"), s(&k.to_string_lossy()));
                }
                em.insert(s("tls"), Value::Mapping(tm));
            }
            top.insert(s("etcd"), Value::Mapping(em));
        }
        let mut nm = Mapping::new();
        if let Some(n) = &self.node.name {
            nm.insert(s("name"), s(n));
        }
        if let Some(l) = &self.node.listen {
            nm.insert(s("listen"), s(&l.to_string()));
        }
        if let Some(a) = &self.node.address {
            nm.insert(s("address"), s(a));
        }
        if !nm.is_empty() {
            top.insert(s("node"), Value::Mapping(nm));
        }
        let body = crate::model::document::to_yaml(&Value::Mapping(top));
        format!("# kubemaas gateway configuration (holds the MAAS API key: keep it 0600)\n{body}")
    }

    /// Writes the configuration to `path`, 0600 (it holds the MAAS API key).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        crate::paths::write_private_file(path, self.to_yaml().as_bytes()).map_err(|source| {
            ConfigError::Write {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// The names the server certificate is issued for: the listen host (unless it is the
    /// any-address), the host of the address the node advertises (`advertised`, checked by
    /// [`check_advertise`]) and `tlsNames`.
    pub fn certificate_names(&self, listen: SocketAddr, advertised: Option<&str>) -> Vec<String> {
        let mut names = Vec::new();
        if !listen.ip().is_unspecified() {
            names.push(listen.ip().to_string());
        }
        if let Some(host) = advertised.and_then(advertised_host) {
            names.push(host.to_string());
        }
        for name in &self.tls_names {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names.dedup();
        names
    }
}

/// gateway.yaml's `etcd:` section, each wrong key its own problem.
fn parse_etcd(w: &mut Walk, m: &Mapping) -> Option<crate::ha::EtcdConfig> {
    let example = "[https://10.0.0.1:2379, https://10.0.0.2:2379, https://10.0.0.3:2379]";
    let endpoints = match m.get("endpoints") {
        None | Some(Value::Null) => {
            w.problem(
                "etcd.endpoints",
                format!("is missing: add `endpoints: {example}` under `etcd:`"),
            );
            None
        }
        Some(Value::Sequence(items)) if items.is_empty() => {
            w.problem(
                "etcd.endpoints",
                format!("is empty: list the etcd members' client URLs, like {example}"),
            );
            None
        }
        Some(Value::Sequence(items)) => {
            let mut all = Some(Vec::new());
            for (i, item) in items.iter().enumerate() {
                let key = format!("etcd.endpoints[{i}]");
                let checked = match item.as_str() {
                    Some(text) => {
                        let one = crate::ha::EtcdConfig::new(vec![text.trim().to_string()]);
                        w.check(&key, one.validate().map_err(|e| e.to_string()))
                            .map(|()| text.trim().to_string())
                    }
                    None => {
                        w.problem(
                            &key,
                            format!(
                                "is {}, but a URL like https://10.0.0.1:2379 is expected",
                                kind_of(item)
                            ),
                        );
                        None
                    }
                };
                match (checked, all.as_mut()) {
                    (Some(e), Some(v)) => v.push(e),
                    _ => all = None,
                }
            }
            all
        }
        Some(other) => {
            w.problem(
                "etcd.endpoints",
                format!(
                    "is {}, but a list of URLs is expected, like {example}",
                    kind_of(other)
                ),
            );
            None
        }
    };
    let prefix = match w.text(m, "etcd", "prefix", None) {
        None => Some("/kubemaas".to_string()),
        Some(p) if p.starts_with('/') && p.len() > 1 && !p.contains(char::is_whitespace) => Some(p),
        Some(_) => {
            w.problem(
                "etcd.prefix",
                "must be a key path starting with `/` and without spaces, like /kubemaas/dc1",
            );
            None
        }
    };
    let tls = match m.get("tls") {
        None | Some(Value::Null) => Some(None),
        Some(v) => w.mapping(v, "etcd.tls", ETCD_TLS_KEYS).cloned().and_then(|t| {
            let ca = w
                .text(&t, "etcd.tls", "ca", Some("/etc/kubemaas/etcd-ca.pem"))
                .map(PathBuf::from);
            let cert = w.text(&t, "etcd.tls", "cert", None).map(PathBuf::from);
            let key = w.text(&t, "etcd.tls", "key", None).map(PathBuf::from);
            if cert.is_some() != key.is_some() {
                w.problem(
                    "etcd.tls",
                    "needs both `cert` and `key` for a client certificate, or neither: add the missing one",
                );
                return None;
            }
            Some(Some(crate::ha::EtcdTls { ca: ca?, cert, key }))
        }),
    };
    Some(crate::ha::EtcdConfig {
        endpoints: endpoints?,
        prefix: prefix?,
        tls: tls?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqr:ABCDEFGHIJKLMNOPQR:0123456789abcdef0123456789abcdef";

    fn good() -> String {
        format!(
            "apiVersion: kubemaas.io/v1
kind: Gateway
name: dc1
listen: 127.0.0.1:8443
maas:
  endpoint: http://maas.example:5240/MAAS
  apiKey: {KEY}
proxy:
  https: http://proxy.example:3128
  noProxy: [10.0.0.0/8, .example]
network:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
placement:
  zone: default
  machine: {{minCpu: 4, minMemoryMiB: 8192}}
  nodes: 3
"
        )
    }

    #[test]
    fn a_good_file_reads_and_writes_back_the_same() {
        let c = GatewayConfig::parse(&good()).unwrap();
        assert_eq!(c.name, "dc1");
        assert_eq!(c.placement.nodes, 3);
        assert_eq!(c.placement.machine.unwrap().min_memory_mib, 8192);
        assert_eq!(c.proxy.no_proxy, vec!["10.0.0.0/8", ".example"]);
        assert_eq!(GatewayConfig::parse(&c.to_yaml()).unwrap(), c);
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn every_problem_names_its_key_and_line() {
        let text = good()
            .replace("name: dc1", "name: Not_A_Label")
            .replace(KEY, "only:two")
            .replace("serviceCIDR: 10.96.0.0/12", "serviceCIDR: 10.244.1.0/24")
            .replace("nodes: 3", "nodes: 2")
            .replace("  zone: default", "  zome: default");
        let problems = GatewayConfig::parse(&text).unwrap_err();
        let find = |key: &str| {
            problems
                .iter()
                .find(|p| p.key == key)
                .unwrap_or_else(|| panic!("no problem for {key}: {problems:?}"))
        };
        assert_eq!(find("name").line, Some(3));
        assert_eq!(find("maas.apiKey").line, Some(7));
        assert!(find("network.serviceCIDR").message.contains("overlaps"));
        assert_eq!(find("network.serviceCIDR").line, Some(13));
        assert!(find("placement.nodes").message.contains("use 1, or 3"));
        assert!(find("placement.zome")
            .message
            .contains("did you mean `zone`"));
        assert_eq!(problems.len(), 5, "{problems:?}");
        for p in &problems {
            assert!(!p.to_string().contains("only:two"), "{p}");
        }
    }

    #[test]
    fn missing_keys_say_what_to_add() {
        let problems = GatewayConfig::parse(
            "apiVersion: kubemaas.io/v1\nkind: Gateway\nmaas:\n  endpoint: http://m:5240/MAAS\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, vec!["name", "maas.apiKey"], "{problems:?}");
        assert!(problems[1].message.contains("add `apiKey:"));
        assert_eq!(problems[1].line, Some(3));
    }

    #[test]
    fn broken_yaml_and_wrong_kinds_are_refused_without_panicking() {
        for text in ["", "- a\n- b\n", "name: [unclosed\n", "kind: Cluster\n"] {
            assert!(GatewayConfig::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn the_artifact_reads_back_and_each_wrong_key_is_its_own_problem() {
        let digest = "AB".repeat(32);
        let text = format!(
            "{}artifact:\n  url: https://files.example/kubemaas\n  sha256: {digest}\n",
            good()
        );
        let c = GatewayConfig::parse(&text).unwrap();
        let a = c.artifact.clone().unwrap();
        assert_eq!(a.sha256, "ab".repeat(32));
        assert_eq!(GatewayConfig::parse(&c.to_yaml()).unwrap(), c);

        let bad = format!(
            "{}artifact:\n  url: ftp://files.example/kubemaas\n  sha256: abc123\n",
            good()
        );
        let problems = GatewayConfig::parse(&bad).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["artifact.url", "artifact.sha256"],
            "{problems:?}"
        );
        assert_eq!(problems[0].line, Some(19));
        assert!(problems[1].message.contains("64 hex digits"));

        let missing = format!("{}artifact:\n  sha256: {digest}\n", good());
        let problems = GatewayConfig::parse(&missing).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "artifact.url");
        assert!(problems[0].message.contains("add `url:"));
        assert!(GatewayConfig::parse(&good()).unwrap().artifact.is_none());
    }

    #[cfg(unix)]
    #[test]
    fn the_etcd_and_node_sections_read_back_and_each_wrong_key_is_its_own_problem() {
        let text = format!(
            "{}etcd:\n  endpoints: [http://127.0.0.1:2379, http://127.0.0.1:2479]\n  prefix: /kubemaas/dc1\n  tls: {{ca: /etc/ca.pem, cert: /etc/c.pem, key: /etc/k.pem}}\nnode:\n  name: gw2\n  listen: 127.0.0.1:9443\n",
            good()
        );
        let c = GatewayConfig::parse(&text).unwrap();
        let etcd = c.etcd.clone().unwrap();
        assert_eq!(etcd.endpoints.len(), 2);
        assert_eq!(etcd.prefix, "/kubemaas/dc1");
        assert_eq!(
            etcd.tls.as_ref().unwrap().key,
            Some(PathBuf::from("/etc/k.pem"))
        );
        assert_eq!(c.node.name.as_deref(), Some("gw2"));
        assert_eq!(c.node.listen, Some("127.0.0.1:9443".parse().unwrap()));
        assert_eq!(GatewayConfig::parse(&c.to_yaml()).unwrap(), c);
        // Without the sections nothing changes.
        let plain = GatewayConfig::parse(&good()).unwrap();
        assert!(plain.etcd.is_none() && plain.node == NodeSettings::default());

        let bad = format!(
            "{}etcd:\n  endpoints: [http://127.0.0.1:2379, 10.0.0.1]\n  prefix: kubemaas\n  tls: {{ca: /etc/ca.pem, cert: /etc/c.pem}}\n  endpoint: x\nnode:\n  listen: nowhere\n",
            good()
        );
        let problems = GatewayConfig::parse(&bad).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "etcd.endpoints[1]",
            "etcd.prefix",
            "etcd.tls",
            "etcd.endpoint",
            "node.listen",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        assert!(!keys.contains(&"etcd.endpoints[0]"), "{keys:?}");
        let missing = format!("{}etcd:\n  prefix: /k\n", good());
        let problems = GatewayConfig::parse(&missing).unwrap_err();
        assert!(
            problems[0].to_string().contains("endpoints"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn a_node_address_reads_back_and_a_wildcard_or_malformed_one_names_its_key_line_and_fix() {
        let text = format!("{}node:\n  name: gw2\n  address: 10.0.0.2:8443\n", good());
        let c = GatewayConfig::parse(&text).unwrap();
        assert_eq!(c.node.address.as_deref(), Some("10.0.0.2:8443"));
        assert_eq!(GatewayConfig::parse(&c.to_yaml()).unwrap(), c);

        let line_of = |text: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with("address:"))
                .map(|i| i + 1)
        };
        for (bad, words) in [
            ("0.0.0.0:8443", "wildcard"),
            ("'[::]:8443'", "wildcard"),
            ("10.0.0.2", "no port"),
            ("gw2.example:0", "not a port"),
            ("https://gw2.example:8443", "no scheme"),
            ("gw_2.example:8443", "host name"),
            ("'[fd00::1:8443'", "IPv6 in brackets"),
        ] {
            let text = format!("{}node:\n  name: gw2\n  address: {bad}\n", good());
            let problems = GatewayConfig::parse(&text).unwrap_err();
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            let p = &problems[0];
            assert_eq!(p.key, "node.address", "{bad}");
            assert_eq!(p.line, line_of(&text), "{bad}");
            assert!(p.message.contains(words), "{bad}: {}", p.message);
            // Every refusal shows a good address to write instead.
            assert!(p.message.contains("10.0.0.5:8443"), "{bad}: {}", p.message);
        }
    }

    #[test]
    fn advertised_addresses_take_ips_and_host_names_and_name_the_certificate() {
        assert_eq!(check_advertise(" 10.0.0.5:8443 ").unwrap(), "10.0.0.5:8443");
        assert_eq!(check_advertise("[fd00::5]:8443").unwrap(), "[fd00::5]:8443");
        assert_eq!(
            check_advertise("GW1.dc1.example:443").unwrap(),
            "GW1.dc1.example:443"
        );
        assert!(check_advertise("127.0.0.1:0").is_err());
        assert!(check_advertise("gw1.example:70000").is_err());
        assert!(check_advertise("").is_err());
        assert!(check_advertise("user@gw1.example:443").is_err());

        let mut c = GatewayConfig::parse(&good()).unwrap();
        c.tls_names = vec!["fd00::5".into(), "gw.example".into()];
        let wildcard: SocketAddr = "0.0.0.0:8443".parse().unwrap();
        let names = c.certificate_names(wildcard, Some("[fd00::5]:8443"));
        assert_eq!(names, vec!["fd00::5", "gw.example"]);
        assert_eq!(
            c.certificate_names(wildcard, Some("gw2.example:1")),
            vec!["gw2.example", "fd00::5", "gw.example"]
        );
        let bound: SocketAddr = "10.0.0.5:8443".parse().unwrap();
        let names = c.certificate_names(bound, Some("10.0.0.5:9443"));
        assert_eq!(names.iter().filter(|n| *n == "10.0.0.5").count(), 1);
    }

    #[test]
    fn saved_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.yaml");
        GatewayConfig::parse(&good()).unwrap().save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(GatewayConfig::load(&path).unwrap().name, "dc1");
    }
}
