//! The MAAS REST API 2.0: credentials, endpoint, typed resources, and the client.

pub mod client;
pub mod creds;
pub mod endpoint;
pub mod error;
pub mod nomatch;
pub mod oauth;
mod ops;
pub mod requests;
pub mod retry;
pub mod status;
pub mod types;

pub use client::{MaasClient, MaasConfig, TlsOptions};
pub use creds::{ApiKey, ApiKeyError};
pub use endpoint::{Endpoint, EndpointError};
pub use error::{ClientConfigError, MaasError};
pub use requests::{
    AllocateRequest, CreateDnsResource, DeployRequest, DnsName, DnsResourceFilter, EventQuery,
    MachineFilter, Params, ReleaseRequest, ReserveIpRequest, StorageConstraint,
};
pub use retry::{Idempotency, RetryPolicy};
pub use status::NodeStatus;
pub use types::*;
