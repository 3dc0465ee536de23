//! OAuth 1.0 as MAAS (piston) checks it: the `Authorization: OAuth …` header, PLAINTEXT and
//! HMAC-SHA1 signatures, a 300-second timestamp window and per-token nonces.
//!
//! Header values may be quoted or not and are percent-decoded; parameters may come in any
//! order; `realm` is ignored. A request may carry several `Authorization` headers (gomaasapi
//! adds a fresh signature with `Header.Add` on every retry after a 503): MAAS's WSGI server
//! (Twisted) joins repeated headers with `,` and piston splits the joined value on `,`, so the
//! later parameters overwrite the earlier ones ([`OAuthHeader::parse_all`]). A header lacking one of the six required parameters is not an
//! error: MAAS treats the request as anonymous (so a protected endpoint answers `Forbidden`).

use crate::maas::ApiKey;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::collections::{BTreeMap, HashMap};

/// The six parameters piston requires.
const REQUIRED: [&str; 6] = [
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
];

/// How old a timestamp may be (piston's `timestamp_threshold`).
pub const TIMESTAMP_THRESHOLD_SECS: i64 = 300;

/// RFC 3986 unreserved characters stay; everything else is %XX (OAuth's encoding).
const OAUTH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// OAuth percent-encoding.
pub fn oauth_encode(s: &str) -> String {
    utf8_percent_encode(s, OAUTH_ENCODE).to_string()
}

/// A simulated MAAS user and its API keys.
#[derive(Clone)]
pub struct SimUser {
    pub username: String,
    pub email: String,
    pub is_superuser: bool,
    /// (token name, key); MAAS names tokens, `account/?op=list_authorisation_tokens` shows them.
    pub keys: Vec<(String, ApiKey)>,
}

impl std::fmt::Debug for SimUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimUser")
            .field("username", &self.username)
            .field("is_superuser", &self.is_superuser)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// The OAuth parameters of one request's header, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthHeader {
    params: BTreeMap<String, String>,
    /// The parameters came in the query string or form body rather than a header; they are
    /// then already part of the request's own parameters for the signature base string.
    in_request: bool,
}

impl std::fmt::Debug for OAuthHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signature of a PLAINTEXT request is the secret itself: never show it.
        f.debug_struct("OAuthHeader")
            .field("consumer_key", &self.get("oauth_consumer_key"))
            .field("method", &self.get("oauth_signature_method"))
            .finish()
    }
}

impl OAuthHeader {
    /// Parses an `Authorization` value. `None` when it is not OAuth or lacks a required
    /// parameter: MAAS then treats the caller as anonymous.
    pub fn parse(value: &str) -> Option<OAuthHeader> {
        let trimmed = value.trim();
        let (scheme, rest) = trimmed.split_at(trimmed.find(char::is_whitespace)?);
        if !scheme.eq_ignore_ascii_case("oauth") {
            return None;
        }
        let mut params = BTreeMap::new();
        for part in rest.split(',') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            let key = k.trim();
            // piston skips any part mentioning the realm.
            if key.eq_ignore_ascii_case("realm") || key.is_empty() {
                continue;
            }
            let raw = v.trim().trim_matches('"');
            let decoded = percent_decode_str(raw).decode_utf8_lossy().into_owned();
            params.insert(key.to_string(), decoded);
        }
        REQUIRED
            .iter()
            .all(|k| params.contains_key(*k))
            .then_some(OAuthHeader {
                params,
                in_request: false,
            })
    }

    /// Every `Authorization` header of a request, read as MAAS reads them: Twisted's WSGI
    /// layer joins repeated headers with `,` (`twisted.web.wsgi`, `_WSGIResponse`), piston's
    /// `OAuthRequest._split_header` splits that on `,` into a dict, so each parameter takes its
    /// last value. A later header's leading `OAuth k=v` part becomes a key `OAuth k` that
    /// nothing reads, exactly as in piston, so that one parameter keeps its earlier value.
    pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<OAuthHeader> {
        let joined = values.into_iter().collect::<Vec<_>>().join(",");
        OAuthHeader::parse(&joined)
    }

    /// OAuth parameters sent as query or form parameters (MAAS's `check_validity` also looks
    /// there), when all six required ones are present.
    pub fn from_request_params<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<OAuthHeader> {
        let params: BTreeMap<String, String> = pairs
            .into_iter()
            .filter(|(k, _)| k.starts_with("oauth_"))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        REQUIRED
            .iter()
            .all(|k| params.contains_key(*k))
            .then_some(OAuthHeader {
                params,
                in_request: true,
            })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    fn req(&self, key: &str) -> &str {
        self.get(key).unwrap_or_default()
    }
}

