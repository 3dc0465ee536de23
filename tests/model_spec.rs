//! Cluster specs: YAML round trips, unknown keys with their line, and every local validation
//! rule, good and bad.

use kubemaas::model::profile::{shipped_profile, DEFAULT_PROFILE};
use kubemaas::model::spec::{
    ClusterSpec, EndpointMode, OsImage, RolloutStrategy, Taint, TaintEffect,
};
use kubemaas::model::{validate_local, DocumentError, PoolRole, Problems};

fn base() -> ClusterSpec {
    ClusterSpec::with_defaults("prod-1", "lab", 3, 2)
}

fn check(spec: &ClusterSpec) -> Problems {
    validate_local(spec, shipped_profile(DEFAULT_PROFILE).as_ref())
}

/// Asserts `spec` has a problem at `path` whose message contains `words`.
fn has(spec: &ClusterSpec, path: &str, words: &str) {
    let problems = check(spec);
    assert!(
        problems
            .iter()
            .any(|p| p.path == path && p.message.contains(words)),
        "no problem at {path} containing {words:?} in:\n{problems}"
    );
}

fn clean(spec: &ClusterSpec) {
    let problems = check(spec);
    assert!(problems.is_empty(), "{problems}");
}

#[test]
fn defaults_are_valid_and_round_trip() {
    let spec = base();
    clean(&spec);
    let text = spec.to_yaml();
    assert_eq!(ClusterSpec::from_yaml(&text).unwrap(), spec);
}

#[test]
fn a_full_spec_round_trips() {
    let text = r#"
apiVersion: kubemaas.io/v1
kind: Cluster
metadata: {name: edge-7, description: Edge site 7, tags: [team-a, "env:prod"]}
spec:
  cloudAccount: lab
  profile:
    name: ubuntu-jammy-k8s-1.30-calico
    overrides:
      kubernetes: {imageRepository: registry.internal:5000/k8s}
  dnsDomain: lab.example.com
  osImage: ubuntu/jammy
  network:
    podCIDR: 10.244.0.0/16
    serviceCIDR: 10.96.0.0/12
    controlPlaneEndpoint: {mode: vip, vip: 10.20.0.100, dnsName: api.edge-7.lab.example.com, subnet: 10.20.0.0/24, port: 6443}
    proxy: {httpProxy: "http://proxy.internal:3128", httpsProxy: "http://proxy.internal:3128", noProxy: [.internal, 10.0.0.0/8, maas.lab, "*.corp", "registry:5000"]}
  nodePools:
    - {name: cp, role: controlPlane, size: 3, allowWorkloads: false, zones: [az-1, az-2, az-3], minCpu: 4, minMemoryMiB: 8192, minDiskGB: 60, staticIps: [10.20.0.11, 10.20.0.12, 10.20.0.13]}
    - name: gpu
      role: worker
      size: 2
      resourcePool: gpu
      maasTags: [gpu, nvme]
      labels: {example.com/accel: nvidia, node.kubernetes.io/instance-type: big}
      taints: [{key: example.com/gpu, effect: NoSchedule}]
      rollingUpdate: {strategy: custom, maxSurge: 0, maxUnavailable: 1}
    - {name: general, role: worker, size: 4, rollingUpdate: {strategy: contractFirst}}
  policies:
    machineManagement: {patchOsOnBoot: true, rebootIfRequired: true, patchSchedule: "0 3 * * sun"}
    scan: {schedule: "@weekly"}
    backup: {schedule: "0 1 * * *", location: "s3://backups/edge-7", retentionDays: 14}
"#;
    let spec = ClusterSpec::from_yaml(text).unwrap();
    clean(&spec);
    assert_eq!(
        spec.spec.node_pools[1].taints[0],
        Taint {
            key: "example.com/gpu".into(),
            value: String::new(),
            effect: TaintEffect::NoSchedule
        }
    );
    assert_eq!(
        spec.spec.node_pools[1]
            .rolling_update
            .surge_and_unavailable(),
        (0, 1)
    );
    assert_eq!(
        spec.spec.node_pools[2].rolling_update.strategy,
        RolloutStrategy::ContractFirst
    );
    assert_eq!(
        spec.spec.network.control_plane_endpoint.mode,
        EndpointMode::Vip
    );
    assert_eq!(ClusterSpec::from_yaml(&spec.to_yaml()).unwrap(), spec);
}

