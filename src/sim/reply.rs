//! What a simulated handler answers: success bodies and MAAS's error shapes (plain-text
//! messages with a status code, or JSON `{"field": ["message"]}` validation errors).

use serde_json::{json, Value};

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200 `application/json; charset=utf-8`.
    Json(Value),
    /// 200 `text/plain` (e.g. `/MAAS/api/version/`).
    Text(String),
    /// 204, empty body (deletes, IP release).
    NoContent,
    /// 201, empty body (a file stored).
    Created,
    /// 200, raw bytes (a stored file's content), as Django's plain `HttpResponse` sends them.
    Bytes(Vec<u8>),
    /// 200 JSON array of machines, rendered after the region lock is released: rendering a
    /// large fleet takes long enough that holding the lock for it would stall every client.
    Machines(MachineList),
}

/// Machines copied out of the region with what their rendering needs.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineList {
    pub machines: Vec<(crate::sim::model::SimMachine, Option<u64>)>,
    pub catalog: crate::sim::model::SimCatalog,
}

impl MachineList {
    pub fn render(&self) -> Value {
        Value::Array(
            self.machines
                .iter()
                .map(|(m, swap)| crate::sim::api::json::render_machine(m, *swap, &self.catalog))
                .collect(),
        )
    }
}

/// A MAAS error answer. `Display` is the body for text errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// 400 with a JSON body `{"field": ["message", …]}`.
    #[error("{0}")]
    Invalid(Value),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// 409 without `Retry-After`: a real conflict, not worth retrying.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    /// 503 without `Retry-After` (e.g. address exhaustion).
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) | ApiError::Invalid(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::Gone(_) => 410,
            ApiError::Unavailable(_) => 503,
        }
    }

    /// A single-field validation error.
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(json!({ field: [message.into()] }))
    }

    /// `{"p": ["No such constraint."]}` for every unknown parameter.
    pub fn no_such_constraint(params: &[&str]) -> ApiError {
        let mut map = serde_json::Map::new();
        for p in params {
            map.insert((*p).to_string(), json!(["No such constraint."]));
        }
        ApiError::Invalid(Value::Object(map))
    }

    pub fn no_machine() -> ApiError {
        ApiError::NotFound("No Machine matches the given query.".into())
    }

    pub fn unrecognised(method: &str, op: Option<&str>) -> ApiError {
        ApiError::BadRequest(format!(
            "Unrecognised signature: method={method} op={}",
            op.unwrap_or("None")
        ))
    }
}

pub type ApiResult = Result<Reply, ApiError>;
