//! Property tests: whatever text or YAML tree reaches the parsers and validators, they answer
//! with a value or a clear error, never a panic; and the capacity plan keeps its invariants.

use kubemaas::maas::Machine;
use kubemaas::model::capacity::{plan_capacity, PoolRequest};
use kubemaas::model::profile::{import_profile, shipped_profile, DEFAULT_PROFILE};
use kubemaas::model::spec::ClusterSpec;
use kubemaas::model::{
    cluster_template, validate_against_maas, validate_local, CloudAccount, MaasSnapshot,
    MachineConstraints,
};
use proptest::prelude::*;
use serde_json::json;
use serde_yaml::Value;
use std::collections::BTreeSet;

const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "name",
    "description",
    "tags",
    "cloudAccount",
    "profile",
    "overrides",
    "dnsDomain",
    "network",
    "podCIDR",
    "serviceCIDR",
    "controlPlaneEndpoint",
    "mode",
    "vip",
    "dnsName",
    "subnet",
    "port",
    "proxy",
    "httpProxy",
    "noProxy",
    "osImage",
    "nodePools",
    "role",
    "size",
    "allowWorkloads",
    "resourcePool",
    "zones",
    "minCpu",
    "minMemoryMiB",
    "minDiskGB",
    "maasTags",
    "labels",
    "taints",
    "key",
    "value",
    "effect",
    "staticIps",
    "rollingUpdate",
    "strategy",
    "maxSurge",
    "maxUnavailable",
    "policies",
    "backup",
    "schedule",
    "layers",
    "type",
    "version",
    "values",
    "series",
    "kubernetes",
    "calico",
    "endpoint",
    "apiKey",
    "gateway",
    "caCert",
    "kubemaas.io/v1",
    "Cluster",
    "ClusterProfile",
    "CloudAccount",
    "controlPlane",
    "worker",
    "custom",
    "vip",
    "dns",
    "NoSchedule",
];

fn key() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(|k| Value::String(k.to_string())),
        1 => "[a-zA-Z0-9._/-]{0,10}".prop_map(Value::String),
        1 => any::<i32>().prop_map(|n| Value::Number(n.into())),
    ]
}

fn yaml_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|f| Value::Number(f.into())),
        "[ -~]{0,16}".prop_map(Value::String),
        prop::sample::select(KEYS).prop_map(|k| Value::String(k.to_string())),
        prop::sample::select(
            &[
                "10.0.0.0/8",
                "192.168.0.0/16",
                "10.20.0.5",
                "fd00::/64",
                "0 2 * * 0",
                "1.30.6",
                "ubuntu/jammy",
                "http://p:3128"
            ][..]
        )
        .prop_map(|k| Value::String(k.to_string())),
    ];
    leaf.prop_recursive(5, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Sequence),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Mapping(kv.into_iter().collect())),
        ]
    })
}

/// Replaces the `n`-th node (preorder, modulo the node count) of `tree` with `with`.
fn replace_nth(tree: &mut Value, n: usize, with: Value) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Sequence(s) => s.iter().map(count).sum(),
            Value::Mapping(m) => m.values().map(count).sum(),
            _ => 0,
        }
    }
    fn walk(v: &mut Value, n: &mut usize, with: &mut Option<Value>) {
        if *n == 0 {
            if let Some(w) = with.take() {
                *v = w;
            }
            return;
        }
        *n -= 1;
        match v {
            Value::Sequence(s) => s.iter_mut().for_each(|c| walk(c, n, with)),
            Value::Mapping(m) => m.values_mut().for_each(|c| walk(c, n, with)),
            _ => {}
        }
    }
    let total = count(tree);
    let mut n = n % total;
    walk(tree, &mut n, &mut Some(with));
}

fn maas() -> MaasSnapshot {
    let machines: Vec<Machine> = (0..6)
        .map(|i| {
            serde_json::from_value(json!({
                "system_id": format!("m{i}"), "hostname": format!("h{i}"), "status": 4,
                "cpu_count": 2 + i * 2, "memory": 4096 * (i + 1), "zone": {"name": if i % 2 == 0 {"az-1"} else {"az-2"}},
                "pool": {"name": "default"}, "tag_names": if i < 2 { vec!["gpu"] } else { vec![] },
                "physicalblockdevice_set": [{"id": i, "name": "sda", "size": 100_000_000_000u64}],
                "ip_addresses": ["10.20.0.50"],
            }))
            .unwrap()
        })
        .collect();
    serde_json::from_value(json!({
        "zones": [{"name": "az-1"}, {"name": "az-2"}],
        "pools": [{"name": "default"}],
        "tags": [{"name": "gpu"}],
        "domains": [{"name": "maas"}],
        "subnets": [{"id": 1, "cidr": "10.20.0.0/24"}],
        "boot_resources": [{"id": 1, "type": "Synced", "name": "ubuntu/jammy", "architecture": "amd64/generic"}],
        "machines": serde_json::to_value(machines).unwrap(),
    }))
    .unwrap()
}

