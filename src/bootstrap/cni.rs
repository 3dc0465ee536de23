//! Checks on the profile's CNI manifest. A CNI whose pod range differs from kubeadm's
//! `podSubnet` gives pods addresses the cluster does not route, so an inline manifest that
//! names a different range is refused before any machine is deployed. URL manifests cannot be
//! read offline; the profile author vouches for them.

use super::error::BootstrapError;
use super::plan::{CniKind, CniManifest, CniPlan};
use ipnet::IpNet;
use serde::Deserialize;
use serde_yaml::Value;

pub(crate) fn validate(cni: &CniPlan, pod_cidr: IpNet) -> Result<(), BootstrapError> {
    match &cni.manifest {
        CniManifest::Url(u) => {
            let parsed = url::Url::parse(u).ok();
            if !parsed.is_some_and(|p| matches!(p.scheme(), "http" | "https")) {
                return Err(BootstrapError::plan(
                    "cluster.cni.manifest",
                    format!("{u:?} is not an http(s) URL"),
                    "give the manifest's URL on the internal mirror, or the manifest text itself",
                ));
            }
            Ok(())
        }
        CniManifest::Inline(text) => {
            let docs = parse_documents(text)?;
            for found in pod_ranges(cni.kind, &docs) {
                let same = found
                    .parse::<IpNet>()
                    .map(|n| n.trunc() == pod_cidr.trunc())
                    .unwrap_or(false);
                // A manifest may carry an IPv4 and an IPv6 range; only the cluster's family
                // must match.
                let same_family = found.contains(':') == matches!(pod_cidr, IpNet::V6(_));
                if same_family && !same {
                    return Err(BootstrapError::plan(
                        "cluster.cni.manifest",
                        format!(
                            "the {} manifest sets the pod range {found}, but the cluster's pod CIDR is {pod_cidr}",
                            cni.kind
                        ),
                        "regenerate the manifest with the cluster's pod CIDR, or change the cluster's pod CIDR to match",
                    ));
                }
            }
            Ok(())
        }
    }
}

fn parse_documents(text: &str) -> Result<Vec<Value>, BootstrapError> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| {
            BootstrapError::plan(
                "cluster.cni.manifest",
                format!("the inline manifest is not valid YAML ({e})"),
                "paste the manifest exactly as the CNI project publishes it",
            )
        })?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    if docs.is_empty() {
        return Err(BootstrapError::plan(
            "cluster.cni.manifest",
            "the inline manifest has no documents",
            "paste the CNI manifest text, or give its URL",
        ));
    }
    Ok(docs)
}

/// The pod ranges a manifest configures, where the CNI has one.
fn pod_ranges(kind: CniKind, docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for doc in docs {
        match kind {
            CniKind::Calico => calico_ranges(doc, &mut out),
            CniKind::Cilium => cilium_ranges(doc, &mut out),
        }
    }
    out
}

/// Calico manifests: `CALICO_IPV4POOL_CIDR` / `CALICO_IPV6POOL_CIDR` in calico-node's env
/// (absent means "take kubeadm's podSubnet"), or the operator's `Installation` ipPools.
fn calico_ranges(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Mapping(map) => {
            let name = map.get("name").and_then(Value::as_str);
            if let (Some("CALICO_IPV4POOL_CIDR" | "CALICO_IPV6POOL_CIDR"), Some(v)) =
                (name, map.get("value").and_then(Value::as_str))
            {
                out.push(v.trim().to_string());
            }
            if map.get("kind").and_then(Value::as_str) == Some("Installation") {
                let pools = map
                    .get("spec")
                    .and_then(|s| s.get("calicoNetwork"))
                    .and_then(|n| n.get("ipPools"))
                    .and_then(Value::as_sequence);
                for pool in pools.into_iter().flatten() {
                    if let Some(cidr) = pool.get("cidr").and_then(Value::as_str) {
                        out.push(cidr.trim().to_string());
                    }
                }
                return;
            }
            for v in map.values() {
                calico_ranges(v, out);
            }
        }
        Value::Sequence(seq) => seq.iter().for_each(|v| calico_ranges(v, out)),
        _ => {}
    }
}

/// Cilium manifests: the `cilium-config` ConfigMap's cluster-pool ranges, which only apply in
/// cluster-pool IPAM (in `kubernetes` IPAM Cilium follows the nodes' podCIDRs).
fn cilium_ranges(doc: &Value, out: &mut Vec<String>) {
    let is_config = doc.get("kind").and_then(Value::as_str) == Some("ConfigMap")
        && doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            == Some("cilium-config");
    let Some(data) = doc.get("data").filter(|_| is_config) else {
        return;
    };
    let ipam = data
        .get("ipam")
        .and_then(Value::as_str)
        .unwrap_or("cluster-pool");
    if ipam != "cluster-pool" {
        return;
    }
    for key in ["cluster-pool-ipv4-cidr", "cluster-pool-ipv6-cidr"] {
        if let Some(v) = data.get(key).and_then(Value::as_str) {
            out.extend(
                v.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(kind: CniKind, text: &str) -> CniPlan {
        CniPlan {
            kind,
            manifest: CniManifest::Inline(text.into()),
        }
    }

    const CALICO: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: calico-node}\nspec:\n  template:\n    spec:\n      containers:\n      - name: calico-node\n        env:\n        - name: CALICO_IPV4POOL_CIDR\n          value: \"192.168.0.0/16\"\n";

    #[test]
    fn calico_pool_must_match_the_pod_cidr() {
        let pods: IpNet = "10.244.0.0/16".parse().unwrap();
        let err = validate(&inline(CniKind::Calico, CALICO), pods).unwrap_err();
        assert!(err.to_string().contains("192.168.0.0/16"), "{err}");
        let ok: IpNet = "192.168.0.0/16".parse().unwrap();
        validate(&inline(CniKind::Calico, CALICO), ok).unwrap();
    }

    #[test]
    fn cilium_cluster_pool_must_match_unless_kubernetes_ipam() {
        let pods: IpNet = "10.244.0.0/16".parse().unwrap();
        let cm = |ipam: &str| {
            format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cilium-config\ndata:\n  ipam: {ipam}\n  cluster-pool-ipv4-cidr: \"10.0.0.0/8\"\n")
        };
        assert!(validate(&inline(CniKind::Cilium, &cm("cluster-pool")), pods).is_err());
        validate(&inline(CniKind::Cilium, &cm("kubernetes")), pods).unwrap();
    }

    #[test]
    fn junk_and_empty_manifests_are_refused() {
        let pods: IpNet = "10.244.0.0/16".parse().unwrap();
        assert!(validate(&inline(CniKind::Calico, ""), pods).is_err());
        assert!(validate(&inline(CniKind::Calico, "a: [b"), pods).is_err());
        let url = CniPlan {
            kind: CniKind::Calico,
            manifest: CniManifest::Url("ftp://x/y".into()),
        };
        assert!(validate(&url, pods).is_err());
    }
}
