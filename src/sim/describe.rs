//! The `describe/` document python-libmaas reads at connect time to build its handlers, with
//! MAAS's exact handler names, path templates, params and action lists.
//!
//! SEAM (filled in by the sim-data work): signatures are fixed; bodies are minimal.

use serde_json::{json, Value};

/// The describe document; `origin` is `scheme://host:port` as the client requested it.
pub fn document(origin: &str) -> Value {
    let _ = origin;
    json!({"doc": "MAAS API", "hash": api_hash(), "resources": [], "handlers": []})
}

/// The value of `X-MAAS-API-Hash` on every API response: a SHA-1 of the API description.
pub fn api_hash() -> String {
    String::from("0000000000000000000000000000000000000000")
}
