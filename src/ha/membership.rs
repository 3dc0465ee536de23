//! The etcd cluster's own membership, through etcd's cluster API: list the members,
//! and [`repair`] the list towards the nodes a 3-node gateway should have when
//! `kubemaas gateway deploy` replaced a failed machine — the dead member removed, the
//! replacement added — *before* the replacement's etcd starts with
//! `ETCD_INITIAL_CLUSTER_STATE=existing` and the [`Repaired::initial_cluster`] returned here.
//!
//! Every change is idempotent, so a deploy interrupted half-way and rerun converges: a member
//! already gone, or already added (a member added but not started yet shows with an empty
//! name and its peer URL only), counts as done. The member answering is never removed, nor the
//! last one; a change that would cost etcd its quorum is refused by etcd itself
//! (`--strict-reconfig-check`, on by default) and reported as [`MembershipError::Quorum`].

use super::config::EtcdConfig;
use crate::etcd::{code, EtcdClient as Client, EtcdError, Member};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A member as the gateway should have it: its name (the node's MAAS host name) and the URL
/// its peers reach it at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub name: String,
    pub peer_url: String,
    /// A machine being deployed now: no member of its name may be running yet, so a started
    /// member matching it is its dead predecessor (a replacement that kept the host name) and
    /// is removed and added afresh.
    #[serde(default)]
    pub new: bool,
}

/// What the gateway asks of its etcd: exactly these members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairRequest {
    pub members: Vec<Peer>,
}

/// One member as etcd lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    /// etcd's member ID, in hex as `etcdctl member list` shows it.
    pub id: String,
    /// Empty until the member has started and published its name.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    /// Whether the member has started (it has published its name).
    pub started: bool,
    pub learner: bool,
}

impl MemberView {
    fn of(m: &Member) -> Self {
        MemberView {
            id: format!("{:x}", m.id),
            name: m.name.clone(),
            peer_urls: m.peer_urls.clone(),
            client_urls: m.client_urls.clone(),
            started: !m.name.is_empty(),
            learner: m.is_learner,
        }
    }

    /// Whether this member is the one `peer` describes: by name once started, and by peer URL
    /// (all an added, not yet started member has).
    fn is(&self, peer: &Peer) -> bool {
        (self.started && self.name == peer.name) || self.peer_urls.contains(&peer.peer_url)
    }
}

/// What [`repair`] did, and the membership after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repaired {
    /// Members removed by this call (name, or peer URL of a member never started).
    pub removed: Vec<String>,
    /// Members added.
    pub added: Vec<Peer>,
    pub members: Vec<MemberView>,
    /// `ETCD_INITIAL_CLUSTER` for a member joining now: `name=peer-url,…` over every member,
    /// the not yet started ones under the name the request gave them.
    pub initial_cluster: String,
}

/// Why the membership could not be read or changed. Names members and endpoints only.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("cannot reach etcd at {endpoints} while {what}: {detail} (check that etcd runs on this node — `systemctl status etcd` — and that a majority of its members run)")]
    Etcd {
        endpoints: String,
        what: String,
        detail: String,
    },
    #[error("the requested membership is unusable: {0}")]
    Request(String),
    #[error("the etcd member answering ({member}) is not among the members asked for, or is being replaced: ask a node that stays in the gateway")]
    WouldRemoveSelf { member: String },
    #[error("etcd refused to {what}: {detail}. Too few of its members run ({members} known): it has lost its quorum, or would. A 3-node gateway's etcd needs 2 members running to change its membership; bring the failed node back (or restore etcd from a snapshot) before replacing it")]
    Quorum {
        what: String,
        members: usize,
        detail: String,
    },
}

/// How long a membership change is retried while etcd cannot make it yet: right after a
/// member died the cluster may still be electing a leader (the change times out, or etcd says
/// it has no leader), and etcd's strict reconfiguration check refuses to add a member until
/// every voting member has been connected for 5 s (its `HealthInterval`). Both changes are
/// idempotent, so retrying one whose outcome was unknown is safe.
const SETTLE: Duration = Duration::from_secs(20);
const SETTLE_PAUSE: Duration = Duration::from_millis(500);

/// What etcd's refusal means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotFound,
    AlreadyThere,
    /// Too few members run to change anything (now).
    Quorum,
    /// The request timed out: the outcome is unknown.
    Timeout,
    Other,
}

/// By gRPC code first; etcd gives FailedPrecondition and Unavailable several meanings, told
/// apart by its own message (etcd's `rpctypes` error texts).
fn refusal(e: &EtcdError) -> Refusal {
    let text = e.message();
    match e.code() {
        Some(code::NOT_FOUND) => Refusal::NotFound,
        Some(code::FAILED_PRECONDITION)
            if text.contains("already exist") || text.contains("ID exist") =>
        {
            Refusal::AlreadyThere
        }
        Some(code::FAILED_PRECONDITION) if text.contains("not enough started members") => {
            Refusal::Quorum
        }
        Some(code::UNAVAILABLE) if text.contains("unhealthy") || text.contains("no leader") => {
            Refusal::Quorum
        }
        Some(code::UNAVAILABLE) | Some(code::DEADLINE_EXCEEDED) => Refusal::Timeout,
        // Nothing came back in time: the outcome is unknown.
        None if e.is_transport() => Refusal::Timeout,
        _ => Refusal::Other,
    }
}