#[test]
fn unknown_keys_report_path_line_and_the_key_meant() {
    let text = "apiVersion: kubemaas.io/v1\nkind: Cluster\nmetadata: {name: a}\nspec:\n  cloudAccount: lab\n  profile: {name: p}\n  nodePools:\n    - name: w\n      role: worker\n      size: 1\n      minMemoryMB: 4096\n";
    let err = ClusterSpec::from_yaml(text).unwrap_err();
    assert_eq!(err.line(), Some(11), "{err}");
    let shown = err.to_string();
    assert!(
        shown.starts_with("line 11, column 7: spec.nodePools[0]: unknown field `minMemoryMB`"),
        "{shown}"
    );
    assert!(shown.contains("did you mean `minMemoryMiB`?"), "{shown}");

    let wrong_type = "apiVersion: kubemaas.io/v1\nkind: Cluster\nmetadata: {name: a}\nspec:\n  cloudAccount: lab\n  profile: {name: p}\n  nodePools:\n    - {name: w, role: boss, size: 1}\n";
    let shown = ClusterSpec::from_yaml(wrong_type).unwrap_err().to_string();
    assert!(
        shown.contains("line 8") && shown.contains("unknown variant `boss`"),
        "{shown}"
    );

    let missing = "apiVersion: kubemaas.io/v1\nkind: Cluster\nmetadata: {name: a}\nspec: {profile: {name: p}, nodePools: []}\n";
    let shown = ClusterSpec::from_yaml(missing).unwrap_err().to_string();
    assert!(shown.contains("missing field `cloudAccount`"), "{shown}");
    assert!(matches!(
        ClusterSpec::from_yaml("apiVersion: kubemaas.io/v1\nkind: ClusterProfile\n"),
        Err(DocumentError::WrongKind { .. })
    ));
}

#[test]
fn names_must_be_dns_labels_and_unique() {
    let mut s = base();
    s.metadata.name = "Prod_1".into();
    s.spec.node_pools[1].name = "control-plane".into();
    s.spec.cloud_account = "".into();
    s.spec.dns_domain = "lab..example".into();
    has(&s, "metadata.name", "only lowercase letters");
    has(
        &s,
        "spec.nodePools[1].name",
        "also the name of nodePools[0]",
    );
    has(&s, "spec.cloudAccount", "is empty");
    has(&s, "spec.dnsDomain", "empty part between dots");
}

#[test]
fn cidrs_parse_and_do_not_overlap() {
    let mut s = base();
    s.spec.network.pod_cidr = "10.96.0.0/16".into();
    has(&s, "spec.network.serviceCIDR", "overlaps the pod network");
    s.spec.network.pod_cidr = "10.244.1.0/16".into();
    has(
        &s,
        "spec.network.podCIDR",
        "host bits set: write the network address, `10.244.0.0/16`",
    );
    s.spec.network.pod_cidr = "10.244.0.0/33".into();
    has(&s, "spec.network.podCIDR", "is not a CIDR");
    s.spec.network.pod_cidr = "10.244.0.0/23".into();
    has(&s, "spec.network.podCIDR", "holds 2 node pod range(s)");
    s.spec.network.pod_cidr = "10.244.0.0/26".into();
    has(
        &s,
        "spec.network.podCIDR",
        "smaller than one node's pod range",
    );
    s.spec.network.pod_cidr = "fd00::/48".into();
    has(&s, "spec.network.serviceCIDR", "different IP families");
    s.spec.network.pod_cidr = "10.244.0.0/16".into();
    s.spec.network.service_cidr = "10.0.0.0/8".into();
    has(
        &s,
        "spec.network.serviceCIDR",
        "larger than the API server accepts",
    );
}

