//! The MAAS API client: one configured HTTP client (TLS, proxy, timeouts), OAuth signing of
//! every attempt, retries by the rules in [`super::retry`], and MAAS's answers turned into
//! typed results or [`MaasError`]s. The typed operations live in `ops.rs`.

use super::creds::ApiKey;
use super::endpoint::Endpoint;
use super::error::{ClientConfigError, MaasError};
use super::oauth;
use super::requests::Params;
use super::retry::{Idempotency, RetryPolicy};
use crate::untrusted::{read_body, read_prefix, BodyError};
use bytes::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How MAAS's TLS certificate is checked. Verified against the system's roots by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file with the private CA that signed the region's certificate (added to the
    /// system roots, not replacing them).
    pub ca_cert: Option<PathBuf>,
    /// Accept any certificate. Anyone on the path can then read the API key: an explicit,
    /// logged opt-out for labs only.
    pub insecure_skip_tls_verify: bool,
}

/// Everything a [`MaasClient`] needs.
#[derive(Debug, Clone)]
pub struct MaasConfig {
    pub endpoint: Endpoint,
    pub api_key: ApiKey,
    pub tls: TlsOptions,
    /// The whole of one attempt, connect to last byte. `query_power_state` can take ~60 s.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
}

impl MaasConfig {
    /// Defaults: verified TLS, 90 s per attempt, 10 s to connect, 4 attempts with back-off.
    pub fn new(endpoint: Endpoint, api_key: ApiKey) -> Self {
        MaasConfig {
            endpoint,
            api_key,
            tls: TlsOptions::default(),
            timeout: Duration::from_secs(90),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// A MAAS region client. Cheap to clone (an `Arc` inside) and safe to use from many tasks at
/// once; clones share one connection pool.
#[derive(Clone)]
pub struct MaasClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Endpoint,
    key: ApiKey,
    retry: RetryPolicy,
    timeout: Duration,
}

impl fmt::Debug for MaasClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaasClient")
            .field("endpoint", &self.inner.endpoint)
            .field("api_key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

/// One API call, before signing.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    /// Relative to the API base, with MAAS's trailing slash: `machines/abc/`.
    pub path: String,
    pub op: Option<&'static str>,
    pub query: Params,
    /// POST/PUT body, sent urlencoded (omitted when empty: MAAS 3.6 has refused empty forms).
    pub form: Params,
    pub idempotency: Idempotency,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Self {
        Call {
            method: Method::GET,
            path: path.into(),
            op: None,
            query: Params::new(),
            form: Params::new(),
            idempotency: Idempotency::Idempotent,
        }
    }

    /// A named action: POST with `op` in the query string and the params in the body.
    pub fn post(path: impl Into<String>, op: Option<&'static str>, form: Params) -> Self {
        Call {
            method: Method::POST,
            path: path.into(),
            op,
            query: Params::new(),
            form,
            idempotency: Idempotency::NonIdempotent,
        }
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Call {
            method: Method::DELETE,
            path: path.into(),
            op: None,
            query: Params::new(),
            form: Params::new(),
            idempotency: Idempotency::NonIdempotent,
        }
    }

    pub fn op(mut self, op: &'static str) -> Self {
        self.op = Some(op);
        self
    }

    pub fn query(mut self, query: Params) -> Self {
        self.query = query;
        self
    }

    pub fn idempotent(mut self) -> Self {
        self.idempotency = Idempotency::Idempotent;
        self
    }

    /// `POST machines/?op=allocate`: how errors and logs name the call.
    pub fn describe(&self) -> String {
        match self.op {
            Some(op) => format!("{} {}?op={op}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// The most read of one successful MAAS answer. The largest is a machine listing: a real MAAS
/// 3.5 machine is about 12.5 KB of JSON (`tests/data/maas-3.5-machines.json`), so 10,000 of
/// them are about 125 MB; twice that leaves room for machines with many disks and interfaces.
/// A test checks that a simulated 10,000-machine listing fits.
pub const MAX_ANSWER: usize = 256 * 1024 * 1024;
/// The most read of an error answer: only its first 500 characters are ever shown, and a
/// 400's field errors are a few hundred bytes.
const MAX_ERROR_ANSWER: usize = 64 * 1024;

/// A successful answer.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl MaasClient {
    /// Builds the client. Fails on an unreadable or invalid CA file, naming it.
    pub fn new(config: MaasConfig) -> Result<Self, ClientConfigError> {
        let http = build_http(&config)?;
        Ok(MaasClient {
            inner: Arc::new(Inner {
                http,
                endpoint: config.endpoint,
                key: config.api_key,
                retry: config.retry,
                timeout: config.timeout,
            }),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// Runs a call with retries and decodes the JSON answer.
    pub(crate) async fn call_json<T: DeserializeOwned>(&self, call: &Call) -> Result<T, MaasError> {
        let answer = self.execute(call).await?;
        self.decode(call, &answer.body)
    }

    /// Runs a call whose answer carries nothing kubemaas needs (204 deletes, IP release).
    pub(crate) async fn call_empty(&self, call: &Call) -> Result<(), MaasError> {
        self.execute(call).await.map(|_| ())
    }

    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        call: &Call,
        body: &[u8],
    ) -> Result<T, MaasError> {
        serde_json::from_slice(body).map_err(|e| {
            let detail = if body.trim_ascii_start().starts_with(b"<") {
                "an HTML page instead of JSON".to_string()
            } else {
                format!("{e}")
            };
            MaasError::Decode {
                request: call.describe(),
                detail: self.inner.key.scrub(&detail),
            }
        })
    }

    /// Sends a call, retrying as the policy and the call's idempotency allow. Every attempt is
    /// signed afresh (new nonce and timestamp).
    pub(crate) async fn execute(&self, call: &Call) -> Result<Answer, MaasError> {
        let retry = &self.inner.retry;
        let mut attempt = 1;
        loop {
            match self.attempt(call).await {
                Ok(answer) => {
                    tracing::debug!(request = %call.describe(), attempt, status = answer.status.as_u16(), "MAAS call done");
                    return Ok(answer);
                }
                Err(err) => {
                    if !retry.should_retry(attempt, call.idempotency, &err) {
                        tracing::debug!(request = %call.describe(), attempt, error = %err, "MAAS call failed");
                        return Err(err);
                    }
                    let wait = retry.delay(attempt, err.retry_after());
                    tracing::warn!(
                        request = %call.describe(),
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        error = %err,
                        "MAAS call failed; trying again"
                    );
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, call: &Call) -> Result<Answer, MaasError> {
        let inner = &*self.inner;
        let mut url = inner.endpoint.url_for(&call.path);
        if call.op.is_some() || !call.query.is_empty() {
            let mut q = url.query_pairs_mut();
            if let Some(op) = call.op {
                q.append_pair("op", op);
            }
            for (k, v) in call.query.pairs() {
                q.append_pair(k, v);
            }
        }
        let mut request = inner
            .http
            .request(call.method.clone(), url)
            .header(AUTHORIZATION, oauth::authorization(&inner.key))
            .header(ACCEPT, "application/json");
        if !call.form.is_empty() {
            request = request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(call.form.encode());
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(call, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        // Only the start of an error body is ever shown (`body_text`), so it is cut, not refused.
        let body = if status.is_success() {
            read_body(response, MAX_ANSWER).await
        } else {
            read_prefix(response, MAX_ERROR_ANSWER).await
        }
        .map_err(|e| self.body_error(call, e))?;
        if status.is_success() {
            return Ok(Answer { status, body });
        }
        Err(self.status_error(call, status, &headers, &body))
    }

    /// Maps a non-2xx answer to its error.
    fn status_error(
        &self,
        call: &Call,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> MaasError {
        let request = call.describe();
        let message = self.body_text(headers, body);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        match status.as_u16() {
            400 => MaasError::BadRequest {
                request,
                fields: validation_fields(body)
                    .into_iter()
                    .map(|(k, v)| (k, v.iter().map(|m| self.inner.key.scrub(m)).collect()))
                    .collect(),
                message,
            },
            401 => MaasError::Unauthorized {
                endpoint: self.inner.endpoint.to_string(),
                message,
            },
            403 => MaasError::Forbidden { request, message },
            404 => MaasError::NotFound { request, message },
            409 if retry_after.is_none() => MaasError::Conflict { request, message },
            409 | 500..=599 => MaasError::ServerBusy {
                request,
                status: status.as_u16(),
                retry_after,
                message,
            },
            300..=399 => MaasError::Redirected {
                request,
                location: headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(no Location given)")
                    .to_string(),
            },
            other => MaasError::Unexpected {
                request,
                status: other,
                message,
            },
        }
    }

    /// MAAS's error text, fit for an operator: trimmed, bounded, key scrubbed, HTML summarised.
    fn body_text(&self, headers: &HeaderMap, body: &[u8]) -> String {
        const MAX: usize = 500;
        let is_html = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("html"))
            || body.trim_ascii_start().starts_with(b"<");
        if is_html {
            return "an HTML error page".to_string();
        }
        let text = String::from_utf8_lossy(body);
        let mut text = text.trim().to_string();
        if text.chars().count() > MAX {
            text = text.chars().take(MAX).collect::<String>() + "…";
        }
        self.inner.key.scrub(&text)
    }

    fn body_error(&self, call: &Call, err: BodyError) -> MaasError {
        match err {
            BodyError::TooLarge { limit, .. } => MaasError::TooLarge {
                endpoint: self.inner.endpoint.to_string(),
                request: call.describe(),
                limit,
            },
            BodyError::Read { source, .. } => self.transport_error(call, &source),
        }
    }

    fn transport_error(&self, call: &Call, err: &reqwest::Error) -> MaasError {
        let endpoint = self.inner.endpoint.to_string();
        let detail = self.inner.key.scrub(&cause_chain(err));
        if err.is_timeout() {
            return MaasError::Timeout {
                request: call.describe(),
                timeout: self.inner.timeout,
            };
        }
        if looks_like_certificate_problem(err) {
            return MaasError::Tls { endpoint, detail };
        }
        if err.is_decode() {
            return MaasError::Decode {
                request: call.describe(),
                detail,
            };
        }
        MaasError::Connect { endpoint, detail }
    }
}

/// `{"field": ["message", …]}` from a 400 body, or nothing if the body is not that shape.
fn validation_fields(body: &[u8]) -> BTreeMap<String, Vec<String>> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return BTreeMap::new();
    };
    map.into_iter()
        .map(|(field, v)| {
            let msgs = match v {
                serde_json::Value::Array(items) => items
                    .into_iter()
                    .map(|m| match m {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect(),
                serde_json::Value::String(s) => vec![s],
                other => vec![other.to_string()],
            };
            (field, msgs)
        })
        .collect()
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (when.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs as u64))
}

/// The error's causes, outermost first, without repeats: "tcp connect error: Connection refused".
fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = err.source();
    while let Some(e) = next {
        let s = e.to_string();
        // hyper-util's wrapper ("client error (Connect)") says nothing the next cause does not.
        if !s.starts_with("client error (") && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        next = e.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

/// rustls reports an untrusted certificate as "invalid peer certificate: UnknownIssuer" (and
/// similar); matching the text keeps rustls out of our direct dependencies.
fn looks_like_certificate_problem(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let s = e.to_string().to_ascii_lowercase();
        if s.contains("certificate") || s.contains("unknownissuer") {
            return true;
        }
        next = e.source();
    }
    false
}

/// Loopback endpoints never go through a proxy: a proxy elsewhere cannot reach our loopback.
fn is_loopback(endpoint: &Endpoint) -> bool {
    match endpoint.api_base().host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    }
}

fn build_http(config: &MaasConfig) -> Result<reqwest::Client, ClientConfigError> {
    let mut builder = reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout.min(config.timeout))
        // A redirected POST would silently become a GET; report the new address instead.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kubemaas/", env!("CARGO_PKG_VERSION")));
    // HTTP_PROXY / HTTPS_PROXY / NO_PROXY are honoured by reqwest's system proxy, except here.
    if is_loopback(&config.endpoint) {
        builder = builder.no_proxy();
    }
    if !config.endpoint.is_https() && !is_loopback(&config.endpoint) {
        // PLAINTEXT signing puts the token secret in every request: plain HTTP shows it to
        // anyone on the path. MAAS's default is HTTP on 5240, so say it, but do not refuse.
        tracing::info!(
            endpoint = %config.endpoint,
            "MAAS endpoint uses plain HTTP: the API key crosses the network unencrypted; prefer https:// with --ca-cert"
        );
    }
    let tls = &config.tls;
    if let Some(path) = &tls.ca_cert {
        if tls.insecure_skip_tls_verify {
            return Err(ClientConfigError::CaAndInsecure);
        }
        let pem = std::fs::read(path).map_err(|source| ClientConfigError::CaCertUnreadable {
            path: path.clone(),
            source,
        })?;
        let invalid = |reason: String| ClientConfigError::CaCertInvalid {
            path: path.clone(),
            reason,
        };
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| invalid(format!("bad PEM encoding: {}", cause_chain(&e))))?;
        if certs.is_empty() {
            return Err(invalid("no -----BEGIN CERTIFICATE----- block in it".into()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if tls.insecure_skip_tls_verify {
        tracing::warn!(
            endpoint = %config.endpoint,
            "TLS VERIFICATION OF MAAS IS OFF (--insecure-skip-tls-verify): anyone on the network path \
             can impersonate MAAS and read the API key; pass --ca-cert FILE instead"
        );
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| match &tls.ca_cert {
        // The only input that can make an otherwise fixed setup fail is the CA file.
        Some(path) => ClientConfigError::CaCertInvalid {
            path: path.clone(),
            reason: cause_chain(&e),
        },
        None => ClientConfigError::Http(cause_chain(&e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn validation_fields_are_read() {
        let f = validation_fields(br#"{"zone": ["No such zone: 'x'."], "mem": "bad"}"#);
        assert_eq!(f["zone"], vec!["No such zone: 'x'.".to_string()]);
        assert_eq!(f["mem"], vec!["bad".to_string()]);
        assert!(validation_fields(b"Bad Request").is_empty());
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for (url, want) in [
            ("http://127.0.0.1:5240/MAAS", true),
            ("http://127.9.0.1:5240/MAAS", true),
            ("http://[::1]:5240/MAAS", true),
            ("http://localhost:5240/MAAS", true),
            ("http://maas.example:5240/MAAS", false),
            ("http://10.0.0.1:5240/MAAS", false),
        ] {
            assert_eq!(is_loopback(&Endpoint::parse(url).unwrap()), want, "{url}");
        }
    }

    #[test]
    fn calls_describe_themselves() {
        let c = Call::post("machines/", Some("allocate"), Params::new());
        assert_eq!(c.describe(), "POST machines/?op=allocate");
        assert_eq!(Call::get("zones/").describe(), "GET zones/");
    }
}
