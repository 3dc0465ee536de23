//! Where the etcd members are and how to authenticate to them: gateway.yaml's `etcd:` section.

use super::error::HaError;
use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// gateway.yaml's `etcd:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdConfig {
    /// Client URLs of the etcd members, e.g. `https://10.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// Key prefix under which this gateway keeps its log and election (several gateways can
    /// share one etcd cluster).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// TLS towards the members (https endpoints).
    #[serde(default)]
    pub tls: Option<EtcdTls>,
}

/// TLS files: the CA the members' certificates chain to, and optionally a client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdTls {
    pub ca: PathBuf,
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
}

fn default_prefix() -> String {
    "/kubemaas".to_string()
}

/// How long a request may take before the client reports etcd unreachable; bounded so that a
/// store write on a node cut from the majority fails with a message instead of hanging.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl EtcdConfig {
    /// Plain-HTTP members at `endpoints` under the default prefix.
    pub fn new(endpoints: Vec<String>) -> Self {
        EtcdConfig {
            endpoints,
            prefix: default_prefix(),
            tls: None,
        }
    }

    /// The endpoints, for messages.
    pub fn endpoints_text(&self) -> String {
        self.endpoints.join(", ")
    }

    /// Checks the endpoints' shape (one problem per message).
    pub fn validate(&self) -> Result<(), HaError> {
        if self.endpoints.is_empty() {
            return Err(HaError::NoEndpoints);
        }
        for endpoint in &self.endpoints {
            let ok = url::Url::parse(endpoint).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.port().is_some()
            });
            if !ok {
                return Err(HaError::BadEndpoint {
                    endpoint: endpoint.clone(),
                });
            }
        }
        Ok(())
    }

    /// Connects a client balanced over all endpoints (in the current tokio runtime).
    pub async fn connect(&self) -> Result<Client, HaError> {
        self.connect_to(&self.endpoints).await
    }

    /// Connects a client to `endpoints` only (a subset of this config's), with its TLS.
    pub async fn connect_to(&self, endpoints: &[String]) -> Result<Client, HaError> {
        self.validate()?;
        let mut options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
            // A member cut from the majority refuses at once instead of hanging until the
            // timeout, so the caller moves on to another member.
            .with_require_leader(true);
        if let Some(tls) = &self.tls {
            options = options.with_tls(tls.options()?);
        }
        Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| HaError::Etcd {
                endpoints: self.endpoints_text(),
                what: "connecting",
                detail: e.to_string(),
            })
    }
}

impl EtcdTls {
    fn options(&self) -> Result<TlsOptions, HaError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| HaError::TlsFile {
                path: path.clone(),
                source,
            })
        };
        let mut options = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&self.ca)?));
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                options = options.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            (None, None) => {}
            _ => return Err(HaError::HalfIdentity),
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_one_problem_at_a_time() {
        assert!(matches!(
            EtcdConfig::new(vec![]).validate(),
            Err(HaError::NoEndpoints)
        ));
        let err = EtcdConfig::new(vec!["http://127.0.0.1:2379".into(), "10.0.0.1".into()])
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("`10.0.0.1`"), "{err}");
        EtcdConfig::new(vec!["https://etcd1:2379".into()])
            .validate()
            .unwrap();
    }

    #[test]
    fn the_yaml_section_parses_and_refuses_unknown_keys() {
        let cfg: EtcdConfig = serde_yaml::from_str(
            "endpoints: [http://127.0.0.1:2379]\ntls: {ca: /etc/ca.pem, cert: /c.pem, key: /k.pem}\n",
        )
        .unwrap();
        assert_eq!(cfg.prefix, "/kubemaas");
        assert_eq!(cfg.tls.unwrap().ca, PathBuf::from("/etc/ca.pem"));
        let err = serde_yaml::from_str::<EtcdConfig>("endpoints: []\nendpoint: x\n").unwrap_err();
        assert!(err.to_string().contains("endpoint"), "{err}");
        let half = EtcdTls {
            ca: "/dev/null".into(),
            cert: Some("/dev/null".into()),
            key: None,
        };
        assert!(matches!(half.options(), Err(HaError::HalfIdentity)));
    }
}
