//! Cluster requests a console keeps while a gateway is away.
//!
//! `cluster create --gateway NAME` and the console's create go through
//! [`create_or_queue`]: the request is written to the console's own state first (with a fresh
//! idempotency key), then sent. When the gateway is upgrading (`503 upgrading`) or unreachable
//! the request stays **Queued** — listed by [`queued`], shown by `cluster list --gateway NAME` —
//! and [`flush`] sends it once the gateway answers (after `gateway upgrade`, on the next
//! `cluster list/create --gateway NAME`, or whenever the console calls it).
//!
//! Exactly once: every send of a request carries the same key, and the gateway answers a key it
//! has seen with the cluster it already created (see [`super::idempotency`]). So a console that
//! died after sending but before writing down the answer, or two consoles flushing at once,
//! never create a cluster twice.
//!
//! The table lives in the console's store, created on first use.

use super::client::{GatewayClient, GatewayClientError};
use super::idempotency::IDEMPOTENCY_HEADER;
use super::protocol::{SpecBody, CLUSTERS_PATH};
use super::wire_error::engine_error_from;
use crate::engine::{ClusterView, EngineError};
use crate::model::ClusterSpec;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, Row};
use serde::Serialize;

/// Requests sent (or refused) are kept this long, then forgotten.
const KEEP_DAYS: i64 = 7;

/// Where a queued request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Waiting for the gateway to answer.
    Queued,
    /// The gateway created its cluster.
    Submitted,
    /// The gateway refused it for good (an invalid spec, a name taken meanwhile).
    Failed,
}

impl QueueState {
    fn as_str(self) -> &'static str {
        match self {
            QueueState::Queued => "queued",
            QueueState::Submitted => "submitted",
            QueueState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> QueueState {
        match s {
            "submitted" => QueueState::Submitted,
            "failed" => QueueState::Failed,
            _ => QueueState::Queued,
        }
    }
}

impl std::fmt::Display for QueueState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QueueState::Queued => "Queued",
            QueueState::Submitted => "Submitted",
            QueueState::Failed => "Failed",
        })
    }
}

/// A cluster request kept by this console.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuedRequest {
    pub id: i64,
    pub gateway: String,
    /// The cluster's name.
    pub name: String,
    pub account: String,
    pub state: QueueState,
    pub queued: DateTime<Utc>,
    /// Why it is still queued (the gateway's last answer), or why it failed.
    pub reason: Option<String>,
    pub attempts: u32,
    /// The cluster the gateway created for it.
    pub cluster_id: Option<String>,
    #[serde(skip)]
    key: String,
    #[serde(skip)]
    spec: serde_json::Value,
}

/// What can go wrong keeping or sending requests.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot keep the request for cluster {name} ({detail}): this is a kubemaas bug; send the spec file with the report")]
    Encode { name: String, detail: String },
    /// The gateway refused the request (not because it was away).
    #[error(transparent)]
    Refused(#[from] EngineError),
}

/// What [`create_or_queue`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    /// The gateway created the cluster.
    Created(Box<ClusterView>),
    /// The gateway is away: the request is kept and sent when it answers.
    Queued(Box<QueuedRequest>),
}

/// What [`flush`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlushReport {
    /// Requests the gateway took, with their clusters.
    pub submitted: Vec<(QueuedRequest, ClusterView)>,
    /// Requests the gateway refused for good, with its reason.
    pub failed: Vec<(QueuedRequest, String)>,
    /// Requests still waiting (the gateway is still away: `away` says how).
    pub still_queued: usize,
    pub away: Option<String>,
}

