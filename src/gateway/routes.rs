//! The engine's API as a gateway serves it: one route per [`EngineApi`] call (JSON in and
//! out, errors as [`super::wire_error`] maps them), the live journal stream, and the gateway's
//! cloud accounts. [`engine_routes`] is handed to [`super::GatewayServer`] as its `api`, so
//! every route here is behind the paired-console check.
//!
//! What never leaves: MAAS API keys (accounts are shown masked), private keys and bootstrap
//! secrets — except the admin kubeconfig, through its own explicit route.

use super::journal::{FeedItem, JournalFeed};
use super::protocol::{
    AddAccountRequest, CommandBody, DeleteBody, KubeconfigBody, MaasIdentityBody, MachineSummary,
    ScaleBody, SpecBody, StreamLine, ACCOUNTS_PATH, CLUSTERS_PATH, EVENTS_PATH, EVENTS_STREAM_PATH,
};
use super::wire_error::{engine_error_response, error_response, store_status};
use crate::accounts::{self, connect, AccountError};
use crate::engine::{EmbeddedEngine, EngineApi, EngineError, EngineEvent};
use crate::maas::MachineFilter;
use crate::model::{CloudAccount, MaasSnapshot};
use crate::store::{ClusterId, EventId, EventRow, StoreError};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify};

/// The most events one `GET /v1/events` returns.
const MAX_EVENTS: usize = 1000;
/// Events read from the store per catch-up page of a stream.
const CATCH_UP_PAGE: usize = 500;

/// What the engine routes share.
#[derive(Clone)]
pub struct EngineService {
    pub engine: EmbeddedEngine,
    pub feed: JournalFeed,
    /// The gateway's state dir (accounts' CA files live there).
    pub state_dir: PathBuf,
    /// Between two heartbeat lines of an idle stream.
    pub heartbeat: Duration,
    /// Wakes the reconciler loop after a change was submitted.
    pub wake_driver: Arc<Notify>,
    /// Turns true when the gateway shuts down: streams end.
    pub shutdown: watch::Receiver<bool>,
}

impl EngineService {
    /// A change was recorded: reconcile and publish it now rather than at the next tick.
    fn changed(&self) {
        self.wake_driver.notify_one();
        self.feed.wake();
    }
}

type Shared = Arc<EngineService>;

/// The engine's routes, to merge into the gateway's authenticated ones.
pub fn engine_routes(service: EngineService) -> Router {
    Router::new()
        .route(CLUSTERS_PATH, get(clusters).post(create))
        .route("/v1/clusters/{name}", get(cluster))
        .route("/v1/clusters/{name}/delete", post(delete))
        .route("/v1/clusters/{name}/abort", post(abort))
        .route("/v1/clusters/{name}/scale", post(scale))
        .route("/v1/clusters/{name}/spec", post(update_spec))
        .route("/v1/clusters/{name}/kubeconfig", get(kubeconfig))
        .route(EVENTS_PATH, get(events))
        .route(EVENTS_STREAM_PATH, get(stream))
        .route(ACCOUNTS_PATH, get(accounts).post(add_account))
        .route("/v1/accounts/{name}", get(account))
        .route("/v1/accounts/{name}/machines", get(machines))
        .route("/v1/accounts/{name}/maas", get(maas_identity))
        .route("/v1/accounts/{name}/snapshot", get(snapshot))
        .with_state(Arc::new(service))
}

fn reply<T: serde::Serialize>(result: Result<T, EngineError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => engine_error_response(&e),
    }
}

async fn clusters(State(s): State<Shared>) -> Response {
    reply(s.engine.clusters().await)
}

async fn cluster(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    reply(s.engine.cluster(&name).await)
}

/// With an [`super::idempotency::IDEMPOTENCY_HEADER`], a repeated request answers the
/// cluster the first one created (see [`super::idempotency`]).
async fn create(
    State(s): State<Shared>,
    headers: axum::http::HeaderMap,
    Json(body): Json<SpecBody>,
) -> Response {
    let key = headers
        .get(super::idempotency::IDEMPOTENCY_HEADER)
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let r = match key {
        Some(key) => {
            if let Err(e) = super::idempotency::check_key(&key) {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "bad_idempotency_key",
                    e.to_string(),
                    None,
                );
            }
            super::idempotency::create_once(&s.engine, &key, body.spec)
                .await
                .map(|(view, created)| {
                    if !created {
                        tracing::info!(cluster = %view.name, "a repeated create request answered with the cluster it created");
                    }
                    view
                })
        }
        None => s.engine.create_cluster(body.spec).await,
    };
    s.changed();
    reply(r)
}

