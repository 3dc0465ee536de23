//! OAuth as MAAS checks it: every failure's status and exact body, both signature methods,
//! the header shapes real clients send, and admin-only operations.

mod sim_common;

use kubemaas::maas::ApiKey;
use kubemaas::sim::SimConfig;
use sim_common::*;

fn header(pairs: &[(&str, &str)]) -> String {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("OAuth {}", body.join(", "))
}

fn plaintext(key: &ApiKey, secret: &str, nonce: &str, ts: i64) -> String {
    header(&[
        ("oauth_consumer_key", key.consumer_key()),
        ("oauth_token", key.token_key()),
        ("oauth_signature_method", "PLAINTEXT"),
        ("oauth_signature", &format!("%26{secret}")),
        ("oauth_nonce", nonce),
        ("oauth_timestamp", &ts.to_string()),
        ("oauth_version", "1.0"),
    ])
}

async fn whoami(maas: &Maas, auth: Option<String>) -> Resp {
    maas.raw("GET", "users/", &[("op", "whoami")], Body::None, auth)
        .await
}

#[tokio::test]
async fn valid_plaintext_and_hmac_log_in() {
    let sim = start(ready_fleet(2)).await;
    let plain = Maas::new(&sim);
    let me = plain
        .get("users/", &[("op", "whoami")])
        .await
        .expect(200)
        .json();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["is_superuser"], true);
    let hmac = Maas::new(&sim).hmac();
    let me = hmac
        .get("users/", &[("op", "whoami")])
        .await
        .expect(200)
        .json();
    assert_eq!(me["username"], "admin");
    // HMAC also covers urlencoded bodies: a signed allocate goes through.
    hmac.op("machines/", "allocate", &[("cpu_count", "1")])
        .await
        .expect(200);
    let user = Maas::with_key(&sim, sim.user_api_key());
    assert_eq!(
        user.get("users/", &[("op", "whoami")]).await.json()["is_superuser"],
        false
    );
}

#[tokio::test]
async fn header_shapes_of_real_clients_are_accepted() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let k = sim.api_key();
    // The official curl example: unquoted, raw '&', no realm.
    let curl = format!(
        "OAuth oauth_version=1.0, oauth_signature_method=PLAINTEXT, oauth_consumer_key={}, oauth_token={}, oauth_signature=&{}, oauth_nonce={}, oauth_timestamp={}",
        k.consumer_key(), k.token_key(), k.token_secret(), nonce(), now()
    );
    whoami(&maas, Some(curl)).await.expect(200);
    // gomaasapi: realm "MAAS+API", every value query-escaped, another order.
    let go = format!(
        "OAuth oauth_nonce=\"{}\", realm=\"MAAS+API\", oauth_signature=\"%26{}\", oauth_timestamp=\"{}\", oauth_token=\"{}\", oauth_consumer_key=\"{}\", oauth_signature_method=\"PLAINTEXT\", oauth_version=\"1.0\"",
        nonce(), k.token_secret(), now(), k.token_key(), k.consumer_key()
    );
    whoami(&maas, Some(go)).await.expect(200);
}

#[tokio::test]
async fn every_credential_failure_has_maas_status_and_text() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let k = sim.api_key();

    let none = whoami(&maas, None).await.expect(401);
    assert_eq!(none.text, "Forbidden");
    assert!(none.content_type().starts_with("text/plain"));
    assert!(none.header("www-authenticate").is_some());

    // A header missing one of the six parameters is treated as no credentials.
    let partial = header(&[
        ("oauth_consumer_key", k.consumer_key()),
        ("oauth_token", k.token_key()),
    ]);
    assert_eq!(
        whoami(&maas, Some(partial)).await.expect(401).text,
        "Forbidden"
    );

    let wrong_consumer = ApiKey::from_parts("xxxxxxxxxxxxxxxxxx", k.token_key(), k.token_secret());
    let r = whoami(
        &maas,
        Some(plaintext(
            &wrong_consumer,
            k.token_secret(),
            &nonce(),
            now(),
        )),
    )
    .await
    .expect(401);
    assert_eq!(r.text, "Authorization Error: Invalid API key.");
    assert!(r.header("www-authenticate").unwrap().starts_with("OAuth"));

    let wrong_token = ApiKey::from_parts(k.consumer_key(), "yyyyyyyyyyyyyyyyyy", k.token_secret());
    let r = whoami(
        &maas,
        Some(plaintext(&wrong_token, k.token_secret(), &nonce(), now())),
    )
    .await
    .expect(401);
    assert_eq!(
        r.text,
        "Authorization Error: 'Invalid access token: yyyyyyyyyyyyyyyyyy'"
    );

    let r = whoami(&maas, Some(plaintext(&k, "notthesecret", &nonce(), now())))
        .await
        .expect(401);
    assert!(
        r.text
            .starts_with("Authorization Error: 'Invalid signature."),
        "{}",
        r.text
    );
    assert!(
        !r.text.contains(k.token_secret()),
        "the secret must never be echoed"
    );

    let r = whoami(
        &maas,
        Some(plaintext(&k, k.token_secret(), &nonce(), now() - 301)),
    )
    .await
    .expect(401);
    assert!(
        r.text
            .starts_with("Authorization Error: 'Expired timestamp: given "),
        "{}",
        r.text
    );
    assert!(r.text.ends_with("threshold 300'"), "{}", r.text);

    let n = nonce();
    whoami(&maas, Some(plaintext(&k, k.token_secret(), &n, now())))
        .await
        .expect(200);
    let r = whoami(&maas, Some(plaintext(&k, k.token_secret(), &n, now())))
        .await
        .expect(401);
    assert_eq!(
        r.text,
        format!("Authorization Error: 'Nonce already used: {n}'")
    );

    let bad_version = plaintext(&k, k.token_secret(), &nonce(), now())
        .replace("oauth_version=\"1.0\"", "oauth_version=\"2.0\"");
    let r = whoami(&maas, Some(bad_version)).await.expect(401);
    assert_eq!(
        r.text,
        "Authorization Error: 'OAuth version 2.0 not supported.'"
    );

    let bad_ts = plaintext(&k, k.token_secret(), &nonce(), 0)
        .replace("oauth_timestamp=\"0\"", "oauth_timestamp=\"soon\"");
    let r = whoami(&maas, Some(bad_ts)).await.expect(400);
    assert!(r.text.contains("oauth_timestamp"), "{}", r.text);
}

