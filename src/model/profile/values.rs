//! The typed values of the OS, Kubernetes and network packs (and the manifest URL every other
//! pack may carry), and the checks a layer's values must pass, as shipped or after overrides.

use super::{Cni, Layer, LayerKind};
use crate::model::k8s_version::KubernetesVersion;
use crate::model::problem::Problems;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// Values of the OS layer (pack `ubuntu`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OsValues {
    /// The Ubuntu series MAAS deploys (`jammy`, `noble`), unless the cluster spec names an image.
    pub series: String,
    /// MAAS `hwe_kernel` (`ga-22.04`, `hwe-22.04`); absent means MAAS's default for the series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// An Ubuntu archive mirror for apt on the nodes; absent means what MAAS configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apt_mirror: Option<String>,
    /// More packages installed on every node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_packages: Vec<String>,
    /// PEM certificates the nodes trust (an internal registry's or mirror's CA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certificates: Vec<String>,
}

/// Values of the Kubernetes layer (pack `kubernetes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesValues {
    /// The apt repository kubelet, kubeadm and kubectl come from (pkgs.k8s.io or its mirror).
    pub package_repository: PackageRepository,
    /// Where kubeadm pulls control-plane images from (kubeadm `imageRepository`).
    #[serde(default = "default_image_repository")]
    pub image_repository: String,
    /// containerd registry mirrors: registry host → mirror endpoints, tried in order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// Extra kubelet flags, on every node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kubelet_extra_args: BTreeMap<String, String>,
    /// Fields merged into the generated kubeadm ClusterConfiguration (apiServer.extraArgs, etcd …).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub cluster_configuration: Value,
    /// The kube-vip image control-plane nodes run (a VIP endpoint): pulled like any other
    /// image, so through `registryMirrors` when its registry has one.
    #[serde(default = "default_kube_vip_image")]
    pub kube_vip_image: String,
}

fn default_image_repository() -> String {
    "registry.k8s.io".to_string()
}

/// The kube-vip release kubemaas deploys unless the profile names another.
pub fn default_kube_vip_image() -> String {
    "ghcr.io/kube-vip/kube-vip:v0.8.9".to_string()
}

/// ClusterConfiguration fields kubemaas sets from the spec itself: a profile that set them
/// would be overruled, so validation refuses them and names the spec field to use instead.
pub const OWNED_CLUSTER_CONFIGURATION: &[(&str, &str)] = &[
    ("apiVersion", "the Kubernetes layer's version"),
    ("kind", "nothing: kubemaas writes a ClusterConfiguration"),
    ("clusterName", "the cluster's metadata.name"),
    ("kubernetesVersion", "the Kubernetes layer's version"),
    ("controlPlaneEndpoint", "spec.network.controlPlaneEndpoint"),
    (
        "networking",
        "spec.network (podCIDR, serviceCIDR, clusterDomain)",
    ),
    (
        "imageRepository",
        "the Kubernetes layer's imageRepository value",
    ),
];

/// A storage or add-on pack's own setting that kubemaas applies (a boolean), and the kubectl
/// arguments it runs on the first control-plane node, after the pack's manifest, when true.
pub struct PackSetting {
    pub pack: &'static str,
    pub key: &'static str,
    pub kubectl: &'static [&'static str],
}

/// Every pack setting kubemaas applies; any other key of a storage or add-on pack is refused.
pub const PACK_SETTINGS: &[PackSetting] = &[
    PackSetting {
        pack: "local-path-provisioner",
        key: "defaultStorageClass",
        // The StorageClass local-path-provisioner's manifest creates.
        kubectl: &[
            "annotate",
            "--overwrite",
            "storageclass",
            "local-path",
            "storageclass.kubernetes.io/is-default-class=true",
        ],
    },
    PackSetting {
        pack: "metrics-server",
        key: "kubeletInsecureTls",
        // Kubelets serve self-signed certificates unless serving-certificate rotation is set up.
        kubectl: &[
            "-n",
            "kube-system",
            "patch",
            "deployment",
            "metrics-server",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--kubelet-insecure-tls"}]"#,
        ],
    },
];

