//! kubemaas: deploy and run bare-metal Kubernetes clusters on Canonical MAAS from one binary.
//!
//! Data flows one way: MAAS API ⇄ [`maas`] client ⇄ engine ⇄ store, and TUI / CLI → engine
//! commands, engine events → TUI / CLI. [`sim`] is a faithful MAAS simulator served over HTTP on
//! loopback, used by `kubemaas sim`, `kubemaas --demo` and the tests.

pub mod accounts;
pub mod bootstrap;
pub mod cli;
pub mod engine;
pub mod etcd;
pub mod gateway;
pub mod ha;
pub mod logging;
pub mod maas;
pub mod model;
pub mod paths;
pub mod sim;
pub mod store;
pub mod tui;
