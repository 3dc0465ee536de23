//! Writing the `etcd:` section (and, when it has none, the node's name) into the gateway.yaml
//! a running gateway was started with: what `kubemaas gateway resize` does before the gateway
//! restarts onto the replicated store.
//!
//! The operator's file is edited as text, not regenerated from the parsed configuration, so
//! that their comments, key order and every other key stay as they wrote them: only the
//! top-level `etcd:` (and `node:`) blocks are replaced or appended. The result is parsed again
//! and must equal the old configuration plus the new settings — an unusual layout the edit did
//! not understand is refused instead of written. The file is replaced atomically, 0600 (it holds
//! the MAAS API key).

use super::config::{ConfigError, ConfigProblem, GatewayConfig};
use crate::ha::EtcdConfig;
use std::path::{Path, PathBuf};

/// Why gateway.yaml could not be rewritten. The file is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("gateway.yaml {path} could not be edited safely ({reason}): add the `etcd:` section by hand (see docs/ha.md) and restart the gateway")]
    Unsafe { path: PathBuf, reason: String },
}

/// A YAML scalar for `text`: a JSON string is a valid YAML double-quoted scalar, so paths and
/// URLs with any character survive.
fn scalar(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

/// The `etcd:` block for `etcd`.
fn etcd_block(etcd: &EtcdConfig) -> String {
    let mut out = String::from("etcd:\n  endpoints:\n");
    for e in &etcd.endpoints {
        out.push_str(&format!("    - {}\n", scalar(e)));
    }
    out.push_str(&format!("  prefix: {}\n", scalar(&etcd.prefix)));
    if let Some(tls) = &etcd.tls {
        out.push_str("  tls:\n");
        out.push_str(&format!("    ca: {}\n", scalar(&tls.ca.to_string_lossy())));
        if let Some(c) = &tls.cert {
            out.push_str(&format!("    cert: {}\n", scalar(&c.to_string_lossy())));
        }
        if let Some(k) = &tls.key {
            out.push_str(&format!("    key: {}\n", scalar(&k.to_string_lossy())));
        }
    }
    out
}

/// The `node:` block for `cfg`'s node settings (none when it has none).
fn node_block(cfg: &GatewayConfig) -> Option<String> {
    let node = &cfg.node;
    if node.name.is_none() && node.listen.is_none() && node.address.is_none() {
        return None;
    }
    let mut out = String::from("node:\n");
    if let Some(n) = &node.name {
        out.push_str(&format!("  name: {}\n", scalar(n)));
    }
    if let Some(l) = &node.listen {
        out.push_str(&format!("  listen: {}\n", scalar(&l.to_string())));
    }
    if let Some(a) = &node.address {
        out.push_str(&format!("  address: {}\n", scalar(a)));
    }
    Some(out)
}

/// Whether `line` starts the top-level key `key` (`key:` at column 0).
fn starts_key(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .map(|rest| rest.trim_start_matches([' ', '\t']))
        .is_some_and(|rest| rest.starts_with(':'))
}

/// `text` without its top-level `key:` block (the key's line and every indented or blank line
/// after it, up to the next line at column 0; blank lines before that line stay).
fn remove_block(text: &str, key: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|l| starts_key(l, key)) else {
        return text.to_string();
    };
    let mut end = start + 1;
    while end < lines.len() {
        let l = lines[end];
        let blank = l.trim().is_empty();
        if !blank && !l.starts_with([' ', '\t']) {
            break;
        }
        end += 1;
    }
    // Blank lines right before the next key separate it from what came before: keep them.
    while end > start + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    let mut out: String = lines[..start].concat();
    out.push_str(&lines[end..].concat());
    out
}

/// `text` with `block` appended as a top-level block.
fn append_block(mut text: String, block: &str) -> String {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(block);
    text
}

