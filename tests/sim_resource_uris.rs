//! Every `resource_uri` the simulator hands out can be fetched: a walk that starts from every
//! collection a client lists, follows each `resource_uri` found anywhere in the answers
//! (nested interfaces, VLANs, subnets, zones, pools, partitions, …) and GETs it, transitively.
//! MAAS clients (gomaasapi's MAASObject, python-libmaas's objects) re-read objects that way.

mod sim_common;

use kubemaas::sim::SimConfig;
use serde_json::Value;
use sim_common::*;
use std::collections::{BTreeSet, VecDeque};

const COLLECTIONS: &[&str] = &[
    "machines/",
    "devices/",
    "subnets/",
    "fabrics/",
    "spaces/",
    "zones/",
    "resourcepools/",
    "tags/",
    "domains/",
    "boot-resources/",
    "static-routes/",
    "files/",
    "ipaddresses/",
    "dnsresources/",
    "users/",
];

fn collect(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("resource_uri", Value::String(s)) => out.push(s.clone()),
                    _ => collect(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_resource_uri_the_simulator_emits_answers_200() {
    // A generated fleet has every kind of machine (deployed with partitions and addresses,
    // owned, new, broken) and the whole network catalogue.
    let sim = start_with(SimConfig::generated(12, 7).speed(0.0)).await;
    let maas = Maas::new(&sim);
    // One of each thing the API can create, so their URIs are walked too.
    let machine = sim.machines()[0].system_id.clone();
    maas.send(
        "POST",
        "devices/",
        &[("op", "")],
        Body::Form(&[
            ("mac_addresses", "52:54:00:00:00:01"),
            ("parent", machine.as_str()),
        ]),
    )
    .await
    .expect(200);
    let subnet = sim.with_region(|r| r.catalog.subnets[0].clone());
    let gateway = subnet
        .gateway_ip
        .clone()
        .unwrap_or_else(|| "10.0.0.1".into());
    let id = subnet.id.to_string();
    maas.send(
        "POST",
        "static-routes/",
        &[],
        Body::Form(&[
            ("source", id.as_str()),
            ("destination", id.as_str()),
            ("gateway_ip", gateway.as_str()),
        ]),
    )
    .await
    .expect(200);
    // ipaddresses/ lists only the caller's reservations.
    maas.send(
        "POST",
        "ipaddresses/",
        &[("op", "reserve")],
        Body::Form(&[("subnet", id.as_str())]),
    )
    .await
    .expect(200);
    maas.send(
        "POST",
        "dnsresources/",
        &[],
        Body::Form(&[("fqdn", "walk.maas")]),
    )
    .await
    .expect(200);
    sim.with_region(|r| r.save_file("admin", "walk-file", b"x".to_vec()));

    let mut queue: VecDeque<String> = VecDeque::new();
    for c in COLLECTIONS {
        let answer = maas.get(c, &[]).await.expect(200).json();
        let mut found = Vec::new();
        collect(&answer, &mut found);
        assert!(!found.is_empty(), "{c} lists nothing with a resource_uri");
        queue.extend(found);
    }
    let mut seen = BTreeSet::new();
    while let Some(uri) = queue.pop_front() {
        if !seen.insert(uri.clone()) {
            continue;
        }
        let path = uri
            .strip_prefix("/MAAS/api/2.0/")
            .unwrap_or_else(|| panic!("{uri} is not under /MAAS/api/2.0/"));
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let query: Vec<(&str, &str)> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let r = maas.get(path, &query).await;
        assert_eq!(r.status, 200, "GET {uri}: {}", r.text);
        if r.content_type().starts_with("application/json") {
            let mut found = Vec::new();
            collect(&r.json(), &mut found);
            queue.extend(found);
        }
    }
    // Every kind of object was reached, nested ones included.
    for kind in [
        "/machines/",
        "/devices/",
        "/interfaces/",
        "/blockdevices/",
        "/partition/",
        "/vlans/",
        "/fabrics/",
        "/spaces/",
        "/subnets/",
        "/zones/",
        "/resourcepool/",
        "/static-routes/",
        "/files/",
        "/domains/",
        "/dnsresources/",
        "/users/",
    ] {
        assert!(
            seen.iter().any(|u| u.contains(kind)),
            "no {kind} URI walked in {seen:?}"
        );
    }
}