/// Runs one membership change, retrying for [`SETTLE`] while etcd cannot make it yet.
/// A change found done already (the member gone, or there) is done.
async fn change<F, Fut, T>(what: &str, members: usize, mut op: F) -> Result<(), MembershipError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, EtcdError>>,
{
    let started = tokio::time::Instant::now();
    loop {
        let e = match op().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let kind = refusal(&e);
        match kind {
            Refusal::NotFound | Refusal::AlreadyThere => return Ok(()),
            Refusal::Quorum | Refusal::Timeout if started.elapsed() < SETTLE => {
                tracing::debug!(change = what, error = %e, "etcd cannot change its membership yet");
                tokio::time::sleep(SETTLE_PAUSE).await;
            }
            Refusal::Quorum => {
                return Err(MembershipError::Quorum {
                    what: what.to_string(),
                    members,
                    detail: e.to_string(),
                })
            }
            Refusal::Timeout | Refusal::Other => {
                return Err(MembershipError::Etcd {
                    endpoints: "the configured endpoints".into(),
                    what: what.to_string(),
                    detail: e.to_string(),
                })
            }
        }
    }
}

/// The members and the ID of the one answering.
pub async fn list(client: &mut Client) -> Result<(Vec<MemberView>, u64), MembershipError> {
    // Without a leader (a majority of members down) etcd refuses even to list.
    let fail = |what: &str, doing: &str, e: EtcdError| match refusal(&e) {
        Refusal::Quorum => MembershipError::Quorum {
            what: what.into(),
            members: 0,
            detail: e.to_string(),
        },
        _ => MembershipError::Etcd {
            endpoints: "the configured endpoints".into(),
            what: doing.into(),
            detail: e.to_string(),
        },
    };
    let members = client
        .member_list()
        .await
        .map_err(|e| fail("list its members", "listing the members", e))?;
    let me = client.member_id().await.map_err(|e| {
        fail(
            "tell which member answers",
            "asking which member answers",
            e,
        )
    })?;
    Ok((members.iter().map(MemberView::of).collect(), me))
}

