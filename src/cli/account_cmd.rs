//! `kubemaas account …`: the MAAS regions (cloud accounts) clusters are built on.
//!
//! An account is checked live before it is saved (reachability, TLS, that it is a MAAS of a
//! supported version, that the key is accepted) and nothing is saved when a check fails. The
//! API key is a secret: it is read from `--api-key`, `MAAS_API_KEY` or stdin (`--api-key -`),
//! kept only in the 0600 state database, and shown masked.

pub mod audit;
pub mod release;
mod remote;
mod render;

use super::output::{print_structured, OutputFormat, Table};
use super::secret_arg::SecretArg;
use crate::accounts::check::check_maas;
use crate::accounts::connect::{self, client_for, Patience};
use crate::accounts::store_gateway;
use crate::accounts::{add_account, list, show, validate, AccountError, AccountView, CheckReport};
use crate::cli::output::say_inline;
use crate::maas::{ApiKey, MachineFilter};
use crate::model::{CloudAccount, Problems};
use crate::paths::Paths;
use crate::store::{Store, StoreError};
use audit::{AuditInput, AuditReport};
use clap::{Args, Subcommand};
use release::{release_command, render_released};
use render::{render_check, render_list, render_show};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Args)]
pub struct AccountArgs {
    #[command(subcommand)]
    pub command: AccountCommand,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AccountCommand {
    /// Add a MAAS region, after checking it live (nothing is saved if a check fails).
    Add(AddArgs),
    /// List the accounts.
    List {
        /// List the accounts of this paired gateway (`local`: this host's).
        #[arg(long, default_value = crate::model::account::LOCAL_GATEWAY)]
        gateway: String,
    },
    /// Show one account (the API key masked).
    Show {
        name: String,
        /// Show an account of this paired gateway (`local`: this host's).
        #[arg(long, default_value = crate::model::account::LOCAL_GATEWAY)]
        gateway: String,
    },
    /// Check an account against its MAAS again: reachability, TLS, version, API key.
    Validate { name: String },
    /// Replace an account's API key (after rotating it in MAAS), checked live first.
    SetKey(SetKeyArgs),
    /// Remove an account; refused while clusters use it.
    Delete { name: String },
    /// Every machine kubemaas holds in the account's MAAS, and those no live cluster claims.
    Audit(AuditArgs),
    /// Release machines no live cluster claims (as `account audit` lists them) back to MAAS.
    Release(ReleaseArgs),
}

/// What MAAS and the store say about an account's machines: the agent names asked about and
/// every machine classified (see [`audit::classify`]).
pub(crate) struct Survey {
    pub probes: Vec<String>,
    pub rows: Vec<audit::AuditRow>,
}

/// Reads the account's clusters and held machines from the store and its machines from MAAS
/// (one listing, plus one per agent name the store can name and `extra`), and classifies them.
/// `account audit` prints it; `account release` checks its ids against it.
pub(crate) async fn survey(
    store: &Store,
    client: &crate::maas::MaasClient,
    account: &str,
    maas_user: &str,
    extra: &[String],
) -> Result<Survey, AccountError> {
    let clusters: Vec<_> = store
        .read(|r| r.clusters(true))?
        .into_iter()
        .filter(|c| c.account == account)
        .collect();
    let held: Vec<_> = store.read(|r| -> Result<Vec<_>, StoreError> {
        let mut held = Vec::new();
        for c in clusters.iter().filter(|c| !c.is_deleted()) {
            held.extend(r.machines(&c.id, false)?);
        }
        Ok(held)
    })?;
    let machines = client.machines(&MachineFilter::default()).await?;
    let probes = audit::agent_names_to_probe(&clusters, extra);
    let mut agent_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in &probes {
        for m in client
            .machines(&MachineFilter::agent_name(name.clone()))
            .await?
        {
            agent_names
                .entry(m.system_id)
                .or_default()
                .push(name.clone());
        }
    }
    let rows = audit::classify(&AuditInput {
        machines: &machines,
        agent_names: &agent_names,
        clusters: &clusters,
        held: &held,
        maas_user,
    });
    Ok(Survey { probes, rows })
}

#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// The account's name (a DNS-1123 label, like `lab` or `dc1-prod`).
    pub name: String,
    /// MAAS region URL, e.g. http://maas.example:5240/MAAS
    #[arg(long, env = "MAAS_URL")]
    pub endpoint: String,
    /// MAAS API key consumer_key:token_key:token_secret; `-` reads it from stdin. Never printed.
    #[arg(long, env = "MAAS_API_KEY", hide_env_values = true)]
    pub api_key: Option<SecretArg>,
    /// PEM file with the CA that signed the MAAS region's TLS certificate (https only).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// The gateway that reaches this MAAS; `local` is this host.
    #[arg(long, default_value = crate::model::account::LOCAL_GATEWAY)]
    pub gateway: String,
}

