//! Checking a cloud account before it is saved, as the account wizard does: first the model's
//! rules ([`CloudAccount::from_parts`]: name, endpoint, key shape, CA), then the live MAAS —
//! reachable, a MAAS, the key accepted, a version kubemaas drives. Every failure comes back as
//! a [`Problem`] at the field it is about (`spec.apiKey` for a refused key), so the wizard
//! shows exactly what failed beside what to fix.

use crate::maas::{Endpoint, MaasClient, MaasConfig, MaasError, RetryPolicy, TlsOptions};
use crate::model::account::{check_maas_version, AccountCheckError};
use crate::model::{CloudAccount, Problem, Problems};
use crate::tui::widgets::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// What the account wizard collected. `Debug` shows the key masked (see [`Secret`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDraft {
    pub name: String,
    pub gateway: String,
    pub endpoint: String,
    pub api_key: Secret,
    /// A PEM file with the CA of an https MAAS.
    pub ca_file: Option<PathBuf>,
}

/// What a MAAS said about itself when the account passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCheck {
    pub version: String,
    pub user: String,
}

/// One saved account, as the accounts screen lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    pub name: String,
    pub gateway: String,
    pub endpoint: String,
    pub maas_version: Option<String>,
    /// RFC 3339, or None when never validated.
    pub last_validated: Option<String>,
}

impl AccountDraft {
    /// The account per the model's rules; the CA file is read here (problems at `spec.caCert`).
    pub fn to_account(&self) -> Result<CloudAccount, Problems> {
        let mut problems = Problems::new();
        let ca = match &self.ca_file {
            None => None,
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some(text),
                Err(e) => {
                    problems.push(
                        "spec.caCert",
                        format!(
                            "cannot read {}: {e}; give the path of the PEM file holding the CA that signed MAAS's certificate",
                            path.display()
                        ),
                    );
                    None
                }
            },
        };
        let account = CloudAccount::from_parts(
            &self.name,
            "",
            &self.gateway,
            &self.endpoint,
            self.api_key.expose(),
            ca.as_deref(),
        );
        match account {
            Ok(a) if problems.is_empty() => Ok(a),
            Ok(_) => Err(problems),
            Err(mut more) => {
                more.extend(problems);
                Err(more)
            }
        }
    }
}

/// The field a MAAS check failure is about, with its message.
pub fn check_problem(e: &AccountCheckError) -> Problem {
    let path = match e {
        AccountCheckError::Unauthorized { .. } => "spec.apiKey",
        AccountCheckError::UntrustedCertificate { .. } => "spec.caCert",
        AccountCheckError::Unreachable { .. }
        | AccountCheckError::NotMaas { .. }
        | AccountCheckError::UnreadableVersion { .. }
        | AccountCheckError::TooOld { .. } => "spec.endpoint",
    };
    Problem::new(path, e.to_string())
}

/// What a client error means for an account being checked.
pub fn check_error(endpoint: &Endpoint, e: MaasError) -> AccountCheckError {
    let endpoint = endpoint.to_string();
    match e {
        MaasError::Unauthorized { .. } => AccountCheckError::Unauthorized { endpoint },
        MaasError::Tls { detail, .. } => AccountCheckError::UntrustedCertificate {
            endpoint,
            reason: detail,
        },
        MaasError::Connect { detail, .. } => AccountCheckError::Unreachable {
            endpoint,
            reason: detail,
        },
        MaasError::Timeout { timeout, .. } => AccountCheckError::Unreachable {
            endpoint,
            reason: format!("no answer within {}s", timeout.as_secs()),
        },
        MaasError::Decode { .. } => AccountCheckError::NotMaas {
            endpoint,
            status: 200,
        },
        other => match other.status() {
            Some(status) => AccountCheckError::NotMaas { endpoint, status },
            None => AccountCheckError::Unreachable {
                endpoint,
                reason: other.to_string(),
            },
        },
    }
}

/// Validates a draft against the model, then against the live MAAS. One attempt, short
/// timeouts: the operator is waiting for the answer and will simply press Enter again.
pub async fn validate_live(draft: &AccountDraft) -> Result<AccountCheck, Problems> {
    let account = draft.to_account()?;
    let mut config = MaasConfig::new(account.endpoint.clone(), account.api_key.clone());
    config.tls = TlsOptions {
        ca_cert: draft.ca_file.clone(),
        insecure_skip_tls_verify: false,
    };
    config.retry = RetryPolicy::never();
    config.timeout = Duration::from_secs(20);
    config.connect_timeout = Duration::from_secs(5);
    let one = |e: AccountCheckError| Problems(vec![check_problem(&e)]);
    let client = MaasClient::new(config).map_err(|e| {
        Problems(vec![Problem::new(
            "spec.caCert",
            format!("{e}: check the CA file is a readable PEM certificate"),
        )])
    })?;
    let (version, user) = client
        .identify()
        .await
        .map_err(|e| one(check_error(&account.endpoint, e)))?;
    check_maas_version(&version).map_err(one)?;
    Ok(AccountCheck {
        version: version.version,
        user: user.username,
    })
}
