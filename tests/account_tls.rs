//! `kubemaas account add` towards an https MAAS: an untrusted certificate is refused by name,
//! a private CA given with --ca-cert is stored with the account and used again by `validate`.
//! The MAAS is the simulator behind a TLS-terminating proxy on loopback.

mod sim_common;

use sim_common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use tokio_rustls::rustls;

/// A private CA (PEM) and a server certificate + key for 127.0.0.1 signed by it.
fn make_pki() -> (
    String,
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kubemaas account test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    (
        ca_cert.pem(),
        leaf.der().clone(),
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
}

/// Terminates TLS on 127.0.0.1:0 and forwards the bytes to `upstream`.
async fn tls_proxy(
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    upstream: SocketAddr,
) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate aborts the handshake.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    port
}

async fn km(state: &Path, args: &[&str], key: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_kubemaas"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("MAAS_URL")
        .env_remove("KUBEMAAS_STATE_DIR")
        .env("MAAS_API_KEY", key)
        .output()
        .await
        .unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn https_maas_needs_its_ca_and_keeps_it() {
    let sim = start(ready_fleet(1)).await;
    let (ca_pem, cert, key) = make_pki();
    let port = tls_proxy(cert, key, sim.addr()).await;
    let url = format!("https://127.0.0.1:{port}/MAAS/");
    let api_key = sim.api_key().expose();
    let state = tempfile::tempdir().unwrap();

    let untrusted = km(
        state.path(),
        &["account", "add", "tls", "--endpoint", &url],
        &api_key,
    )
    .await;
    assert!(!untrusted.status.success());
    let e = err(&untrusted);
    assert!(e.contains("is not trusted"), "{e}");
    assert!(e.contains("Nothing was saved"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("maas-ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let ca = ca_file.display().to_string();
    // Trusted now, but a wrong key: refused, and no CA file is left behind for it.
    let wrong = km(
        state.path(),
        &[
            "account",
            "add",
            "tls",
            "--endpoint",
            &url,
            "--ca-cert",
            &ca,
        ],
        "WrongConsumerKey12:WrongTokenKeyAbc12:WrongSecretWrongSecretWrongSecr",
    )
    .await;
    assert!(!wrong.status.success());
    assert!(
        err(&wrong).contains("refused the API key"),
        "{}",
        err(&wrong)
    );
    assert!(!state.path().join("ca").join("tls.pem").exists());
    let added = km(
        state.path(),
        &[
            "account",
            "add",
            "tls",
            "--endpoint",
            &url,
            "--ca-cert",
            &ca,
        ],
        &api_key,
    )
    .await;
    assert!(added.status.success(), "{}", err(&added));

    // The CA lives in the store: validate works with the original file gone.
    std::fs::remove_file(&ca_file).unwrap();
    assert!(state.path().join("ca").join("tls.pem").exists());
    let validated = km(state.path(), &["account", "validate", "tls"], "").await;
    assert!(validated.status.success(), "{}", err(&validated));
    let show = km(state.path(), &["account", "show", "tls", "-o", "json"], "").await;
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(v["ca_cert"], true);

    // A CA for an http endpoint is a mistake the account model catches before any request.
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let http_with_ca = km(
        state.path(),
        &[
            "account",
            "add",
            "plain",
            "--endpoint",
            &sim.url(),
            "--ca-cert",
            &ca,
        ],
        &api_key,
    )
    .await;
    assert!(!http_with_ca.status.success());
    assert!(
        err(&http_with_ca).contains("spec.caCert"),
        "{}",
        err(&http_with_ca)
    );
}
