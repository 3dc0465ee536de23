//! The MAAS REST API 2.0: credentials, endpoint, typed resources, and the client.

pub mod creds;
pub mod endpoint;
pub mod status;
pub mod types;

pub use creds::{ApiKey, ApiKeyError};
pub use endpoint::{Endpoint, EndpointError};
pub use status::NodeStatus;
pub use types::*;