fn known_settings(pack: &str) -> String {
    let keys: Vec<&str> = PACK_SETTINGS
        .iter()
        .filter(|s| s.pack == pack)
        .map(|s| s.key)
        .collect();
    if keys.is_empty() {
        String::new()
    } else {
        format!("; its settings are {}", keys.join(", "))
    }
}

/// The kubectl steps a storage or add-on pack's settings ask for (those set to true), in
/// [`PACK_SETTINGS`] order.
pub fn pack_kubectl_steps(pack: &str, values: &Value) -> Vec<Vec<String>> {
    PACK_SETTINGS
        .iter()
        .filter(|s| s.pack == pack && values.get(s.key).and_then(Value::as_bool) == Some(true))
        .map(|s| s.kubectl.iter().map(|a| a.to_string()).collect())
        .collect()
}

/// kubelet flags kubemaas sets itself on every node.
pub const OWNED_KUBELET_FLAGS: &[&str] = &["node-labels", "node-ip"];

/// A Debian package name (`nfs-common`), optionally pinned (`nfs-common=1:2.6.2-1`).
pub fn is_package_name(text: &str) -> bool {
    let (name, version) = match text.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (text, None),
    };
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
        && version.is_none_or(|v| {
            !v.is_empty()
                && v.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '~' | ':' | '*')
                })
        })
}

/// Whether `reference` reads as an image reference: `[host[:port]/]path[:tag][@digest]`,
/// lower-case path components, no scheme, no spaces.
pub fn is_image_reference(reference: &str) -> bool {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    if digest.is_some_and(|d| {
        !d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty() && !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
        })
    }) {
        return false;
    }
    // A tag follows the last ':' after the last '/' (a ':' before it is a registry port).
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if tag.is_some_and(|t| {
        t.is_empty()
            || t.len() > 128
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    }) {
        return false;
    }
    if path.is_empty() || path.contains("://") {
        return false;
    }
    let mut parts = path.split('/').peekable();
    let first = parts.next().unwrap_or_default();
    let registry =
        path.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let components: Vec<&str> = if registry {
        if !is_registry_host(first) {
            return false;
        }
        parts.collect()
    } else {
        path.split('/').collect()
    };
    !components.is_empty()
        && components.iter().all(|c| {
            !c.is_empty()
                && c.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
                })
        })
}

/// `registry.k8s.io`, `registry.internal:5000`, `docker.io`: a host name with an optional port.
pub fn is_registry_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackageRepository {
    /// The `deb` URL, e.g. `https://pkgs.k8s.io/core:/stable:/v1.30/deb/`.
    pub url: String,
    /// The repository's signing key URL; absent when the mirror is trusted another way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_url: Option<String>,
}

/// Values of the network layer (`calico` or `cilium`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkValues {
    /// Where the CNI manifest is fetched from (an internal web server in an air-gapped site).
    pub manifest_url: String,
    /// A registry replacing the images' registry in the manifest (`quay.io` → `registry.internal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_registry: Option<String>,
    /// Plugin-specific settings (Calico `ipipMode`, Cilium `kubeProxyReplacement` …).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
}

/// Values every storage and add-on pack has, beside its own free-form settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestValues {
    /// Where the pack's manifest is fetched from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_url: Option<String>,
}

