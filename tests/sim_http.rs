//! The HTTP surface: routing and its 404/400/410 texts, where `op` may come from, body
//! encodings, response headers, request counters and the control API.

mod sim_common;

use sim_common::*;

#[tokio::test]
async fn paths_need_their_trailing_slash_and_known_ops() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let r = maas.get("machines", &[]).await.expect(404);
    assert_eq!(r.text, "Unknown API endpoint: /MAAS/api/2.0/machines.");
    assert!(r.content_type().starts_with("text/plain"));
    let r = maas.get("nothing-here/", &[]).await.expect(404);
    assert_eq!(r.text, "Unknown API endpoint: /MAAS/api/2.0/nothing-here/.");
    let r = maas
        .get("machines/", &[("op", "frobnicate")])
        .await
        .expect(400);
    assert_eq!(r.text, "Unrecognised signature: method=GET op=frobnicate");
    // allocate is a POST op: as a GET it is not a signature either.
    let r = maas
        .get("machines/", &[("op", "allocate")])
        .await
        .expect(400);
    assert_eq!(r.text, "Unrecognised signature: method=GET op=allocate");
    let r = maas
        .send("DELETE", "zones/", &[], Body::None)
        .await
        .expect(400);
    assert_eq!(r.text, "Unrecognised signature: method=DELETE op=None");
}

