//! The cluster wizard's forms, one per step, and the [`ClusterSpec`] they make. Values are
//! parsed here (numbers, `key=value` lists, YAML); what they must be is left to
//! `crate::model::validate_local` / `validate_against_maas`, whose problems come back to the
//! fields through their document paths.

use crate::model::spec::{EndpointMode, RolloutStrategy, Taint, TaintEffect};
use crate::model::{ClusterProfile, ClusterSpec, NodePool, PoolRole, Problems};
use crate::tui::lookups::{NamedCount, PlacementChoices};
use crate::tui::widgets::form::{ChoiceItem, Field, Form};
use serde_yaml::Value;
use std::collections::BTreeMap;

pub const EXPAND_FIRST: &str = "expand-first";
pub const CONTRACT_FIRST: &str = "contract-first";

/// Memory is typed in GiB (what operators think in) and stored in MiB (what MAAS takes).
const MIB_PER_GIB: u64 = 1024;

pub fn counted(list: &[NamedCount]) -> Vec<ChoiceItem> {
    list.iter()
        .map(|n| ChoiceItem::counted(n.name.clone(), n.available))
        .collect()
}

pub fn basics(spec: &ClusterSpec) -> Form {
    Form::new(vec![
        Field::text("name", "Name", "metadata.name", &spec.metadata.name)
            .with_hint("lowercase letters, digits and '-': part of every node's hostname"),
        Field::text(
            "description",
            "Description",
            "metadata.description",
            &spec.metadata.description,
        ),
        Field::text(
            "tags",
            "Tags",
            "metadata.tags",
            &spec.metadata.tags.join(", "),
        )
        .with_hint("comma-separated, for your own grouping: team-a, env:prod"),
    ])
}

pub fn profile_items(profiles: &[ClusterProfile]) -> Vec<ChoiceItem> {
    profiles
        .iter()
        .map(|p| ChoiceItem::new(p.metadata.name.clone()))
        .collect()
}

pub fn profile(spec: &ClusterSpec, profiles: &[ClusterProfile]) -> Form {
    let items = profile_items(profiles);
    let selected = items
        .iter()
        .position(|i| i.value == spec.spec.profile.name)
        .unwrap_or(0);
    Form::new(vec![Field::choice(
        "profile",
        "Profile",
        "spec.profile.name",
        items,
        selected,
    )
    .with_hint("← → pick; the layers below are what the cluster runs")])
}

pub const VALUES_HELP: &str =
    "# Pack values to change, by pack name, e.g.\n# kubernetes:\n#   imageRepository: registry.internal:5000/k8s\n";

pub fn values() -> Form {
    Form::new(vec![Field::yaml(
        "overrides",
        "Overrides",
        "spec.profile.overrides",
        VALUES_HELP,
    )
    .with_hint(
        "YAML merged over the profile's values (right); null removes a key",
    )])
}

pub fn placement(spec: &ClusterSpec, accounts: &[String]) -> Form {
    let account_items: Vec<ChoiceItem> = accounts.iter().map(ChoiceItem::new).collect();
    Form::new(vec![
        Field::choice(
            "account",
            "Cloud account",
            "spec.cloudAccount",
            account_items,
            0,
        )
        .with_hint("the MAAS region to build on (add one with :new-account)"),
        Field::choice(
            "domain",
            "DNS domain",
            "spec.dnsDomain",
            vec![ChoiceItem::new(spec.spec.dns_domain.clone())],
            0,
        )
        .with_hint("the MAAS domain the nodes are registered in; (n) = machines available"),
        Field::choice(
            "image",
            "OS image",
            "spec.osImage",
            vec![ChoiceItem::labelled("", "profile's Ubuntu series")],
            0,
        )
        .with_hint("a boot image MAAS has synced or uploaded"),
    ])
}

pub fn image_items(choices: &PlacementChoices) -> Vec<ChoiceItem> {
    let mut items = vec![ChoiceItem::labelled("", "profile's Ubuntu series")];
    items.extend(choices.boot_images.iter().map(ChoiceItem::new));
    items
}

