//! What can go wrong in the engine. Every message says what is wrong and what to do; none
//! carries a secret (MAAS errors are already scrubbed by the client, bootstrap errors never
//! quote keys or tokens).

use crate::bootstrap::BootstrapError;
use crate::maas::{ClientConfigError, MaasError};
use crate::store::{LockError, StoreError};

/// An engine failure.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Maas(#[from] MaasError),
    #[error("cannot build a MAAS client for cloud account `{account}`: {source}")]
    Client {
        account: String,
        source: ClientConfigError,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot generate the bootstrap files of cluster {cluster}: {source}")]
    Bootstrap {
        cluster: String,
        source: BootstrapError,
    },
    #[error("the cluster spec is not valid:\n{problems}\nfix the spec and submit it again")]
    InvalidSpec { problems: String },
    #[error("cluster {cluster} is {phase}: {action} is only possible {when}")]
    WrongPhase {
        cluster: String,
        phase: String,
        action: &'static str,
        when: &'static str,
    },
    #[error("cluster {cluster} has no node pool `{pool}` (its pools: {known}): pass one of those with --pool")]
    NoSuchPool {
        cluster: String,
        pool: String,
        known: String,
    },
    #[error("cluster profile `{name}` is neither shipped with kubemaas nor imported: list them with `kubemaas profile list`, or import it with `kubemaas profile import FILE`")]
    NoSuchProfile { name: String },
    #[error("cluster profile `{name}` cannot be used: {problems}")]
    BadProfile { name: String, problems: String },
    #[error("cannot {action} {path}: {source} (check the state dir's owner, permissions and free space)")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the bootstrap secrets of cluster {cluster} at {path} are damaged ({detail}): restore the file from a backup; without it new nodes cannot join")]
    DamagedSecrets {
        cluster: String,
        path: std::path::PathBuf,
        detail: String,
    },
    #[error("the engine stopped at fault-injection point `{point}` (a simulated crash)")]
    Crashed { point: String },
    #[error("cluster {cluster} failed: {reason}")]
    ClusterFailed { cluster: String, reason: String },
    /// An idempotency key sent again with another request than the one it first came with.
    #[error("this request's idempotency key was already used for a different request (the one that created cluster {cluster}): a retried request must be sent unchanged; send a new request with a new key")]
    KeyReused { cluster: String },
    /// Waiting for a cluster to be deleted that nothing will delete.
    #[error("cluster {cluster} is {phase} and stays so until it is deleted, so waiting for Deleted would never end: delete it with `kubemaas cluster delete {cluster}` (add --wait to wait for that)")]
    NeverDeleted { cluster: String, phase: String },
    #[error("{0}")]
    Other(String),
    /// Through a gateway ([`crate::gateway::RemoteEngine`]): the channel failed, or the
    /// gateway refused with an error that has no exact local kind.
    /// Boxed: the gateway client's errors are large, and every engine result carries this.
    #[error(transparent)]
    Gateway(Box<crate::gateway::RemoteError>),
}

impl EngineError {
    /// True for failures that may go away by themselves (MAAS busy or unreachable): the driver
    /// backs off and tries again instead of failing the cluster.
    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Maas(e) => e.is_transient(),
            EngineError::Store(StoreError::Busy { .. }) => true,
            EngineError::Gateway(e) => e.is_transient(),
            _ => false,
        }
    }
}