/// Checks one layer's values (as shipped or after overrides) against what its kind needs.
pub(super) fn check_layer_values(
    layer: &Layer,
    values: &Value,
    path: &str,
    problems: &mut Problems,
) {
    if !(values.is_mapping() || values.is_null()) {
        problems.push(path, "must be a mapping of the pack's settings");
        return;
    }
    let decode = |problems: &mut Problems| -> Option<()> {
        match layer.kind {
            LayerKind::Os => {
                if layer.name != "ubuntu" {
                    problems.push(
                        path.replace(".values", ".name"),
                        format!("OS pack `{}` is not one kubemaas deploys: use `ubuntu` (a custom MAAS image is chosen in the cluster spec's osImage)", layer.name),
                    );
                }
                let os: OsValues = typed(values, path, problems)?;
                if os.series.trim().is_empty() {
                    problems.push(
                        format!("{path}.series"),
                        "is empty: give an Ubuntu series like `jammy`",
                    );
                }
                if let Some(m) = &os.apt_mirror {
                    check_url(
                        m,
                        &format!("{path}.aptMirror"),
                        &["http", "https"],
                        problems,
                    );
                }
                for (i, package) in os.extra_packages.iter().enumerate() {
                    if !is_package_name(package) {
                        problems.push(format!("{path}.extraPackages[{i}]"), format!("`{package}` is not a Debian package name: write it like `nfs-common` (optionally `=VERSION`)"));
                    }
                }
                for (i, pem) in os.ca_certificates.iter().enumerate() {
                    if !pem.contains("-----BEGIN CERTIFICATE-----") {
                        problems.push(format!("{path}.caCertificates[{i}]"), "is not a PEM certificate: paste it with its -----BEGIN CERTIFICATE----- line");
                    }
                }
            }
            LayerKind::Kubernetes => {
                if let Err(e) = KubernetesVersion::parse_supported(&layer.version) {
                    problems.push(path.replace(".values", ".version"), e.to_string());
                }
                let k: KubernetesValues = typed(values, path, problems)?;
                check_url(
                    &k.package_repository.url,
                    &format!("{path}.packageRepository.url"),
                    &["http", "https", "file"],
                    problems,
                );
                if let Some(key) = &k.package_repository.key_url {
                    check_url(
                        key,
                        &format!("{path}.packageRepository.keyUrl"),
                        &["http", "https", "file"],
                        problems,
                    );
                }
                if k.image_repository.trim().is_empty() || k.image_repository.contains("://") {
                    problems.push(format!("{path}.imageRepository"), "give a registry and path without a scheme, like `registry.k8s.io` or `registry.internal:5000/k8s`");
                }
                for flag in k.kubelet_extra_args.keys() {
                    if OWNED_KUBELET_FLAGS.contains(&flag.as_str()) {
                        problems.push(format!("{path}.kubeletExtraArgs.{flag}"), "is set by kubemaas (node labels come from each pool's `labels`, the node address from its MAAS subnet): remove it here");
                    } else if flag.is_empty()
                        || flag.starts_with('-')
                        || !flag
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    {
                        problems.push(format!("{path}.kubeletExtraArgs.{flag}"), "is not a kubelet flag name: write it without leading dashes, like `max-pods`");
                    }
                }
                if !is_image_reference(&k.kube_vip_image) {
                    problems.push(format!("{path}.kubeVipImage"), format!("`{}` is not an image reference: write it like `registry.internal:5000/kube-vip/kube-vip:v0.8.9`", k.kube_vip_image));
                }
                if let Value::Mapping(fields) = &k.cluster_configuration {
                    for (key, _) in fields {
                        let key = key.as_str().unwrap_or_default();
                        if let Some((_, instead)) =
                            OWNED_CLUSTER_CONFIGURATION.iter().find(|(k, _)| *k == key)
                        {
                            problems.push(
                                format!("{path}.clusterConfiguration.{key}"),
                                format!("is set by kubemaas from {instead}: remove it here"),
                            );
                        }
                    }
                } else if !k.cluster_configuration.is_null() {
                    problems.push(format!("{path}.clusterConfiguration"), "must be a mapping of kubeadm ClusterConfiguration fields, like `apiServer: {extraArgs: ...}`");
                }
                for (registry, mirrors) in &k.registry_mirrors {
                    if !is_registry_host(registry) {
                        problems.push(format!("{path}.registryMirrors.{registry}"), "is not a registry host: key each list by the registry it mirrors, like `docker.io` or `registry.k8s.io`");
                    }
                    if mirrors.is_empty() {
                        problems.push(format!("{path}.registryMirrors.{registry}"), "lists no mirror: give at least one URL, like `https://registry.internal:5000`, or remove the entry");
                    }
                    for (i, m) in mirrors.iter().enumerate() {
                        check_url(
                            m,
                            &format!("{path}.registryMirrors.{registry}[{i}]"),
                            &["http", "https"],
                            problems,
                        );
                    }
                }
            }
            LayerKind::Network => {
                if Cni::from_pack_name(&layer.name).is_none() {
                    problems.push(
                        path.replace(".values", ".name"),
                        format!("`{}` is not a network plugin kubemaas installs: use `calico` or `cilium`", layer.name),
                    );
                }
                let n: NetworkValues = typed(values, path, problems)?;
                // Not applied yet: refused rather than accepted and ignored.
                if n.image_registry.is_some() {
                    problems.push(format!("{path}.imageRegistry"), "is not applied: mirror the CNI's registries with the Kubernetes layer's registryMirrors instead (containerd pulls through them), or serve a manifest that names your registry");
                }
                if !n.config.is_null() {
                    problems.push(format!("{path}.config"), "is not applied: kubemaas applies the manifest at manifestUrl as it is; put these settings into the manifest you serve (for Calico, the calico-node environment such as CALICO_IPV4POOL_IPIP)");
                }
                check_url(
                    &n.manifest_url,
                    &format!("{path}.manifestUrl"),
                    &["http", "https", "file"],
                    problems,
                );
            }
            LayerKind::Storage | LayerKind::Addon => {
                if let Value::Mapping(fields) = values {
                    for (key, value) in fields {
                        let key = key.as_str().unwrap_or_default();
                        if key == "manifestUrl" {
                            continue;
                        }
                        match PACK_SETTINGS.iter().find(|s| s.pack == layer.name && s.key == key) {
                            Some(_) if value.as_bool().is_none() => problems.push(format!("{path}.{key}"), "must be true or false"),
                            Some(_) => {}
                            None => problems.push(format!("{path}.{key}"), format!("is not a setting kubemaas applies for `{}` (it applies the manifest at manifestUrl as it is{}): remove it, or change the manifest", layer.name, known_settings(&layer.name))),
                        }
                    }
                }
                let m: ManifestValues = typed(values, path, problems)?;
                if let Some(url) = &m.manifest_url {
                    check_url(
                        url,
                        &format!("{path}.manifestUrl"),
                        &["http", "https", "file"],
                        problems,
                    );
                }
            }
        }
        Some(())
    };
    decode(problems);
}

