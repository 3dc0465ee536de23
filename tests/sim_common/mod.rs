//! Shared by the tests/sim_*.rs suites: a controlled inventory, a frozen-clock simulator, and a
//! tiny signing MAAS client on reqwest (the real client is built elsewhere; these tests must not
//! depend on it).
#![allow(dead_code)]

use base64::Engine;
use kubemaas::maas::{ApiKey, NodeStatus, PowerState};
use kubemaas::sim::auth::{oauth_encode, sign_hmac_sha1};
use kubemaas::sim::model::SimInventory;
use kubemaas::sim::{self, SimConfig, SimHandle};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

pub mod k8s;

/// A generated region whose machines are all Ready, unowned, powered off and unlocked, with
/// the hardware spelled out so constraint tests know exactly what matches:
/// machine i has i+2 cores, (i+1)×4 GiB, zone az-1 for even i else az-2, pool default, no tags,
/// one disk of (i+1)×100 GB.
pub fn ready_fleet(n: usize) -> SimInventory {
    let mut inv = kubemaas::sim::inventory::generate(n, 42);
    assert_eq!(
        inv.machines.len(),
        n,
        "the generator must honour the machine count"
    );
    for (i, m) in inv.machines.iter_mut().enumerate() {
        m.status = NodeStatus::Ready;
        m.status_message = None;
        m.owner = None;
        m.owner_data.clear();
        m.agent_name.clear();
        m.osystem.clear();
        m.distro_series.clear();
        m.hwe_kernel = None;
        m.locked = false;
        m.power_state = PowerState::Off;
        m.error_description.clear();
        m.cpu_count = (i + 2) as u32;
        m.memory_mib = (i as u64 + 1) * 4096;
        m.architecture = "amd64/generic".into();
        m.zone = if i % 2 == 0 {
            "az-1".into()
        } else {
            "az-2".into()
        };
        m.pool = "default".into();
        m.tags.clear();
        let mut disk = m.disks[0].clone();
        disk.size_bytes = (i as u64 + 1) * 100_000_000_000;
        disk.tags = vec!["ssd".into()];
        m.disks = vec![disk];
        for nic in &mut m.nics {
            nic.ip_address = None;
        }
        assert!(
            m.nics.iter().any(|n| n.subnet_id.is_some()),
            "machines need a linked NIC to deploy"
        );
    }
    inv
}

/// A simulator with a frozen clock over `inv`.
pub async fn start(inv: SimInventory) -> SimHandle {
    start_with(SimConfig::with_inventory(inv).speed(0.0)).await
}

pub async fn start_with(config: SimConfig) -> SimHandle {
    sim::start(config)
        .await
        .expect("simulator starts on 127.0.0.1:0")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Plaintext,
    Hmac,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} (status {})", self.text, self.status))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }

    /// Asserts the status, showing the body when it differs.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "body: {}", self.text);
        self
    }
}

static NONCE: AtomicU64 = AtomicU64::new(1);

