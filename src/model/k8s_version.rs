//! Kubernetes versions as profiles name them (`1.30.6`, a leading `v` tolerated), the window
//! kubemaas can bootstrap, and the kubeadm configuration API each version takes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The oldest and newest minor versions the bootstrap generator has kubeadm configuration for.
pub const OLDEST_MINOR: u32 = 28;
pub const NEWEST_MINOR: u32 = 33;

/// A full Kubernetes release version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KubernetesVersion {
    /// The kubeadm configuration API this version takes: v1beta3 up to 1.30, v1beta4 from 1.31.
    pub fn kubeadm_api_version(&self) -> &'static str {
        if self.minor <= 30 {
            "kubeadm.k8s.io/v1beta3"
        } else {
            "kubeadm.k8s.io/v1beta4"
        }
    }

    /// `v1.30.6`, as kubeadm's `kubernetesVersion` wants it.
    pub fn with_v(&self) -> String {
        format!("v{self}")
    }

    /// `1.30`, as pkgs.k8s.io names its per-minor repositories.
    pub fn minor_string(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for KubernetesVersion {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let text = raw.trim();
        let bare = text.strip_prefix('v').unwrap_or(text);
        let parts: Vec<&str> = bare.split('.').collect();
        let numbers: Option<Vec<u32>> = parts
            .iter()
            .map(|p| {
                if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) {
                    p.parse().ok()
                } else {
                    None
                }
            })
            .collect();
        let numbers = match numbers {
            Some(n) if n.len() == 3 => n,
            _ => {
                return Err(format!(
                    "`{text}` is not a Kubernetes version: write MAJOR.MINOR.PATCH, like `1.30.6`"
                ))
            }
        };
        let v = KubernetesVersion {
            major: numbers[0],
            minor: numbers[1],
            patch: numbers[2],
        };
        if v.major != 1 || !(OLDEST_MINOR..=NEWEST_MINOR).contains(&v.minor) {
            return Err(format!(
                "Kubernetes {v} is outside what kubemaas can bootstrap: use a 1.{OLDEST_MINOR}.x to 1.{NEWEST_MINOR}.x release"
            ));
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
    fn parses_and_picks_kubeadm_api() {
        let v: KubernetesVersion = "v1.30.6".parse().unwrap();
        assert_eq!(v.to_string(), "1.30.6");
        assert_eq!(v.with_v(), "v1.30.6");
        assert_eq!(v.kubeadm_api_version(), "kubeadm.k8s.io/v1beta3");
        let v: KubernetesVersion = "1.31.0".parse().unwrap();
        assert_eq!(v.kubeadm_api_version(), "kubeadm.k8s.io/v1beta4");
        assert_eq!(v.minor_string(), "1.31");
    }

    #[test]
    fn refuses_other_shapes_and_unsupported_releases() {
        for bad in [
            "1.30", "1.30.x", "latest", "", "1..2", "2.0.0", "1.20.1", "1.99.0", "+1.30.1",
        ] {
            assert!(bad.parse::<KubernetesVersion>().is_err(), "{bad}");
        }
    }
}
