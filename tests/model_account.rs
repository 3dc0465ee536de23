//! Cloud accounts: parsing, every problem listed, the key never shown, masked output refused.

use kubemaas::maas::Version;
use kubemaas::model::account::{
    check_maas_version, AccountCheckError, AccountError, KeyForm, LOCAL_GATEWAY,
};
use kubemaas::model::CloudAccount;

const KEY: &str = "abcdefghijklmnopqr:ABCDEFGHIJKLMNOPQR:0123456789abcdef0123456789abcdef";

fn doc(spec: &str) -> String {
    format!(
        "apiVersion: kubemaas.io/v1\nkind: CloudAccount\nmetadata: {{name: lab}}\nspec:\n{spec}"
    )
}

#[test]
fn reads_an_account_with_defaults() {
    let a = CloudAccount::from_yaml(&doc(&format!(
        "  endpoint: http://127.0.0.1:5240\n  apiKey: {KEY}\n"
    )))
    .unwrap();
    assert_eq!(a.name, "lab");
    assert_eq!(a.gateway, LOCAL_GATEWAY);
    assert!(a.is_local());
    assert_eq!(
        a.endpoint.api_base().as_str(),
        "http://127.0.0.1:5240/MAAS/api/2.0/"
    );
    assert_eq!(a.api_key.expose(), KEY);
    assert!(!format!("{a:?}").contains("0123456789abcdef"));
}

#[test]
fn masked_for_display_clear_for_the_store() {
    let a =
        CloudAccount::from_parts("lab", "", "", "https://maas.example/MAAS", KEY, None).unwrap();
    let shown = a.to_yaml(KeyForm::Masked);
    assert!(
        !shown.contains("0123456789abcdef") && !shown.contains("ABCDEFGHIJKLMNOPQR"),
        "{shown}"
    );
    assert!(shown.contains("****"));
    // A displayed account pasted back is refused with the reason.
    match CloudAccount::from_yaml(&shown).unwrap_err() {
        AccountError::Invalid(p) => assert!(p.to_string().contains("masked key"), "{p}"),
        other => panic!("{other}"),
    }
    let stored = a.to_yaml(KeyForm::Clear);
    assert_eq!(CloudAccount::from_yaml(&stored).unwrap(), a);
}

#[test]
fn lists_every_problem_without_the_key() {
    let bad_key = "abcdefghijklmnopqr:ABCDEFGHIJKLMNOPQR";
    let err = CloudAccount::from_parts(
        "Lab!",
        "",
        "Gate Way",
        "ftp://maas/MAAS",
        bad_key,
        Some("nope"),
    )
    .unwrap_err();
    let shown = err.to_string();
    for path in [
        "metadata.name",
        "spec.gateway",
        "spec.endpoint",
        "spec.apiKey",
        "spec.caCert",
    ] {
        assert!(
            err.iter().any(|p| p.path == path),
            "{path} missing in {shown}"
        );
    }
    assert!(!shown.contains("ABCDEFGHIJKLMNOPQR"), "{shown}");
    let err = CloudAccount::from_parts(
        "lab",
        "",
        "",
        "http://maas/MAAS",
        KEY,
        Some("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("endpoint is http://"), "{err}");
    let err = CloudAccount::from_parts("lab", "", "", KEY, KEY, None).unwrap_err();
    assert!(err.to_string().contains("looks like an API key"), "{err}");
    assert!(!err.to_string().contains("0123456789abcdef"), "{err}");
}

#[test]
fn unknown_keys_are_reported_with_their_line() {
    let text = doc(&format!(
        "  endpoint: http://127.0.0.1:5240\n  apikey: {KEY}\n"
    ));
    let e = CloudAccount::from_yaml(&text).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("line 6") && shown.contains("did you mean `apiKey`?"),
        "{shown}"
    );
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
}

#[test]
fn maas_versions() {
    let v = |s: &str| Version {
        version: s.into(),
        subversion: String::new(),
        capabilities: vec![],
    };
    assert_eq!(check_maas_version(&v("3.4.0")), Ok((3, 4)));
    assert_eq!(check_maas_version(&v("3.5.0~beta1")), Ok((3, 5)));
    assert_eq!(check_maas_version(&v("2.5")), Ok((2, 5)));
    assert!(matches!(
        check_maas_version(&v("2.4.2")),
        Err(AccountCheckError::TooOld { .. })
    ));
    assert!(matches!(
        check_maas_version(&v("banana")),
        Err(AccountCheckError::UnreadableVersion { .. })
    ));
    let e = AccountCheckError::Unauthorized {
        endpoint: "http://127.0.0.1:1/MAAS/".into(),
    };
    assert!(e.to_string().contains("API keys"));
}
