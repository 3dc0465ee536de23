//! The gateway's HTTPS server.
//!
//! TLS is rustls (see [`super::tls`]); HTTP is axum over a [`TlsListener`] that finishes each
//! handshake in its own task and hands axum the stream together with the peer's verified
//! client certificate ([`PeerInfo`]). Every request except the pairing endpoint must come over
//! a connection that showed a certificate issued by this gateway's CA — checked per request by
//! [`require_console`], and answered with a bare 401 otherwise. A certificate from any other CA
//! already fails the handshake.
//!
//! Routes are added in one place: [`GatewayServer::bind`] takes the engine's API as a
//! [`Router`] and merges it with [`authenticated_routes`], behind the same check.

use super::nodes::NodeDirectory;
use super::pairing::{self, PairingError, Pairings, Side};
use super::pki::{self, GatewayPki};
use super::protocol::{
    ErrorBody, GatewayInfo, Health, InfoAnswer, NodesInfo, PairHello, PairRequest, PairResponse,
    HEALTH_PATH, HEALTH_WATCH_PATH, INFO_PATH, PAIR_PATH,
};
use super::registry::{ConsoleRecord, ConsoleRegistry};
use super::tls;
use super::upgrade_version::{
    Incompatible, ProtocolRange, PROTOCOL_HEADER, PROTOCOL_MIN_HEADER, VERSION_HEADER,
};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{IncomingStream, Listener};
use axum::{Json, Router};
use base64::Engine as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish the TLS handshake before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open connections (streams end at once; this bounds the rest).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Bounds on what a connection may cost the gateway once its TLS handshake is done, so slow or
/// idle clients cannot hold it open: before a client certificate is known anyone can get that
/// far (`/v1/pair` needs none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the connection's start or the end of its last response to the end of the next
    /// request's headers: bounds trickled headers and idle keep-alive alike (hyper runs one
    /// timer for both).
    pub header_read: Duration,
    /// From the end of a request's headers to the end of its body, for a connection without a
    /// client certificate; for a paired console, the longest a body may stall.
    pub body_read: Duration,
    /// Connections without a client certificate open at once; more are closed on arrival.
    /// Paired consoles are not counted, so a flood of them never locks a console out.
    pub unauthenticated: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            unauthenticated: 32,
        }
    }
}
/// Time between two lines of [`HEALTH_WATCH_PATH`].
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// The console a request came from, known by its client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleIdentity {
    /// SHA-256 of the client certificate.
    pub fingerprint: [u8; 32],
}

/// Who is at the other end of a connection.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub remote: SocketAddr,
    /// Set when the peer showed a certificate (rustls has verified it chains to the CA).
    pub console: Option<ConsoleIdentity>,
}

/// Accepts TCP connections and completes TLS handshakes off the accept path, so a slow or
/// hostile client cannot hold up others.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, PeerInfo)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `config`. [`GatewayServer`] uses it; so can anything
    /// else that serves axum over TLS (test doubles of a gateway).
    pub fn start(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let acceptor = TlsAcceptor::from(config);
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // Once the server is gone nobody takes connections: stop listening too.
                let accepted = tokio::select! {
                    accepted = tcp.accept() => accepted,
                    _ = tx.closed() => break,
                };
                let (stream, remote) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little rather than spin.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let console = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|certs| certs.first())
                                .map(|cert| ConsoleIdentity {
                                    fingerprint: pki::fingerprint(cert),
                                });
                            let _ = tx.send((tls, PeerInfo { remote, console })).await;
                        }
                        Ok(Err(e)) => {
                            tracing::info!(%remote, error = %e, "TLS handshake refused")
                        }
                        Err(_) => tracing::info!(%remote, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = PeerInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(next) => next,
            // The accept task is gone (it never ends on its own): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(PeerInfo {
            remote: self.local,
            console: None,
        })
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, TlsListener>> for PeerInfo {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// What the handlers share.
struct Shared {
    pki: Arc<GatewayPki>,
    pairings: Pairings,
    consoles: ConsoleRegistry,
    info: GatewayInfo,
    started: Instant,
    heartbeat: Duration,
    shutdown: watch::Receiver<bool>,
    /// A replicated gateway's nodes, for `/v1/info`; unset on a 1-node gateway.
    nodes: std::sync::OnceLock<NodeDirectory>,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source} (is another gateway running there? pick another --listen address)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsSetupError),
    #[error("the gateway server failed: {0}")]
    Serve(std::io::Error),
}

