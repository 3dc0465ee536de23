//! kubemaas's state in SQLite: gateways, cloud accounts, profiles, clusters, their machines,
//! tasks and the append-only event journal; migrations and the reconciler lock.
