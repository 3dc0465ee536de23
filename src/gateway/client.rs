//! The console's side of a gateway: pairing ([`pair`]), then a [`GatewayClient`] that calls
//! any JSON or streaming endpoint over the mutually authenticated channel.
//!
//! # Several nodes
//!
//! A replicated gateway answers on each of its nodes (one CA: the pinned one admits them
//! all). A client holds every node address it knows — the one it was made with first — and
//! when a node cannot be reached it tries the next, and sticks with the one that answered
//! (clones share that choice, so an event stream and the calls beside it move together).
//! Whether a failed call may go to another node depends on what may have reached the first:
//!
//! * no connection at all (refused, connect timeout): nothing was sent, any call moves on;
//! * the connection broke after the request went out: only calls that are safe to repeat
//!   move on — reads, and writes carrying an idempotency key (`POST /v1/clusters` from the
//!   console's request queue, see [`super::idempotency`]). Other writes report the failure:
//!   the first node may have acted on them;
//! * a node restarting for an upgrade refuses writes unprocessed (`503 upgrading` with
//!   [`DRAINING_HEADER`]): any call moves on; that refusal is the answer only when no other
//!   node takes the call (a 1-node gateway: the console then queues cluster requests);
//! * any other HTTP answer, even an error, and a TLS failure never move on: the node answered
//!   (or something that is not the gateway did, which another node must not paper over).
//!
//! Every `/v1/info` answer that lists nodes replaces the list ([`GatewayClient::on_nodes`]
//! lets the console keep it in its store). A client may start at another known node than the
//! one it was made with ([`GatewayClient::starting_at`]: the one that answered the console's
//! previous process), and says when it moves to another node ([`GatewayClient::on_move`]) —
//! only then, not on every call, so that remembering it costs one write per failover.

use super::idempotency::IDEMPOTENCY_HEADER;
use super::pairing::{self, PairingCode, Side};
use super::pki::{self, cert_from_pem, key_from_pem};
use super::protocol::{
    ErrorBody, GatewayInfo, Health, InfoAnswer, NodeInfo, PairHello, PairRequest, PairResponse,
    HEALTH_PATH, INFO_PATH, PAIR_PATH,
};
use super::tls;
use super::upgrade_server::DRAINING_HEADER;
use super::upgrade_version::{
    self, Incompatible, ProtocolRange, PROTOCOL_HEADER, PROTOCOL_MIN_HEADER, VERSION_HEADER,
};
use crate::untrusted::{read_body, BodyError, ByteSize};
use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most read of one answer (streams are bounded per line instead). The largest are
/// cluster lists and journal pages, a few megabytes at most.
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// A whole request/response call; streams have no overall limit.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong reaching a gateway. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum GatewayClientError {
    #[error("`{address}` is not a gateway address: give HOST:PORT, like gw1.example:8443 or 10.0.0.5:8443")]
    BadAddress { address: String },
    #[error("cannot reach the gateway at {address} ({detail}): check the address and port, that `kubemaas gateway run` is up there, and that a firewall lets this host through")]
    Connect { address: String, detail: String },
    #[error("the secure channel to the gateway at {address} failed ({detail}): if the gateway was reinstalled or this is not the paired gateway, unpair it and pair again with a fresh code")]
    Channel { address: String, detail: String },
    #[error("the gateway at {address} refused {path} (HTTP {status}): {message}")]
    Refused {
        address: String,
        path: String,
        status: u16,
        error: String,
        message: String,
        /// The refused call's error fields (engine routes), see [`super::wire_error`].
        /// Boxed: rarely present, and every client result carries this type.
        detail: Option<Box<serde_json::Value>>,
    },
    #[error("the gateway at {address} answered {path} with something this console cannot read ({detail}): are console and gateway the same kubemaas version?")]
    Decode {
        address: String,
        path: String,
        detail: String,
    },
    #[error("the gateway at {address} answered {path} with more than {limit}, the most this console reads of one answer: something other than the gateway may be answering there, or are console and gateway the same kubemaas version?")]
    TooLarge {
        address: String,
        path: String,
        limit: ByteSize,
    },
    #[error("the gateway at {address} speaks protocol {found}, this console {ours}: run the same kubemaas version on both")]
    Protocol {
        address: String,
        found: u32,
        ours: u32,
    },
    #[error("PAIRING REFUSED: the gateway at {address} could not prove it knows the pairing code for the certificate it showed ({reason}). Something between this console and the gateway may be impersonating it; nothing was stored. Check the address, and pair again with a fresh code")]
    NotTheGateway { address: String, reason: String },
    #[error("cannot read this console's pairing material for gateway `{gateway}` at {path}: {detail} (pair with the gateway again: `kubemaas gateway unpair {gateway}` then `kubemaas gateway pair`)")]
    Material {
        gateway: String,
        path: PathBuf,
        detail: String,
    },
    #[error("gateway `{gateway}` is not paired with this console: pair it with `kubemaas gateway pair --address HOST:PORT --code CODE`")]
    NotPaired { gateway: String },
    /// The gateway answered, but speaks no protocol this console does.
    #[error(transparent)]
    Incompatible(Box<Incompatible>),
    #[error(transparent)]
    Tls(#[from] tls::TlsSetupError),
}