fn refuse(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: error.to_string(),
            message: message.into(),
            detail: None,
        }),
    )
        .into_response()
}

/// The answer to anything asked without a client certificate: it says nothing about the
/// gateway, its routes or its state.
fn unauthorized() -> Response {
    refuse(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this gateway answers paired consoles only: pair with `kubemaas gateway pair`",
    )
}

/// Lets a request through only when its connection showed a client certificate (which rustls
/// checked against the gateway CA) of a paired, unrevoked console — except for the pairing
/// endpoint.
async fn require_console(
    State(consoles): State<ConsoleRegistry>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == PAIR_PATH {
        return next.run(request).await;
    }
    let console = request
        .extensions()
        .get::<ConnectInfo<PeerInfo>>()
        .and_then(|ConnectInfo(peer)| peer.console.clone());
    match console {
        Some(identity) if consoles.is_active(&identity.fingerprint) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        _ => unauthorized(),
    }
}

/// The protocols this gateway speaks: this build's, or the one its info claims (a test
/// double of another build).
fn gateway_protocols(info: &GatewayInfo) -> ProtocolRange {
    let ours = ProtocolRange::ours();
    if info.protocol == ours.newest {
        ours
    } else {
        ProtocolRange {
            oldest: info.protocol,
            newest: info.protocol,
        }
    }
}