#[derive(Debug, Clone, Args)]
pub struct SetKeyArgs {
    pub name: String,
    /// The new API key; `-` reads it from stdin. Never printed.
    #[arg(long, env = "MAAS_API_KEY", hide_env_values = true)]
    pub api_key: Option<SecretArg>,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    pub name: String,
    /// Also look for machines allocated with this agent name (repeatable). MAAS does not show
    /// agent names, only finds machines by an exact one.
    #[arg(long = "agent-name", value_name = "AGENT_NAME")]
    pub agent_names: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ReleaseArgs {
    /// The account whose MAAS holds the machines.
    pub account: String,
    /// The machines' MAAS system ids.
    #[arg(required = true, value_name = "SYSTEM_ID")]
    pub system_ids: Vec<String>,
    /// Erase the disks while releasing.
    #[arg(long)]
    pub erase: bool,
    /// With --erase: a quick erase (wipe the start and end of each disk).
    #[arg(long, requires = "erase")]
    pub quick_erase: bool,
    /// Also release machines no cluster accounts for: taken by the account's MAAS user but
    /// with no kubemaas mark MAAS shows and unknown to the store (`account audit` calls them
    /// unaccounted). They may be another tool's or a person's using the same key.
    #[arg(long)]
    pub force: bool,
    /// An agent name to look for besides the store's clusters' (as `account audit
    /// --agent-name`): a machine carrying it counts as kubemaas's, so needs no --force.
    #[arg(long = "agent-name", value_name = "NAME")]
    pub agent_names: Vec<String>,
}

/// Runs an `account` command. `state_dir_flag` is the `--state-dir` the operator gave, so the
/// commands kubemaas prints for them to run work as printed.
pub async fn run(
    args: AccountArgs,
    paths: &Paths,
    state_dir_flag: Option<&Path>,
) -> color_eyre::Result<()> {
    let state_dir = paths.state_dir.as_path();
    let format = args.output;
    match args.command {
        AccountCommand::Add(a) if store_gateway(&a.gateway).is_some() => {
            let report = remote::add(state_dir, &a, read_key(&a.api_key)?).await?;
            emit(format, &report, || render_check(&report, "added"))
        }
        AccountCommand::Add(a) => {
            let report = add(state_dir, &a).await?;
            emit(format, &report, || render_check(&report, "added"))
        }
        AccountCommand::List { gateway } => {
            let views = match store_gateway(&gateway) {
                Some(gw) => remote::list(state_dir, &gw).await?,
                None => list(&Store::open(state_dir)?)?,
            };
            emit(format, &views, || render_list(&views))
        }
        AccountCommand::Show { name, gateway } => {
            let v = match store_gateway(&gateway) {
                Some(gw) => remote::show(state_dir, &gw, &name).await?,
                None => show(&Store::open(state_dir)?, &name)?,
            };
            emit(format, &v, || render_show(&v))
        }
        AccountCommand::Validate { name } => {
            let report = validate(state_dir, &name).await?;
            emit(format, &report, || render_check(&report, "valid"))
        }
        AccountCommand::SetKey(a) => {
            let report = set_key(state_dir, &a).await?;
            emit(format, &report, || render_check(&report, "key replaced"))
        }
        AccountCommand::Delete { name } => {
            let store = Store::open(state_dir)?;
            store.tx(|tx| tx.delete_account(&name))?;
            connect::remove_ca(state_dir, &name);
            tracing::info!(account = %name, "cloud account removed");
            let done = serde_json::json!({ "deleted": name });
            emit(format, &done, || format!("account {name} deleted\n"))
        }
        AccountCommand::Audit(a) => {
            let report = run_audit(state_dir, &a, state_dir_flag).await?;
            emit(format, &report, || audit::render(&report))
        }
        AccountCommand::Release(a) => {
            let (released, failed) = release::release(state_dir, &a).await?;
            emit(format, &released, || render_released(&released))?;
            if failed > 0 {
                return Err(AccountError::ReleaseFailed {
                    failed,
                    total: a.system_ids.len(),
                }
                .into());
            }
            Ok(())
        }
    }
}

fn emit<T: Serialize + ?Sized>(
    format: OutputFormat,
    value: &T,
    table: impl FnOnce() -> String,
) -> color_eyre::Result<()> {
    match format {
        OutputFormat::Table => {
            say_inline!("{}", table());
            Ok(())
        }
        _ => print_structured(format, value),
    }
}

/// The key from the flag / environment, or a line of stdin for `-`.
fn read_key(arg: &Option<SecretArg>) -> Result<String, AccountError> {
    let raw = arg
        .as_ref()
        .ok_or(AccountError::MissingApiKey)?
        .expose()
        .to_string();
    if raw.trim() != "-" {
        return Ok(raw);
    }
    let mut line = String::new();
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("MAAS API key (consumer_key:token_key:token_secret), then Enter: ");
    }
    std::io::stdin()
        .read_line(&mut line)
        .map_err(AccountError::Stdin)?;
    Ok(line.trim().to_string())
}