/// Checks `HOST:PORT` and gives the base URL.
fn base_url(address: &str) -> Result<url::Url, GatewayClientError> {
    let bad = || GatewayClientError::BadAddress {
        address: address.to_string(),
    };
    let address = address.trim();
    if address.is_empty() || address.contains('/') || address.contains('@') {
        return Err(bad());
    }
    let url = url::Url::parse(&format!("https://{address}/")).map_err(|_| bad())?;
    if url.port().is_none() || url.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(url)
}

/// Whether a node's announced address is one to call: `HOST:PORT`, and not a wildcard (a
/// node listening on `0.0.0.0` announces that, which names no host to reach it at).
fn callable(address: &str) -> bool {
    match base_url(address) {
        Ok(url) => match url.host() {
            Some(url::Host::Ipv4(ip)) => !ip.is_unspecified(),
            Some(url::Host::Ipv6(ip)) => !ip.is_unspecified(),
            Some(url::Host::Domain(_)) => true,
            None => false,
        },
        Err(_) => false,
    }
}

/// The URL of `path` on the node at `address`.
fn url_at(address: &str, path: &str) -> Result<url::Url, GatewayClientError> {
    base_url(address)?
        .join(path.trim_start_matches('/'))
        .map_err(|_| GatewayClientError::BadAddress {
            address: format!("{address}{path}"),
        })
}

fn http_client(config: rustls::ClientConfig) -> Result<reqwest::Client, GatewayClientError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .connect_timeout(CONNECT_TIMEOUT)
        // The gateway is reached directly: a proxy from the environment would see only
        // ciphertext, but could not pass client certificates through either.
        .no_proxy()
        .build()
        .map_err(|e| {
            GatewayClientError::Tls(tls::TlsSetupError {
                what: "the HTTP client",
                reason: e.to_string(),
            })
        })
}

fn send_error(address: &str, e: &reqwest::Error) -> GatewayClientError {
    let detail = crate::errors::chain(e);
    let tls_words = [
        "certificate",
        "handshake",
        "tls",
        "TLS",
        "alert",
        "UnknownIssuer",
    ];
    // rustls says "peer closed connection without sending TLS close_notify" when the other
    // end vanished (a node killed with the connection open): a dropped connection, not a TLS
    // refusal, so it must not stop a call from moving on to another node.
    let dropped = detail.contains("close_notify");
    if !dropped && tls_words.iter().any(|w| detail.contains(w)) {
        GatewayClientError::Channel {
            address: address.to_string(),
            detail,
        }
    } else {
        GatewayClientError::Connect {
            address: address.to_string(),
            detail,
        }
    }
}

/// A response body that broke off: the channel was set up and verified, so this is a dropped
/// connection (a node that died mid-answer), never a TLS refusal.
fn body_error(address: &str, e: &reqwest::Error) -> GatewayClientError {
    GatewayClientError::Connect {
        address: address.to_string(),
        detail: crate::errors::chain(e),
    }
}

