//! `kubemaas account release ACCOUNT ID…`: gives machines no live cluster claims back to MAAS,
//! and the command line `account audit` prints for it.

use super::audit::Verdict;
use super::{AccountError, ReleaseArgs};
use crate::accounts::connect::{client_for, Patience};
use crate::cli::output::say_err;
use crate::cli::output::Table;
use crate::maas::ReleaseRequest;
use crate::store::Store;
use serde::Serialize;
use std::path::Path;

/// `kubemaas [--state-dir DIR] account release NAME ID… [--agent-name N…] [--force]`, quoted
/// for a POSIX shell. The agent names the audit was given go along, so that the release sees
/// the machines carrying them as kubemaas's, as the audit did.
pub fn release_command(
    state_dir_flag: Option<&Path>,
    account: &str,
    ids: &[String],
    agent_names: &[String],
    force: bool,
) -> String {
    let mut words = vec!["kubemaas".to_string()];
    if let Some(dir) = state_dir_flag {
        words.push("--state-dir".into());
        words.push(shell_quote(&dir.display().to_string()));
    }
    words.extend(["account".into(), "release".into(), shell_quote(account)]);
    words.extend(ids.iter().map(|id| shell_quote(id)));
    for name in agent_names {
        words.push("--agent-name".into());
        words.push(shell_quote(name));
    }
    if force {
        words.push("--force".into());
    }
    words.join(" ")
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// One machine `account release` handled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Released {
    pub system_id: String,
    pub hostname: Option<String>,
    /// MAAS's status after the call (Releasing, Disk erasing, Ready), or the error.
    pub status: Option<String>,
    pub error: Option<String>,
}

/// `account release ACCOUNT ID…`: releases each machine no live cluster holds; a machine a
/// cluster holds is refused (the engine must release it, or it would think it still has it),
/// and so is one no cluster accounts for unless `--force` is given (kubemaas cannot tell it
/// from a machine someone took by hand with the same key).
/// Returns what happened to each and how many failed.
pub async fn release(
    state_dir: &Path,
    a: &ReleaseArgs,
) -> Result<(Vec<Released>, usize), AccountError> {
    let store = Store::open(state_dir)?;
    let row = store.read(|r| r.account(&a.account))?;
    // Refuse before releasing anything: a typo in one id must not leave half a job done.
    for id in &a.system_ids {
        if let Some(h) = store.read(|r| r.active_machine(id))? {
            let cluster = store
                .read(|r| r.cluster(&h.cluster))
                .map(|c| c.name)
                .unwrap_or_else(|_| h.cluster.to_string());
            return Err(AccountError::HeldByCluster {
                system_id: id.clone(),
                cluster,
            });
        }
    }
    let client = client_for(state_dir, &row, Patience::Work)?;
    // Only machines this account's MAAS user holds: an admin key could release anyone's.
    let user = client.whoami().await?;
    for id in &a.system_ids {
        let m = client.machine(id).await?;
        if m.owner.as_deref() != Some(user.username.as_str()) {
            return Err(AccountError::NotOurs {
                system_id: id.clone(),
                hostname: m.hostname.clone(),
                held: match &m.owner {
                    Some(owner) => format!("held by MAAS user {owner}"),
                    None => format!("held by nobody ({})", m.status.label()),
                },
                user: user.username.clone(),
                account: a.account.clone(),
            });
        }
    }
    if !a.force {
        let survey =
            super::survey(&store, &client, &a.account, &user.username, &a.agent_names).await?;
        let unaccounted: Vec<String> = survey
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Unaccounted && a.system_ids.contains(&r.system_id))
            .map(|r| r.system_id.clone())
            .collect();
        if !unaccounted.is_empty() {
            return Err(AccountError::Unaccounted {
                system_ids: unaccounted.join(", "),
                user: user.username.clone(),
            });
        }
    }
    let request = ReleaseRequest {
        erase: a.erase,
        quick_erase: a.quick_erase,
        comment: Some("released by kubemaas account release: no cluster claims it".into()),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut failed = 0;
    for id in &a.system_ids {
        match client.release(id, &request).await {
            Ok(m) => {
                tracing::info!(account = %a.account, system_id = %id, "released an unclaimed machine");
                out.push(Released {
                    system_id: id.clone(),
                    hostname: Some(m.hostname.clone()),
                    status: Some(if m.status_name.is_empty() {
                        m.status.label().to_string()
                    } else {
                        m.status_name.clone()
                    }),
                    error: None,
                });
            }
            Err(e) => {
                failed += 1;
                say_err!("error: releasing {id}: {e}");
                out.push(Released {
                    system_id: id.clone(),
                    hostname: None,
                    status: None,
                    error: Some(e.to_string()),
                });
            }
        }
    }
    Ok((out, failed))
}

pub(super) fn render_released(rows: &[Released]) -> String {
    let mut t = Table::new(["SYSTEM_ID", "HOSTNAME", "STATUS"]);
    for r in rows {
        t.row([
            r.system_id.clone(),
            r.hostname.clone().unwrap_or_else(|| "-".into()),
            r.status
                .clone()
                .unwrap_or_else(|| "not released (see error above)".into()),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_commands_are_shell_safe() {
        let ids = vec!["abc123".to_string(), "def456".to_string()];
        assert_eq!(
            release_command(None, "lab", &ids, &[], false),
            "kubemaas account release lab abc123 def456"
        );
        assert_eq!(
            release_command(
                Some(Path::new("/tmp/my state")),
                "lab",
                &ids[..1],
                &["kubemaas:x y".into()],
                true
            ),
            "kubemaas --state-dir '/tmp/my state' account release lab abc123 --agent-name 'kubemaas:x y' --force"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
