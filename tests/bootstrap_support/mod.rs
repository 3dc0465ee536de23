//! Shared fixtures for the bootstrap tests: sample plans, the real tools (cloud-init, openssl)
//! they check artifacts with, and normalisation of random material for golden files.
#![allow(dead_code)]

use kubemaas::bootstrap::{
    AptKey, AptRepository, ClusterPlan, ClusterSecrets, CniKind, CniManifest, CniPlan, NodePlan,
    NodeRole, ProxyPlan, Taint, TaintEffect, VipPlan,
};
// Test crates may include several support modules that each bring this one.
#[allow(clippy::duplicate_mod)]
#[path = "../tools_support/mod.rs"]
mod tools_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Kubernetes versions the tests cover: v1beta3 with admin.conf for kube-vip, v1beta3 with
/// super-admin.conf, and v1beta4.
pub const VERSIONS: [&str; 3] = ["1.28.9", "1.30.2", "1.31.1"];

pub fn plan(version: &str, with_proxy: bool) -> ClusterPlan {
    ClusterPlan {
        cluster_id: "c-7f3a".into(),
        cluster_name: "prod-eu1".into(),
        kubernetes_version: version.parse().unwrap(),
        endpoint_host: "10.20.0.250".into(),
        vip: Some(VipPlan {
            address: "10.20.0.250".parse().unwrap(),
            interface: None,
        }),
        node_subnet: Some("10.20.0.0/24".parse().unwrap()),
        pod_cidr: "10.244.0.0/16".parse().unwrap(),
        service_cidr: "10.96.0.0/12".parse().unwrap(),
        dns_domain: "cluster.local".into(),
        maas_domain: "maas".into(),
        proxy: with_proxy.then(|| ProxyPlan {
            http: Some("http://proxy.corp.example:3128".into()),
            https: Some("http://proxy.corp.example:3128".into()),
            no_proxy: vec![".corp.example".into(), "mirror.internal".into()],
        }),
        packages: AptRepository {
            url: format!(
                "https://apt.corp.example/kubernetes/core:/stable:/v1.{}/deb/",
                version.split('.').nth(1).unwrap()
            ),
            suite: "/".into(),
            components: vec![],
            key: AptKey::Url("https://apt.corp.example/kubernetes/Release.key".into()),
            package_version: None,
        },
        image_repository: "registry.corp.example:5000/k8s".into(),
        registry_mirrors: [
            ("docker.io", "https://registry.corp.example:5000"),
            ("ghcr.io", "https://registry.corp.example:5000"),
            ("quay.io", "https://registry.corp.example:5000"),
        ]
        .into_iter()
        .map(|(r, m)| (r.to_string(), vec![m.to_string()]))
        .collect(),
        ca_certificates: vec![],
        apt_mirror: None,
        extra_packages: vec![],
        kubelet_extra_args: Default::default(),
        cluster_configuration: serde_yaml::Value::Null,
        cni: CniPlan {
            kind: CniKind::Calico,
            manifest: CniManifest::Url("https://mirror.corp.example/cni/calico-v3.28.yaml".into()),
        },
        addon_manifests: vec![],
        addon_steps: vec![],
        kube_vip_image: "registry.corp.example:5000/kube-vip/kube-vip:v0.8.9".into(),
    }
}

pub fn node(role: NodeRole) -> NodePlan {
    match role {
        NodeRole::InitControlPlane => NodePlan {
            hostname: "cp-1".into(),
            role,
            labels: vec![],
            taints: None,
            ip: Some("10.20.0.11".parse().unwrap()),
        },
        NodeRole::JoinControlPlane => NodePlan {
            hostname: "cp-2".into(),
            role,
            labels: vec![],
            taints: None,
            ip: None,
        },
        NodeRole::Worker => NodePlan {
            hostname: "worker-1".into(),
            role,
            labels: vec![("node.kubernetes.io/pool".into(), "general".into())],
            taints: Some(vec![Taint {
                key: "example.com/dedicated".into(),
                value: Some("batch".into()),
                effect: TaintEffect::NoSchedule,
            }]),
            ip: None,
        },
    }
}

pub const ROLES: [NodeRole; 3] = [
    NodeRole::InitControlPlane,
    NodeRole::JoinControlPlane,
    NodeRole::Worker,
];

/// The path of a tool the tests need: installed by .ci/install-test-tools when missing,
/// else a failure naming the command to run.
pub fn require_tool(tool: &str) -> PathBuf {
    tools_support::require(tool)
}