#[tokio::test]
async fn version_endpoints() {
    let sim = start(ready_fleet(1)).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", sim.addr());
    let r = http
        .get(format!("{base}/MAAS/api/version/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "2.0");
    let r = http
        .get(format!("{base}/MAAS/api/1.0/machines/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 410);
    assert_eq!(
        r.text().await.unwrap(),
        "The 1.0 API is no longer available. Please use API version 2.0."
    );
    let v = Maas::new(&sim).get("version/", &[]).await.expect(200);
    assert_eq!(v.content_type(), "application/json; charset=utf-8");
    let v = v.json();
    assert!(v["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "authenticate-api"));
    assert!(v["subversion"].is_string());
}

#[tokio::test]
async fn op_may_come_from_query_body_or_path() {
    let sim = start(ready_fleet(3)).await;
    let maas = Maas::new(&sim);
    // query
    let a = maas
        .op("machines/", "allocate", &[])
        .await
        .expect(200)
        .json();
    // body (maas-client-go)
    let b = maas
        .send(
            "POST",
            "machines/",
            &[],
            Body::Form(&[("op", "allocate"), ("cpu_count", "1")]),
        )
        .await
        .expect(200)
        .json();
    // path suffix (MAAS >= 3.3, maas-client-go's power_on)
    let c = maas
        .send("POST", "machines/op-allocate", &[], Body::Form(&[]))
        .await
        .expect(200)
        .json();
    let ids: std::collections::HashSet<_> = [&a, &b, &c]
        .iter()
        .map(|m| m["system_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    let id = a["system_id"].as_str().unwrap();
    let on = maas
        .send(
            "POST",
            &format!("machines/{id}/op-power_on"),
            &[],
            Body::Form(&[("comment", "maas provider power on")]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(on["power_state"], "on");
    assert_eq!(
        sim.counters()
            .get("POST", "machines/{system_id}/", Some("power_on")),
        1
    );
    assert_eq!(sim.counters().get("POST", "machines/", Some("allocate")), 3);
}

#[tokio::test]
async fn multipart_base64_and_urlencoded_bodies_with_repeated_keys() {
    let sim = start(ready_fleet(4)).await;
    let maas = Maas::new(&sim);
    let admin_tags = [("name", "red")];
    maas.send("POST", "tags/", &[], Body::Multipart(&admin_tags))
        .await
        .expect(200);
    maas.send("POST", "tags/", &[], Body::Form(&[("name", "fast")]))
        .await
        .expect(200);
    let ids: Vec<String> = sim.machines().iter().map(|m| m.system_id.clone()).collect();
    maas.send(
        "POST",
        "tags/red/",
        &[("op", "update_nodes")],
        Body::Multipart(&[("add", &ids[2]), ("add", &ids[3])]),
    )
    .await
    .expect(200);
    maas.send(
        "POST",
        "tags/fast/",
        &[("op", "update_nodes")],
        Body::Form(&[("add", &ids[3]), ("add", &ids[1])]),
    )
    .await
    .expect(200);
    // Repeated tags are all-of, in a multipart body.
    let m = maas
        .send(
            "POST",
            "machines/",
            &[("op", "allocate")],
            Body::Multipart(&[("tags", "red"), ("tags", "fast")]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(m["system_id"], ids[3].as_str());
    // Repeated id= filters in the query string.
    let list = maas
        .get("machines/", &[("id", &ids[0]), ("id", &ids[2])])
        .await
        .expect(200)
        .json();
    let got: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["system_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[0].as_str(), ids[2].as_str()]);
    // StringBool: "yes" is true.
    let dry = maas
        .send(
            "POST",
            "machines/",
            &[("op", "allocate")],
            Body::Multipart(&[("dry_run", "yes")]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(dry["status"], 4, "a dry run leaves the machine Ready");
    let bad = maas
        .send(
            "POST",
            "machines/",
            &[("op", "allocate")],
            Body::Form(&[("dry_run", "perhaps")]),
        )
        .await
        .expect(400);
    assert!(bad.json()["dry_run"].is_array());
}

#[tokio::test]
async fn responses_carry_maas_headers_and_shapes() {
    let sim = start(ready_fleet(2)).await;
    let maas = Maas::new(&sim);
    let r = maas.get("machines/", &[]).await.expect(200);
    assert_eq!(r.content_type(), "application/json; charset=utf-8");
    assert_eq!(
        r.header("x-maas-api-hash").unwrap(),
        kubemaas::sim::describe::api_hash()
    );
    let r = maas
        .get("machines/", &[("colour", "blue")])
        .await
        .expect(400);
    assert!(r.content_type().starts_with("application/json"));
    assert_eq!(
        r.json(),
        serde_json::json!({"colour": ["No such constraint."]})
    );
    let r = maas.get("machines/nope/", &[]).await.expect(404);
    assert_eq!(r.text, "No Machine matches the given query.");
    assert!(r.header("x-maas-api-hash").is_some());
    // 204 with an empty body for deletes.
    let d = maas
        .send(
            "POST",
            "dnsresources/",
            &[],
            Body::Form(&[("fqdn", "api.maas"), ("ip_addresses", "10.9.9.9")]),
        )
        .await
        .expect(200)
        .json();
    let r = maas
        .delete(&format!("dnsresources/{}/", d["id"]))
        .await
        .expect(204);
    assert!(r.text.is_empty());
}

#[tokio::test]
async fn counters_in_process_and_over_http() {
    let sim = start(ready_fleet(2)).await;
    let maas = Maas::new(&sim);
    let id = sim.machines()[0].system_id.clone();
    maas.get("machines/", &[]).await.expect(200);
    maas.get(&format!("machines/{id}/"), &[]).await.expect(200);
    maas.get(&format!("machines/{id}/"), &[]).await.expect(200);
    let c = sim.counters();
    assert_eq!(c.get("GET", "machines/", None), 1);
    assert_eq!(c.get("GET", "machines/{system_id}/", None), 2);
    let rows: serde_json::Value = reqwest::get(format!("{}counters", sim.control_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["endpoint"] == "machines/{system_id}/"
            && r["count"] == 2
            && r["method"] == "GET"));
}

#[tokio::test]
async fn control_api_clock_and_errors() {
    let sim = start(ready_fleet(1)).await;
    let http = reqwest::Client::new();
    let before = sim.clock().now();
    let r: serde_json::Value = http
        .post(format!("{}clock/advance?seconds=90", sim.control_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sim.clock().now() - before, chrono::Duration::seconds(90));
    assert_eq!(r["speed"], 0.0);
    let r = http
        .post(format!("{}clock/advance?seconds=soon", sim.control_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = http
        .get(format!("{}nothing", sim.control_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // The control API is outside /MAAS/: no OAuth needed, and MAAS paths are not under it.
    let r = http
        .get(format!("{}clock", sim.control_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn graceful_shutdown_stops_serving() {
    let sim = start(ready_fleet(1)).await;
    let addr = sim.addr();
    sim.shutdown().await;
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/MAAS/api/2.0/version/"))
        .send()
        .await;
    assert!(r.is_err(), "nothing listens after shutdown");
}

#[tokio::test]
async fn the_handle_gives_a_client_ready_endpoint() {
    let sim = start(ready_fleet(1)).await;
    let ep = sim.endpoint();
    assert_eq!(ep.api_base().as_str(), sim.api_url());
    assert!(sim.url().ends_with("/MAAS/"));
}

#[tokio::test]
async fn python_libmaas_empty_multipart_body_is_no_fields() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let id = maas.allocate(&[]).await["system_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("machines/{id}/");
    let auth = maas.auth("POST", &path, &[("op", "power_on")], &[]);
    // Exactly what python-libmaas's encode_multipart_data({}, {}) produces.
    let resp = maas
        .http
        .post(format!("{}/MAAS/api/2.0/{path}?op=power_on", maas.origin))
        .header("Authorization", auth)
        .header("Content-Type", "multipart/form-data; boundary=\"===============4931482669551315264==\"")
        .body("--===============4931482669551315264==\r\n\r\n--===============4931482669551315264==--")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.text().await.unwrap()
    );
    assert_eq!(sim.machine(&id).unwrap().power_state.as_str(), "on");
}
