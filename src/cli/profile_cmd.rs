//! `kubemaas profile list|show|import`: the cluster profiles a cluster spec can name — the ones
//! kubemaas ships (always available, never stored or changed) and the operators' own, imported
//! into the store after [`crate::model::import_profile`] accepted them.

use super::output::{print_structured, OutputFormat, Table};
use crate::cli::output::{say, say_inline};
use crate::model::profile::{ProfileError, DEFAULT_PROFILE};
use crate::model::{import_profile, shipped_profiles, ClusterProfile, LayerKind};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    #[command(subcommand)]
    pub command: ProfileCommand,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ProfileCommand {
    /// List the shipped and imported profiles.
    List,
    /// Show a profile as a document (`NAME`, or `NAME@VERSION` for an older imported version).
    Show { name: String },
    /// Check a `kind: ClusterProfile` YAML file and store it.
    Import { file: PathBuf },
}

/// Where a profile comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileSource {
    /// Built into kubemaas (`assets/profiles/`).
    Shipped,
    /// Imported by an operator into this state dir.
    Imported,
}

/// A profile and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileEntry {
    pub source: ProfileSource,
    /// When it was imported (imported profiles only).
    pub imported: Option<DateTime<Utc>>,
    pub profile: ClusterProfile,
}

/// What went wrong in a `profile` command.
#[derive(Debug, thiserror::Error)]
pub enum ProfileCmdError {
    #[error("cannot read the profile file {}: {error}; check the path and its permissions", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is not a usable cluster profile: {error}", path.display())]
    Invalid { path: PathBuf, error: ProfileError },
    #[error("`{0}` is the name of a profile shipped with kubemaas, which cannot be replaced: give your profile another metadata.name (e.g. `{0}-site`)")]
    ShippedName(String),
    #[error("no profile `{name}`{}: list them with `kubemaas profile list`", version.as_ref().map(|v| format!(" at version {v}")).unwrap_or_default())]
    NotFound {
        name: String,
        version: Option<String>,
    },
    #[error("the stored profile {name}@{version} cannot be read ({error}): import it again under a new version")]
    Damaged {
        name: String,
        version: String,
        error: Box<StoreError>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every profile a cluster may use: the shipped ones, then the imported ones by name and in the
/// order their versions were imported. An imported row that no longer reads is logged and left
/// out rather than hiding every other profile.
pub fn available_profiles(store: &Store) -> Result<Vec<ProfileEntry>, StoreError> {
    let mut entries: Vec<ProfileEntry> = shipped_profiles()
        .into_iter()
        .map(|profile| ProfileEntry {
            source: ProfileSource::Shipped,
            imported: None,
            profile,
        })
        .collect();
    for row in store.read(|r| r.profiles())? {
        let shipped_copy = entries.iter().any(|e| {
            e.source == ProfileSource::Shipped
                && e.profile.metadata.name == row.name
                && e.profile.metadata.version == row.version
        });
        if row.builtin || shipped_copy {
            continue;
        }
        match row.document_as::<ClusterProfile>() {
            Ok(profile) => entries.push(ProfileEntry {
                source: ProfileSource::Imported,
                imported: Some(row.created),
                profile,
            }),
            Err(e) => {
                tracing::warn!(profile = %row.name, version = %row.version, error = %e, "a stored profile does not read; left out")
            }
        }
    }
    Ok(entries)
}

/// The profile `name` (its latest imported version when several were imported), or exactly
/// `version` when given. What the engine resolves a cluster spec's `profile.name` with.
pub fn find_profile(
    store: &Store,
    name: &str,
    version: Option<&str>,
) -> Result<ProfileEntry, ProfileCmdError> {
    if let Some(v) = version {
        let shipped = shipped_profiles()
            .into_iter()
            .find(|p| p.metadata.name == name && p.metadata.version == v);
        if let Some(profile) = shipped {
            return Ok(ProfileEntry {
                source: ProfileSource::Shipped,
                imported: None,
                profile,
            });
        }
        let row = match store.read(|r| r.profile(name, v)) {
            Ok(row) => row,
            Err(StoreError::NotFound { .. }) => {
                return Err(ProfileCmdError::NotFound {
                    name: name.into(),
                    version: Some(v.into()),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let profile =
            row.document_as::<ClusterProfile>()
                .map_err(|source| ProfileCmdError::Damaged {
                    name: name.into(),
                    version: v.into(),
                    error: Box::new(source),
                })?;
        return Ok(ProfileEntry {
            source: ProfileSource::Imported,
            imported: Some(row.created),
            profile,
        });
    }
    available_profiles(store)?
        .into_iter()
        .rev()
        .find(|e| e.profile.metadata.name == name)
        .ok_or_else(|| ProfileCmdError::NotFound {
            name: name.into(),
            version: None,
        })
}

/// `profile import FILE`: checks the document and stores it as a new version.
pub fn import(store: &Store, file: &Path) -> Result<ClusterProfile, ProfileCmdError> {
    let text = std::fs::read_to_string(file).map_err(|source| ProfileCmdError::Unreadable {
        path: file.to_path_buf(),
        error: source,
    })?;
    let profile = import_profile(&text).map_err(|source| ProfileCmdError::Invalid {
        path: file.to_path_buf(),
        error: source,
    })?;
    let name = &profile.metadata.name;
    if shipped_profiles().iter().any(|p| &p.metadata.name == name) {
        return Err(ProfileCmdError::ShippedName(name.clone()));
    }
    store.tx(|tx| tx.insert_profile(name, &profile.metadata.version, &profile, false))?;
    tracing::info!(profile = %name, version = %profile.metadata.version, "cluster profile imported");
    Ok(profile)
}

/// `NAME@VERSION` → (NAME, Some(VERSION)); `NAME` → (NAME, None).
fn split_version(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('@') {
        Some((name, version)) if !version.is_empty() => (name, Some(version)),
        _ => (arg.trim_end_matches('@'), None),
    }
}

pub fn run(args: ProfileArgs, state_dir: &Path) -> color_eyre::Result<()> {
    let store = Store::open(state_dir)?;
    let format = args.output;
    match args.command {
        ProfileCommand::List => {
            let entries = available_profiles(&store)?;
            match format {
                OutputFormat::Table => say_inline!("{}", render_list(&entries)),
                _ => print_structured(format, &entries)?,
            }
        }
        ProfileCommand::Show { name } => {
            let (name, version) = split_version(&name);
            let entry = find_profile(&store, name, version)?;
            match format {
                OutputFormat::Table => {
                    let origin = match entry.source {
                        ProfileSource::Shipped => "shipped with kubemaas".to_string(),
                        ProfileSource::Imported => format!(
                            "imported {}",
                            entry.imported.map(|t| t.to_rfc3339()).unwrap_or_default()
                        ),
                    };
                    say_inline!("# {origin}\n{}", entry.profile.to_yaml());
                }
                // The document alone, so `-o yaml` output imports back as it is.
                _ => print_structured(format, &entry.profile)?,
            }
        }
        ProfileCommand::Import { file } => {
            let profile = import(&store, &file)?;
            let summary = serde_json::json!({
                "imported": profile.metadata.name,
                "version": profile.metadata.version,
                "layers": profile.spec.layers.len(),
            });
            match format {
                OutputFormat::Table => say!(
                    "profile {}@{} imported ({} layers)",
                    profile.metadata.name,
                    profile.metadata.version,
                    profile.spec.layers.len()
                ),
                _ => print_structured(format, &summary)?,
            }
        }
    }
    Ok(())
}

/// `name version` of a profile's layer of `kind`, or `-`.
fn layer_text(p: &ClusterProfile, kind: LayerKind) -> String {
    p.layer_of(kind)
        .map(|l| format!("{} {}", l.name, l.version))
        .unwrap_or_else(|| "-".into())
}

fn render_list(entries: &[ProfileEntry]) -> String {
    let mut t = Table::new([
        "NAME",
        "VERSION",
        "SOURCE",
        "OS",
        "KUBERNETES",
        "CNI",
        "DESCRIPTION",
    ]);
    for e in entries {
        let p = &e.profile;
        let mut source = match e.source {
            ProfileSource::Shipped => "shipped",
            ProfileSource::Imported => "imported",
        }
        .to_string();
        if p.metadata.name == DEFAULT_PROFILE {
            source.push_str(" (default)");
        }
        t.row([
            p.metadata.name.clone(),
            p.metadata.version.clone(),
            source,
            layer_text(p, LayerKind::Os),
            p.layer_of(LayerKind::Kubernetes)
                .map(|l| l.version.clone())
                .unwrap_or_else(|| "-".into()),
            layer_text(p, LayerKind::Network),
            p.metadata.description.clone(),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_at_version() {
        assert_eq!(split_version("site@2.0.0"), ("site", Some("2.0.0")));
        assert_eq!(split_version("site"), ("site", None));
        assert_eq!(split_version("site@"), ("site", None));
    }
}
