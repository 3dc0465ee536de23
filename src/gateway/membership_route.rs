//! The admin route through which a console repairs a 3-node gateway's etcd membership
//! (`kubemaas gateway deploy` replacing a failed node): etcd serves clients on each node's
//! loopback only, so the console asks a surviving node, over the paired channel, to do it
//! there ([`crate::ha::membership`]).
//!
//! * `GET  /v1/admin/etcd/members` → `{members: [MemberView], self_id}`
//! * `POST /v1/admin/etcd/members` with a [`RepairRequest`] → [`Repaired`]
//!
//! A 1-node gateway (no `etcd:` in gateway.yaml) answers `409 no_etcd`.

use super::protocol::ErrorBody;
use crate::ha::membership::{self, MemberView, MembershipError, RepairRequest, Repaired};
use crate::ha::EtcdConfig;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub const MEMBERS_PATH: &str = "/v1/admin/etcd/members";

/// `GET` [`MEMBERS_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberList {
    pub members: Vec<MemberView>,
    /// The member of the node that answered (hex ID).
    pub self_id: String,
}

/// The routes, for the gateway's `api` router. `etcd`: gateway.yaml's `etcd:` section.
pub fn routes(etcd: Option<EtcdConfig>) -> Router {
    Router::new()
        .route(MEMBERS_PATH, get(list).post(repair))
        .with_state(etcd)
}

fn refuse(status: StatusCode, error: &str, message: String) -> Response {
    (
        status,
        Json(ErrorBody {
            error: error.into(),
            message,
            detail: None,
        }),
    )
        .into_response()
}

fn no_etcd() -> Response {
    refuse(
        StatusCode::CONFLICT,
        "no_etcd",
        "this gateway keeps its state in SQLite (gateway.yaml has no `etcd:` section): it has no etcd membership to change".into(),
    )
}

fn failure(e: &MembershipError) -> Response {
    let (status, code) = match e {
        MembershipError::Etcd { .. } => (StatusCode::SERVICE_UNAVAILABLE, "etcd_unreachable"),
        MembershipError::Request(_) => (StatusCode::BAD_REQUEST, "invalid"),
        MembershipError::WouldRemoveSelf { .. } => (StatusCode::CONFLICT, "would_remove_self"),
        MembershipError::Quorum { .. } => (StatusCode::CONFLICT, "quorum"),
    };
    tracing::warn!(error = %e, "etcd membership request failed");
    refuse(status, code, e.to_string())
}

async fn list(State(etcd): State<Option<EtcdConfig>>) -> Response {
    let Some(etcd) = etcd else {
        return no_etcd();
    };
    match membership::list_at(&etcd).await {
        Ok((members, me)) => Json(MemberList {
            members,
            self_id: format!("{me:x}"),
        })
        .into_response(),
        Err(e) => failure(&e),
    }
}

async fn repair(
    State(etcd): State<Option<EtcdConfig>>,
    Json(request): Json<RepairRequest>,
) -> Response {
    let Some(etcd) = etcd else {
        return no_etcd();
    };
    match membership::repair_at(&etcd, &request).await {
        Ok(done) => Json::<Repaired>(done).into_response(),
        Err(e) => failure(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> ErrorBody {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_gateway_without_etcd_says_it_has_no_membership_to_change() {
        let r = list(State(None)).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let b = body(r).await;
        assert_eq!(b.error, "no_etcd");
        assert!(b.message.contains("SQLite"), "{}", b.message);
        let request = RepairRequest { members: vec![] };
        let r = repair(State(None), Json(request)).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
    }

    #[tokio::test]
    async fn a_bad_request_is_refused_before_etcd_is_reached() {
        // A closed loopback port: the request must be refused before any connection.
        let etcd = EtcdConfig::new(vec!["http://127.0.0.1:9".into()]);
        let r = repair(State(Some(etcd)), Json(RepairRequest { members: vec![] })).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(body(r).await.message.contains("at least one"));
    }
}
