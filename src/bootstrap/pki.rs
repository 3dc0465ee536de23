//! The per-cluster secrets kubeadm would otherwise generate on the first node: three CAs, the
//! service-account key pair and a bootstrap token. Making them up front lets every control-plane
//! node receive the same material in its user-data, and lets kubemaas build the admin kubeconfig
//! and the joiners' discovery hash without ever reading anything back from a node.
//!
//! Keys are ECDSA P-256: kubeadm and kube-apiserver accept ECDSA for CAs and service-account
//! signing, and rcgen's ring backend can generate it (it cannot generate RSA).

use super::error::BootstrapError;
use super::token::BootstrapToken;
use chrono::{Datelike, Months, NaiveDate, Utc};
use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Subject common names kubeadm itself gives these CAs; kept so the cluster looks like any
/// kubeadm cluster to tools and operators.
pub const CLUSTER_CA_CN: &str = "kubernetes";
pub const ETCD_CA_CN: &str = "etcd-ca";
pub const FRONT_PROXY_CA_CN: &str = "front-proxy-ca";
/// The admin client identity. `system:masters` bypasses RBAC: this is the break-glass credential
/// kubemaas keeps in its store, and works before kubeadm has created any RBAC binding.
pub const ADMIN_CN: &str = "kubernetes-admin";
pub const ADMIN_ORG: &str = "system:masters";

/// kubeadm's CA lifetime.
const CA_VALIDITY_MONTHS: u32 = 120;
/// kubeadm's leaf lifetime; the engine reissues the admin certificate when it nears expiry.
const CLIENT_VALIDITY_MONTHS: u32 = 12;

/// A CA certificate and its private key, PEM.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaKeyPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for CaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaKeyPair")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The service-account token signing key (`sa.key`) and its public half (`sa.pub`), PEM.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountKeys {
    pub private_key_pem: String,
    pub public_key_pem: String,
}

impl fmt::Debug for ServiceAccountKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKeys")
            .field("private_key_pem", &"<redacted>")
            .field("public_key_pem", &self.public_key_pem)
            .finish()
    }
}

/// Everything secret a cluster is bootstrapped with. Serialisable (PEM strings) for the store,
/// which must keep it in a 0600 file or an encrypted column; `Debug` shows no private key or
/// token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSecrets {
    pub ca: CaKeyPair,
    pub etcd_ca: CaKeyPair,
    pub front_proxy_ca: CaKeyPair,
    pub service_account: ServiceAccountKeys,
    pub bootstrap_token: BootstrapToken,
    /// `sha256:<hex>` over the cluster CA's DER SubjectPublicKeyInfo, as joiners check it.
    pub ca_cert_hash: String,
}

/// A client certificate and its key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl ClusterSecrets {
    /// Makes a cluster's secrets. The plan is not consulted beyond logging: the CA subjects are
    /// kubeadm's fixed names, and the endpoint only matters for certificates kubeadm issues.
    pub fn generate(plan: &super::ClusterPlan) -> Result<Self, BootstrapError> {
        let today = Utc::now().date_naive();
        let ca = make_ca(CLUSTER_CA_CN, today)?;
        let ca_cert_hash = discovery_hash(&ca.1);
        let etcd_ca = make_ca(ETCD_CA_CN, today)?.0;
        let front_proxy_ca = make_ca(FRONT_PROXY_CA_CN, today)?.0;
        let sa = new_key("service-account key")?;
        tracing::info!(
            cluster = %plan.cluster_name,
            "generated cluster CAs, service-account key and bootstrap token"
        );
        Ok(ClusterSecrets {
            ca: ca.0,
            etcd_ca,
            front_proxy_ca,
            service_account: ServiceAccountKeys {
                private_key_pem: sa.serialize_pem(),
                public_key_pem: sa.public_key_pem(),
            },
            bootstrap_token: BootstrapToken::generate(),
            ca_cert_hash,
        })
    }

    /// Replaces the bootstrap token, for joining nodes after the first token expired. The new
    /// token only works once it exists in the cluster (a `bootstrap-token-<id>` Secret in
    /// kube-system), which the engine creates through the API before deploying the new nodes.
    pub fn renew_token(&mut self) -> &BootstrapToken {
        self.bootstrap_token = BootstrapToken::generate();
        &self.bootstrap_token
    }

    /// Issues the admin client certificate (CN kubernetes-admin, O system:masters), signed by
    /// the cluster CA, valid from yesterday (clock skew) for a year.
    pub fn issue_admin_certificate(&self) -> Result<ClientCertificate, BootstrapError> {
        issue_client_certificate(
            &self.ca,
            CLUSTER_CA_CN,
            ADMIN_CN,
            Some(ADMIN_ORG),
            (
                "cluster CA key",
                "admin client key",
                "admin client certificate",
            ),
        )
    }

    /// Issues a client certificate for etcd (CN [`ETCD_CLIENT_CN`]), signed by the etcd CA:
    /// kubeadm's etcd verifies its clients against `etcd/ca.crt` and has no auth of its own,
    /// so this lets the engine change the cluster's membership (remove a leaving member).
    pub fn issue_etcd_client_certificate(&self) -> Result<ClientCertificate, BootstrapError> {
        issue_client_certificate(
            &self.etcd_ca,
            ETCD_CA_CN,
            ETCD_CLIENT_CN,
            None,
            ("etcd CA key", "etcd client key", "etcd client certificate"),
        )
    }
}

