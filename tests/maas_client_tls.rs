//! TLS towards MAAS: verified by default, a private CA via `ca_cert`, an explicit insecure
//! opt-out, and CA files that cannot be used named in the error.

mod maas_client_support;

use kubemaas::maas::*;
use maas_client_support::{leaks_key, test_key};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A private CA and a server certificate for 127.0.0.1 signed by it.
struct Pki {
    ca_pem: String,
    server_cert: rustls::pki_types::CertificateDer<'static>,
    server_key: Vec<u8>,
}

fn make_pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kubemaas test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server_cert: leaf.der().clone(),
        server_key: leaf_key.serialize_der(),
    }
}

/// An HTTPS server on 127.0.0.1:0 answering every request with MAAS's version JSON.
async fn start_tls_server(pki: &Pki) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(pki.server_key.clone().into());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.server_cert.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust us aborts the handshake: nothing to do then.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = r#"{"version": "3.5.4", "subversion": "", "capabilities": []}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn config(port: u16, tls: TlsOptions) -> MaasConfig {
    let mut c = MaasConfig::new(
        Endpoint::parse(&format!("https://127.0.0.1:{port}/MAAS")).unwrap(),
        test_key(),
    );
    c.retry = RetryPolicy::never();
    c.tls = tls;
    c
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

#[tokio::test]
async fn certificates_are_verified_by_default_and_a_private_ca_is_trusted() {
    let pki = make_pki();
    let port = start_tls_server(&pki).await;

    let untrusted = MaasClient::new(config(port, TlsOptions::default())).unwrap();
    let e = untrusted.version().await.unwrap_err();
    assert!(matches!(e, MaasError::Tls { .. }), "{e:?}");
    let s = e.to_string();
    assert!(s.contains("--ca-cert"), "{s}");
    assert!(!leaks_key(&format!("{s} {e:?}")));

    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let trusted = MaasClient::new(config(
        port,
        TlsOptions {
            ca_cert: Some(ca),
            insecure_skip_tls_verify: false,
        },
    ))
    .unwrap();
    assert_eq!(trusted.version().await.unwrap().version, "3.5.4");
}

#[tokio::test]
async fn the_insecure_opt_out_accepts_any_certificate() {
    let pki = make_pki();
    let port = start_tls_server(&pki).await;
    let insecure = MaasClient::new(config(
        port,
        TlsOptions {
            ca_cert: None,
            insecure_skip_tls_verify: true,
        },
    ))
    .unwrap();
    assert_eq!(insecure.version().await.unwrap().version, "3.5.4");
}

#[test]
fn unusable_ca_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let with_ca = |path: PathBuf| {
        MaasClient::new(config(
            1,
            TlsOptions {
                ca_cert: Some(path),
                insecure_skip_tls_verify: false,
            },
        ))
        .unwrap_err()
    };

    let missing = dir.path().join("missing-ca.pem");
    let e = with_ca(missing.clone());
    assert!(
        matches!(e, ClientConfigError::CaCertUnreadable { .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );

    let not_pem = write(dir.path(), "notes.txt", "this is not a certificate\n");
    let e = with_ca(not_pem.clone());
    assert!(
        matches!(e, ClientConfigError::CaCertInvalid { .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&not_pem.display().to_string()),
        "{e}"
    );
    assert!(e.to_string().contains("BEGIN CERTIFICATE"), "{e}");

    let bad_base64 = write(
        dir.path(),
        "bad64.pem",
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    );
    let e = with_ca(bad_base64.clone());
    assert!(
        matches!(e, ClientConfigError::CaCertInvalid { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("bad64.pem"), "{e}");

    // Well-formed PEM whose content is not a certificate.
    let not_der = write(
        dir.path(),
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQsIHRoaXMgaXMgbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    );
    let e = with_ca(not_der);
    assert!(
        matches!(e, ClientConfigError::CaCertInvalid { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("garbage.pem"), "{e}");

    let pem = write(dir.path(), "ca.pem", &make_pki().ca_pem);
    let e = MaasClient::new(config(
        1,
        TlsOptions {
            ca_cert: Some(pem),
            insecure_skip_tls_verify: true,
        },
    ))
    .unwrap_err();
    assert!(matches!(e, ClientConfigError::CaAndInsecure), "{e:?}");
}
