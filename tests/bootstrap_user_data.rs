//! Per-node user-data: valid for the real `cloud-init schema`, and carrying what each role needs.

mod bootstrap_support;

use bootstrap_support::{
    cloud_init_python, cloud_init_schema, file_content, node, plan, require_tool, run,
    runcmd_lines, shellify_runcmd, ROLES, VERSIONS,
};
use kubemaas::bootstrap::kubeadm::{ClusterConfiguration, InitConfiguration, JoinConfiguration};
use kubemaas::bootstrap::{
    no_proxy_list, user_data, AptKey, BootstrapError, ClusterSecrets, CniManifest, NodeRole,
    KUBEADM_CONFIG_PATH, NODE_INTERFACE_PLACEHOLDER, NODE_IP_PLACEHOLDER,
};

const PKI_KEYS: [&str; 4] = [
    "/etc/kubernetes/pki/ca.key",
    "/etc/kubernetes/pki/sa.key",
    "/etc/kubernetes/pki/front-proxy-ca.key",
    "/etc/kubernetes/pki/etcd/ca.key",
];

#[test]
fn every_roles_user_data_passes_cloud_init_schema() {
    let cloud_init = require_tool("cloud-init");
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for version in VERSIONS {
        for with_proxy in [false, true] {
            let p = plan(version, with_proxy);
            let s = ClusterSecrets::generate(&p).unwrap();
            for role in ROLES {
                let ud = user_data(&p, &s, &node(role)).unwrap();
                assert!(ud.starts_with("#cloud-config\n"));
                let file = dir
                    .path()
                    .join(format!("{version}-{role}-proxy{with_proxy}.yaml"));
                std::fs::write(&file, &ud).unwrap();
                cloud_init_schema(&cloud_init, &file).unwrap_or_else(|report| {
                    panic!(
                        "cloud-init schema rejected {version} {role} proxy={with_proxy}:\n{report}"
                    )
                });
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn cloud_init_schema_check_catches_a_broken_document() {
    // Guards the test above: the tool must actually reject bad user-data.
    let cloud_init = require_tool("cloud-init");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "#cloud-config\nwrite_files: 3\nruncmd: {a: 1}\n").unwrap();
    let out = run(
        &cloud_init,
        &["schema", "--config-file", file.to_str().unwrap()],
    );
    assert!(!out.status.success());
}

#[test]
fn kubeadm_api_version_follows_the_kubernetes_minor() {
    for (version, api) in [
        ("1.28.9", "kubeadm.k8s.io/v1beta3"),
        ("1.30.2", "kubeadm.k8s.io/v1beta3"),
        ("1.31.1", "kubeadm.k8s.io/v1beta4"),
    ] {
        let p = plan(version, false);
        let s = ClusterSecrets::generate(&p).unwrap();
        let ud = user_data(&p, &s, &node(NodeRole::InitControlPlane)).unwrap();
        let (kubeadm, mode) = file_content(&ud, KUBEADM_CONFIG_PATH).unwrap();
        assert_eq!(
            mode.as_deref(),
            Some("0600"),
            "the kubeadm file holds the token"
        );
        let mut docs = serde_yaml::Deserializer::from_str(&kubeadm);
        let cluster: ClusterConfiguration =
            serde::Deserialize::deserialize(docs.next().unwrap()).unwrap();
        let init: InitConfiguration =
            serde::Deserialize::deserialize(docs.next().unwrap()).unwrap();
        assert!(docs.next().is_none());
        assert_eq!(cluster.api_version, api);
        assert_eq!(init.api_version, api);
        assert_eq!(cluster.kind, "ClusterConfiguration");
        assert_eq!(init.kind, "InitConfiguration");
        assert_eq!(cluster.kubernetes_version, format!("v{version}"));
        assert_eq!(cluster.control_plane_endpoint, "10.20.0.250:6443");
        assert_eq!(cluster.networking.pod_subnet, "10.244.0.0/16");
        assert_eq!(cluster.networking.service_subnet, "10.96.0.0/12");
        assert_eq!(cluster.networking.dns_domain, "cluster.local");
        assert!(cluster
            .api_server
            .cert_sans
            .contains(&"10.20.0.250".to_string()));
        assert_eq!(init.bootstrap_tokens[0].token, s.bootstrap_token.expose());
        assert_eq!(
            init.bootstrap_tokens[0].groups,
            vec!["system:bootstrappers:kubeadm:default-node-token"]
        );
        assert_eq!(init.node_registration.name, "cp-1");
        let endpoint = init.local_api_endpoint.unwrap();
        assert_eq!(endpoint.advertise_address, "10.20.0.11");
        assert_eq!(endpoint.bind_port, 6443);
        assert_eq!(
            init.node_registration.kubelet_extra_args.get("node-ip"),
            Some("10.20.0.11")
        );
        // v1beta4 spells extra args as a list of name/value pairs.
        let raw: serde_yaml::Value =
            serde_yaml::from_str(kubeadm.split("---\n").nth(1).unwrap()).unwrap();
        let args = &raw["nodeRegistration"]["kubeletExtraArgs"];
        assert_eq!(args.is_sequence(), api.ends_with("v1beta4"), "{args:?}");
    }
}

#[test]
fn joiners_carry_discovery_and_only_control_plane_nodes_get_the_pki() {
    for version in VERSIONS {
        let p = plan(version, false);
        let s = ClusterSecrets::generate(&p).unwrap();
        for role in [NodeRole::JoinControlPlane, NodeRole::Worker] {
            let ud = user_data(&p, &s, &node(role)).unwrap();
            let (kubeadm, _) = file_content(&ud, KUBEADM_CONFIG_PATH).unwrap();
            let join: JoinConfiguration = serde_yaml::from_str(&kubeadm).unwrap();
            assert_eq!(join.kind, "JoinConfiguration");
            let d = &join.discovery.bootstrap_token;
            assert_eq!(d.api_server_endpoint, "10.20.0.250:6443");
            assert_eq!(d.token, s.bootstrap_token.expose());
            assert_eq!(d.ca_cert_hashes, vec![s.ca_cert_hash.clone()]);
            assert_eq!(
                join.control_plane.is_some(),
                role == NodeRole::JoinControlPlane
            );
            for key in PKI_KEYS {
                let entry = file_content(&ud, key);
                if role == NodeRole::Worker {
                    assert!(entry.is_none(), "a worker got {key}");
                } else {
                    let (content, mode) = entry.unwrap();
                    assert_eq!(mode.as_deref(), Some("0600"), "{key}");
                    assert!(content.contains("PRIVATE KEY"));
                }
            }
            let lines = runcmd_lines(&ud);
            assert!(lines.contains(&format!("kubeadm join --config {KUBEADM_CONFIG_PATH}")));
            assert!(!lines.iter().any(|l| l.contains("kubeadm init")));
        }
    }
}

#[test]
fn worker_registration_has_labels_and_taints() {
    let p = plan("1.30.2", false);
    let s = ClusterSecrets::generate(&p).unwrap();
    let ud = user_data(&p, &s, &node(NodeRole::Worker)).unwrap();
    let (kubeadm, _) = file_content(&ud, KUBEADM_CONFIG_PATH).unwrap();
    let join: JoinConfiguration = serde_yaml::from_str(&kubeadm).unwrap();
    let reg = &join.node_registration;
    assert_eq!(reg.name, "worker-1");
    assert_eq!(
        reg.kubelet_extra_args.get("node-labels"),
        Some("node.kubernetes.io/pool=general")
    );
    assert_eq!(reg.taints.as_ref().unwrap()[0].key, "example.com/dedicated");
    // The address is unknown until MAAS assigns it: detected on the subnet at boot.
    assert_eq!(
        reg.kubelet_extra_args.get("node-ip"),
        Some(NODE_IP_PLACEHOLDER)
    );
    let lines = runcmd_lines(&ud);
    let detect = lines
        .iter()
        .find(|l| l.contains("detect-node-network.sh"))
        .expect("a detection step");
    assert!(detect.contains("10.20.0.0/24") && detect.contains(KUBEADM_CONFIG_PATH));
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap();
    assert!(at("detect-node-network.sh") < at("kubeadm join"));
}

#[test]
fn kube_vip_uses_super_admin_during_init_from_1_29() {
    for (version, init_creds) in [
        ("1.28.9", "/etc/kubernetes/admin.conf"),
        ("1.30.2", "/etc/kubernetes/super-admin.conf"),
        ("1.31.1", "/etc/kubernetes/super-admin.conf"),
    ] {
        let p = plan(version, false);
        let s = ClusterSecrets::generate(&p).unwrap();
        let ud = user_data(&p, &s, &node(NodeRole::InitControlPlane)).unwrap();
        let lines = runcmd_lines(&ud);
        let init_at = lines
            .iter()
            .position(|l| l.starts_with("kubeadm init"))
            .unwrap();
        let before = lines[..init_at]
            .iter()
            .rev()
            .find(|l| l.ends_with("/etc/kubernetes/manifests/kube-vip.yaml"))
            .expect("kube-vip installed before init");
        let staged = before.split_whitespace().nth(3).unwrap();
        let (manifest, _) = file_content(&ud, staged).unwrap();
        let pod: serde_yaml::Value = serde_yaml::from_str(&manifest).unwrap();
        assert_eq!(pod["spec"]["volumes"][0]["hostPath"]["path"], init_creds);
        let env = pod["spec"]["containers"][0]["env"].as_sequence().unwrap();
        let get = |n: &str| {
            env.iter()
                .find(|e| e["name"] == n)
                .map(|e| e["value"].as_str().unwrap().to_string())
        };
        assert_eq!(get("address").as_deref(), Some("10.20.0.250"));
        assert_eq!(get("port").as_deref(), Some("6443"));
        assert_eq!(get("vip_arp").as_deref(), Some("true"));
        assert_eq!(
            get("vip_interface").as_deref(),
            Some(NODE_INTERFACE_PLACEHOLDER)
        );
        let after: Vec<_> = lines[init_at..]
            .iter()
            .filter(|l| l.ends_with("kube-vip.yaml"))
            .collect();
        assert_eq!(
            after.len(),
            usize::from(init_creds.ends_with("super-admin.conf")),
            "switch back to admin.conf after init only when super-admin was used"
        );
        // The CNI is applied after init, with the node's admin.conf.
        let cni_at = lines
            .iter()
            .position(|l| l.contains("kubectl") && l.contains("apply"))
            .unwrap();
        assert!(cni_at > init_at);
        assert!(lines[cni_at].contains("https://mirror.corp.example/cni/calico-v3.28.yaml"));
    }
}

#[test]
fn control_plane_joiners_install_kube_vip_after_joining_and_workers_never() {
    let p = plan("1.31.1", false);
    let s = ClusterSecrets::generate(&p).unwrap();
    let lines = runcmd_lines(&user_data(&p, &s, &node(NodeRole::JoinControlPlane)).unwrap());
    let join_at = lines
        .iter()
        .position(|l| l.starts_with("kubeadm join"))
        .unwrap();
    let vip_at = lines
        .iter()
        .position(|l| l.ends_with("/etc/kubernetes/manifests/kube-vip.yaml"))
        .unwrap();
    assert!(vip_at > join_at);
    let worker = user_data(&p, &s, &node(NodeRole::Worker)).unwrap();
    assert!(!worker.contains("kube-vip"));
}

#[test]
fn proxies_reach_apt_containerd_and_kubelet_with_the_cluster_in_no_proxy() {
    let p = plan("1.30.2", true);
    let s = ClusterSecrets::generate(&p).unwrap();
    let ud = user_data(&p, &s, &node(NodeRole::Worker)).unwrap();
    let expected = [
        "10.244.0.0/16",
        "10.96.0.0/12",
        "10.20.0.0/24",
        "10.20.0.250",
        "localhost",
        "127.0.0.1",
        ".svc",
        ".cluster.local",
        ".corp.example",
    ];
    let list = no_proxy_list(&p);
    for e in expected {
        assert!(
            list.iter().any(|x| x == e),
            "{e} missing from NO_PROXY {list:?}"
        );
    }
    for path in [
        "/etc/systemd/system/containerd.service.d/http-proxy.conf",
        "/etc/systemd/system/kubelet.service.d/http-proxy.conf",
    ] {
        let (drop_in, _) = file_content(&ud, path).unwrap();
        assert!(drop_in.contains("[Service]"));
        assert!(drop_in.contains("Environment=\"HTTP_PROXY=http://proxy.corp.example:3128/\""));
        assert!(drop_in.contains("Environment=\"HTTPS_PROXY=http://proxy.corp.example:3128/\""));
        let no_proxy = drop_in
            .lines()
            .find(|l| l.starts_with("Environment=\"NO_PROXY="))
            .unwrap();
        for e in expected {
            assert!(
                no_proxy.split([',', '=', '"']).any(|x| x == e),
                "{e} not in {no_proxy}"
            );
        }
    }
    let (apt, _) = file_content(&ud, "/etc/apt/apt.conf.d/90kubemaas-proxy").unwrap();
    assert!(apt.contains("Acquire::http::Proxy \"http://proxy.corp.example:3128/\";"));
    // The package mirror is covered by `.corp.example`, so apt reaches it directly.
    assert!(
        apt.contains("Acquire::https::Proxy::apt.corp.example \"DIRECT\";"),
        "{apt}"
    );
    // Without proxies, none of this is written.
    let direct = user_data(&plan("1.30.2", false), &s, &node(NodeRole::Worker)).unwrap();
    assert!(!direct.contains("http-proxy.conf"));
    assert!(!direct.contains("proxy.corp.example"));
}

#[test]
fn os_preparation_is_complete() {
    let p = plan("1.31.1", false);
    let s = ClusterSecrets::generate(&p).unwrap();
    let ud = user_data(&p, &s, &node(NodeRole::Worker)).unwrap();
    let lines = runcmd_lines(&ud);
    assert_eq!(lines[0], "set -e");
    for needed in [
        "swapoff -a",
        "modprobe overlay",
        "modprobe br_netfilter",
        "apt-mark hold kubelet kubeadm kubectl",
        "systemctl restart containerd",
    ] {
        assert!(
            lines.iter().any(|l| l == needed),
            "missing {needed}: {lines:#?}"
        );
    }
    let install = lines
        .iter()
        .find(|l| l.contains("apt-get") && l.contains(" install "))
        .unwrap();
    assert!(install.contains("DPkg::Lock::Timeout="), "{install}");
    for pin in [
        "kubelet=1.31.1-*",
        "kubeadm=1.31.1-*",
        "kubectl=1.31.1-*",
        "containerd",
    ] {
        assert!(install.contains(pin), "{install}");
    }
    let (containerd, _) = file_content(&ud, "/etc/containerd/config.toml").unwrap();
    assert!(containerd.contains("SystemdCgroup = true"));
    assert!(containerd.contains("sandbox_image = \"registry.k8s.io/pause:3.10\""));
    let (hosts, _) = file_content(&ud, "/etc/containerd/certs.d/_default/hosts.toml").unwrap();
    assert!(hosts.contains("[host.\"https://registry.corp.example:5000\"]"));
    let (sysctl, _) = file_content(&ud, "/etc/sysctl.d/90-kubemaas-kubernetes.conf").unwrap();
    assert!(sysctl.contains("net.bridge.bridge-nf-call-iptables = 1"));
    assert!(sysctl.contains("net.ipv4.ip_forward = 1"));
    let (source, _) =
        file_content(&ud, "/etc/apt/sources.list.d/kubemaas-kubernetes.list").unwrap();
    assert!(source.contains(
        "deb [signed-by=/etc/apt/keyrings/kubemaas-kubernetes.asc] https://apt.corp.example/kubernetes/core:/stable:/v1.31/deb/ /"
    ));
    let key_at = lines
        .iter()
        .position(|l| l.contains("Release.key"))
        .unwrap();
    let update_at = lines
        .iter()
        .position(|l| l.contains("apt-get") && l.ends_with(" update"))
        .unwrap();
    assert!(
        key_at < update_at,
        "the key must be in place before apt reads the source"
    );
}

#[test]
fn inline_key_and_inline_cni_are_written_as_files() {
    let mut p = plan("1.30.2", false);
    p.packages.key = AptKey::Armored(
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGMHoXcBEADK\n-----END PGP PUBLIC KEY BLOCK-----\n"
            .into(),
    );
    p.cni.manifest = CniManifest::Inline(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: calico-system\n".into(),
    );
    let s = ClusterSecrets::generate(&p).unwrap();
    let ud = user_data(&p, &s, &node(NodeRole::InitControlPlane)).unwrap();
    let (key, _) = file_content(&ud, "/etc/apt/keyrings/kubemaas-kubernetes.asc").unwrap();
    assert!(key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    assert!(!runcmd_lines(&ud).iter().any(|l| l.starts_with("curl")));
    let (cni, _) = file_content(&ud, "/etc/kubemaas/cni.yaml").unwrap();
    assert!(cni.contains("calico-system"));
    assert!(runcmd_lines(&ud)
        .iter()
        .any(|l| l.contains("apply") && l.ends_with("-f /etc/kubemaas/cni.yaml")));
    // Joiners do not apply the CNI.
    let join = user_data(&p, &s, &node(NodeRole::JoinControlPlane)).unwrap();
    assert!(file_content(&join, "/etc/kubemaas/cni.yaml").is_none());
}

#[test]
fn awkward_strings_survive_yaml_quoting() {
    let mut p = plan("1.30.2", true);
    // A proxy password with YAML-, shell- and systemd-significant characters.
    p.proxy.as_mut().unwrap().http = Some("http://user:p%40ss{x}'$@proxy.corp.example:3128".into());
    let s = ClusterSecrets::generate(&p).unwrap();
    let ud = user_data(&p, &s, &node(NodeRole::Worker)).unwrap();
    let (drop_in, _) =
        file_content(&ud, "/etc/systemd/system/kubelet.service.d/http-proxy.conf").unwrap();
    // Braces are percent-encoded by URL normalisation, then every `%` doubled for systemd.
    assert!(
        drop_in.contains("HTTP_PROXY=http://user:p%%40ss%%7Bx%%7D'$@proxy.corp.example:3128/"),
        "{drop_in}"
    );
}

#[test]
fn bad_plans_are_refused_with_what_to_fix() {
    let s = ClusterSecrets::generate(&plan("1.30.2", false)).unwrap();
    let check = |mutate: &dyn Fn(&mut kubemaas::bootstrap::ClusterPlan), field: &str| {
        let mut p = plan("1.30.2", false);
        mutate(&mut p);
        match user_data(&p, &s, &node(NodeRole::Worker)) {
            Err(BootstrapError::InvalidPlan { field: f, fix, .. }) => {
                assert_eq!(f, field);
                assert!(!fix.is_empty());
            }
            other => panic!("expected an InvalidPlan error on {field}, got {other:?}"),
        }
    };
    check(
        &|p| p.service_cidr = "10.244.0.0/20".parse().unwrap(),
        "cluster.service_cidr",
    );
    check(
        &|p| p.service_cidr = "10.96.0.0/8".parse().unwrap(),
        "cluster.service_cidr",
    );
    check(
        &|p| p.pod_cidr = "10.20.0.0/16".parse().unwrap(),
        "cluster.pod_cidr",
    );
    check(
        &|p| p.cluster_name = "Prod EU".into(),
        "cluster.cluster_name",
    );
    check(
        &|p| p.kubernetes_version = "1.23.0".parse().unwrap(),
        "cluster.kubernetes_version",
    );
    check(
        &|p| p.vip.as_mut().unwrap().address = "10.30.0.1".parse().unwrap(),
        "cluster.vip",
    );
    check(
        &|p| {
            p.node_subnet = None;
        },
        "cluster.vip.interface",
    );
    check(
        &|p| {
            p.proxy = Some(kubemaas::bootstrap::ProxyPlan {
                http: Some("proxy:3128".into()),
                ..Default::default()
            })
        },
        "cluster.proxy.http",
    );
    check(
        &|p| p.packages.components = vec!["main".into()],
        "cluster.packages.components",
    );
    check(
        &|p| p.packages.key = AptKey::Armored("not a key".into()),
        "cluster.packages.key",
    );
    check(
        &|p| p.endpoint_host = "https://api:6443".into(),
        "cluster.endpoint_host",
    );
    check(
        &|p| p.cni.manifest = CniManifest::Inline(" ".into()),
        "cluster.cni.manifest",
    );

    let p = plan("1.30.2", false);
    let mut n = node(NodeRole::Worker);
    n.labels
        .push(("node-role.kubernetes.io/worker".into(), "".into()));
    let err = user_data(&p, &s, &n).unwrap_err().to_string();
    assert!(
        err.contains("node.labels") && err.contains("NodeRestriction"),
        "{err}"
    );
    let mut n = node(NodeRole::Worker);
    n.ip = Some("192.168.1.5".parse().unwrap());
    assert!(user_data(&p, &s, &n).is_err());
    let mut n = node(NodeRole::Worker);
    n.hostname = "Worker_1".into();
    assert!(user_data(&p, &s, &n).is_err());
}

#[test]
fn known_address_and_interface_need_no_detection() {
    let mut p = plan("1.30.2", false);
    p.vip.as_mut().unwrap().interface = Some("bond0.20".into());
    let s = ClusterSecrets::generate(&p).unwrap();
    let ud = user_data(&p, &s, &node(NodeRole::InitControlPlane)).unwrap();
    assert!(!ud.contains("detect-node-network"));
    assert!(!ud.contains(NODE_IP_PLACEHOLDER) && !ud.contains(NODE_INTERFACE_PLACEHOLDER));
    assert!(ud.contains("bond0.20"));
}

#[test]
fn the_detection_script_fills_in_address_and_interface() {
    // Runs the real script against this machine's loopback: 127.0.0.1 on `lo`.
    let sh = require_tool("sh");
    let p = plan("1.31.1", false);
    let s = ClusterSecrets::generate(&p).unwrap();
    let ud = user_data(&p, &s, &node(NodeRole::JoinControlPlane)).unwrap();
    let (script, mode) = file_content(&ud, "/etc/kubemaas/detect-node-network.sh").unwrap();
    assert_eq!(mode.as_deref(), Some("0755"));
    let (kubeadm, _) = file_content(&ud, KUBEADM_CONFIG_PATH).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script_path = dir.path().join("detect.sh");
    std::fs::write(&script_path, script).unwrap();
    let target = dir.path().join("kubeadm.yaml");
    std::fs::write(&target, &kubeadm).unwrap();
    let (vip, _) = file_content(&ud, "/etc/kubemaas/kube-vip.yaml").unwrap();
    let vip_target = dir.path().join("kube-vip.yaml");
    std::fs::write(&vip_target, &vip).unwrap();
    let out = run(
        &sh,
        &[
            script_path.to_str().unwrap(),
            "127.0.0.0/8",
            target.to_str().unwrap(),
            vip_target.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pod: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&vip_target).unwrap()).unwrap();
    let iface = pod["spec"]["containers"][0]["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "vip_interface")
        .unwrap()["value"]
        .clone();
    assert_eq!(iface, "lo");
    let filled = std::fs::read_to_string(&target).unwrap();
    assert!(!filled.contains(NODE_IP_PLACEHOLDER), "{filled}");
    let join: JoinConfiguration = serde_yaml::from_str(&filled).unwrap();
    let endpoint = join.control_plane.unwrap().local_api_endpoint.unwrap();
    assert_eq!(endpoint.advertise_address, "127.0.0.1");
    assert_eq!(
        join.node_registration.kubelet_extra_args.get("node-ip"),
        Some("127.0.0.1")
    );

    // No address on the subnet: a clear failure, files untouched. Documentation ranges are
    // unlikely to be configured, but check rather than assume.
    let ip = require_tool("ip");
    let absent = ["203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24"]
        .into_iter()
        .find(|net| {
            run(&ip, &["-o", "addr", "show", "to", net])
                .stdout
                .is_empty()
        })
        .expect("one documentation range is not configured on this machine");
    std::fs::write(&target, &kubeadm).unwrap();
    let out = run(
        &sh,
        &[
            script_path.to_str().unwrap(),
            absent,
            target.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("no address on {absent}")));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), kubeadm);
}

#[test]
fn dns_endpoint_without_vip_and_ipv6_cluster_ranges() {
    // The MAAS DNS-record alternative: no VIP, so no kube-vip anywhere; plus an IPv6 service
    // range and an inline Cilium manifest in kubernetes IPAM. Still valid cloud-config.
    let cloud_init = require_tool("cloud-init");
    let mut p = plan("1.31.1", true);
    p.endpoint_host = "api.prod-eu1.maas".into();
    p.vip = None;
    p.node_subnet = None;
    p.pod_cidr = "fd10:244::/56".parse().unwrap();
    p.service_cidr = "fd10:96::/112".parse().unwrap();
    p.cni = kubemaas::bootstrap::CniPlan {
        kind: kubemaas::bootstrap::CniKind::Cilium,
        manifest: CniManifest::Inline(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cilium-config\n  namespace: kube-system\ndata:\n  ipam: kubernetes\n"
                .into(),
        ),
    };
    let s = ClusterSecrets::generate(&p).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for role in ROLES {
        let ud = user_data(&p, &s, &node(role)).unwrap();
        assert!(
            !ud.contains("kube-vip"),
            "{role} got kube-vip without a VIP"
        );
        // No subnet to search: nothing is left for the node to detect.
        assert!(!ud.contains(NODE_IP_PLACEHOLDER) && !ud.contains("detect-node-network"));
        let (kubeadm, _) = file_content(&ud, KUBEADM_CONFIG_PATH).unwrap();
        assert!(kubeadm.contains("api.prod-eu1.maas:6443"), "{kubeadm}");
        let (sysctl, _) = file_content(&ud, "/etc/sysctl.d/90-kubemaas-kubernetes.conf").unwrap();
        assert!(sysctl.contains("net.ipv6.conf.all.forwarding = 1"));
        let file = dir.path().join(format!("{role}.yaml"));
        std::fs::write(&file, &ud).unwrap();
        cloud_init_schema(&cloud_init, &file)
            .unwrap_or_else(|report| panic!("cloud-init schema rejected {role}:\n{report}"));
    }
    let list = no_proxy_list(&p);
    assert!(list.contains(&"api.prod-eu1.maas".to_string()));
    assert!(list.contains(&"fd10:244::/56".to_string()));
}

/// The raw runcmd entries (argv lists), for checks that need individual arguments.
fn runcmd_argvs(ud: &str) -> Vec<Vec<String>> {
    let doc: serde_yaml::Value = serde_yaml::from_str(ud).unwrap();
    doc["runcmd"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_sequence())
        .map(|args| {
            args.iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn joiners_wait_for_the_api_and_the_cni_apply_is_retried() {
    let sh = require_tool("sh");
    let p = plan("1.30.2", false);
    let s = ClusterSecrets::generate(&p).unwrap();
    for role in [NodeRole::JoinControlPlane, NodeRole::Worker] {
        let ud = user_data(&p, &s, &node(role)).unwrap();
        let (ca, _) = file_content(&ud, "/etc/kubemaas/cluster-ca.crt").unwrap();
        assert_eq!(ca, s.ca.cert_pem);
        let argvs = runcmd_argvs(&ud);
        let wait_at = argvs
            .iter()
            .position(|a| a.get(3).map(String::as_str) == Some("kubemaas-wait-api"))
            .expect("joiners wait for the API server");
        let wait = &argvs[wait_at];
        assert_eq!(wait[4], "/etc/kubemaas/cluster-ca.crt");
        assert_eq!(wait[5], "https://10.20.0.250:6443/readyz");
        let join_at = argvs.iter().position(|a| a[0] == "kubeadm").unwrap();
        assert!(wait_at < join_at);
        // The embedded script is valid shell.
        let out = run(&sh, &["-n", "-c", &wait[2]]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let ud = user_data(&p, &s, &node(NodeRole::InitControlPlane)).unwrap();
    let argvs = runcmd_argvs(&ud);
    let apply = argvs
        .iter()
        .find(|a| a.get(3).map(String::as_str) == Some("kubemaas-retry"))
        .expect("the CNI apply is retried");
    assert_eq!(&apply[4..6], ["kubectl", "--kubeconfig"]);
    // The retry wrapper runs a succeeding command once and passes its arguments intact.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran with spaces");
    let out = run(
        &sh,
        &[
            "-c",
            &apply[2],
            "kubemaas-retry",
            "touch",
            marker.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(marker.exists());
    assert!(
        !ud.contains("kubemaas-wait-api"),
        "the first node waits for nobody"
    );
}

#[test]
fn runcmd_is_valid_shell_as_cloud_init_writes_it() {
    // cloud-init turns runcmd into one shell script with its own `shellify`; build that script
    // with cloud-init's code and have sh parse it (`-n`: parse only, run nothing).
    // cloud-init's own interpreter (its shebang): a python3 earlier on PATH may lack its module.
    let cloud_init = require_tool("cloud-init");
    let python = cloud_init_python(&cloud_init);
    let sh = require_tool("sh");
    let dir = tempfile::tempdir().unwrap();
    for version in VERSIONS {
        let p = plan(version, true);
        let s = ClusterSecrets::generate(&p).unwrap();
        for role in ROLES {
            let ud = user_data(&p, &s, &node(role)).unwrap();
            let input = dir.path().join(format!("{version}-{role}.yaml"));
            let script = dir.path().join(format!("{version}-{role}.sh"));
            std::fs::write(&input, &ud).unwrap();
            let text = shellify_runcmd(&python, &input, &script);
            assert!(text.starts_with("#!/bin/sh\nset -e\n"), "{text}");
            let out = run(&sh, &["-n", script.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{version} {role}: {}\n{text}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
