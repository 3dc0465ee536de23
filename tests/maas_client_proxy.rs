//! HTTP_PROXY is honoured for a remote MAAS, and never used for a loopback one. One test in
//! its own binary, because it sets process-wide environment variables.

mod maas_client_support;

use kubemaas::maas::*;
use maas_client_support::*;
use serde_json::json;

#[tokio::test]
async fn proxies_are_used_for_remote_maas_but_never_for_loopback() {
    let maas = TestMaas::start(|_, _| {
        Canned::json(json!({"version": "3.5.4-direct", "subversion": "", "capabilities": []}))
    })
    .await;
    // The "proxy" is another stand-in on loopback: a proxied request reaches it in absolute form.
    let proxy = TestMaas::start(|_, _| {
        Canned::json(json!({"version": "3.5.4-proxied", "subversion": "", "capabilities": []}))
    })
    .await;
    let proxy_url = format!("http://{}", proxy.addr);
    for var in ["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"] {
        std::env::remove_var(var);
    }
    std::env::set_var("HTTP_PROXY", &proxy_url);
    std::env::set_var("http_proxy", &proxy_url);

    let direct = maas.client().version().await.unwrap();
    assert_eq!(
        direct.version, "3.5.4-direct",
        "loopback bypasses the proxy"
    );
    assert!(proxy.requests().is_empty());

    // `.invalid` never resolves: the only way this request can be answered is via the proxy.
    let mut config = MaasConfig::new(
        Endpoint::parse("http://maas.example.invalid:5240/MAAS").unwrap(),
        test_key(),
    );
    config.retry = RetryPolicy::never();
    let proxied = MaasClient::new(config).unwrap().version().await.unwrap();
    assert_eq!(proxied.version, "3.5.4-proxied");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/MAAS/api/2.0/version/");
    assert_eq!(seen[0].host.as_deref(), Some("maas.example.invalid:5240"));
    assert!(seen[0]
        .authorization
        .as_deref()
        .unwrap_or("")
        .starts_with("OAuth "));
}
