//! Addresses and names: IP reservations (and the DNS records a hostname creates), DNS resource
//! CRUD, subnets' free ranges, and addresses given to and taken from deploying machines.

mod sim_common;

use serde_json::json;
use sim_common::*;

#[tokio::test]
async fn reserve_and_release_ip_addresses() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let r = maas.op("ipaddresses/", "reserve", &[]).await.expect(400);
    assert_eq!(
        r.text,
        "Must supply either the 'subnet' or the 'ip' parameter."
    );
    let r = maas
        .op("ipaddresses/", "reserve", &[("ip", "172.31.0.5")])
        .await
        .expect(400);
    assert_eq!(r.text, "No known subnet for IP address: 172.31.0.5.");
    let ip = maas
        .op(
            "ipaddresses/",
            "reserve",
            &[("subnet", "10.10.0.0/16"), ("comment", "vip")],
        )
        .await
        .expect(200)
        .json();
    let addr = ip["ip"].as_str().unwrap().to_string();
    assert_eq!(ip["alloc_type"], 4);
    assert_eq!(ip["alloc_type_name"], "User reserved");
    assert_eq!(ip["subnet"]["cidr"], "10.10.0.0/16");
    assert!(chrono::NaiveDateTime::parse_from_str(
        ip["created"].as_str().unwrap(),
        "%Y-%m-%dT%H:%M:%S%.f"
    )
    .is_ok());
    let r = maas
        .op("ipaddresses/", "reserve", &[("ip", &addr)])
        .await
        .expect(404);
    assert_eq!(r.text, format!("The IP address {addr} is already in use."));
    let list = maas.get("ipaddresses/", &[]).await.expect(200).json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Another user cannot release it.
    let user = Maas::with_key(&sim, sim.user_api_key());
    let r = user
        .op("ipaddresses/", "release", &[("ip", &addr)])
        .await
        .expect(400);
    assert!(r.text.starts_with(&format!("IP address {addr} does not exist, is not the correct type of address, or does not belong to the requesting user.")));
    maas.op("ipaddresses/", "release", &[("ip", &addr)])
        .await
        .expect(204);
    assert!(maas
        .get("ipaddresses/", &[])
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_reservation_with_a_hostname_creates_the_dns_record() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let ip = maas
        .op(
            "ipaddresses/",
            "reserve",
            &[("ip", "10.10.5.5"), ("hostname", "api.maas")],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(ip["ip"], "10.10.5.5");
    let recs = maas
        .get("dnsresources/", &[("fqdn", "api.maas")])
        .await
        .expect(200)
        .json();
    assert_eq!(recs.as_array().unwrap().len(), 1);
    assert_eq!(recs[0]["ip_addresses"], json!([{"ip": "10.10.5.5"}]));
    maas.op("ipaddresses/", "release", &[("ip", "10.10.5.5")])
        .await
        .expect(204);
    let recs = maas
        .get("dnsresources/", &[("fqdn", "api.maas")])
        .await
        .expect(200)
        .json();
    assert_eq!(recs[0]["ip_addresses"], json!([]));
}

#[tokio::test]
async fn dns_resources_crud() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    // CAPMAAS creates a record with no addresses, then attaches them with PUT.
    let rec = maas
        .send(
            "POST",
            "dnsresources/",
            &[],
            Body::Form(&[
                ("fqdn", "c1-abcdef.maas"),
                ("address_ttl", "10"),
                ("ip_addresses", ""),
            ]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(rec["fqdn"], "c1-abcdef.maas");
    assert_eq!(rec["address_ttl"], 10);
    assert_eq!(rec["ip_addresses"], json!([]));
    let id = rec["id"].as_i64().unwrap();
    let rec = maas
        .put(
            &format!("dnsresources/{id}/"),
            &[
                ("ip_addresses", "10.10.1.2 10.10.1.3"),
                ("id", &id.to_string()),
            ],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(
        rec["ip_addresses"],
        json!([{"ip": "10.10.1.2"}, {"ip": "10.10.1.3"}])
    );
    assert_eq!(
        maas.get(&format!("dnsresources/{id}/"), &[])
            .await
            .expect(200)
            .json()["fqdn"],
        "c1-abcdef.maas"
    );
    let by_name = maas
        .send(
            "POST",
            "dnsresources/",
            &[],
            Body::Form(&[("name", "www"), ("domain", "maas")]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(by_name["fqdn"], "www.maas");
    let r = maas
        .send(
            "POST",
            "dnsresources/",
            &[],
            Body::Form(&[("name", "www"), ("domain", "nowhere")]),
        )
        .await
        .expect(404);
    assert_eq!(r.text, "No Domain matches the given query.");
    let r = maas
        .put(
            &format!("dnsresources/{id}/"),
            &[("ip_addresses", "not-an-ip")],
        )
        .await
        .expect(400);
    assert!(r.json()["ip_addresses"].is_array());
    maas.delete(&format!("dnsresources/{id}/"))
        .await
        .expect(204);
    maas.get(&format!("dnsresources/{id}/"), &[])
        .await
        .expect(404);
}

#[tokio::test]
async fn deployment_takes_addresses_from_the_subnet_and_release_returns_them() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let subnet_id = sim.machines()[0]
        .nics
        .iter()
        .find(|n| n.link_mode == "auto")
        .and_then(|n| n.subnet_id)
        .expect("an auto link");
    let ranges = |maas: Maas| async move {
        maas.get(
            &format!("subnets/{subnet_id}/"),
            &[("op", "unreserved_ip_ranges")],
        )
        .await
        .expect(200)
        .json()
    };
    let before = ranges(maas.clone()).await;
    let total = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["num_addresses"].as_u64().unwrap())
            .sum::<u64>()
    };
    let id = sim.machines()[0].system_id.clone();
    maas.op(&format!("machines/{id}/"), "deploy", &[])
        .await
        .expect(200);
    let m = maas.machine(&id).await;
    let ips = m["ip_addresses"].as_array().unwrap().clone();
    assert!(!ips.is_empty());
    let during = ranges(maas.clone()).await;
    assert!(total(&during) < total(&before));
    maas.op(&format!("machines/{id}/"), "release", &[])
        .await
        .expect(200);
    advance(&sim, 120.0).await;
    assert!(maas.machine(&id).await["ip_addresses"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(total(&ranges(maas.clone()).await), total(&before));
}

#[tokio::test]
async fn catalogue_reads() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    for path in [
        "zones/",
        "resourcepools/",
        "tags/",
        "domains/",
        "subnets/",
        "fabrics/",
        "spaces/",
        "boot-resources/",
        "users/",
    ] {
        let v = maas.get(path, &[]).await.expect(200).json();
        assert!(!v.as_array().unwrap().is_empty(), "{path} is empty");
    }
    assert_eq!(
        maas.get("zones/az-1/", &[]).await.expect(200).json()["name"],
        "az-1"
    );
    assert_eq!(
        maas.get("resourcepool/0/", &[]).await.expect(200).json()["name"],
        "default"
    );
    assert_eq!(
        maas.get("zones/mars/", &[]).await.expect(404).text,
        "No Zone matches the given query."
    );
    let z = maas
        .send(
            "POST",
            "zones/",
            &[],
            Body::Form(&[("name", "az-9"), ("description", "new hall")]),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(z["name"], "az-9");
    assert_eq!(
        maas.allocate(&[("zone", "az-1")]).await["zone"]["name"],
        "az-1"
    );
    let cfg = maas
        .get(
            "maas/",
            &[("op", "get_config"), ("name", "default_distro_series")],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(cfg, json!("jammy"));
}
