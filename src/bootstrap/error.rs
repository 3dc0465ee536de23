//! Why a bootstrap artifact could not be made. Messages say what is wrong and how to fix it, and
//! never quote a private key or token: these errors end up in logs and on the operator's screen.

/// Everything that can go wrong while planning or generating bootstrap artifacts.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// A field of the cluster or node plan is unusable.
    #[error("{field}: {problem}; {fix}")]
    InvalidPlan {
        /// The plan field at fault, e.g. `cluster.pod_cidr` or `node.labels`.
        field: String,
        problem: String,
        fix: String,
    },
    /// Stored secrets could not be read back (corrupted or edited store).
    #[error("the stored cluster secrets are unusable: {what} ({reason}); regenerate the cluster's secrets, or restore the store from a backup")]
    InvalidSecrets { what: &'static str, reason: String },
    /// The certificate library refused to generate or sign.
    #[error("cannot create the {what}: {reason}; this is a bug in kubemaas if the plan validated, please report it")]
    Crypto { what: &'static str, reason: String },
    /// A structure could not be serialised to YAML / JSON.
    #[error("cannot serialise the {what}: {reason}; this is a bug in kubemaas, please report it")]
    Serialize { what: &'static str, reason: String },
}

impl BootstrapError {
    pub(crate) fn plan(
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        BootstrapError::InvalidPlan {
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// Wraps an rcgen error. rcgen's messages describe parameters, never key material.
    pub(crate) fn crypto(what: &'static str, err: rcgen::Error) -> Self {
        BootstrapError::Crypto {
            what,
            reason: err.to_string(),
        }
    }

    pub(crate) fn serialize(what: &'static str, err: impl std::fmt::Display) -> Self {
        BootstrapError::Serialize {
            what,
            reason: err.to_string(),
        }
    }
}
