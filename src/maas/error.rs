//! What can go wrong talking to MAAS, typed so callers can react (retry, replace a machine, ask
//! for another key) and worded so an operator knows what to do. Texts from MAAS are included,
//! trimmed and with the API key scrubbed out (MAAS echoes the expected signature in some 401s).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A failed MAAS API call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MaasError {
    #[error("MAAS at {endpoint} refused the API key (HTTP 401: {message}): the key is wrong or was revoked; create a new API key in the MAAS UI (your user > API keys) and pass it with --api-key or MAAS_API_KEY")]
    Unauthorized { endpoint: String, message: String },

    #[error("MAAS refused {request} (HTTP 403{}): this needs an admin API key, or the machine is locked or owned by another user; use an admin's key or unlock the machine in MAAS", with_text(message))]
    Forbidden { request: String, message: String },

    #[error("MAAS has nothing at {request} (HTTP 404{}): check the system id or name; it may have been deleted", with_text(message))]
    NotFound { request: String, message: String },

    #[error("no available MAAS machine matches the constraints asked: {}{}; add machines, release unused ones, or relax these constraints", AskedList(asked), resolved.as_ref().map(|r| format!(" (MAAS resolved them to \"{r}\")")).unwrap_or_default())]
    NoMatch {
        /// The constraints asked, `(name, values)`: from MAAS's text, or from the request.
        asked: Vec<(String, Vec<String>)>,
        resolved: Option<String>,
        message: String,
    },

    #[error("MAAS refused {request} because of the object's current state (HTTP 409{}): look at it in MAAS, then retry or choose another", with_text(message))]
    Conflict { request: String, message: String },

    #[error(
        "MAAS rejected {request} as invalid (HTTP 400): {}; correct these parameters",
        FieldList(fields, message)
    )]
    BadRequest {
        request: String,
        /// MAAS's per-field validation errors (`{"field": ["msg"]}`); empty for a text error.
        fields: BTreeMap<String, Vec<String>>,
        message: String,
    },

    #[error("MAAS could not serve {request} now (HTTP {status}{}{}): it is busy or one of its back-ends failed; try again shortly, and check the region's logs if this persists", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default(), with_text(message))]
    ServerBusy {
        request: String,
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },

    #[error("MAAS did not answer {request} within {}s: the region is overloaded or unreachable; try again, or allow a longer request timeout", timeout.as_secs_f32())]
    Timeout { request: String, timeout: Duration },

    #[error("cannot reach MAAS at {endpoint} ({detail}): is MAAS running there, is the port right (5240 by default), and is a proxy (HTTP_PROXY / HTTPS_PROXY / NO_PROXY) in the way?")]
    Connect { endpoint: String, detail: String },

    #[error("the TLS certificate of MAAS at {endpoint} is not trusted ({detail}): pass the CA that signed it with --ca-cert FILE")]
    Tls { endpoint: String, detail: String },

    #[error("MAAS answered {request} with something kubemaas cannot read ({detail}): check that the endpoint is a MAAS region URL (…/MAAS) and that the MAAS version is supported")]
    Decode { request: String, detail: String },

    #[error("MAAS at {endpoint} answered {request} with more than {limit}, the most kubemaas reads of one MAAS answer (a listing of 10,000 machines is far less): something other than MAAS may be answering there (check the endpoint, and any proxy on a plain-http path), or the region is misbehaving")]
    TooLarge {
        endpoint: String,
        request: String,
        limit: crate::untrusted::ByteSize,
    },

    #[error("MAAS redirected {request} to {location}: use that address as the endpoint (--endpoint / MAAS_URL)")]
    Redirected { request: String, location: String },

    #[error("MAAS answered {request} with HTTP {status}{}: this is unexpected; check the MAAS region's logs", with_text(message))]
    Unexpected {
        request: String,
        status: u16,
        message: String,
    },
}

impl MaasError {
    /// The HTTP status MAAS answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            MaasError::Unauthorized { .. } => 401,
            MaasError::Forbidden { .. } => 403,
            MaasError::NotFound { .. } => 404,
            MaasError::NoMatch { .. } | MaasError::Conflict { .. } => 409,
            MaasError::BadRequest { .. } => 400,
            MaasError::ServerBusy { status, .. } | MaasError::Unexpected { status, .. } => *status,
            _ => return None,
        })
    }

    /// How long MAAS asked us to wait, when it did (409/503 with `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            MaasError::ServerBusy { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when the request never reached MAAS or MAAS said it was transient: trying the same
    /// call again later may succeed. Not the same as "safe to retry blindly": see `retry`.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MaasError::ServerBusy { .. } | MaasError::Timeout { .. } | MaasError::Connect { .. }
        )
    }
}

fn with_text(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

struct AskedList<'a>(&'a [(String, Vec<String>)]);

impl fmt::Display for AskedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none (any Ready machine would do, and there is none)");
        }
        for (i, (name, values)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}={}", values.join(","))?;
        }
        Ok(())
    }
}

struct FieldList<'a>(&'a BTreeMap<String, Vec<String>>, &'a str);

impl fmt::Display for FieldList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(if self.1.is_empty() {
                "no reason given"
            } else {
                self.1
            });
        }
        for (i, (field, msgs)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{field}: {}", msgs.join(" "))?;
        }
        Ok(())
    }
}

/// Why a [`crate::maas::MaasClient`] could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    #[error("cannot read the CA certificate file {}: {source}; check the path and its permissions (--ca-cert FILE)", path.display())]
    CaCertUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a usable PEM CA certificate ({reason}); pass a file holding the CA that signed the MAAS certificate, as one or more -----BEGIN CERTIFICATE----- blocks (--ca-cert FILE)", path.display())]
    CaCertInvalid { path: PathBuf, reason: String },
    #[error("both a CA certificate and --insecure-skip-tls-verify were given: choose one (--ca-cert FILE keeps verification on, which is what you want)")]
    CaAndInsecure,
    #[error("cannot set up the HTTP client for MAAS: {0}")]
    Http(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = MaasError::NoMatch {
            asked: vec![
                ("cpu_count".into(), vec!["4".into()]),
                ("tags".into(), vec!["gpu".into(), "ssd".into()]),
            ],
            resolved: Some("cpu_count=4.0".into()),
            message: String::new(),
        };
        let s = e.to_string();
        assert!(s.contains("cpu_count=4, tags=gpu,ssd"), "{s}");
        assert!(s.contains("relax"), "{s}");
        let mut fields = BTreeMap::new();
        fields.insert("zone".to_string(), vec!["No such zone: 'x'.".to_string()]);
        let e = MaasError::BadRequest {
            request: "POST machines/?op=allocate".into(),
            fields,
            message: String::new(),
        };
        assert!(e.to_string().contains("zone: No such zone: 'x'."), "{e}");
        assert_eq!(e.status(), Some(400));
    }
}
