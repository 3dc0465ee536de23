//! Checks against a MAAS snapshot: names exist (with suggestions), addresses sit on MAAS subnets,
//! and capacity is counted without giving one machine to two pools.

use kubemaas::maas::{BootResource, Domain, Machine, ResourcePool, Tag, Zone};
use kubemaas::model::capacity::{plan_capacity, PoolRequest};
use kubemaas::model::maas_check::{fit_against_maas, pool_constraints};
use kubemaas::model::spec::ClusterSpec;
use kubemaas::model::{validate_against_maas, MaasSnapshot, MachineConstraints, Problems};
use serde_json::json;

#[allow(clippy::too_many_arguments)]
fn machine(
    id: &str,
    status: u8,
    cpu: u32,
    mem: u64,
    zone: &str,
    pool: &str,
    tags: &[&str],
    disks_gb: &[u64],
) -> Machine {
    let disks: Vec<_> = disks_gb
        .iter()
        .enumerate()
        .map(|(i, gb)| json!({"id": 100 + i, "name": format!("sd{i}"), "size": gb * 1_000_000_000}))
        .collect();
    serde_json::from_value(json!({
        "system_id": id, "hostname": format!("host-{id}"), "status": status,
        "cpu_count": cpu, "memory": mem,
        "zone": {"name": zone}, "pool": {"name": pool},
        "tag_names": tags, "physicalblockdevice_set": disks,
        "ip_addresses": [],
    }))
    .unwrap()
}

fn ready(id: &str, cpu: u32, mem: u64, zone: &str, tags: &[&str]) -> Machine {
    machine(id, 4, cpu, mem, zone, "default", tags, &[500])
}

fn snapshot(machines: Vec<Machine>) -> MaasSnapshot {
    let zone = |n: &str| Zone {
        id: None,
        name: n.into(),
        description: String::new(),
        resource_uri: String::new(),
    };
    let tag = |n: &str| Tag {
        name: n.into(),
        definition: String::new(),
        comment: String::new(),
        kernel_opts: String::new(),
        resource_uri: String::new(),
    };
    let boot = |id: i64, n: &str| BootResource {
        id,
        kind: "Synced".into(),
        name: n.into(),
        architecture: "amd64/ga-22.04".into(),
        resource_uri: String::new(),
        extra: Default::default(),
    };
    MaasSnapshot {
        version: None,
        zones: vec![zone("default"), zone("az-1"), zone("az-2"), zone("az-3")],
        pools: vec![
            ResourcePool {
                id: Some(0),
                name: "default".into(),
                description: String::new(),
                resource_uri: String::new(),
            },
            ResourcePool {
                id: Some(1),
                name: "gpu".into(),
                description: String::new(),
                resource_uri: String::new(),
            },
        ],
        tags: vec![tag("gpu"), tag("nvme"), tag("virtual")],
        domains: vec![Domain {
            id: 0,
            name: "maas".into(),
            ttl: None,
            authoritative: true,
            is_default: true,
            resource_record_count: 0,
            resource_uri: String::new(),
        }],
        subnets: vec![serde_json::from_value(json!({"id": 1, "cidr": "10.20.0.0/24"})).unwrap()],
        boot_resources: vec![
            boot(1, "ubuntu/jammy"),
            boot(2, "ubuntu/noble"),
            boot(3, "custom/k8s-1.30"),
        ],
        machines,
    }
}

fn spec(cp: u32, workers: u32) -> ClusterSpec {
    let mut s = ClusterSpec::with_defaults("prod-1", "lab", cp, workers);
    for pool in &mut s.spec.node_pools {
        pool.min_cpu = 4;
        pool.min_memory_mib = 8192;
    }
    s
}

fn check(s: &ClusterSpec, maas: &MaasSnapshot) -> Problems {
    validate_against_maas(s, Some("jammy"), maas)
}

fn has(problems: &Problems, path: &str, words: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.path == path && p.message.contains(words)),
        "no problem at {path} containing {words:?} in:\n{problems}"
    );
}

#[test]
fn enough_machines_pass() {
    let machines = (0..5)
        .map(|i| ready(&format!("m{i}"), 8, 16384, "az-1", &[]))
        .collect();
    let problems = check(&spec(3, 2), &snapshot(machines));
    assert!(problems.is_empty(), "{problems}");
}

