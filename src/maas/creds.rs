//! MAAS API keys: `consumer_key:token_key:token_secret`. The key is a secret: it never appears in
//! `Debug` output, logs or error messages; only [`ApiKey::expose`] gives it back whole, for the
//! few places (an env file written 0600, `sim --print-env`) that must hand it to another program.

use rand::Rng;
use std::fmt;
use std::str::FromStr;

/// A parsed MAAS API key. The OAuth consumer secret is always empty in MAAS, so three parts suffice.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    consumer_key: String,
    token_key: String,
    token_secret: String,
}

/// Why a string is not a MAAS API key. Never contains the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("the MAAS API key is empty: copy it from the MAAS UI (your user > API keys) or `maas apikey --username USER`")]
    Empty,
    #[error("the MAAS API key has {parts} part(s) separated by ':', but a MAAS key has exactly 3: consumer_key:token_key:token_secret (copy it whole from the MAAS UI, user > API keys)")]
    WrongShape { parts: usize },
    #[error("part {index} ({name}) of the MAAS API key is empty: a MAAS key looks like consumer_key:token_key:token_secret")]
    EmptyPart { index: usize, name: &'static str },
    #[error("the MAAS API key contains whitespace or control characters inside it: paste it again without line breaks or spaces")]
    BadCharacters,
}

const PART_NAMES: [&str; 3] = ["consumer_key", "token_key", "token_secret"];

impl ApiKey {
    /// Builds a key from its three parts (used by the simulator when it issues keys).
    pub fn from_parts(
        consumer_key: impl Into<String>,
        token_key: impl Into<String>,
        token_secret: impl Into<String>,
    ) -> Self {
        ApiKey {
            consumer_key: consumer_key.into(),
            token_key: token_key.into(),
            token_secret: token_secret.into(),
        }
    }

    /// A fresh random key in MAAS's 18:18:32 alphanumeric format.
    pub fn generate(rng: &mut impl Rng) -> Self {
        let mut part = |len: usize| -> String {
            (0..len)
                .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
                .collect()
        };
        ApiKey::from_parts(part(18), part(18), part(32))
    }

    pub fn consumer_key(&self) -> &str {
        &self.consumer_key
    }

    pub fn token_key(&self) -> &str {
        &self.token_key
    }

    pub fn token_secret(&self) -> &str {
        &self.token_secret
    }

    /// The whole key, for handing to another program. Callers must not log or display it.
    pub fn expose(&self) -> String {
        format!(
            "{}:{}:{}",
            self.consumer_key, self.token_key, self.token_secret
        )
    }

    /// `text` with every part of this key replaced by `****`: MAAS echoes the expected
    /// signature (the token secret) in some 401 texts, and nothing MAAS says may carry it on.
    pub fn scrub(&self, text: &str) -> String {
        // Parts shorter than this are not real MAAS keys (18:18:32); replacing one- or
        // two-letter test keys would garble every word of the text instead of hiding anything.
        const MIN_SCRUB_LEN: usize = 6;
        let mut out = text.to_string();
        for part in [&self.token_secret, &self.token_key, &self.consumer_key] {
            if part.len() >= MIN_SCRUB_LEN {
                out = out.replace(part.as_str(), "****");
            }
        }
        out
    }

    /// A form safe to show an operator: the consumer key's first characters and nothing else.
    pub fn masked(&self) -> String {
        let head: String = self.consumer_key.chars().take(4).collect();
        format!("{head}…:****:****")
    }
}

impl FromStr for ApiKey {
    type Err = ApiKeyError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let key = raw.trim();
        if key.is_empty() {
            return Err(ApiKeyError::Empty);
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ApiKeyError::BadCharacters);
        }
        let parts: Vec<&str> = key.split(':').collect();
        if parts.len() != 3 {
            return Err(ApiKeyError::WrongShape { parts: parts.len() });
        }
        for (index, part) in parts.iter().enumerate() {
            if part.is_empty() {
                return Err(ApiKeyError::EmptyPart {
                    index: index + 1,
                    name: PART_NAMES[index],
                });
            }
        }
        Ok(ApiKey::from_parts(parts[0], parts[1], parts[2]))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_a_real_shaped_key() {
        let k: ApiKey = " abcdefghijklmnopqr:ABCDEFGHIJKLMNOPQR:0123456789abcdef0123456789abcdef\n"
            .parse()
            .unwrap();
        assert_eq!(k.consumer_key(), "abcdefghijklmnopqr");
        assert_eq!(k.token_key(), "ABCDEFGHIJKLMNOPQR");
        assert_eq!(k.token_secret(), "0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn rejects_other_shapes_without_echoing_the_key() {
        for (raw, want) in [
            ("", ApiKeyError::Empty),
            ("onlyonepart", ApiKeyError::WrongShape { parts: 1 }),
            ("a:b", ApiKeyError::WrongShape { parts: 2 }),
            ("a:b:c:d", ApiKeyError::WrongShape { parts: 4 }),
            (
                "a::c",
                ApiKeyError::EmptyPart {
                    index: 2,
                    name: "token_key",
                },
            ),
            ("a:b c:d", ApiKeyError::BadCharacters),
        ] {
            let err = raw.parse::<ApiKey>().unwrap_err();
            assert_eq!(err, want, "{raw:?}");
            if !raw.is_empty() {
                assert!(!err.to_string().contains(raw));
            }
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = ApiKey::from_parts(
            "consumerconsumer12",
            "tokentokentoken123",
            "secretsecretsecretsecretsecret12",
        );
        let shown = format!("{k:?}");
        assert!(!shown.contains("tokentokentoken123"));
        assert!(!shown.contains("secretsecret"));
        assert!(!shown.contains("consumerconsumer12"));
    }

    #[test]
    fn scrub_removes_every_part() {
        let k = ApiKey::from_parts(
            "consumerconsumer12",
            "tokentokentoken123",
            "secretsecretsecretsecretsecret12",
        );
        let s = k.scrub("Invalid signature. Expected signature base string: &secretsecretsecretsecretsecret12 for tokentokentoken123");
        assert_eq!(
            s,
            "Invalid signature. Expected signature base string: &**** for ****"
        );
    }

    #[test]
    fn generated_keys_have_maas_lengths() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let k = ApiKey::generate(&mut rng);
        assert_eq!(
            (
                k.consumer_key().len(),
                k.token_key().len(),
                k.token_secret().len()
            ),
            (18, 18, 32)
        );
        assert_eq!(k.expose().parse::<ApiKey>().unwrap(), k);
    }
}