/// Says on an answer which protocols and version this gateway runs.
fn announce(info: &GatewayInfo, response: &mut Response) {
    let range = gateway_protocols(info);
    let headers = response.headers_mut();
    for (name, value) in [
        (PROTOCOL_HEADER, range.newest.to_string()),
        (PROTOCOL_MIN_HEADER, range.oldest.to_string()),
        (VERSION_HEADER, info.version.clone()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// Paths a console of any protocol may call: what it needs to learn about the gateway and to
/// upgrade it. Their shape never changes.
fn protocol_free(path: &str) -> bool {
    path == PAIR_PATH || path == super::upgrade_server::UPGRADE_PATH
}

/// The protocols and version a console says it runs (`None` protocols: unreadable headers).
fn console_claims(headers: &axum::http::HeaderMap) -> (Option<ProtocolRange>, String) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    (
        ProtocolRange::from_headers(header(PROTOCOL_HEADER), header(PROTOCOL_MIN_HEADER)),
        header(VERSION_HEADER)
            .unwrap_or("(version unknown)")
            .to_string(),
    )
}

/// Refuses a console that shares no protocol with this gateway (HTTP 426, naming both and
/// what to upgrade), and announces the gateway's protocols and version on every answer. Runs
/// after [`require_console`]: strangers learn nothing, not even the version.
async fn check_protocol(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let (theirs, console_version) = console_claims(request.headers());
    let ours = gateway_protocols(&shared.info);
    let exempt = protocol_free(request.uri().path());
    let mut response = match theirs {
        _ if exempt => next.run(request).await,
        None => refuse(
            StatusCode::BAD_REQUEST,
            "bad_protocol_header",
            format!("the {PROTOCOL_HEADER} header must be a number: use a kubemaas console"),
        ),
        Some(theirs) if super::upgrade_version::negotiate(theirs, ours).is_none() => {
            let e = Incompatible {
                gateway: shared.info.name.clone(),
                console: theirs,
                console_version,
                gateway_protocols: ours,
                gateway_version: shared.info.version.clone(),
            };
            tracing::info!(console = %theirs, gateway = %ours, "refused a console with no protocol in common");
            refuse(
                StatusCode::UPGRADE_REQUIRED,
                "incompatible_protocol",
                e.to_string(),
            )
        }
        Some(_) => next.run(request).await,
    };
    announce(&shared.info, &mut response);
    response
}

async fn hello(State(shared): State<Arc<Shared>>) -> Response {
    let mut response = Json(PairHello {
        gateway: shared.info.name.clone(),
        protocol: gateway_protocols(&shared.info).newest,
    })
    .into_response();
    announce(&shared.info, &mut response);
    response
}

/// The longest console name kept (it becomes a certificate's common name).
const MAX_CONSOLE_NAME: usize = 64;

async fn pair(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
    body: Bytes,
) -> Response {
    let bad = |message: &str| refuse(StatusCode::BAD_REQUEST, "bad_request", message);
    let Ok(request) = serde_json::from_slice::<PairRequest>(&body) else {
        return bad("the pairing request is not the JSON this gateway expects: pair with a kubemaas console of the same version");
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let console = request.console.trim();
    if console.is_empty()
        || console.chars().count() > MAX_CONSOLE_NAME
        || console.chars().any(char::is_control)
    {
        return bad("the console name must be 1 to 64 printable characters: pass --name NAME");
    }
    let (Ok(public_key), Ok(proof)) = (b64.decode(&request.public_key), b64.decode(&request.proof))
    else {
        return bad("the public key and proof must be base64: pair with a kubemaas console of the same version");
    };
    if let Err(e) = pki::check_console_key(&public_key) {
        return bad(&e.to_string());
    }
    let fingerprint = shared.pki.server_fingerprint();
    // A replicated gateway checks the code in its store, which may wait on etcd: off the
    // async workers.
    let (pairings, remote, console_key) = (
        shared.pairings.clone(),
        peer.remote.ip(),
        public_key.clone(),
    );
    let redeemed = tokio::task::spawn_blocking(move || {
        pairings.redeem(remote, &fingerprint, &console_key, &proof)
    })
    .await
    .unwrap_or(Err(PairingError::Unavailable));
    let key = match redeemed {
        Ok(key) => key,
        Err(e @ PairingError::RateLimited { retry_after, .. }) => {
            let mut response = refuse(StatusCode::TOO_MANY_REQUESTS, e.code(), e.to_string());
            if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        Err(e @ PairingError::Unavailable) => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
        }
        Err(e) => return refuse(StatusCode::FORBIDDEN, e.code(), e.to_string()),
    };
    let client_cert = match shared.pki.issue_client(console, &public_key) {
        Ok(pem) => pem,
        Err(e) => {
            tracing::error!(error = %e, "issuing a client certificate failed");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the gateway could not issue a certificate: see its log",
            );
        }
    };
    // Listed before it is handed out: a certificate the server would not admit is useless.
    let issued = match pki::cert_from_pem(&client_cert, std::path::Path::new("issued")) {
        Ok(der) => pki::fingerprint(&der),
        Err(e) => {
            tracing::error!(error = %e, "reading back an issued certificate failed");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the gateway could not issue a certificate: see its log",
            );
        }
    };
    if let Err(e) = shared.consoles.add(ConsoleRecord {
        name: console.to_string(),
        fingerprint: pki::fingerprint_text(&issued),
        remote: peer.remote.to_string(),
        paired_at: chrono::Utc::now(),
        revoked_at: None,
    }) {
        tracing::error!(error = %e, "recording a paired console failed");
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the gateway could not record this console: see its log",
        );
    }
    tracing::info!(console, remote = %peer.remote, "console paired");
    let gateway_proof = pairing::proof(&key, Side::Gateway, &fingerprint, &public_key);
    Json(PairResponse {
        gateway: shared.info.name.clone(),
        client_cert,
        ca_cert: shared.pki.ca_pem().to_string(),
        proof: b64.encode(gateway_proof),
    })
    .into_response()
}

