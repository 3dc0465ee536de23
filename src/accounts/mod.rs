//! Cloud accounts (the MAAS regions clusters are built on) as operations: list, show, add and
//! validate, each checked live against MAAS before anything is saved. The CLI's `account`
//! commands, the console's account form and a gateway's account routes all run these, so the
//! checks and the views are the same wherever an account is managed.
//!
//! The API key is a secret: kept only in the 0600 state database and shown masked.

pub mod check;
pub mod connect;

use crate::maas::Endpoint;
use crate::model::{CloudAccount, Problems};
use crate::store::{AccountRow, NewAccount, Store, StoreError};
use check::{check_maas, CheckError, MaasIdentity};
use chrono::{DateTime, Utc};
use connect::{client_for, ConnectError, Patience};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What went wrong with a cloud account operation.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("no MAAS API key given: pass --api-key KEY, set MAAS_API_KEY, or pass --api-key - and type it on stdin (copy it from the MAAS UI: your user > API keys)")]
    MissingApiKey,
    #[error("cannot read the API key from stdin: {0}")]
    Stdin(std::io::Error),
    #[error("cannot read the CA certificate file {}: {error}; check the path and its permissions (--ca-cert FILE)", path.display())]
    CaCertUnreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the cloud account is not usable; nothing was saved.\n{0}")]
    Invalid(Problems),
    #[error("a cloud account `{0}` already exists: pick another name, or remove it first with `kubemaas account delete {0}`")]
    Exists(String),
    #[error("{error}\nNothing was saved.")]
    CheckFailed { error: CheckError },
    #[error("account {account} failed its check: {error}")]
    ValidateFailed { account: String, error: CheckError },
    #[error("{system_id} is held by cluster {cluster}: release it through the cluster (`kubemaas cluster scale` or `kubemaas cluster delete`), not by hand")]
    HeldByCluster { system_id: String, cluster: String },
    #[error("{system_id} ({hostname}) is {held}, not by {user}, whose key account {account} uses: kubemaas did not take it, so it will not release it (do it in MAAS if it really must go)")]
    NotOurs {
        system_id: String,
        hostname: String,
        held: String,
        user: String,
        account: String,
    },
    #[error("{system_ids}: taken by MAAS user {user} but no cluster accounts for them (no kubemaas mark MAAS shows, unknown to the store), so they may be another tool's or a person's using the same key; nothing was released. Check with `kubemaas account audit`, then add --force to release them anyway (or --agent-name NAME if you know the kubemaas agent name they carry)")]
    Unaccounted { system_ids: String, user: String },
    #[error("{failed} of {total} machine(s) could not be released (see above)")]
    ReleaseFailed { failed: usize, total: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Maas(#[from] crate::maas::MaasError),
}

/// `account list` / `show`: an account as an operator may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub name: String,
    pub gateway: String,
    pub endpoint: String,
    /// Masked: the first characters of the consumer key, then `****`.
    pub api_key: String,
    pub ca_cert: bool,
    pub created: DateTime<Utc>,
    pub last_validated: Option<DateTime<Utc>>,
    /// Live clusters built on this account.
    pub clusters: Vec<String>,
}

/// `account add` / `validate` / `set-key`: what the checks found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub account: String,
    pub endpoint: String,
    pub maas_version: String,
    pub maas_user: String,
    pub admin: bool,
    pub checks: Vec<String>,
}

/// The checks [`check::check_maas`] makes, in order, as reported.
const CHECKS: [&str; 4] = ["reachable", "maas", "version", "credentials"];

impl CheckReport {
    pub(crate) fn new(account: &str, endpoint: &Endpoint, id: &MaasIdentity) -> Self {
        CheckReport {
            account: account.to_string(),
            endpoint: endpoint.to_string(),
            maas_version: id.version.version.clone(),
            maas_user: id.user.username.clone(),
            admin: id.user.is_superuser,
            checks: CHECKS.iter().map(|c| c.to_string()).collect(),
        }
    }
}

