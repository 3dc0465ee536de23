//! What gateway and console say to each other over HTTPS (JSON bodies). Nothing here ever
//! carries a MAAS API key or a private key.

use serde::{Deserialize, Serialize};

/// The pairing endpoint: `GET` says hello, `POST` pairs. The only route open without a client
/// certificate.
pub const PAIR_PATH: &str = "/v1/pair";
pub const INFO_PATH: &str = "/v1/info";
pub const HEALTH_PATH: &str = "/v1/health";
/// Newline-delimited JSON: one [`Health`] now, then one per heartbeat, until the client leaves.
pub const HEALTH_WATCH_PATH: &str = "/v1/health/watch";

/// `GET /v1/pair`: who is there, before any trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairHello {
    pub gateway: String,
    pub protocol: u32,
}

/// `POST /v1/pair`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRequest {
    /// How the gateway will know this console (the client certificate's common name).
    pub console: String,
    /// The console's uncompressed P-256 public key, base64.
    pub public_key: String,
    /// `HMAC(code key, "console" ‖ gateway certificate fingerprint ‖ public key)`, base64.
    pub proof: String,
}

/// The gateway's answer to a good pairing request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairResponse {
    pub gateway: String,
    /// PEM of the console's client certificate, signed by the gateway CA.
    pub client_cert: String,
    /// PEM of the gateway CA, which the console pins.
    pub ca_cert: String,
    /// `HMAC(code key, "gateway" ‖ fingerprint ‖ public key)`, base64.
    pub proof: String,
}

/// Every refusal: a stable code and a message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// `GET /v1/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayInfo {
    pub name: String,
    /// The kubemaas version the gateway runs.
    pub version: String,
    pub protocol: u32,
    pub maas: MaasInfo,
    /// The cloud account made from gateway.yaml's MAAS: clusters use it unless told otherwise.
    pub default_account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaasInfo {
    /// The region URL (never the key).
    pub endpoint: String,
    /// The MAAS version, when the gateway could reach MAAS at start.
    pub version: Option<String>,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub uptime_seconds: u64,
}