/// Turns a response into `T`, or its [`ErrorBody`] into [`GatewayClientError::Refused`].
pub(crate) async fn decode<T: DeserializeOwned>(
    address: &str,
    path: &str,
    response: reqwest::Response,
) -> Result<T, GatewayClientError> {
    let status = response.status();
    let body = read_body(response, MAX_ANSWER).await.map_err(|e| match e {
        BodyError::TooLarge { limit, .. } => GatewayClientError::TooLarge {
            address: address.to_string(),
            path: path.to_string(),
            limit,
        },
        BodyError::Read { source, .. } => body_error(address, &source),
    })?;
    if !status.is_success() {
        let (error, message, detail) = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(b) => (b.error, b.message, b.detail.map(Box::new)),
            Err(_) => (
                "http".into(),
                String::from_utf8_lossy(&body).chars().take(300).collect(),
                None,
            ),
        };
        return Err(GatewayClientError::Refused {
            address: address.to_string(),
            path: path.to_string(),
            status: status.as_u16(),
            error,
            message,
            detail,
        });
    }
    serde_json::from_slice(&body).map_err(|e| GatewayClientError::Decode {
        address: address.to_string(),
        path: path.to_string(),
        detail: e.to_string(),
    })
}

fn header_text(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The protocols the gateway said it speaks; `None` when its headers cannot be read.
fn peer_protocols(response: &reqwest::Response) -> Option<ProtocolRange> {
    ProtocolRange::from_headers(
        header_text(response, PROTOCOL_HEADER).as_deref(),
        header_text(response, PROTOCOL_MIN_HEADER).as_deref(),
    )
}

/// Adds this console's protocols and version to a request made outside a [`GatewayClient`].
fn with_identity(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let ours = ProtocolRange::ours();
    request
        .header(PROTOCOL_HEADER, ours.newest.to_string())
        .header(PROTOCOL_MIN_HEADER, ours.oldest.to_string())
        .header(VERSION_HEADER, upgrade_version::running_version())
}

/// What pairing gives a console: the pinned CA and its own client identity.
#[derive(Clone)]
pub struct PairedMaterial {
    /// The gateway's own name.
    pub gateway: String,
    pub ca_pem: String,
    pub client_cert_pem: String,
    /// The console's private key (PKCS#8 PEM): write it 0600, never show it.
    pub client_key_pem: String,
    pub ca_fingerprint: [u8; 32],
    /// The certificate the code was bound to.
    pub server_fingerprint: [u8; 32],
}

impl std::fmt::Debug for PairedMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairedMaterial")
            .field("gateway", &self.gateway)
            .field("ca", &pki::fingerprint_text(&self.ca_fingerprint))
            .field("client_key", &"****")
            .finish_non_exhaustive()
    }
}

/// Asks the gateway at `address` who it is, trusting nothing (its answer is a claim, used only
/// to name it before pairing and to check the protocol).
pub async fn hello(address: &str) -> Result<PairHello, GatewayClientError> {
    let base = base_url(address)?;
    let (config, _) = tls::recording_client_config()?;
    let http = http_client(config)?;
    let url = base.join(PAIR_PATH.trim_start_matches('/')).map_err(|_| {
        GatewayClientError::BadAddress {
            address: address.to_string(),
        }
    })?;
    decode(
        address,
        PAIR_PATH,
        http.get(url)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| send_error(address, &e))?,
    )
    .await
}