/// The etcd client identity kubemaas uses to manage membership.
pub const ETCD_CLIENT_CN: &str = "kubemaas-etcd-client";

/// A client-auth certificate signed by `ca` (whose subject CN is `ca_cn`), valid from
/// yesterday (clock skew) for a year. `what`: names of the CA key, the new key and the new
/// certificate for error messages.
fn issue_client_certificate(
    ca: &CaKeyPair,
    ca_cn: &str,
    cn: &str,
    org: Option<&str>,
    what: (&'static str, &'static str, &'static str),
) -> Result<ClientCertificate, BootstrapError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|e| BootstrapError::InvalidSecrets {
        what: what.0,
        reason: e.to_string(),
    })?;
    // rcgen cannot parse certificates back without an extra feature, so the issuer is
    // rebuilt from the subject we gave the CA; the resulting issuer name and authority key
    // id are byte-identical to the CA certificate's (the tests check with openssl verify).
    let issuer = Issuer::new(ca_params(ca_cn, Utc::now().date_naive())?, ca_key);

    let today = Utc::now().date_naive();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    if let Some(org) = org {
        dn.push(DnType::OrganizationName, org);
    }
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    set_validity(&mut params, today, CLIENT_VALIDITY_MONTHS)?;

    let key = new_key(what.1)?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| BootstrapError::crypto(what.2, e))?;
    Ok(ClientCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// `sha256:<hex>` of a public key's DER SubjectPublicKeyInfo: kubeadm's `caCertHashes` format.
fn discovery_hash(key: &KeyPair) -> String {
    let digest = Sha256::digest(key.subject_public_key_info());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn new_key(what: &'static str) -> Result<KeyPair, BootstrapError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| BootstrapError::crypto(what, e))
}

fn make_ca(cn: &'static str, today: NaiveDate) -> Result<(CaKeyPair, KeyPair), BootstrapError> {
    let key = new_key(cn)?;
    let mut params = ca_params(cn, today)?;
    params.serial_number = Some(random_serial());
    let cert = params
        .self_signed(&key)
        .map_err(|e| BootstrapError::crypto("CA certificate", e))?;
    Ok((
        CaKeyPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
        key,
    ))
}

fn ca_params(cn: &str, today: NaiveDate) -> Result<CertificateParams, BootstrapError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    set_validity(&mut params, today, CA_VALIDITY_MONTHS)?;
    Ok(params)
}

fn set_validity(
    params: &mut CertificateParams,
    today: NaiveDate,
    months: u32,
) -> Result<(), BootstrapError> {
    let start = today.pred_opt().unwrap_or(today);
    let end = today
        .checked_add_months(Months::new(months))
        .ok_or_else(|| BootstrapError::Crypto {
            what: "certificate validity",
            reason: format!("{today} plus {months} months is out of range"),
        })?;
    // rcgen takes `time` dates; going through its helper avoids a direct dependency on `time`.
    let ymd = |d: NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    params.not_before = ymd(start);
    params.not_after = ymd(end);
    Ok(())
}

/// A positive 127-bit serial: RFC 5280 wants unique, positive, at most 20 octets.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}
