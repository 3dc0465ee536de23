//! From what the operator wrote (spec + profile) and what the engine obtained (VIP, subnet,
//! machines) to the bootstrap module's plain plans, and from there to each node's user-data.

use super::error::EngineError;
use super::status::ClusterStatus;
use crate::bootstrap::{
    AptKey, AptRepository, ClusterPlan, CniKind, CniManifest, CniPlan, NodePlan, NodeRole,
    ProxyPlan, Taint, TaintEffect, VipPlan,
};
use crate::model::spec::{EndpointMode, NodePool, PoolRole};
use crate::model::{ClusterProfile, ClusterSpec, Cni, ResolvedProfile};
use crate::store::{ClusterId, Tx};
use ipnet::IpNet;

/// The kube-vip image nodes run when the profile names no mirror for it.
pub const KUBE_VIP_IMAGE: &str = "ghcr.io/kube-vip/kube-vip:v0.8.9";

/// The profile a spec names: an imported one (newest version) wins over a shipped one.
pub fn find_profile(tx: &Tx<'_>, name: &str) -> Result<ClusterProfile, EngineError> {
    let imported = tx
        .profiles()?
        .into_iter()
        .filter(|p| p.name == name)
        .max_by(|a, b| a.created.cmp(&b.created));
    if let Some(row) = imported {
        return Ok(row.document_as::<ClusterProfile>()?);
    }
    crate::model::profile::shipped_profile(name).ok_or_else(|| EngineError::NoSuchProfile {
        name: name.to_string(),
    })
}

/// The profile with the spec's overrides applied.
pub fn resolve_profile(
    profile: &ClusterProfile,
    spec: &ClusterSpec,
) -> Result<ResolvedProfile, EngineError> {
    profile
        .resolve(&spec.spec.profile.overrides)
        .map_err(|p| EngineError::BadProfile {
            name: profile.metadata.name.clone(),
            problems: p.to_string(),
        })
}

/// The cluster-wide bootstrap plan. Needs the endpoint decided: the VIP reserved (vip mode) or
/// the DNS name (dns mode).
pub fn cluster_plan(
    id: &ClusterId,
    spec: &ClusterSpec,
    profile: &ResolvedProfile,
    status: &ClusterStatus,
) -> Result<ClusterPlan, EngineError> {
    let bad = |what: &str| EngineError::Other(format!("cluster {id}: {what}"));
    let net = &spec.spec.network;
    let endpoint = &net.control_plane_endpoint;
    let node_subnet: Option<IpNet> = status
        .node_subnet
        .as_deref()
        .and_then(|s| s.parse::<IpNet>().ok())
        .map(|n| n.trunc());
    let (endpoint_host, vip) = match endpoint.mode {
        EndpointMode::Vip => {
            let vip = status
                .vip
                .as_deref()
                .ok_or_else(|| bad("the control-plane VIP is not reserved yet"))?;
            let address = vip
                .parse()
                .map_err(|_| bad("the reserved VIP is not an IP address"))?;
            (
                vip.to_string(),
                Some(VipPlan {
                    address,
                    interface: None,
                }),
            )
        }
        EndpointMode::Dns => {
            let fqdn = status
                .dns_fqdn
                .clone()
                .ok_or_else(|| bad("the control-plane DNS name is not decided yet"))?;
            (fqdn, None)
        }
    };
    let kubernetes_version = profile.kubernetes_version;
    let repo = &profile.kubernetes.package_repository;
    let key = match &repo.key_url {
        Some(url) => AptKey::Url(url.clone()),
        // pkgs.k8s.io and its mirrors publish the key beside the packages.
        None => AptKey::Url(format!("{}/Release.key", repo.url.trim_end_matches('/'))),
    };
    let proxy = if net.proxy.http_proxy.is_some() || net.proxy.https_proxy.is_some() {
        Some(ProxyPlan {
            http: net.proxy.http_proxy.clone(),
            https: net.proxy.https_proxy.clone(),
            no_proxy: net.proxy.no_proxy.clone(),
        })
    } else {
        None
    };
    Ok(ClusterPlan {
        cluster_id: id.to_string(),
        cluster_name: spec.name().to_string(),
        kubernetes_version,
        endpoint_host,
        vip,
        node_subnet,
        pod_cidr: net
            .pod_net()
            .ok_or_else(|| bad("the pod CIDR is not a CIDR"))?,
        service_cidr: net
            .service_net()
            .ok_or_else(|| bad("the service CIDR is not a CIDR"))?,
        dns_domain: spec.spec.dns_domain.clone(),
        proxy,
        packages: AptRepository {
            url: repo.url.clone(),
            suite: "/".into(),
            components: Vec::new(),
            key,
            package_version: None,
        },
        image_mirror: None,
        cni: CniPlan {
            kind: match profile.cni {
                Cni::Calico => CniKind::Calico,
                Cni::Cilium => CniKind::Cilium,
            },
            manifest: CniManifest::Url(profile.network.manifest_url.clone()),
        },
        kube_vip_image: KUBE_VIP_IMAGE.to_string(),
    })
}