/// Pairs with the gateway at `address` using `code`; `console` is how the gateway will know
/// this console. Nothing is trusted until the gateway has proved it knows the code for the
/// very certificate this connection was shown.
pub async fn pair(
    address: &str,
    code: &PairingCode,
    console: &str,
) -> Result<PairedMaterial, GatewayClientError> {
    let base = base_url(address)?;
    let (config, seen) = tls::recording_client_config()?;
    let http = http_client(config)?;
    let url = base.join(PAIR_PATH.trim_start_matches('/')).map_err(|_| {
        GatewayClientError::BadAddress {
            address: address.to_string(),
        }
    })?;

    let response = http
        .get(url.clone())
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .map_err(|e| send_error(address, &e))?;
    // The headers give the range the gateway speaks; a gateway without them announces its
    // one protocol in the body.
    let announced = peer_protocols(&response);
    let hello: PairHello = decode(address, PAIR_PATH, response).await?;
    let theirs = match announced {
        Some(r) if r != ProtocolRange::LEGACY => r,
        _ => ProtocolRange {
            oldest: hello.protocol,
            newest: hello.protocol,
        },
    };
    if upgrade_version::negotiate(ProtocolRange::ours(), theirs).is_none() {
        return Err(GatewayClientError::Protocol {
            address: address.to_string(),
            found: hello.protocol,
            ours: ProtocolRange::ours().newest,
        });
    }
    let shown = seen.all();
    let Some(server_cert) = shown.last().cloned() else {
        return Err(GatewayClientError::NotTheGateway {
            address: address.to_string(),
            reason: "it showed no certificate".into(),
        });
    };
    let fingerprint = pki::fingerprint(&server_cert);

    let key = rcgen::KeyPair::generate().map_err(|e| {
        GatewayClientError::Tls(tls::TlsSetupError {
            what: "this console's key",
            reason: e.to_string(),
        })
    })?;
    let public_key = key.public_key_raw().to_vec();
    let code_key = pairing::code_key(code);
    let b64 = base64::engine::general_purpose::STANDARD;
    let request = PairRequest {
        console: console.to_string(),
        public_key: b64.encode(&public_key),
        proof: b64.encode(pairing::proof(
            &code_key,
            Side::Console,
            &fingerprint,
            &public_key,
        )),
    };
    let answer: PairResponse = decode(
        address,
        PAIR_PATH,
        with_identity(http.post(url))
            .timeout(CALL_TIMEOUT)
            .json(&request)
            .send()
            .await
            .map_err(|e| send_error(address, &e))?,
    )
    .await?;

    let not_it = |reason: &str| GatewayClientError::NotTheGateway {
        address: address.to_string(),
        reason: reason.to_string(),
    };
    // Both calls must have met the same certificate, or the proof speaks of another one.
    if seen
        .all()
        .iter()
        .any(|c| pki::fingerprint(c) != fingerprint)
    {
        return Err(not_it(
            "it showed different certificates on two connections",
        ));
    }
    let proof = b64
        .decode(&answer.proof)
        .map_err(|_| not_it("its proof is not base64"))?;
    if !pairing::verify_proof(&code_key, Side::Gateway, &fingerprint, &public_key, &proof) {
        return Err(not_it("its proof does not match"));
    }
    // Proven: now the CA it sent can be believed; it must be the one behind its certificate.
    let ca_der = cert_from_pem(&answer.ca_cert, Path::new("the gateway's answer"))
        .map_err(|_| not_it("its CA certificate cannot be read"))?;
    if !tls::issued_by(&ca_der, &server_cert) {
        return Err(not_it("its certificate was not issued by the CA it sent"));
    }
    cert_from_pem(&answer.client_cert, Path::new("the gateway's answer"))
        .map_err(|_| not_it("the client certificate it issued cannot be read"))?;
    Ok(PairedMaterial {
        gateway: answer.gateway,
        ca_pem: answer.ca_cert,
        client_cert_pem: answer.client_cert,
        client_key_pem: key.serialize_pem(),
        ca_fingerprint: pki::fingerprint(&ca_der),
        server_fingerprint: fingerprint,
    })
}

/// Called with the nodes a gateway listed in a `/v1/info` answer.
pub type NodesHook = Arc<dyn Fn(&[NodeInfo]) + Send + Sync>;

/// Called with the address of the node a client moved to (the one that just answered).
pub type MoveHook = Arc<dyn Fn(&str) + Send + Sync>;

/// The node addresses a client knows and the one it uses, shared by its clones.
#[derive(Debug)]
struct Route {
    addresses: Vec<String>,
    current: usize,
}

impl Route {
    /// The addresses in the order to try them: the current one first, then the others in
    /// their order, wrapping around.
    fn order(&self) -> Vec<String> {
        let n = self.addresses.len();
        (0..n)
            .map(|i| self.addresses[(self.current + i) % n].clone())
            .collect()
    }
}

