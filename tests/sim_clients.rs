//! The request sequences of the Go clients kubemaas replaces, replayed with their exact
//! encodings: the Cluster API provider (maas-client-go: HMAC-SHA1, urlencoded, op in the body or
//! the path, PUT signed without its body) and Juju's gomaasapi (PLAINTEXT, op in the query,
//! repeated keys, follow-ups through `resource_uri`).

mod sim_common;

use base64::Engine;
use serde_json::json;
use sim_common::*;

/// maas-client-go signs a PUT without its body parameters.
async fn mcg_put(maas: &Maas, path: &str, form: &[(&str, &str)]) -> Resp {
    let auth = maas.auth("PUT", path, &[], &[]);
    maas.raw("PUT", path, &[], Body::Form(form), Some(auth))
        .await
}

#[tokio::test]
async fn cluster_api_provider_sequence() {
    let sim = start(ready_fleet(3)).await;
    let maas = Maas::new(&sim).hmac();
    let fqdn = "c1-x7k2pq.maas";
    // Cluster: find or create the control-plane DNS record (empty address list).
    let found = maas
        .get("dnsresources/", &[("fqdn", fqdn)])
        .await
        .expect(200)
        .json();
    assert_eq!(found, json!([]));
    let rec = maas
        .send(
            "POST",
            "dnsresources/",
            &[],
            Body::Form(&[("fqdn", fqdn), ("address_ttl", "10"), ("ip_addresses", "")]),
        )
        .await
        .expect(200)
        .json();
    let dns_id = rec["id"].to_string();
    // Machine: allocate with op in the body, then swap off, then deploy.
    let m = maas
        .send(
            "POST",
            "machines/",
            &[],
            Body::Form(&[
                ("op", "allocate"),
                ("cpu_count", "2"),
                ("mem", "4096"),
                ("zone", "az-2"),
            ]),
        )
        .await
        .expect(200)
        .json();
    let id = m["system_id"].as_str().unwrap().to_string();
    assert_eq!(m["zone"]["name"], "az-2");
    mcg_put(&maas, &format!("machines/{id}/"), &[("swap_size", "0")])
        .await
        .expect(200);
    let user_data = base64::engine::general_purpose::STANDARD.encode("#!/bin/sh\necho bootstrap\n");
    let d = maas
        .send(
            "POST",
            &format!("machines/{id}/"),
            &[],
            Body::Form(&[
                ("op", "deploy"),
                ("user_data", &user_data),
                ("osystem", "ubuntu"),
                ("distro_series", "jammy"),
                ("ephemeral_deploy", "false"),
            ]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(d["status_name"], "Deploying");
    advance(&sim, 3600.0).await;
    // Reconcile: power it back on with the path-style op after a power loss.
    sim.power_loss(&id);
    let m = maas
        .get(&format!("machines/{id}/"), &[])
        .await
        .expect(200)
        .json();
    assert_eq!(
        (
            m["status_name"].as_str().unwrap(),
            m["power_state"].as_str().unwrap()
        ),
        ("Deployed", "off")
    );
    maas.send(
        "POST",
        &format!("machines/{id}/op-power_on"),
        &[],
        Body::Form(&[("comment", "maas provider power on")]),
    )
    .await
    .expect(200);
    // Attach the machine's address to the DNS record.
    let ip = m["ip_addresses"][0].as_str().unwrap().to_string();
    let rec = mcg_put(
        &maas,
        &format!("dnsresources/{dns_id}/"),
        &[("ip_addresses", &ip), ("id", &dns_id)],
    )
    .await
    .expect(200)
    .json();
    assert_eq!(rec["ip_addresses"], json!([{"ip": ip}]));
    // Delete: release with op in the body.
    let r = maas
        .send(
            "POST",
            &format!("machines/{id}/"),
            &[],
            Body::Form(&[("op", "release")]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(r["status_name"], "Releasing");
}

#[tokio::test]
async fn gomaasapi_sequence() {
    let sim = start(ready_fleet(4)).await;
    let maas = Maas::new(&sim);
    let v = maas.get("version/", &[]).await.expect(200).json();
    for key in ["version", "subversion", "capabilities"] {
        assert!(v.get(key).is_some(), "gomaasapi requires {key}");
    }
    maas.get("users/", &[("op", "whoami")]).await.expect(200);
    for path in [
        "zones/",
        "resourcepools/",
        "domains/",
        "spaces/",
        "fabrics/",
        "boot-resources/",
        "tags/",
    ] {
        maas.get(path, &[]).await.expect(200);
    }
    // gomaasapi's Pools() path does not exist on MAAS either.
    maas.get("pools/", &[]).await.expect(404);
    let m = maas
        .op(
            "machines/",
            "allocate",
            &[
                ("not_in_zone", "az-1"),
                ("not_in_zone", "default"),
                ("agent_name", "juju-1"),
                ("storage", "root:50"),
            ],
        )
        .await
        .expect(200)
        .json();
    assert!(m["constraints_by_type"]["storage"]["root"].is_array());
    let uri = m["resource_uri"]
        .as_str()
        .unwrap()
        .trim_start_matches("/MAAS/api/2.0/")
        .to_string();
    let d = maas
        .op(
            &uri,
            "deploy",
            &[
                ("distro_series", "jammy"),
                ("hwe_kernel", "ga-22.04"),
                ("comment", "juju"),
            ],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(d["hwe_kernel"], "ga-22.04");
    maas.op(&uri, "set_owner_data", &[("juju-model", "m1")])
        .await
        .expect(200);
    let mine = maas
        .get("machines/", &[("agent_name", "juju-1")])
        .await
        .expect(200)
        .json();
    assert_eq!(mine[0]["owner_data"], json!({"juju-model": "m1"}));
    let id = m["system_id"].as_str().unwrap();
    let released = maas
        .op(
            "machines/",
            "release",
            &[("machines", id), ("comment", "juju")],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(released, json!([id]));
}