/// The new gateway.yaml text: `text` (which parses to `current`) with `etcd` as its `etcd:`
/// section and, when `node_name` is given and the file names no node, that node name. Returns
/// the text and the configuration it parses to.
pub fn with_etcd(
    text: &str,
    current: &GatewayConfig,
    etcd: &EtcdConfig,
    node_name: Option<&str>,
) -> Result<(String, GatewayConfig), String> {
    let mut expected = current.clone();
    expected.etcd = Some(etcd.clone());
    let mut edited = append_block(remove_block(text, "etcd"), &etcd_block(etcd));
    if let (Some(name), None) = (node_name, &current.node.name) {
        expected.node.name = Some(name.to_string());
        if let Some(block) = node_block(&expected) {
            edited = append_block(remove_block(&edited, "node"), &block);
        }
    }
    match GatewayConfig::parse(&edited) {
        Ok(parsed) if parsed == expected => Ok((edited, parsed)),
        Ok(_) => Err("the edited file reads back with other settings than intended".into()),
        Err(problems) => Err(format!(
            "the edited file no longer reads: {}",
            problems
                .iter()
                .map(ConfigProblem::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

/// Rewrites the gateway.yaml at `path` with `etcd` (and `node_name`, see [`with_etcd`]),
/// atomically and 0600; returns the configuration it now holds. Refused, leaving the file as
/// it was, when it does not read as a gateway configuration or the edit cannot be verified.
pub fn write_etcd(
    path: &Path,
    etcd: &EtcdConfig,
    node_name: Option<&str>,
) -> Result<GatewayConfig, RewriteError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let current = GatewayConfig::parse(&text).map_err(|problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    })?;
    let (edited, parsed) =
        with_etcd(&text, &current, etcd, node_name).map_err(|reason| RewriteError::Unsafe {
            path: path.to_path_buf(),
            reason,
        })?;
    crate::paths::write_private_file(path, edited.as_bytes()).map_err(|source| {
        ConfigError::Write {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::EtcdTls;

    const KEY: &str = "abcdefghijklmnopqr:ABCDEFGHIJKLMNOPQR:0123456789abcdef0123456789abcdef";

    fn original() -> String {
        format!(
            "# dc1's gateway: written by hand
apiVersion: kubemaas.io/v1
kind: Gateway
name: dc1
listen: 127.0.0.1:8443   # consoles connect here
maas:
  endpoint: http://maas.example:5240/MAAS
  apiKey: {KEY}

# the cluster network defaults
network:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
placement:
  nodes: 1
"
        )
    }

    fn etcd() -> EtcdConfig {
        EtcdConfig {
            endpoints: vec![
                "https://10.0.0.1:2379".into(),
                "https://10.0.0.2:2379".into(),
            ],
            prefix: "/kubemaas/dc1".into(),
            tls: Some(EtcdTls {
                ca: "/etc/kubemaas/etcd ca.pem".into(),
                cert: Some("/etc/kubemaas/gw.pem".into()),
                key: Some("/etc/kubemaas/gw-key.pem".into()),
            }),
        }
    }

    #[test]
    fn comments_and_other_keys_are_kept_and_the_sections_added() {
        let text = original();
        let current = GatewayConfig::parse(&text).unwrap();
        let (edited, parsed) = with_etcd(&text, &current, &etcd(), Some("gw1")).unwrap();
        assert!(edited.starts_with(&text), "{edited}");
        assert!(edited.contains("# the cluster network defaults"));
        assert!(edited.contains("# consoles connect here"));
        assert_eq!(parsed.etcd, Some(etcd()));
        assert_eq!(parsed.node.name.as_deref(), Some("gw1"));
        assert_eq!(parsed.maas, current.maas);
        assert_eq!(parsed.network, current.network);
    }

    #[test]
    fn an_existing_etcd_section_is_replaced_and_a_named_node_kept() {
        let text = format!(
            "{}etcd:\n  endpoints: [http://127.0.0.1:1]\n  # old members\n\n  prefix: /old\n\n# trailer comment\nnode:\n  name: alpha\n",
            original()
        );
        let current = GatewayConfig::parse(&text).unwrap();
        let (edited, parsed) = with_etcd(&text, &current, &etcd(), Some("gw1")).unwrap();
        assert!(!edited.contains("/old"), "{edited}");
        assert!(!edited.contains("# old members"), "{edited}");
        assert!(edited.contains("# trailer comment"), "{edited}");
        assert_eq!(parsed.etcd, Some(etcd()));
        // The file already named this node: its name stays.
        assert_eq!(parsed.node.name.as_deref(), Some("alpha"));
    }

    #[test]
    fn a_node_section_without_a_name_gets_one_and_keeps_its_listen_and_address() {
        let text = format!(
            "{}node: {{listen: 127.0.0.1:9443, address: 'gw1.example:9443'}}\n",
            original()
        );
        let current = GatewayConfig::parse(&text).unwrap();
        let (_, parsed) = with_etcd(&text, &current, &etcd(), Some("gw1")).unwrap();
        assert_eq!(parsed.node.name.as_deref(), Some("gw1"));
        assert_eq!(parsed.node.listen, Some("127.0.0.1:9443".parse().unwrap()));
        assert_eq!(parsed.node.address.as_deref(), Some("gw1.example:9443"));
    }

    #[test]
    fn a_layout_the_edit_cannot_verify_is_refused() {
        // A flow-style top-level mapping: the `etcd` key is not on a line of its own, so the
        // appended block would duplicate it.
        let text = format!(
            "{{apiVersion: kubemaas.io/v1, kind: Gateway, name: dc1, listen: '127.0.0.1:8443', maas: {{endpoint: 'http://maas.example:5240/MAAS', apiKey: '{KEY}'}}, network: {{podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12}}, placement: {{nodes: 1}}}}\n"
        );
        let current = GatewayConfig::parse(&text).unwrap();
        let err = with_etcd(&text, &current, &etcd(), None).unwrap_err();
        assert!(!err.contains(KEY), "{err}");
    }

    #[test]
    fn the_file_is_replaced_0600_and_left_alone_when_it_does_not_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.yaml");
        std::fs::write(&path, original()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let cfg = write_etcd(&path, &etcd(), Some("gw1")).unwrap();
        assert_eq!(cfg, GatewayConfig::load(&path).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let broken = dir.path().join("broken.yaml");
        std::fs::write(&broken, "name: [\n").unwrap();
        let err = write_etcd(&broken, &etcd(), None).unwrap_err();
        assert!(matches!(err, RewriteError::Config(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&broken).unwrap(), "name: [\n");
    }
}
