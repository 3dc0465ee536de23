//! Cluster profiles: the shipped ones import, the importer refuses bad ones with every problem,
//! overrides deep-merge and are checked.

use kubemaas::model::profile::{
    import_profile, shipped_profile, shipped_profiles, ProfileError, DEFAULT_PROFILE,
    SHIPPED_PROFILE_SOURCES,
};
use kubemaas::model::{Cni, DocumentError};
use serde_yaml::Value;
use std::collections::BTreeMap;

fn y(s: &str) -> Value {
    serde_yaml::from_str(s).unwrap()
}

#[test]
fn every_shipped_profile_imports_and_resolves() {
    assert_eq!(shipped_profiles().len(), SHIPPED_PROFILE_SOURCES.len());
    for (file, text) in SHIPPED_PROFILE_SOURCES {
        let p = import_profile(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(format!("{}.yaml", p.metadata.name), *file);
        let r = p.resolve(&BTreeMap::new()).unwrap();
        assert!(r
            .kubernetes
            .package_repository
            .url
            .contains(&format!("v{}", r.kubernetes_version.minor_string())));
        // Round trip through YAML keeps the profile whole.
        assert_eq!(import_profile(&p.to_yaml()).unwrap(), p);
    }
    let jammy = shipped_profile(DEFAULT_PROFILE)
        .unwrap()
        .resolve(&BTreeMap::new())
        .unwrap();
    assert_eq!(jammy.os.series, "jammy");
    assert_eq!(jammy.cni, Cni::Calico);
    assert_eq!(
        jammy.kubernetes_version.kubeadm_api_version(),
        "kubeadm.k8s.io/v1beta3"
    );
    let noble = shipped_profile("ubuntu-noble-k8s-1.31-cilium")
        .unwrap()
        .resolve(&BTreeMap::new())
        .unwrap();
    assert_eq!(noble.cni, Cni::Cilium);
    assert_eq!(
        noble.kubernetes_version.kubeadm_api_version(),
        "kubeadm.k8s.io/v1beta4"
    );
}

const BAD: &str = r#"
apiVersion: kubemaas.io/v1
kind: ClusterProfile
metadata:
  name: Bad_Profile
spec:
  layers:
    - type: kubernetes
      name: kubernetes
      version: "1.30"
      values:
        packageRepository: {url: "ftp://mirror/k8s"}
    - type: os
      name: centos
      version: "9"
      values: {series: stream}
    - type: network
      name: flannel
      version: 0.25.0
      values: {manifestUrl: "not a url"}
    - type: addon
      name: kubernetes
      version: 1.0.0
"#;

#[test]
fn bad_profiles_list_every_problem() {
    let ProfileError::Invalid { problems, .. } = import_profile(BAD).unwrap_err() else {
        panic!("expected problems")
    };
    let shown = problems.to_string();
    for expected in [
        "metadata.name",
        "spec.layers[1].type: this `os` layer comes after a `kubernetes` layer",
        "spec.layers[0].version: `1.30` is not a Kubernetes version",
        "spec.layers[0].values.packageRepository.url",
        "spec.layers[1].name: OS pack `centos`",
        "spec.layers[2].name: `flannel` is not a network plugin",
        "spec.layers[2].values.manifestUrl",
        "spec.layers[3].name: pack `kubernetes` is already layer 0",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
}

#[test]
fn missing_layers_and_typos_in_values_are_named() {
    let text = r#"
apiVersion: kubemaas.io/v1
kind: ClusterProfile
metadata: {name: p}
spec:
  layers:
    - {type: os, name: ubuntu, version: "22.04", values: {series: jammy, aptMiror: "http://m"}}
"#;
    let ProfileError::Invalid { problems, .. } = import_profile(text).unwrap_err() else {
        panic!()
    };
    let shown = problems.to_string();
    assert!(shown.contains("there is no `kubernetes` layer"), "{shown}");
    assert!(shown.contains("there is no `network` layer"), "{shown}");
    assert!(shown.contains("unknown field `aptMiror`"), "{shown}");
    assert!(shown.contains("did you mean `aptMirror`?"), "{shown}");
}

#[test]
fn unknown_profile_keys_report_the_line() {
    let text = "apiVersion: kubemaas.io/v1\nkind: ClusterProfile\nmetadata: {name: p}\nspec:\n  layer: []\n";
    match import_profile(text).unwrap_err() {
        ProfileError::Document(e @ DocumentError::Field { .. }) => {
            assert_eq!(e.line(), Some(5));
            assert!(e.to_string().contains("did you mean `layers`?"), "{e}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn unquoted_float_versions_are_refused_with_the_fix() {
    let text = "apiVersion: kubemaas.io/v1\nkind: ClusterProfile\nmetadata: {name: p}\nspec:\n  layers:\n    - {type: os, name: ubuntu, version: 24.10, values: {series: oracular}}\n";
    let e = import_profile(text).unwrap_err().to_string();
    assert!(
        e.contains("line 6") && e.contains("put the version in quotes"),
        "{e}"
    );
}

#[test]
fn overrides_deep_merge_and_are_checked() {
    let profile = shipped_profile(DEFAULT_PROFILE).unwrap();
    let mut overrides = BTreeMap::new();
    overrides.insert(
        "kubernetes".to_string(),
        y("imageRepository: registry.internal:5000/k8s\npackageRepository: {url: 'http://mirror.internal/k8s/'}\nregistryMirrors: {docker.io: ['https://mirror.internal']}"),
    );
    overrides.insert(
        "ubuntu".to_string(),
        y("kernel: null\naptMirror: http://mirror.internal/ubuntu"),
    );
    let r = profile.resolve(&overrides).unwrap();
    assert_eq!(r.kubernetes.image_repository, "registry.internal:5000/k8s");
    assert_eq!(
        r.kubernetes.package_repository.url,
        "http://mirror.internal/k8s/"
    );
    // The key URL of the profile survives a merge that only changes the url beside it.
    assert!(r.kubernetes.package_repository.key_url.is_some());
    assert_eq!(r.os.kernel, None);
    assert_eq!(
        r.os.apt_mirror.as_deref(),
        Some("http://mirror.internal/ubuntu")
    );
    // The profile itself is untouched.
    assert_eq!(
        profile
            .resolve(&BTreeMap::new())
            .unwrap()
            .os
            .kernel
            .as_deref(),
        Some("ga-22.04")
    );

    let mut bad = BTreeMap::new();
    bad.insert("calicoo".to_string(), y("a: 1"));
    let problems = profile.resolve(&bad).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems.0[0].path, "spec.profile.overrides.calicoo");
    assert!(
        problems.0[0].message.contains("did you mean `calico`?"),
        "{problems}"
    );

    let mut bad = BTreeMap::new();
    bad.insert(
        "calico".to_string(),
        y("manifestUrl: 'nope'\nmanifestUrll: x"),
    );
    let problems = profile.resolve(&bad).unwrap_err();
    assert_eq!(
        problems.0[0].path, "spec.profile.overrides.calico",
        "{problems}"
    );
}