#[test]
fn shortfall_names_the_pool_the_constraints_and_the_count() {
    let mut s = spec(1, 5);
    s.spec.node_pools[1].min_cpu = 8;
    s.spec.node_pools[1].zones = vec!["az-1".into(), "az-2".into()];
    let mut machines = vec![ready("cp", 4, 8192, "az-3", &[])];
    machines.extend((0..3).map(|i| ready(&format!("w{i}"), 8, 16384, "az-1", &[])));
    machines.push(ready("small", 4, 16384, "az-2", &[]));
    machines.push(ready("far", 8, 16384, "az-3", &[]));
    machines.push(machine("busy", 6, 8, 16384, "az-1", "default", &[], &[500]));
    // Deployed elsewhere but of the right shape: with it, MAAS could one day hold 5 that match,
    // so this is a wait, not a refusal.
    machines.push(machine(
        "busy2",
        6,
        8,
        16384,
        "az-2",
        "default",
        &[],
        &[500],
    ));
    let fit = fit_against_maas(&s, Some("jammy"), &snapshot(machines.clone()));
    assert!(fit.refused.is_empty(), "{}", fit.refused);
    let problems = check(&s, &snapshot(machines));
    assert_eq!(problems.len(), 1, "{problems}");
    let msg = &problems.0[0].message;
    assert_eq!(problems.0[0].path, "spec.nodePools[1].size");
    assert!(msg.starts_with("pool workers needs 5 machines with >= 8 cores, >= 8192 MiB memory, a boot disk >= 60 GB, in resource pool default, in zones az-1, az-2; MAAS has 3 Ready that match (2 more needed)"), "{msg}");
    assert!(msg.contains("have fewer than 8 cores"), "{msg}");
    assert!(msg.contains("2 are in other zones"), "{msg}");
    assert!(
        msg.contains("2 more would fit but are not Ready or locked"),
        "{msg}"
    );
}

#[test]
fn one_machine_is_never_counted_for_two_pools() {
    let mut machines: Vec<Machine> = (0..4)
        .map(|i| ready(&format!("m{i}"), 8, 16384, "az-1", &[]))
        .collect();
    // A fifth that fits but is deployed: the pools could be satisfied once it is released.
    machines.push(machine("d", 6, 8, 16384, "az-1", "default", &[], &[500]));
    let problems = check(&spec(3, 2), &snapshot(machines));
    assert_eq!(problems.len(), 1, "{problems}");
    has(
        &problems,
        "spec.nodePools[1].size",
        "MAAS has 4 Ready that match, of which 3 go to pool control-plane (1 more needed)",
    );
}

#[test]
fn machines_are_moved_between_pools_when_that_satisfies_both() {
    // The gpu machines are the cheapest, so the control plane would take them first; the
    // matching must hand them to the gpu pool and give the control plane the others.
    let mut machines = vec![
        ready("g1", 4, 8192, "az-1", &["gpu"]),
        ready("g2", 4, 8192, "az-1", &["gpu"]),
    ];
    machines.extend((0..3).map(|i| ready(&format!("p{i}"), 16, 65536, "az-1", &[])));
    let mut s = spec(3, 2);
    s.spec.node_pools[1].maas_tags = vec!["gpu".into()];
    let problems = check(&s, &snapshot(machines.clone()));
    assert!(problems.is_empty(), "{problems}");

    let requests: Vec<PoolRequest> = s
        .spec
        .node_pools
        .iter()
        .map(|p| PoolRequest {
            name: p.name.clone(),
            count: p.size,
            constraints: pool_constraints(p),
        })
        .collect();
    let plan = plan_capacity(&requests, &machines);
    let mut gpu = plan[1].assigned.clone();
    gpu.sort();
    assert_eq!(gpu, vec!["g1", "g2"]);
    assert_eq!(plan[0].assigned.len(), 3);
    assert!(plan.iter().all(|p| p.shortfall() == 0));
}

#[test]
fn locked_and_busy_machines_do_not_count_and_huge_sizes_are_cheap() {
    let mut locked = ready("l", 8, 16384, "az-1", &[]);
    locked.locked = true;
    let machines = vec![
        locked,
        machine("d", 6, 8, 16384, "az-1", "default", &[], &[500]),
        ready("ok", 8, 16384, "az-1", &[]),
    ];
    let c = MachineConstraints {
        min_cpu: 1,
        ..Default::default()
    };
    let plan = plan_capacity(
        &[PoolRequest {
            name: "w".into(),
            count: u32::MAX,
            constraints: c,
        }],
        &machines,
    );
    assert_eq!(plan[0].matching, 1);
    assert_eq!(plan[0].assigned, vec!["ok"]);
    assert_eq!(plan[0].shortfall(), u32::MAX - 1);
}