#[test]
fn vip_and_static_ips_stay_out_of_cluster_ranges() {
    let mut s = base();
    let ep = &mut s.spec.network.control_plane_endpoint;
    ep.vip = Some("10.244.4.4".into());
    ep.subnet = Some("10.20.0.0/24".into());
    has(
        &s,
        "spec.network.controlPlaneEndpoint.vip",
        "inside the pod network",
    );
    has(
        &s,
        "spec.network.controlPlaneEndpoint.vip",
        "not on the API subnet 10.20.0.0/24",
    );
    s.spec.network.control_plane_endpoint.vip = Some("10.20.0.300".into());
    has(
        &s,
        "spec.network.controlPlaneEndpoint.vip",
        "is not an IP address",
    );
    s.spec.network.control_plane_endpoint.vip = Some("10.20.0.10".into());
    s.spec.node_pools[0].static_ips =
        vec!["10.20.0.10".into(), "10.96.0.5".into(), "10.20.0.11".into()];
    has(&s, "spec.nodePools[0].staticIps[0]", "is also the VIP");
    has(
        &s,
        "spec.nodePools[0].staticIps[1]",
        "inside the service network",
    );
    s.spec.node_pools[0].static_ips = vec!["10.20.0.11".into(), "10.20.0.11".into()];
    has(
        &s,
        "spec.nodePools[0].staticIps",
        "2 address(es) for 3 node(s)",
    );
    has(
        &s,
        "spec.nodePools[0].staticIps[1]",
        "already used at spec.nodePools[0].staticIps[0]",
    );
    s.spec.node_pools[1].static_ips = vec!["10.20.0.50".into()];
    has(
        &s,
        "spec.nodePools[1].staticIps",
        "only for control-plane nodes",
    );
    let mut s = base();
    s.spec.network.control_plane_endpoint.mode = EndpointMode::Dns;
    s.spec.network.control_plane_endpoint.vip = Some("10.20.0.10".into());
    s.spec.network.control_plane_endpoint.dns_name = Some("api_x.maas".into());
    s.spec.network.control_plane_endpoint.port = 0;
    has(
        &s,
        "spec.network.controlPlaneEndpoint.vip",
        "only used with `mode: vip`",
    );
    has(
        &s,
        "spec.network.controlPlaneEndpoint.dnsName",
        "contains '_'",
    );
    has(
        &s,
        "spec.network.controlPlaneEndpoint.port",
        "0 is not a port",
    );
}

#[test]
fn pool_sizes_roles_and_workload_capacity() {
    for size in [0, 2, 4, 7] {
        let mut s = base();
        s.spec.node_pools[0].size = size;
        has(
            &s,
            "spec.nodePools[0].size",
            "is not supported: use 1, 3 or 5",
        );
    }
    let mut s = base();
    s.spec.node_pools[1].size = 0;
    has(&s, "spec.nodePools", "no node can run workloads");
    s.spec.node_pools[0].allow_workloads = Some(true);
    clean(&s);
    s.spec.node_pools[1].allow_workloads = Some(true);
    has(
        &s,
        "spec.nodePools[1].allowWorkloads",
        "only applies to the control-plane pool",
    );
    let mut s = base();
    s.spec.node_pools.remove(0);
    has(&s, "spec.nodePools", "there is no control-plane pool");
    let mut s = base();
    s.spec.node_pools[1].role = PoolRole::ControlPlane;
    has(
        &s,
        "spec.nodePools[1].role",
        "there are 2 control-plane pools",
    );
    has(&s, "spec.nodePools", "there is no worker pool");
    // Tainted workers run nothing either.
    let mut s = base();
    s.spec.node_pools[1].taints.push(Taint {
        key: "dedicated".into(),
        value: "x".into(),
        effect: TaintEffect::NoSchedule,
    });
    has(&s, "spec.nodePools", "no node can run workloads");
}

#[test]
fn machine_minimums_tags_zones() {
    let mut s = base();
    let cp = &mut s.spec.node_pools[0];
    cp.min_cpu = 1;
    cp.min_memory_mib = 1024;
    cp.min_disk_gb = 10;
    cp.maas_tags = vec!["gpu".into(), "a,b".into(), "gpu".into()];
    cp.zones = vec!["az-1".into(), "az-1".into(), "".into()];
    cp.resource_pool = " ".into();
    has(
        &s,
        "spec.nodePools[0].minCpu",
        "too few for a control-plane node: use 2",
    );
    has(
        &s,
        "spec.nodePools[0].minMemoryMiB",
        "1024 MiB is too little",
    );
    has(&s, "spec.nodePools[0].minDiskGB", "too small");
    has(&s, "spec.nodePools[0].maasTags[1]", "contains ','");
    has(&s, "spec.nodePools[0].maasTags[2]", "listed twice");
    has(&s, "spec.nodePools[0].zones[1]", "listed twice");
    has(&s, "spec.nodePools[0].zones[2]", "is empty");
    has(&s, "spec.nodePools[0].resourcePool", "is empty");
}

#[test]
fn machine_minimums_beyond_any_machine_are_refused_with_the_bound() {
    let mut s = base();
    let w = &mut s.spec.node_pools[1];
    w.min_cpu = 4097;
    w.min_memory_mib = u64::MAX;
    w.min_disk_gb = 1_000_001;
    has(&s, "spec.nodePools[1].minCpu", "minCpu is at most 4096");
    has(
        &s,
        "spec.nodePools[1].minMemoryMiB",
        "18446744073709551615 MiB is more memory than any machine has: minMemoryMiB is at most 67108864 (64 TiB)",
    );
    has(
        &s,
        "spec.nodePools[1].minDiskGB",
        "minDiskGB is at most 1000000 (1 PB)",
    );
    // The bounds themselves are allowed.
    let mut s = base();
    let w = &mut s.spec.node_pools[1];
    w.min_cpu = 4096;
    w.min_memory_mib = 64 * 1024 * 1024;
    w.min_disk_gb = 1_000_000;
    clean(&s);
}

