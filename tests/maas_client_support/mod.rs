//! A small stand-in MAAS for client tests: an axum server on 127.0.0.1:0 that records every
//! request and answers what the test's responder says.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use kubemaas::maas::{ApiKey, Endpoint, MaasClient, MaasConfig, RetryPolicy};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An 18:18:32 key whose parts are easy to search for in outputs.
pub const CONSUMER: &str = "consumerKEY1234567";
pub const TOKEN: &str = "tokenKEY1234567890";
pub const SECRET: &str = "secretSECRET1234567890abcdefghij";

pub fn test_key() -> ApiKey {
    ApiKey::from_parts(CONSUMER, TOKEN, SECRET)
}

/// True if `text` shows any part of the test key.
pub fn leaks_key(text: &str) -> bool {
    text.contains(SECRET) || text.contains(TOKEN) || text.contains(CONSUMER)
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub raw_query: Option<String>,
    pub host: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn query(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.raw_query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }

    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    pub fn query_values(&self, key: &str) -> Vec<String> {
        values(&self.query(), key)
    }

    pub fn form_values(&self, key: &str) -> Vec<String> {
        values(&self.form(), key)
    }

    /// The OAuth header's parameters, unquoted.
    pub fn oauth_params(&self) -> Vec<(String, String)> {
        let header = self.authorization.as_deref().unwrap_or("");
        let rest = header.strip_prefix("OAuth ").unwrap_or("");
        rest.split(", ")
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect()
    }
}

fn values(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// Never answer (for timeouts).
    pub hang: bool,
}

impl Canned {
    pub fn json(value: serde_json::Value) -> Self {
        Canned {
            status: 200,
            headers: vec![("content-type", "application/json; charset=utf-8".into())],
            body: value.to_string(),
            hang: false,
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Canned {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: body.to_string(),
            hang: false,
        }
    }

    pub fn status(status: u16) -> Self {
        Canned {
            status,
            headers: Vec::new(),
            body: String::new(),
            hang: false,
        }
    }

    pub fn hang() -> Self {
        Canned {
            hang: true,
            ..Canned::status(200)
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
}

type Responder = dyn Fn(&Recorded, usize) -> Canned + Send + Sync;

struct Shared {
    log: Mutex<Vec<Recorded>>,
    responder: Box<Responder>,
}

/// The running stand-in.
pub struct TestMaas {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl TestMaas {
    /// Serves on 127.0.0.1:0; `responder(request, index)` gets the 0-based request number.
    pub async fn start(
        responder: impl Fn(&Recorded, usize) -> Canned + Send + Sync + 'static,
    ) -> Self {
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            responder: Box::new(responder),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestMaas { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}/MAAS", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn config(&self) -> MaasConfig {
        let mut c = MaasConfig::new(Endpoint::parse(&self.url()).unwrap(), test_key());
        c.retry = RetryPolicy::immediate(3);
        c.timeout = Duration::from_secs(20);
        c
    }

    /// A client with 3 immediate attempts.
    pub fn client(&self) -> MaasClient {
        MaasClient::new(self.config()).unwrap()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let rec = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        raw_query: parts.uri.query().map(str::to_string),
        host: header("host"),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body,
    };
    let index = {
        let mut log = shared.log.lock().unwrap();
        log.push(rec.clone());
        log.len() - 1
    };
    let canned = (shared.responder)(&rec, index);
    if canned.hang {
        std::future::pending::<()>().await;
    }
    let mut builder = Response::builder().status(canned.status);
    for (k, v) in &canned.headers {
        builder = builder.header(*k, v.as_str());
    }
    builder.body(Body::from(canned.body)).unwrap()
}

/// A machine as MAAS 3.x renders it (the fields kubemaas reads, plus a few it does not).
pub fn machine_json(system_id: &str, status: u8, status_name: &str) -> serde_json::Value {
    serde_json::json!({
        "system_id": system_id,
        "hostname": format!("node-{system_id}"),
        "fqdn": format!("node-{system_id}.maas"),
        "status": status,
        "status_name": status_name,
        "status_message": null,
        "cpu_count": 8,
        "memory": 32768,
        "storage": 1000204.886016,
        "architecture": "amd64/generic",
        "zone": {"id": 1, "name": "default", "description": "", "resource_uri": "/MAAS/api/2.0/zones/default/"},
        "pool": {"id": 0, "name": "default", "description": "Default pool", "resource_uri": "/MAAS/api/2.0/resourcepool/0/"},
        "tag_names": ["k8s"],
        "ip_addresses": [],
        "power_state": "off",
        "power_type": "ipmi",
        "osystem": "",
        "distro_series": "",
        "owner": null,
        "owner_data": {},
        "locked": false,
        "interface_set": [],
        "physicalblockdevice_set": [{"id": 1, "name": "sda", "size": 1000204886016u64, "model": "QEMU", "tags": ["ssd"]}],
        "netboot": true,
        "node_type": 0,
        "hardware_info": {"system_vendor": "QEMU"},
        "resource_uri": format!("/MAAS/api/2.0/machines/{system_id}/")
    })
}

/// A port on 127.0.0.1 nothing listens on.
pub async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}
