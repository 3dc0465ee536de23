//! Cluster profiles: what software a cluster runs, as ordered layers — OS, Kubernetes, network
//! (CNI), optional storage (CSI), then add-ons — each a pack with a name, a version and YAML
//! values. The values carry everything an air-gapped site changes (apt mirror, Kubernetes
//! package repository, image registry and mirrors, CNI manifest location), so a site adapts a
//! profile without kubemaas knowing its network. Shipped defaults live in `assets/profiles/`.

use super::document::{parse_document, to_yaml, DocumentError, API_VERSION};
use super::k8s_version::KubernetesVersion;
use super::merge::merged;
use super::names;
use super::problem::Problems;
use super::suggest;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::fmt;

pub const PROFILE_KIND: &str = "ClusterProfile";

/// A cluster profile document (`kind: ClusterProfile`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterProfile {
    pub api_version: String,
    pub kind: String,
    pub metadata: ProfileMetadata,
    pub spec: ProfileSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfileMetadata {
    /// DNS-1123 subdomain, e.g. `ubuntu-jammy-k8s-1.30-calico`.
    pub name: String,
    /// The profile's own version, so a changed profile is told apart from the one a cluster used.
    #[serde(default = "default_profile_version")]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

fn default_profile_version() -> String {
    "1.0.0".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfileSpec {
    pub layers: Vec<Layer>,
}

/// One layer: a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Layer {
    #[serde(rename = "type")]
    pub kind: LayerKind,
    /// The pack's name, unique in the profile: cluster specs address overrides by it.
    pub name: String,
    pub version: String,
    /// The pack's settings; free-form YAML, checked per kind (see the `*Values` types).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub values: Value,
}

/// Layer kinds, in the order they must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    Os,
    Kubernetes,
    Network,
    Storage,
    Addon,
}

impl LayerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Os => "os",
            LayerKind::Kubernetes => "kubernetes",
            LayerKind::Network => "network",
            LayerKind::Storage => "storage",
            LayerKind::Addon => "addon",
        }
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The container network plugins kubemaas knows how to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cni {
    Calico,
    Cilium,
}

impl Cni {
    pub fn from_pack_name(name: &str) -> Option<Cni> {
        match name {
            "calico" => Some(Cni::Calico),
            "cilium" => Some(Cni::Cilium),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cni::Calico => "calico",
            Cni::Cilium => "cilium",
        }
    }
}

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
}

fn default_image_repository() -> String {
    "registry.k8s.io".to_string()
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

/// Why an operator's profile file is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Document(#[from] DocumentError),
    #[error("profile `{name}` is not usable:\n{problems}")]
    Invalid { name: String, problems: Problems },
}

/// The shipped profiles, as (file name, YAML).
pub const SHIPPED_PROFILE_SOURCES: &[(&str, &str)] = &[
    (
        "ubuntu-jammy-k8s-1.30-calico.yaml",
        include_str!("../../assets/profiles/ubuntu-jammy-k8s-1.30-calico.yaml"),
    ),
    (
        "ubuntu-noble-k8s-1.31-cilium.yaml",
        include_str!("../../assets/profiles/ubuntu-noble-k8s-1.31-cilium.yaml"),
    ),
    (
        "ubuntu-noble-k8s-1.32-calico.yaml",
        include_str!("../../assets/profiles/ubuntu-noble-k8s-1.32-calico.yaml"),
    ),
];

/// The profiles kubemaas ships. A shipped file that does not import (the tests prevent it) is
/// logged and left out rather than taking the program down.
pub fn shipped_profiles() -> Vec<ClusterProfile> {
    SHIPPED_PROFILE_SOURCES
        .iter()
        .filter_map(|(file, text)| match import_profile(text) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(file, error = %e, "a shipped cluster profile does not import");
                None
            }
        })
        .collect()
}

/// The shipped profile named `name`.
pub fn shipped_profile(name: &str) -> Option<ClusterProfile> {
    shipped_profiles()
        .into_iter()
        .find(|p| p.metadata.name == name)
}

/// The name of the profile `kubemaas cluster new` puts in a template.
pub const DEFAULT_PROFILE: &str = "ubuntu-jammy-k8s-1.30-calico";

