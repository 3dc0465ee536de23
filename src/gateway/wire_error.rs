//! Engine errors on the wire: the gateway answers each [`EngineError`] with an HTTP status, a
//! stable code and the error's fields ([`ErrorBody`]); the console turns that back into the
//! same [`EngineError`] kind where the kind has owned fields, and into a [`RemoteError`] (with
//! the gateway's exact message) where it does not. Messages never carry secrets: the engine's
//! errors are scrubbed at the source (see `engine::error`).

use super::client::GatewayClientError;
use super::protocol::ErrorBody;
use crate::engine::EngineError;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// What a console gets from a gateway that has no exact local [`EngineError`] kind.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The channel itself: unreachable, TLS, not paired, revoked.
    #[error(transparent)]
    Channel(#[from] GatewayClientError),
    /// What was asked for does not exist on the gateway.
    #[error("{message}")]
    NotFound { message: String },
    /// The request clashes with the gateway's state (a duplicate name, a change made meanwhile,
    /// an action the cluster's phase does not allow).
    #[error("{message}")]
    Conflict { code: String, message: String },
    /// The gateway (or its MAAS) failed to do it; `code` says how.
    #[error("{message}")]
    Failed {
        code: String,
        message: String,
        transient: bool,
    },
}

impl RemoteError {
    /// Worth trying again: the gateway was unreachable or its MAAS/database busy.
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Channel(GatewayClientError::Connect { .. }) => true,
            RemoteError::Failed { transient, .. } => *transient,
            _ => false,
        }
    }
}

impl From<RemoteError> for EngineError {
    fn from(e: RemoteError) -> Self {
        EngineError::Gateway(Box::new(e))
    }
}

/// An error response: `status`, the code, the message, and fields.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: String,
    detail: Option<serde_json::Value>,
) -> Response {
    (
        status,
        Json(ErrorBody {
            error: code.to_string(),
            message,
            detail,
        }),
    )
        .into_response()
}

/// The status and code of a store error.
pub fn store_status(e: &StoreError) -> (StatusCode, &'static str) {
    match e {
        StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
        StoreError::Duplicate { .. } => (StatusCode::CONFLICT, "exists"),
        StoreError::InUse { .. } => (StatusCode::CONFLICT, "in_use"),
        StoreError::GenerationConflict { .. } => (StatusCode::CONFLICT, "conflict"),
        StoreError::MachineTaken { .. } => (StatusCode::CONFLICT, "conflict"),
        StoreError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        StoreError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "store"),
    }
}

/// The gateway's answer to an engine error.
pub fn engine_error_response(e: &EngineError) -> Response {
    let message = e.to_string();
    let (status, code, detail) = match e {
        EngineError::InvalidSpec { problems } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_spec",
            Some(json!({ "problems": problems })),
        ),
        EngineError::WrongPhase { .. } => (StatusCode::CONFLICT, "wrong_phase", None),
        EngineError::NoSuchPool {
            cluster,
            pool,
            known,
        } => (
            StatusCode::NOT_FOUND,
            "no_such_pool",
            Some(json!({ "cluster": cluster, "pool": pool, "known": known })),
        ),
        EngineError::NoSuchProfile { name } => (
            StatusCode::NOT_FOUND,
            "no_such_profile",
            Some(json!({ "name": name })),
        ),
        EngineError::BadProfile { name, problems } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_profile",
            Some(json!({ "name": name, "problems": problems })),
        ),
        EngineError::ClusterFailed { cluster, reason } => (
            StatusCode::CONFLICT,
            "cluster_failed",
            Some(json!({ "cluster": cluster, "reason": reason })),
        ),
        // As the IETF idempotency-key draft has it: the request is well-formed but cannot be
        // processed under this key.
        EngineError::KeyReused { cluster } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            Some(json!({ "cluster": cluster })),
        ),
        EngineError::Other(m) => (
            StatusCode::BAD_REQUEST,
            "refused",
            Some(json!({ "message": m })),
        ),
        EngineError::Store(s) => {
            let (status, code) = store_status(s);
            (status, code, None)
        }
        EngineError::Maas(m) if m.is_transient() => {
            (StatusCode::SERVICE_UNAVAILABLE, "maas_unavailable", None)
        }
        EngineError::Maas(_) | EngineError::Client { .. } => {
            (StatusCode::BAD_GATEWAY, "maas", None)
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
    };
    if status.is_server_error() {
        tracing::warn!(code, error = %message, "an engine call failed");
    }
    error_response(status, code, message, detail)
}

