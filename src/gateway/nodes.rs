//! The nodes of a replicated (3-node) gateway as `GET /v1/info` lists them: every node
//! recorded in the store (`gateway_nodes`, written by each node once it listens), which one
//! answered, and which one etcd elected.
//!
//! The elected node is cached here and refreshed by a background task ([`watch_leader`]):
//! `/v1/info` is asked on every console command, and must not cost an etcd round trip (nor
//! fail when etcd is briefly away). The cache may lag an election by about
//! [`LEADER_REFRESH`]; consoles use it to order rolling upgrades, not to decide anything
//! that needs it exact.

use super::config::check_advertise;
use super::protocol::{NodeInfo, NodesInfo};
use crate::ha::Candidate;
use crate::store::{Store, StoreError};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How often the elected node is read from etcd.
pub const LEADER_REFRESH: Duration = Duration::from_secs(1);

/// The address a node announces in the node list, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announced {
    /// `--advertise` or gateway.yaml's `node.address`: the operator (or `gateway deploy`)
    /// said so.
    Advertised(String),
    /// The address it bound, which names a host.
    Bound(String),
    /// The bound address is a wildcard: this host's address on its route to MAAS, with the
    /// bound port. Consoles reach MAAS's machines on that network (they pair back on it).
    TowardMaas(String),
    /// A wildcard bound and no route to MAAS found: a guess (`from` says what it was made
    /// of), which the node warns about.
    Guessed { address: String, from: &'static str },
}

impl Announced {
    /// The `HOST:PORT` to announce.
    pub fn address(&self) -> &str {
        match self {
            Announced::Advertised(a) | Announced::Bound(a) | Announced::TowardMaas(a) => a,
            Announced::Guessed { address, .. } => address,
        }
    }
}

/// `HOST:PORT` for `host` (an IPv6 address in brackets), if it makes a callable address.
fn with_port(host: &str, port: u16) -> Option<String> {
    let host = host.trim();
    let text = match host.parse::<std::net::Ipv6Addr>() {
        Ok(_) => format!("[{host}]:{port}"),
        Err(_) => format!("{host}:{port}"),
    };
    check_advertise(&text).ok()
}

/// What a node announces to consoles, by this rule:
///
/// 1. the advertised address (`--advertise`, else gateway.yaml's `node.address`), if any;
/// 2. else the address it bound, when that names a host (not `0.0.0.0` / `::`);
/// 3. else (a wildcard bound, nothing advertised) `toward_maas` — this host's address on its
///    route to MAAS ([`address_toward`]) — with the bound port: on a machine MAAS deployed
///    that is the address MAAS gave it, where consoles reach it;
/// 4. else a guess with the bound port: the first `tlsNames` entry that makes a callable
///    `HOST:PORT` (names the operator gave for the server certificate), else `host_name`.
///
/// A guess is better than a wildcard, which consoles skip (they could not fail over to the
/// node at all), but it may be wrong: the caller warns and says how to set the address.
pub fn announced_address(
    advertised: Option<&str>,
    bound: SocketAddr,
    toward_maas: Option<IpAddr>,
    tls_names: &[String],
    host_name: &str,
) -> Announced {
    if let Some(a) = advertised {
        return Announced::Advertised(a.to_string());
    }
    if !bound.ip().is_unspecified() {
        return Announced::Bound(bound.to_string());
    }
    let port = bound.port();
    if let Some(address) = toward_maas.and_then(|ip| with_port(&ip.to_string(), port)) {
        return Announced::TowardMaas(address);
    }
    if let Some(address) = tls_names.iter().find_map(|n| with_port(n, port)) {
        return Announced::Guessed {
            address,
            from: "the first tlsNames entry",
        };
    }
    match with_port(host_name, port) {
        Some(address) => Announced::Guessed {
            address,
            from: "this host's name",
        },
        // Nothing names this host: the wildcard is announced as it is (consoles skip it)
        // rather than a made-up name.
        None => Announced::Guessed {
            address: bound.to_string(),
            from: "the wildcard it bound (consoles skip it)",
        },
    }
}

/// How long finding the route to MAAS may take (a name lookup): the node starts regardless.
const ROUTE_LOOKUP: Duration = Duration::from_secs(5);

