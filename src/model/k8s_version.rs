//! Kubernetes versions: the one type profiles name (`1.30.6`, a leading `v` tolerated), the
//! window kubemaas can bootstrap, and the version-dependent choices bootstrap makes from it
//! (kubeadm configuration API, pause image, kube-vip's kubeconfig during init).
//!
//! It lives in the model because a version is chosen and validated there (cluster profiles);
//! bootstrap re-exports it for its plan, so the engine maps a profile to a plan without
//! converting versions. Parsing (`FromStr`, serde) checks the shape only, so a plan or profile
//! with an unsupported release still reads and then fails validation with the field named;
//! [`KubernetesVersion::parse_supported`] checks both at once.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The oldest and newest minor versions the bootstrap generator has kubeadm configuration for.
pub const OLDEST_MINOR: u32 = 28;
pub const NEWEST_MINOR: u32 = 33;

/// An exact Kubernetes release, `1.30.2`. Exact because packages are pinned to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// kubeadm's configuration API versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeadmApi {
    V1Beta3,
    V1Beta4,
}

impl KubeadmApi {
    pub fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1Beta3 => "kubeadm.k8s.io/v1beta3",
            KubeadmApi::V1Beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }
}

/// Why a string is not a Kubernetes version kubemaas can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionParseError {
    #[error("`{0}` is not a Kubernetes version: write MAJOR.MINOR.PATCH, like `1.30.6` (a leading `v` is accepted)")]
    Shape(String),
    #[error("Kubernetes {0} is outside what kubemaas can bootstrap: use a 1.{OLDEST_MINOR}.x to 1.{NEWEST_MINOR}.x release")]
    Unsupported(KubernetesVersion),
}

impl KubernetesVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KubernetesVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parses and checks the release is one kubemaas can bootstrap (what profiles accept).
    pub fn parse_supported(raw: &str) -> Result<Self, VersionParseError> {
        let v: KubernetesVersion = raw.parse()?;
        if !v.is_supported() {
            return Err(VersionParseError::Unsupported(v));
        }
        Ok(v)
    }

    /// Within 1.[`OLDEST_MINOR`] to 1.[`NEWEST_MINOR`].
    pub fn is_supported(&self) -> bool {
        self.major == 1 && (OLDEST_MINOR..=NEWEST_MINOR).contains(&self.minor)
    }

    /// `v1.30.2`, as kubeadm's `kubernetesVersion` and image tags spell it.
    pub fn tag(&self) -> String {
        format!("v{self}")
    }

    /// `1.30`, as pkgs.k8s.io names its per-minor repositories.
    pub fn minor_string(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// v1beta4 exists from 1.31, and v1beta3 is deprecated there; before it only v1beta3 works.
    pub fn kubeadm_api(&self) -> KubeadmApi {
        if self.minor >= 31 {
            KubeadmApi::V1Beta4
        } else {
            KubeadmApi::V1Beta3
        }
    }

    /// The kubeadm configuration API this version takes, as its `apiVersion` string.
    pub fn kubeadm_api_version(&self) -> &'static str {
        self.kubeadm_api().api_version()
    }

    /// From 1.29 `admin.conf` is only bound to its RBAC group once `kubeadm init` has run, so
    /// kube-vip on the first node must use `super-admin.conf` while init runs.
    pub fn init_needs_super_admin(&self) -> bool {
        self.minor >= 29
    }

    /// The pause image kubeadm of this minor expects; containerd's default is older and makes
    /// kubeadm warn, and an air-gapped mirror may only carry the expected one.
    pub fn pause_image(&self) -> &'static str {
        match self.minor {
            0..=24 => "registry.k8s.io/pause:3.7",
            25 => "registry.k8s.io/pause:3.8",
            26..=30 => "registry.k8s.io/pause:3.9",
            31..=33 => "registry.k8s.io/pause:3.10",
            _ => "registry.k8s.io/pause:3.10.1",
        }
    }

    /// [`Self::pause_image`] from `repository` (kubeadm's `imageRepository`), where kubeadm
    /// expects it: an air-gapped site's copy of registry.k8s.io holds it beside the
    /// control-plane images.
    pub fn pause_image_in(&self, repository: &str) -> String {
        let tag = self
            .pause_image()
            .rsplit_once(':')
            .map_or("3.9", |(_, tag)| tag);
        format!("{}/pause:{tag}", repository.trim_end_matches('/'))
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for KubernetesVersion {
    type Err = VersionParseError;

    /// The shape only: three dot-separated numbers, an optional leading `v`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let text = raw.trim();
        let err = || VersionParseError::Shape(text.to_string());
        let bare = text.strip_prefix('v').unwrap_or(text);
        let mut parts = bare.split('.');
        let mut next = || -> Result<u32, VersionParseError> {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse().map_err(|_| err())
        };
        let v = KubernetesVersion::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(v)
    }
}

impl Serialize for KubernetesVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KubernetesVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_and_without_v() {
        assert_eq!(
            "v1.30.2".parse::<KubernetesVersion>().unwrap(),
            KubernetesVersion::new(1, 30, 2)
        );
        assert_eq!(
            "1.31.0".parse::<KubernetesVersion>().unwrap().tag(),
            "v1.31.0"
        );
        for bad in ["1.30", "1.30.x", "", "1.30.2.1", "v", "1..2", "+1.2.3"] {
            assert!(bad.parse::<KubernetesVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_and_picks_kubeadm_api() {
        let v = KubernetesVersion::parse_supported("v1.30.6").unwrap();
        assert_eq!(v.to_string(), "1.30.6");
        assert_eq!(v.tag(), "v1.30.6");
        assert_eq!(v.kubeadm_api_version(), "kubeadm.k8s.io/v1beta3");
        let v = KubernetesVersion::parse_supported("1.31.0").unwrap();
        assert_eq!(v.kubeadm_api_version(), "kubeadm.k8s.io/v1beta4");
        assert_eq!(v.minor_string(), "1.31");
    }

    #[test]
    fn api_and_kube_vip_choices_follow_the_minor() {
        let v = |m| KubernetesVersion::new(1, m, 0);
        assert_eq!(v(30).kubeadm_api(), KubeadmApi::V1Beta3);
        assert_eq!(v(31).kubeadm_api(), KubeadmApi::V1Beta4);
        assert!(!v(28).init_needs_super_admin());
        assert!(v(29).init_needs_super_admin());
        assert!(!v(23).is_supported());
    }

    #[test]
    fn refuses_other_shapes_and_unsupported_releases() {
        for bad in [
            "1.30", "1.30.x", "latest", "", "1..2", "2.0.0", "1.20.1", "1.99.0", "+1.30.1",
        ] {
            assert!(KubernetesVersion::parse_supported(bad).is_err(), "{bad}");
        }
        // The shape alone reads, so a plan names the unsupported field instead.
        assert_eq!(
            "1.23.0".parse::<KubernetesVersion>(),
            Ok(KubernetesVersion::new(1, 23, 0))
        );
        assert!(KubernetesVersion::parse_supported("1.23.0")
            .unwrap_err()
            .to_string()
            .contains("1.28.x to 1.33.x"));
    }
}
