//! The commented cluster spec `kubemaas cluster new NAME --account A` prints: every field present
//! with its default and a line saying what it does, so an operator edits instead of looking up
//! a reference. It is rendered from [`ClusterSpec::with_defaults`] — not from a separate text —
//! so the template and the parser's defaults cannot drift, and it validates as printed.

use super::problem::Problems;
use super::profile::{shipped_profile, DEFAULT_PROFILE};
use super::spec::ClusterSpec;
use super::validate::validate_local;
use std::fmt::Write;

/// The commented spec for a new cluster, or the problems with the arguments (paths name the
/// spec fields the arguments fill: `metadata.name`, `spec.cloudAccount`, `spec.nodePools[0].size`).
pub fn cluster_template(
    name: &str,
    account: &str,
    control_plane: u32,
    workers: u32,
) -> Result<String, Problems> {
    let spec = ClusterSpec::with_defaults(name, account, control_plane, workers);
    let profile = shipped_profile(DEFAULT_PROFILE);
    validate_local(&spec, profile.as_ref()).into_result()?;
    Ok(render(&spec))
}

/// A YAML scalar for a string, quoted only when YAML needs it.
fn q(s: &str) -> String {
    serde_yaml::to_string(s)
        .map(|t| t.trim_end().to_string())
        .unwrap_or_else(|_| format!("{s:?}"))
}

