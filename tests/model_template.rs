//! The `cluster new` template: complete, commented, parses back to the defaults, validates.

use kubemaas::model::profile::{shipped_profile, DEFAULT_PROFILE};
use kubemaas::model::spec::ClusterSpec;
use kubemaas::model::{cluster_template, validate_local};

#[test]
fn template_snapshot() {
    let text = cluster_template("prod-1", "lab-maas", 3, 2).unwrap();
    insta::assert_snapshot!("template_prod_1", text);
}

#[test]
fn template_parses_back_to_the_defaults_and_validates() {
    let profile = shipped_profile(DEFAULT_PROFILE).unwrap();
    for (cp, workers) in [(1, 0), (1, 1), (3, 2), (5, 10)] {
        let text = cluster_template("c1", "acct", cp, workers).unwrap();
        let parsed = ClusterSpec::from_yaml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            parsed,
            ClusterSpec::with_defaults("c1", "acct", cp, workers),
            "{text}"
        );
        let problems = validate_local(&parsed, Some(&profile));
        assert!(problems.is_empty(), "{problems}\n{text}");
        // Every field the operator may set is explained: no key without a comment before it.
        assert!(
            text.lines()
                .filter(|l| l.trim_start().starts_with('#'))
                .count()
                > 40
        );
    }
}

#[test]
fn template_refuses_bad_arguments_with_every_problem() {
    let problems = cluster_template("Prod_1", "bad account", 2, 0).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert!(paths.contains(&"metadata.name"), "{problems}");
    assert!(paths.contains(&"spec.cloudAccount"), "{problems}");
    assert!(paths.contains(&"spec.nodePools[0].size"), "{problems}");
}
