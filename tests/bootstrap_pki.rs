//! The cluster PKI and admin kubeconfig, checked with the real openssl.

mod bootstrap_support;

use base64::Engine;
use bootstrap_support::{plan, require_tool, run, run_ok};
use kubemaas::bootstrap::{admin_kubeconfig, ClusterSecrets, Kubeconfig, ADMIN_CN, ADMIN_ORG};
use std::path::Path;

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.to_str().unwrap().to_string()
}

fn openssl() -> std::path::PathBuf {
    require_tool("openssl")
}

fn secrets() -> ClusterSecrets {
    ClusterSecrets::generate(&plan("1.30.2", false)).unwrap()
}

#[test]
fn admin_certificate_verifies_against_the_cluster_ca() {
    let openssl = openssl();
    let s = secrets();
    let admin = s.issue_admin_certificate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.crt", &s.ca.cert_pem);
    let crt = write(dir.path(), "admin.crt", &admin.cert_pem);
    let out = run_ok(&openssl, &["verify", "-CAfile", &ca, &crt]);
    assert!(out.contains(": OK"), "{out}");

    let text = run_ok(&openssl, &["x509", "-noout", "-text", "-in", &crt]);
    let subject = text
        .lines()
        .find(|l| l.trim_start().starts_with("Subject:"))
        .unwrap();
    assert!(subject.contains(&format!("CN = {ADMIN_CN}")), "{subject}");
    assert!(subject.contains(&format!("O = {ADMIN_ORG}")), "{subject}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("Issuer: CN = kubernetes"), "{text}");
    assert!(
        text.contains("CA:FALSE") || !text.contains("CA:TRUE"),
        "{text}"
    );
    // A client identity: no subject alternative names.
    assert!(!text.contains("Subject Alternative Name"), "{text}");

    // The key belongs to the certificate.
    let key = write(dir.path(), "admin.key", &admin.key_pem);
    let from_cert = run_ok(&openssl, &["x509", "-noout", "-pubkey", "-in", &crt]);
    let from_key = run_ok(&openssl, &["pkey", "-pubout", "-in", &key]);
    assert_eq!(from_cert, from_key);

    // Signed by the cluster CA only: another CA does not verify it.
    let etcd = write(dir.path(), "etcd-ca.crt", &s.etcd_ca.cert_pem);
    assert!(!run(&openssl, &["verify", "-CAfile", &etcd, &crt])
        .status
        .success());
}

#[test]
fn every_ca_is_a_self_signed_ca_with_its_key() {
    let openssl = openssl();
    let s = secrets();
    let dir = tempfile::tempdir().unwrap();
    for (name, pair, cn) in [
        ("ca", &s.ca, "kubernetes"),
        ("etcd-ca", &s.etcd_ca, "etcd-ca"),
        ("front-proxy-ca", &s.front_proxy_ca, "front-proxy-ca"),
    ] {
        let crt = write(dir.path(), &format!("{name}.crt"), &pair.cert_pem);
        let key = write(dir.path(), &format!("{name}.key"), &pair.key_pem);
        let out = run_ok(&openssl, &["verify", "-CAfile", &crt, &crt]);
        assert!(out.contains(": OK"), "{out}");
        let text = run_ok(&openssl, &["x509", "-noout", "-text", "-in", &crt]);
        assert!(text.contains(&format!("Subject: CN = {cn}")), "{text}");
        assert!(text.contains("CA:TRUE"), "{text}");
        assert!(text.contains("Certificate Sign"), "{text}");
        let from_cert = run_ok(&openssl, &["x509", "-noout", "-pubkey", "-in", &crt]);
        let from_key = run_ok(&openssl, &["pkey", "-pubout", "-in", &key]);
        assert_eq!(
            from_cert, from_key,
            "{name} key does not match its certificate"
        );
        // Valid now and for years: `-checkend` seconds ahead (nine years).
        let out = run(
            &openssl,
            &["x509", "-noout", "-checkend", "283824000", "-in", &crt],
        );
        assert!(out.status.success(), "{name} expires within nine years");
    }
}

#[test]
fn service_account_public_key_matches_the_private_key() {
    let openssl = openssl();
    let s = secrets();
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "sa.key", &s.service_account.private_key_pem);
    let derived = run_ok(&openssl, &["pkey", "-pubout", "-in", &key]);
    assert_eq!(derived, s.service_account.public_key_pem);
}

#[test]
fn discovery_hash_equals_openssls() {
    let openssl = openssl();
    let sha256sum = require_tool("sha256sum");
    let s = secrets();
    let dir = tempfile::tempdir().unwrap();
    let crt = write(dir.path(), "ca.crt", &s.ca.cert_pem);
    let pubkey = write(
        dir.path(),
        "ca.pub",
        &run_ok(&openssl, &["x509", "-pubkey", "-noout", "-in", &crt]),
    );
    let der = dir.path().join("ca.pub.der");
    let der = der.to_str().unwrap();
    run_ok(
        &openssl,
        &[
            "pkey", "-pubin", "-in", &pubkey, "-outform", "der", "-out", der,
        ],
    );
    let sum = run_ok(&sha256sum, &[der]);
    let hex = sum.split_whitespace().next().unwrap();
    assert_eq!(s.ca_cert_hash, format!("sha256:{hex}"));
}