pub fn nonce() -> String {
    format!(
        "n{}x{}",
        NONCE.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    )
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A minimal signed MAAS client.
#[derive(Clone)]
pub struct Maas {
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    pub key: ApiKey,
    pub sig: Sig,
}

pub enum Body<'a> {
    None,
    Form(&'a [(&'a str, &'a str)]),
    /// multipart with every part base64-encoded, as python-libmaas sends it.
    Multipart(&'a [(&'a str, &'a str)]),
}

impl Maas {
    pub fn new(sim: &SimHandle) -> Self {
        Maas::with_key(sim, sim.api_key())
    }

    pub fn with_key(sim: &SimHandle, key: ApiKey) -> Self {
        Maas {
            http: reqwest::Client::new(),
            origin: format!("http://{}", sim.addr()),
            key,
            sig: Sig::Plaintext,
        }
    }

    pub fn hmac(mut self) -> Self {
        self.sig = Sig::Hmac;
        self
    }

    /// The OAuth header for a request to `path` (under /MAAS/api/2.0/).
    pub fn auth(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> String {
        let mut oauth: Vec<(String, String)> = vec![
            ("oauth_consumer_key".into(), self.key.consumer_key().into()),
            ("oauth_token".into(), self.key.token_key().into()),
            ("oauth_nonce".into(), nonce()),
            ("oauth_timestamp".into(), now().to_string()),
            ("oauth_version".into(), "1.0".into()),
        ];
        let signature = match self.sig {
            Sig::Plaintext => {
                oauth.push(("oauth_signature_method".into(), "PLAINTEXT".into()));
                format!("&{}", self.key.token_secret())
            }
            Sig::Hmac => {
                oauth.push(("oauth_signature_method".into(), "HMAC-SHA1".into()));
                let own = |v: &[(&str, &str)]| -> Vec<(String, String)> {
                    v.iter()
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .collect()
                };
                sign_hmac_sha1(
                    self.key.token_secret(),
                    method,
                    &format!("{}/MAAS/api/2.0/{path}", self.origin),
                    &oauth,
                    &own(query),
                    &own(form),
                )
            }
        };
        oauth.push(("oauth_signature".into(), signature));
        let mut header = String::from("OAuth realm=\"OAuth\"");
        for (k, v) in oauth {
            header.push_str(&format!(", {k}=\"{}\"", oauth_encode(&v)));
        }
        header
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Body<'_>,
    ) -> Resp {
        let form: &[(&str, &str)] = match &body {
            Body::Form(f) => f,
            _ => &[],
        };
        let auth = self.auth(method, path, query, form);
        self.raw(method, path, query, body, Some(auth)).await
    }

    /// A request with exactly the given Authorization header (or none).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Body<'_>,
        auth: Option<String>,
    ) -> Resp {
        let auths: Vec<String> = auth.into_iter().collect();
        self.raw_auths(method, path, query, body, &auths).await
    }

    /// [`Maas::raw`] with any number of `Authorization` headers, in order (a retrying
    /// gomaasapi sends two).
    pub async fn raw_auths(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Body<'_>,
        auths: &[String],
    ) -> Resp {
        let url = format!("{}/MAAS/api/2.0/{path}", self.origin);
        let mut req = self
            .http
            .request(method.parse().expect("method"), &url)
            .query(query);
        // RequestBuilder::header appends, so repeated headers all go out.
        for a in auths {
            req = req.header("Authorization", a);
        }
        req = match body {
            Body::None => req,
            Body::Form(f) => req
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(f).expect("form")),
            Body::Multipart(f) => {
                let boundary = "kubemaasTestBoundary";
                let mut text = String::new();
                for (k, v) in f {
                    text.push_str(&format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                        base64::engine::general_purpose::STANDARD.encode(v)
                    ));
                }
                text.push_str(&format!("--{boundary}--\r\n"));
                req.header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(text)
            }
        };
        let resp = req.send().await.expect("request reaches the simulator");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        Resp {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Resp {
        self.send("GET", path, query, Body::None).await
    }

    /// POST with an urlencoded body (gomaasapi's way), `op` in the query string.
    pub async fn op(&self, path: &str, op: &str, form: &[(&str, &str)]) -> Resp {
        self.send("POST", path, &[("op", op)], Body::Form(form))
            .await
    }

    pub async fn put(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send("PUT", path, &[], Body::Form(form)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, &[], Body::None).await
    }

    pub async fn machine(&self, system_id: &str) -> Value {
        self.get(&format!("machines/{system_id}/"), &[])
            .await
            .expect(200)
            .json()
    }

    /// Allocates with the given constraints and returns the machine JSON.
    pub async fn allocate(&self, form: &[(&str, &str)]) -> Value {
        self.op("machines/", "allocate", form)
            .await
            .expect(200)
            .json()
    }
}

/// The control API.
pub async fn advance(sim: &SimHandle, seconds: f64) {
    let resp = reqwest::Client::new()
        .post(format!(
            "{}clock/advance?seconds={seconds}",
            sim.control_url()
        ))
        .send()
        .await
        .expect("control API");
    assert_eq!(resp.status().as_u16(), 200);
}

pub fn status(v: &Value) -> u64 {
    v["status"]
        .as_u64()
        .unwrap_or_else(|| panic!("no status in {v}"))
}