#[test]
fn a_pool_no_machine_in_maas_could_ever_satisfy_is_refused_not_waited_for() {
    // Three machines of the right shape exist (one deployed), the workers need five: no release
    // or commissioning of what MAAS holds can satisfy the pool.
    let mut machines: Vec<Machine> = (0..3)
        .map(|i| ready(&format!("m{i}"), 8, 16384, "az-1", &[]))
        .collect();
    machines.push(machine("d", 6, 8, 16384, "az-1", "default", &[], &[500]));
    machines.push(ready("tiny", 1, 1024, "az-1", &[]));
    let problems = check(&spec(1, 5), &snapshot(machines.clone()));
    has(
        &problems,
        "spec.nodePools[1].size",
        "pool workers needs 5 machines with >= 4 cores, >= 8192 MiB memory",
    );
    has(
        &problems,
        "spec.nodePools[1].size",
        "of the 5 machine(s) in MAAS, whatever their status, 4 could ever match, 1 needed by pool control-plane (2 more needed)",
    );
    has(
        &problems,
        "spec.nodePools[1].size",
        "1 has fewer than 4 cores",
    );
    // A refusal, not a wait: the engine fails the cluster on it before allocating.
    let fit = fit_against_maas(&spec(1, 5), Some("jammy"), &snapshot(machines.clone()));
    assert_eq!(fit.refused, problems);
    assert!(fit.waitable.is_empty(), "{}", fit.waitable);

    // The case: an absurd memory minimum never matches, whatever MAAS holds.
    let mut s = spec(1, 1);
    s.spec.node_pools[1].min_memory_mib = u64::MAX;
    let machines = (0..4)
        .map(|i| ready(&format!("m{i}"), 8, 16384, "az-1", &[]))
        .collect();
    let fit = fit_against_maas(&s, Some("jammy"), &snapshot(machines));
    has(&fit.refused, "spec.nodePools[1].size", "could ever match");
    assert!(fit.waitable.is_empty(), "{}", fit.waitable);
}

#[test]
fn the_boot_disk_is_the_first_disk() {
    let c = MachineConstraints {
        min_disk_gb: 100,
        ..Default::default()
    };
    // sd0 (lowest id) is 50 GB; the 2 TB data disk does not help, as in MAAS's root constraint.
    let small_root = machine("a", 4, 2, 4096, "az-1", "default", &[], &[50, 2000]);
    let big_root = machine("b", 4, 2, 4096, "az-1", "default", &[], &[100, 10]);
    let no_disk = machine("c", 4, 2, 4096, "az-1", "default", &[], &[]);
    assert!(!c.matches(&small_root));
    assert!(c.matches(&big_root));
    assert!(!c.matches(&no_disk));
}

#[test]
fn names_that_maas_lacks_come_with_the_closest_one() {
    let mut s = spec(1, 1);
    s.spec.dns_domain = "mass".into();
    s.spec.node_pools[0].zones = vec!["az1".into()];
    s.spec.node_pools[1].resource_pool = "gpus".into();
    s.spec.node_pools[1].maas_tags = vec!["nvm".into()];
    s.spec.os_image = Some("ubuntu/jamy".into());
    let problems = check(&s, &snapshot(vec![]));
    has(
        &problems,
        "spec.dnsDomain",
        "MAAS has no DNS domain `mass` (did you mean `maas`?)",
    );
    has(
        &problems,
        "spec.nodePools[0].zones[0]",
        "(did you mean `az-1`?)",
    );
    has(
        &problems,
        "spec.nodePools[1].resourcePool",
        "(did you mean `gpu`?)",
    );
    has(
        &problems,
        "spec.nodePools[1].maasTags[0]",
        "(did you mean `nvme`?)",
    );
    has(
        &problems,
        "spec.osImage",
        "MAAS has no boot image `ubuntu/jamy` (did you mean `ubuntu/jammy`?)",
    );
    // Pools naming missing things are not also counted: no second, vaguer complaint.
    assert!(
        !problems
            .iter()
            .any(|p| p.path.ends_with(".size") && p.path.contains("[1]")),
        "{problems}"
    );
    let mut s = spec(1, 1);
    s.spec.node_pools[1].resource_pool = "gpu".into();
    let deployed_gpu = machine("g", 6, 8, 16384, "az-1", "gpu", &[], &[500]);
    has(
        &check(&s, &snapshot(vec![deployed_gpu])),
        "spec.nodePools[1].size",
        "in resource pool gpu; MAAS has 0 Ready that match (1 more needed)",
    );
    let mut s = spec(1, 1);
    s.spec.os_image = Some("custom/k8s-1.30".into());
    let machines = (0..2)
        .map(|i| ready(&format!("m{i}"), 8, 16384, "az-1", &[]))
        .collect();
    assert!(check(&s, &snapshot(machines)).is_empty());
    // Without osImage the profile's series is the image checked.
    let problems = validate_against_maas(&spec(1, 1), Some("oracular"), &snapshot(vec![]));
    has(
        &problems,
        "spec.profile.name",
        "no boot image `ubuntu/oracular`",
    );
}

