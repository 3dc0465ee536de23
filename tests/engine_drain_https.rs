//! `HttpsProbe::drain` against a fake Kubernetes API on 127.0.0.1 (plain HTTP: the probe takes
//! the base URL as given; the certificates are real PEM so the client is built as in
//! production): the exact request sequence of cordon, pod list, evictions and Node delete, a
//! PodDisruptionBudget's 429 as "not yet", DaemonSet / mirror / finished pods left alone, and
//! refusals reported as errors naming the call.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kubemaas::engine::{DrainProgress, HttpsProbe, KubeProbe, ProbeTarget};
use kubemaas::store::ClusterId;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Api {
    node_exists: bool,
    cordoned: bool,
    pods: Vec<Value>,
    /// Answers to give, in order, to evictions of a pod (default 201).
    evictions: BTreeMap<String, VecDeque<u16>>,
    /// Status to answer every Node delete with (default 200).
    delete_status: Option<u16>,
    /// `METHOD path?query` of every request, with a note on what was sent.
    log: Vec<String>,
}

type Shared = Arc<Mutex<Api>>;

fn pod(name: &str, extra: Value) -> Value {
    let mut p = json!({
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"nodeName": "w1"},
        "status": {"phase": "Running"},
    });
    if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            match (p.get_mut(k), v) {
                (Some(Value::Object(into)), Value::Object(from)) => {
                    into.extend(from.clone());
                }
                _ => {
                    p.insert(k.clone(), v.clone());
                }
            }
        }
    }
    p
}

async fn handle(State(api): State<Shared>, method: Method, uri: Uri, body: Bytes) -> Response {
    let mut api = api.lock().unwrap();
    let path = uri.path().to_string();
    let query = uri
        .query()
        .map(|q| {
            percent_encoding::percent_decode_str(q)
                .decode_utf8_lossy()
                .to_string()
        })
        .unwrap_or_default();
    let line = if query.is_empty() {
        format!("{method} {path}")
    } else {
        format!("{method} {path}?{query}")
    };
    api.log.push(line);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("PATCH", ["api", "v1", "nodes", "w1"]) => {
            if !api.node_exists {
                return (StatusCode::NOT_FOUND, r#"{"kind":"Status","code":404}"#).into_response();
            }
            let patch: Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(patch, json!({"spec": {"unschedulable": true}}));
            api.cordoned = true;
            (StatusCode::OK, "{}").into_response()
        }
        ("GET", ["api", "v1", "pods"]) => {
            assert_eq!(query, "fieldSelector=spec.nodeName=w1");
            axum::Json(json!({"kind": "PodList", "items": api.pods})).into_response()
        }
        ("POST", ["api", "v1", "namespaces", ns, "pods", name, "eviction"]) => {
            let eviction: Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(eviction["apiVersion"], "policy/v1");
            assert_eq!(eviction["kind"], "Eviction");
            assert_eq!(eviction["metadata"], json!({"name": name, "namespace": ns}));
            let name = name.to_string();
            let status = api
                .evictions
                .get_mut(&name)
                .and_then(|q| q.pop_front())
                .unwrap_or(201);
            if status == 201 {
                for p in api.pods.iter_mut() {
                    if p["metadata"]["name"] == name.as_str() {
                        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                    }
                }
            }
            (
                StatusCode::from_u16(status).unwrap(),
                r#"{"kind":"Status","message":"Cannot evict pod as it would violate the pod's disruption budget."}"#,
            )
                .into_response()
        }
        ("DELETE", ["api", "v1", "nodes", "w1"]) => {
            let status = api.delete_status.unwrap_or(200);
            if status == 200 {
                api.node_exists = false;
            }
            (StatusCode::from_u16(status).unwrap(), "{}").into_response()
        }
        _ => (StatusCode::NOT_FOUND, "no such fake endpoint").into_response(),
    }
}

