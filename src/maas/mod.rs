//! The MAAS REST API 2.0: credentials, endpoint, typed resources, and the client.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kubemaas::maas::*;
//! let endpoint = Endpoint::parse("http://maas.example:5240/MAAS")?;
//! let key: ApiKey = std::env::var("MAAS_API_KEY")?.parse()?;
//! let client = MaasClient::new(MaasConfig::new(endpoint, key))?;
//! let allocation = client
//!     .allocate(&AllocateRequest {
//!         cpu_count: Some(4),
//!         mem: Some(8192),
//!         tags: vec!["k8s".into()],
//!         agent_name: Some("kubemaas:cluster-1".into()),
//!         ..Default::default()
//!     })
//!     .await?;
//! let id = &allocation.machine.system_id;
//! client.deploy(id, &DeployRequest { distro_series: Some("jammy".into()), ..Default::default() }).await?;
//! let polled = client.machines(&MachineFilter::ids([id.as_str()])).await?;
//! # let _ = polled; Ok(()) }
//! ```

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
