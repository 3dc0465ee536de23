//! etcd's v3 API through the JSON gateway every etcd member serves on its client port
//! (`POST /v3/kv/range`, `/v3/kv/txn`, `/v3/lease/grant`, `/v3/election/campaign`,
//! `/v3/watch`, `/v3/cluster/member/list` …), over the HTTP client the project already has.
//! No gRPC stack, so nothing but a Rust toolchain and a C compiler is needed to build.
//!
//! Used by the 3-node gateways' replicated store and election ([`crate::ha`]). A gRPC error
//! comes back as an HTTP status with `{"error", "code", "message"}`, `code` being the gRPC
//! status code; [`EtcdError`] keeps the code so callers decide by it, and by etcd's own
//! message only where etcd gives several meanings one code.
//!
//! A [`EtcdClient`] knows every endpoint it was given and moves to the next one when an
//! endpoint cannot be reached (a killed member costs one failed connection, not the call);
//! a refusal from a member that answered is the answer.

mod types;
mod watch;

pub use types::{
    Compare, Event, EventKind, Header, KeyValue, Member, Op, Range, RangeResponse, Txn,
    TxnResponse, WatchResponse,
};
pub use watch::WatchStream;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use types::b64;

/// gRPC status codes etcd answers with.
pub mod code {
    pub const DEADLINE_EXCEEDED: i64 = 4;
    pub const NOT_FOUND: i64 = 5;
    pub const FAILED_PRECONDITION: i64 = 9;
    pub const UNAVAILABLE: i64 = 14;
}

/// The most an ordinary answer may hold. The largest the log reads is 64 entries of at most
/// 1 MiB each; anything longer is not etcd answering.
const MAX_ANSWER: usize = 80 * 1024 * 1024;

/// How long an ordinary call may take before the member counts as unreachable: bounded so
/// that a store write on a node cut from the majority fails with a message instead of
/// hanging. Campaigns and watches wait as long as they must.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Probes on idle connections, so a watch or campaign on a member that vanished without
/// closing its connection ends.
const TCP_KEEPALIVE: Duration = Duration::from_secs(5);

/// Why a call failed. Messages name the endpoint and etcd's own words, never values.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EtcdError {
    /// Nothing (usable) came back: the member is down, unreachable or too slow.
    #[error("{endpoint}: {detail}")]
    Transport { endpoint: String, detail: String },
    /// The member answered with an error.
    #[error("{endpoint}: {message} (HTTP {status})")]
    Refused {
        endpoint: String,
        status: u16,
        /// The gRPC status code, when etcd gave one.
        code: Option<i64>,
        message: String,
    },
    /// The member answered something that is not etcd's answer.
    #[error("{endpoint}: {detail}")]
    Answer { endpoint: String, detail: String },
    /// The TLS files could not be used.
    #[error("{0}")]
    Setup(String),
}

impl EtcdError {
    /// The gRPC code of a refusal.
    pub fn code(&self) -> Option<i64> {
        match self {
            EtcdError::Refused { code, .. } => *code,
            _ => None,
        }
    }

    /// etcd's own message of a refusal (empty otherwise).
    pub fn message(&self) -> &str {
        match self {
            EtcdError::Refused { message, .. } => message,
            _ => "",
        }
    }

    /// Whether nothing came back from the member (another one may answer).
    pub fn is_transport(&self) -> bool {
        matches!(self, EtcdError::Transport { .. })
    }

    /// Whether the member answered that it cannot serve now (no leader, a timed-out
    /// proposal, a leader change): another member, or a later try, may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self.code(),
            Some(code::UNAVAILABLE) | Some(code::DEADLINE_EXCEEDED)
        )
    }
}