/// gomaasapi retries after a 503 by adding a fresh signature with `Header.Add`, so the retry
/// carries its spent header first. MAAS joins repeated headers and the later parameters win.
#[tokio::test]
async fn repeated_authorization_headers_are_read_by_the_last_one() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let k = sim.api_key();
    let n = nonce();
    let spent = plaintext(&k, k.token_secret(), &n, now());
    whoami(&maas, Some(spent.clone())).await.expect(200);

    let fresh = plaintext(&k, k.token_secret(), &nonce(), now());
    let query = [("op", "whoami")];
    let retry = maas
        .raw_auths("GET", "users/", &query, Body::None, &[spent.clone(), fresh])
        .await
        .expect(200);
    assert_eq!(retry.json()["username"], "admin");

    // The other way round the spent nonce is the one read.
    let fresh = plaintext(&k, k.token_secret(), &nonce(), now());
    let r = maas
        .raw_auths("GET", "users/", &query, Body::None, &[fresh, spent])
        .await
        .expect(401);
    assert_eq!(
        r.text,
        format!("Authorization Error: 'Nonce already used: {n}'")
    );
}

#[tokio::test]
async fn hmac_with_a_wrong_secret_or_tampered_request_fails() {
    let sim = start(ready_fleet(1)).await;
    let k = sim.api_key();
    let wrong = Maas::with_key(
        &sim,
        ApiKey::from_parts(
            k.consumer_key(),
            k.token_key(),
            "wrongwrongwrongwrongwrongwrong00",
        ),
    )
    .hmac();
    let r = wrong.get("users/", &[("op", "whoami")]).await.expect(401);
    assert!(
        r.text.starts_with(
            "Authorization Error: 'Invalid signature. Expected signature base string: GET&"
        ),
        "{}",
        r.text
    );
    // Signed for one query, sent with another.
    let good = Maas::new(&sim).hmac();
    let auth = good.auth("GET", "users/", &[("op", "whoami")], &[]);
    let r = good
        .raw(
            "GET",
            "users/",
            &[("op", "whoami"), ("x", "1")],
            Body::None,
            Some(auth),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
}

#[tokio::test]
async fn freshness_checks_can_be_switched_off() {
    let sim = start_with(
        SimConfig::with_inventory(ready_fleet(1))
            .speed(0.0)
            .check_timestamps(false)
            .check_nonces(false),
    )
    .await;
    let maas = Maas::new(&sim);
    let k = sim.api_key();
    let old = plaintext(&k, k.token_secret(), "same", now() - 10_000);
    whoami(&maas, Some(old.clone())).await.expect(200);
    whoami(&maas, Some(old)).await.expect(200);
}

#[tokio::test]
async fn anonymous_endpoints_and_anonymous_machines_handler() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let v = maas
        .raw("GET", "version/", &[], Body::None, None)
        .await
        .expect(200);
    assert!(v.json()["version"].as_str().unwrap().starts_with('3'));
    let d = maas
        .raw("GET", "describe/", &[], Body::None, None)
        .await
        .expect(200);
    assert_eq!(d.content_type(), "application/json");
    // machines/ has an anonymous handler: without credentials a plain read is not a signature.
    let r = maas
        .raw("GET", "machines/", &[], Body::None, None)
        .await
        .expect(400);
    assert_eq!(r.text, "Unrecognised signature: method=GET op=None");
    let mac = sim.machines()[0].nics[0].mac_address.clone();
    let r = maas
        .raw(
            "GET",
            "machines/",
            &[("op", "is_registered"), ("mac_address", &mac)],
            Body::None,
            None,
        )
        .await
        .expect(200);
    assert_eq!(r.json(), serde_json::json!(true));
    assert_eq!(
        maas.raw("GET", "zones/", &[], Body::None, None)
            .await
            .expect(401)
            .text,
        "Forbidden"
    );
}

