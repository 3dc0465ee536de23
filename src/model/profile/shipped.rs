//! The profiles kubemaas ships, embedded from `assets/profiles/` so the binary needs no files.

use super::{import_profile, ClusterProfile};

/// The shipped profiles, as (file name, YAML).
pub const SHIPPED_PROFILE_SOURCES: &[(&str, &str)] = &[
    (
        "ubuntu-jammy-k8s-1.30-calico.yaml",
        include_str!("../../../assets/profiles/ubuntu-jammy-k8s-1.30-calico.yaml"),
    ),
    (
        "ubuntu-noble-k8s-1.31-cilium.yaml",
        include_str!("../../../assets/profiles/ubuntu-noble-k8s-1.31-cilium.yaml"),
    ),
    (
        "ubuntu-noble-k8s-1.32-calico.yaml",
        include_str!("../../../assets/profiles/ubuntu-noble-k8s-1.32-calico.yaml"),
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