/// The store's gateway column for a gateway name: `local` is "no gateway".
pub(crate) fn store_gateway(gateway: &str) -> Option<String> {
    (gateway != crate::model::account::LOCAL_GATEWAY).then(|| gateway.to_string())
}

fn view(row: &AccountRow, clusters: Vec<String>) -> AccountView {
    AccountView {
        name: row.name.clone(),
        gateway: row
            .gateway
            .clone()
            .unwrap_or_else(|| crate::model::account::LOCAL_GATEWAY.to_string()),
        endpoint: row.endpoint.to_string(),
        api_key: row.api_key.masked(),
        ca_cert: row.ca_cert.is_some(),
        created: row.created,
        last_validated: row.last_validated,
        clusters,
    }
}

/// Checks `account` live and saves it: refused offline when the name is taken or its gateway
/// unknown, then [`check::check_maas`]; nothing is saved unless every check passed. What
/// `account add` and the console's account form run.
pub async fn add_account(
    state_dir: &Path,
    account: &CloudAccount,
) -> Result<CheckReport, AccountError> {
    let store = Store::open(state_dir)?;
    // Offline refusals first: no point asking MAAS about an account that cannot be saved.
    store.read(|r| -> Result<(), AccountError> {
        match r.account(&account.name) {
            Ok(_) => return Err(AccountError::Exists(account.name.clone())),
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(gw) = store_gateway(&account.gateway) {
            r.gateway(&gw)?;
        }
        Ok(())
    })?;
    let client = connect::client_with(
        state_dir,
        &account.name,
        &account.endpoint,
        &account.api_key,
        account.ca_cert.as_deref(),
        Patience::Check,
    )?;
    let identity = match check_maas(&client).await {
        Ok(identity) => identity,
        Err(error) => {
            // The CA file written for the check belongs to no account.
            connect::remove_ca(state_dir, &account.name);
            return Err(AccountError::CheckFailed { error });
        }
    };
    let new = NewAccount {
        name: account.name.clone(),
        gateway: store_gateway(&account.gateway),
        endpoint: account.endpoint.clone(),
        api_key: account.api_key.clone(),
        ca_cert: account.ca_cert.clone(),
    };
    store.tx(|tx| -> Result<(), StoreError> {
        tx.insert_account(&new)?;
        tx.mark_account_validated(&new.name)
    })?;
    tracing::info!(account = %account.name, endpoint = %account.endpoint, user = %identity.user.username, "cloud account added");
    Ok(CheckReport::new(
        &account.name,
        &account.endpoint,
        &identity,
    ))
}

/// The live clusters on each account, by account name.
fn clusters_by_account(store: &Store) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let clusters = store.read(|r| r.clusters(false))?;
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in clusters {
        by.entry(c.account).or_default().push(c.name);
    }
    Ok(by)
}

/// `account list`.
pub fn list(store: &Store) -> Result<Vec<AccountView>, StoreError> {
    let rows = store.read(|r| r.accounts())?;
    let mut by = clusters_by_account(store)?;
    Ok(rows
        .iter()
        .map(|row| view(row, by.remove(&row.name).unwrap_or_default()))
        .collect())
}

/// `account show NAME`.
pub fn show(store: &Store, name: &str) -> Result<AccountView, StoreError> {
    let row = store.read(|r| r.account(name))?;
    let mut by = clusters_by_account(store)?;
    Ok(view(&row, by.remove(name).unwrap_or_default()))
}

/// `account validate NAME`: the add-time checks against the stored account; records success.
pub async fn validate(state_dir: &Path, name: &str) -> Result<CheckReport, AccountError> {
    let store = Store::open(state_dir)?;
    let row = store.read(|r| r.account(name))?;
    let client = client_for(state_dir, &row, Patience::Check)?;
    let identity = check_maas(&client)
        .await
        .map_err(|error| AccountError::ValidateFailed {
            account: name.to_string(),
            error,
        })?;
    store.tx(|tx| tx.mark_account_validated(name))?;
    Ok(CheckReport::new(name, &row.endpoint, &identity))
}