async fn delete(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Json(body): Json<DeleteBody>,
) -> Response {
    let r = s.engine.delete_cluster(&name, body.erase).await;
    s.changed();
    reply(r.map(|command| CommandBody { command }))
}

async fn abort(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let r = s.engine.abort_cluster(&name).await;
    s.changed();
    reply(r.map(|command| CommandBody { command }))
}

async fn scale(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Json(body): Json<ScaleBody>,
) -> Response {
    let r = s.engine.scale_pool(&name, &body.pool, body.size).await;
    s.changed();
    reply(r)
}

async fn update_spec(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Json(body): Json<SpecBody>,
) -> Response {
    let r = s.engine.update_spec(&name, body.spec).await;
    s.changed();
    reply(r)
}

async fn kubeconfig(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    reply(
        s.engine
            .kubeconfig(&name)
            .await
            .map(|kubeconfig| KubeconfigBody { kubeconfig }),
    )
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    after: Option<i64>,
    limit: Option<usize>,
    cluster: Option<String>,
}

/// The optional `cluster=ID` of a journal query, or the refusal to send.
fn cluster_filter(raw: Option<&str>) -> Result<Option<ClusterId>, StoreError> {
    raw.map(ClusterId::parse).transpose()
}

fn bad_filter(e: StoreError) -> Response {
    let (status, code) = store_status(&e);
    error_response(status, code, e.to_string(), None)
}

async fn events(State(s): State<Shared>, Query(q): Query<EventsQuery>) -> Response {
    let cluster = match cluster_filter(q.cluster.as_deref()) {
        Ok(c) => c,
        Err(e) => return bad_filter(e),
    };
    let limit = q.limit.unwrap_or(MAX_EVENTS).clamp(1, MAX_EVENTS);
    let r = s
        .engine
        .events(cluster.as_ref(), EventId(q.after.unwrap_or(0)), limit)
        .await
        .map(|events| {
            events
                .into_iter()
                .map(|e| match e {
                    EngineEvent::Journal(row) => row,
                })
                .collect::<Vec<EventRow>>()
        });
    reply(r)
}

/// Where one stream is.
struct StreamState {
    service: Shared,
    rx: broadcast::Receiver<Arc<FeedItem>>,
    cluster: Option<ClusterId>,
    /// The last event delivered (or, before any, where the console said it was).
    last: EventId,
    backlog: VecDeque<EventRow>,
    /// Read the store before trusting the broadcast: at the start, and after falling behind.
    catch_up: bool,
    first: bool,
    shutdown: watch::Receiver<bool>,
}

