//! kubeadm bootstrap tokens: `[a-z0-9]{6}.[a-z0-9]{16}`. The id half names the token's Secret in
//! kube-system; the whole token lets a machine join the cluster, so it is a secret.

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const ID_LEN: usize = 6;
const SECRET_LEN: usize = 16;

/// A bootstrap token. `Debug` and `Display` never show it; [`BootstrapToken::expose`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    id: String,
    secret: String,
}

/// Why a string is not a bootstrap token. Never quotes the string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a kubeadm bootstrap token: a token is 6 then 16 characters of [a-z0-9] joined by '.'; generate a new one with renew_token")]
pub struct TokenParseError;

impl BootstrapToken {
    /// A fresh token from a cryptographically secure generator.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand::rng())
    }

    /// A token drawn from `rng`; exists so tests can be deterministic.
    pub fn generate_with(rng: &mut impl Rng) -> Self {
        let mut draw = |len: usize| -> String {
            (0..len)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect()
        };
        BootstrapToken {
            id: draw(ID_LEN),
            secret: draw(SECRET_LEN),
        }
    }

    /// The public half (the Secret is `bootstrap-token-<id>`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `id.secret`, for kubeadm configuration. Callers must not log it.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// The kube-system Secret that makes this token valid in a running cluster, as kubeadm
    /// itself would create it: POST it to `/api/v1/namespaces/kube-system/secrets` before
    /// deploying nodes with a renewed token. It holds the token: never log it.
    pub fn kubernetes_secret(&self, expires: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "bootstrap.kubernetes.io/token",
            "metadata": {
                "name": format!("bootstrap-token-{}", self.id),
                "namespace": "kube-system",
            },
            "stringData": {
                "description": "kubemaas: joins this cluster's nodes",
                "token-id": self.id,
                "token-secret": self.secret,
                "expiration": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "usage-bootstrap-authentication": "true",
                "usage-bootstrap-signing": "true",
                "auth-extra-groups": super::kubeadm::BOOTSTRAP_TOKEN_GROUP,
            },
        })
    }
}

fn valid_part(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))
}

impl FromStr for BootstrapToken {
    type Err = TokenParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, secret) = s.split_once('.').ok_or(TokenParseError)?;
        if !valid_part(id, ID_LEN) || !valid_part(secret, SECRET_LEN) {
            return Err(TokenParseError);
        }
        Ok(BootstrapToken {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BootstrapToken(<redacted>)")
    }
}

impl Serialize for BootstrapToken {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expose())
    }
}

impl<'de> Deserialize<'de> for BootstrapToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_tokens_have_kubeadms_shape_and_parse_back() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let t = BootstrapToken::generate_with(&mut rng);
            let s = t.expose();
            assert_eq!(s.len(), 23);
            assert_eq!(s.parse::<BootstrapToken>().unwrap(), t);
        }
    }

    #[test]
    fn rejects_malformed_tokens_without_quoting_them() {
        for bad in [
            "",
            "abcdef",
            "abcdef.0123456789abcde",
            "ABCDEF.0123456789abcdef",
            "abcdef-0123456789abcdef",
        ] {
            let e = bad.parse::<BootstrapToken>().unwrap_err().to_string();
            assert!(bad.is_empty() || !e.contains(bad), "{e}");
        }
    }

    #[test]
    fn secret_manifest_matches_kubeadms_format() {
        let t: BootstrapToken = "abcdef.0123456789abcdef".parse().unwrap();
        let expires = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let s = t.kubernetes_secret(expires);
        assert_eq!(s["metadata"]["name"], "bootstrap-token-abcdef");
        assert_eq!(s["type"], "bootstrap.kubernetes.io/token");
        assert_eq!(s["stringData"]["token-secret"], "0123456789abcdef");
        assert_eq!(s["stringData"]["expiration"], "2026-01-02T03:04:05Z");
        assert_eq!(
            s["stringData"]["auth-extra-groups"],
            "system:bootstrappers:kubeadm:default-node-token"
        );
    }

    #[test]
    fn debug_is_redacted() {
        let t: BootstrapToken = "abcdef.0123456789abcdef".parse().unwrap();
        assert!(!format!("{t:?}").contains("0123456789abcdef"));
    }
}
