//! The HTTP side: axum on loopback, request decoding, authentication, faults, latency, and
//! MAAS's response shapes (JSON with charset, text/plain errors, `X-MAAS-API-Hash`).

use super::api::{self, Ctx};
use super::auth::{self, AuthPolicy, OAuthHeader, SignedRequest};
use super::clock::VirtualClock;
use super::control;
use super::counters::Counters;
use super::describe;
use super::params::Params;
use super::reply::{ApiError, Reply};
use super::state::{Actor, Region};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use http::{header, HeaderValue, StatusCode};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Largest request body accepted (boot-resource uploads are not simulated).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Everything the request handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub region: Mutex<Region>,
    pub clock: VirtualClock,
    pub counters: Counters,
    pub policy: AuthPolicy,
    pub latency: Mutex<Duration>,
}

impl Shared {
    /// The region, brought up to the clock's current time.
    pub fn region(&self) -> MutexGuard<'_, Region> {
        let mut region = self.region.lock().unwrap_or_else(PoisonError::into_inner);
        region.advance_to(self.clock.now());
        region
    }
}

/// The one handler: `/_sim/…` is the control API, everything else is MAAS.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    if req.uri().path() == "/_sim" || req.uri().path().starts_with("/_sim/") {
        return control::handle(&shared, peer, req).await;
    }
    maas(&shared, req).await
}

