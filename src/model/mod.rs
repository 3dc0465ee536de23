//! What the operator fills in: cloud accounts, cluster profiles (layers of packs), cluster specs
//! with node pools, and their validation.
//!
//! * Documents are versioned YAML (`apiVersion: kubemaas.io/v1`, `kind: Cluster | ClusterProfile
//!   | CloudAccount`), read with unknown keys refused ([`document`]).
//! * [`validate::validate_local`] checks a spec without MAAS; [`maas_check::validate_against_maas`]
//!   checks it against a [`snapshot::MaasSnapshot`] the engine fetched, capacity included.
//! * [`constraints::MachineConstraints`] is the one definition of "this machine fits this pool",
//!   shared by the validator, the engine's allocate calls and the simulator.
//! * [`template::cluster_template`] writes the commented spec `kubemaas cluster new` prints.
//!
//! The flow of `kubemaas cluster create -f spec.yaml` (and of the console's wizard):
//!
//! ```
//! use kubemaas::model::{cluster_template, profile, validate_spec, ClusterSpec, MaasSnapshot};
//! use kubemaas::model::maas_check::pool_constraints;
//!
//! let text = cluster_template("prod-1", "lab", 3, 2).unwrap();     // or the operator's file
//! let spec = ClusterSpec::from_yaml(&text).unwrap();                 // syntax, unknown keys
//! let profile = profile::shipped_profile(&spec.spec.profile.name);   // or an imported one
//! let maas = MaasSnapshot::default();                                // fetched by the engine
//! let problems = validate_spec(&spec, profile.as_ref(), &maas);      // every problem at once
//! assert!(problems.iter().any(|p| p.path == "spec.dnsDomain"));      // this MAAS is empty
//! let resolved = profile.unwrap().resolve(&spec.spec.profile.overrides).unwrap();
//! assert_eq!(resolved.os.series, "jammy");
//! let params = pool_constraints(&spec.spec.node_pools[1]).allocate_params(None);
//! assert!(params.contains(&("mem".to_string(), "16384".to_string())));
//! ```

pub mod account;
pub mod capacity;
pub mod constraints;
pub mod cron;
pub mod document;
pub mod k8s_version;
pub mod maas_check;
pub mod merge;
pub mod names;
pub mod problem;
pub mod profile;
pub mod snapshot;
pub mod spec;
pub mod suggest;
pub mod template;
pub mod validate;

pub use account::{AccountCheckError, AccountError, CloudAccount, KeyForm};
pub use capacity::{plan_capacity, PoolCapacity, PoolRequest};
pub use constraints::MachineConstraints;
pub use document::{DocumentError, API_VERSION};
pub use k8s_version::KubernetesVersion;
pub use maas_check::validate_against_maas;
pub use merge::deep_merge;
pub use problem::{Problem, Problems};
pub use profile::{
    import_profile, shipped_profiles, ClusterProfile, Cni, Layer, LayerKind, ResolvedProfile,
};
pub use snapshot::MaasSnapshot;
pub use spec::{ClusterSpec, NodePool, OsImage, PoolRole};
pub use template::cluster_template;
pub use validate::{effective_os_image, validate_local, validate_spec};