fn render(spec: &ClusterSpec) -> String {
    let mut o = String::new();
    let b = &spec.spec;
    let net = &b.network;
    let ep = &net.control_plane_endpoint;
    let pol = &b.policies;
    // Writing to a String cannot fail.
    let _ = write!(
        o,
        r#"# kubemaas cluster spec. Create the cluster with: kubemaas cluster create -f {name}.yaml
# Every field is shown with the value kubemaas suggests; comments say what each one does.
apiVersion: {api}
kind: {kind}
metadata:
  # The cluster's name: lowercase letters, digits and '-', at most 63. Part of node hostnames.
  name: {name}
  # Free text shown in listings.
  description: ""
  # Your own tags for grouping clusters, like team-a or env:prod.
  tags: []
spec:
  # The MAAS cloud account to build on (kubemaas account list).
  cloudAccount: {account}
  profile:
    # The cluster profile: OS, Kubernetes, CNI, storage and add-on packs (kubemaas profile list).
    name: {profile}
    # Per-pack value overrides, deep-merged over the profile's values (null removes a key), e.g.
    #   kubernetes:
    #     imageRepository: registry.internal:5000/k8s
    overrides: {{}}
  # The MAAS DNS domain the nodes are registered in.
  dnsDomain: {domain}
  # The image MAAS deploys: ubuntu/<series> or custom/<name> (an image uploaded to MAAS).
  # Leave it out to use the profile's Ubuntu series.
  # osImage: ubuntu/jammy
  network:
    # Pod addresses; must not overlap the service range or any MAAS subnet.
    podCIDR: {pod}
    # Service (ClusterIP) addresses; at most a /12.
    serviceCIDR: {service}
    controlPlaneEndpoint:
      # vip: a virtual IP announced by kube-vip on the control-plane nodes.
      # dns: a MAAS DNS record listing the control-plane nodes' addresses.
      mode: vip
      # The VIP; leave it out to have MAAS reserve a free address on the subnet.
      # vip: 10.20.0.100
      # The API's DNS name (the record in dns mode; an extra certificate name in vip mode).
      # dnsName: {name}-api.{domain}
      # The MAAS subnet carrying API traffic; leave it out for the machines' boot subnet.
      # subnet: 10.20.0.0/24
      port: {port}
    # HTTP(S) proxy for apt, containerd and kubelet. kubemaas adds the pod and service ranges,
    # the endpoint, localhost, .svc, the cluster and MAAS domains to noProxy itself. To use
    # one, replace the {{}} below with, for example:
    #   {{httpProxy: "http://proxy.internal:3128", httpsProxy: "http://proxy.internal:3128",
    #    noProxy: [.internal, 10.0.0.0/8]}}
    proxy: {{}}
    # The cluster's own DNS domain (NAME.NAMESPACE.svc.DOMAIN), answered by CoreDNS; never
    # the MAAS domain above, or pods could no longer resolve MAAS hosts.
    clusterDomain: {cluster_domain}
  # One control-plane pool (size 1, 3 or 5) and one or more worker pools.
  # Sizes of machines follow MAAS: memory in MiB (8 GiB = 8192), disk in GB.
  nodePools:
"#,
        cluster_domain = q(&spec.spec.network.cluster_domain),
        api = q(&spec.api_version),
        kind = q(&spec.kind),
        name = q(&spec.metadata.name),
        account = q(&b.cloud_account),
        profile = q(&b.profile.name),
        domain = q(&b.dns_domain),
        pod = q(&net.pod_cidr),
        service = q(&net.service_cidr),
        port = ep.port,
    );
    for pool in &b.node_pools {
        let ru = &pool.rolling_update;
        let _ = write!(
            o,
            r#"    - name: {name}
      # controlPlane or worker.
      role: {role}
      # Number of nodes.{size_note}
      size: {size}
"#,
            name = q(&pool.name),
            role = pool.role,
            size = pool.size,
            size_note = if pool.role == super::spec::PoolRole::ControlPlane {
                " 1, 3 or 5: etcd needs an odd number; 3 survives one failure."
            } else {
                " 0 is allowed when the control plane runs workloads."
            },
        );
        if let Some(allow) = pool.allow_workloads {
            let _ = write!(
                o,
                "      # Let ordinary workloads run on the control plane (drops its NoSchedule taint).\n      allowWorkloads: {allow}\n"
            );
        }
        let _ = write!(
            o,
            r#"      # The MAAS resource pool machines are taken from.
      resourcePool: {rp}
      # MAAS zones to spread the nodes over; empty means any zone.
      zones: []
      # The least a machine must have: cores, memory (MiB), boot disk (GB).
      minCpu: {cpu}
      minMemoryMiB: {mem}
      minDiskGB: {disk}
      # MAAS tags a machine must carry (all of them), like [gpu, nvme].
      maasTags: []
      # Kubernetes labels and taints for the nodes, e.g.
      #   labels: {{example.com/tier: backend}}
      #   taints: [{{key: example.com/dedicated, value: db, effect: NoSchedule}}]
      labels: {{}}
      taints: []
"#,
            rp = q(&pool.resource_pool),
            cpu = pool.min_cpu,
            mem = pool.min_memory_mib,
            disk = pool.min_disk_gb,
        );
        if pool.role == super::spec::PoolRole::ControlPlane {
            o.push_str("      # Fixed addresses for the control-plane nodes, one per node; empty means MAAS assigns.\n      staticIps: []\n");
        }
        let _ = write!(
            o,
            r#"      # How nodes are replaced on upgrades: expandFirst (add, then remove: needs a spare
      # machine), contractFirst (remove, then add), or custom with maxSurge/maxUnavailable.
      rollingUpdate:
        strategy: {strategy}
"#,
            strategy = serde_yaml::to_string(&ru.strategy)
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        );
    }
    let _ = write!(
        o,
        r#"  policies:
    # OS patching of the nodes.
    machineManagement:
      patchOsOnBoot: {pob}
      rebootIfRequired: {rir}
      # Cron schedule for patching, like "0 3 * * 0" (Sundays 03:00); leave out for none.
      # patchSchedule: "0 3 * * 0"
    # Conformance and security scans: on demand only, or scheduled by replacing the {{}} with
    # a cron schedule, like {{schedule: "0 0 * * 0"}} (Sundays at midnight).
    scan: {{}}
    # Backups: a cron schedule and an S3-compatible location, kept retentionDays days.
    backup:
      # schedule: "0 1 * * *"
      # location: s3://backups/{name}
      retentionDays: {ret}
"#,
        pob = pol.machine_management.patch_os_on_boot,
        rir = pol.machine_management.reboot_if_required,
        name = spec.metadata.name,
        ret = pol.backup.retention_days,
    );
    o
}