/// What the HMAC-SHA1 base string is made of: the request as the client saw it.
#[derive(Debug, Clone)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// `scheme://host[:port]/path` (no query), from the Host header.
    pub base_url: String,
    pub query: Vec<(String, String)>,
    /// Only `application/x-www-form-urlencoded` bodies take part in OAuth signatures.
    pub form: Vec<(String, String)>,
}

/// An OAuth failure; `Display` is the exact 401 body MAAS sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Authorization Error: Invalid API key.")]
    InvalidConsumer,
    #[error("Authorization Error: 'Invalid access token: {0}'")]
    InvalidToken(String),
    #[error("Authorization Error: 'OAuth version {0} not supported.'")]
    BadVersion(String),
    #[error("Authorization Error: 'Signature method {0} not supported try one of the following: HMAC-SHA1,PLAINTEXT'")]
    BadMethod(String),
    #[error("Bad Request: Invalid oauth_timestamp: {0:?} is not an integer number of seconds.")]
    BadTimestamp(String),
    #[error("Authorization Error: 'Expired timestamp: given {given} and now {now} has a greater difference than threshold {threshold}'")]
    Expired {
        given: i64,
        now: i64,
        threshold: i64,
    },
    #[error("Authorization Error: 'Nonce already used: {0}'")]
    NonceUsed(String),
    /// MAAS echoes the expected base string; for PLAINTEXT that is the secret, which the
    /// simulator masks (secrets never appear in responses or logs).
    #[error("Authorization Error: 'Invalid signature. Expected signature base string: {0}'")]
    BadSignature(String),
}

impl AuthError {
    /// 400 for a malformed timestamp (MAAS's `OAuthBadRequest`), 401 for the rest.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::BadTimestamp(_) => 400,
            _ => 401,
        }
    }
}

/// Who a verified request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Index into the users table.
    pub user: usize,
}

/// The freshness checks, switchable for clients that replay captured requests.
#[derive(Debug, Clone, Copy)]
pub struct AuthPolicy {
    pub check_timestamp: bool,
    pub check_nonce: bool,
}

/// Remembers nonces per token while their timestamps are still inside the window.
#[derive(Default)]
pub struct NonceStore {
    seen: HashMap<String, HashMap<String, i64>>,
}

impl std::fmt::Debug for NonceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keyed by token key, which is part of an API key: show counts only.
        let nonces: usize = self.seen.values().map(HashMap::len).sum();
        write!(f, "NonceStore({} tokens, {nonces} nonces)", self.seen.len())
    }
}

impl NonceStore {
    /// Records a nonce; false if the token already used it.
    fn remember(&mut self, token: &str, nonce: &str, timestamp: i64, now: i64) -> bool {
        let per_token = self.seen.entry(token.to_string()).or_default();
        // Nonces whose timestamps are already expired can never be replayed successfully
        // (when timestamps are checked), so forget them to keep memory bounded.
        if per_token.len() > 4096 {
            per_token.retain(|_, ts| now.saturating_sub(*ts) <= TIMESTAMP_THRESHOLD_SECS);
        }
        if per_token.contains_key(nonce) {
            return false;
        }
        per_token.insert(nonce.to_string(), timestamp);
        true
    }

    /// Gives a nonce back: MAAS records nonces in the request's database transaction, so a
    /// request its retry loop gives up on (503 + Retry-After) leaves no nonce behind.
    pub fn forget(&mut self, token: &str, nonce: &str) {
        if let Some(per_token) = self.seen.get_mut(token) {
            per_token.remove(nonce);
        }
    }
}

