//! Pairing back with a freshly deployed gateway, with the code from its user-data, through the
//! very functions `kubemaas gateway pair` uses ([`begin_pairing`], [`finish_pairing`]): the
//! gateway is recorded in this console's state like any paired gateway. A gateway that does
//! not answer yet (still installing, starting) is asked again until the attempts run out; a
//! refusal is final and says which side refused.

use super::error::DeployError;
use super::Pace;
use crate::gateway::client::GatewayClientError;
use crate::gateway::console::{begin_pairing, finish_pairing, ConsoleError};
use crate::gateway::pairing::PairingCode;
use crate::gateway::protocol::GatewayInfo;
use crate::store::Store;
use std::path::Path;

/// Whom to pair with, and how.
pub struct PairBack<'a> {
    pub store: &'a Store,
    pub state_dir: &'a Path,
    /// The gateway's name (as gateway.yaml names it; recorded under it).
    pub gateway: &'a str,
    /// HOST:PORT.
    pub address: &'a str,
    pub code: &'a PairingCode,
    /// How the gateway will know this console.
    pub console_name: &'a str,
    /// Attempts while the gateway does not answer.
    pub attempts: u32,
}

enum Outcome {
    Retry(String),
    Fail(DeployError),
}

fn classify(p: &PairBack<'_>, e: ConsoleError) -> Outcome {
    let text = e.to_string();
    match e {
        ConsoleError::Client(GatewayClientError::Connect { .. }) => Outcome::Retry(text),
        ConsoleError::Client(GatewayClientError::Refused {
            status: 403 | 429, ..
        }) => Outcome::Fail(DeployError::PairGatewaySide {
            address: p.address.to_string(),
            detail: text,
        }),
        _ => Outcome::Fail(DeployError::PairConsoleSide { detail: text }),
    }
}

/// Pairs with the gateway at `p.address`, asking again (after `pace`) while it cannot be
/// reached. Returns what the gateway says about itself over the new mutual-TLS channel.
pub async fn pair_back(p: &PairBack<'_>, pace: &dyn Pace) -> Result<GatewayInfo, DeployError> {
    let mut last = String::new();
    for attempt in 0..p.attempts.max(1) {
        if attempt > 0 {
            pace.pause().await;
        }
        match begin_pairing(p.store, p.address, p.code, Some(p.gateway), p.console_name).await {
            Ok((name, material)) => {
                return finish_pairing(p.store, p.state_dir, &name, p.address, &material)
                    .await
                    .map_err(|e| DeployError::PairConsoleSide {
                        detail: e.to_string(),
                    });
            }
            Err(e) => match classify(p, e) {
                Outcome::Retry(detail) => {
                    tracing::debug!(address = p.address, %detail, "deployed gateway not answering yet");
                    last = detail;
                }
                Outcome::Fail(err) => return Err(err),
            },
        }
    }
    Err(DeployError::PairUnreachable {
        gateway: p.gateway.to_string(),
        address: p.address.to_string(),
        detail: last,
    })
}