/// One node's plan: its hostname, role, and the pool's labels and taints.
pub fn node_plan(pool: &NodePool, hostname: &str, role: NodeRole) -> NodePlan {
    let mut labels: Vec<(String, String)> = pool
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.push(("kubemaas.io/pool".into(), pool.name.clone()));
    let pool_taints: Vec<Taint> = pool
        .taints
        .iter()
        .map(|t| Taint {
            key: t.key.clone(),
            value: (!t.value.is_empty()).then(|| t.value.clone()),
            effect: match t.effect {
                crate::model::spec::TaintEffect::NoSchedule => TaintEffect::NoSchedule,
                crate::model::spec::TaintEffect::PreferNoSchedule => TaintEffect::PreferNoSchedule,
                crate::model::spec::TaintEffect::NoExecute => TaintEffect::NoExecute,
            },
        })
        .collect();
    let taints = match pool.role {
        // A control plane that runs workloads gets exactly the pool's taints (maybe none);
        // otherwise kubeadm's control-plane taint plus the pool's.
        PoolRole::ControlPlane if pool.allow_workloads == Some(true) => Some(pool_taints),
        PoolRole::ControlPlane if pool_taints.is_empty() => None,
        PoolRole::ControlPlane => {
            let mut t = vec![Taint {
                key: "node-role.kubernetes.io/control-plane".into(),
                value: None,
                effect: TaintEffect::NoSchedule,
            }];
            t.extend(pool_taints);
            Some(t)
        }
        PoolRole::Worker if pool_taints.is_empty() => None,
        PoolRole::Worker => Some(pool_taints),
    };
    NodePlan {
        hostname: hostname.to_string(),
        role,
        labels,
        taints,
        ip: None,
    }
}

/// The role a machine of `pool` gets: a control-plane node inits the cluster unless the cluster
/// is already initialised or another held control-plane machine is the init node.
pub fn role_for(pool: &NodePool, status: &ClusterStatus, init_taken: bool) -> NodeRole {
    match pool.role {
        PoolRole::Worker => NodeRole::Worker,
        PoolRole::ControlPlane if status.initialized || init_taken => NodeRole::JoinControlPlane,
        PoolRole::ControlPlane => NodeRole::InitControlPlane,
    }
}

/// Parses a role stored in a machine row.
pub fn parse_role(text: &str) -> NodeRole {
    match text {
        "init_control_plane" => NodeRole::InitControlPlane,
        "join_control_plane" => NodeRole::JoinControlPlane,
        _ => NodeRole::Worker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::{Taint as SpecTaint, TaintEffect as SpecEffect};

    #[test]
    fn control_planes_init_once_then_join() {
        let cp = NodePool::new("cp", PoolRole::ControlPlane, 3);
        let workers = NodePool::new("w", PoolRole::Worker, 3);
        let mut status = ClusterStatus::default();
        assert_eq!(role_for(&cp, &status, false), NodeRole::InitControlPlane);
        assert_eq!(role_for(&cp, &status, true), NodeRole::JoinControlPlane);
        assert_eq!(role_for(&workers, &status, false), NodeRole::Worker);
        // Once the API server answered, a replacement control plane joins even with no init
        // machine held (the original init node may have been rolled away).
        status.initialized = true;
        assert_eq!(role_for(&cp, &status, false), NodeRole::JoinControlPlane);
        for role in [
            NodeRole::InitControlPlane,
            NodeRole::JoinControlPlane,
            NodeRole::Worker,
        ] {
            assert_eq!(parse_role(role.as_str()), role);
        }
    }

    #[test]
    fn taints_follow_the_pool() {
        let mut cp = NodePool::new("cp", PoolRole::ControlPlane, 1);
        assert_eq!(
            node_plan(&cp, "n1", NodeRole::InitControlPlane).taints,
            None
        );
        cp.allow_workloads = Some(true);
        assert_eq!(
            node_plan(&cp, "n1", NodeRole::InitControlPlane).taints,
            Some(vec![])
        );
        let mut w = NodePool::new("gpu", PoolRole::Worker, 1);
        w.taints.push(SpecTaint {
            key: "gpu".into(),
            value: String::new(),
            effect: SpecEffect::NoSchedule,
        });
        let plan = node_plan(&w, "g1", NodeRole::Worker);
        let taints = plan.taints.unwrap();
        assert_eq!(taints.len(), 1);
        assert_eq!(taints[0].value, None);
        assert!(plan
            .labels
            .contains(&("kubemaas.io/pool".into(), "gpu".into())));
    }
}