/// A paired gateway, called over mutual TLS. Cheap to clone.
#[derive(Clone)]
pub struct GatewayClient {
    /// How this console names the gateway (its address until told otherwise).
    name: String,
    /// The address it was made with (the one the console paired with).
    address: String,
    route: Arc<Mutex<Route>>,
    http: reqwest::Client,
    /// The protocols this console claims (this build's, unless a test says otherwise).
    protocols: ProtocolRange,
    on_nodes: Option<NodesHook>,
    on_move: Option<MoveHook>,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient")
            .field("address", &self.address)
            .field("addresses", &self.addresses())
            .finish_non_exhaustive()
    }
}

/// Whether a request may be sent to another node after it failed with `e` on one.
/// Whether `response` is a node's refusal while it restarts for an upgrade (see
/// [`DRAINING_HEADER`]).
fn is_draining(response: &reqwest::Response) -> bool {
    response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE
        && response.headers().contains_key(DRAINING_HEADER)
}

fn may_move_on(e: &reqwest::Error, classified: &GatewayClientError, repeatable: bool) -> bool {
    // A TLS failure (also reported as a connect error: the handshake is part of connecting)
    // is never passed over: a node showing a certificate the pinned CA did not issue is
    // something to see, not to route around.
    if !matches!(classified, GatewayClientError::Connect { .. }) {
        return false;
    }
    // Nothing was sent over a connection that was never made.
    e.is_connect() || repeatable
}

impl GatewayClient {
    /// A client from PEM texts: the pinned CA, this console's certificate and key.
    pub fn new(
        address: &str,
        ca_pem: &str,
        client_cert_pem: &str,
        client_key_pem: &str,
    ) -> Result<GatewayClient, GatewayClientError> {
        base_url(address)?;
        let material = |what: &str, e: pki::PkiError| GatewayClientError::Material {
            gateway: address.to_string(),
            path: PathBuf::from(what),
            detail: e.to_string(),
        };
        let ca = cert_from_pem(ca_pem, Path::new("ca.pem")).map_err(|e| material("ca.pem", e))?;
        let cert: CertificateDer<'static> = cert_from_pem(client_cert_pem, Path::new("client.pem"))
            .map_err(|e| material("client.pem", e))?;
        let key = key_from_pem(client_key_pem, Path::new("client.key"))
            .map_err(|e| material("client.key", e))?;
        let config = tls::pinned_client_config(&ca, vec![cert], key)?;
        Ok(GatewayClient {
            name: address.to_string(),
            address: address.trim().to_string(),
            route: Arc::new(Mutex::new(Route {
                addresses: vec![address.trim().to_string()],
                current: 0,
            })),
            http: http_client(config)?,
            protocols: ProtocolRange::ours(),
            on_nodes: None,
            on_move: None,
        })
    }

    /// The same client also knowing the gateway's other nodes at `others` (after the
    /// address it was made with, which stays first). Addresses that are not `HOST:PORT` are
    /// skipped.
    pub fn with_nodes<I, S>(self, others: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut addresses = vec![self.address.trim().to_string()];
        for a in others {
            let a = a.as_ref().trim();
            if callable(a) && !addresses.iter().any(|known| known == a) {
                addresses.push(a.to_string());
            }
        }
        GatewayClient {
            route: Arc::new(Mutex::new(Route {
                addresses,
                current: 0,
            })),
            ..self
        }
    }

    /// The same client calling `f` with the nodes of every `/v1/info` answer that lists
    /// them (the console keeps them in its store).
    pub fn on_nodes(mut self, f: NodesHook) -> Self {
        self.on_nodes = Some(f);
        self
    }

    /// The same client sending its first call to `address` when it is one of the addresses it
    /// knows (else nothing changes): the node that answered last time. The others, the one it
    /// was made with first, stay in the rotation behind it.
    pub fn starting_at(self, address: &str) -> Self {
        {
            let mut route = self.route.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(i) = route.addresses.iter().position(|a| a == address.trim()) {
                route.current = i;
            }
        }
        self
    }

    /// The same client calling `f` with the new address each time it moves to another node
    /// (a node could not be reached and another answered) — not on calls that stay put.
    pub fn on_move(mut self, f: MoveHook) -> Self {
        self.on_move = Some(f);
        self
    }

