//! OAuth 1.0 PLAINTEXT signing, the scheme every MAAS client uses. MAAS's consumer secret is
//! always empty, so the signature is `&` + the percent-encoded token secret. A fresh nonce and
//! timestamp go into every attempt: MAAS refuses a reused nonce and timestamps older than 300 s,
//! so a retried request must be signed again, never replayed.

use super::creds::ApiKey;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rand::Rng;
use reqwest::header::HeaderValue;
use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 5849 §3.6: everything but ALPHA, DIGIT, `-`, `.`, `_` and `~` is percent-encoded.
const OAUTH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const NONCE_LEN: usize = 32;

fn encode(value: &str) -> String {
    utf8_percent_encode(value, OAUTH_ENCODE).to_string()
}

/// The `Authorization` header value for one request, from an explicit nonce and timestamp
/// (deterministic, for tests). Callers normally use [`authorization`].
pub fn authorization_header(key: &ApiKey, nonce: &str, timestamp: u64) -> String {
    format!(
        "OAuth realm=\"\", oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", \
         oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"&{}\", \
         oauth_nonce=\"{}\", oauth_timestamp=\"{}\"",
        encode(key.consumer_key()),
        encode(key.token_key()),
        encode(key.token_secret()),
        encode(nonce),
        timestamp
    )
}

/// A fresh random nonce: 32 alphanumeric characters, as unguessable as gomaasapi's 32 hex.
pub fn new_nonce() -> String {
    let mut rng = rand::rng();
    (0..NONCE_LEN)
        .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
        .collect()
}

fn unix_now() -> u64 {
    // A clock before 1970 is a broken host; 0 then makes MAAS answer "Expired timestamp",
    // which names the real problem better than a panic would.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs one attempt: a header value with a fresh nonce and the current time, marked sensitive
/// so that reqwest and hyper never print it in their Debug output.
pub fn authorization(key: &ApiKey) -> HeaderValue {
    let header = authorization_header(key, &new_nonce(), unix_now());
    // Every part is percent-encoded ASCII or digits, so this cannot fail; a failure would
    // mean a bug in `encode`, and an empty header makes MAAS answer 401 rather than panic.
    let mut value = HeaderValue::from_str(&header).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        ApiKey::from_parts("ck", "tk", "s3cret")
    }

    #[test]
    fn header_has_all_six_params_and_plaintext_signature() {
        let h = authorization_header(&key(), "abc", 1_700_000_000);
        assert_eq!(
            h,
            "OAuth realm=\"\", oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", \
             oauth_consumer_key=\"ck\", oauth_token=\"tk\", oauth_signature=\"&s3cret\", \
             oauth_nonce=\"abc\", oauth_timestamp=\"1700000000\""
        );
    }

    #[test]
    fn secret_is_percent_encoded() {
        let k = ApiKey::from_parts("c", "t", "a&b c");
        let h = authorization_header(&k, "n", 1);
        assert!(h.contains("oauth_signature=\"&a%26b%20c\""), "{h}");
    }

    #[test]
    fn every_signature_gets_a_fresh_nonce() {
        let a = new_nonce();
        let b = new_nonce();
        assert_eq!(a.len(), NONCE_LEN);
        assert_ne!(a, b);
        let v = authorization(&key());
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("s3cret"));
    }
}
