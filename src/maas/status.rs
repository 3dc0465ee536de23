//! MAAS node statuses: the integer codes, the display labels MAAS puts in `status_name`, and the
//! one-word names the machines listing takes as a `status=` filter. The table is MAAS's own
//! (`maascommon/enums/node.py` and `NODE_STATUS_LABELS`), irregular labels included.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! node_statuses {
    ($($variant:ident = $code:literal, $label:literal, $filter:literal;)*) => {
        /// A machine's lifecycle state as MAAS reports it in `status`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum NodeStatus { $($variant = $code),* }

        impl NodeStatus {
            /// Every status, in code order.
            pub const ALL: &'static [NodeStatus] = &[$(NodeStatus::$variant),*];

            /// The integer MAAS sends in `status`.
            pub fn code(self) -> u8 { self as u8 }

            /// The status for an integer code, if MAAS defines it.
            pub fn from_code(code: u64) -> Option<Self> {
                match code { $($code => Some(NodeStatus::$variant),)* _ => None }
            }

            /// The display label MAAS sends in `status_name` ("Failed deployment", "Releasing failed").
            pub fn label(self) -> &'static str {
                match self { $(NodeStatus::$variant => $label),* }
            }

            /// The lowercase one-word name the `status=` filter of the machines listing takes.
            pub fn filter_name(self) -> &'static str {
                match self { $(NodeStatus::$variant => $filter),* }
            }
        }
    };
}

node_statuses! {
    New = 0, "New", "new";
    Commissioning = 1, "Commissioning", "commissioning";
    FailedCommissioning = 2, "Failed commissioning", "failed_commissioning";
    Missing = 3, "Missing", "missing";
    Ready = 4, "Ready", "ready";
    Reserved = 5, "Reserved", "reserved";
    Deployed = 6, "Deployed", "deployed";
    Retired = 7, "Retired", "retired";
    Broken = 8, "Broken", "broken";
    Deploying = 9, "Deploying", "deploying";
    Allocated = 10, "Allocated", "allocated";
    FailedDeployment = 11, "Failed deployment", "failed_deployment";
    Releasing = 12, "Releasing", "releasing";
    FailedReleasing = 13, "Releasing failed", "failed_releasing";
    DiskErasing = 14, "Disk erasing", "disk_erasing";
    FailedDiskErasing = 15, "Failed disk erasing", "failed_disk_erasing";
    RescueMode = 16, "Rescue mode", "rescue_mode";
    EnteringRescueMode = 17, "Entering rescue mode", "entering_rescue_mode";
    FailedEnteringRescueMode = 18, "Failed to enter rescue mode", "failed_entering_rescue_mode";
    ExitingRescueMode = 19, "Exiting rescue mode", "exiting_rescue_mode";
    FailedExitingRescueMode = 20, "Failed to exit rescue mode", "failed_exiting_rescue_mode";
    Testing = 21, "Testing", "testing";
    FailedTesting = 22, "Failed testing", "failed_testing";
}

impl NodeStatus {
    /// The status whose `status=` filter name or display label is `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        let wanted = name.trim();
        Self::ALL.iter().copied().find(|s| {
            s.filter_name().eq_ignore_ascii_case(wanted) || s.label().eq_ignore_ascii_case(wanted)
        })
    }

    /// Statuses in which a machine belongs to a user (MAAS's `ALLOCATED_NODE_STATUSES`).
    pub fn is_owned(self) -> bool {
        use NodeStatus::*;
        matches!(
            self,
            Allocated
                | Deploying
                | Deployed
                | FailedDeployment
                | Releasing
                | FailedReleasing
                | DiskErasing
                | FailedDiskErasing
                | RescueMode
                | EnteringRescueMode
                | FailedEnteringRescueMode
                | ExitingRescueMode
                | FailedExitingRescueMode
                | Testing
                | FailedTesting
        )
    }

    /// Statuses from which `op=release` is accepted (MAAS's `RELEASABLE_STATUSES`).
    pub fn is_releasable(self) -> bool {
        use NodeStatus::*;
        matches!(
            self,
            Allocated
                | Reserved
                | Broken
                | Deploying
                | Deployed
                | FailedDeployment
                | FailedDiskErasing
                | FailedReleasing
        )
    }

    /// A failure state that needs an operator or a replacement machine.
    pub fn is_failed(self) -> bool {
        use NodeStatus::*;
        matches!(
            self,
            FailedCommissioning
                | FailedDeployment
                | FailedReleasing
                | FailedDiskErasing
                | FailedEnteringRescueMode
                | FailedExitingRescueMode
                | FailedTesting
                | Broken
        )
    }

    /// A state MAAS moves out of by itself (work in progress).
    pub fn is_transient(self) -> bool {
        use NodeStatus::*;
        matches!(
            self,
            Commissioning
                | Deploying
                | Releasing
                | DiskErasing
                | EnteringRescueMode
                | ExitingRescueMode
                | Testing
        )
    }
}

impl std::fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Serialize for NodeStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for NodeStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = u64::deserialize(d)?;
        NodeStatus::from_code(code).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown MAAS node status code {code}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_and_round_trip() {
        for (i, s) in NodeStatus::ALL.iter().enumerate() {
            assert_eq!(s.code() as usize, i);
            assert_eq!(NodeStatus::from_code(i as u64), Some(*s));
            assert_eq!(NodeStatus::from_name(s.label()), Some(*s));
            assert_eq!(NodeStatus::from_name(s.filter_name()), Some(*s));
        }
        assert_eq!(NodeStatus::from_code(23), None);
    }

    #[test]
    fn irregular_labels_match_maas() {
        assert_eq!(NodeStatus::FailedReleasing.label(), "Releasing failed");
        assert_eq!(
            NodeStatus::FailedEnteringRescueMode.label(),
            "Failed to enter rescue mode"
        );
        assert_eq!(NodeStatus::DiskErasing.label(), "Disk erasing");
    }

    #[test]
    fn serialises_as_the_integer_code() {
        assert_eq!(serde_json::to_string(&NodeStatus::Deployed).unwrap(), "6");
        let s: NodeStatus = serde_json::from_str("11").unwrap();
        assert_eq!(s, NodeStatus::FailedDeployment);
        assert!(serde_json::from_str::<NodeStatus>("99").is_err());
    }
}