/// `cloud-init schema --config-file FILE` with the real `cloud_init`: `Err` with its report
/// (stdout and stderr) unless it says the document is Valid.
pub fn cloud_init_schema(cloud_init: &Path, file: &Path) -> Result<(), String> {
    let out = run(
        cloud_init,
        &["schema", "--config-file", file.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && stdout.contains("Valid") {
        Ok(())
    } else {
        Err(format!(
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The Python that runs `cloud_init` (its `#!` line): a python3 earlier on PATH may lack
/// cloud-init's modules.
pub fn cloud_init_python(cloud_init: &Path) -> PathBuf {
    let launcher = std::fs::read_to_string(cloud_init).unwrap();
    PathBuf::from(
        launcher
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("#!"))
            .and_then(|l| l.split_whitespace().next())
            .expect("cloud-init is a script with a #! line"),
    )
}

/// Writes the `runcmd` of the user-data in file `user_data` to `script` as cloud-init does
/// (one shell script, made by its own `shellify`), with cloud-init's `python`; returns the
/// script.
pub fn shellify_runcmd(python: &Path, user_data: &Path, script: &Path) -> String {
    let shellify = "import sys, yaml\nfrom cloudinit.util import shellify\n\
                    doc = yaml.safe_load(open(sys.argv[1]))\n\
                    open(sys.argv[2], 'w').write(shellify(doc['runcmd']))\n";
    let out = run(
        python,
        &[
            "-c",
            shellify,
            user_data.to_str().unwrap(),
            script.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(script).unwrap()
}

pub fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// Runs a command and returns its stdout, failing the test with its stderr if it fails.
pub fn run_ok(program: &Path, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{} {:?} failed: {}\n{}",
        program.display(),
        args,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Replaces every secret (keys, certificates, token, discovery hash) with a stable marker, so
/// user-data can be compared with a golden file.
pub fn normalise(text: &str, secrets: &ClusterSecrets) -> String {
    let replacements = [
        (secrets.ca.cert_pem.as_str(), "<CLUSTER CA CERTIFICATE>\n"),
        (secrets.ca.key_pem.as_str(), "<CLUSTER CA KEY>\n"),
        (secrets.etcd_ca.cert_pem.as_str(), "<ETCD CA CERTIFICATE>\n"),
        (secrets.etcd_ca.key_pem.as_str(), "<ETCD CA KEY>\n"),
        (
            secrets.front_proxy_ca.cert_pem.as_str(),
            "<FRONT PROXY CA CERTIFICATE>\n",
        ),
        (
            secrets.front_proxy_ca.key_pem.as_str(),
            "<FRONT PROXY CA KEY>\n",
        ),
        (
            secrets.service_account.private_key_pem.as_str(),
            "<SERVICE ACCOUNT KEY>\n",
        ),
        (
            secrets.service_account.public_key_pem.as_str(),
            "<SERVICE ACCOUNT PUBLIC KEY>\n",
        ),
    ];
    // Work on the parsed document: block scalars are indented in the YAML text, so PEM text
    // only appears verbatim inside the decoded strings.
    let mut doc: serde_yaml::Value = serde_yaml::from_str(text).expect("user-data parses");
    let token = secrets.bootstrap_token.expose();
    let hash = secrets.ca_cert_hash.clone();
    replace_strings(&mut doc, &|s: &str| {
        let mut s = s.to_string();
        for (secret, marker) in &replacements {
            s = s.replace(secret, marker);
        }
        s.replace(&token, "<BOOTSTRAP TOKEN>")
            .replace(&hash, "sha256:<CA CERT HASH>")
    });
    format!("#cloud-config\n{}", serde_yaml::to_string(&doc).unwrap())
}

fn replace_strings(v: &mut serde_yaml::Value, f: &dyn Fn(&str) -> String) {
    match v {
        serde_yaml::Value::String(s) => *s = f(s),
        serde_yaml::Value::Sequence(seq) => seq.iter_mut().for_each(|x| replace_strings(x, f)),
        serde_yaml::Value::Mapping(m) => m.values_mut().for_each(|x| replace_strings(x, f)),
        _ => {}
    }
}

/// The `content` of the write_files entry at `path`.
pub fn file_content(user_data: &str, path: &str) -> Option<(String, Option<String>)> {
    let doc: serde_yaml::Value = serde_yaml::from_str(user_data).unwrap();
    doc.get("write_files")?
        .as_sequence()?
        .iter()
        .find(|f| f.get("path").and_then(|p| p.as_str()) == Some(path))
        .map(|f| {
            (
                f.get("content").unwrap().as_str().unwrap().to_string(),
                f.get("permissions")
                    .and_then(|p| p.as_str())
                    .map(str::to_string),
            )
        })
}

/// The runcmd entries, each joined into one line for easy matching.
pub fn runcmd_lines(user_data: &str) -> Vec<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(user_data).unwrap();
    doc.get("runcmd")
        .and_then(|r| r.as_sequence())
        .map(|seq| {
            seq.iter()
                .map(|c| match c {
                    serde_yaml::Value::String(s) => s.clone(),
                    serde_yaml::Value::Sequence(args) => args
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                    other => panic!("unexpected runcmd entry {other:?}"),
                })
                .collect()
        })
        .unwrap_or_default()
}
