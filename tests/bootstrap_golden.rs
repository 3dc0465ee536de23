//! Golden user-data per Kubernetes minor and role, with random material (keys, certificates,
//! token, discovery hash) replaced by markers. A change in what nodes are told to do shows up
//! as a diff here. Regenerate after an intended change with
//! `KUBEMAAS_UPDATE_GOLDEN=1 cargo test --test bootstrap_golden` and review the diff.

mod bootstrap_support;

use bootstrap_support::{node, normalise, plan, ROLES, VERSIONS};
use kubemaas::bootstrap::{user_data, ClusterSecrets};
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/bootstrap")
}

fn check(name: &str, actual: &str) -> Option<String> {
    let path = golden_dir().join(name);
    if std::env::var_os("KUBEMAAS_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            return Some(format!(
            "{}: {e}; create it with KUBEMAAS_UPDATE_GOLDEN=1 cargo test --test bootstrap_golden",
            path.display()
        ))
        }
    };
    if expected == actual {
        return None;
    }
    let first_diff = expected
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
    Some(format!(
        "{name} differs from the golden file at line {}:\n  golden: {:?}\n  actual: {:?}\n\
         (if intended: KUBEMAAS_UPDATE_GOLDEN=1 cargo test --test bootstrap_golden, then review)",
        first_diff + 1,
        expected.lines().nth(first_diff),
        actual.lines().nth(first_diff)
    ))
}

#[test]
fn user_data_matches_the_golden_files() {
    let mut failures = Vec::new();
    for version in VERSIONS {
        let minor = version.rsplit_once('.').unwrap().0;
        for with_proxy in [false, true] {
            let p = plan(version, with_proxy);
            let s = ClusterSecrets::generate(&p).unwrap();
            for role in ROLES {
                let ud = user_data(&p, &s, &node(role)).unwrap();
                let normalised = normalise(&ud, &s);
                // Normalisation must have removed every secret, or the golden file would
                // change on every run (and hold keys).
                assert!(
                    !normalised.contains("PRIVATE KEY"),
                    "a key survived normalisation"
                );
                assert!(!normalised.contains(&s.bootstrap_token.expose()));
                let suffix = if with_proxy { "-proxy" } else { "" };
                let name = format!("user-data-{minor}-{role}{suffix}.yaml");
                failures.extend(check(&name, &normalised));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