/// `account add`: parse, check the name is free, check MAAS live, then save.
pub async fn add(state_dir: &Path, a: &AddArgs) -> Result<CheckReport, AccountError> {
    let key = read_key(&a.api_key)?;
    let ca_pem =
        match &a.ca_cert {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|error| {
                AccountError::CaCertUnreadable {
                    path: path.clone(),
                    error,
                }
            })?),
            None => None,
        };
    let account = CloudAccount::from_parts(
        &a.name,
        "",
        &a.gateway,
        &a.endpoint,
        &key,
        ca_pem.as_deref(),
    )
    .map_err(AccountError::Invalid)?;
    drop(key);
    add_account(state_dir, &account).await
}

/// `account set-key NAME`: the new key must pass the checks before it replaces the old one.
pub async fn set_key(state_dir: &Path, a: &SetKeyArgs) -> Result<CheckReport, AccountError> {
    let key: ApiKey = read_key(&a.api_key)?
        .parse()
        .map_err(|e: crate::maas::ApiKeyError| {
            let mut p = Problems::new();
            p.push("spec.apiKey", e.to_string());
            AccountError::Invalid(p)
        })?;
    let store = Store::open(state_dir)?;
    let mut row = store.read(|r| r.account(&a.name))?;
    row.api_key = key.clone();
    let client = client_for(state_dir, &row, Patience::Check)?;
    let identity = check_maas(&client)
        .await
        .map_err(|error| AccountError::CheckFailed { error })?;
    store.tx(|tx| -> Result<(), StoreError> {
        tx.set_account_api_key(&a.name, &key)?;
        tx.mark_account_validated(&a.name)
    })?;
    tracing::info!(account = %a.name, "cloud account API key replaced");
    Ok(CheckReport::new(&a.name, &row.endpoint, &identity))
}

/// `account audit NAME`.
pub async fn run_audit(
    state_dir: &Path,
    a: &AuditArgs,
    state_dir_flag: Option<&Path>,
) -> Result<AuditReport, AccountError> {
    let store = Store::open(state_dir)?;
    let row = store.read(|r| r.account(&a.name))?;
    let client = client_for(state_dir, &row, Patience::Work)?;
    let user = client.whoami().await?;
    let survey = survey(&store, &client, &a.name, &user.username, &a.agent_names).await?;
    let (probes, rows) = (survey.probes, survey.rows);
    let unclaimed = audit::unclaimed(&rows);
    // Releasing an unaccounted machine needs --force (it may be another tool's): the printed
    // command carries it only when such a machine is in it, and the table says why.
    let force = rows
        .iter()
        .any(|r| r.verdict == audit::Verdict::Unaccounted && unclaimed.contains(&r.system_id));
    let release_command = (!unclaimed.is_empty())
        .then(|| release_command(state_dir_flag, &a.name, &unclaimed, &a.agent_names, force));
    tracing::info!(account = %a.name, machines = rows.len(), unclaimed = unclaimed.len(), "account audited");
    Ok(AuditReport {
        account: a.name.clone(),
        endpoint: row.endpoint.to_string(),
        maas_user: user.username,
        agent_names_checked: probes,
        machines: rows,
        unclaimed,
        release_command,
    })
}