fn typed<T: serde::de::DeserializeOwned>(
    values: &Value,
    path: &str,
    problems: &mut Problems,
) -> Option<T> {
    let v = if values.is_null() {
        Value::Mapping(Default::default())
    } else {
        values.clone()
    };
    match serde_yaml::from_value(v) {
        Ok(t) => Some(t),
        Err(e) => {
            let msg = e.to_string();
            let hint = crate::model::document::unknown_field_hint_for(&msg).unwrap_or_default();
            problems.push(path, format!("{msg}{hint}"));
            None
        }
    }
}

/// Checks a URL field: parses, has one of `schemes`, and (but for file:) a host.
pub(crate) fn check_url(raw: &str, path: &str, schemes: &[&str], problems: &mut Problems) {
    match url::Url::parse(raw.trim()) {
        Err(e) => problems.push(
            path,
            format!("`{raw}` is not a URL ({e}): write it like `http://mirror.internal/path`"),
        ),
        Ok(u) if !schemes.contains(&u.scheme()) => problems.push(
            path,
            format!(
                "`{raw}` uses `{}:`; use {}",
                u.scheme(),
                schemes
                    .iter()
                    .map(|s| format!("{s}://"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ),
        Ok(u) if u.scheme() != "file" && u.host_str().is_none_or(str::is_empty) => {
            problems.push(path, format!("`{raw}` has no host name"))
        }
        Ok(_) => {}
    }
}
