//! `machines/?op=allocate`: every constraint, cost order, validation texts, 409 texts without
//! Retry-After, dry runs, and no double allocation under concurrency.

mod sim_common;

use serde_json::json;
use sim_common::*;

/// ready_fleet(6): machine i has i+2 cores, (i+1)*4 GiB, az-1 (even i) / az-2 (odd i),
/// one (i+1)*100 GB ssd disk.
async fn six() -> (kubemaas::sim::SimHandle, Maas, Vec<String>) {
    let sim = start(ready_fleet(6)).await;
    let ids = sim.machines().iter().map(|m| m.system_id.clone()).collect();
    let maas = Maas::new(&sim);
    (sim, maas, ids)
}

#[tokio::test]
async fn cheapest_match_first_and_allocation_side_effects() {
    let (sim, maas, ids) = six().await;
    let m = maas
        .allocate(&[
            ("cpu_count", "3"),
            ("mem", "8000"),
            ("agent_name", "cluster-a"),
            ("comment", "for cluster a"),
        ])
        .await;
    assert_eq!(
        m["system_id"],
        ids[1].as_str(),
        "3 cores/8 GiB is the cheapest fit"
    );
    assert_eq!(m["status"], 10);
    assert_eq!(m["status_name"], "Allocated");
    assert_eq!(m["owner"], "admin");
    assert_eq!(m["constraints_by_type"], json!({}));
    assert!(
        m.get("agent_name").is_none(),
        "MAAS does not show agent_name"
    );
    let mine = maas
        .get("machines/", &[("agent_name", "cluster-a")])
        .await
        .expect(200)
        .json();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(sim.machine(&ids[1]).unwrap().agent_name, "cluster-a");
    let next = maas.allocate(&[("cpu_count", "3")]).await;
    assert_eq!(next["system_id"], ids[2].as_str());
    let allocated = maas
        .get("machines/", &[("op", "list_allocated")])
        .await
        .expect(200)
        .json();
    assert_eq!(allocated.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn zone_pool_tag_arch_name_and_system_id_constraints() {
    let (sim, maas, ids) = six().await;
    maas.send("POST", "tags/", &[], Body::Form(&[("name", "fast")]))
        .await
        .expect(200);
    maas.op(
        "tags/fast/",
        "update_nodes",
        &[("add", &ids[4]), ("add", &ids[5])],
    )
    .await
    .expect(200);
    assert_eq!(
        maas.allocate(&[("zone", "az-2")]).await["system_id"],
        ids[1].as_str()
    );
    assert_eq!(
        maas.allocate(&[("not_in_zone", "az-2")]).await["system_id"],
        ids[0].as_str()
    );
    assert_eq!(
        maas.allocate(&[("tags", "fast")]).await["system_id"],
        ids[4].as_str()
    );
    assert_eq!(
        maas.allocate(&[("not_tags", "fast"), ("zone", "az-1")])
            .await["system_id"],
        ids[2].as_str()
    );
    let hostname = sim.machine(&ids[3]).unwrap().hostname;
    assert_eq!(
        maas.allocate(&[("name", &hostname)]).await["system_id"],
        ids[3].as_str()
    );
    assert_eq!(
        maas.allocate(&[("arch", "amd64"), ("system_id", &ids[5])])
            .await["system_id"],
        ids[5].as_str()
    );
    // Nothing left: pool constraints now find nothing.
    let r = maas
        .op("machines/", "allocate", &[("pool", "default")])
        .await
        .expect(409);
    assert!(
        r.header("retry-after").is_none(),
        "a real conflict carries no Retry-After"
    );
    // Pools and not_in_pool on a fresh region.
    let (_sim2, maas2, ids2) = six().await;
    assert_eq!(
        maas2.allocate(&[("pool", "default")]).await["system_id"],
        ids2[0].as_str()
    );
    let r = maas2
        .op("machines/", "allocate", &[("not_in_pool", "default")])
        .await
        .expect(409);
    assert!(
        r.text.starts_with(
            "No available machine matches constraints: [('not_in_pool', ['default'])]"
        ),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn storage_constraints_match_disk_sizes_and_tags() {
    let mut inv = ready_fleet(3);
    // Machine 2 gets a second, large rotary disk.
    let mut extra = inv.machines[2].disks[0].clone();
    extra.id += 1000;
    extra.name = "sdb".into();
    extra.size_bytes = 2_000_000_000_000;
    extra.tags = vec!["rotary".into()];
    inv.machines[2].disks.push(extra.clone());
    let ids: Vec<String> = inv.machines.iter().map(|m| m.system_id.clone()).collect();
    let boot_id = inv.machines[2].disks[0].id;
    let sim = start(inv).await;
    let maas = Maas::new(&sim);
    let m = maas
        .allocate(&[("storage", "root:50(ssd),data:1000(rotary)")])
        .await;
    assert_eq!(m["system_id"], ids[2].as_str());
    assert_eq!(
        m["constraints_by_type"],
        json!({"storage": {"root": [boot_id], "data": [extra.id]}})
    );
    // A 150 GB root only fits machines 1 and 2; 1 is cheaper.
    assert_eq!(
        maas.allocate(&[("storage", "150")]).await["system_id"],
        ids[1].as_str()
    );
    let r = maas
        .op("machines/", "allocate", &[("storage", "root:big")])
        .await
        .expect(400);
    assert!(r.json()["storage"][0]
        .as_str()
        .unwrap()
        .starts_with("Malformed storage constraint"));
}

#[tokio::test]
async fn validation_errors_are_400_json_with_maas_texts() {
    let (_sim, maas, _) = six().await;
    let r = maas
        .op(
            "machines/",
            "allocate",
            &[("not_in_zones", "az-1"), ("hostname", "x")],
        )
        .await
        .expect(400);
    assert_eq!(
        r.json(),
        json!({"not_in_zones": ["No such constraint."], "hostname": ["No such constraint."]})
    );
    let r = maas
        .op("machines/", "allocate", &[("zone", "mars")])
        .await
        .expect(400);
    assert_eq!(r.json(), json!({"zone": ["No such zone: 'mars'."]}));
    let r = maas
        .op("machines/", "allocate", &[("pool", "nope")])
        .await
        .expect(400);
    assert_eq!(r.json(), json!({"pool": ["No such pool: 'nope'."]}));
    let r = maas
        .op("machines/", "allocate", &[("tags", "unicorn")])
        .await
        .expect(400);
    assert_eq!(r.json(), json!({"tags": ["No such tag(s): 'unicorn'."]}));
    let r = maas
        .op("machines/", "allocate", &[("cpu_count", "many")])
        .await
        .expect(400);
    assert_eq!(r.json(), json!({"cpu_count": ["Enter a number."]}));
}

#[tokio::test]
async fn conflict_texts_when_nothing_matches() {
    let (_sim, maas, ids) = six().await;
    let r = maas
        .op(
            "machines/",
            "allocate",
            &[("cpu_count", "64"), ("mem", "8192")],
        )
        .await
        .expect(409);
    assert_eq!(
        r.text,
        "No available machine matches constraints: [('cpu_count', ['64']), ('mem', ['8192'])] (resolved to \"cpu_count=64.0 mem=8192.0\")"
    );
    assert!(r.content_type().starts_with("text/plain"));
    let r = maas
        .op("machines/", "allocate", &[("system_id", "zzzzzz")])
        .await
        .expect(409);
    assert_eq!(r.text, "No machine with system ID zzzzzz available.");
    for _ in &ids {
        maas.allocate(&[]).await;
    }
    let r = maas
        .op("machines/", "allocate", &[("agent_name", "x")])
        .await
        .expect(409);
    assert_eq!(r.text, "No machine available.");
}

#[tokio::test]
async fn dry_run_changes_nothing_and_locked_machines_are_skipped() {
    let (sim, maas, ids) = six().await;
    let m = maas.allocate(&[("dry_run", "true")]).await;
    assert_eq!(m["system_id"], ids[0].as_str());
    assert_eq!(m["status"], 4);
    assert!(sim.machine(&ids[0]).unwrap().owner.is_none());
    sim.with_region(|r| r.machines[0].locked = true);
    assert_eq!(maas.allocate(&[]).await["system_id"], ids[1].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_allocations_never_share_a_machine() {
    let sim = start(ready_fleet(10)).await;
    let maas = Maas::new(&sim);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let m = maas.clone();
        tasks.push(tokio::spawn(async move {
            m.op("machines/", "allocate", &[]).await
        }));
    }
    let mut won = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            200 => won.push(r.json()["system_id"].as_str().unwrap().to_string()),
            409 => conflicts += 1,
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    let unique: std::collections::HashSet<_> = won.iter().collect();
    assert_eq!(won.len(), 10);
    assert_eq!(unique.len(), 10, "a machine was handed out twice: {won:?}");
    assert_eq!(conflicts, 6);
}
