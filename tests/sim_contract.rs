//! The describe document and the server agree: every action `describe/` advertises (which
//! python-libmaas turns into callable methods) is answered by a handler, never by
//! "Unrecognised signature", and every path template routes to the resource it names.

mod sim_common;

use kubemaas::sim::{api, describe};
use sim_common::*;

#[tokio::test]
async fn every_advertised_action_is_served() {
    let sim = start(ready_fleet(3)).await;
    let maas = Maas::new(&sim);
    let machine = sim.machines()[0].system_id.clone();
    let dns = maas
        .send(
            "POST",
            "dnsresources/",
            &[],
            Body::Form(&[("fqdn", "contract.maas")]),
        )
        .await
        .expect(200)
        .json()["id"]
        .to_string();
    let (boot, subnet, tag) = sim.with_region(|r| {
        (
            r.catalog.boot_resources[0].id.to_string(),
            r.catalog.subnets[0].id.to_string(),
            r.catalog.tags[0].name.clone(),
        )
    });
    for h in describe::HANDLERS {
        let route =
            api::route(h.path).unwrap_or_else(|| panic!("{} ({}) does not route", h.name, h.path));
        assert_eq!(route.template, h.path, "{}", h.name);
        let arg = match h.params.first().copied() {
            None => None,
            Some("system_id") => Some(machine.clone()),
            Some("username") => Some("admin".to_string()),
            Some("name") if h.path.starts_with("zones") => Some("default".to_string()),
            Some("name") => Some(tag.clone()),
            Some("id") if h.path.starts_with("resourcepool") => Some("0".to_string()),
            Some("id") if h.path.starts_with("domains") => Some("0".to_string()),
            Some("id") if h.path.starts_with("subnets") => Some(subnet.clone()),
            Some("id") if h.path.starts_with("boot-resources") => Some(boot.clone()),
            Some("id") if h.path.starts_with("dnsresources") => Some(dns.clone()),
            Some(other) => panic!("no test value for {{{other}}} in {}", h.path),
        };
        let path = match (&arg, h.params.first()) {
            (Some(a), Some(p)) => h.path.replace(&format!("{{{p}}}"), a),
            _ => h.path.to_string(),
        };
        for action in h.actions {
            // Destructive actions last would need ordering; delete is checked on its own below.
            if action.method == "DELETE" {
                continue;
            }
            let mut query: Vec<(&str, &str)> = Vec::new();
            if let Some(op) = action.op {
                query.push(("op", op));
            }
            let r = if h.anon {
                maas.raw(action.method, &path, &query, Body::None, None)
                    .await
            } else {
                maas.send(action.method, &path, &query, Body::Form(&[]))
                    .await
            };
            assert!(
                !r.text.starts_with("Unrecognised signature"),
                "{} {} {:?} on {path}: {}",
                h.name,
                action.method,
                action.op,
                r.text
            );
            assert_ne!(
                r.status, 404,
                "{} {path} {:?}: {}",
                h.name, action.op, r.text
            );
        }
    }
    maas.delete(&format!("dnsresources/{dns}/"))
        .await
        .expect(204);
    maas.delete(&format!("machines/{machine}/"))
        .await
        .expect(204);
}
