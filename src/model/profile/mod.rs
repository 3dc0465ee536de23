//! Cluster profiles: what software a cluster runs, as ordered layers — OS, Kubernetes, network
//! (CNI), optional storage (CSI), then add-ons — each a pack with a name, a version and YAML
//! values. The values carry everything an air-gapped site changes (apt mirror, Kubernetes
//! package repository, image registry and mirrors, CNI manifest location), so a site adapts a
//! profile without kubemaas knowing its network. Shipped defaults live in `assets/profiles/`.

mod shipped;
mod values;

pub use shipped::{shipped_profile, shipped_profiles, DEFAULT_PROFILE, SHIPPED_PROFILE_SOURCES};
pub(crate) use values::check_url;
pub use values::{
    default_kube_vip_image, is_image_reference, is_package_name, is_registry_host,
    pack_kubectl_steps, KubernetesValues, ManifestValues, NetworkValues, OsValues,
    PackageRepository, OWNED_CLUSTER_CONFIGURATION, OWNED_KUBELET_FLAGS,
};

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
use values::check_layer_values;

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
    #[serde(default = "default_profile_version", deserialize_with = "version_text")]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A version as text. YAML reads `1.30` as the number 1.3, silently dropping the zero, so a
/// float is refused with the fix rather than turned into a wrong version; whole numbers are
/// taken as written.
fn version_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Value::Number(n) => Err(serde::de::Error::custom(format!(
            "version {n} was read as a number, and YAML drops trailing zeros (1.30 becomes 1.3): put the version in quotes, like version: \"24.04\""
        ))),
        _ => Err(serde::de::Error::custom("a version must be text, like \"1.30.6\"")),
    }
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
    #[serde(deserialize_with = "version_text")]
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

/// Why an operator's profile file is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Document(#[from] DocumentError),
    #[error("profile `{name}` is not usable:\n{problems}")]
    Invalid { name: String, problems: Problems },
}

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
        let kubernetes_version = KubernetesVersion::parse_supported(&k8s_layer.version)
            .map_err(|e| typed(e.to_string()))?;
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