#[tokio::test]
async fn admin_only_operations_are_403_for_users() {
    let sim = start(ready_fleet(2)).await;
    let admin = Maas::new(&sim);
    let user = Maas::with_key(&sim, sim.user_api_key());
    let id = sim.machines()[0].system_id.clone();
    user.put(&format!("machines/{id}/"), &[("swap_size", "0")])
        .await
        .expect(403);
    let m = admin
        .put(
            &format!("machines/{id}/"),
            &[("swap_size", "0"), ("description", "d")],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(m["swap_size"], 0);
    user.send(
        "POST",
        "dnsresources/",
        &[],
        Body::Form(&[("fqdn", "x.maas"), ("ip_addresses", "")]),
    )
    .await
    .expect(403);
    admin
        .send("POST", "tags/", &[], Body::Form(&[("name", "blue")]))
        .await
        .expect(200);
    let r = user
        .op("tags/blue/", "update_nodes", &[("add", &id)])
        .await
        .expect(403);
    assert_eq!(r.text, "Must be a superuser or supply a rack_controller");
    let r = admin
        .op("tags/blue/", "update_nodes", &[("add", &id)])
        .await
        .expect(200)
        .json();
    assert_eq!(r, serde_json::json!({"added": 1, "removed": 0}));
    // A user cannot touch a machine another user owns: it is not even visible.
    let m = admin.allocate(&[("system_id", &id)]).await;
    assert_eq!(m["owner"], "admin");
    user.get(&format!("machines/{id}/"), &[]).await.expect(404);
    let r = user
        .op(&format!("machines/{id}/"), "release", &[])
        .await
        .expect(404);
    assert_eq!(r.text, "No Machine matches the given query.");
}

#[tokio::test]
async fn issued_tokens_work_and_are_listed() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let t = maas
        .send(
            "POST",
            "account/",
            &[("op", "create_authorisation_token")],
            Body::Multipart(&[("name", "ci")]),
        )
        .await
        .expect(200)
        .json();
    let key = ApiKey::from_parts(
        t["consumer_key"].as_str().unwrap(),
        t["token_key"].as_str().unwrap(),
        t["token_secret"].as_str().unwrap(),
    );
    assert_eq!(
        (
            key.consumer_key().len(),
            key.token_key().len(),
            key.token_secret().len()
        ),
        (18, 18, 32)
    );
    let fresh = Maas::with_key(&sim, key.clone());
    assert_eq!(
        fresh
            .get("users/", &[("op", "whoami")])
            .await
            .expect(200)
            .json()["username"],
        "admin"
    );
    let list = maas
        .get("account/", &[("op", "list_authorisation_tokens")])
        .await
        .expect(200)
        .json();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "ci" && t["token"] == key.expose()));
}

#[tokio::test]
async fn credentials_may_come_as_query_parameters() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let k = sim.api_key();
    let secret = format!("&{}", k.token_secret());
    let (n, ts) = (nonce(), now().to_string());
    let q = [
        ("op", "whoami"),
        ("oauth_consumer_key", k.consumer_key()),
        ("oauth_token", k.token_key()),
        ("oauth_signature_method", "PLAINTEXT"),
        ("oauth_signature", secret.as_str()),
        ("oauth_nonce", n.as_str()),
        ("oauth_timestamp", ts.as_str()),
    ];
    let me = maas
        .raw("GET", "users/", &q, Body::None, None)
        .await
        .expect(200)
        .json();
    assert_eq!(me["username"], "admin");
    // And they are not mistaken for listing filters.
    let (n, ts) = (nonce(), now().to_string());
    let q = [
        ("oauth_consumer_key", k.consumer_key()),
        ("oauth_token", k.token_key()),
        ("oauth_signature_method", "PLAINTEXT"),
        ("oauth_signature", secret.as_str()),
        ("oauth_nonce", n.as_str()),
        ("oauth_timestamp", ts.as_str()),
    ];
    maas.raw("GET", "machines/", &q, Body::None, None)
        .await
        .expect(200);
}

#[tokio::test]
async fn debug_output_never_shows_keys() {
    let sim = start(ready_fleet(1)).await;
    Maas::new(&sim)
        .get("users/", &[("op", "whoami")])
        .await
        .expect(200);
    Maas::with_key(&sim, sim.user_api_key())
        .get("users/", &[("op", "whoami")])
        .await
        .expect(200);
    let shown = format!("{sim:?} {:?}", sim.api_key());
    let region = sim.with_region(|r| format!("{r:?}"));
    for key in [sim.api_key(), sim.user_api_key()] {
        assert!(!shown.contains(key.token_secret()));
        assert!(
            !region.contains(key.token_secret()),
            "a secret leaked into Region's Debug"
        );
        assert!(!region.contains(key.token_key()));
    }
}