    /// A client of the node at `address` alone: same identity and pin, no other node to
    /// move to (a rolling upgrade addresses each node in turn).
    pub fn pinned(&self, address: &str) -> Result<GatewayClient, GatewayClientError> {
        base_url(address)?;
        Ok(GatewayClient {
            name: self.name.clone(),
            address: address.trim().to_string(),
            route: Arc::new(Mutex::new(Route {
                addresses: vec![address.trim().to_string()],
                current: 0,
            })),
            http: self.http.clone(),
            protocols: self.protocols,
            on_nodes: None,
            on_move: None,
        })
    }

    /// Every node address this client knows, the one it was made with first.
    pub fn addresses(&self) -> Vec<String> {
        self.route
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .addresses
            .clone()
    }

    /// The address calls go to now: the last node that answered.
    pub fn current_address(&self) -> String {
        let route = self.route.lock().unwrap_or_else(PoisonError::into_inner);
        route.addresses[route.current % route.addresses.len()].clone()
    }

    /// Sticks with `address` (when it is still known), telling the move hook when that is a
    /// move.
    fn settle_on(&self, address: &str) {
        let moved = {
            let mut route = self.route.lock().unwrap_or_else(PoisonError::into_inner);
            match route.addresses.iter().position(|a| a == address) {
                Some(i) if i != route.current % route.addresses.len() => {
                    route.current = i;
                    true
                }
                _ => false,
            }
        };
        // Outside the lock: the hook may write to a store.
        if moved {
            if let Some(hook) = &self.on_move {
                hook(address);
            }
        }
    }

    /// Takes in the nodes a `/v1/info` answer listed: they become the addresses to try after
    /// the one this client was made with (which stays first: the operator gave it, and it may
    /// name the gateway rather than one node — a DNS name, a load balancer), and the hook is
    /// told.
    fn learn(&self, nodes: &[NodeInfo]) {
        if nodes.is_empty() {
            return;
        }
        {
            let mut route = self.route.lock().unwrap_or_else(PoisonError::into_inner);
            let current = route.addresses[route.current % route.addresses.len()].clone();
            let listed: Vec<String> = nodes
                .iter()
                .map(|n| n.address.trim().to_string())
                .filter(|a| callable(a))
                .collect();
            let mut addresses = vec![self.address.clone()];
            for a in listed {
                if !addresses.contains(&a) {
                    addresses.push(a);
                }
            }
            route.current = addresses.iter().position(|a| *a == current).unwrap_or(0);
            route.addresses = addresses;
        }
        if let Some(hook) = &self.on_nodes {
            hook(nodes);
        }
    }

    /// The same client, naming the gateway `name` in its errors.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The same client claiming other protocols: for tests of the protocol checks.
    pub fn with_protocols(mut self, protocols: ProtocolRange) -> Self {
        self.protocols = protocols;
        self
    }

