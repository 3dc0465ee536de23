//! The control API under `/_sim/` (not under /MAAS/, no OAuth, loopback callers only): moves
//! the virtual clock, reads request counters, injects faults. Documented in `sim`'s module doc.

use super::faults::{Injection, TransientKind};
use super::params::Params;
use super::render;
use super::server::{json, text, Shared};
use crate::maas::{NodeStatus, PowerState};
use axum::extract::Request;
use axum::response::Response;
use serde_json::json;
use std::net::SocketAddr;

fn clock_json(shared: &Shared) -> serde_json::Value {
    json!({
        "now": shared.clock.now().to_rfc3339(),
        "speed": shared.clock.speed(),
    })
}

fn bad(msg: impl Into<String>) -> Response {
    text(400, msg)
}

fn number(params: &Params, key: &str) -> Result<Option<f64>, String> {
    match params.get_nonempty(key) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| format!("{key} must be a number, not {raw:?}")),
    }
}

pub(crate) async fn handle(shared: &Shared, peer: SocketAddr, req: Request) -> Response {
    if !peer.ip().is_loopback() {
        return text(
            403,
            "The simulator's control API only answers loopback callers.",
        );
    }
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_ascii_uppercase();
    let path = parts.uri.path().trim_end_matches('/').to_string();
    let mut params = Params::from_query(parts.uri.query().unwrap_or_default());
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await {
        if let Ok(body_params) = Params::from_body(ct.as_deref(), bytes).await {
            params.extend_from(&body_params, &[]);
        }
    }
    let segments: Vec<&str> = path
        .trim_start_matches("/_sim")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["clock"]) => json(200, &clock_json(shared), true),
        ("POST", ["clock", "advance"]) => {
            let seconds = match number(&params, "seconds") {
                Ok(Some(s)) if s >= 0.0 => s,
                Ok(_) => return bad("POST /_sim/clock/advance needs ?seconds=N with N ≥ 0"),
                Err(e) => return bad(e),
            };
            let now = shared.clock.advance(seconds);
            shared.region().advance_to(now);
            json(200, &clock_json(shared), true)
        }
        ("POST", ["clock", "speed"]) => match number(&params, "speed") {
            Ok(Some(s)) if s >= 0.0 => {
                shared.clock.set_speed(s);
                json(200, &clock_json(shared), true)
            }
            Ok(_) => bad("POST /_sim/clock/speed needs ?speed=X with X ≥ 0 (0 freezes time)"),
            Err(e) => bad(e),
        },
        ("GET", ["counters"]) => json(200, &json!(shared.counters.snapshot()), true),
        ("DELETE", ["counters"]) => {
            shared.counters.reset();
            text(200, "counters reset")
        }
        ("GET", ["faults"]) => {
            let region = shared.region();
            json(
                200,
                &json!({
                    "fail_deploy_rate": region.faults.fail_deploy_rate,
                    "http_error_rate": region.faults.http_error_rate,
                    "injections": region.faults.injections(),
                }),
                true,
            )
        }
        ("DELETE", ["faults"]) => {
            shared.region().faults.clear_injections();
            text(200, "injections cleared")
        }
        ("POST", ["faults", "inject"]) => {
            let Some(endpoint) = params.get_nonempty("endpoint") else {
                return bad("POST /_sim/faults/inject needs endpoint=<template>, e.g. endpoint=machines/ or endpoint=machines/{system_id}/");
            };
            let kind = params.get_nonempty("status").unwrap_or("503");
            let Some(kind) = TransientKind::parse(kind) else {
                return bad(format!("status must be 503, 409 or 504, not {kind:?}"));
            };
            let count = match number(&params, "count") {
                Ok(c) => c.unwrap_or(1.0).max(0.0) as u32,
                Err(e) => return bad(e),
            };
            let retry_after = match number(&params, "retry_after") {
                Ok(r) => r.map(|v| v.max(0.0) as u64),
                Err(e) => return bad(e),
            };
            let injection = Injection {
                endpoint: endpoint.to_string(),
                method: params.get_nonempty("method").map(str::to_ascii_uppercase),
                op: params.get_nonempty("op").map(str::to_string),
                kind,
                remaining: count,
                retry_after,
            };
            shared.region().faults.inject(injection.clone());
            json(200, &json!(injection), true)
        }
        ("POST", ["faults", "rates"]) => {
            let mut region = shared.region();
            for key in ["fail_deploy_rate", "http_error_rate"] {
                match number(&params, key) {
                    Ok(Some(v)) if (0.0..=1.0).contains(&v) => {
                        if key == "fail_deploy_rate" {
                            region.faults.fail_deploy_rate = v;
                        } else {
                            region.faults.http_error_rate = v;
                        }
                    }
                    Ok(Some(v)) => return bad(format!("{key} must be between 0 and 1, not {v}")),
                    Ok(None) => {}
                    Err(e) => return bad(e),
                }
            }
            json(
                200,
                &json!({"fail_deploy_rate": region.faults.fail_deploy_rate, "http_error_rate": region.faults.http_error_rate}),
                true,
            )
        }
        ("GET", ["k8s", "clusters", id]) => super::k8s::handle_cluster(shared, id),
        ("POST", ["k8s", rest @ ..]) => super::k8s::handle_post(shared, rest, &params),
        ("GET", ["machines", id]) => {
            let region = shared.region();
            match region.machine(id) {
                Some(m) => json(200, &render::machine(m, &region.catalog), true),
                None => text(404, format!("No machine {id} in the simulator.")),
            }
        }
        ("POST", ["machines", id, "status"]) => {
            let wanted = params.get_nonempty("status").unwrap_or_default();
            let Some(status) = NodeStatus::from_name(wanted) else {
                return bad(format!(
                    "status={wanted:?} is not a MAAS status: use a name such as failed_releasing, failed_disk_erasing, broken or missing"
                ));
            };
            let reason = params.get_nonempty("reason").unwrap_or("simulated fault").to_string();
            if shared.region().force_status(id, status, &reason) {
                text(200, format!("{id}: {}", status.label()))
            } else {
                text(404, format!("No machine {id} in the simulator."))
            }
        }
        ("POST", ["machines", id, "power"]) => {
            let wanted = params.get_nonempty("state").unwrap_or_default();
            let state = match wanted {
                "on" => PowerState::On,
                "off" => PowerState::Off,
                "error" => PowerState::Error,
                "unknown" => PowerState::Unknown,
                other => return bad(format!("state={other:?}: use on, off, error or unknown")),
            };
            if shared.region().set_power_state(id, state) {
                text(200, format!("{id}: power {wanted}"))
            } else {
                text(404, format!("No machine {id} in the simulator."))
            }
        }
        ("POST", ["machines", id, action]) => {
            let reason = params.get_nonempty("reason").unwrap_or("simulated fault").to_string();
            let mut region = shared.region();
            let done = match *action {
                "vanish" => region.vanish(id),
                "power_off" => region.power_loss(id),
                "broken" => region.force_status(id, NodeStatus::Broken, &reason),
                "missing" => region.force_status(id, NodeStatus::Missing, &reason),
                other => {
                    return bad(format!(
                        "unknown machine fault {other:?}: use vanish, power_off, broken or missing"
                    ))
                }
            };
            if done {
                text(200, format!("{action}: {id}"))
            } else {
                text(404, format!("No machine {id} in the simulator."))
            }
        }
        _ => text(
            404,
            format!("Unknown control endpoint {method} {path}: see the kubemaas::sim module documentation for /_sim/ endpoints."),
        ),
    }
}
