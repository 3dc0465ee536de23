//! The cloud-init user-data of a gateway node (`kubemaas gateway deploy`): etcd from Ubuntu's
//! `etcd-server` package (one member, or three forming one cluster over the nodes' MAAS host
//! names), kubemaas downloaded from the artifact URL and checked against its SHA-256, the
//! gateway's gateway.yaml (MAAS key included, 0600 root), the pre-issued pairing code, and a
//! systemd unit running `kubemaas gateway run`.
//!
//! Built from the same [`CloudConfig`] blocks as a cluster node's user-data (`write_files` and
//! `runcmd` only), so the same `cloud-init schema` check applies.
//!
//! # Secrets in user-data
//! The user-data carries the MAAS API key (inside gateway.yaml) and the pairing code. MAAS
//! keeps user-data readable by MAAS administrators and serves it to the node itself over its
//! OAuth-signed metadata channel; on the node cloud-init keeps it root-only. Whoever can read
//! it already holds the MAAS API key, which is worth more than the code. The code is still
//! kept short-lived: the gateway reads it once at its first start, deletes the file, and
//! accepts the code only until [`PREISSUED_CODE_LIFETIME`] after the file was written (first
//! boot), and only once.

use super::cloud_config::{apt_get, CloudConfig, Command, WriteFile};
use super::error::BootstrapError;
use crate::gateway::config::ProxySettings;
use crate::gateway::pairing::PairingCode;
use std::time::Duration;

/// gateway.yaml on the node (holds the MAAS API key: 0600 root).
pub const GATEWAY_CONFIG_PATH: &str = "/etc/kubemaas/gateway.yaml";
/// The pre-issued pairing code (0600 root); the gateway deletes it when it reads it.
pub const PAIRING_CODE_PATH: &str = "/etc/kubemaas/pairing-code";
/// MAAS's CA certificate, when gateway.yaml names one (`maas.caFile` points here on the node).
pub const MAAS_CA_PATH: &str = "/etc/kubemaas/maas-ca.pem";
/// Debian's etcd unit reads its settings from here.
pub const ETCD_DEFAULTS_PATH: &str = "/etc/default/etcd";
pub const GATEWAY_UNIT_PATH: &str = "/etc/systemd/system/kubemaas-gateway.service";
pub const GATEWAY_UNIT: &str = "kubemaas-gateway.service";
pub const INSTALL_SCRIPT_PATH: &str = "/etc/kubemaas/install-kubemaas.sh";
pub const BINARY_PATH: &str = "/usr/local/bin/kubemaas";
/// The gateway's state dir on the node (its store, CA and admin socket).
pub const NODE_STATE_DIR: &str = "/var/lib/kubemaas";
pub const ETCD_PEER_PORT: u16 = 2380;
pub const ETCD_CLIENT_PORT: u16 = 2379;
/// How long after first boot a deployed gateway accepts the code from its user-data.
pub const PREISSUED_CODE_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Downloads `$1` to a temporary file, checks its SHA-256 against `$2`, then installs it (at
/// `$3`, by default [`BINARY_PATH`]). A static script: the URL and digest arrive as arguments,
/// so nothing is spliced into shell text.
const INSTALL_SCRIPT: &str = r#"#!/bin/sh
# Written by kubemaas: downloads kubemaas from $1, checks it against the SHA-256 $2, installs it.
set -eu
url="$1"
want="$2"
dest="${3:-/usr/local/bin/kubemaas}"
tmp="$dest.download"
curl -fsSL --retry 5 --retry-connrefused -o "$tmp" "$url"
got=$(sha256sum "$tmp" | awk '{print $1}')
if [ "$got" != "$want" ]; then
  rm -f "$tmp"
  echo "kubemaas: the file at $url has SHA-256 $got, not $want as gateway.yaml says: fix artifact.sha256 (or the file) and rerun kubemaas gateway deploy" >&2
  exit 1
fi
chmod 0755 "$tmp"
mv "$tmp" "$dest"
echo "kubemaas: installed $dest ($got)"
"#;

/// One etcd member: its name and the host name its peers reach it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    pub name: String,
    pub host: String,
}

/// How a node's etcd member starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EtcdStart<'a> {
    /// With the other members, forming a new cluster of [`GatewayNodePlan::members`].
    #[default]
    New,
    /// Joining a running cluster that has already admitted it (a replacement node: see
    /// [`crate::ha::membership::repair`]), with the initial cluster the membership API gave:
    /// `name=peer-url,…` over every member, this one included.
    Existing { initial_cluster: &'a str },
}