/// Everything downstream of a parsed spec runs without panicking.
fn exercise(spec: &ClusterSpec) {
    let profile = shipped_profile(DEFAULT_PROFILE);
    let problems = validate_local(spec, profile.as_ref());
    let _ = problems.to_string();
    let _ = validate_against_maas(spec, Some("jammy"), &maas()).to_string();
    let _ = spec.to_yaml();
    if problems.is_empty() {
        // What validates also survives a round trip.
        assert_eq!(&ClusterSpec::from_yaml(&spec.to_yaml()).unwrap(), spec);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_parsed_or_refused(text in "[ -~\n\t]{0,400}") {
        if let Ok(spec) = ClusterSpec::from_yaml(&text) {
            exercise(&spec);
        }
        let _ = import_profile(&text).map_err(|e| e.to_string());
        let _ = CloudAccount::from_yaml(&text).map_err(|e| e.to_string());
    }

    #[test]
    fn any_yaml_tree_is_parsed_or_refused(tree in yaml_value()) {
        let text = serde_yaml::to_string(&tree).unwrap();
        if let Ok(spec) = ClusterSpec::from_yaml(&text) {
            exercise(&spec);
        }
        let _ = import_profile(&text).map_err(|e| e.to_string());
    }

    #[test]
    fn a_valid_spec_with_any_subtree_replaced(n in 0usize..400, with in yaml_value(), cp in 0u32..7, workers in 0u32..5) {
        let mut tree = serde_yaml::to_value(ClusterSpec::with_defaults("c", "a", cp, workers)).unwrap();
        replace_nth(&mut tree, n, with);
        let text = serde_yaml::to_string(&tree).unwrap();
        match ClusterSpec::from_yaml(&text) {
            Ok(spec) => exercise(&spec),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn a_shipped_profile_with_any_subtree_replaced(n in 0usize..200, with in yaml_value()) {
        let mut tree = serde_yaml::to_value(shipped_profile(DEFAULT_PROFILE).unwrap()).unwrap();
        replace_nth(&mut tree, n, with);
        let text = serde_yaml::to_string(&tree).unwrap();
        if let Ok(p) = import_profile(&text) {
            let _ = p.resolve(&Default::default());
        }
    }

    #[test]
    fn templates_for_any_arguments(name in "[ -~]{0,70}", account in "[ -~]{0,20}", cp in any::<u32>(), workers in any::<u32>()) {
        if let Ok(text) = cluster_template(&name, &account, cp, workers) {
            let spec = ClusterSpec::from_yaml(&text).unwrap();
            prop_assert!(validate_local(&spec, shipped_profile(DEFAULT_PROFILE).as_ref()).is_empty());
        }
    }

    #[test]
    fn capacity_plans_keep_their_invariants(
        machines in prop::collection::vec((1u32..16, 1u64..8, 0u8..3, any::<bool>(), prop::sample::select(&[4u8, 4, 4, 6, 10][..])), 0..25),
        pools in prop::collection::vec((1u32..12, 1u64..6, 0u32..8, any::<bool>()), 1..4),
    ) {
        let machines: Vec<Machine> = machines.iter().enumerate().map(|(i, (cpu, mem, zone, gpu, status))| {
            serde_json::from_value(json!({
                "system_id": format!("m{i:02}"), "hostname": format!("h{i}"), "status": status,
                "cpu_count": cpu, "memory": mem * 4096, "zone": {"name": format!("az-{zone}")},
                "tag_names": if *gpu { vec!["gpu"] } else { vec![] },
            })).unwrap()
        }).collect();
        let requests: Vec<PoolRequest> = pools.iter().enumerate().map(|(i, (cpu, mem, count, gpu))| PoolRequest {
            name: format!("p{i}"),
            count: *count,
            constraints: MachineConstraints {
                min_cpu: *cpu,
                min_memory_mib: mem * 4096,
                tags: if *gpu { vec!["gpu".into()] } else { vec![] },
                ..Default::default()
            },
        }).collect();
        let plan = plan_capacity(&requests, &machines);
        let mut used = BTreeSet::new();
        for (outcome, request) in plan.iter().zip(&requests) {
            prop_assert!(outcome.assigned.len() as u32 <= request.count);
            prop_assert!(outcome.assigned.len() as u32 <= outcome.matching);
            for id in &outcome.assigned {
                prop_assert!(used.insert(id.clone()), "{id} given to two pools");
                let m = machines.iter().find(|m| &m.system_id == id).unwrap();
                prop_assert!(request.constraints.matches(m));
            }
        }
        // Maximality: no pool is short while a machine that fits it is left unused.
        for (outcome, request) in plan.iter().zip(&requests) {
            if outcome.shortfall() > 0 {
                for m in &machines {
                    prop_assert!(!request.constraints.matches(m) || used.contains(&m.system_id));
                }
            }
        }
    }
}