pub fn network(spec: &ClusterSpec) -> Form {
    let n = &spec.spec.network;
    let ep = &n.control_plane_endpoint;
    Form::new(vec![
        Field::choice(
            "mode",
            "API endpoint",
            "spec.network.controlPlaneEndpoint.mode",
            vec![
                ChoiceItem::labelled("vip", "virtual IP (kube-vip)"),
                ChoiceItem::labelled("dns", "DNS name (MAAS record)"),
            ],
            usize::from(ep.mode == EndpointMode::Dns),
        ),
        Field::text(
            "vip",
            "VIP",
            "spec.network.controlPlaneEndpoint.vip",
            ep.vip.as_deref().unwrap_or(""),
        )
        .with_hint("blank: MAAS reserves a free address on the nodes' subnet"),
        Field::text(
            "dns_name",
            "DNS name",
            "spec.network.controlPlaneEndpoint.dnsName",
            ep.dns_name.as_deref().unwrap_or(""),
        ),
        Field::text("pod", "Pod CIDR", "spec.network.podCIDR", &n.pod_cidr),
        Field::text(
            "service",
            "Service CIDR",
            "spec.network.serviceCIDR",
            &n.service_cidr,
        ),
        Field::text(
            "http_proxy",
            "HTTP proxy",
            "spec.network.proxy.httpProxy",
            n.proxy.http_proxy.as_deref().unwrap_or(""),
        ),
        Field::text(
            "https_proxy",
            "HTTPS proxy",
            "spec.network.proxy.httpsProxy",
            n.proxy.https_proxy.as_deref().unwrap_or(""),
        ),
        Field::text(
            "no_proxy",
            "No proxy",
            "spec.network.proxy.noProxy",
            &n.proxy.no_proxy.join(", "),
        )
        .with_hint("comma-separated; pod/service networks and the endpoint are added for you"),
    ])
}

/// Keys of a pool form and the NodePool fields they edit (paths are per pool index).
const POOL_PATHS: &[(&str, &str)] = &[
    ("name", "name"),
    ("size", "size"),
    ("allow", "allowWorkloads"),
    ("rpool", "resourcePool"),
    ("zones", "zones"),
    ("cpu", "minCpu"),
    ("mem", "minMemoryMiB"),
    ("disk", "minDiskGB"),
    ("tags", "maasTags"),
    ("labels", "labels"),
    ("taints", "taints"),
    ("rollout", "rollingUpdate"),
];

/// Points a pool form's fields at pool `index` of the spec.
pub fn repath(form: &mut Form, index: usize) {
    for f in &mut form.fields {
        if let Some((_, suffix)) = POOL_PATHS.iter().find(|(k, _)| *k == f.key) {
            f.path = format!("spec.nodePools[{index}].{suffix}");
        }
    }
}

pub fn pool(pool: &NodePool, index: usize, choices: Option<&PlacementChoices>) -> Form {
    let p = |s: &str| format!("spec.nodePools[{index}].{s}");
    let (pools, zones, tags) = match choices {
        Some(c) => (counted(&c.pools), counted(&c.zones), counted(&c.tags)),
        None => (
            vec![ChoiceItem::new(pool.resource_pool.clone())],
            vec![],
            vec![],
        ),
    };
    let rpool = pools
        .iter()
        .position(|i| i.value == pool.resource_pool)
        .unwrap_or(0);
    let mut fields = vec![
        Field::choice("pool", "Pool", "", Vec::new(), index)
            .with_hint("← → switch pool · ctrl-a add a worker pool · ctrl-x remove this pool"),
        Field::text("name", "Name", &p("name"), &pool.name),
        Field::number("size", "Size", &p("size"), u64::from(pool.size), "node(s)"),
    ];
    if pool.role == PoolRole::ControlPlane {
        fields.push(Field::toggle(
            "allow",
            "Run workloads",
            &p("allowWorkloads"),
            pool.allow_workloads == Some(true),
        ));
    }
    let mut rest = vec![
        Field::choice("rpool", "Resource pool", &p("resourcePool"), pools, rpool)
            .with_hint("(n) = Ready machines in it"),
        Field::multi("zones", "Zones", &p("zones"), zones, &pool.zones)
            .with_hint("space ticks; none ticked = any zone; (n) = Ready machines"),
        Field::number(
            "cpu",
            "Min CPU",
            &p("minCpu"),
            u64::from(pool.min_cpu),
            "cores",
        ),
        Field::number(
            "mem",
            "Min memory",
            &p("minMemoryMiB"),
            pool.min_memory_mib / MIB_PER_GIB,
            "GiB",
        ),
        Field::number(
            "disk",
            "Min boot disk",
            &p("minDiskGB"),
            pool.min_disk_gb,
            "GB",
        ),
        Field::multi("tags", "MAAS tags", &p("maasTags"), tags, &pool.maas_tags)
            .with_hint("machines must carry every ticked tag; (n) = Ready machines"),
        Field::pairs(
            "labels",
            "Node labels",
            &p("labels"),
            &pool
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        )
        .with_hint("key=value, comma-separated"),
        Field::pairs(
            "taints",
            "Taints",
            &p("taints"),
            &pool
                .taints
                .iter()
                .map(taint_text)
                .collect::<Vec<_>>()
                .join(", "),
        )
        .with_hint("key=value:NoSchedule (or PreferNoSchedule, NoExecute), comma-separated"),
        Field::choice(
            "rollout",
            "Rolling update",
            &p("rollingUpdate"),
            vec![
                ChoiceItem::labelled(EXPAND_FIRST, "expand first (needs a spare machine)"),
                ChoiceItem::labelled(CONTRACT_FIRST, "contract first (no spare)"),
            ],
            usize::from(pool.rolling_update.strategy == RolloutStrategy::ContractFirst),
        ),
    ];
    fields.append(&mut rest);
    Form::new(fields)
}