async fn serve(api: Shared) -> String {
    let app = axum::Router::new().fallback(handle).with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn target(server_url: String) -> ProbeTarget {
    let ca = rcgen::generate_simple_self_signed(vec!["kubernetes".to_string()]).unwrap();
    let admin = rcgen::generate_simple_self_signed(vec!["kubernetes-admin".to_string()]).unwrap();
    ProbeTarget {
        cluster: ClusterId::parse("3fa9c01b").unwrap(),
        server_url,
        ca_pem: ca.cert.pem(),
        client_cert_pem: admin.cert.pem(),
        client_key_pem: admin.signing_key.serialize_pem(),
    }
}

fn take_log(api: &Shared) -> Vec<String> {
    std::mem::take(&mut api.lock().unwrap().log)
}

#[tokio::test]
async fn cordons_evicts_waits_for_the_budget_then_deletes_the_node() {
    let api: Shared = Arc::new(Mutex::new(Api {
        node_exists: true,
        pods: vec![
            pod(
                "agent-x1",
                json!({"metadata": {"ownerReferences": [{"kind": "DaemonSet", "name": "agent"}]}}),
            ),
            pod(
                "kube-proxy-static",
                json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "abc"}}}),
            ),
            pod("batch-done", json!({"status": {"phase": "Succeeded"}})),
            pod("web-1", json!({})),
            pod("db-0", json!({})),
        ],
        evictions: BTreeMap::from([("db-0".to_string(), VecDeque::from([429]))]),
        ..Default::default()
    }));
    let t = target(serve(api.clone()).await);
    let probe = HttpsProbe;

    // First pass: cordoned, web-1 evicted, db-0 refused by its budget.
    let got = probe.drain(&t, "w1").await.unwrap();
    assert_eq!(
        got,
        DrainProgress::Pending {
            terminating: 1,
            blocked: 1
        }
    );
    assert!(api.lock().unwrap().cordoned);
    assert_eq!(
        take_log(&api),
        [
            "PATCH /api/v1/nodes/w1",
            "GET /api/v1/pods?fieldSelector=spec.nodeName=w1",
            "POST /api/v1/namespaces/shop/pods/web-1/eviction",
            "POST /api/v1/namespaces/shop/pods/db-0/eviction",
        ]
    );

    // Second pass: web-1 still terminating (not evicted again), db-0 now allowed.
    let got = probe.drain(&t, "w1").await.unwrap();
    assert_eq!(
        got,
        DrainProgress::Pending {
            terminating: 2,
            blocked: 0
        }
    );
    assert_eq!(
        take_log(&api),
        [
            "PATCH /api/v1/nodes/w1",
            "GET /api/v1/pods?fieldSelector=spec.nodeName=w1",
            "POST /api/v1/namespaces/shop/pods/db-0/eviction",
        ]
    );

    // The kubelet finishes the evicted pods; only what a drain leaves is there.
    api.lock()
        .unwrap()
        .pods
        .retain(|p| p["metadata"]["deletionTimestamp"].is_null());
    let got = probe.drain(&t, "w1").await.unwrap();
    assert_eq!(got, DrainProgress::Drained);
    assert_eq!(
        take_log(&api),
        [
            "PATCH /api/v1/nodes/w1",
            "GET /api/v1/pods?fieldSelector=spec.nodeName=w1",
            "DELETE /api/v1/nodes/w1",
        ]
    );

    // Asked again: the Node is gone.
    assert_eq!(
        probe.drain(&t, "w1").await.unwrap(),
        DrainProgress::NotRegistered
    );
    assert_eq!(take_log(&api), ["PATCH /api/v1/nodes/w1"]);
}

#[tokio::test]
async fn an_unknown_node_is_not_registered_and_refusals_are_errors() {
    let api: Shared = Arc::new(Mutex::new(Api::default()));
    let t = target(serve(api.clone()).await);
    assert_eq!(
        HttpsProbe.drain(&t, "w1").await.unwrap(),
        DrainProgress::NotRegistered
    );

    // An eviction refused for another reason than a budget is an error naming the pod.
    {
        let mut a = api.lock().unwrap();
        a.node_exists = true;
        a.pods = vec![pod("web-1", json!({}))];
        a.evictions.insert("web-1".into(), VecDeque::from([500]));
    }
    let err = HttpsProbe.drain(&t, "w1").await.unwrap_err().to_string();
    assert!(err.contains("evicting pod shop/web-1"), "{err}");
    assert!(err.contains("500"), "{err}");

    // A Node delete refused is an error too, and nothing is claimed drained.
    {
        let mut a = api.lock().unwrap();
        a.pods.clear();
        a.delete_status = Some(403);
    }
    let err = HttpsProbe.drain(&t, "w1").await.unwrap_err().to_string();
    assert!(err.contains("deleting node w1"), "{err}");
    assert!(err.contains("403"), "{err}");
    // The key never shows in an error.
    assert!(!err.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn an_api_that_does_not_answer_is_an_error() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let t = target(format!("http://{addr}"));
    let err = HttpsProbe.drain(&t, "w1").await.unwrap_err();
    assert!(err.detail.contains("cordoning node w1"), "{err}");
}
