//! The gateway's PKI: its own CA (created on first start, key 0600 in the gateway's state dir),
//! a server certificate for the names it is reached by, and the client certificates it issues
//! to paired consoles. Every key is ECDSA P-256; fingerprints are SHA-256 of the DER.
//!
//! Consoles pin the CA, not the server certificate, so the server certificate is simply made
//! anew on every start (its names follow the configuration) and its key never touches disk.

use chrono::{Datelike, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber, SignatureAlgorithm,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const CA_KEY_FILE: &str = "ca.key";
const CA_CERT_FILE: &str = "ca.pem";
const CA_YEARS: i32 = 10;
const LEAF_YEARS: i32 = 2;

/// The length of an uncompressed P-256 public key (0x04 ‖ X ‖ Y).
pub const P256_PUBLIC_KEY_LEN: usize = 65;

/// What can go wrong with the gateway's keys and certificates. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot {action} {path}: {source} (check the gateway state dir's owner and permissions, or pass --state-dir DIR)")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable {what}: {reason} (if the gateway's CA is damaged, move the pki directory away: a new CA is created on start, and every console must pair again)")]
    Damaged {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("cannot create a certificate ({0}): report this as a kubemaas bug")]
    Generate(String),
    #[error("the console's public key is not an uncompressed P-256 key ({reason}): pair with a kubemaas console of the same version")]
    BadPublicKey { reason: String },
}

fn generate_err(e: rcgen::Error) -> PkiError {
    PkiError::Generate(e.to_string())
}

/// SHA-256 of a certificate's DER.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// A fingerprint as people compare it: `SHA256:AB:CD:…`.
pub fn fingerprint_text(fp: &[u8; 32]) -> String {
    let hex: Vec<String> = fp.iter().map(|b| format!("{b:02X}")).collect();
    format!("SHA256:{}", hex.join(":"))
}

/// A console's public key, as the CA signs it into a client certificate.
struct ConsoleKey<'a>(&'a [u8]);

impl PublicKeyData for ConsoleKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// Checks that a console's public key is an uncompressed P-256 point: the shape, then that
/// the point lies on the curve. The pairing endpoint calls this before it spends a code, so a
/// malformed key costs the console nothing and the gateway never signs garbage.
pub fn check_console_key(raw: &[u8]) -> Result<(), PkiError> {
    if raw.len() != P256_PUBLIC_KEY_LEN || raw[0] != 0x04 {
        return Err(PkiError::BadPublicKey {
            reason: format!(
                "{} bytes, expected {P256_PUBLIC_KEY_LEN} starting with 0x04",
                raw.len()
            ),
        });
    }
    // ring validates a peer's point (coordinates in range, on the curve, not the identity)
    // when it agrees a key with it; an ephemeral key of our own makes that check usable here.
    use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
    let rng = ring::rand::SystemRandom::new();
    let ours =
        EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| PkiError::BadPublicKey {
            reason: "no randomness to check it with".into(),
        })?;
    agree_ephemeral(ours, &UnparsedPublicKey::new(&ECDH_P256, raw), |_| ()).map_err(|_| {
        PkiError::BadPublicKey {
            reason: "it is not a point of the P-256 curve".into(),
        }
    })
}

/// The gateway's CA and current server certificate.
pub struct GatewayPki {
    dir: PathBuf,
    ca_key: KeyPair,
    ca_params: CertificateParams,
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    server_der: CertificateDer<'static>,
    server_key: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for GatewayPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayPki")
            .field("dir", &self.dir)
            .field("ca", &fingerprint_text(&self.ca_fingerprint()))
            .field("server", &fingerprint_text(&self.server_fingerprint()))
            .finish_non_exhaustive()
    }
}

