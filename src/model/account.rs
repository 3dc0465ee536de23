//! MAAS cloud accounts: which MAAS region a cluster is built on, through which gateway, with
//! which credentials.
//!
//! The API key is a secret. It is held as [`ApiKey`] (whose `Debug` is masked) and written out in
//! two forms only, chosen explicitly with [`KeyForm`]:
//! * [`KeyForm::Masked`] for anything an operator sees (`account show`, the console, logs): the
//!   key's first characters then `****`. A masked document cannot be imported back: the importer
//!   recognises the mask and says to paste the real key.
//! * [`KeyForm::Clear`] for the store only: the whole key, in a file the caller writes with
//!   [`crate::paths::write_private_file`] (0600) or a store column in a 0600 database.
//!
//! There is deliberately no `Serialize` impl, so no generic serialiser can write a key by accident.

use super::document::{parse_document, to_yaml, DocumentError, API_VERSION};
use super::names;
use super::problem::Problems;
use crate::maas::{ApiKey, Endpoint, Version};
use serde::{Deserialize, Serialize};

pub const ACCOUNT_KIND: &str = "CloudAccount";

/// The gateway that is kubemaas's own embedded engine.
pub const LOCAL_GATEWAY: &str = "local";

/// The oldest MAAS kubemaas drives: resource pools and machine owner data (where kubemaas stamps
/// the machines it takes, so a restart can find them) both arrived in MAAS 2.5.
pub const MIN_MAAS_VERSION: (u32, u32) = (2, 5);

/// A validated cloud account.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudAccount {
    /// DNS-1123 label, unique among accounts.
    pub name: String,
    pub description: String,
    /// The gateway that talks to this MAAS; `local` is the embedded engine.
    pub gateway: String,
    pub endpoint: Endpoint,
    pub api_key: ApiKey,
    /// PEM CA certificate(s) to trust for an https MAAS with a private CA.
    pub ca_cert: Option<String>,
}

/// How the API key is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// For display: only the first characters of the consumer key.
    Masked,
    /// For the store: the whole key. The caller writes it 0600.
    Clear,
}

/// The YAML shape of a `kind: CloudAccount` document, strings as typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AccountDocument {
    api_version: String,
    kind: String,
    metadata: AccountMetadata,
    spec: AccountSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AccountMetadata {
    name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    description: String,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AccountSpec {
    #[serde(default = "default_gateway")]
    gateway: String,
    endpoint: String,
    api_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_cert: Option<String>,
}

// Written by hand so a parse failure's Debug can never print the key.
impl std::fmt::Debug for AccountSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSpec")
            .field("gateway", &self.gateway)
            .field("endpoint", &self.endpoint)
            .field("api_key", &"****")
            .finish_non_exhaustive()
    }
}

fn default_gateway() -> String {
    LOCAL_GATEWAY.to_string()
}

/// Why an account document is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Document(#[from] DocumentError),
    #[error("the cloud account is not usable:\n{0}")]
    Invalid(Problems),
}

/// Why a MAAS did not pass the checks made when an account is created. The engine maps what its
/// client saw onto these; the messages never hold the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountCheckError {
    #[error("cannot reach MAAS at {endpoint} ({reason}): check the URL, that the MAAS region controller is running, and that this host can reach it (port 5240 by default)")]
    Unreachable { endpoint: String, reason: String },
    #[error("the TLS certificate of {endpoint} is not trusted ({reason}): add the CA that signed it as the account's caCert")]
    UntrustedCertificate { endpoint: String, reason: String },
    #[error("{endpoint} answered HTTP {status} to version/: this is not a MAAS API endpoint; give the region URL, like http://maas.example:5240/MAAS")]
    NotMaas { endpoint: String, status: u16 },
    #[error("MAAS at {endpoint} refused the API key (HTTP 401): it is wrong or was revoked; copy a current key from the MAAS UI (your user > API keys)")]
    Unauthorized { endpoint: String },
    #[error(
        "MAAS reports version `{found}`, which kubemaas cannot read: expected a version like 3.4.0"
    )]
    UnreadableVersion { found: String },
    #[error("MAAS {found} is too old: kubemaas needs MAAS {}.{} or newer (for resource pools and machine owner data); upgrade the region", MIN_MAAS_VERSION.0, MIN_MAAS_VERSION.1)]
    TooOld { found: String },
}

/// Checks the version MAAS reported (`GET version/`).
pub fn check_maas_version(version: &Version) -> Result<(u32, u32), AccountCheckError> {
    let found = version.version.trim();
    let mut parts = found.split(['.', '~', '-', '+']);
    let mut number = || -> Option<u32> { parts.next()?.parse().ok() };
    let (major, minor) = match (number(), number()) {
        (Some(major), Some(minor)) => (major, minor),
        _ => {
            return Err(AccountCheckError::UnreadableVersion {
                found: found.to_string(),
            })
        }
    };
    if (major, minor) < MIN_MAAS_VERSION {
        return Err(AccountCheckError::TooOld {
            found: found.to_string(),
        });
    }
    Ok((major, minor))
}

