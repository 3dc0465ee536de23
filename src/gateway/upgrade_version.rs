//! Which kubemaas and which wire protocol each side runs, whether a console and a gateway can
//! talk, and what changed between two versions.
//!
//! Every console request carries [`PROTOCOL_HEADER`] and [`PROTOCOL_MIN_HEADER`] (the range of
//! protocols it speaks) and [`VERSION_HEADER`]; every gateway answer carries the same about the
//! gateway. Two sides can talk when their ranges overlap ([`negotiate`]). A peer that sends no
//! protocol header predates the headers, which came with protocol 1: it is taken as `[1, 1]`.
//!
//! Testing hook: `KUBEMAAS_REPORT_VERSION` and `KUBEMAAS_REPORT_PROTOCOL` make this build report
//! another kubemaas version / protocol (the protocol override sets both ends of the range). The
//! upgrade tests use them to play a "newer" build with the same binary; nothing else should.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// The newest protocol this build speaks (see [`super::PROTOCOL_VERSION`]).
pub const PROTOCOL_HEADER: &str = "x-kubemaas-protocol";
/// The oldest protocol this build still speaks.
pub const PROTOCOL_MIN_HEADER: &str = "x-kubemaas-protocol-min";
/// The kubemaas version of the sender.
pub const VERSION_HEADER: &str = "x-kubemaas-version";
/// The oldest protocol this build still speaks. Raise it when a change cannot be spoken
/// down; a console and a gateway with no protocol in common refuse each other.
pub const OLDEST_PROTOCOL: u32 = 1;

const VERSION_ENV: &str = "KUBEMAAS_REPORT_VERSION";
const PROTOCOL_ENV: &str = "KUBEMAAS_REPORT_PROTOCOL";

/// The protocols one side speaks, oldest to newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolRange {
    pub oldest: u32,
    pub newest: u32,
}

impl ProtocolRange {
    /// What a peer that sent no protocol header speaks.
    pub const LEGACY: ProtocolRange = ProtocolRange {
        oldest: 1,
        newest: 1,
    };

    /// What this build speaks (or what `KUBEMAAS_REPORT_PROTOCOL` says, for tests).
    pub fn ours() -> ProtocolRange {
        match std::env::var(PROTOCOL_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
        {
            Some(p) => ProtocolRange {
                oldest: p,
                newest: p,
            },
            None => ProtocolRange {
                oldest: OLDEST_PROTOCOL,
                newest: super::PROTOCOL_VERSION,
            },
        }
    }

    /// A range from header values: `newest` alone means exactly that one; nothing at all means
    /// [`ProtocolRange::LEGACY`]. `None` when a value is not a number.
    pub fn from_headers(newest: Option<&str>, oldest: Option<&str>) -> Option<ProtocolRange> {
        let Some(newest) = newest else {
            return Some(ProtocolRange::LEGACY);
        };
        let newest: u32 = newest.trim().parse().ok()?;
        let oldest: u32 = match oldest {
            Some(o) => o.trim().parse().ok()?,
            None => newest,
        };
        Some(ProtocolRange {
            oldest: oldest.min(newest),
            newest,
        })
    }
}

impl fmt::Display for ProtocolRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.oldest == self.newest {
            write!(f, "protocol {}", self.newest)
        } else {
            write!(f, "protocols {}-{}", self.oldest, self.newest)
        }
    }
}

/// The kubemaas version this build reports (or `KUBEMAAS_REPORT_VERSION`, for tests).
pub fn running_version() -> String {
    std::env::var(VERSION_ENV)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| Version::parse(v).is_some())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
}

/// Which side has to move when two sides share no protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behind {
    Console,
    Gateway,
}

/// Console and gateway share no protocol. Its message names both and what to upgrade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", incompatible_message(self))]
pub struct Incompatible {
    pub gateway: String,
    pub console: ProtocolRange,
    pub console_version: String,
    pub gateway_protocols: ProtocolRange,
    pub gateway_version: String,
}

impl Incompatible {
    /// The side that is older and must be upgraded.
    pub fn behind(&self) -> Behind {
        if self.console.newest < self.gateway_protocols.oldest {
            Behind::Console
        } else {
            Behind::Gateway
        }
    }
}

fn incompatible_message(e: &Incompatible) -> String {
    let head = format!(
        "gateway {} runs kubemaas {} ({}) and this console kubemaas {} ({}): they have no protocol in common",
        e.gateway, e.gateway_version, e.gateway_protocols, e.console_version, e.console
    );
    match e.behind() {
        Behind::Console => format!(
            "{head}; upgrade this console to kubemaas {} (the gateway's version) or newer",
            e.gateway_version
        ),
        Behind::Gateway => format!(
            "{head}; upgrade the gateway from this console with `kubemaas gateway upgrade {}`",
            e.gateway
        ),
    }
}

/// The protocol two sides speak together: the newest one both know.
pub fn negotiate(console: ProtocolRange, gateway: ProtocolRange) -> Option<u32> {
    let low = console.oldest.max(gateway.oldest);
    let high = console.newest.min(gateway.newest);
    (low <= high).then_some(high)
}

/// A kubemaas version: `MAJOR.MINOR.PATCH[-PRE]`, compared numerically (a pre-release sorts
/// before its release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    numbers: [u64; 3],
    pre: Option<String>,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim().trim_start_matches('v');
        let (core, pre) = match text.split_once('-') {
            Some((c, p)) => (c, Some(p.to_string())),
            None => (text, None),
        };
        let mut numbers = [0u64; 3];
        let mut parts = core.split('.');
        for n in numbers.iter_mut() {
            *n = parts.next()?.parse().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        Some(Version { numbers, pre })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

/// One kubemaas release as consoles describe it to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub version: &'static str,
    /// The newest protocol that release speaks.
    pub protocol: u32,
    pub changes: &'static [&'static str],
}

