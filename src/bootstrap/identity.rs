//! The node identity file written into every node's user-data, and the reader the MAAS
//! simulator uses to learn, from the user-data a machine was deployed with, which cluster it
//! belongs to and what role it plays.

use super::cloud_config::WriteFile;
use super::plan::NodeRole;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Where the identity lands on the node (readable by anyone: it holds nothing secret).
pub const NODE_IDENTITY_PATH: &str = "/etc/kubemaas/node.json";

/// Who a node is, as recorded in its user-data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    pub cluster_id: String,
    pub cluster_name: String,
    pub role: NodeRole,
    pub node_name: String,
    pub kubernetes_version: String,
}

impl NodeIdentity {
    pub(crate) fn write_file(&self) -> Result<WriteFile, serde_json::Error> {
        let mut json = serde_json::to_string_pretty(self)?;
        json.push('\n');
        Ok(WriteFile::new(NODE_IDENTITY_PATH, json, "0644"))
    }
}

/// Only the part of a cloud-config this reader needs; everything else is ignored, so any
/// cloud-config with our file is accepted however else it differs.
#[derive(Deserialize)]
struct Loose {
    #[serde(default)]
    write_files: Vec<serde_yaml::Value>,
}

/// Reads the node identity back from user-data bytes. `None` for anything that is not a
/// cloud-config carrying a well-formed identity file; never panics, whatever the bytes.
pub fn node_identity_from_user_data(user_data: &[u8]) -> Option<NodeIdentity> {
    let text = std::str::from_utf8(user_data).ok()?;
    if !text.trim_start().starts_with("#cloud-config") {
        return None;
    }
    let loose: Loose = serde_yaml::from_str(text).ok()?;
    let entry = loose
        .write_files
        .iter()
        .find(|f| f.get("path").and_then(serde_yaml::Value::as_str) == Some(NODE_IDENTITY_PATH))?;
    let content = entry.get("content")?.as_str()?;
    let encoding = entry
        .get("encoding")
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or("text/plain");
    let bytes = match encoding {
        "b64" | "base64" => base64::engine::general_purpose::STANDARD
            .decode(content.trim())
            .ok()?,
        "text/plain" => content.as_bytes().to_vec(),
        // gzip variants would need a decompressor; kubemaas never writes them.
        _ => return None,
    };
    serde_json::from_slice(&bytes).ok()
}
