//! What can go wrong talking to etcd. Messages name endpoints and files, never credentials.

use std::path::PathBuf;

/// An error of the etcd-backed HA layer.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    #[error("no etcd endpoints are configured: list the etcd members as `etcd: endpoints: [http://10.0.0.1:2379, ...]` in gateway.yaml")]
    NoEndpoints,
    #[error("the etcd endpoint `{endpoint}` is not a URL of the form http://HOST:PORT or https://HOST:PORT: fix it in gateway.yaml's `etcd: endpoints`")]
    BadEndpoint { endpoint: String },
    #[error("cannot read the etcd TLS file {path}: {source} (check the `etcd: tls` paths in gateway.yaml and that this user can read them)")]
    TlsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`etcd: tls` needs both `cert` and `key` for a client certificate, or neither: add the missing one to gateway.yaml")]
    HalfIdentity,
    #[error("cannot reach etcd at {endpoints} while {what}: {detail} (check that a majority of the etcd members run and that this host can reach them)")]
    Etcd {
        endpoints: String,
        what: &'static str,
        detail: String,
    },
    #[error(
        "cannot start the etcd client's threads: {0} (the system is out of threads or memory)"
    )]
    Runtime(std::io::Error),
}
