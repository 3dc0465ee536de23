//! Where the etcd members are and how to authenticate to them: gateway.yaml's `etcd:` section.

use super::error::HaError;
use crate::etcd::{ClientTls, EtcdClient};
use serde::Deserialize;
use std::path::PathBuf;

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

    /// A client of all the endpoints (it moves on from one that cannot be reached). Nothing
    /// is sent yet: the first call tells whether etcd answers.
    pub async fn connect(&self) -> Result<EtcdClient, HaError> {
        self.connect_to(&self.endpoints).await
    }

    /// A client of `endpoints` only (a subset of this config's), with its TLS.
    pub async fn connect_to(&self, endpoints: &[String]) -> Result<EtcdClient, HaError> {
        self.validate()?;
        let tls = match &self.tls {
            Some(tls) => Some(tls.options()?),
            None => None,
        };
        EtcdClient::new(endpoints.to_vec(), tls.as_ref()).map_err(|e| HaError::Etcd {
            endpoints: self.endpoints_text(),
            what: "connecting",
            detail: e.to_string(),
        })
    }
}

impl EtcdTls {
    fn options(&self) -> Result<ClientTls, HaError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| HaError::TlsFile {
                path: path.clone(),
                source,
            })
        };
        let identity_pem = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
            (None, None) => None,
            _ => return Err(HaError::HalfIdentity),
        };
        Ok(ClientTls {
            ca_pem: read(&self.ca)?,
            identity_pem,
        })
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