#[test]
fn addresses_must_be_on_maas_subnets_and_free() {
    let mut s = spec(3, 1);
    s.spec.network.pod_cidr = "10.20.0.0/16".into();
    s.spec.network.control_plane_endpoint.vip = Some("10.30.0.5".into());
    s.spec.network.control_plane_endpoint.subnet = Some("10.21.0.0/24".into());
    s.spec.node_pools[0].static_ips =
        vec!["10.20.0.7".into(), "10.20.0.8".into(), "10.20.0.9".into()];
    let mut owner = ready("x", 8, 16384, "az-1", &[]);
    owner.ip_addresses = vec!["10.20.0.8".into()];
    let machines = vec![
        owner,
        ready("a", 8, 16384, "az-1", &[]),
        ready("b", 8, 16384, "az-1", &[]),
        ready("c", 8, 16384, "az-1", &[]),
    ];
    let problems = check(&s, &snapshot(machines));
    has(
        &problems,
        "spec.network.podCIDR",
        "overlaps MAAS subnet 10.20.0.0/24",
    );
    has(
        &problems,
        "spec.network.controlPlaneEndpoint.vip",
        "on no MAAS subnet",
    );
    has(
        &problems,
        "spec.network.controlPlaneEndpoint.subnet",
        "MAAS has no subnet 10.21.0.0/24",
    );
    has(
        &problems,
        "spec.nodePools[0].staticIps[1]",
        "already used by machine host-x (x)",
    );
}

#[test]
fn both_layers_in_one_list() {
    let mut s = spec(3, 1);
    s.metadata.name = "Bad".into();
    s.spec.dns_domain = "nope".into();
    let profile =
        kubemaas::model::profile::shipped_profile("ubuntu-noble-k8s-1.31-cilium").unwrap();
    s.spec.profile.name = profile.metadata.name.clone();
    let problems = kubemaas::model::validate_spec(&s, Some(&profile), &snapshot(vec![]));
    has(&problems, "metadata.name", "lowercase");
    has(&problems, "spec.dnsDomain", "MAAS has no DNS domain `nope`");
    // An empty MAAS can never hold the control plane: refused, not waited for.
    has(
        &problems,
        "spec.nodePools[0].size",
        "of the 0 machine(s) in MAAS, whatever their status, 0 could ever match",
    );
    // The noble profile's series is the image looked for; the snapshot has it.
    assert!(
        !problems.iter().any(|p| p.message.contains("boot image")),
        "{problems}"
    );
}

#[test]
fn a_real_maas_2_0_listing_is_matched() {
    // ../shared sits beside the checkout, in CI as on developers' machines.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/maas/gomaasapi-machines-2.0.json"
    ))
    .expect("the shared MAAS fixture beside the checkout");
    let machines: Vec<Machine> = serde_json::from_str(&text).unwrap();
    // MAAS 2.0 has no pools: every machine is in "default".
    let c = MachineConstraints {
        min_cpu: 1,
        min_memory_mib: 1024,
        min_disk_gb: 8,
        tags: vec!["virtual".into()],
        pool: Some("default".into()),
        zones: vec!["default".into()],
    };
    let ids: Vec<&str> = machines
        .iter()
        .filter(|m| c.matches(m))
        .map(|m| m.system_id.as_str())
        .collect();
    assert_eq!(ids, vec!["4y3ha4", "4y3ha6"]);
    let c = MachineConstraints {
        min_disk_gb: 9,
        ..c
    };
    assert!(machines.iter().all(|m| !c.matches(m)));
}