fn field(detail: &Option<Box<serde_json::Value>>, key: &str) -> Option<String> {
    detail
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// The console's side: a gateway's refusal back into an [`EngineError`].
pub fn engine_error_from(e: GatewayClientError) -> EngineError {
    let GatewayClientError::Refused {
        address,
        path,
        status,
        error,
        message,
        detail,
    } = e
    else {
        return RemoteError::Channel(e).into();
    };
    let f = |k: &str| field(&detail, k);
    let exact = match error.as_str() {
        "invalid_spec" => f("problems").map(|problems| EngineError::InvalidSpec { problems }),
        "no_such_pool" => match (f("cluster"), f("pool"), f("known")) {
            (Some(cluster), Some(pool), Some(known)) => Some(EngineError::NoSuchPool {
                cluster,
                pool,
                known,
            }),
            _ => None,
        },
        "no_such_profile" => f("name").map(|name| EngineError::NoSuchProfile { name }),
        "bad_profile" => match (f("name"), f("problems")) {
            (Some(name), Some(problems)) => Some(EngineError::BadProfile { name, problems }),
            _ => None,
        },
        "cluster_failed" => match (f("cluster"), f("reason")) {
            (Some(cluster), Some(reason)) => Some(EngineError::ClusterFailed { cluster, reason }),
            _ => None,
        },
        "idempotency_key_reused" => f("cluster").map(|cluster| EngineError::KeyReused { cluster }),
        "refused" => f("message").map(EngineError::Other),
        _ => None,
    };
    if let Some(e) = exact {
        return e;
    }
    let remote = match (status, error.as_str()) {
        (404, _) => RemoteError::NotFound { message },
        (409, _) => RemoteError::Conflict {
            code: error,
            message,
        },
        (401 | 403, _) => {
            // Kept whole: "the gateway at ADDRESS refused PATH" is what tells the operator
            // which gateway stopped trusting this console.
            return RemoteError::Channel(GatewayClientError::Refused {
                address,
                path,
                status,
                error,
                message,
                detail,
            })
            .into();
        }
        (s, code) => RemoteError::Failed {
            transient: s == 503 || code == "busy" || code == "maas_unavailable",
            code: code.to_string(),
            message,
        },
    };
    remote.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(e: EngineError) -> EngineError {
        let response = engine_error_response(&e);
        let status = response.status().as_u16();
        let body = futures_util::FutureExt::now_or_never(axum::body::to_bytes(
            response.into_body(),
            usize::MAX,
        ))
        .expect("a ready body")
        .expect("a body");
        let b: ErrorBody = serde_json::from_slice(&body).unwrap();
        engine_error_from(GatewayClientError::Refused {
            address: "gw".into(),
            path: "/v1/clusters".into(),
            status,
            error: b.error,
            message: b.message,
            detail: b.detail.map(Box::new),
        })
    }

    #[test]
    fn kinds_with_owned_fields_come_back_the_same() {
        for e in [
            EngineError::InvalidSpec {
                problems: "spec.x: bad".into(),
            },
            EngineError::NoSuchPool {
                cluster: "web".into(),
                pool: "gpu".into(),
                known: "workers".into(),
            },
            EngineError::ClusterFailed {
                cluster: "web".into(),
                reason: "no machines".into(),
            },
            EngineError::Other("a cluster cannot be renamed".into()),
            EngineError::NoSuchProfile { name: "p".into() },
        ] {
            let text = e.to_string();
            let back = round_trip(e);
            assert_eq!(back.to_string(), text);
            assert!(!matches!(back, EngineError::Gateway(_)), "{back:?}");
        }
    }

    #[test]
    fn other_kinds_keep_their_message_and_class() {
        let e = EngineError::Store(StoreError::NotFound {
            kind: "cluster",
            key: "nope".into(),
            hint: "see `kubemaas cluster list`",
        });
        let text = e.to_string();
        let back = round_trip(e);
        assert_eq!(back.to_string(), text);
        assert!(
            matches!(&back, EngineError::Gateway(r) if matches!(**r, RemoteError::NotFound { .. }))
        );
        let busy = round_trip(EngineError::Store(StoreError::Busy {
            what: "x".into(),
            seconds: 5,
        }));
        assert!(busy.is_transient());
        let phase = round_trip(EngineError::WrongPhase {
            cluster: "web".into(),
            phase: "Pending".into(),
            action: "deleting",
            when: "once provisioned",
        });
        assert!(
            matches!(&phase, EngineError::Gateway(r) if matches!(**r, RemoteError::Conflict { .. }))
        );
    }

    #[test]
    fn a_refusal_of_this_console_names_the_gateway_and_the_path() {
        // What a revoked console gets back: it must say where, not "the gateway at  refused".
        let e = engine_error_from(GatewayClientError::Refused {
            address: "gw1.example:8443".into(),
            path: "/v1/clusters".into(),
            status: 401,
            error: "unauthorized".into(),
            message: "this console is not paired (or was revoked)".into(),
            detail: None,
        });
        let text = e.to_string();
        assert!(
            text.contains("the gateway at gw1.example:8443 refused /v1/clusters (HTTP 401)"),
            "{text}"
        );
    }

    #[test]
    fn a_reused_idempotency_key_is_a_422_that_comes_back_as_itself() {
        let e = EngineError::KeyReused {
            cluster: "web".into(),
        };
        assert_eq!(engine_error_response(&e).status().as_u16(), 422);
        let back = round_trip(e);
        assert!(
            matches!(&back, EngineError::KeyReused { cluster } if cluster == "web"),
            "{back}"
        );
    }
}