/// This host's address on its route to `url`'s host: the source address the kernel picks for
/// it. A UDP socket's `connect` only selects the route — no packet is sent. `None` when the
/// host does not resolve (within [`ROUTE_LOOKUP`]) or no route leads there.
pub async fn address_toward(url: &url::Url) -> Option<IpAddr> {
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default()?;
    let lookup = tokio::net::lookup_host((host, port));
    let target = tokio::time::timeout(ROUTE_LOOKUP, lookup)
        .await
        .ok()?
        .ok()?
        .next()?;
    let any: SocketAddr = match target {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = tokio::net::UdpSocket::bind(any).await.ok()?;
    socket.connect(target).await.ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// This node's view of its gateway's nodes. Cheap to clone; clones share the leader cache.
#[derive(Debug, Clone)]
pub struct NodeDirectory {
    store: Store,
    node: String,
    leader: Arc<RwLock<Option<String>>>,
}

impl NodeDirectory {
    /// The directory of node `node`, reading the node list from `store` (its own copy).
    pub fn new(store: Store, node: &str) -> Self {
        NodeDirectory {
            store,
            node: node.to_string(),
            leader: Arc::new(RwLock::new(None)),
        }
    }

    /// The node this directory speaks for.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Records which node etcd elected (`None`: none is, or etcd cannot be asked).
    pub fn set_leader(&self, leader: Option<String>) {
        *self.leader.write().unwrap_or_else(PoisonError::into_inner) = leader;
    }

    /// The elected node, as last seen.
    pub fn leader(&self) -> Option<String> {
        self.leader
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What `/v1/info` says about the nodes: read from this node's copy of the store (a
    /// local read, no network).
    pub fn answer(&self) -> Result<NodesInfo, StoreError> {
        let leader = self.leader();
        let nodes = self.store.read(|r| r.gateway_nodes())?;
        Ok(NodesInfo {
            node: Some(self.node.clone()),
            nodes: nodes
                .into_iter()
                .map(|n| NodeInfo {
                    leader: leader.as_deref() == Some(n.name.as_str()),
                    name: n.name,
                    address: n.address,
                })
                .collect(),
        })
    }
}

/// Keeps `directory`'s leader cache current by asking etcd every [`LEADER_REFRESH`] until
/// `stop` turns true. A failed read leaves the last answer in place: a console is better
/// told the last known leader than none while etcd is briefly unreachable.
pub fn watch_leader(
    directory: NodeDirectory,
    candidate: Arc<Candidate>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match candidate.leader().await {
                Ok(leader) => directory.set_leader(leader),
                Err(e) => tracing::debug!(error = %e, "could not read the elected node"),
            }
            tokio::select! {
                _ = tokio::time::sleep(LEADER_REFRESH) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_announces_what_it_advertises_else_what_it_bound_else_its_route_to_maas() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let bound: SocketAddr = "10.0.0.5:8443".parse().unwrap();
        let wildcard: SocketAddr = "0.0.0.0:8443".parse().unwrap();
        let wildcard6: SocketAddr = "[::]:9443".parse().unwrap();
        let route: Option<IpAddr> = Some("10.0.0.9".parse().unwrap());
        assert_eq!(
            announced_address(
                Some("gw1.example:443"),
                wildcard,
                route,
                &names(&["x"]),
                "h"
            ),
            Announced::Advertised("gw1.example:443".into())
        );
        // Advertised wins even over a host-naming bind (NAT: the bound IP is private).
        assert_eq!(
            announced_address(Some("203.0.113.7:8443"), bound, route, &[], "h").address(),
            "203.0.113.7:8443"
        );
        assert_eq!(
            announced_address(None, bound, route, &names(&["gw1.example"]), "h"),
            Announced::Bound("10.0.0.5:8443".into())
        );
        // A wildcard: the address toward MAAS, with the bound port.
        assert_eq!(
            announced_address(None, wildcard, route, &names(&["gw1.example"]), "h"),
            Announced::TowardMaas("10.0.0.9:8443".into())
        );
        assert_eq!(
            announced_address(None, wildcard6, Some("fd00::9".parse().unwrap()), &[], "h")
                .address(),
            "[fd00::9]:9443"
        );
        // No route: the first tlsNames entry that makes an address (a wildcard DNS name
        // does not), IPv6 bracketed, with the bound port.
        let guessed = announced_address(
            None,
            wildcard,
            None,
            &names(&["*.dc1.example", "fd00::5", "gw1.example"]),
            "h",
        );
        assert_eq!(
            guessed,
            Announced::Guessed {
                address: "[fd00::5]:8443".into(),
                from: "the first tlsNames entry"
            }
        );
        assert_eq!(
            announced_address(None, wildcard6, None, &[], "node-7").address(),
            "node-7:9443"
        );
        // Nothing usable at all: the wildcard itself, flagged as such.
        assert!(matches!(
            announced_address(None, wildcard, None, &names(&["*.x"]), "not a name"),
            Announced::Guessed { address, .. } if address == "0.0.0.0:8443"
        ));
    }

    #[tokio::test]
    async fn the_route_to_a_loopback_maas_leaves_from_loopback() {
        // Loopback only: the route lookup sends nothing, and this is the one network tests use.
        let url = url::Url::parse("http://127.0.0.1:5240/MAAS/").unwrap();
        assert_eq!(
            address_toward(&url).await,
            Some("127.0.0.1".parse().unwrap())
        );
        let no_host = url::Url::parse("unix:/run/maas.sock").unwrap();
        assert_eq!(address_toward(&no_host).await, None);
    }

    #[test]
    fn the_answer_lists_recorded_nodes_and_marks_the_cached_leader() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (name, address) in [("gw2", "127.0.0.1:2"), ("gw1", "127.0.0.1:1")] {
            store
                .tx(|tx| tx.announce_gateway_node(name, address))
                .unwrap();
        }
        let directory = NodeDirectory::new(store, "gw2");
        let answer = directory.answer().unwrap();
        assert_eq!(answer.node.as_deref(), Some("gw2"));
        assert!(answer.nodes.iter().all(|n| !n.leader));
        directory.clone().set_leader(Some("gw1".into()));
        let answer = directory.answer().unwrap();
        let leaders: Vec<_> = answer
            .nodes
            .iter()
            .filter(|n| n.leader)
            .map(|n| (n.name.as_str(), n.address.as_str()))
            .collect();
        assert_eq!(leaders, vec![("gw1", "127.0.0.1:1")]);
        assert_eq!(answer.nodes.len(), 2);
    }
}
