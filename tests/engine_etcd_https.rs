//! `HttpsProbe`'s etcd calls against a fake etcd JSON gateway on 127.0.0.1 over real mutual
//! TLS: the server's certificate is signed by the cluster's etcd CA and it requires a client
//! certificate from that CA, as kubeadm's etcd does. Checked: the request sequence (member list,
//! then remove with the id as a decimal string), the client certificate the engine issues from
//! the etcd CA presented on every call, a member already gone as success, failover past an
//! endpoint that is down, and refusals: a server not signed by the etcd CA, a client
//! certificate from another CA, an error that is not etcd's.

mod bootstrap_support;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use kubemaas::bootstrap::{CaKeyPair, ClusterSecrets, ETCD_CA_CN};
use kubemaas::engine::{EtcdTarget, HttpsProbe, KubeProbe, MemberRemoval};
use kubemaas::gateway::server::{PeerInfo, TlsListener};
use kubemaas::store::ClusterId;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const ID_1: u64 = 10501334649042878790;
const ID_2: u64 = 2;
const ID_3: u64 = 18446744073709551615;

struct Fake {
    members: Vec<(u64, &'static str, &'static str)>,
    /// Answer every remove with this (status, body) instead of acting.
    remove_answer: Option<(u16, String)>,
    /// `METHOD path body` of every request that got through the handshake.
    log: Vec<String>,
    /// The fingerprint of the client certificate each request came with.
    peers: Vec<Option<[u8; 32]>>,
}

type Shared = Arc<Mutex<Fake>>;

fn list(fake: &Fake) -> Value {
    let members: Vec<Value> = fake
        .members
        .iter()
        .map(|(id, name, ip)| {
            json!({
                "ID": id.to_string(),
                "name": name,
                "peerURLs": [format!("https://{ip}:2380")],
                "clientURLs": [format!("https://{ip}:2379")],
            })
        })
        .collect();
    json!({"header": {"cluster_id": "14841639068965178418", "member_id": ID_1.to_string()}, "members": members})
}

async fn handle(
    State(fake): State<Shared>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    fake.log.push(
        format!("{method} {} {}", uri.path(), String::from_utf8_lossy(&body))
            .trim_end()
            .to_string(),
    );
    fake.peers.push(peer.console.map(|c| c.fingerprint));
    match (method.as_str(), uri.path()) {
        ("POST", "/v3/cluster/member/list") => {
            (StatusCode::OK, list(&fake).to_string()).into_response()
        }
        ("POST", "/v3/cluster/member/remove") => {
            if let Some((status, body)) = fake.remove_answer.clone() {
                return (StatusCode::from_u16(status).unwrap(), body).into_response();
            }
            let asked: Value = serde_json::from_slice(&body).unwrap_or_default();
            let id: Option<u64> = asked["ID"].as_str().and_then(|s| s.parse().ok());
            match fake.members.iter().position(|m| Some(m.0) == id) {
                Some(i) => {
                    fake.members.remove(i);
                    (StatusCode::OK, list(&fake).to_string()).into_response()
                }
                None => (
                    StatusCode::NOT_FOUND,
                    r#"{"error":"etcdserver: member not found","code":5,"message":"etcdserver: member not found"}"#,
                )
                    .into_response(),
            }
        }
        _ => (StatusCode::NOT_FOUND, "404 page not found").into_response(),
    }
}

fn secrets() -> ClusterSecrets {
    ClusterSecrets::generate(&bootstrap_support::plan("1.30.2", false)).unwrap()
}

/// kubeadm's etcd serving certificate for a node at 127.0.0.1, signed by `ca` (whose subject
/// CN is `ca_cn`).
fn server_cert(ca: &CaKeyPair, ca_cn: &str) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut ca_params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, ca_cn);
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let issuer = Issuer::new(ca_params, KeyPair::from_pem(&ca.key_pem).unwrap());

    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "cp-1");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![
        SanType::DnsName("cp-1".try_into().unwrap()),
        SanType::IpAddress("127.0.0.1".parse().unwrap()),
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
}

/// A fake etcd on 127.0.0.1:0 serving `cert`, requiring clients certified by `client_ca`.
async fn serve(
    fake: Shared,
    cert: (CertificateDer<'static>, PrivateKeyDer<'static>),
    client_ca: &str,
) -> String {
    let provider = kubemaas::gateway::tls::provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(client_ca.as_bytes()).unwrap())
        .unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert.0], cert.1)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = TlsListener::start(tcp, Arc::new(config)).unwrap();
    let addr = axum::serve::Listener::local_addr(&listener)
        .unwrap()
        .remote
        .to_string();
    let app = Router::new().fallback(handle).with_state(fake);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<PeerInfo>(),
        )
        .await
    });
    format!("https://{addr}")
}

/// A fake etcd as kubeadm sets it up: serving a certificate from the etcd CA and taking only
/// clients certified by it.
async fn kubeadm_etcd(s: &ClusterSecrets, api: &Shared) -> String {
    serve(
        api.clone(),
        server_cert(&s.etcd_ca, ETCD_CA_CN),
        &s.etcd_ca.cert_pem,
    )
    .await
}

fn fake() -> Shared {
    Arc::new(Mutex::new(Fake {
        members: vec![
            (ID_1, "cp-1", "10.20.0.11"),
            (ID_2, "cp-2", "10.20.0.12"),
            (ID_3, "cp-3", "10.20.0.13"),
        ],
        remove_answer: None,
        log: Vec::new(),
        peers: Vec::new(),
    }))
}

