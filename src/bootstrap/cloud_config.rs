//! The subset of cloud-init's `#cloud-config` format kubemaas writes, as serde types so quoting
//! is always right. `write_files` and `runcmd` behave the same across the cloud-init releases
//! MAAS images carry, and neither merges with the apt and network settings MAAS itself supplies
//! through vendor-data. `apt` is written only when the profile names an archive mirror: then it
//! is meant to override MAAS's (user-data wins over vendor-data).

use serde::{Deserialize, Serialize};

/// The first line cloud-init requires to treat user-data as cloud-config.
pub const HEADER: &str = "#cloud-config\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CloudConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write_files: Vec<WriteFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runcmd: Vec<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apt: Option<AptConfig>,
}

/// cloud-init's `apt` module: the Ubuntu archive the nodes use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AptConfig {
    pub primary: Vec<AptArchive>,
    pub security: Vec<AptArchive>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AptArchive {
    pub arches: Vec<String>,
    pub uri: String,
}

impl AptConfig {
    /// Every architecture's archive and security pocket from `uri` (an Ubuntu mirror serves
    /// both).
    pub fn mirror(uri: &str) -> AptConfig {
        let archive = || {
            vec![AptArchive {
                arches: vec!["default".into()],
                uri: uri.to_string(),
            }]
        };
        AptConfig {
            primary: archive(),
            security: archive(),
        }
    }
}

/// A file cloud-init writes in its init stage, before any command runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFile {
    pub path: String,
    pub content: String,
    /// Octal mode as a string: cloud-init's schema wants a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `b64` etc.; kubemaas writes plain text but reads what others may have written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

impl WriteFile {
    pub fn new(path: &str, content: impl Into<String>, mode: &str) -> Self {
        WriteFile {
            path: path.into(),
            content: content.into(),
            permissions: Some(mode.into()),
            owner: Some("root:root".into()),
            encoding: None,
        }
    }
}

/// One `runcmd` entry. cloud-init joins all entries into one shell script, quoting each
/// element of an argv list itself; so an argv list needs no quoting from us, and a `Shell`
/// string (used only for fixed text such as `set -e`) is taken literally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Command {
    Argv(Vec<String>),
    Shell(String),
}

impl Command {
    pub fn argv<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command::Argv(args.into_iter().map(Into::into).collect())
    }
}

/// `apt-get ARGS` as a first-boot command: non-interactive, waiting for the dpkg lock (on first
/// boot unattended-upgrades often holds it) rather than failing, and retrying flaky mirror
/// downloads. `env` (like proxy settings) comes first, through `env`.
pub fn apt_get<S: AsRef<str>>(env: &[String], args: &[S]) -> Command {
    let mut argv = vec!["env".to_string()];
    argv.extend(env.iter().cloned());
    argv.extend(
        [
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "-q",
            "-o",
            "DPkg::Lock::Timeout=600",
            "-o",
            "Acquire::Retries=5",
        ]
        .map(String::from),
    );
    argv.extend(args.iter().map(|a| a.as_ref().to_string()));
    Command::Argv(argv)
}

impl CloudConfig {
    /// `#cloud-config` followed by the YAML body.
    pub fn render(&self) -> Result<String, serde_yaml::Error> {
        Ok(format!("{HEADER}{}", serde_yaml::to_string(self)?))
    }
}