#[test]
fn labels_and_taints_follow_kubernetes_rules() {
    let mut s = base();
    let w = &mut s.spec.node_pools[1];
    w.labels
        .insert("node-role.kubernetes.io/worker".into(), "".into());
    w.labels.insert("example.com/ok".into(), "-bad".into());
    w.labels.insert("bad key".into(), "v".into());
    w.labels
        .insert("topology.kubernetes.io/zone".into(), "az-1".into());
    w.taints.push(Taint {
        key: "Bad_Prefix/x".into(),
        value: "v v".into(),
        effect: TaintEffect::PreferNoSchedule,
    });
    w.taints.push(Taint {
        key: "Bad_Prefix/x".into(),
        value: "".into(),
        effect: TaintEffect::PreferNoSchedule,
    });
    has(
        &s,
        r#"spec.nodePools[1].labels["node-role.kubernetes.io/worker"]"#,
        "kubelet refuses",
    );
    has(
        &s,
        r#"spec.nodePools[1].labels["example.com/ok"]"#,
        "must start and end",
    );
    has(&s, r#"spec.nodePools[1].labels["bad key"]"#, "contains ' '");
    has(&s, "spec.nodePools[1].taints[0].key", "prefix");
    has(&s, "spec.nodePools[1].taints[0].value", "contains ' '");
    has(&s, "spec.nodePools[1].taints[1]", "listed twice");
    let problems = check(&s);
    assert!(
        !problems
            .iter()
            .any(|p| p.path.contains("topology.kubernetes.io/zone")),
        "{problems}"
    );
}

#[test]
fn rolling_updates() {
    let mut s = base();
    s.spec.node_pools[1].rolling_update.max_surge = Some(2);
    has(
        &s,
        "spec.nodePools[1].rollingUpdate",
        "only apply to `strategy: custom`",
    );
    s.spec.node_pools[1].rolling_update.strategy = RolloutStrategy::Custom;
    has(
        &s,
        "spec.nodePools[1].rollingUpdate",
        "needs both maxSurge and maxUnavailable",
    );
    s.spec.node_pools[1].rolling_update.max_surge = Some(0);
    s.spec.node_pools[1].rolling_update.max_unavailable = Some(0);
    has(&s, "spec.nodePools[1].rollingUpdate", "both 0");
    let mut s = ClusterSpec::with_defaults("a", "b", 1, 1);
    s.spec.node_pools[0].rolling_update.strategy = RolloutStrategy::ContractFirst;
    has(
        &s,
        "spec.nodePools[0].rollingUpdate.strategy",
        "loses etcd quorum with 1 node(s): use expandFirst",
    );
    let mut s = base();
    s.spec.node_pools[0].rolling_update.strategy = RolloutStrategy::ContractFirst;
    clean(&s);
    s.spec.node_pools[0].rolling_update.strategy = RolloutStrategy::Custom;
    s.spec.node_pools[0].rolling_update.max_surge = Some(2);
    s.spec.node_pools[0].rolling_update.max_unavailable = Some(2);
    has(
        &s,
        "spec.nodePools[0].rollingUpdate.strategy",
        "keep maxUnavailable at 1 or less",
    );
    has(
        &s,
        "spec.nodePools[0].rollingUpdate.maxSurge",
        "one node at a time",
    );
}

#[test]
fn proxies_schedules_and_backups() {
    let mut s = base();
    s.spec.network.proxy.http_proxy = Some("proxy.internal:3128".into());
    s.spec.network.proxy.https_proxy = Some("socks5://proxy:1080".into());
    s.spec.network.proxy.no_proxy = vec!["bad host".into(), ".ok.internal".into()];
    s.spec.policies.scan.schedule = Some("0 25 * * *".into());
    s.spec.policies.machine_management.patch_schedule = Some("@sometimes".into());
    s.spec.policies.machine_management.reboot_if_required = true;
    s.spec.policies.machine_management.patch_schedule = Some("@sometimes".into());
    s.spec.policies.backup.schedule = Some("0 1 * * *".into());
    s.spec.policies.backup.retention_days = 0;
    has(&s, "spec.network.proxy.httpProxy", "uses `proxy.internal:`");
    has(
        &s,
        "spec.network.proxy.httpsProxy",
        "use http:// or https://",
    );
    has(&s, "spec.network.proxy.noProxy[0]", "is not a host");
    has(&s, "spec.policies.scan.schedule", "the hour field");
    has(
        &s,
        "spec.policies.machineManagement.patchSchedule",
        "not a cron shorthand",
    );
    has(&s, "spec.policies.backup.location", "needs a location");
    has(&s, "spec.policies.backup.retentionDays", "1 day or more");
    let problems = check(&s);
    assert!(
        !problems
            .iter()
            .any(|p| p.path == "spec.network.proxy.noProxy[1]"),
        "{problems}"
    );
    assert!(
        !problems
            .iter()
            .any(|p| p.path.ends_with("rebootIfRequired")),
        "{problems}"
    );
    s.spec.policies.machine_management.patch_schedule = None;
    has(
        &s,
        "spec.policies.machineManagement.rebootIfRequired",
        "has no effect",
    );
}

#[test]
fn os_image_and_profile_checks() {
    let mut s = base();
    s.spec.os_image = Some("ubuntu".into());
    has(&s, "spec.osImage", "is not an image name");
    s.spec.os_image = Some("ubuntu/noble".into());
    has(
        &s,
        "spec.osImage",
        "differs from the profile's series `jammy`",
    );
    s.spec.os_image = Some("custom/k8s-1.30".into());
    clean(&s);
    assert_eq!(
        OsImage::parse("custom/k8s-1.30").unwrap().distro_series(),
        "custom/k8s-1.30"
    );
    assert_eq!(
        OsImage::parse("ubuntu/jammy").unwrap().distro_series(),
        "jammy"
    );
    s.spec
        .profile
        .overrides
        .insert("kubernets".into(), serde_yaml::from_str("{a: 1}").unwrap());
    has(
        &s,
        "spec.profile.overrides.kubernets",
        "did you mean `kubernetes`?",
    );
    let mut s = base();
    s.spec.profile.name = "other-profile".into();
    has(&s, "spec.profile.name", "was given to check against");
}

#[test]
fn error_list_snapshot() {
    let text = r#"
apiVersion: kubemaas.io/v1
kind: Cluster
metadata: {name: Lab_1}
spec:
  cloudAccount: lab
  profile: {name: ubuntu-jammy-k8s-1.30-calico}
  network:
    podCIDR: 10.96.0.0/16
    serviceCIDR: 10.96.0.0/12
    controlPlaneEndpoint: {vip: 10.96.0.1}
  nodePools:
    - {name: cp, role: controlPlane, size: 2, minMemoryMiB: 512}
    - {name: w, role: worker, size: 0, labels: {node-role.kubernetes.io/worker: ""}}
  policies:
    backup: {schedule: "0 1 * *"}
"#;
    let spec = ClusterSpec::from_yaml(text).unwrap();
    insta::assert_snapshot!("error_list", check(&spec).to_string());
}

#[test]
fn network_accessors_and_no_proxy() {
    let mut s = base();
    let net = &mut s.spec.network;
    assert!(net
        .no_proxy(&["10.20.0.0/24".into()], Some("10.20.0.100"))
        .is_empty());
    net.proxy.http_proxy = Some("http://proxy.internal:3128".into());
    net.proxy.no_proxy = vec![".internal".into(), "localhost".into()];
    net.control_plane_endpoint.vip = Some("10.20.0.100".into());
    assert_eq!(
        net.no_proxy(&["10.20.0.0/24".into()], Some("10.20.0.100")),
        vec![
            ".internal",
            "localhost",
            "10.244.0.0/16",
            "10.96.0.0/12",
            "10.20.0.0/24",
            "10.20.0.100",
            "127.0.0.1",
            "::1",
            ".svc",
            ".cluster.local"
        ]
    );
    assert_eq!(net.vip().unwrap().to_string(), "10.20.0.100");
    assert_eq!(net.pod_net().unwrap().to_string(), "10.244.0.0/16");
    assert_eq!(net.service_net().unwrap().to_string(), "10.96.0.0/12");
}

#[test]
fn header_tags_and_profile_name_of_specs_built_in_code() {
    let mut s = base();
    s.api_version = "kubemaas.io/v2".into();
    s.kind = "Clusters".into();
    s.metadata.tags = vec!["ok".into(), " ".into(), "bad\u{7}".into()];
    s.spec.profile.name = "Not A Profile".into();
    has(&s, "apiVersion", "must be `kubemaas.io/v1`");
    has(&s, "kind", "must be `Cluster`");
    has(&s, "metadata.tags[1]", "is empty");
    has(&s, "metadata.tags[2]", "control characters");
    has(&s, "spec.profile.name", "the profile name");
    assert!(!check(&s).iter().any(|p| p.path == "metadata.tags[0]"));
}