impl CloudAccount {
    /// Reads and checks a `kind: CloudAccount` document.
    pub fn from_yaml(text: &str) -> Result<CloudAccount, AccountError> {
        let doc: AccountDocument = parse_document(text, ACCOUNT_KIND)?;
        Self::from_parts(
            &doc.metadata.name,
            &doc.metadata.description,
            &doc.spec.gateway,
            &doc.spec.endpoint,
            &doc.spec.api_key,
            doc.spec.ca_cert.as_deref(),
        )
        .map_err(AccountError::Invalid)
    }

    /// Builds an account from what an operator typed (the console form, CLI flags), listing
    /// every problem. Problem paths are those of the YAML document.
    pub fn from_parts(
        name: &str,
        description: &str,
        gateway: &str,
        endpoint: &str,
        api_key: &str,
        ca_cert: Option<&str>,
    ) -> Result<CloudAccount, Problems> {
        let mut problems = Problems::new();
        if let Err(e) = names::check_dns1123_label(name) {
            problems.push("metadata.name", format!("the account name {e}"));
        }
        let gateway = if gateway.trim().is_empty() {
            LOCAL_GATEWAY
        } else {
            gateway.trim()
        };
        if let Err(e) = names::check_dns1123_label(gateway) {
            problems.push(
                "spec.gateway",
                format!("the gateway name {e} (use `{LOCAL_GATEWAY}` for the embedded engine)"),
            );
        }
        let endpoint = match Endpoint::parse(endpoint) {
            Ok(e) => Some(e),
            // The endpoint error would echo what was typed: not when that is the key itself.
            // (`http://host:5240/x` also splits into three ':'-parts: a URL is never a key.)
            Err(_) if !endpoint.contains("://") && endpoint.parse::<ApiKey>().is_ok() => {
                problems.push(
                    "spec.endpoint",
                    "holds what looks like an API key: put the key in apiKey and the MAAS URL (like http://maas.example:5240/MAAS) here",
                );
                None
            }
            Err(e) => {
                problems.push("spec.endpoint", e.to_string());
                None
            }
        };
        let api_key = if api_key.contains("****") {
            problems.push(
                "spec.apiKey",
                "this is a masked key as kubemaas displays it: paste the real key (MAAS UI > your user > API keys)",
            );
            None
        } else {
            api_key
                .parse::<ApiKey>()
                .map_err(|e| problems.push("spec.apiKey", e.to_string()))
                .ok()
        };
        let ca_cert = ca_cert.map(str::trim).filter(|c| !c.is_empty());
        if let Some(pem) = ca_cert {
            if !pem.contains("-----BEGIN CERTIFICATE-----")
                || !pem.contains("-----END CERTIFICATE-----")
            {
                problems.push(
                    "spec.caCert",
                    "is not a PEM certificate: paste the CA certificate with its -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines",
                );
            } else if endpoint.as_ref().is_some_and(|e| !e.is_https()) {
                problems.push(
                    "spec.caCert",
                    "is set but the endpoint is http://: use the https:// URL of MAAS, or drop caCert",
                );
            }
        }
        match (endpoint, api_key) {
            (Some(endpoint), Some(api_key)) if problems.is_empty() => Ok(CloudAccount {
                name: name.to_string(),
                description: description.to_string(),
                gateway: gateway.to_string(),
                endpoint,
                api_key,
                ca_cert: ca_cert.map(|c| format!("{c}\n")),
            }),
            _ => Err(problems),
        }
    }

    /// The account as a YAML document, with the key in the form asked for.
    pub fn to_yaml(&self, key: KeyForm) -> String {
        let api_key = match key {
            KeyForm::Masked => self.api_key.masked(),
            KeyForm::Clear => self.api_key.expose(),
        };
        to_yaml(&AccountDocument {
            api_version: API_VERSION.to_string(),
            kind: ACCOUNT_KIND.to_string(),
            metadata: AccountMetadata {
                name: self.name.clone(),
                description: self.description.clone(),
            },
            spec: AccountSpec {
                gateway: self.gateway.clone(),
                endpoint: self.endpoint.to_string(),
                api_key,
                ca_cert: self.ca_cert.clone(),
            },
        })
    }

    /// Whether the embedded engine drives this account (rather than a paired gateway).
    pub fn is_local(&self) -> bool {
        self.gateway == LOCAL_GATEWAY
    }
}
