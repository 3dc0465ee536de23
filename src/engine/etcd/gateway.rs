//! etcd's v3 JSON gateway over HTTPS: `POST /v3/cluster/member/list` and
//! `POST /v3/cluster/member/remove`, what `etcdctl member list|remove` does over gRPC.
//!
//! The gateway speaks protobuf's JSON mapping: 64-bit integers (member ids) travel as decimal
//! strings (`{"ID": "10501334649042878790"}`), field names are the proto names (`ID`, `name`,
//! `peerURLs`, `clientURLs`), and a gRPC error comes back as an HTTP status with
//! `{"error", "code", "message"}` (NotFound → 404). The client shows a certificate signed by
//! the cluster's etcd CA and trusts only that CA for the server (kubeadm's etcd serving
//! certificate carries the node's address among its names).

use crate::engine::probe::{
    pinned_client, EtcdMember, EtcdTarget, MemberRemoval, PinnedTls, ProbeError,
};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// How long one gateway call may take: a member change waits for a raft commit, seconds at
/// most on a healthy cluster.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// etcd's gRPC code for NotFound (`etcdserver: member not found`).
const GRPC_NOT_FOUND: i64 = 5;

#[derive(Deserialize)]
struct ListAnswer {
    #[serde(default)]
    members: Vec<MemberJson>,
}

#[derive(Deserialize)]
struct MemberJson {
    #[serde(rename = "ID", default)]
    id: Value,
    #[serde(default)]
    name: String,
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    client_urls: Vec<String>,
}

/// A uint64 as protobuf's JSON mapping writes it (a decimal string) or, leniently, a number.
fn uint64(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The members of a `member/list` answer.
pub(crate) fn parse_members(body: &[u8]) -> Result<Vec<EtcdMember>, String> {
    let answer: ListAnswer =
        serde_json::from_slice(body).map_err(|e| format!("unreadable etcd member list ({e})"))?;
    answer
        .members
        .into_iter()
        .map(|m| {
            let id = uint64(&m.id).ok_or_else(|| {
                format!(
                    "etcd listed member {:?} with id {} , not a 64-bit unsigned number",
                    m.name, m.id
                )
            })?;
            Ok(EtcdMember {
                id,
                name: m.name,
                peer_urls: m.peer_urls,
                client_urls: m.client_urls,
            })
        })
        .collect()
}

/// `HTTP 503: etcdserver: request timed out`: the gateway's error message when it has one,
/// the body cut short otherwise.
pub(crate) fn refusal(status: reqwest::StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.trim().chars().take(300).collect());
    format!("HTTP {status}: {message}")
}

/// Whether a refused `member/remove` says the member does not exist. Only etcd's own answer
/// counts (gRPC NotFound, or its message): a bare 404 from something else on the path (a
/// proxy, a wrong port) must not pass for "already removed", or the machine would be released
/// while still a member.
pub(crate) fn is_not_found(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).ok().is_some_and(|v| {
        v.get("code").and_then(Value::as_i64) == Some(GRPC_NOT_FOUND)
            || v.get("message")
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains("member not found"))
    })
}

/// A client that trusts only the etcd CA and shows the etcd client certificate.
fn client(target: &EtcdTarget) -> Result<reqwest::Client, ProbeError> {
    pinned_client(
        &PinnedTls {
            ca_name: "etcd CA",
            ca_pem: &target.ca_pem,
            cert_name: "etcd client",
            cert_pem: &target.client_cert_pem,
            key_pem: &target.client_key_pem,
        },
        CALL_TIMEOUT,
    )
    .map_err(ProbeError::about(target.describe()))
}

/// One gateway call on one endpoint: the status and body, or why nothing came back.
async fn call(
    client: &reqwest::Client,
    endpoint: &str,
    path: &str,
    body: &Value,
) -> Result<(reqwest::StatusCode, bytes::Bytes), String> {
    let url = format!("{}{path}", endpoint.trim_end_matches('/'));
    let resp = client
        .post(&url)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", crate::errors::chain(&e)))?;
    let status = resp.status();
    let bytes = crate::engine::probe::answer_body(resp).await?;
    Ok((status, bytes))
}