fn line(value: &StreamLine) -> Bytes {
    let mut v = serde_json::to_vec(value).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

impl StreamState {
    fn heartbeat(&self) -> Bytes {
        line(&StreamLine::Heartbeat {
            last_id: self.last,
            interval_ms: self.service.heartbeat.as_millis() as u64,
        })
    }

    fn wanted(&self, row: &EventRow) -> bool {
        row.id > self.last && (self.cluster.is_none() || row.cluster == self.cluster)
    }

    /// The next line to send; `None` ends the stream.
    async fn next_line(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.first {
            self.first = false;
            return Some(Ok(self.heartbeat()));
        }
        loop {
            if let Some(row) = self.backlog.pop_front() {
                self.last = row.id;
                return Some(Ok(line(&StreamLine::Event(row))));
            }
            if self.catch_up {
                match self.service.engine.store().events_after(
                    self.cluster.as_ref(),
                    self.last,
                    CATCH_UP_PAGE,
                ) {
                    Ok(rows) => {
                        self.catch_up = rows.len() == CATCH_UP_PAGE;
                        self.backlog.extend(rows);
                        continue;
                    }
                    Err(e) => {
                        // The console reconnects with its last id and loses nothing.
                        tracing::warn!(error = %e, "reading the journal for a stream failed");
                        return None;
                    }
                }
            }
            let heartbeat = self.service.heartbeat;
            let received = tokio::select! {
                item = self.rx.recv() => Some(item),
                _ = tokio::time::sleep(heartbeat) => None,
                _ = self.shutdown.wait_for(|stop| *stop) => return None,
            };
            match received {
                None => return Some(Ok(self.heartbeat())),
                Some(Ok(item)) => {
                    if self.wanted(&item.row) {
                        self.last = item.row.id;
                        return Some(Ok(item.line.clone()));
                    }
                }
                Some(Err(broadcast::error::RecvError::Lagged(_))) => self.catch_up = true,
                Some(Err(broadcast::error::RecvError::Closed)) => return None,
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    after: Option<i64>,
    cluster: Option<String>,
}

/// `GET /v1/events/stream?after=ID`: every event after ID (all of them, then live as they are
/// appended), a heartbeat first and whenever the stream was idle for a heartbeat interval.
/// Without `after` it starts at the newest event.
async fn stream(State(s): State<Shared>, Query(q): Query<StreamQuery>) -> Response {
    let cluster = match cluster_filter(q.cluster.as_deref()) {
        Ok(c) => c,
        Err(e) => return bad_filter(e),
    };
    // Subscribe before reading where the journal is: nothing appended in between is missed
    // (duplicates are dropped by id).
    let rx = s.feed.subscribe();
    let last = match q.after {
        Some(a) => EventId(a.max(0)),
        None => match s.engine.store().read(|r| r.latest_event_id()) {
            Ok(id) => id,
            Err(e) => return engine_error_response(&EngineError::Store(e)),
        },
    };
    let mut shutdown = s.shutdown.clone();
    shutdown.borrow_and_update();
    let state = StreamState {
        service: s,
        rx,
        cluster,
        last,
        backlog: VecDeque::new(),
        catch_up: q.after.is_some(),
        first: true,
        shutdown,
    };
    let body = futures_util::stream::unfold(state, |mut st| async move {
        let item = st.next_line().await?;
        Some((item, st))
    });
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

// ---- accounts ----

fn account_error(e: AccountError) -> Response {
    let (status, code) = match &e {
        AccountError::Store(s) => store_status(s),
        AccountError::Exists(_) => (StatusCode::CONFLICT, "exists"),
        AccountError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_account"),
        AccountError::CheckFailed { .. } | AccountError::ValidateFailed { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "check_failed")
        }
        AccountError::Maas(m) if m.is_transient() => {
            (StatusCode::SERVICE_UNAVAILABLE, "maas_unavailable")
        }
        AccountError::Maas(_) | AccountError::Connect(_) => (StatusCode::BAD_GATEWAY, "maas"),
        _ => (StatusCode::BAD_REQUEST, "refused"),
    };
    error_response(status, code, e.to_string(), None)
}

fn store_error(e: StoreError) -> Response {
    account_error(AccountError::Store(e))
}

async fn accounts(State(s): State<Shared>) -> Response {
    match accounts::list(s.engine.store()) {
        Ok(v) => Json(v).into_response(),
        Err(e) => store_error(e),
    }
}

async fn account(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    match accounts::show(s.engine.store(), &name) {
        Ok(v) => Json(v).into_response(),
        Err(e) => store_error(e),
    }
}

/// Checks the account live from the gateway (the host that will use it) and keeps it there.
async fn add_account(State(s): State<Shared>, Json(req): Json<AddAccountRequest>) -> Response {
    let account = match CloudAccount::from_parts(
        &req.name,
        "",
        crate::model::account::LOCAL_GATEWAY,
        &req.endpoint,
        &req.api_key,
        req.ca_cert.as_deref(),
    ) {
        Ok(a) => a,
        Err(p) => return account_error(AccountError::Invalid(p)),
    };
    drop(req);
    match accounts::add_account(&s.state_dir, &account).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => account_error(e),
    }
}

async fn machines(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let row = match s.engine.store().read(|r| r.account(&name)) {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    let client = match connect::client_for(&s.state_dir, &row, connect::Patience::Work) {
        Ok(c) => c,
        Err(e) => return account_error(e.into()),
    };
    match client.machines(&MachineFilter::default()).await {
        Ok(list) => Json(
            list.into_iter()
                .map(MachineSummary::from)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => account_error(e.into()),
    }
}

/// The MAAS client of account `name`, made on the gateway (the key never leaves it).
fn account_client(s: &EngineService, name: &str) -> Result<crate::maas::MaasClient, AccountError> {
    let row = s.engine.store().read(|r| r.account(name))?;
    Ok(connect::client_for(
        &s.state_dir,
        &row,
        connect::Patience::Work,
    )?)
}

/// `GET /v1/accounts/NAME/maas`: which region, version and user the account reaches.
async fn maas_identity(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let client = match account_client(&s, &name) {
        Ok(c) => c,
        Err(e) => return account_error(e),
    };
    match client.identify().await {
        Ok((version, user)) => Json(MaasIdentityBody {
            endpoint: client.endpoint().to_string(),
            version: version.version,
            user: user.username,
        })
        .into_response(),
        Err(e) => account_error(e.into()),
    }
}

/// `GET /v1/accounts/NAME/snapshot`: what the console's wizards pick from (zones, pools, tags,
/// domains, subnets, images) and count machines in, read concurrently from the account's MAAS.
async fn snapshot(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let c = match account_client(&s, &name) {
        Ok(c) => c,
        Err(e) => return account_error(e),
    };
    match MaasSnapshot::fetch(&c).await {
        Ok(snapshot) => Json(snapshot).into_response(),
        Err(e) => account_error(e.into()),
    }
}
