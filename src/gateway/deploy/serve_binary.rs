//! `--serve-binary ADDR`: the console serves its own kubemaas binary over HTTP while the nodes
//! install, for sites with no file server. Plain HTTP is enough: the node checks the download
//! against the SHA-256 the console put in its user-data (which reaches it over MAAS's signed
//! metadata channel), so a tampered file is refused.

use super::error::DeployError;
use axum::body::Bytes;
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::Path;

/// The path the binary is served at.
pub const BINARY_ROUTE: &str = "/kubemaas";

/// A running binary server; dropping it stops serving.
pub struct BinaryServer {
    pub url: String,
    pub sha256: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// SHA-256 of `bytes` as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Serves `file` at `http://ADDR/kubemaas` until the returned server is dropped. `addr` must be
/// an address the nodes reach this host at (port 0 picks a free port).
pub async fn serve_binary(addr: SocketAddr, file: &Path) -> Result<BinaryServer, DeployError> {
    let fail = |reason: String| DeployError::Serve {
        addr: addr.to_string(),
        reason,
    };
    if addr.ip().is_unspecified() {
        return Err(fail("the nodes download from this address, so it must be one they reach this console at, like 10.0.0.5:8080 (not 0.0.0.0)".into()));
    }
    let bytes = std::fs::read(file).map_err(|e| {
        fail(format!(
            "cannot read the binary to serve, {} ({e})",
            file.display()
        ))
    })?;
    let sha256 = sha256_hex(&bytes);
    let body = Bytes::from(bytes);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        fail(format!(
            "cannot listen there ({e}): pick a free port on an address of this host"
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| fail(format!("cannot read the bound address ({e})")))?;
    let app = axum::Router::new().route(
        BINARY_ROUTE,
        get(move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
                    body,
                )
            }
        }),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "serving the kubemaas binary stopped");
        }
    });
    tracing::info!(%local, "serving the kubemaas binary to gateway nodes");
    Ok(BinaryServer {
        url: format!("http://{local}{BINARY_ROUTE}"),
        sha256,
        stop: Some(tx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_file_with_its_digest_and_refuses_the_any_address() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kubemaas");
        std::fs::write(&file, b"binary bytes").unwrap();
        let server = serve_binary(SocketAddr::from(([127, 0, 0, 1], 0)), &file)
            .await
            .unwrap();
        assert_eq!(server.sha256, sha256_hex(b"binary bytes"));
        let got = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(&server.url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&got[..], b"binary bytes");
        let err = serve_binary(SocketAddr::from(([0, 0, 0, 0], 0)), &file)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("not 0.0.0.0"), "{err}");
    }
}
