//! The live checks a cloud account passes before it is saved (and on `account validate`), in
//! the order an operator would debug them: the region is reachable (and its TLS certificate
//! trusted), it is a MAAS, its version is one kubemaas drives, and the API key is accepted.
//! Each failure is one precise [`AccountCheckError`]; none carries the key.

use crate::maas::{MaasClient, MaasError, User, Version};
use crate::model::account::check_maas_version;
use crate::model::AccountCheckError;
use serde::Serialize;

/// What a MAAS region said about itself and the key, once every check passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaasIdentity {
    pub version: Version,
    /// (major, minor) as read from `version`.
    #[serde(skip)]
    pub release: (u32, u32),
    pub user: User,
}

/// Why an account did not pass its checks.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Account(#[from] AccountCheckError),
    /// Anything else MAAS answered (busy, redirected, ...), already worded with its fix.
    #[error(transparent)]
    Maas(#[from] MaasError),
}

/// Runs the checks against the region `client` points at: `GET version/` (anonymous, so it
/// tells reachability and "is this MAAS" apart from credentials), then `users/?op=whoami`.
pub async fn check_maas(client: &MaasClient) -> Result<MaasIdentity, CheckError> {
    let endpoint = client.endpoint().to_string();
    let version = client
        .version()
        .await
        .map_err(|e| reachability(&endpoint, e))?;
    let release = check_maas_version(&version)?;
    let user = client.whoami().await.map_err(|e| match e {
        MaasError::Unauthorized { .. } | MaasError::Forbidden { .. } => {
            CheckError::Account(AccountCheckError::Unauthorized {
                endpoint: endpoint.clone(),
            })
        }
        other => CheckError::Maas(other),
    })?;
    tracing::info!(%endpoint, version = %version.version, user = %user.username, "MAAS account checks passed");
    Ok(MaasIdentity {
        version,
        release,
        user,
    })
}

/// Maps the failure of the first, anonymous request onto what it says about the endpoint.
fn reachability(endpoint: &str, e: MaasError) -> CheckError {
    let endpoint = endpoint.to_string();
    let account = match e {
        MaasError::Connect { detail, .. } => AccountCheckError::Unreachable {
            endpoint,
            reason: detail,
        },
        MaasError::Timeout { timeout, .. } => AccountCheckError::Unreachable {
            endpoint,
            reason: format!("no answer within {} s", timeout.as_secs()),
        },
        MaasError::Tls { detail, .. } => AccountCheckError::UntrustedCertificate {
            endpoint,
            reason: detail,
        },
        MaasError::NotFound { .. } => AccountCheckError::NotMaas {
            endpoint,
            status: 404,
        },
        MaasError::Unexpected { status, .. } => AccountCheckError::NotMaas { endpoint, status },
        // An answer that is not MAAS's version JSON (an HTML portal, another API).
        MaasError::Decode { .. } => AccountCheckError::NotMaas {
            endpoint,
            status: 200,
        },
        // `version/` needs no credentials on MAAS; a proxy in front may still ask for some.
        MaasError::Unauthorized { .. } => AccountCheckError::Unauthorized { endpoint },
        other => return CheckError::Maas(other),
    };
    CheckError::Account(account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn transport_failures_become_account_check_errors() {
        let ep = "http://127.0.0.1:1/MAAS/";
        let e = reachability(
            ep,
            MaasError::Connect {
                endpoint: ep.into(),
                detail: "Connection refused".into(),
            },
        );
        assert!(matches!(
            e,
            CheckError::Account(AccountCheckError::Unreachable { .. })
        ));
        assert!(e.to_string().contains("Connection refused"), "{e}");
        let e = reachability(
            ep,
            MaasError::Timeout {
                request: "GET version/".into(),
                timeout: Duration::from_secs(30),
            },
        );
        assert!(e.to_string().contains("no answer within 30 s"), "{e}");
        let e = reachability(
            ep,
            MaasError::NotFound {
                request: "GET version/".into(),
                message: String::new(),
            },
        );
        assert!(e.to_string().contains("not a MAAS API endpoint"), "{e}");
        let e = reachability(
            ep,
            MaasError::ServerBusy {
                request: "GET version/".into(),
                status: 503,
                retry_after: None,
                message: String::new(),
            },
        );
        assert!(matches!(e, CheckError::Maas(_)));
    }
}