pub(crate) fn text(status: u16, body: impl Into<String>) -> Response {
    let mut resp = Response::new(Body::from(body.into()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pub(crate) fn json(status: u16, value: &serde_json::Value, charset: bool) -> Response {
    let mut resp = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let ct = if charset {
        "application/json; charset=utf-8"
    } else {
        "application/json"
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp
}

fn error_response(err: &ApiError) -> Response {
    let mut resp = match err {
        ApiError::Invalid(v) => json(400, v, true),
        other => text(other.status(), other.to_string()),
    };
    if matches!(err, ApiError::Unauthorized(_)) {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("OAuth realm=\"OAuth\""),
        );
    }
    resp
}

fn with_hash(mut resp: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&describe::api_hash()) {
        resp.headers_mut().insert("X-MAAS-API-Hash", v);
    }
    resp
}

/// The MAAS side of the server.
async fn maas(shared: &Shared, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_ascii_uppercase();
    let path = parts.uri.path().to_string();
    if path == "/MAAS/api/version/" {
        return text(200, "2.0");
    }
    if path == "/MAAS/api/1.0" || path.starts_with("/MAAS/api/1.0/") {
        return text(
            410,
            "The 1.0 API is no longer available. Please use API version 2.0.",
        );
    }
    let Some(rest) = path.strip_prefix("/MAAS/api/2.0/") else {
        if path.starts_with("/MAAS/api/2.0") {
            return with_hash(text(404, format!("Unknown API endpoint: {path}.")));
        }
        return text(
            404,
            format!("Not found: {path}. The simulated MAAS API lives under /MAAS/api/2.0/."),
        );
    };
    let Some(route) = api::route(rest) else {
        return with_hash(text(404, format!("Unknown API endpoint: {path}.")));
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_ascii_lowercase();
    let origin = format!("http://{host}");
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return with_hash(text(400, format!("Cannot read the request body: {e}"))),
    };
    let query = Params::from_query(parts.uri.query().unwrap_or_default());
    let has_body = method == "POST" || method == "PUT";
    let body_params = if has_body {
        match Params::from_body(content_type.as_deref(), bytes.clone()).await {
            Ok(p) => p,
            Err(e) => return with_hash(text(400, e.to_string())),
        }
    } else {
        Params::new()
    };
    let form_for_signature = match content_type.as_deref() {
        Some(ct)
            if ct
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded") =>
        {
            body_params.pairs().to_vec()
        }
        _ => Vec::new(),
    };
    let op = route
        .path_op
        .clone()
        .or_else(|| query.get_nonempty("op").map(str::to_string))
        .or_else(|| body_params.get_nonempty("op").map(str::to_string));
    // OAuth parameters sent in the query or form are credentials, not handler parameters.
    const NOT_PARAMS: &[&str] = &[
        "op",
        "oauth_consumer_key",
        "oauth_token",
        "oauth_signature",
        "oauth_signature_method",
        "oauth_timestamp",
        "oauth_nonce",
        "oauth_version",
    ];
    let mut params = Params::new();
    if has_body {
        params.extend_from(&body_params, NOT_PARAMS);
    }
    params.extend_from(&query, NOT_PARAMS);

    let latency = *shared
        .latency
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    // Every Authorization header counts: a retrying gomaasapi sends its stale signature first.
    let auth_header = OAuthHeader::parse_all(
        parts
            .headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
    .or_else(|| {
        OAuthHeader::from_request_params(
            query
                .pairs()
                .iter()
                .chain(body_params.pairs())
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
    });
    // The region lock is held in this block only: nothing in it awaits.
    let (result, ctx) = {
        let mut region = shared.region();
        shared
            .counters
            .record(&method, route.template, op.as_deref());
        let mut actor = None;
        if !route.resource.anonymous_only() {
            if let Some(h) = &auth_header {
                let signed = SignedRequest {
                    method: &method,
                    base_url: format!("{}{}", origin.trim_end_matches(":80"), path),
                    query: query.pairs().to_vec(),
                    form: form_for_signature,
                };
                let now_unix = chrono::Utc::now().timestamp();
                let users = region.users.clone();
                match auth::verify(
                    h,
                    &signed,
                    &users,
                    &mut region.nonces,
                    shared.policy,
                    now_unix,
                ) {
                    Ok(caller) => {
                        let u = &users[caller.user];
                        actor = Some(Actor {
                            username: u.username.clone(),
                            admin: u.is_superuser,
                        });
                    }
                    Err(e) => {
                        tracing::debug!(%path, error = %e, "simulated MAAS refused OAuth credentials");
                        let mut resp = with_hash(text(e.status(), e.to_string()));
                        resp.headers_mut().insert(
                            header::WWW_AUTHENTICATE,
                            HeaderValue::from_static("OAuth realm=\"OAuth\""),
                        );
                        return resp;
                    }
                }
            }
        }
        if let Some(f) = region
            .faults
            .on_request(&method, route.template, op.as_deref())
        {
            tracing::debug!(%path, status = f.status, "simulated MAAS injected a transient failure");
            // The failed attempt's transaction is rolled back on MAAS, the nonce row with it.
            if let (Some(h), Some(_)) = (&auth_header, &actor) {
                let (token, nonce) = (h.get("oauth_token"), h.get("oauth_nonce"));
                region
                    .nonces
                    .forget(token.unwrap_or_default(), nonce.unwrap_or_default());
            }
            let mut resp = text(f.status, f.body);
            if let Some(secs) = f.retry_after {
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            return with_hash(resp);
        }
        let ctx = Ctx {
            method: method.clone(),
            op,
            params,
            actor,
            origin,
        };
        let result = api::dispatch(&mut region, &route, &ctx);
        (result, ctx)
    };
    let resp = match result {
        Ok(Reply::Json(v)) => json(200, &v, route.resource != api::Resource::Describe),
        Ok(Reply::Machines(list)) => {
            match tokio::task::spawn_blocking(move || list.render()).await {
                Ok(v) => json(200, &v, true),
                Err(e) => text(
                    500,
                    format!("simulated MAAS failed to render machines: {e}"),
                ),
            }
        }
        Ok(Reply::Text(t)) => text(200, t),
        Ok(Reply::NoContent) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Ok(Reply::Created) => {
            let mut r = text(201, "");
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Ok(Reply::Bytes(bytes)) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Err(e) => error_response(&e),
    };
    tracing::debug!(%method, %path, op = ?ctx.op, status = resp.status().as_u16(), "simulated MAAS request");
    with_hash(resp)
}
