//! The pieces of the console's screen, each a pure function of the state.

pub mod accounts;
pub mod cluster_detail;
pub mod clusters;
pub mod events;
pub mod footer;
pub mod gateways;
pub mod header;
pub mod help;
pub mod machines;
pub mod profiles;
pub mod too_small;
pub mod welcome;
pub mod wizard;