/// What each release changed for gateways and consoles, oldest first. A new release adds a
/// row; the protocol column moves only when the wire protocol does.
pub const CHANGELOG: &[Release] = &[Release {
    version: "0.1.0",
    protocol: 1,
    changes: &[
        "gateways: pairing with one-time codes, every request mutually authenticated",
        "the engine's API, live event streams and cloud accounts served to paired consoles",
        "protocol and version checks both ways; `kubemaas gateway upgrade` with queued cluster requests",
    ],
}];

/// The releases after `from` up to and including `to`.
pub fn changes_between(from: &str, to: &str) -> Vec<Release> {
    let (Some(from), Some(to)) = (Version::parse(from), Version::parse(to)) else {
        return Vec::new();
    };
    CHANGELOG
        .iter()
        .filter(|r| Version::parse(r.version).is_some_and(|v| v > from && v <= to))
        .copied()
        .collect()
}

/// A gateway that runs an older kubemaas than this console: what the console tells the
/// operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionNotice {
    pub gateway: String,
    pub gateway_version: String,
    pub console_version: String,
    /// What the newer releases change, one line each (empty when the changelog of this
    /// console records none).
    pub changes: Vec<String>,
}

impl fmt::Display for VersionNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gateway {} runs {}, this console {}: upgrade it with `kubemaas gateway upgrade {}`",
            self.gateway, self.gateway_version, self.console_version, self.gateway
        )?;
        if self.changes.is_empty() {
            write!(
                f,
                "\n  (this console's changelog records no change between them)"
            )?;
        }
        for c in &self.changes {
            write!(f, "\n  - {c}")?;
        }
        Ok(())
    }
}

/// `Some` when gateway `name`, running `gateway_version`, is older than `console_version`.
/// Versions that cannot be read are not compared (nothing to say).
pub fn notice(name: &str, gateway_version: &str, console_version: &str) -> Option<VersionNotice> {
    let (g, c) = (
        Version::parse(gateway_version)?,
        Version::parse(console_version)?,
    );
    if g >= c {
        return None;
    }
    let changes = changes_between(gateway_version, console_version)
        .into_iter()
        .flat_map(|r| {
            r.changes
                .iter()
                .map(move |c| format!("{} (protocol {}): {c}", r.version, r.protocol))
        })
        .collect();
    Some(VersionNotice {
        gateway: name.to_string(),
        gateway_version: gateway_version.to_string(),
        console_version: console_version.to_string(),
        changes,
    })
}

/// What the console shows about gateway `name` (from its `/v1/info`): `Some` when it runs an
/// older kubemaas than this console.
pub fn notice_for(name: &str, info: &super::protocol::GatewayInfo) -> Option<VersionNotice> {
    notice(name, &info.version, &running_version())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(oldest: u32, newest: u32) -> ProtocolRange {
        ProtocolRange { oldest, newest }
    }

    #[test]
    fn overlapping_ranges_speak_the_newest_common_protocol() {
        assert_eq!(negotiate(range(1, 3), range(2, 2)), Some(2));
        assert_eq!(negotiate(range(2, 2), range(1, 3)), Some(2));
        assert_eq!(negotiate(range(1, 1), range(2, 3)), None);
        assert_eq!(negotiate(range(4, 5), range(1, 3)), None);
    }

    #[test]
    fn an_incompatible_pair_says_which_side_to_upgrade() {
        let e = Incompatible {
            gateway: "dc1".into(),
            console: range(1, 1),
            console_version: "0.1.0".into(),
            gateway_protocols: range(3, 4),
            gateway_version: "0.4.0".into(),
        };
        assert_eq!(e.behind(), Behind::Console);
        let text = e.to_string();
        assert!(text.contains("protocols 3-4") && text.contains("protocol 1"));
        assert!(
            text.contains("upgrade this console to kubemaas 0.4.0"),
            "{text}"
        );
        let e = Incompatible {
            console: range(5, 6),
            ..e
        };
        assert_eq!(e.behind(), Behind::Gateway);
        assert!(e.to_string().contains("kubemaas gateway upgrade dc1"));
    }

    #[test]
    fn headers_default_to_the_legacy_protocol_and_reject_garbage() {
        assert_eq!(
            ProtocolRange::from_headers(None, None),
            Some(ProtocolRange::LEGACY)
        );
        assert_eq!(
            ProtocolRange::from_headers(Some("3"), None),
            Some(range(3, 3))
        );
        assert_eq!(
            ProtocolRange::from_headers(Some("3"), Some("2")),
            Some(range(2, 3))
        );
        assert_eq!(ProtocolRange::from_headers(Some("x"), None), None);
    }

    #[test]
    fn versions_compare_numerically_with_pre_releases_first() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("0.10.0") > v("0.9.9"));
        assert!(v("1.0.0-rc1") < v("1.0.0"));
        assert!(v("v0.2.0") == v("0.2.0"));
        assert!(Version::parse("1.2").is_none() && Version::parse("1.2.3.4").is_none());
    }

    #[test]
    fn an_older_gateway_gets_a_notice_with_the_changes_in_between() {
        let n = notice("dc1", "0.0.9", "0.1.0").unwrap();
        let text = n.to_string();
        assert!(text.starts_with("gateway dc1 runs 0.0.9, this console 0.1.0"));
        assert_eq!(n.changes.len(), CHANGELOG[0].changes.len());
        assert!(notice("dc1", "0.1.0", "0.1.0").is_none());
        assert!(notice("dc1", "0.2.0", "0.1.0").is_none());
        let none = notice("dc1", "0.1.0", "0.2.0").unwrap();
        assert!(none.changes.is_empty());
        assert!(none.to_string().contains("records no change"));
    }
}
