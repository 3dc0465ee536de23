//! `account add|list|show --gateway NAME`: the same commands against a paired gateway, which
//! checks and keeps the account itself (the key goes to the gateway and never comes back).

use super::AddArgs;
use super::{AccountView, CheckReport};
use crate::gateway::protocol::AddAccountRequest;
use crate::gateway::RemoteEngine;
use std::path::Path;

fn engine(state_dir: &Path, gateway: &str) -> color_eyre::Result<RemoteEngine> {
    let store = crate::store::Store::open(state_dir)?;
    Ok(RemoteEngine::connect(&store, gateway)?)
}

/// Accounts as the gateway has them, shown as going through it.
fn through(mut v: AccountView, gateway: &str) -> AccountView {
    v.gateway = gateway.to_string();
    v
}

pub(super) async fn list(state_dir: &Path, gateway: &str) -> color_eyre::Result<Vec<AccountView>> {
    let views = engine(state_dir, gateway)?.accounts().await?;
    Ok(views.into_iter().map(|v| through(v, gateway)).collect())
}

pub(super) async fn show(
    state_dir: &Path,
    gateway: &str,
    name: &str,
) -> color_eyre::Result<AccountView> {
    Ok(through(
        engine(state_dir, gateway)?.account(name).await?,
        gateway,
    ))
}

pub(super) async fn add(
    state_dir: &Path,
    a: &AddArgs,
    key: String,
) -> color_eyre::Result<CheckReport> {
    let ca_cert = match &a.ca_cert {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|error| {
            super::AccountError::CaCertUnreadable {
                path: path.clone(),
                error,
            }
        })?),
        None => None,
    };
    let request = AddAccountRequest {
        name: a.name.clone(),
        endpoint: a.endpoint.clone(),
        api_key: key,
        ca_cert,
    };
    Ok(engine(state_dir, &a.gateway)?.add_account(&request).await?)
}