    /// How this console names the gateway.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A request to `path` on the current node, carrying this console's protocols and
    /// version. Sent with [`GatewayClient::send`], it goes to that node only.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, GatewayClientError> {
        let url = url_at(&self.current_address(), path)?;
        Ok(self.request_to(method, url))
    }

    fn request_to(&self, method: reqwest::Method, url: url::Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header(PROTOCOL_HEADER, self.protocols.newest.to_string())
            .header(PROTOCOL_MIN_HEADER, self.protocols.oldest.to_string())
            .header(VERSION_HEADER, upgrade_version::running_version())
    }

    /// Sends `request` and checks that the gateway that answered speaks a protocol in common
    /// with this console.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, GatewayClientError> {
        let response = request
            .send()
            .await
            .map_err(|e| send_error(&self.current_address(), &e))?;
        self.check_peer(&response)?;
        Ok(response)
    }

    /// Sends without checking the gateway's protocols: for the routes whose shape never
    /// changes (a console upgrades a gateway it shares no protocol with).
    pub async fn send_unchecked(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, GatewayClientError> {
        request
            .send()
            .await
            .map_err(|e| send_error(&self.current_address(), &e))
    }

    /// Asks the node at `address` which nodes the gateway has now, and learns them: after a
    /// node was found dead, the list may be stale (a node restarted on another port). Best
    /// effort: the call that moved on has its answer already.
    async fn refresh_nodes(&self, address: &str) {
        let Ok(url) = url_at(address, INFO_PATH) else {
            return;
        };
        let request = self
            .request_to(reqwest::Method::GET, url)
            .timeout(CALL_TIMEOUT);
        let answer = match request.send().await {
            Ok(response) => decode::<InfoAnswer>(address, INFO_PATH, response).await,
            Err(e) => Err(send_error(address, &e)),
        };
        match answer {
            Ok(answer) => self.learn(&answer.nodes.nodes),
            Err(e) => tracing::debug!(error = %e, "could not refresh the gateway's nodes"),
        }
    }

    /// Sends `method path` (shaped by `build`) to the current node, and to the next ones
    /// while a node cannot be reached and the request may move on (see the module docs);
    /// answers with the node that answered and its response.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        repeatable: bool,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<(String, reqwest::Response), GatewayClientError> {
        let order = self
            .route
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .order();
        let mut failed: Vec<String> = Vec::new();
        let mut last = None;
        // A node restarting for an upgrade refuses writes unprocessed: the next node may take
        // them. Its refusal is the answer only when no other node does.
        let mut draining: Option<(String, reqwest::Response)> = None;
        for (i, address) in order.iter().enumerate() {
            let request = build(self.request_to(method.clone(), url_at(address, path)?));
            match request.send().await {
                Ok(response) if is_draining(&response) && i + 1 < order.len() => {
                    tracing::info!(
                        gateway = %self.name,
                        node = %address,
                        "a gateway node is restarting: sending the request to another node"
                    );
                    draining.get_or_insert((address.clone(), response));
                }
                Ok(response) => {
                    self.check_peer(&response)?;
                    self.settle_on(address);
                    if !failed.is_empty() {
                        tracing::info!(
                            gateway = %self.name,
                            unreachable = %failed.join(", "),
                            now = %address,
                            "a gateway node cannot be reached: working through another"
                        );
                        if path != INFO_PATH {
                            self.refresh_nodes(address).await;
                        }
                    }
                    return Ok((address.clone(), response));
                }
                Err(e) => {
                    let classified = send_error(address, &e);
                    if !may_move_on(&e, &classified, repeatable) {
                        return Err(classified);
                    }
                    failed.push(address.clone());
                    last = Some(classified);
                }
            }
        }
        if let Some((address, response)) = draining {
            self.check_peer(&response)?;
            return Ok((address, response));
        }
        Err(match last {
            Some(GatewayClientError::Connect { detail, .. }) if failed.len() > 1 => {
                GatewayClientError::Connect {
                    address: failed.join(", "),
                    detail,
                }
            }
            Some(e) => e,
            None => GatewayClientError::BadAddress {
                address: self.address.clone(),
            },
        })
    }

    fn check_peer(&self, response: &reqwest::Response) -> Result<(), GatewayClientError> {
        if response.status() == reqwest::StatusCode::UPGRADE_REQUIRED {
            // The gateway refused this console itself: its answer says the same, from its side.
            return Ok(());
        }
        let theirs = peer_protocols(response).unwrap_or(ProtocolRange::LEGACY);
        if upgrade_version::negotiate(self.protocols, theirs).is_some() {
            return Ok(());
        }
        Err(GatewayClientError::Incompatible(Box::new(Incompatible {
            gateway: self.name.clone(),
            console: self.protocols,
            console_version: upgrade_version::running_version(),
            gateway_protocols: theirs,
            gateway_version: header_text(response, VERSION_HEADER)
                .unwrap_or_else(|| "(version unknown)".into()),
        })))
    }

    /// A client from the files pairing stored (see [`super::console`]).
    pub fn from_files(
        gateway: &str,
        address: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<GatewayClient, GatewayClientError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| GatewayClientError::Material {
                gateway: gateway.to_string(),
                path: p.to_path_buf(),
                detail: e.to_string(),
            })
        };
        Ok(Self::new(address, &read(ca)?, &read(cert)?, &read(key)?)?.named(gateway))
    }

    /// The address this client was made with (the node the console paired with; for a
    /// [`GatewayClient::pinned`] client, its node). Calls may go elsewhere:
    /// [`GatewayClient::current_address`].
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `GET path`, answered with JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GatewayClientError> {
        let (address, response) = self
            .call(reqwest::Method::GET, path, true, |r| {
                r.timeout(CALL_TIMEOUT)
            })
            .await?;
        decode(&address, path, response).await
    }

    /// `POST path` with a JSON body, answered with JSON.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, GatewayClientError> {
        self.post_with(path, body, &[]).await
    }

    /// `POST path` with a JSON body and extra headers (an idempotency key), answered with
    /// JSON.
    pub async fn post_with<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        headers: &[(&str, &str)],
    ) -> Result<T, GatewayClientError> {
        // A write with an idempotency key is answered once however often it arrives.
        let repeatable = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(IDEMPOTENCY_HEADER));
        let (address, response) = self
            .call(reqwest::Method::POST, path, repeatable, |r| {
                let mut request = r.timeout(CALL_TIMEOUT).json(body);
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request
            })
            .await?;
        decode(&address, path, response).await
    }

    /// `GET path` answered with newline-delimited JSON over a long-lived response.
    pub async fn stream<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<NdjsonStream<T>, GatewayClientError> {
        let (address, response) = self.call(reqwest::Method::GET, path, true, |r| r).await?;
        if !response.status().is_success() {
            // Reuses the error decoding; a success here is impossible.
            return Err(decode::<serde_json::Value>(&address, path, response)
                .await
                .err()
                .unwrap_or_else(|| GatewayClientError::Decode {
                    address: address.clone(),
                    path: path.to_string(),
                    detail: "an error status with a readable body".into(),
                }));
        }
        Ok(NdjsonStream {
            address,
            path: path.to_string(),
            response,
            buffer: Vec::new(),
            _item: PhantomData,
        })
    }

    /// `GET /v1/info`. Learns the nodes it lists.
    pub async fn info(&self) -> Result<GatewayInfo, GatewayClientError> {
        Ok(self.info_nodes().await?.gateway)
    }

    /// `GET /v1/info` with what it says about the nodes (nothing from a 1-node gateway or an
    /// older build), which this client learns.
    pub async fn info_nodes(&self) -> Result<InfoAnswer, GatewayClientError> {
        let answer: InfoAnswer = self.get(INFO_PATH).await?;
        self.learn(&answer.nodes.nodes);
        Ok(answer)
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<Health, GatewayClientError> {
        self.get(HEALTH_PATH).await
    }
}