fn target(s: &ClusterSecrets, endpoints: Vec<String>) -> (EtcdTarget, [u8; 32]) {
    let client = s.issue_etcd_client_certificate().unwrap();
    let der = CertificateDer::from_pem_slice(client.cert_pem.as_bytes()).unwrap();
    (
        EtcdTarget {
            cluster: ClusterId::parse("3fa9c01b").unwrap(),
            endpoints,
            ca_pem: s.etcd_ca.cert_pem.clone(),
            client_cert_pem: client.cert_pem,
            client_key_pem: client.key_pem,
        },
        kubemaas::gateway::fingerprint(&der),
    )
}

/// An address nothing listens on.
async fn closed_endpoint() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("https://{addr}")
}

#[tokio::test]
async fn lists_then_removes_with_the_etcd_client_certificate() {
    let s = secrets();
    let api = fake();
    let url = kubeadm_etcd(&s, &api).await;
    let (t, fingerprint) = target(&s, vec![url]);
    assert!(!format!("{t:?}").contains("PRIVATE KEY"), "{t:?}");
    let probe = HttpsProbe;

    let members = probe.etcd_members(&t).await.unwrap();
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    assert_eq!(ids, [ID_1, ID_2, ID_3]);
    let cp3 = members
        .iter()
        .find(|m| m.is_node("cp-3", Some("10.20.0.13")))
        .unwrap();
    assert_eq!(cp3.peer_urls, ["https://10.20.0.13:2380"]);

    assert_eq!(
        probe.etcd_remove_member(&t, ID_3).await.unwrap(),
        MemberRemoval::Removed
    );
    // Gone already: etcd's NotFound is success.
    assert_eq!(
        probe.etcd_remove_member(&t, ID_3).await.unwrap(),
        MemberRemoval::NotFound
    );
    let fake = api.lock().unwrap();
    assert_eq!(
        fake.log,
        [
            "POST /v3/cluster/member/list {}".to_string(),
            format!(r#"POST /v3/cluster/member/remove {{"ID":"{ID_3}"}}"#),
            format!(r#"POST /v3/cluster/member/remove {{"ID":"{ID_3}"}}"#),
        ]
    );
    assert!(
        fake.peers.iter().all(|p| *p == Some(fingerprint)),
        "every call shows the etcd client certificate"
    );
    assert_eq!(fake.members.len(), 2);
}

#[tokio::test]
async fn an_endpoint_that_is_down_is_skipped_and_etcd_errors_are_reported() {
    let s = secrets();
    let api = fake();
    let url = kubeadm_etcd(&s, &api).await;
    let (t, _) = target(&s, vec![closed_endpoint().await, url.clone()]);
    let probe = HttpsProbe;
    assert_eq!(probe.etcd_members(&t).await.unwrap().len(), 3);
    assert_eq!(
        probe.etcd_remove_member(&t, ID_2).await.unwrap(),
        MemberRemoval::Removed
    );

    // etcd refuses (a quorum check): an error with etcd's message, not "already gone".
    api.lock().unwrap().remove_answer = Some((
        400,
        r#"{"error":"etcdserver: re-configuration failed due to not enough started members","code":9,"message":"etcdserver: re-configuration failed due to not enough started members"}"#.into(),
    ));
    let e = probe.etcd_remove_member(&t, ID_1).await.unwrap_err();
    assert!(e.to_string().contains("not enough started members"), "{e}");
    // A 404 that is not etcd's (a wrong port, a proxy) is not "already removed" either.
    api.lock().unwrap().remove_answer = Some((404, "404 page not found".into()));
    let e = probe.etcd_remove_member(&t, ID_1).await.unwrap_err();
    assert!(e.to_string().contains("404"), "{e}");

    // No endpoint at all, or none up: an error that says so.
    let (none, _) = target(&s, vec![]);
    let e = probe.etcd_members(&none).await.unwrap_err();
    assert!(e.to_string().contains("no control-plane node"), "{e}");
    let (down, _) = target(&s, vec![closed_endpoint().await]);
    let e = probe.etcd_members(&down).await.unwrap_err();
    assert!(e.to_string().contains("no etcd endpoint answered"), "{e}");
}

#[tokio::test]
async fn a_server_not_signed_by_the_etcd_ca_is_refused() {
    let s = secrets();
    let api = fake();
    // Signed by the cluster (Kubernetes) CA, not the etcd CA.
    let url = serve(
        api.clone(),
        server_cert(&s.ca, "kubernetes"),
        &s.etcd_ca.cert_pem,
    )
    .await;
    let (t, _) = target(&s, vec![url]);
    let e = HttpsProbe.etcd_members(&t).await.unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    assert!(api.lock().unwrap().log.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_gets_nothing() {
    let s = secrets();
    let api = fake();
    let url = kubeadm_etcd(&s, &api).await;
    let (mut t, _) = target(&s, vec![url]);
    // The admin certificate is signed by the cluster CA: etcd does not take it.
    let admin = s.issue_admin_certificate().unwrap();
    t.client_cert_pem = admin.cert_pem;
    t.client_key_pem = admin.key_pem;
    assert!(HttpsProbe.etcd_members(&t).await.is_err());
    assert!(HttpsProbe.etcd_remove_member(&t, ID_1).await.is_err());
    let fake = api.lock().unwrap();
    assert!(fake.log.is_empty(), "{:?}", fake.log);
    assert_eq!(fake.members.len(), 3);
}