#[test]
fn admin_kubeconfig_has_the_expected_structure() {
    let openssl = openssl();
    let p = plan("1.31.1", false);
    let s = ClusterSecrets::generate(&p).unwrap();
    let text = admin_kubeconfig(&s, &p).unwrap();
    let cfg: Kubeconfig = serde_yaml::from_str(&text).unwrap();
    assert_eq!(cfg.api_version, "v1");
    assert_eq!(cfg.kind, "Config");
    assert_eq!(cfg.clusters.len(), 1);
    assert_eq!(cfg.clusters[0].name, "prod-eu1");
    assert_eq!(cfg.clusters[0].cluster.server, "https://10.20.0.250:6443");
    assert_eq!(cfg.current_context, "kubernetes-admin@prod-eu1");
    assert_eq!(cfg.contexts[0].name, cfg.current_context);
    assert_eq!(cfg.contexts[0].context.cluster, "prod-eu1");
    assert_eq!(cfg.contexts[0].context.user, "kubernetes-admin");
    assert_eq!(cfg.users[0].name, "kubernetes-admin");

    // The untyped view uses kubectl's exact key names.
    let raw: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert!(raw["clusters"][0]["cluster"]["certificate-authority-data"].is_string());
    assert!(raw["users"][0]["user"]["client-certificate-data"].is_string());
    assert!(raw["users"][0]["user"]["client-key-data"].is_string());
    assert!(raw["current-context"].is_string());
    assert_eq!(
        raw["apiVersion"].as_str(),
        Some("v1"),
        "kubectl reads apiVersion, camelCase"
    );
    assert_eq!(raw["kind"].as_str(), Some("Config"));

    let b64 = |s: &str| {
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
    };
    assert_eq!(
        b64(&cfg.clusters[0].cluster.certificate_authority_data),
        s.ca.cert_pem
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.crt", &s.ca.cert_pem);
    let crt = write(
        dir.path(),
        "client.crt",
        &b64(&cfg.users[0].user.client_certificate_data),
    );
    let key = write(
        dir.path(),
        "client.key",
        &b64(&cfg.users[0].user.client_key_data),
    );
    run_ok(&openssl, &["verify", "-CAfile", &ca, &crt]);
    assert_eq!(
        run_ok(&openssl, &["x509", "-noout", "-pubkey", "-in", &crt]),
        run_ok(&openssl, &["pkey", "-pubout", "-in", &key])
    );
}

#[test]
fn ipv6_endpoints_are_bracketed_in_the_kubeconfig() {
    let mut p = plan("1.30.2", false);
    p.endpoint_host = "fd00:20::250".into();
    p.vip = None;
    p.node_subnet = None;
    let s = ClusterSecrets::generate(&p).unwrap();
    let cfg: Kubeconfig = serde_yaml::from_str(&admin_kubeconfig(&s, &p).unwrap()).unwrap();
    assert_eq!(
        cfg.clusters[0].cluster.server,
        "https://[fd00:20::250]:6443"
    );
}

#[test]
fn secrets_round_trip_through_serde_and_debug_hides_them() {
    let s = secrets();
    let json = serde_json::to_string(&s).unwrap();
    let back: ClusterSecrets = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    // The reloaded CA still signs certificates that verify.
    back.issue_admin_certificate().unwrap();

    let debug = format!("{s:?}");
    for secret in [
        s.ca.key_pem.as_str(),
        s.etcd_ca.key_pem.as_str(),
        s.front_proxy_ca.key_pem.as_str(),
        s.service_account.private_key_pem.as_str(),
    ] {
        let body = secret.lines().nth(1).unwrap();
        assert!(!debug.contains(body), "a private key leaked into Debug");
    }
    assert!(!debug.contains(&s.bootstrap_token.expose()));
    assert!(!debug.contains("PRIVATE KEY"));
    let admin = s.issue_admin_certificate().unwrap();
    assert!(!format!("{admin:?}").contains("PRIVATE KEY"));
}

#[test]
fn token_shape_and_renewal() {
    let mut s = secrets();
    let re_ok = |t: &str| {
        let (id, secret) = t.split_once('.').unwrap();
        id.len() == 6
            && secret.len() == 16
            && t.bytes()
                .all(|b| b == b'.' || b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let before = s.bootstrap_token.expose();
    assert!(re_ok(&before), "{before:?} has the wrong shape");
    let ca_before = s.ca.clone();
    let renewed = s.renew_token().expose();
    assert!(re_ok(&renewed));
    assert_ne!(renewed, before);
    assert_eq!(s.ca, ca_before, "renewing the token must not touch the CA");
}

#[test]
fn corrupted_stored_keys_give_a_typed_error_without_key_material() {
    let mut s = secrets();
    s.ca.key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
    let err = s.issue_admin_certificate().unwrap_err().to_string();
    assert!(err.contains("cluster CA key"), "{err}");
    assert!(!err.contains("AAAA"), "{err}");
}