/// Checks a parsed header against the users' keys, in piston's order: version, method,
/// consumer, token, timestamp, nonce, signature. `now_unix` is the real wall clock, because
/// clients sign with real time whatever the simulator's virtual clock says.
pub fn verify(
    header: &OAuthHeader,
    request: &SignedRequest<'_>,
    users: &[SimUser],
    nonces: &mut NonceStore,
    policy: AuthPolicy,
    now_unix: i64,
) -> Result<Caller, AuthError> {
    if let Some(version) = header.get("oauth_version") {
        if version != "1.0" {
            return Err(AuthError::BadVersion(version.to_string()));
        }
    }
    let method = header.req("oauth_signature_method");
    if method != "PLAINTEXT" && method != "HMAC-SHA1" {
        return Err(AuthError::BadMethod(method.to_string()));
    }
    let consumer = header.req("oauth_consumer_key");
    let token = header.req("oauth_token");
    let mut consumer_known = false;
    let mut found: Option<(usize, &ApiKey)> = None;
    for (i, user) in users.iter().enumerate() {
        for (_, key) in &user.keys {
            if key.consumer_key() == consumer {
                consumer_known = true;
                if key.token_key() == token {
                    found = Some((i, key));
                }
            }
        }
    }
    if !consumer_known {
        return Err(AuthError::InvalidConsumer);
    }
    let Some((user, key)) = found else {
        return Err(AuthError::InvalidToken(token.to_string()));
    };
    let raw_ts = header.req("oauth_timestamp");
    let timestamp: i64 = raw_ts
        .trim()
        .parse()
        .map_err(|_| AuthError::BadTimestamp(raw_ts.to_string()))?;
    if policy.check_timestamp && now_unix.saturating_sub(timestamp) > TIMESTAMP_THRESHOLD_SECS {
        return Err(AuthError::Expired {
            given: timestamp,
            now: now_unix,
            threshold: TIMESTAMP_THRESHOLD_SECS,
        });
    }
    let signature = header.req("oauth_signature");
    let good = match method {
        "PLAINTEXT" => plaintext_ok(signature, key.token_secret()),
        _ => hmac_candidates(header, request)
            .iter()
            .any(|base| hmac_sha1(key.token_secret(), base) == signature),
    };
    if !good {
        let expected = match method {
            "PLAINTEXT" => "&<your token secret>".to_string(),
            _ => hmac_candidates(header, request)
                .into_iter()
                .next()
                .unwrap_or_default(),
        };
        return Err(AuthError::BadSignature(expected));
    }
    // The nonce is only spent by a request that is otherwise valid, so a client that got the
    // secret wrong can retry with the same nonce, as with piston.
    let nonce = header.req("oauth_nonce");
    if policy.check_nonce && !nonces.remember(token, nonce, timestamp, now_unix) {
        return Err(AuthError::NonceUsed(nonce.to_string()));
    }
    Ok(Caller { user })
}

/// PLAINTEXT: `encode(consumer_secret) & encode(token_secret)` with an empty consumer secret.
/// The header was percent-decoded once already; a client that double-encoded (`%2526`) or
/// sent the secret encoded is accepted too, as piston's unquote-then-compare is lenient.
fn plaintext_ok(signature: &str, secret: &str) -> bool {
    let expected = format!("&{secret}");
    signature == expected
        || percent_decode_str(signature).decode_utf8_lossy() == expected
        || signature == format!("&{}", oauth_encode(secret))
}

