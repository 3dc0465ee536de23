//! Kubernetes versions, and the version-dependent choices bootstrap makes from them.

use super::error::BootstrapError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An exact Kubernetes release, `1.30.2`. Exact because packages are pinned to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// The oldest minor this module generates for: pkgs.k8s.io starts at 1.24, and kubeadm's
/// v1beta3 API (the oldest we emit) is accepted by every kubeadm from then on.
pub const MIN_SUPPORTED_MINOR: u32 = 24;

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

impl KubernetesVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KubernetesVersion {
            major,
            minor,
            patch,
        }
    }

    /// `v1.30.2`, as kubeadm's `kubernetesVersion` and image tags spell it.
    pub fn tag(&self) -> String {
        format!("v{self}")
    }

    /// v1beta4 exists from 1.31, and v1beta3 is deprecated there; before it only v1beta3 works.
    pub fn kubeadm_api(&self) -> KubeadmApi {
        if self.minor >= 31 {
            KubeadmApi::V1Beta4
        } else {
            KubeadmApi::V1Beta3
        }
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

    pub(crate) fn check_supported(&self) -> Result<(), BootstrapError> {
        if self.major != 1 || self.minor < MIN_SUPPORTED_MINOR {
            return Err(BootstrapError::plan(
                "cluster.kubernetes_version",
                format!("Kubernetes {self} is not supported"),
                format!("choose 1.{MIN_SUPPORTED_MINOR} or newer in the cluster profile"),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why a string is not a Kubernetes version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an exact Kubernetes version: write it as 1.30.2 (or v1.30.2)")]
pub struct VersionParseError(String);

impl FromStr for KubernetesVersion {
    type Err = VersionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionParseError(s.to_string());
        let body = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let mut parts = body.split('.');
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
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
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
    fn api_and_kube_vip_choices_follow_the_minor() {
        let v = |m| KubernetesVersion::new(1, m, 0);
        assert_eq!(v(30).kubeadm_api(), KubeadmApi::V1Beta3);
        assert_eq!(v(31).kubeadm_api(), KubeadmApi::V1Beta4);
        assert!(!v(28).init_needs_super_admin());
        assert!(v(29).init_needs_super_admin());
        assert!(v(23).check_supported().is_err());
    }
}
