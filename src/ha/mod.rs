//! High availability of a 3-node gateway on etcd: the connection to the etcd members
//! ([`EtcdConfig`]), the replicated state log the store writes through ([`EtcdLog`], see
//! [`crate::store::replica`]) and the election of the node that runs the reconcilers
//! ([`Candidate`], [`Leadership`]) with the loop that runs the engine while elected
//! ([`lead`]); [`membership`] repairs the etcd member list when a node is replaced.
//! docs/ha.md tells the design.

mod config;
mod election;
mod error;
mod lead;
mod log;
pub mod membership;

pub use config::{EtcdConfig, EtcdTls};
pub use election::{Candidate, Leadership};
pub use error::HaError;
pub use lead::lead;
pub use log::EtcdLog;