/// `name=peer-url,…` over `members`; a member not started yet is named as `wanted` names it.
pub fn initial_cluster(members: &[MemberView], wanted: &[Peer]) -> String {
    members
        .iter()
        .flat_map(|m| {
            let name = if m.started {
                Some(m.name.clone())
            } else {
                wanted.iter().find(|p| m.is(p)).map(|p| p.name.clone())
            };
            // A member neither started nor asked for has no name to give; repair removed it.
            name.into_iter()
                .flat_map(move |n| m.peer_urls.iter().map(move |u| format!("{n}={u}")))
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn check_request(request: &RepairRequest) -> Result<(), MembershipError> {
    if request.members.is_empty() {
        return Err(MembershipError::Request(
            "no members asked for: an etcd cluster keeps at least one".into(),
        ));
    }
    for p in &request.members {
        let url_ok = url::Url::parse(&p.peer_url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.port().is_some()
        });
        if !url_ok {
            return Err(MembershipError::Request(format!(
                "member `{}` has the peer URL `{}`, not http(s)://HOST:PORT",
                p.name, p.peer_url
            )));
        }
        if p.name.is_empty()
            || p.name
                .chars()
                .any(|c| c.is_whitespace() || c == ',' || c == '=')
        {
            return Err(MembershipError::Request(format!(
                "`{}` cannot name an etcd member (no spaces, commas or `=`)",
                p.name
            )));
        }
    }
    Ok(())
}

/// Brings the etcd cluster `client` talks to to exactly `request.members`: first removes the
/// members not asked for (and started members matching a `new` peer: a dead predecessor),
/// then adds the missing ones — in that order, since adding to a cluster with a dead member
/// would need a quorum the dead member cannot give. Idempotent; see the module docs.
pub async fn repair(
    client: &mut Client,
    request: &RepairRequest,
) -> Result<Repaired, MembershipError> {
    check_request(request)?;
    let (members, me) = list(client).await?;
    let stale = |m: &MemberView| {
        !request
            .members
            .iter()
            .any(|p| m.is(p) && !(p.new && m.started))
    };
    let my_id = format!("{me:x}");
    if let Some(mine) = members.iter().find(|m| m.id == my_id) {
        if stale(mine) {
            return Err(MembershipError::WouldRemoveSelf {
                member: mine.name.clone(),
            });
        }
    }
    let total = members.len();
    let mut removed = Vec::new();
    for m in members.iter().filter(|m| stale(m)) {
        let id = u64::from_str_radix(&m.id, 16).unwrap_or_default();
        let label = if m.started {
            m.name.clone()
        } else {
            m.peer_urls.join(" ")
        };
        let what = format!("remove member {label}");
        change(&what, total, || {
            let c = client.clone();
            async move { c.member_remove(id).await }
        })
        .await?;
        tracing::info!(member = %label, "etcd member removed");
        removed.push((m.id.clone(), label));
    }
    let (now, _) = list(client).await?;
    // Reported from what etcd lists, not from the answers: a removal that timed out and was
    // retried may have been made by the first attempt.
    let removed: Vec<String> = removed
        .into_iter()
        .filter(|(id, _)| !now.iter().any(|m| &m.id == id))
        .map(|(_, label)| label)
        .collect();
    let mut added = Vec::new();
    for p in &request.members {
        if now.iter().any(|m| m.is(p)) {
            continue;
        }
        let what = format!("add member {} ({})", p.name, p.peer_url);
        let url = p.peer_url.clone();
        change(&what, now.len(), || {
            let (c, url) = (client.clone(), url.clone());
            async move { c.member_add(&[url]).await }
        })
        .await?;
        tracing::info!(member = %p.name, peer = %p.peer_url, "added etcd member");
        added.push(p.clone());
    }
    let (members, _) = list(client).await?;
    Ok(Repaired {
        removed,
        added,
        initial_cluster: initial_cluster(&members, &request.members),
        members,
    })
}

/// Connects to `config`'s members and lists them (with the ID of the one answering).
pub async fn list_at(config: &EtcdConfig) -> Result<(Vec<MemberView>, u64), MembershipError> {
    let mut client = connect(config).await?;
    list(&mut client).await.map_err(|e| at(config, e))
}

/// Connects to `config`'s members and [`repair`]s the membership.
pub async fn repair_at(
    config: &EtcdConfig,
    request: &RepairRequest,
) -> Result<Repaired, MembershipError> {
    // A request that cannot be right is refused before etcd is even reached.
    check_request(request)?;
    let mut client = connect(config).await?;
    repair(&mut client, request)
        .await
        .map_err(|e| at(config, e))
}

async fn connect(config: &EtcdConfig) -> Result<Client, MembershipError> {
    config.connect().await.map_err(|e| MembershipError::Etcd {
        endpoints: config.endpoints_text(),
        what: "connecting".into(),
        detail: e.to_string(),
    })
}

/// Names the endpoints in an error that could not know them.
fn at(config: &EtcdConfig, e: MembershipError) -> MembershipError {
    match e {
        MembershipError::Etcd { what, detail, .. } => MembershipError::Etcd {
            endpoints: config.endpoints_text(),
            what,
            detail,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, url: &str) -> MemberView {
        MemberView {
            id: "1".into(),
            name: name.into(),
            peer_urls: vec![url.into()],
            client_urls: vec![],
            started: !name.is_empty(),
            learner: false,
        }
    }

    fn peer(name: &str, url: &str) -> Peer {
        Peer {
            name: name.into(),
            peer_url: url.into(),
            new: false,
        }
    }

    #[test]
    fn the_initial_cluster_names_members_not_started_as_asked() {
        let members = vec![
            member("a", "https://a:2380"),
            member("", "https://c:2380"),
            member("b", "https://b:2380"),
        ];
        let wanted = vec![
            peer("a", "https://a:2380"),
            peer("b", "https://b:2380"),
            peer("c", "https://c:2380"),
        ];
        assert_eq!(
            initial_cluster(&members, &wanted),
            "a=https://a:2380,c=https://c:2380,b=https://b:2380"
        );
        // One neither started nor asked for cannot be named, and is left out.
        assert_eq!(
            initial_cluster(&members, &wanted[..2]),
            "a=https://a:2380,b=https://b:2380"
        );
    }

    #[test]
    fn requests_are_checked_before_anything_is_changed() {
        let bad = |members: Vec<Peer>| check_request(&RepairRequest { members }).unwrap_err();
        assert!(bad(vec![]).to_string().contains("at least one"));
        assert!(bad(vec![peer("a", "a:2380")])
            .to_string()
            .contains("a:2380"));
        assert!(bad(vec![peer("a,b", "https://a:2380")])
            .to_string()
            .contains("a,b"));
        check_request(&RepairRequest {
            members: vec![peer("a", "https://a.maas:2380")],
        })
        .unwrap();
    }

    #[test]
    fn a_started_member_matches_by_name_and_one_not_started_by_url() {
        let p = peer("c", "https://c:2380");
        assert!(member("c", "https://other:2380").is(&p));
        assert!(member("", "https://c:2380").is(&p));
        assert!(!member("", "https://d:2380").is(&p));
    }
}