fn db(what: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Db {
        what: what.to_string(),
        source,
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<QueuedRequest> {
    let time = |s: String| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    let body: String = row.get("body")?;
    Ok(QueuedRequest {
        id: row.get("id")?,
        gateway: row.get("gateway")?,
        name: row.get("name")?,
        account: row.get("account")?,
        state: QueueState::parse(&row.get::<_, String>("state")?),
        queued: time(row.get("queued")?),
        reason: row.get("reason")?,
        attempts: row.get("attempts")?,
        cluster_id: row.get("cluster_id")?,
        key: row.get("key")?,
        spec: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    })
}

const COLUMNS: &str =
    "id, gateway, name, account, key, body, state, queued, reason, attempts, cluster_id";

fn new_key() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Keeps a request for `spec` on gateway `gateway`, state Queued.
fn keep(store: &Store, gateway: &str, spec: &ClusterSpec) -> Result<QueuedRequest, QueueError> {
    let body = serde_json::to_string(spec).map_err(|e| QueueError::Encode {
        name: spec.name().to_string(),
        detail: e.to_string(),
    })?;
    let key = new_key();
    let now = Utc::now();
    Ok(store.tx(|tx| {
        let old = (now - chrono::Duration::days(KEEP_DAYS)).to_rfc3339();
        tx.conn()
            .execute(
                "DELETE FROM console_request_queue WHERE state != 'queued' AND finished < ?1",
                [old],
            )
            .map_err(db("forgetting old queued requests"))?;
        tx.conn()
            .execute(
                "INSERT INTO console_request_queue (gateway, kind, name, account, key, body, state, queued)
                 VALUES (?1, 'create', ?2, ?3, ?4, ?5, 'queued', ?6)",
                params![gateway, spec.name(), spec.spec.cloud_account, key, body, now.to_rfc3339()],
            )
            .map_err(db("queueing a cluster request"))?;
        let id = tx.conn().last_insert_rowid();
        tx.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM console_request_queue WHERE id = ?1"),
                [id],
                from_row,
            )
            .map_err(db("reading a queued request"))
    })?)
}

fn set_state(
    store: &Store,
    id: i64,
    state: QueueState,
    reason: Option<&str>,
    cluster_id: Option<&str>,
) -> Result<(), StoreError> {
    let finished = (state != QueueState::Queued).then(|| Utc::now().to_rfc3339());
    store.tx(|tx| {
        tx.conn()
            .execute(
                "UPDATE console_request_queue
                 SET state = ?2, reason = ?3, cluster_id = COALESCE(?4, cluster_id),
                     finished = ?5, attempts = attempts + 1
                 WHERE id = ?1",
                params![id, state.as_str(), reason, cluster_id, finished],
            )
            .map_err(db("recording a queued request's outcome"))?;
        Ok(())
    })
}

fn forget(store: &Store, id: i64) -> Result<(), StoreError> {
    store.tx(|tx| {
        tx.conn()
            .execute("DELETE FROM console_request_queue WHERE id = ?1", [id])
            .map_err(db("forgetting a refused request"))?;
        Ok(())
    })
}

/// The requests for gateway `gateway` that are Queued or Failed, oldest first.
pub fn queued(store: &Store, gateway: &str) -> Result<Vec<QueuedRequest>, StoreError> {
    store.tx(|tx| {
        let mut stmt = tx
            .conn()
            .prepare(&format!(
                "SELECT {COLUMNS} FROM console_request_queue
                 WHERE gateway = ?1 AND state != 'submitted' ORDER BY id"
            ))
            .map_err(db("listing queued requests"))?;
        let rows = stmt
            .query_map([gateway], from_row)
            .map_err(db("listing queued requests"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(db("listing queued requests"))
    })
}

/// Whether an error means "the gateway is away, try later" rather than "no".
pub fn gateway_away(e: &GatewayClientError) -> bool {
    match e {
        // A gateway going down for its restart can drop a connection mid-handshake, which
        // reads as a channel error. Keeping the request is safe: it only ever goes to the
        // pinned gateway.
        GatewayClientError::Connect { .. } | GatewayClientError::Channel { .. } => true,
        GatewayClientError::Refused { status, .. } => matches!(status, 502..=504),
        _ => false,
    }
}

/// Sends one kept request; `Ok(Err(reason))` when the gateway is away.
async fn send(
    client: &GatewayClient,
    request: &QueuedRequest,
) -> Result<Result<ClusterView, String>, GatewayClientError> {
    let spec: ClusterSpec = match serde_json::from_value(request.spec.clone()) {
        Ok(s) => s,
        Err(e) => {
            return Err(GatewayClientError::Decode {
                address: client.address().to_string(),
                path: "the console's request queue".into(),
                detail: format!(
                    "the kept spec of cluster {} cannot be read: {e}",
                    request.name
                ),
            })
        }
    };
    match client
        .post_with::<_, ClusterView>(
            CLUSTERS_PATH,
            &SpecBody { spec },
            &[(IDEMPOTENCY_HEADER, &request.key)],
        )
        .await
    {
        Ok(view) => Ok(Ok(view)),
        Err(e) if gateway_away(&e) => Ok(Err(e.to_string())),
        Err(e) => Err(e),
    }
}

/// Creates the cluster of `spec` on the gateway `client` reaches (this console's name for it
/// is `gateway`), or keeps the request when the gateway is upgrading or unreachable.
pub async fn create_or_queue(
    store: &Store,
    gateway: &str,
    client: &GatewayClient,
    spec: ClusterSpec,
) -> Result<CreateOutcome, QueueError> {
    // Kept before it is sent: if this process dies after the gateway took it, the next flush
    // sends it again and the gateway answers with the cluster it created.
    let request = keep(store, gateway, &spec)?;
    match send(client, &request).await {
        Ok(Ok(view)) => {
            set_state(
                store,
                request.id,
                QueueState::Submitted,
                None,
                Some(view.id.as_str()),
            )?;
            Ok(CreateOutcome::Created(Box::new(view)))
        }
        Ok(Err(reason)) => {
            tracing::info!(gateway, cluster = %request.name, %reason, "gateway away: cluster request queued");
            set_state(store, request.id, QueueState::Queued, Some(&reason), None)?;
            let kept = queued(store, gateway)?
                .into_iter()
                .find(|r| r.id == request.id)
                .unwrap_or(request);
            Ok(CreateOutcome::Queued(Box::new(kept)))
        }
        Err(e) => {
            // Refused at once: the operator sees the error now, nothing is kept.
            forget(store, request.id)?;
            Err(QueueError::Refused(engine_error_from(e)))
        }
    }
}

/// Sends the Queued requests for `gateway`, oldest first, until one finds the gateway away.
pub async fn flush(
    store: &Store,
    gateway: &str,
    client: &GatewayClient,
) -> Result<FlushReport, QueueError> {
    let mut report = FlushReport::default();
    let waiting: Vec<QueuedRequest> = queued(store, gateway)?
        .into_iter()
        .filter(|r| r.state == QueueState::Queued)
        .collect();
    let mut rest = waiting.into_iter();
    for request in rest.by_ref() {
        match send(client, &request).await {
            Ok(Ok(view)) => {
                set_state(
                    store,
                    request.id,
                    QueueState::Submitted,
                    None,
                    Some(view.id.as_str()),
                )?;
                tracing::info!(gateway, cluster = %view.name, "queued cluster request submitted");
                report.submitted.push((request, view));
            }
            Ok(Err(reason)) => {
                set_state(store, request.id, QueueState::Queued, Some(&reason), None)?;
                report.still_queued += 1;
                report.away = Some(reason);
                break;
            }
            Err(e) => {
                let reason = engine_error_from(e).to_string();
                set_state(store, request.id, QueueState::Failed, Some(&reason), None)?;
                tracing::warn!(gateway, cluster = %request.name, %reason, "queued cluster request refused");
                report.failed.push((request, reason));
            }
        }
    }
    report.still_queued += rest.count();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn away_means_unreachable_or_a_gateway_that_says_retry() {
        let refused = |status| GatewayClientError::Refused {
            address: "a:1".into(),
            path: "/v1/clusters".into(),
            status,
            error: "x".into(),
            message: "x".into(),
            detail: None,
        };
        assert!(gateway_away(&refused(503)));
        assert!(!gateway_away(&refused(422)));
        assert!(gateway_away(&GatewayClientError::Connect {
            address: "a:1".into(),
            detail: "refused".into()
        }));
    }

    #[test]
    fn keys_are_fresh_and_long_enough_for_the_gateway() {
        let (a, b) = (new_key(), new_key());
        assert_ne!(a, b);
        assert!(super::super::idempotency::check_key(&a).is_ok());
    }
}
