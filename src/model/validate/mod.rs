//! Local validation of a cluster spec: everything that can be checked without MAAS. Every problem
//! is listed, each at its field path with what to change. One module per part of the spec.

mod network;
mod policies;
mod pools;

// The range checks a gateway's cluster defaults share with specs.
pub use network::{pod_service_conflicts, read_cidr, service_range_problem};

use super::document::API_VERSION;
use super::names;
use super::problem::Problems;
use super::profile::ClusterProfile;
use super::spec::{ClusterSpec, OsImage, CLUSTER_KIND};

/// Checks a spec without MAAS. With the profile it names, per-pack overrides and the OS image
/// are checked against it too.
pub fn validate_local(spec: &ClusterSpec, profile: Option<&ClusterProfile>) -> Problems {
    let mut p = Problems::new();
    if spec.api_version != API_VERSION {
        p.push("apiVersion", format!("must be `{API_VERSION}`"));
    }
    if spec.kind != CLUSTER_KIND {
        p.push("kind", format!("must be `{CLUSTER_KIND}`"));
    }
    if let Err(e) = names::check_dns1123_label(&spec.metadata.name) {
        p.push("metadata.name", format!("the cluster name {e}"));
    }
    for (i, tag) in spec.metadata.tags.iter().enumerate() {
        if tag.trim().is_empty() || tag.chars().any(char::is_control) {
            p.push(
                format!("metadata.tags[{i}]"),
                "is empty or holds control characters: use short words like `team-a` or `env:prod`",
            );
        }
    }
    let body = &spec.spec;
    if let Err(e) = names::check_dns1123_label(&body.cloud_account) {
        p.push(
            "spec.cloudAccount",
            format!("the account name {e} (list accounts with `kubemaas account list`)"),
        );
    }
    if let Err(e) = names::check_dns1123_subdomain(&body.profile.name) {
        p.push("spec.profile.name", format!("the profile name {e}"));
    }
    if let Err(e) = names::check_dns1123_subdomain(&body.network.cluster_domain) {
        p.push(
            "spec.network.clusterDomain",
            format!("the cluster DNS domain {e} (the default is cluster.local)"),
        );
    } else if body.network.cluster_domain == body.dns_domain {
        p.push(
            "spec.network.clusterDomain",
            format!("`{}` is also the MAAS DNS domain (spec.dnsDomain): CoreDNS would answer for MAAS's zone and pods could no longer resolve MAAS hosts; use another, such as cluster.local", body.dns_domain),
        );
    }
    if let Err(e) = names::check_dns1123_subdomain(&body.dns_domain) {
        p.push("spec.dnsDomain", format!("the DNS domain {e}"));
    }
    let os_image = body
        .os_image
        .as_deref()
        .and_then(|text| match OsImage::parse(text) {
            Ok(img) => Some(img),
            Err(e) => {
                p.push("spec.osImage", e);
                None
            }
        });
    let nets = network::check_network(spec, &mut p);
    pools::check_pools(spec, &nets, &mut p);
    policies::check_policies(spec, &mut p);
    if let Some(profile) = profile {
        check_against_profile(spec, profile, os_image.as_ref(), &mut p);
    }
    p
}

fn check_against_profile(
    spec: &ClusterSpec,
    profile: &ClusterProfile,
    os_image: Option<&OsImage>,
    p: &mut Problems,
) {
    let body = &spec.spec;
    if body.profile.name != profile.metadata.name {
        p.push(
            "spec.profile.name",
            format!(
                "names `{}` but profile `{}` was given to check against",
                body.profile.name, profile.metadata.name
            ),
        );
        return;
    }
    match profile.resolve(&body.profile.overrides) {
        Err(problems) => p.extend(problems),
        Ok(resolved) => {
            if let Some(OsImage::Ubuntu { series }) = os_image {
                if *series != resolved.os.series {
                    p.push(
                        "spec.osImage",
                        format!(
                            "ubuntu/{series} differs from the profile's series `{}`, whose packages are for it: remove osImage, or pick a profile for {series}",
                            resolved.os.series
                        ),
                    );
                }
            }
        }
    }
}

/// Both layers of checks at once — local, and against MAAS — so an operator sees every
/// problem in one list. The MAAS checks skip values the local checks already refused.
pub fn validate_spec(
    spec: &ClusterSpec,
    profile: Option<&ClusterProfile>,
    maas: &super::snapshot::MaasSnapshot,
) -> Problems {
    let mut problems = validate_local(spec, profile);
    let series = profile
        .and_then(|p| p.resolve(&spec.spec.profile.overrides).ok())
        .map(|r| r.os.series);
    problems.extend(super::maas_check::validate_against_maas(
        spec,
        series.as_deref(),
        maas,
    ));
    problems
}

/// The boot resource a spec deploys: its `osImage`, else the profile's Ubuntu series.
pub fn effective_os_image(spec: &ClusterSpec, profile_series: Option<&str>) -> Option<OsImage> {
    match &spec.spec.os_image {
        Some(text) => OsImage::parse(text).ok(),
        None => profile_series.map(|s| OsImage::Ubuntu {
            series: s.to_string(),
        }),
    }
}