/// The base strings a legitimate client may have signed. The first is RFC 5849's; the others
/// reproduce maas-client-go (CAPMAAS), which signs only the first value of each parameter and
/// leaves body parameters out of PUT signatures.
fn hmac_candidates(header: &OAuthHeader, request: &SignedRequest<'_>) -> Vec<String> {
    let unsigned = |(k, _): &&(String, String)| k.as_str() != "oauth_signature";
    let oauth: Vec<(String, String)> = if header.in_request {
        Vec::new()
    } else {
        header
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let oauth: Vec<(String, String)> = oauth.iter().filter(unsigned).cloned().collect();
    let query: Vec<(String, String)> = request.query.iter().filter(unsigned).cloned().collect();
    let form: Vec<(String, String)> = request.form.iter().filter(unsigned).cloned().collect();
    let mut all = oauth.clone();
    all.extend(query.iter().cloned());
    all.extend(form.iter().cloned());
    let mut without_form = oauth;
    without_form.extend(query.iter().cloned());
    let mut out = vec![base_string(request, &all, false)];
    for (params, first_only) in [(&all, true), (&without_form, false), (&without_form, true)] {
        let s = base_string(request, params, first_only);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn base_string(
    request: &SignedRequest<'_>,
    params: &[(String, String)],
    first_only: bool,
) -> String {
    let mut encoded: Vec<(String, String)> = Vec::new();
    for (k, v) in params {
        if first_only && encoded.iter().any(|(ek, _)| *ek == oauth_encode(k)) {
            continue;
        }
        encoded.push((oauth_encode(k), oauth_encode(v)));
    }
    encoded.sort();
    let normalized = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        request.method.to_ascii_uppercase(),
        oauth_encode(&request.base_url),
        oauth_encode(&normalized)
    )
}

/// base64(HMAC-SHA1(key = "&" + encode(token_secret), base string)).
pub fn hmac_sha1(token_secret: &str, base: &str) -> String {
    use base64::Engine;
    let key = format!("&{}", oauth_encode(token_secret));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Builds the HMAC-SHA1 signature a spec-following client would send (tests and tools use it).
pub fn sign_hmac_sha1(
    token_secret: &str,
    method: &str,
    base_url: &str,
    oauth_params: &[(String, String)],
    query: &[(String, String)],
    form: &[(String, String)],
) -> String {
    let request = SignedRequest {
        method,
        base_url: base_url.to_string(),
        query: query.to_vec(),
        form: form.to_vec(),
    };
    let mut all = oauth_params.to_vec();
    all.extend(query.iter().cloned());
    all.extend(form.iter().cloned());
    hmac_sha1(token_secret, &base_string(&request, &all, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Vec<SimUser> {
        vec![SimUser {
            username: "admin".into(),
            email: "admin@example.com".into(),
            is_superuser: true,
            keys: vec![(
                "token".into(),
                ApiKey::from_parts(
                    "ckckckckckckckckck",
                    "tktktktktktktktktk",
                    "s3cr3ts3cr3ts3cr3ts3cr3ts3cr3t00",
                ),
            )],
        }]
    }

    fn req() -> SignedRequest<'static> {
        SignedRequest {
            method: "GET",
            base_url: "http://127.0.0.1:5240/MAAS/api/2.0/users/".into(),
            query: vec![("op".into(), "whoami".into())],
            form: vec![],
        }
    }

    const POLICY: AuthPolicy = AuthPolicy {
        check_timestamp: true,
        check_nonce: true,
    };

    #[test]
    fn parses_every_client_shape() {
        let libmaas = r#"OAuth realm="OAuth", oauth_nonce="n1", oauth_timestamp="100", oauth_version="1.0", oauth_signature_method="PLAINTEXT", oauth_consumer_key="ck", oauth_token="tk", oauth_signature="%26sec""#;
        let h = OAuthHeader::parse(libmaas).unwrap();
        assert_eq!(h.get("oauth_signature"), Some("&sec"));
        let curl = "OAuth oauth_version=1.0, oauth_signature_method=PLAINTEXT, oauth_consumer_key=ck, oauth_token=tk, oauth_signature=&sec, oauth_nonce=n, oauth_timestamp=1";
        assert_eq!(
            OAuthHeader::parse(curl).unwrap().get("oauth_signature"),
            Some("&sec")
        );
        assert!(OAuthHeader::parse("Basic abc").is_none());
        assert!(OAuthHeader::parse("OAuth oauth_consumer_key=ck").is_none());
    }

    #[test]
    fn plaintext_and_failures() {
        let mut nonces = NonceStore::default();
        let good = |nonce: &str, sig: &str, ts: i64| {
            OAuthHeader::parse(&format!(
                "OAuth oauth_consumer_key=ckckckckckckckckck, oauth_token=tktktktktktktktktk, oauth_signature_method=PLAINTEXT, oauth_signature={sig}, oauth_nonce={nonce}, oauth_timestamp={ts}"
            ))
            .unwrap()
        };
        let u = users();
        let ok = verify(
            &good("a", "%26s3cr3ts3cr3ts3cr3ts3cr3ts3cr3t00", 1000),
            &req(),
            &u,
            &mut nonces,
            POLICY,
            1000,
        );
        assert_eq!(ok, Ok(Caller { user: 0 }));
        let replay = verify(
            &good("a", "%26s3cr3ts3cr3ts3cr3ts3cr3ts3cr3t00", 1000),
            &req(),
            &u,
            &mut nonces,
            POLICY,
            1000,
        );
        assert_eq!(replay, Err(AuthError::NonceUsed("a".into())));
        let stale = verify(
            &good("b", "%26s3cr3ts3cr3ts3cr3ts3cr3ts3cr3t00", 600),
            &req(),
            &u,
            &mut nonces,
            POLICY,
            1000,
        );
        assert!(matches!(stale, Err(AuthError::Expired { .. })));
        let wrong = verify(
            &good("c", "%26nope", 1000),
            &req(),
            &u,
            &mut nonces,
            POLICY,
            1000,
        )
        .unwrap_err();
        assert!(!wrong.to_string().contains("s3cr3t"));
        assert!(wrong
            .to_string()
            .starts_with("Authorization Error: 'Invalid signature."));
    }

    /// gomaasapi's retry after a 503: the stale signature first, the fresh one added after it.
    #[test]
    fn repeated_headers_join_and_the_later_parameters_win() {
        let header = |nonce: &str, ts: i64, first: &str| {
            let rest = [
                format!("oauth_nonce=\"{nonce}\""),
                format!("oauth_timestamp=\"{ts}\""),
                "oauth_consumer_key=\"ckckckckckckckckck\"".to_string(),
                "oauth_token=\"tktktktktktktktktk\"".to_string(),
                "oauth_signature_method=\"PLAINTEXT\"".to_string(),
                "oauth_signature=\"%26s3cr3ts3cr3ts3cr3ts3cr3ts3cr3t00\"".to_string(),
            ];
            format!("OAuth {first}, {}", rest.join(", "))
        };
        let old = header("old", 990, "realm=\"MAAS+API\"");
        let new = header("new", 1000, "oauth_version=\"1.0\"");
        let h = OAuthHeader::parse_all([old.as_str(), new.as_str()]).unwrap();
        assert_eq!(h.get("oauth_nonce"), Some("new"));
        assert_eq!(h.get("oauth_timestamp"), Some("1000"));
        // As in piston, the first part of a later header is read as the key `OAuth oauth_…`.
        assert_eq!(h.get("oauth_version"), None);

        // The first request's nonce is spent, the retry's is not: the retry is accepted.
        let mut nonces = NonceStore::default();
        let first = OAuthHeader::parse(&old).unwrap();
        assert!(verify(&first, &req(), &users(), &mut nonces, POLICY, 1000).is_ok());
        assert_eq!(
            verify(&h, &req(), &users(), &mut nonces, POLICY, 1000),
            Ok(Caller { user: 0 })
        );
        // Reading only the first header (what the simulator did) replays the spent nonce.
        assert_eq!(
            verify(&first, &req(), &users(), &mut nonces, POLICY, 1000),
            Err(AuthError::NonceUsed("old".into()))
        );
        // A forgotten nonce (a request MAAS's retry loop rolled back) can be used again.
        nonces.forget("tktktktktktktktktk", "old");
        assert!(verify(&first, &req(), &users(), &mut nonces, POLICY, 1000).is_ok());
    }

    #[test]
    fn hmac_sha1_round_trip() {
        let mut nonces = NonceStore::default();
        let oauth: Vec<(String, String)> = vec![
            ("oauth_consumer_key".into(), "ckckckckckckckckck".into()),
            ("oauth_token".into(), "tktktktktktktktktk".into()),
            ("oauth_signature_method".into(), "HMAC-SHA1".into()),
            ("oauth_nonce".into(), "abc".into()),
            ("oauth_timestamp".into(), "1000".into()),
            ("oauth_version".into(), "1.0".into()),
        ];
        let r = req();
        let sig = sign_hmac_sha1(
            "s3cr3ts3cr3ts3cr3ts3cr3ts3cr3t00",
            "GET",
            &r.base_url,
            &oauth,
            &r.query,
            &[],
        );
        let mut header = String::from("OAuth ");
        for (k, v) in &oauth {
            header.push_str(&format!("{k}=\"{}\", ", oauth_encode(v)));
        }
        header.push_str(&format!("oauth_signature=\"{}\"", oauth_encode(&sig)));
        let h = OAuthHeader::parse(&header).unwrap();
        assert_eq!(
            verify(&h, &r, &users(), &mut nonces, POLICY, 1000),
            Ok(Caller { user: 0 })
        );
        let mut other = req();
        other.query = vec![("op".into(), "other".into())];
        let h2 = OAuthHeader::parse(&header.replace("abc", "abd")).unwrap();
        assert!(matches!(
            verify(&h2, &other, &users(), &mut nonces, POLICY, 1000),
            Err(AuthError::BadSignature(_))
        ));
    }
}