async fn info(State(shared): State<Arc<Shared>>) -> Json<InfoAnswer> {
    let nodes = match shared.nodes.get().map(NodeDirectory::answer) {
        None => NodesInfo::default(),
        Some(Ok(nodes)) => nodes,
        Some(Err(e)) => {
            // The gateway's own identity still answers; consoles keep the nodes they knew.
            tracing::warn!(error = %e, "reading this gateway's nodes failed");
            NodesInfo::default()
        }
    };
    Json(InfoAnswer {
        gateway: shared.info.clone(),
        nodes,
    })
}

fn health_now(shared: &Shared) -> Health {
    Health {
        status: "ok".into(),
        uptime_seconds: shared.started.elapsed().as_secs(),
    }
}

async fn health(State(shared): State<Arc<Shared>>) -> Json<Health> {
    Json(health_now(&shared))
}

/// One JSON value per line.
fn ndjson_line<T: serde::Serialize>(value: &T) -> Bytes {
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// A long-lived response: a health line now and on every heartbeat, ending when the gateway
/// shuts down. It is the shape live events take, and tells a console its channel is alive.
async fn health_watch(State(shared): State<Arc<Shared>>) -> Response {
    let mut shutdown = shared.shutdown.clone();
    // Only a shutdown signalled from now on ends the stream.
    shutdown.borrow_and_update();
    let stream = futures_util::stream::unfold(
        (shared, shutdown, true),
        |(shared, mut shutdown, first)| async move {
            if !first {
                tokio::select! {
                    _ = tokio::time::sleep(shared.heartbeat) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return None,
                }
            }
            let line = ndjson_line(&health_now(&shared));
            Some((Ok::<_, std::io::Error>(line), (shared, shutdown, false)))
        },
    );
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// The routes every paired console may call, before the engine's API is merged in.
fn authenticated_routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(INFO_PATH, get(info))
        .route(HEALTH_PATH, get(health))
        .route(HEALTH_WATCH_PATH, get(health_watch))
        .with_state(shared)
}

/// Everything the gateway serves: `api` (the engine's routes) joins the authenticated ones.
fn app(shared: Arc<Shared>, api: Router) -> Router {
    let consoles = shared.consoles.clone();
    let open = Router::new()
        .route(PAIR_PATH, get(hello).post(pair))
        .with_state(shared.clone());
    open.merge(authenticated_routes(shared.clone()).merge(api))
        .fallback(|| async { refuse(StatusCode::NOT_FOUND, "not_found", "no such route") })
        // Layers run outermost last-added first: the certificate is checked before anything
        // else, the protocol next.
        .layer(middleware::from_fn_with_state(shared, check_protocol))
        .layer(middleware::from_fn_with_state(consoles, require_console))
}

/// How to run a gateway server.
pub struct ServerOptions {
    pub listen: SocketAddr,
    pub pki: Arc<GatewayPki>,
    pub pairings: Pairings,
    /// The paired consoles; a request passes only with one of their certificates.
    pub consoles: ConsoleRegistry,
    pub info: GatewayInfo,
    /// The engine's API, served to paired consoles only. `Router::new()` until the engine
    /// lands.
    pub api: Router,
    pub heartbeat: Duration,
}

/// A bound gateway server, not yet serving.
pub struct GatewayServer {
    listener: TlsListener,
    app: Router,
    shutdown_tx: watch::Sender<bool>,
    local: SocketAddr,
    shared: Arc<Shared>,
    limits: ConnectionLimits,
}

impl GatewayServer {
    /// Binds the listen address and prepares TLS; [`GatewayServer::serve`] then answers.
    pub async fn bind(options: ServerOptions) -> Result<GatewayServer, ServeError> {
        let config = tls::server_config(
            options.pki.ca_der(),
            vec![
                options.pki.server_der().clone(),
                options.pki.ca_der().clone(),
            ],
            options.pki.server_key(),
        )?;
        let tcp = TcpListener::bind(options.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: options.listen,
                source,
            })?;
        let listener =
            TlsListener::start(tcp, Arc::new(config)).map_err(|source| ServeError::Bind {
                addr: options.listen,
                source,
            })?;
        let local = listener.local;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            pki: options.pki,
            pairings: options.pairings,
            consoles: options.consoles,
            info: options.info,
            started: Instant::now(),
            heartbeat: options.heartbeat,
            shutdown,
            nodes: std::sync::OnceLock::new(),
        });
        Ok(GatewayServer {
            listener,
            app: app(shared.clone(), options.api),
            shutdown_tx,
            local,
            shared,
            limits: ConnectionLimits::default(),
        })
    }

    /// Replaces the default [`ConnectionLimits`] (tests use short ones).
    pub fn with_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Makes `/v1/info` list the nodes of a replicated gateway (set once, before serving:
    /// a node knows its own address only once bound).
    pub fn set_nodes(&self, nodes: NodeDirectory) {
        if self.shared.nodes.set(nodes).is_err() {
            tracing::warn!("the gateway's node directory was set twice: keeping the first");
        }
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serves until `stop` completes, then ends open streams and waits at most a few seconds
    /// for connections to finish. Each connection is served by hyper with the header/idle
    /// timeout of [`ConnectionLimits`], its request bodies under the body deadline, and
    /// connections without a client certificate are capped.
    pub async fn serve(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let GatewayServer {
            mut listener,
            app,
            shutdown_tx,
            limits,
            ..
        } = self;
        let app = app.layer(middleware::from_fn_with_state(
            limits.body_read,
            body_deadline,
        ));
        let unauthenticated = Arc::new(tokio::sync::Semaphore::new(limits.unauthenticated));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(stop);
        loop {
            let (tls, peer) = tokio::select! {
                next = listener.ready.recv() => match next {
                    Some(next) => next,
                    None => break,
                },
                () = &mut stop => break,
            };
            let permit = match peer.console {
                Some(_) => None,
                None => match unauthenticated.clone().try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        tracing::info!(remote = %peer.remote, limit = limits.unauthenticated, "too many connections without a client certificate: closing this one");
                        continue;
                    }
                },
            };
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .serve_connection(
                    hyper_util::rt::TokioIo::new(tls),
                    connection_service(app.clone(), peer.clone()),
                );
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                // Held until the connection ends: it counts against the unauthenticated cap.
                let _permit = permit;
                if let Err(e) = conn.await {
                    tracing::debug!(remote = %peer.remote, error = %e, "connection ended with an error");
                }
            });
        }
        // Streams (health watch, event follows) end on this; the rest get a grace period.
        let _ = shutdown_tx.send(true);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(SHUTDOWN_GRACE) => {
                tracing::warn!("connections still open after the shutdown grace period: closing them");
            }
        }
        Ok(())
    }
}