/// The items of a newline-delimited JSON response, read as they arrive.
pub struct NdjsonStream<T> {
    address: String,
    path: String,
    response: reqwest::Response,
    buffer: Vec<u8>,
    _item: PhantomData<fn() -> T>,
}

/// The longest line accepted; a gateway never sends more in one item.
const MAX_LINE: usize = 16 * 1024 * 1024;

impl<T: DeserializeOwned> NdjsonStream<T> {
    /// The next item; `None` when the gateway ended the stream.
    pub async fn next(&mut self) -> Option<Result<T, GatewayClientError>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = &line[..line.len() - 1];
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(serde_json::from_slice(line).map_err(|e| {
                    GatewayClientError::Decode {
                        address: self.address.clone(),
                        path: self.path.clone(),
                        detail: e.to_string(),
                    }
                }));
            }
            if self.buffer.len() > MAX_LINE {
                return Some(Err(GatewayClientError::Decode {
                    address: self.address.clone(),
                    path: self.path.clone(),
                    detail: format!("a line longer than {MAX_LINE} bytes"),
                }));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => return None,
                Err(e) => return Some(Err(body_error(&self.address, &e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_naming_a_host_are_called() {
        assert!(callable("127.0.0.1:8443"));
        assert!(callable("gw1.example:8443"));
        assert!(callable("[::1]:8443"));
        assert!(!callable("0.0.0.0:8443"));
        assert!(!callable("[::]:8443"));
        assert!(!callable("gw1.example"));
        assert!(!callable("https://gw1.example:8443/"));
    }

    #[test]
    fn a_route_tries_the_current_node_first_then_wraps_around() {
        let route = Route {
            addresses: vec!["a:1".into(), "b:2".into(), "c:3".into()],
            current: 1,
        };
        assert_eq!(route.order(), vec!["b:2", "c:3", "a:1"]);
    }
}