/// The TLS a client uses: the CA the members' certificates chain to and, optionally, the
/// client certificate and key it shows (PEM).
#[derive(Clone)]
pub struct ClientTls {
    pub ca_pem: Vec<u8>,
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

/// A client of the etcd cluster at its endpoints (`http(s)://HOST:PORT`).
#[derive(Clone)]
pub struct EtcdClient {
    http: reqwest::Client,
    endpoints: Arc<[String]>,
    /// The endpoint tried first: the last one that answered.
    current: Arc<AtomicUsize>,
}

impl std::fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdClient")
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

impl EtcdClient {
    /// A client of `endpoints`, with `tls` for https ones. Never through a proxy: the members
    /// are on the gateway's own network, and a jump host's `HTTPS_PROXY` must not catch them.
    pub fn new(endpoints: Vec<String>, tls: Option<&ClientTls>) -> Result<EtcdClient, EtcdError> {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(TCP_KEEPALIVE)
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(tls) = tls {
            let ca = reqwest::Certificate::from_pem(&tls.ca_pem).map_err(|e| {
                EtcdError::Setup(format!("the etcd CA is not a PEM certificate: {e}"))
            })?;
            builder = builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(ca);
            if let Some((cert, key)) = &tls.identity_pem {
                let mut pem = cert.clone();
                // A certificate without its final newline would run into the key's BEGIN line.
                pem.push(b'\n');
                pem.extend_from_slice(key);
                // Say nothing of the PEM itself: it holds the key.
                let identity = reqwest::Identity::from_pem(&pem).map_err(|_| {
                    EtcdError::Setup(
                        "the etcd client certificate or key is not a usable PEM pair".to_string(),
                    )
                })?;
                builder = builder.identity(identity);
            }
        }
        let http = builder
            .build()
            .map_err(|e| EtcdError::Setup(format!("cannot set up the etcd client: {e}")))?;
        Ok(EtcdClient {
            http,
            endpoints: endpoints.into(),
            current: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The endpoints, for messages.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// A client of the same cluster that talks to `endpoint` only (same TLS).
    pub fn only(&self, endpoint: &str) -> EtcdClient {
        EtcdClient {
            http: self.http.clone(),
            endpoints: vec![endpoint.to_string()].into(),
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// `POST path` with `body` on the endpoints in turn, from the last that answered, until
    /// one answers; its answer (success or refusal) is the result.
    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<T, EtcdError> {
        let (endpoint, response) = self.send(path, body, timeout).await?;
        let bytes = watch::read_bounded(response, MAX_ANSWER)
            .await
            .map_err(|detail| EtcdError::Transport {
                endpoint: endpoint.clone(),
                detail,
            })?;
        serde_json::from_slice(&bytes).map_err(|e| EtcdError::Answer {
            endpoint,
            detail: format!("unreadable answer to {path} ({e})"),
        })
    }

    /// Sends `POST path` to the first endpoint that answers with success, returning it and
    /// the response (whose body is still to read).
    async fn send(
        &self,
        path: &str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<(String, reqwest::Response), EtcdError> {
        let n = self.endpoints.len();
        if n == 0 {
            return Err(EtcdError::Setup("no etcd endpoints".to_string()));
        }
        let first = self.current.load(Ordering::Acquire) % n;
        let mut last = None;
        for k in 0..n {
            let i = (first + k) % n;
            let endpoint = &self.endpoints[i];
            match self.send_to(endpoint, path, body, timeout).await {
                Ok(response) => {
                    self.current.store(i, Ordering::Release);
                    return Ok((endpoint.clone(), response));
                }
                Err(e) if e.is_transport() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one endpoint was tried"))
    }

    async fn send_to(
        &self,
        endpoint: &str,
        path: &str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, EtcdError> {
        let url = format!("{}{path}", endpoint.trim_end_matches('/'));
        // etcd's "require leader": a member cut from the majority refuses at once ("no
        // leader", Unavailable) instead of answering from its stale copy or hanging, so the
        // caller moves on. The gateway passes `Grpc-Metadata-*` headers on as gRPC metadata.
        let mut request = self
            .http
            .post(&url)
            .header("Grpc-Metadata-hasleader", "true")
            .json(body);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(|e| EtcdError::Transport {
            endpoint: endpoint.to_string(),
            detail: error_chain(&e),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = watch::read_bounded(response, 64 * 1024)
            .await
            .unwrap_or_default();
        Err(refusal(endpoint, status.as_u16(), &body))
    }

    /// Reads `range`.
    pub async fn range(&self, range: &Range) -> Result<RangeResponse, EtcdError> {
        self.call("/v3/kv/range", &range.json(), Some(REQUEST_TIMEOUT))
            .await
    }

    /// Sets `key` to `value`.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), EtcdError> {
        let _: Value = self
            .call(
                "/v3/kv/put",
                &json!({ "key": b64(key), "value": b64(value) }),
                Some(REQUEST_TIMEOUT),
            )
            .await?;
        Ok(())
    }

    /// Deletes the keys of `range`.
    pub async fn delete(&self, range: &Range) -> Result<(), EtcdError> {
        let _: Value = self
            .call(
                "/v3/kv/deleterange",
                &range.delete_json(),
                Some(REQUEST_TIMEOUT),
            )
            .await?;
        Ok(())
    }

    /// Runs `txn` atomically.
    pub async fn txn(&self, txn: &Txn) -> Result<TxnResponse, EtcdError> {
        let answer: types::TxnJson = self
            .call("/v3/kv/txn", &txn.json(), Some(REQUEST_TIMEOUT))
            .await?;
        Ok(answer.into())
    }

    /// A lease living `ttl` seconds unless renewed; its id.
    pub async fn lease_grant(&self, ttl: i64) -> Result<i64, EtcdError> {
        let answer: types::LeaseJson = self
            .call(
                "/v3/lease/grant",
                &json!({ "TTL": ttl.to_string() }),
                Some(REQUEST_TIMEOUT),
            )
            .await?;
        if !answer.error.is_empty() || answer.id == 0 {
            return Err(EtcdError::Refused {
                endpoint: self.endpoints.join(", "),
                status: 200,
                code: None,
                message: format!("no lease granted: {}", answer.error),
            });
        }
        Ok(answer.id)
    }

    /// Revokes lease `id`, deleting every key attached to it. A lease etcd does not know
    /// (expired, revoked already) is a refusal with code [`code::NOT_FOUND`].
    pub async fn lease_revoke(&self, id: i64) -> Result<(), EtcdError> {
        let _: Value = self
            .call(
                "/v3/lease/revoke",
                &json!({ "ID": id.to_string() }),
                Some(REQUEST_TIMEOUT),
            )
            .await?;
        Ok(())
    }

    /// Renews lease `id` once; the seconds it now has to live (0: etcd no longer has it).
    pub async fn lease_keep_alive(&self, id: i64) -> Result<i64, EtcdError> {
        // The gateway maps the gRPC keep-alive stream onto one request: each JSON request in
        // the body gets one `{"result": …}` in the answer, which ends with the body.
        let (endpoint, response) = self
            .send(
                "/v3/lease/keepalive",
                &json!({ "ID": id.to_string() }),
                Some(REQUEST_TIMEOUT),
            )
            .await?;
        let mut stream = WatchStream::new(endpoint.clone(), response);
        match stream.next_value::<types::LeaseJson>().await? {
            Some(lease) => Ok(lease.ttl),
            None => Err(EtcdError::Answer {
                endpoint,
                detail: "the lease keep-alive ended without an answer".to_string(),
            }),
        }
    }

    /// Campaigns in election `name` with `value` on `lease`, waiting until elected; the
    /// elected key (deleted when the role ends).
    pub async fn campaign(
        &self,
        name: &[u8],
        value: &[u8],
        lease: i64,
    ) -> Result<Vec<u8>, EtcdError> {
        let answer: types::CampaignJson = self
            .call(
                "/v3/election/campaign",
                &json!({ "name": b64(name), "value": b64(value), "lease": lease.to_string() }),
                None,
            )
            .await?;
        answer
            .leader
            .map(|l| l.key)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| EtcdError::Answer {
                endpoint: self.endpoints.join(", "),
                detail: "etcd answered a campaign without a leader key".to_string(),
            })
    }

    /// The elected key of election `name` (its value is what the leader campaigned with, its
    /// lease the leader's), if there is a leader.
    pub async fn leader(&self, name: &[u8]) -> Result<Option<KeyValue>, EtcdError> {
        let answer: Result<types::LeaderJson, _> = self
            .call(
                "/v3/election/leader",
                &json!({ "name": b64(name) }),
                Some(REQUEST_TIMEOUT),
            )
            .await;
        match answer {
            Ok(answer) => Ok(answer.kv),
            // etcd answers "election: no leader" as an error.
            Err(e) if e.message().contains("no leader") && e.code() != Some(code::UNAVAILABLE) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Watches `range` from `start_revision` on (0: from now).
    pub async fn watch(
        &self,
        range: &Range,
        start_revision: i64,
    ) -> Result<WatchStream, EtcdError> {
        let mut create = range.delete_json();
        if start_revision > 0 {
            create["start_revision"] = json!(start_revision.to_string());
        }
        let (endpoint, response) = self
            .send("/v3/watch", &json!({ "create_request": create }), None)
            .await?;
        Ok(WatchStream::new(endpoint, response))
    }

    /// The members of the cluster.
    pub async fn member_list(&self) -> Result<Vec<Member>, EtcdError> {
        let answer: types::MembersJson = self
            .call("/v3/cluster/member/list", &json!({}), Some(REQUEST_TIMEOUT))
            .await?;
        Ok(answer.members)
    }

    /// Adds a member that will start at `peer_urls`.
    pub async fn member_add(&self, peer_urls: &[String]) -> Result<(), EtcdError> {
        let _: Value = self
            .call(
                "/v3/cluster/member/add",
                &json!({ "peerURLs": peer_urls }),
                Some(REQUEST_TIMEOUT),
            )
            .await?;
        Ok(())
    }

    /// Removes member `id` (a member etcd does not know: [`code::NOT_FOUND`]).
    pub async fn member_remove(&self, id: u64) -> Result<(), EtcdError> {
        let _: Value = self
            .call(
                "/v3/cluster/member/remove",
                &json!({ "ID": id.to_string() }),
                Some(REQUEST_TIMEOUT),
            )
            .await?;
        Ok(())
    }

    /// The id of the member that answers.
    pub async fn member_id(&self) -> Result<u64, EtcdError> {
        let answer: types::HeaderOnly = self
            .call("/v3/maintenance/status", &json!({}), Some(REQUEST_TIMEOUT))
            .await?;
        Ok(answer.header.member_id)
    }
}

/// A refusal from `body`: etcd's `{"error", "code", "message"}` when it sent one, the body
/// cut short otherwise (something else on the path answered).
fn refusal(endpoint: &str, status: u16, body: &[u8]) -> EtcdError {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_i64);
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            String::from_utf8_lossy(body)
                .trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect()
        });
    EtcdError::Refused {
        endpoint: endpoint.to_string(),
        status,
        code,
        message,
    }
}

/// A reqwest error with its causes: the reason (refused, timed out, unknown CA) hides in
/// them.
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_grpc_code_and_etcds_words() {
        let e = refusal(
            "http://127.0.0.1:1",
            404,
            br#"{"error":"etcdserver: member not found","code":5,"message":"etcdserver: member not found"}"#,
        );
        assert_eq!(e.code(), Some(code::NOT_FOUND));
        assert_eq!(e.message(), "etcdserver: member not found");
        let e = refusal(
            "x",
            503,
            br#"{"code":14,"message":"etcdserver: request timed out"}"#,
        );
        assert!(e.is_unavailable());
        let e = refusal("x", 404, b"404 page not found\x1b]0;t\x07");
        assert_eq!(e.code(), None);
        assert!(!e.to_string().contains('\x1b'), "{e}");
    }
}