fn taint_text(t: &Taint) -> String {
    let effect = match t.effect {
        TaintEffect::NoSchedule => "NoSchedule",
        TaintEffect::PreferNoSchedule => "PreferNoSchedule",
        TaintEffect::NoExecute => "NoExecute",
    };
    if t.value.is_empty() {
        format!("{}:{effect}", t.key)
    } else {
        format!("{}={}:{effect}", t.key, t.value)
    }
}

pub fn policies(spec: &ClusterSpec) -> Form {
    let pol = &spec.spec.policies;
    Form::new(vec![
        Field::toggle(
            "patch_boot",
            "Patch OS on boot",
            "spec.policies.machineManagement.patchOsOnBoot",
            pol.machine_management.patch_os_on_boot,
        ),
        Field::toggle(
            "reboot",
            "Reboot if required",
            "spec.policies.machineManagement.rebootIfRequired",
            pol.machine_management.reboot_if_required,
        ),
        Field::text(
            "patch_schedule",
            "Patch schedule",
            "spec.policies.machineManagement.patchSchedule",
            pol.machine_management
                .patch_schedule
                .as_deref()
                .unwrap_or(""),
        )
        .with_hint("cron (min hour day month weekday), e.g. 0 3 * * 0; blank = never"),
        Field::text(
            "scan",
            "Scan schedule",
            "spec.policies.scan.schedule",
            pol.scan.schedule.as_deref().unwrap_or(""),
        )
        .with_hint("cron; blank = on demand only"),
        Field::text(
            "backup",
            "Backup schedule",
            "spec.policies.backup.schedule",
            pol.backup.schedule.as_deref().unwrap_or(""),
        )
        .with_hint("cron; blank = on demand only"),
        Field::text(
            "backup_location",
            "Backup location",
            "spec.policies.backup.location",
            pol.backup.location.as_deref().unwrap_or(""),
        )
        .with_hint("an S3-compatible URL; needed with a schedule"),
        Field::number(
            "retention",
            "Keep backups",
            "spec.policies.backup.retentionDays",
            u64::from(pol.backup.retention_days),
            "days",
        ),
    ])
}

/// Comma-separated words, blanks dropped.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A whole number typed into a form, or a problem at the field's path.
fn number(form: &Form, key: &str, problems: &mut Problems) -> Option<u64> {
    let text = form.text(key);
    let path = form.field(key).map(|f| f.path.clone()).unwrap_or_default();
    match text.parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) if text.is_empty() => {
            problems.push(path, "is empty: type a whole number");
            None
        }
        Err(_) => {
            problems.push(
                path,
                format!("`{text}` is not a whole number: type digits only"),
            );
            None
        }
    }
}

fn number_u32(form: &Form, key: &str, problems: &mut Problems) -> Option<u32> {
    let n = number(form, key, problems)?;
    match u32::try_from(n) {
        Ok(v) => Some(v),
        Err(_) => {
            let path = form.field(key).map(|f| f.path.clone()).unwrap_or_default();
            problems.push(path, format!("{n} is far too large"));
            None
        }
    }
}

