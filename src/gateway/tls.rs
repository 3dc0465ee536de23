//! The rustls configurations of both ends (ring provider, set explicitly so no process-wide
//! default is needed):
//!
//! * the gateway's server: its server certificate, and client certificates *requested* but not
//!   required at the handshake — only the pairing endpoint may be reached without one, which
//!   the server checks per request. A presented certificate must chain to the gateway's CA,
//!   so a foreign certificate ends the handshake.
//! * a paired console: trusts only the pinned gateway CA and shows its client certificate.
//! * a pairing console: trusts nothing yet; it records the certificate it is shown (after
//!   checking the handshake signature, so the peer does hold that certificate's key) so the
//!   pairing proof can be bound to it.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, Mutex, PoisonError};

/// The crypto every kubemaas TLS end uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const ALPN_HTTP1: &[u8] = b"http/1.1";

/// A TLS configuration could not be built; says which and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS ({what}): {reason}")]
pub struct TlsSetupError {
    pub what: &'static str,
    pub reason: String,
}

fn setup(what: &'static str) -> impl FnOnce(rustls::Error) -> TlsSetupError {
    move |e| TlsSetupError {
        what,
        reason: e.to_string(),
    }
}

fn roots(ca: &CertificateDer<'static>, what: &'static str) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).map_err(setup(what))?;
    Ok(roots)
}

/// The gateway server's configuration.
pub fn server_config(
    ca: &CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, TlsSetupError> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(ca, "the gateway CA")?),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| TlsSetupError {
        what: "client certificate checks",
        reason: e.to_string(),
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup("protocol versions"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(setup("the server certificate"))?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}

/// Trusts exactly one CA, whatever name the gateway was dialled by: the CA is the gateway's
/// own and signs nothing but that gateway's certificates, so the pin is the identity check,
/// and an operator may reach the gateway by any address (NAT, a new DNS name) without
/// re-issuing certificates.
#[derive(Debug)]
struct PinnedCa {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn pinned_verifier(ca: &CertificateDer<'static>) -> Result<Arc<PinnedCa>, TlsSetupError> {
    let inner = WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots(ca, "the pinned gateway CA")?),
        provider(),
    )
    .build()
    .map_err(|e| TlsSetupError {
        what: "the pinned gateway CA",
        reason: e.to_string(),
    })?;
    Ok(Arc::new(PinnedCa { inner }))
}

/// A paired console's configuration: the pinned CA, and its client certificate.
pub fn pinned_client_config(
    ca: &CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ClientConfig, TlsSetupError> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(setup("protocol versions"))?
        .dangerous()
        .with_custom_certificate_verifier(pinned_verifier(ca)?)
        .with_client_auth_cert(chain, key)
        .map_err(setup("the client certificate"))?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}

/// A configuration that pins the CA but shows no client certificate (to check that the
/// gateway refuses such a console, and to reach the pairing endpoint of a known gateway).
pub fn pinned_anonymous_config(
    ca: &CertificateDer<'static>,
) -> Result<rustls::ClientConfig, TlsSetupError> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(setup("protocol versions"))?
        .dangerous()
        .with_custom_certificate_verifier(pinned_verifier(ca)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}

/// Whether `end_entity` is a server certificate issued by `ca` (names not checked; see
/// [`PinnedCa`]).
pub fn issued_by(ca: &CertificateDer<'static>, end_entity: &CertificateDer<'_>) -> bool {
    let Ok(verifier) = pinned_verifier(ca) else {
        return false;
    };
    let Ok(name) = ServerName::try_from("gateway.invalid") else {
        return false;
    };
    verifier
        .verify_server_cert(end_entity, &[], &name, &[], UnixTime::now())
        .is_ok()
}

/// The certificates a pairing connection was shown, in order.
#[derive(Debug, Clone, Default)]
pub struct SeenCertificates(Arc<Mutex<Vec<CertificateDer<'static>>>>);

impl SeenCertificates {
    pub fn all(&self) -> Vec<CertificateDer<'static>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Accepts any certificate and records it: used only to pair, where the certificate is
/// checked afterwards by the pairing proof, never trusted for itself.
#[derive(Debug)]
struct Recording {
    seen: SeenCertificates,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.seen
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(end_entity.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }

    // The handshake signatures are checked for real: they prove the peer holds the key of
    // the certificate recorded above.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A pairing console's configuration and what it records.
pub fn recording_client_config() -> Result<(rustls::ClientConfig, SeenCertificates), TlsSetupError>
{
    let provider = provider();
    let seen = SeenCertificates::default();
    let verifier = Arc::new(Recording {
        seen: seen.clone(),
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup("protocol versions"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok((config, seen))
}
