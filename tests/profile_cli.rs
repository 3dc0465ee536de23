//! `kubemaas profile …` end to end: the real binary, a throw-away state dir per test.

use kubemaas::model::profile::{DEFAULT_PROFILE, SHIPPED_PROFILE_SOURCES};
use kubemaas::model::{import_profile, shipped_profiles};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn km(state: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kubemaas"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("KUBEMAAS_STATE_DIR")
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The default shipped profile renamed (and re-versioned) as a site's own.
fn site_profile(name: &str, version: &str) -> String {
    let (_, text) = SHIPPED_PROFILE_SOURCES
        .iter()
        .find(|(file, _)| file.starts_with(DEFAULT_PROFILE))
        .unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    doc["metadata"]["name"] = name.into();
    doc["metadata"]["version"] = version.into();
    doc["metadata"]["description"] = "our mirrors".into();
    serde_yaml::to_string(&doc).unwrap()
}

fn write(dir: &Path, file: &str, text: &str) -> String {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn list_json(state: &Path) -> Vec<Value> {
    let o = km(state, &["profile", "list", "-o", "json"]);
    assert!(o.status.success(), "{}", err(&o));
    serde_json::from_slice::<Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn shipped_profiles_are_always_listed() {
    let state = tempfile::tempdir().unwrap();
    let o = km(state.path(), &["profile", "list"]);
    assert!(o.status.success(), "{}", err(&o));
    let table = out(&o);
    assert!(table.starts_with("NAME"), "{table}");
    for p in shipped_profiles() {
        let line = table
            .lines()
            .find(|l| l.starts_with(&p.metadata.name))
            .unwrap_or_else(|| panic!("{} missing:\n{table}", p.metadata.name));
        assert!(line.contains("shipped"), "{line}");
    }
    let default_line = table
        .lines()
        .find(|l| l.starts_with(DEFAULT_PROFILE))
        .unwrap();
    assert!(default_line.contains("(default)"));
    let entries = list_json(state.path());
    assert_eq!(entries.len(), shipped_profiles().len());
    assert!(entries.iter().all(|e| e["source"] == "shipped"));
}

#[test]
fn import_then_list_and_show_round_trip() {
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "site.yaml",
        &site_profile("site-jammy", "1.0.0"),
    );
    let o = km(state.path(), &["profile", "import", &file]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("profile site-jammy@1.0.0 imported"),
        "{}",
        out(&o)
    );

    let entries = list_json(state.path());
    assert_eq!(entries.len(), shipped_profiles().len() + 1);
    let site = entries
        .iter()
        .find(|e| e["profile"]["metadata"]["name"] == "site-jammy")
        .unwrap();
    assert_eq!(site["source"], "imported");
    assert!(!site["imported"].is_null());

    // `show -o yaml` is the document itself: it imports back unchanged.
    let shown = km(
        state.path(),
        &["profile", "show", "site-jammy", "-o", "yaml"],
    );
    assert!(shown.status.success(), "{}", err(&shown));
    let back = import_profile(&out(&shown)).unwrap();
    assert_eq!(
        back,
        import_profile(&site_profile("site-jammy", "1.0.0")).unwrap()
    );
    // Versions are immutable: the same version again is refused with the fix.
    let again = km(state.path(), &["profile", "import", &file]);
    assert!(!again.status.success());
    assert!(err(&again).contains("new version"), "{}", err(&again));

    // A second version; the bare name means the latest, NAME@VERSION an older one.
    let v2 = write(
        dir.path(),
        "site2.yaml",
        &site_profile("site-jammy", "2.0.0"),
    );
    assert!(km(state.path(), &["profile", "import", &v2])
        .status
        .success());
    let latest = km(
        state.path(),
        &["profile", "show", "site-jammy", "-o", "json"],
    );
    let v: Value = serde_json::from_slice(&latest.stdout).unwrap();
    assert_eq!(v["metadata"]["version"], "2.0.0");
    let older = km(state.path(), &["profile", "show", "site-jammy@1.0.0"]);
    assert!(older.status.success(), "{}", err(&older));
    let text = out(&older);
    assert!(text.starts_with("# imported "), "{text}");
    assert!(text.contains("version: 1.0.0"), "{text}");

    // Shipped profiles show too, marked as such.
    let shipped = km(state.path(), &["profile", "show", DEFAULT_PROFILE]);
    assert!(
        out(&shipped).starts_with("# shipped with kubemaas"),
        "{}",
        out(&shipped)
    );
}

#[test]
fn bad_profiles_are_refused_with_every_problem_and_nothing_is_stored() {
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(&site_profile("Bad_Name", "1.0.0")).unwrap();
    // Network before Kubernetes, and a bad name: both reported at once.
    let layers = doc["spec"]["layers"].as_sequence_mut().unwrap();
    layers.swap(1, 2);
    let file = write(
        dir.path(),
        "bad.yaml",
        &serde_yaml::to_string(&doc).unwrap(),
    );
    let o = km(state.path(), &["profile", "import", &file]);
    assert!(!o.status.success());
    let e = err(&o);
    assert!(e.contains("bad.yaml") && e.contains("metadata.name"), "{e}");
    assert!(e.contains("spec.layers"), "{e}");

    let garbage = write(dir.path(), "garbage.yaml", "kind: [\n");
    let o = km(state.path(), &["profile", "import", &garbage]);
    assert!(!o.status.success());
    assert!(err(&o).contains("garbage.yaml"), "{}", err(&o));

    let missing = km(state.path(), &["profile", "import", "/nonexistent/p.yaml"]);
    assert!(!missing.status.success());
    assert!(
        err(&missing).contains("cannot read the profile file"),
        "{}",
        err(&missing)
    );

    // A shipped name cannot be taken over.
    let shadow = write(
        dir.path(),
        "shadow.yaml",
        &site_profile(DEFAULT_PROFILE, "9.9.9"),
    );
    let o = km(state.path(), &["profile", "import", &shadow]);
    assert!(!o.status.success());
    assert!(err(&o).contains("shipped with kubemaas"), "{}", err(&o));

    assert_eq!(list_json(state.path()).len(), shipped_profiles().len());
    let unknown = km(state.path(), &["profile", "show", "nope"]);
    assert!(!unknown.status.success());
    assert!(
        err(&unknown).contains("kubemaas profile list"),
        "{}",
        err(&unknown)
    );
}