/// The pack overrides typed as YAML: a mapping of pack name to values.
fn overrides(text: &str, path: &str, problems: &mut Problems) -> BTreeMap<String, Value> {
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Null) => BTreeMap::new(),
        Ok(Value::Mapping(m)) => m
            .into_iter()
            .filter_map(|(k, v)| match k {
                Value::String(s) => Some((s, v)),
                other => {
                    problems.push(
                        path,
                        format!("{other:?} is not a pack name: start each block with the pack's name, like `calico:`"),
                    );
                    None
                }
            })
            .collect(),
        Ok(_) => {
            problems.push(
                path,
                "must be a mapping of pack name to values, like `kubernetes:` then `  imageRepository: registry.internal:5000/k8s`",
            );
            BTreeMap::new()
        }
        Err(e) => {
            problems.push(path, format!("is not valid YAML: {e}"));
            BTreeMap::new()
        }
    }
}

fn labels(text: &str, path: &str, problems: &mut Problems) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for item in list(text) {
        match item.split_once('=') {
            Some((k, v)) => {
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
            None => problems.push(
                path,
                format!("`{item}` is not key=value: write labels like `tier=web, rack=a`"),
            ),
        }
    }
    out
}

fn taints(text: &str, path: &str, problems: &mut Problems) -> Vec<Taint> {
    let mut out = Vec::new();
    for item in list(text) {
        let Some((kv, effect)) = item.rsplit_once(':') else {
            problems.push(
                path,
                format!("`{item}` has no effect: write key=value:NoSchedule (or PreferNoSchedule, NoExecute)"),
            );
            continue;
        };
        // The model's own enum reads the effect, so the accepted names are defined once.
        let Ok(effect) = serde_yaml::from_str::<TaintEffect>(effect.trim()) else {
            problems.push(
                path,
                format!(
                    "`{}` is not a taint effect: use NoSchedule, PreferNoSchedule or NoExecute",
                    effect.trim()
                ),
            );
            continue;
        };
        let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
        out.push(Taint {
            key: key.trim().to_string(),
            value: value.trim().to_string(),
            effect,
        });
    }
    out
}

/// Everything the forms hold, as a spec, with what could not even be read.
pub struct Forms<'a> {
    pub basics: &'a Form,
    pub profile: &'a Form,
    pub values: &'a Form,
    pub placement: &'a Form,
    pub network: &'a Form,
    pub pools: &'a [Form],
    pub policies: &'a Form,
}

impl Forms<'_> {
    pub fn build(&self) -> (ClusterSpec, Problems) {
        let mut problems = Problems::new();
        let account = self.placement.choice("account").unwrap_or_default();
        let mut spec = ClusterSpec::with_defaults(&self.basics.text("name"), &account, 0, 0);
        spec.metadata.description = self.basics.text("description");
        spec.metadata.tags = list(&self.basics.text("tags"));
        let body = &mut spec.spec;
        body.profile.name = self.profile.choice("profile").unwrap_or_default();
        body.profile.overrides = overrides(
            &self.values.text("overrides"),
            "spec.profile.overrides",
            &mut problems,
        );
        if let Some(domain) = self.placement.choice("domain") {
            body.dns_domain = domain;
        }
        body.os_image = self.placement.choice("image").filter(|i| !i.is_empty());

        let net = &mut body.network;
        let ep = &mut net.control_plane_endpoint;
        ep.mode = match self.network.choice("mode").as_deref() {
            Some("dns") => EndpointMode::Dns,
            _ => EndpointMode::Vip,
        };
        ep.vip = self.network.optional("vip");
        ep.dns_name = self.network.optional("dns_name");
        net.pod_cidr = self.network.text("pod");
        net.service_cidr = self.network.text("service");
        net.proxy.http_proxy = self.network.optional("http_proxy");
        net.proxy.https_proxy = self.network.optional("https_proxy");
        net.proxy.no_proxy = list(&self.network.text("no_proxy"));

        body.node_pools = self
            .pools
            .iter()
            .enumerate()
            .map(|(i, f)| pool_from(f, i, &mut problems))
            .collect();

        let pol = &mut body.policies;
        pol.machine_management.patch_os_on_boot = self.policies.toggle("patch_boot");
        pol.machine_management.reboot_if_required = self.policies.toggle("reboot");
        pol.machine_management.patch_schedule = self.policies.optional("patch_schedule");
        pol.scan.schedule = self.policies.optional("scan");
        pol.backup.schedule = self.policies.optional("backup");
        pol.backup.location = self.policies.optional("backup_location");
        if let Some(days) = number_u32(self.policies, "retention", &mut problems) {
            pol.backup.retention_days = days;
        }
        (spec, problems)
    }
}