/// The hyper service of one connection: `app`, with the peer as axum's `ConnectInfo`.
fn connection_service(
    app: Router,
    peer: PeerInfo,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        use tower::ServiceExt as _;
        req.extensions_mut().insert(ConnectInfo(peer.clone()));
        app.clone().oneshot(req.map(Body::new))
    })
}

/// Reads the request body under a deadline, counted from when the handler starts reading it.
/// Without a client certificate the whole body must arrive within the limit (a client
/// trickling it gets an error instead of holding the connection); a paired console's body only
/// may not stall for that long, as an upgrade's executable can take minutes on a slow link.
async fn body_deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    use futures_util::StreamExt as _;
    let paired = req
        .extensions()
        .get::<ConnectInfo<PeerInfo>>()
        .is_some_and(|c| c.0.console.is_some());
    let (parts, body) = req.into_parts();
    let whole = tokio::time::Instant::now() + limit;
    let stream = body.into_data_stream();
    let bounded = futures_util::stream::unfold(Some(stream), move |state| async move {
        let mut stream = state?;
        let deadline = if paired {
            tokio::time::Instant::now() + limit
        } else {
            whole
        };
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(stream))),
            Ok(None) => None,
            Err(_) => Some((
                Err(axum::Error::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the request body took longer than {} s",
                        limit.as_secs_f64()
                    ),
                ))),
                None,
            )),
        }
    });
    next.run(Request::from_parts(parts, Body::from_stream(bounded)))
        .await
}
