//! From what the operator wrote (spec + profile) and what the engine obtained (VIP, subnet,
//! machines) to the bootstrap module's plain plans, and from there to each node's user-data.

use super::error::EngineError;
use super::status::ClusterStatus;
use crate::bootstrap::{
    AptKey, AptRepository, ClusterPlan, CniKind, CniManifest, CniPlan, NodePlan, NodeRole,
    ProxyPlan, Taint, TaintEffect, VipPlan,
};
use crate::model::profile::ManifestValues;
use crate::model::spec::{EndpointMode, NodePool, PoolRole};
use crate::model::{ClusterProfile, ClusterSpec, Cni, ResolvedProfile};
use crate::store::{ClusterId, Tx};
use ipnet::IpNet;

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
        dns_domain: net.cluster_domain.clone(),
        maas_domain: spec.spec.dns_domain.clone(),
        proxy,
        packages: AptRepository {
            url: repo.url.clone(),
            suite: "/".into(),
            components: Vec::new(),
            key,
            package_version: None,
        },
        image_repository: profile.kubernetes.image_repository.clone(),
        registry_mirrors: profile.kubernetes.registry_mirrors.clone(),
        ca_certificates: profile.os.ca_certificates.clone(),
        apt_mirror: profile.os.apt_mirror.clone(),
        extra_packages: profile.os.extra_packages.clone(),
        kubelet_extra_args: profile.kubernetes.kubelet_extra_args.clone(),
        cluster_configuration: profile.kubernetes.cluster_configuration.clone(),
        cni: CniPlan {
            kind: match profile.cni {
                Cni::Calico => CniKind::Calico,
                Cni::Cilium => CniKind::Cilium,
            },
            manifest: CniManifest::Url(profile.network.manifest_url.clone()),
        },
        addon_manifests: profile
            .extra_layers
            .iter()
            .filter_map(|layer| {
                serde_yaml::from_value::<ManifestValues>(layer.values.clone())
                    .ok()
                    .and_then(|v| v.manifest_url)
            })
            .collect(),
        addon_steps: profile
            .extra_layers
            .iter()
            .flat_map(|layer| crate::model::profile::pack_kubectl_steps(&layer.name, &layer.values))
            .collect(),
        kube_vip_image: profile.kubernetes.kube_vip_image.clone(),
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
    use crate::bootstrap::{user_data, ClusterSecrets};

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBsiteca\n-----END CERTIFICATE-----";

    /// The first control-plane node's user-data for a shipped profile with `overrides`
    /// (pack name → values), through the engine's own planning.
    fn init_user_data(overrides: &[(&str, &str)]) -> String {
        let mut spec = ClusterSpec::with_defaults("web", "lab", 1, 1);
        for (pack, values) in overrides {
            spec.spec
                .profile
                .overrides
                .insert(pack.to_string(), serde_yaml::from_str(values).unwrap());
        }
        let profile = crate::model::profile::shipped_profile(&spec.spec.profile.name).unwrap();
        let resolved = resolve_profile(&profile, &spec).unwrap();
        let status = ClusterStatus {
            vip: Some("10.20.0.250".into()),
            node_subnet: Some("10.20.0.0/24".into()),
            ..Default::default()
        };
        let plan = cluster_plan(
            &ClusterId::parse("0000c1c1").unwrap(),
            &spec,
            &resolved,
            &status,
        )
        .unwrap();
        let secrets = ClusterSecrets::generate(&plan).unwrap();
        let cp = spec.spec.node_pools[0].clone();
        user_data(
            &plan,
            &secrets,
            &node_plan(&cp, "cp-1", NodeRole::InitControlPlane),
        )
        .unwrap()
    }

    /// No setting is accepted and then ignored: each value a profile can hold changes what
    /// the first node receives, and in the expected place.
    #[test]
    fn every_profile_value_reaches_the_node() {
        let base = init_user_data(&[]);
        let cases: &[(&str, &str, &str)] = &[
            (
                "kubernetes",
                "imageRepository: registry.internal:5000/k8s",
                "imageRepository: registry.internal:5000/k8s",
            ),
            (
                "kubernetes",
                "imageRepository: registry.internal:5000/k8s",
                "registry.internal:5000/k8s/pause:",
            ),
            (
                "kubernetes",
                "registryMirrors: {quay.io: [https://mirror.internal:5000]}",
                "/etc/containerd/certs.d/quay.io/hosts.toml",
            ),
            (
                "kubernetes",
                "kubeletExtraArgs: {max-pods: '250'}",
                "max-pods",
            ),
            (
                "kubernetes",
                "clusterConfiguration: {apiServer: {extraArgs: {audit-log-maxage: '30'}}}",
                "audit-log-maxage",
            ),
            (
                "kubernetes",
                "kubeVipImage: registry.internal:5000/kube-vip/kube-vip:v0.8.9",
                "registry.internal:5000/kube-vip/kube-vip:v0.8.9",
            ),
            (
                "kubernetes",
                "packageRepository: {url: https://apt.internal/k8s/}",
                "https://apt.internal/k8s/",
            ),
            (
                "ubuntu",
                "aptMirror: http://archive.internal/ubuntu",
                "uri: http://archive.internal/ubuntu",
            ),
            ("ubuntu", "extraPackages: [nfs-common]", "nfs-common"),
            (
                "ubuntu",
                &format!("caCertificates: [{PEM:?}]"),
                "MIIBsiteca",
            ),
            (
                "ubuntu",
                &format!("caCertificates: [{PEM:?}]"),
                "update-ca-certificates",
            ),
        ];
        for (pack, values, expected) in cases {
            assert!(
                !base.contains(expected),
                "{expected} is there without {values}"
            );
            let changed = init_user_data(&[(pack, values)]);
            assert!(
                changed.contains(expected),
                "{pack}: {values} did not put {expected} in the user-data"
            );
        }
        // The storage and add-on layers' manifests are applied on the first node, from their
        // (overridable) sources, after the CNI.
        let profile =
            crate::model::profile::shipped_profile(crate::model::profile::DEFAULT_PROFILE).unwrap();
        for layer in profile.spec.layers.iter().filter(|l| {
            matches!(
                l.kind,
                crate::model::profile::LayerKind::Storage | crate::model::profile::LayerKind::Addon
            )
        }) {
            let url = format!("https://mirror.internal/{}.yaml", layer.name);
            let moved = init_user_data(&[(&layer.name, &format!("manifestUrl: {url}"))]);
            assert!(
                moved.contains(&url),
                "{} was not applied from its override",
                layer.name
            );
        }
    }

    /// The packs' own settings run on the first node after their manifests, and only when set.
    #[test]
    fn pack_settings_run_after_their_manifests_only_when_set() {
        let shipped = init_user_data(&[]);
        for (pack, key, effect) in [
            (
                "local-path-provisioner",
                "defaultStorageClass",
                "is-default-class=true",
            ),
            (
                "metrics-server",
                "kubeletInsecureTls",
                "--kubelet-insecure-tls",
            ),
        ] {
            // The default profile sets both.
            assert!(shipped.contains(effect), "{effect}");
            let off = init_user_data(&[(pack, &format!("{key}: false"))]);
            assert!(
                !off.contains(effect),
                "{pack}.{key}: false still runs {effect}"
            );
            let manifest = shipped.find("local-path-storage.yaml").unwrap();
            assert!(
                shipped.find(effect).unwrap() > manifest,
                "{effect} before the manifests"
            );
        }
    }

    #[test]
    fn values_that_could_not_reach_the_nodes_are_refused_naming_the_key() {
        let cases = [
            (
                "kubernetes",
                "kubeVipImage: 'https://ghcr.io/kube-vip'",
                "kubeVipImage",
            ),
            (
                "kubernetes",
                "clusterConfiguration: {networking: {dnsDomain: x}}",
                "clusterConfiguration.networking",
            ),
            (
                "kubernetes",
                "clusterConfiguration: {imageRepository: x}",
                "clusterConfiguration.imageRepository",
            ),
            (
                "kubernetes",
                "kubeletExtraArgs: {node-ip: 10.0.0.1}",
                "kubeletExtraArgs.node-ip",
            ),
            (
                "kubernetes",
                "kubeletExtraArgs: {--max-pods: '1'}",
                "kubeletExtraArgs.--max-pods",
            ),
            (
                "kubernetes",
                "registryMirrors: {'https://docker.io': [https://m.internal]}",
                "registryMirrors.https://docker.io",
            ),
            (
                "kubernetes",
                "registryMirrors: {docker.io: []}",
                "registryMirrors.docker.io",
            ),
            (
                "ubuntu",
                "extraPackages: ['nfs-common; rm -rf /']",
                "extraPackages[0]",
            ),
            ("ubuntu", "caCertificates: [not a pem]", "caCertificates[0]"),
            ("ubuntu", "aptMirror: archive.internal", "aptMirror"),
            (
                "calico",
                "imageRegistry: registry.internal",
                "imageRegistry",
            ),
            ("calico", "config: {ipipMode: Never}", "calico.config"),
            ("metrics-server", "replicas: 2", "replicas"),
            (
                "local-path-provisioner",
                "defaultStorageClass: yes-please",
                "defaultStorageClass",
            ),
        ];
        let profile =
            crate::model::profile::shipped_profile(crate::model::profile::DEFAULT_PROFILE).unwrap();
        for (pack, values, key) in cases {
            let mut spec = ClusterSpec::with_defaults("web", "lab", 1, 1);
            spec.spec
                .profile
                .overrides
                .insert(pack.to_string(), serde_yaml::from_str(values).unwrap());
            let err = resolve_profile(&profile, &spec)
                .expect_err(values)
                .to_string();
            assert!(err.contains(key), "{values}: {err}");
        }
        // The cluster domain may not be the MAAS domain.
        let mut spec = ClusterSpec::with_defaults("web", "lab", 1, 1);
        spec.spec.network.cluster_domain = spec.spec.dns_domain.clone();
        let problems = crate::model::validate_local(&spec, Some(&profile)).to_string();
        assert!(
            problems.contains("spec.network.clusterDomain"),
            "{problems}"
        );
    }

    #[test]
    fn the_cluster_domain_is_not_the_maas_domain() {
        let ud = init_user_data(&[]);
        assert!(ud.contains("dnsDomain: cluster.local"), "{ud}");
        assert!(!ud.contains("dnsDomain: maas"), "{ud}");
    }
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