/// The role of pool `index`: the first is the control plane (the wizard never reorders it).
pub fn role_of(index: usize) -> PoolRole {
    if index == 0 {
        PoolRole::ControlPlane
    } else {
        PoolRole::Worker
    }
}

fn pool_from(form: &Form, index: usize, problems: &mut Problems) -> NodePool {
    let role = role_of(index);
    let mut pool = NodePool::new(form.text("name"), role, 0);
    let path = |s: &str| format!("spec.nodePools[{index}].{s}");
    if let Some(size) = number_u32(form, "size", problems) {
        pool.size = size;
    }
    if role == PoolRole::ControlPlane {
        pool.allow_workloads = Some(form.toggle("allow"));
    }
    if let Some(rp) = form.choice("rpool") {
        pool.resource_pool = rp;
    }
    pool.zones = form.chosen("zones");
    if let Some(cpu) = number_u32(form, "cpu", problems) {
        pool.min_cpu = cpu;
    }
    if let Some(gib) = number(form, "mem", problems) {
        pool.min_memory_mib = gib.saturating_mul(MIB_PER_GIB);
    }
    if let Some(disk) = number(form, "disk", problems) {
        pool.min_disk_gb = disk;
    }
    pool.maas_tags = form.chosen("tags");
    pool.labels = labels(&form.text("labels"), &path("labels"), problems);
    pool.taints = taints(&form.text("taints"), &path("taints"), problems);
    pool.rolling_update.strategy = match form.choice("rollout").as_deref() {
        Some(CONTRACT_FIRST) => RolloutStrategy::ContractFirst,
        _ => RolloutStrategy::ExpandFirst,
    };
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_taints_are_read_or_reported() {
        let mut p = Problems::new();
        let l = labels("tier=web, rack = a ,, bad", "x.labels", &mut p);
        assert_eq!(l.get("rack").map(String::as_str), Some("a"));
        assert_eq!(l.len(), 2);
        assert_eq!(p.len(), 1);
        assert!(p.0[0].message.contains("`bad` is not key=value"));

        let mut p = Problems::new();
        let t = taints(
            "gpu:NoExecute, dedicated=web:NoSchedule, x=y, k:Never",
            "x.taints",
            &mut p,
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].key, "gpu");
        assert_eq!(t[0].value, "");
        assert_eq!(t[1].effect, TaintEffect::NoSchedule);
        assert_eq!(p.len(), 2, "{p}");
        assert!(p.0[1].message.contains("`Never` is not a taint effect"));
    }

    #[test]
    fn overrides_must_be_a_mapping_of_packs() {
        let mut p = Problems::new();
        assert!(
            overrides(VALUES_HELP, "o", &mut p).is_empty(),
            "comments only"
        );
        let o = overrides("calico:\n  mtu: 1400\n", "o", &mut p);
        assert!(o["calico"].is_mapping());
        assert!(p.is_empty());
        overrides("- a\n- b", "o", &mut p);
        overrides("calico: [unclosed", "o", &mut p);
        assert_eq!(p.len(), 2);
        assert!(p.0[1].message.contains("not valid YAML"));
    }

    #[test]
    fn numbers_in_units() {
        let spec = ClusterSpec::with_defaults("a", "b", 1, 1);
        let mut form = pool(&spec.spec.node_pools[1], 1, None);
        let mut p = Problems::new();
        let built = pool_from(&form, 1, &mut p);
        assert_eq!(built.min_memory_mib, 16384, "16 GiB shown, MiB stored");
        assert_eq!(built, spec.spec.node_pools[1]);
        if let Some(f) = form.field_mut("cpu") {
            f.kind = crate::tui::widgets::form::FieldKind::Number {
                input: tui_input::Input::new("four".into()),
                unit: "cores",
            };
        }
        pool_from(&form, 1, &mut p);
        assert_eq!(p.0[0].path, "spec.nodePools[1].minCpu");
        assert!(p.0[0].message.contains("`four` is not a whole number"));
    }
}