fn all_failed(target: &EtcdTarget, what: &str, errors: Vec<String>) -> ProbeError {
    ProbeError {
        target: target.describe(),
        detail: if errors.is_empty() {
            format!("no control-plane node left to ask for the {what}")
        } else {
            format!(
                "no etcd endpoint answered the {what}: {}",
                errors.join("; ")
            )
        },
    }
}

/// `member/list` on the first endpoint that answers.
pub(crate) async fn members(target: &EtcdTarget) -> Result<Vec<EtcdMember>, ProbeError> {
    let client = client(target)?;
    let mut errors = Vec::new();
    for endpoint in &target.endpoints {
        match call(
            &client,
            endpoint,
            "/v3/cluster/member/list",
            &serde_json::json!({}),
        )
        .await
        {
            Ok((status, body)) if status.is_success() => {
                return parse_members(&body).map_err(ProbeError::about(endpoint.as_str()))
            }
            Ok((status, body)) => errors.push(format!("{endpoint}: {}", refusal(status, &body))),
            Err(e) => errors.push(e),
        }
    }
    Err(all_failed(target, "member list", errors))
}

/// `member/remove` of `id` on the first endpoint that answers; an endpoint that is down or
/// refuses is followed by the next (a removal is idempotent: a member already gone is
/// [`MemberRemoval::NotFound`]).
pub(crate) async fn remove(target: &EtcdTarget, id: u64) -> Result<MemberRemoval, ProbeError> {
    let client = client(target)?;
    let body = serde_json::json!({ "ID": id.to_string() });
    let mut errors = Vec::new();
    for endpoint in &target.endpoints {
        match call(&client, endpoint, "/v3/cluster/member/remove", &body).await {
            Ok((status, _)) if status.is_success() => return Ok(MemberRemoval::Removed),
            Ok((_, answer)) if is_not_found(&answer) => return Ok(MemberRemoval::NotFound),
            Ok((status, answer)) => {
                errors.push(format!("{endpoint}: {}", refusal(status, &answer)))
            }
            Err(e) => errors.push(e),
        }
    }
    Err(all_failed(
        target,
        &format!("removal of member {id:x}"),
        errors,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_read_from_strings_and_numbers() {
        let body = br#"{"header":{"cluster_id":"14841639068965178418"},"members":[
            {"ID":"10501334649042878790","name":"cp-1","peerURLs":["https://10.0.0.5:2380"],"clientURLs":["https://10.0.0.5:2379"]},
            {"ID":42,"peerURLs":["https://10.0.0.6:2380"]}]}"#;
        let m = parse_members(body).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].id, 10501334649042878790);
        assert_eq!(m[0].name, "cp-1");
        assert_eq!(m[1].id, 42);
        assert!(m[1].name.is_empty());
        assert!(m[1].is_node("cp-2", Some("10.0.0.6")));
        assert!(!m[1].is_node("cp-2", Some("10.0.0.60")));
        assert!(m[0].is_node("cp-1", None));
    }

    #[test]
    fn a_member_without_an_id_is_an_error_and_an_empty_list_is_none() {
        assert!(parse_members(br#"{"members":[{"name":"x"}]}"#).is_err());
        assert!(parse_members(b"not json").is_err());
        assert_eq!(parse_members(br#"{"header":{}}"#).unwrap(), vec![]);
    }

    #[test]
    fn not_found_is_recognised_by_status_code_or_message() {
        let nf = br#"{"error":"etcdserver: member not found","code":5,"message":"etcdserver: member not found"}"#;
        assert!(!is_not_found(b"404 page not found"));
        assert!(is_not_found(nf));
        assert!(!is_not_found(
            br#"{"code":14,"message":"etcdserver: request timed out"}"#
        ));
        assert_eq!(
            refusal(
                reqwest::StatusCode::SERVICE_UNAVAILABLE,
                br#"{"code":14,"message":"etcdserver: request timed out"}"#
            ),
            "HTTP 503 Service Unavailable: etcdserver: request timed out"
        );
    }
}