/// Where the node gets kubemaas from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryArtifact {
    pub url: String,
    /// 64 lowercase hex digits.
    pub sha256: String,
    /// Served by the deploying console itself (`--serve-binary`): fetched directly, never
    /// through the proxy.
    pub served: bool,
}

/// Everything one gateway node's user-data needs. `Debug` hides gateway.yaml and the code.
#[derive(Clone)]
pub struct GatewayNodePlan {
    /// The gateway's name (a DNS label).
    pub gateway: String,
    /// This node's etcd member name; one of `members`.
    pub member: String,
    /// Every member of the gateway's etcd cluster, this node included (1 or 3).
    pub members: Vec<EtcdMember>,
    /// gateway.yaml as the node reads it, API key in clear.
    pub gateway_yaml: String,
    /// The PEM MAAS's certificate chains to, when MAAS is https with a private CA.
    pub maas_ca_pem: Option<String>,
    pub binary: BinaryArtifact,
    pub pairing_code: PairingCode,
    /// For apt and the download (the gateway process itself reaches MAAS directly).
    pub proxy: ProxySettings,
}

impl std::fmt::Debug for GatewayNodePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayNodePlan")
            .field("gateway", &self.gateway)
            .field("member", &self.member)
            .field("members", &self.members)
            .field("binary", &self.binary)
            .field("gateway_yaml", &"****")
            .field("pairing_code", &self.pairing_code)
            .finish_non_exhaustive()
    }
}