/// Validity from today (midnight UTC) for `years`.
fn validity(params: &mut CertificateParams, years: i32) {
    let today = Utc::now().date_naive();
    let (y, m, d) = (today.year(), today.month() as u8, today.day() as u8);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    // 28 keeps the date valid in every month.
    params.not_after = rcgen::date_time_ymd(y + years, m, d.min(28));
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // A positive INTEGER: keep the top bit clear.
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// The CA's parameters, derived from its key alone: restarting rebuilds the same issuer name
/// and key identifier without parsing the stored certificate.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let id: String = fingerprint(key.public_key_raw())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "kubemaas");
    dn.push(DnType::CommonName, format!("kubemaas gateway CA {id}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

fn write_private(path: &Path, text: &str) -> Result<(), PkiError> {
    crate::paths::write_private_file(path, text.as_bytes()).map_err(|source| PkiError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the first certificate of a PEM text.
pub fn cert_from_pem(pem: &str, path: &Path) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::Damaged {
        path: path.to_path_buf(),
        what: "PEM certificate",
        reason: e.to_string(),
    })
}

/// Reads a PEM private key. The reason never quotes the file.
pub fn key_from_pem(pem: &str, path: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| PkiError::Damaged {
        path: path.to_path_buf(),
        what: "PEM private key",
        reason: "no PKCS#8 private key could be read from it".into(),
    })
}

impl GatewayPki {
    /// Loads the CA from `dir` (creating it, 0700, with a new CA on first start) and issues a
    /// fresh server certificate for `names` (host names and IP addresses).
    pub fn load_or_create(dir: &Path, names: &[String]) -> Result<GatewayPki, PkiError> {
        crate::paths::create_private_dir(dir).map_err(|e| PkiError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let key_path = dir.join(CA_KEY_FILE);
        let cert_path = dir.join(CA_CERT_FILE);
        let (key_pem, cert_pem) = if key_path.exists() {
            (read(&key_path)?, read(&cert_path)?)
        } else {
            let (key_pem, cert_pem) = Self::new_ca()?;
            // The key first: a certificate without its key would be useless, the reverse
            // is retried by the next start.
            write_private(&key_path, &key_pem)?;
            write_private(&cert_path, &cert_pem)?;
            tracing::info!(dir = %dir.display(), "gateway CA created");
            (key_pem, cert_pem)
        };
        Self::from_ca(dir, &key_pem, &cert_pem, names)
    }

    /// A new CA, as (private key, certificate) PEM texts: what a replicated gateway's first
    /// node stores for every node to share.
    pub fn new_ca() -> Result<(String, String), PkiError> {
        let key = KeyPair::generate().map_err(generate_err)?;
        let mut params = ca_params(&key);
        validity(&mut params, CA_YEARS);
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key).map_err(generate_err)?;
        Ok((key.serialize_pem(), cert.pem()))
    }

    /// The gateway of the CA `key_pem`/`cert_pem` (from files or the replicated store), with
    /// a fresh server certificate for `names`. `dir` only names where the CA came from in
    /// messages.
    pub fn from_ca(
        dir: &Path,
        key_pem: &str,
        cert_pem: &str,
        names: &[String],
    ) -> Result<GatewayPki, PkiError> {
        let key_path = dir.join(CA_KEY_FILE);
        let cert_path = dir.join(CA_CERT_FILE);
        let ca_key = KeyPair::from_pem(key_pem).map_err(|_| PkiError::Damaged {
            path: key_path.clone(),
            what: "CA private key",
            reason: "it does not hold a PEM private key".into(),
        })?;
        let ca_params = ca_params(&ca_key);
        let ca_der = cert_from_pem(cert_pem, &cert_path)?;
        let mut pki = GatewayPki {
            dir: dir.to_path_buf(),
            ca_key,
            ca_params,
            ca_der,
            ca_pem: cert_pem.to_string(),
            server_der: CertificateDer::from(Vec::new()),
            server_key: PrivatePkcs8KeyDer::from(Vec::new()),
        };
        pki.issue_server(names)?;
        Ok(pki)
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.ca_params, &self.ca_key)
    }

    fn issue_server(&mut self, names: &[String]) -> Result<(), PkiError> {
        let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        for n in names {
            if !n.is_empty() && !all.contains(n) {
                all.push(n.clone());
            }
        }
        let mut params = CertificateParams::new(all).map_err(generate_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "kubemaas");
        dn.push(DnType::CommonName, "kubemaas gateway");
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        validity(&mut params, LEAF_YEARS);
        let key = KeyPair::generate().map_err(generate_err)?;
        let cert = params
            .signed_by(&key, &self.issuer())
            .map_err(generate_err)?;
        self.server_der = cert.der().clone();
        self.server_key = PrivatePkcs8KeyDer::from(key.serialize_der());
        Ok(())
    }

    /// Issues a client certificate for a paired console's public key (raw P-256 point).
    pub fn issue_client(&self, console: &str, public_key: &[u8]) -> Result<String, PkiError> {
        check_console_key(public_key)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "kubemaas consoles");
        dn.push(DnType::CommonName, console);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        validity(&mut params, LEAF_YEARS);
        let cert = params
            .signed_by(&ConsoleKey(public_key), &self.issuer())
            .map_err(generate_err)?;
        Ok(cert.pem())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    pub fn ca_fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.ca_der)
    }

    pub fn server_der(&self) -> &CertificateDer<'static> {
        &self.server_der
    }

    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.server_key.clone_key())
    }

    /// The fingerprint pairing proofs are bound to.
    pub fn server_fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.server_der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_key_must_be_a_p256_point() {
        let real = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        assert!(check_console_key(real.public_key_raw()).is_ok());
        // The right length and prefix, but not on the curve: refused.
        let mut forged = vec![0x04];
        forged.extend([0x01; 64]);
        let e = check_console_key(&forged).unwrap_err().to_string();
        assert!(e.contains("not a point of the P-256 curve"), "{e}");
        // A coordinate changed by one bit falls off the curve too.
        let mut bent = real.public_key_raw().to_vec();
        bent[64] ^= 1;
        assert!(check_console_key(&bent).is_err());
        assert!(check_console_key(&[0x04; 10]).is_err());
    }

    #[test]
    fn the_ca_is_created_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let pki_dir = dir.path().join("pki");
        let first = GatewayPki::load_or_create(&pki_dir, &["gw.example".into()]).unwrap();
        let again = GatewayPki::load_or_create(&pki_dir, &[]).unwrap();
        assert_eq!(first.ca_fingerprint(), again.ca_fingerprint());
        // The server certificate is made anew; its issuer stays the same CA.
        assert_ne!(first.server_fingerprint(), again.server_fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&pki_dir.join(CA_KEY_FILE)), 0o600);
            assert_eq!(mode(&pki_dir), 0o700);
        }
        assert!(!format!("{first:?}").contains("PRIVATE"));
    }

    #[test]
    fn client_certificates_need_a_p256_key() {
        let dir = tempfile::tempdir().unwrap();
        let pki = GatewayPki::load_or_create(dir.path(), &[]).unwrap();
        let console = KeyPair::generate().unwrap();
        let pem = pki
            .issue_client("laptop", console.public_key_raw())
            .unwrap();
        assert!(pem.contains("BEGIN CERTIFICATE"));
        assert!(matches!(
            pki.issue_client("laptop", b"short"),
            Err(PkiError::BadPublicKey { .. })
        ));
    }

    #[test]
    fn fingerprints_read_as_people_compare_them() {
        let text = fingerprint_text(&[0xab; 32]);
        assert!(text.starts_with("SHA256:AB:AB"));
        assert_eq!(text.len(), "SHA256:".len() + 32 * 3 - 1);
    }
}