/// Reads and checks an operator's profile.
pub fn import_profile(text: &str) -> Result<ClusterProfile, ProfileError> {
    let profile: ClusterProfile = parse_document(text, PROFILE_KIND)?;
    profile
        .validate()
        .map_err(|problems| ProfileError::Invalid {
            name: profile.metadata.name.clone(),
            problems,
        })?;
    Ok(profile)
}

impl ClusterProfile {
    /// An empty profile document with this name, for building one in code (the console wizard).
    pub fn new(name: impl Into<String>, layers: Vec<Layer>) -> Self {
        ClusterProfile {
            api_version: API_VERSION.to_string(),
            kind: PROFILE_KIND.to_string(),
            metadata: ProfileMetadata {
                name: name.into(),
                version: default_profile_version(),
                description: String::new(),
            },
            spec: ProfileSpec { layers },
        }
    }

    pub fn to_yaml(&self) -> String {
        to_yaml(self)
    }

    /// The layer of pack `name`.
    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.spec.layers.iter().find(|l| l.name == name)
    }

    /// The first layer of `kind`.
    pub fn layer_of(&self, kind: LayerKind) -> Option<&Layer> {
        self.spec.layers.iter().find(|l| l.kind == kind)
    }

    /// Checks the whole profile and lists every problem.
    pub fn validate(&self) -> Result<(), Problems> {
        let mut problems = Problems::new();
        if let Err(e) = names::check_dns1123_subdomain(&self.metadata.name) {
            problems.push("metadata.name", format!("the profile name {e}"));
        }
        if self.metadata.version.trim().is_empty() {
            problems.push(
                "metadata.version",
                "is empty: give the profile a version like `1.0.0`",
            );
        }
        check_layer_order(&self.spec.layers, &mut problems);
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, layer) in self.spec.layers.iter().enumerate() {
            let path = format!("spec.layers[{i}]");
            if let Some(first) = seen.insert(layer.name.as_str(), i) {
                problems.push(
                    format!("{path}.name"),
                    format!(
                        "pack `{}` is already layer {first}: pack names must be unique, since cluster specs override values by pack name",
                        layer.name
                    ),
                );
            }
            if let Err(e) = names::check_dns1123_label(&layer.name) {
                problems.push(format!("{path}.name"), format!("the pack name {e}"));
            }
            if layer.version.trim().is_empty() {
                problems.push(
                    format!("{path}.version"),
                    "is empty: give the pack's version, like `3.28.2`",
                );
            }
            check_layer_values(
                layer,
                &layer.values,
                &format!("{path}.values"),
                &mut problems,
            );
        }
        problems.into_result()
    }

    /// The profile with a spec's per-pack overrides merged in, and its settings read into types.
    /// Override problems are reported at `spec.profile.overrides.<pack>` of the cluster spec.
    pub fn resolve(
        &self,
        overrides: &BTreeMap<String, Value>,
    ) -> Result<ResolvedProfile, Problems> {
        let mut problems = Problems::new();
        for (pack, values) in overrides {
            let path = format!("spec.profile.overrides.{pack}");
            if self.layer(pack).is_none() {
                let known = self.spec.layers.iter().map(|l| l.name.as_str());
                problems.push(
                    path,
                    format!(
                        "profile `{}` has no pack `{pack}`{}",
                        self.metadata.name,
                        suggest::hint(pack, known)
                    ),
                );
            } else if !(values.is_mapping() || values.is_null()) {
                problems.push(path, "must be a mapping of the pack's values to change");
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut profile = self.clone();
        for layer in &mut profile.spec.layers {
            if let Some(over) = overrides.get(&layer.name) {
                layer.values = merged(&layer.values, over);
                let path = format!("spec.profile.overrides.{}", layer.name);
                check_layer_values(layer, &layer.values, &path, &mut problems);
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        // The profile was validated at import; a profile built in code may not have been.
        profile.validate()?;
        ResolvedProfile::from_valid(profile)
    }
}

/// A profile with overrides applied and its main settings typed, for the engine and the wizard.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedProfile {
    pub profile: ClusterProfile,
    pub os: OsValues,
    pub kubernetes_version: KubernetesVersion,
    pub kubernetes: KubernetesValues,
    pub cni: Cni,
    pub cni_version: String,
    pub network: NetworkValues,
    /// Storage, then add-on layers, in profile order.
    pub extra_layers: Vec<Layer>,
}

impl ResolvedProfile {
    fn from_valid(profile: ClusterProfile) -> Result<Self, Problems> {
        let missing = |kind: LayerKind| {
            let mut p = Problems::new();
            p.push("spec.layers", format!("there is no {kind} layer"));
            p
        };
        let os_layer = profile
            .layer_of(LayerKind::Os)
            .ok_or_else(|| missing(LayerKind::Os))?;
        let k8s_layer = profile
            .layer_of(LayerKind::Kubernetes)
            .ok_or_else(|| missing(LayerKind::Kubernetes))?;
        let net_layer = profile
            .layer_of(LayerKind::Network)
            .ok_or_else(|| missing(LayerKind::Network))?;
        let typed = |e: String| {
            let mut p = Problems::new();
            p.push("spec.layers", e);
            p
        };
        let os: OsValues =
            serde_yaml::from_value(os_layer.values.clone()).map_err(|e| typed(e.to_string()))?;
        let kubernetes: KubernetesValues =
            serde_yaml::from_value(k8s_layer.values.clone()).map_err(|e| typed(e.to_string()))?;
        let network: NetworkValues =
            serde_yaml::from_value(net_layer.values.clone()).map_err(|e| typed(e.to_string()))?;
        let kubernetes_version: KubernetesVersion = k8s_layer.version.parse().map_err(typed)?;
        let cni = Cni::from_pack_name(&net_layer.name)
            .ok_or_else(|| typed(format!("unknown CNI `{}`", net_layer.name)))?;
        let cni_version = net_layer.version.clone();
        let extra_layers = profile
            .spec
            .layers
            .iter()
            .filter(|l| matches!(l.kind, LayerKind::Storage | LayerKind::Addon))
            .cloned()
            .collect();
        Ok(ResolvedProfile {
            profile,
            os,
            kubernetes_version,
            kubernetes,
            cni,
            cni_version,
            network,
            extra_layers,
        })
    }
}

fn check_layer_order(layers: &[Layer], problems: &mut Problems) {
    for required in [LayerKind::Os, LayerKind::Kubernetes, LayerKind::Network] {
        let count = layers.iter().filter(|l| l.kind == required).count();
        if count == 0 {
            problems.push(
                "spec.layers",
                format!(
                    "there is no `{required}` layer: a profile needs exactly one os, one kubernetes and one network layer, in that order"
                ),
            );
        } else if count > 1 {
            problems.push(
                "spec.layers",
                format!("there are {count} `{required}` layers: keep exactly one"),
            );
        }
    }
    if layers
        .iter()
        .filter(|l| l.kind == LayerKind::Storage)
        .count()
        > 1
    {
        problems.push(
            "spec.layers",
            "there is more than one `storage` layer: keep at most one",
        );
    }
    for (i, pair) in layers.windows(2).enumerate() {
        if pair[1].kind < pair[0].kind {
            problems.push(
                format!("spec.layers[{}].type", i + 1),
                format!(
                    "this `{}` layer comes after a `{}` layer: order layers os, kubernetes, network, storage, then add-ons",
                    pair[1].kind, pair[0].kind
                ),
            );
        }
    }
}

/// Checks one layer's values (as shipped or after overrides) against what its kind needs.
fn check_layer_values(layer: &Layer, values: &Value, path: &str, problems: &mut Problems) {
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
                for (i, pem) in os.ca_certificates.iter().enumerate() {
                    if !pem.contains("-----BEGIN CERTIFICATE-----") {
                        problems.push(format!("{path}.caCertificates[{i}]"), "is not a PEM certificate: paste it with its -----BEGIN CERTIFICATE----- line");
                    }
                }
            }
            LayerKind::Kubernetes => {
                if let Err(e) = layer.version.parse::<KubernetesVersion>() {
                    problems.push(path.replace(".values", ".version"), e);
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
                for (registry, mirrors) in &k.registry_mirrors {
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
                check_url(
                    &n.manifest_url,
                    &format!("{path}.manifestUrl"),
                    &["http", "https", "file"],
                    problems,
                );
            }
            LayerKind::Storage | LayerKind::Addon => {
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
            let hint = super::document::unknown_field_hint_for(&msg).unwrap_or_default();
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