/// A word that can sit in an etcd URL list or a systemd line without quoting.
fn plain_word(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

impl GatewayNodePlan {
    fn validate(&self) -> Result<(), BootstrapError> {
        if !matches!(self.members.len(), 1 | 3) {
            return Err(BootstrapError::plan(
                "gateway.members",
                format!("{} etcd members", self.members.len()),
                "a gateway has 1 node, or 3 for high availability (placement.nodes)",
            ));
        }
        if !self.members.iter().any(|m| m.name == self.member) {
            return Err(BootstrapError::plan(
                "gateway.member",
                format!("`{}` is not one of the etcd members", self.member),
                "this is a kubemaas bug: the node must be one of the gateway's machines",
            ));
        }
        for m in &self.members {
            if !plain_word(&m.name) || !plain_word(&m.host) {
                return Err(BootstrapError::plan(
                    "gateway.members",
                    format!(
                        "machine `{}` at `{}` has a name etcd cannot use",
                        m.name, m.host
                    ),
                    "give the machine a plain host name in MAAS (letters, digits, dashes)",
                ));
            }
        }
        if !plain_word(&self.gateway) {
            return Err(BootstrapError::plan(
                "gateway.name",
                format!("`{}` is not a DNS label", self.gateway),
                "fix `name:` in gateway.yaml",
            ));
        }
        let url_ok =
            url::Url::parse(&self.binary.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !url_ok || self.binary.url.chars().any(char::is_whitespace) {
            return Err(BootstrapError::plan(
                "gateway.artifact.url",
                "not an http(s) URL".to_string(),
                "fix artifact.url in gateway.yaml, or pass --gateway-binary-url URL",
            ));
        }
        let digest_ok = self.binary.sha256.len() == 64
            && self
                .binary
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !digest_ok {
            return Err(BootstrapError::plan(
                "gateway.artifact.sha256",
                "not 64 lowercase hex digits".to_string(),
                "give the digest `sha256sum FILE` prints in artifact.sha256",
            ));
        }
        Ok(())
    }

    /// Checks a joining member's initial cluster: plain `name=http(s)://host:port` entries
    /// (the text lands in a quoted shell variable), this member among them at its own URL.
    fn validate_start(&self, start: EtcdStart<'_>) -> Result<(), BootstrapError> {
        let EtcdStart::Existing { initial_cluster } = start else {
            return Ok(());
        };
        if self.members.len() != 3 {
            return Err(BootstrapError::plan(
                "gateway.etcd",
                "a single-member etcd joins no cluster".to_string(),
                "this is a kubemaas bug: only a node of a 3-node gateway joins a running etcd",
            ));
        }
        let me = self.members.iter().find(|m| m.name == self.member);
        let mine = me.map(|m| format!("{}={}", m.name, self.peer_url(m)));
        let mut found = false;
        for entry in initial_cluster.split(',') {
            let ok = entry.split_once('=').is_some_and(|(name, url)| {
                plain_word(name)
                    && !url.contains(['"', '\\', '$', '`', ' ', '\n'])
                    && url::Url::parse(url)
                        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.port().is_some())
            });
            if !ok {
                return Err(BootstrapError::plan(
                    "gateway.etcd.initialCluster",
                    format!("`{entry}` is not a member as NAME=http(s)://HOST:PORT"),
                    "this is a kubemaas bug: the gateway's etcd listed a member it cannot have",
                ));
            }
            found |= Some(entry) == mine.as_deref();
        }
        if !found {
            return Err(BootstrapError::plan(
                "gateway.etcd.initialCluster",
                format!(
                    "the running etcd has not admitted `{}`",
                    mine.unwrap_or_default()
                ),
                "rerun `kubemaas gateway deploy`: it asks the gateway to admit the node first",
            ));
        }
        Ok(())
    }

    fn peer_url(&self, m: &EtcdMember) -> String {
        if self.members.len() == 1 {
            format!("http://127.0.0.1:{ETCD_PEER_PORT}")
        } else {
            format!("https://{}:{ETCD_PEER_PORT}", m.host)
        }
    }

    /// `/etc/default/etcd`. Clients (the gateway) use the local member only, on loopback. A
    /// single member keeps its peer port on loopback too; three members talk over the nodes'
    /// network with etcd's self-signed peer TLS (`peer-auto-tls`): encrypted, though members do
    /// not authenticate each other by certificate.
    pub fn etcd_defaults(&self) -> String {
        self.etcd_defaults_for(EtcdStart::New)
    }

    /// `/etc/default/etcd` for a member starting as `start` says.
    pub fn etcd_defaults_for(&self, start: EtcdStart<'_>) -> String {
        let me = self
            .members
            .iter()
            .find(|m| m.name == self.member)
            .unwrap_or(&self.members[0]);
        let client = format!("http://127.0.0.1:{ETCD_CLIENT_PORT}");
        let cluster = self
            .members
            .iter()
            .map(|m| format!("{}={}", m.name, self.peer_url(m)))
            .collect::<Vec<_>>()
            .join(",");
        let listen_peer = if self.members.len() == 1 {
            self.peer_url(me)
        } else {
            format!("https://0.0.0.0:{ETCD_PEER_PORT}")
        };
        let mut out = String::from("# Written by kubemaas: this gateway node's etcd member.\n");
        let mut set = |k: &str, v: &str| out.push_str(&format!("{k}=\"{v}\"\n"));
        set("ETCD_NAME", &me.name);
        set("ETCD_DATA_DIR", "/var/lib/etcd/default");
        set("ETCD_LISTEN_CLIENT_URLS", &client);
        set("ETCD_ADVERTISE_CLIENT_URLS", &client);
        set("ETCD_LISTEN_PEER_URLS", &listen_peer);
        set("ETCD_INITIAL_ADVERTISE_PEER_URLS", &self.peer_url(me));
        match start {
            EtcdStart::New => {
                set("ETCD_INITIAL_CLUSTER", &cluster);
                set("ETCD_INITIAL_CLUSTER_STATE", "new");
            }
            EtcdStart::Existing { initial_cluster } => {
                set("ETCD_INITIAL_CLUSTER", initial_cluster);
                set("ETCD_INITIAL_CLUSTER_STATE", "existing");
            }
        }
        set(
            "ETCD_INITIAL_CLUSTER_TOKEN",
            &format!("kubemaas-gateway-{}", self.gateway),
        );
        if self.members.len() > 1 {
            set("ETCD_PEER_AUTO_TLS", "true");
        }
        out
    }

    /// The systemd unit running the gateway. No proxy environment: the gateway reaches MAAS
    /// directly, as `gateway run` does anywhere else.
    pub fn unit(&self) -> String {
        format!(
            "# Written by kubemaas.\n\
             [Unit]\n\
             Description=kubemaas gateway {name}\n\
             Wants=network-online.target\n\
             After=network-online.target etcd.service\n\
             \n\
             [Service]\n\
             ExecStart={BINARY_PATH} --state-dir {NODE_STATE_DIR} gateway run -c {GATEWAY_CONFIG_PATH} --pairing-code-file {PAIRING_CODE_PATH}\n\
             Restart=on-failure\n\
             RestartSec=5\n\
             \n\
             [Install]\n\
             WantedBy=multi-user.target\n",
            name = self.gateway,
        )
    }

    /// Environment for commands that download (apt, curl), with the gateway's own hosts (and a
    /// console-served binary) kept off the proxy.
    fn proxy_env(&self) -> Vec<String> {
        let p = &self.proxy;
        if p.http.is_none() && p.https.is_none() {
            return Vec::new();
        }
        let mut no_proxy = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        no_proxy.extend(self.members.iter().map(|m| m.host.clone()));
        if self.binary.served {
            if let Some(host) = url::Url::parse(&self.binary.url)
                .ok()
                .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
            {
                no_proxy.push(host);
            }
        }
        no_proxy.extend(p.no_proxy.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        no_proxy.retain(|e| seen.insert(e.clone()));
        super::proxy::download_env(p.http.as_deref(), p.https.as_deref(), &no_proxy.join(","))
    }

    fn commands(&self) -> Vec<Command> {
        let s = |v: &[&str]| Command::argv(v.iter().copied());
        let env = self.proxy_env();
        let with_env = |args: &[&str]| {
            let mut full = vec!["env".to_string()];
            full.extend(env.iter().cloned());
            full.extend(args.iter().map(|a| a.to_string()));
            Command::Argv(full)
        };
        let apt = |args: &[&str]| apt_get(&env, args);
        vec![
            // One script: the first failure stops the install and shows in cloud-init status.
            Command::Shell("set -e".into()),
            s(&["install", "-d", "-m", "0700", NODE_STATE_DIR]),
            apt(&["update"]),
            // force-confold keeps the /etc/default/etcd written above.
            apt(&[
                "install",
                "-y",
                "-o",
                "Dpkg::Options::=--force-confold",
                "etcd-server",
                "curl",
            ]),
            s(&["systemctl", "enable", "etcd"]),
            // --no-block: a member of three waits for its peers, which boot at their own pace.
            s(&["systemctl", "restart", "--no-block", "etcd"]),
            with_env(&[
                "sh",
                INSTALL_SCRIPT_PATH,
                &self.binary.url,
                &self.binary.sha256,
            ]),
            s(&["systemctl", "daemon-reload"]),
            s(&["systemctl", "enable", "--now", GATEWAY_UNIT]),
        ]
    }

    /// The user-data as a structure.
    pub fn cloud_config(&self) -> Result<CloudConfig, BootstrapError> {
        self.cloud_config_for(EtcdStart::New)
    }

    /// The user-data as a structure, the etcd member starting as `start` says.
    pub fn cloud_config_for(&self, start: EtcdStart<'_>) -> Result<CloudConfig, BootstrapError> {
        self.validate()?;
        self.validate_start(start)?;
        let mut files = vec![
            WriteFile::new(GATEWAY_CONFIG_PATH, self.gateway_yaml.clone(), "0600"),
            WriteFile::new(
                PAIRING_CODE_PATH,
                format!("{}\n", self.pairing_code.reveal()),
                "0600",
            ),
            WriteFile::new(ETCD_DEFAULTS_PATH, self.etcd_defaults_for(start), "0644"),
            WriteFile::new(INSTALL_SCRIPT_PATH, INSTALL_SCRIPT, "0755"),
            WriteFile::new(GATEWAY_UNIT_PATH, self.unit(), "0644"),
        ];
        if let Some(ca) = &self.maas_ca_pem {
            files.push(WriteFile::new(MAAS_CA_PATH, ca.clone(), "0644"));
        }
        Ok(CloudConfig {
            write_files: files,
            runcmd: self.commands(),
            apt: None,
        })
    }

    /// The `#cloud-config` text. Holds the MAAS API key and the pairing code: hand it to MAAS
    /// only, never log it.
    pub fn user_data(&self) -> Result<String, BootstrapError> {
        self.user_data_for(EtcdStart::New)
    }

    /// The `#cloud-config` text, the etcd member starting as `start` says. Same secrets as
    /// [`GatewayNodePlan::user_data`].
    pub fn user_data_for(&self, start: EtcdStart<'_>) -> Result<String, BootstrapError> {
        let config = self.cloud_config_for(start)?;
        tracing::debug!(
            gateway = %self.gateway,
            member = %self.member,
            files = config.write_files.len(),
            "generated gateway user-data"
        );
        config
            .render()
            .map_err(|e| BootstrapError::serialize("gateway cloud-config", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(n: usize) -> GatewayNodePlan {
        let members: Vec<EtcdMember> = (0..n)
            .map(|i| EtcdMember {
                name: format!("node-{i}"),
                host: format!("node-{i}.maas"),
            })
            .collect();
        GatewayNodePlan {
            gateway: "dc1".into(),
            member: "node-0".into(),
            members,
            gateway_yaml: "maas: {apiKey: secret-key}\n".into(),
            maas_ca_pem: None,
            binary: BinaryArtifact {
                url: "https://files.example/kubemaas".into(),
                sha256: "a".repeat(64),
                served: false,
            },
            pairing_code: PairingCode::parse("7KQ2M-4XH9P-ABCDE-FGHJK").unwrap(),
            proxy: ProxySettings::default(),
        }
    }

    #[test]
    fn one_member_stays_on_loopback_and_three_form_a_cluster() {
        let one = plan(1).etcd_defaults();
        assert!(one.contains("ETCD_INITIAL_CLUSTER=\"node-0=http://127.0.0.1:2380\""));
        assert!(!one.contains("AUTO_TLS"));
        let three = plan(3).etcd_defaults();
        assert!(three.contains(
            "ETCD_INITIAL_CLUSTER=\"node-0=https://node-0.maas:2380,node-1=https://node-1.maas:2380,node-2=https://node-2.maas:2380\""
        ));
        assert!(three.contains("ETCD_INITIAL_ADVERTISE_PEER_URLS=\"https://node-0.maas:2380\""));
        assert!(three.contains("ETCD_LISTEN_CLIENT_URLS=\"http://127.0.0.1:2379\""));
        assert!(three.contains("ETCD_PEER_AUTO_TLS=\"true\""));
    }

    #[test]
    fn a_replacement_joins_the_running_cluster_it_was_admitted_to() {
        let p = plan(3);
        let joined = "node-1=https://node-1.maas:2380,node-2=https://node-2.maas:2380,node-0=https://node-0.maas:2380";
        let start = EtcdStart::Existing {
            initial_cluster: joined,
        };
        let d = p.etcd_defaults_for(start);
        assert!(
            d.contains(&format!("ETCD_INITIAL_CLUSTER=\"{joined}\"")),
            "{d}"
        );
        assert!(d.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""), "{d}");
        p.cloud_config_for(start).unwrap();
        // Not admitted (its own entry missing or at another URL), or a list that would break
        // out of its quotes: refused.
        for bad in [
            "node-1=https://node-1.maas:2380,node-2=https://node-2.maas:2380",
            "node-0=https://elsewhere:2380,node-1=https://node-1.maas:2380",
            "node-0=https://node-0.maas:2380,x=https://a\"b:2380",
            "node-0=https://node-0.maas:2380,node-1",
        ] {
            let err = p
                .cloud_config_for(EtcdStart::Existing {
                    initial_cluster: bad,
                })
                .unwrap_err();
            assert!(err.to_string().contains("initialCluster"), "{bad}: {err}");
        }
        assert!(plan(1)
            .cloud_config_for(EtcdStart::Existing {
                initial_cluster: "node-0=http://127.0.0.1:2380"
            })
            .is_err());
    }

    #[test]
    fn the_install_script_defaults_to_the_binary_path() {
        assert!(INSTALL_SCRIPT.contains(&format!("dest=\"${{3:-{BINARY_PATH}}}\"")));
        assert!(plan(1).unit().contains(BINARY_PATH));
    }

    #[test]
    fn bad_plans_are_refused_and_debug_hides_secrets() {
        let mut p = plan(2);
        assert!(p.cloud_config().is_err());
        p = plan(3);
        p.member = "other".into();
        assert!(p.cloud_config().is_err());
        p = plan(1);
        p.binary.sha256 = "xyz".into();
        assert!(p.cloud_config().unwrap_err().to_string().contains("sha256"));
        p = plan(1);
        p.members[0].host = "a b; rm -rf".into();
        assert!(p.cloud_config().is_err());
        let shown = format!("{:?}", plan(1));
        assert!(
            !shown.contains("secret-key") && !shown.contains("7KQ2M"),
            "{shown}"
        );
    }

    #[test]
    fn proxies_reach_apt_and_curl_in_both_spellings() {
        let mut p = plan(1);
        p.proxy = ProxySettings {
            https: Some("http://proxy:3128".into()),
            http: None,
            no_proxy: vec![".corp".into()],
        };
        let env = p.proxy_env();
        assert!(env.contains(&"https_proxy=http://proxy:3128".to_string()));
        assert!(env.contains(&"HTTPS_PROXY=http://proxy:3128".to_string()));
        assert!(env.contains(&"no_proxy=localhost,127.0.0.1,node-0.maas,.corp".to_string()));
        assert!(plan(1).proxy_env().is_empty());
        // The console serving its own binary is reached directly.
        p.binary.url = "http://10.0.0.9:8080/kubemaas".into();
        p.binary.served = true;
        assert!(p
            .proxy_env()
            .contains(&"NO_PROXY=localhost,127.0.0.1,node-0.maas,10.0.0.9,.corp".to_string()));
    }
}
