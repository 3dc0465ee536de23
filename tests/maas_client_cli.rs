//! `kubemaas maas …` end to end: the real binary against the stand-in MAAS.

mod maas_client_support;

use maas_client_support::*;
use serde_json::json;
use std::process::Output;

fn key() -> String {
    format!("{CONSUMER}:{TOKEN}:{SECRET}")
}

async fn kubemaas(args: &[&str], env: &[(&str, &str)]) -> Output {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubemaas"));
    cmd.arg("--state-dir").arg(state.path()).args(args);
    for var in ["MAAS_URL", "MAAS_API_KEY", "HTTP_PROXY", "http_proxy"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn fleet() -> TestMaas {
    TestMaas::start(|req, _| match req.path.as_str() {
        "/MAAS/api/2.0/machines/" => Canned::json(json!([
            machine_json("aaa111", 6, "Deployed"),
            machine_json("bbb222", 4, "Ready")
        ])),
        "/MAAS/api/2.0/zones/" => {
            Canned::json(json!([{"id": 1, "name": "default", "description": "the default zone"}]))
        }
        "/MAAS/api/2.0/resourcepools/" => {
            Canned::json(json!([{"id": 0, "name": "default", "description": "Default pool"}]))
        }
        "/MAAS/api/2.0/version/" => {
            Canned::json(json!({"version": "3.5.4", "subversion": "", "capabilities": []}))
        }
        "/MAAS/api/2.0/users/" => Canned::json(json!({"username": "ops", "is_superuser": false})),
        _ => Canned::text(404, "Unknown API endpoint"),
    })
    .await
}

#[tokio::test]
async fn machines_table_and_json() {
    let maas = fleet().await;
    let url = maas.url();
    let k = key();
    let out = kubemaas(
        &["maas", "machines", "--endpoint", &url, "--api-key", &k],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let first = table.lines().next().unwrap();
    for col in [
        "HOSTNAME",
        "SYSTEM_ID",
        "STATUS",
        "ZONE",
        "POOL",
        "CORES",
        "MEMORY (GiB)",
        "DISKS",
        "TAGS",
        "OWNER",
    ] {
        assert!(first.contains(col), "{first}");
    }
    assert!(
        table.contains("node-aaa111") && table.contains("Deployed"),
        "{table}"
    );
    assert!(
        table.contains("node-bbb222") && table.contains("Ready"),
        "{table}"
    );

    // From the environment, as JSON with MAAS's own field names, nothing dropped.
    let out = kubemaas(
        &["maas", "machines", "-o", "json"],
        &[("MAAS_URL", &url), ("MAAS_API_KEY", &k)],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let machines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(machines.len(), 2);
    assert_eq!(machines[0]["system_id"], "aaa111");
    assert_eq!(machines[0]["status"], 6);
    assert_eq!(machines[0]["hardware_info"]["system_vendor"], "QEMU");
    assert_eq!(machines[0]["node_type"], 0);
    assert!(!leaks_key(&text(&out.stdout)));
}

#[tokio::test]
async fn zones_pools_and_version() {
    let maas = fleet().await;
    let url = maas.url();
    let k = key();
    let env = [("MAAS_URL", url.as_str()), ("MAAS_API_KEY", k.as_str())];
    let out = kubemaas(&["maas", "zones"], &env).await;
    assert!(
        text(&out.stdout).contains("the default zone"),
        "{}",
        text(&out.stderr)
    );
    let out = kubemaas(&["maas", "pools", "-o", "yaml"], &env).await;
    assert!(
        text(&out.stdout).contains("name: default"),
        "{}",
        text(&out.stdout)
    );
    let out = kubemaas(&["maas", "version"], &env).await;
    let shown = text(&out.stdout);
    assert!(shown.contains("3.5.4") && shown.contains("ops"), "{shown}");
    let out = kubemaas(&["maas", "version", "-o", "json"], &env).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "3.5.4");
    assert_eq!(v["user"]["username"], "ops");
}

#[tokio::test]
async fn failures_exit_non_zero_with_the_reason() {
    let out = kubemaas(&["maas", "machines", "--api-key", &key()], &[]).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("--endpoint") && err.contains("MAAS_URL"),
        "{err}"
    );
    assert!(!leaks_key(&err), "{err}");

    let maas = fleet().await;
    let out = kubemaas(&["maas", "machines", "--endpoint", &maas.url()], &[]).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("--api-key") && err.contains("MAAS_API_KEY"),
        "{err}"
    );

    let denied =
        TestMaas::start(|_, _| Canned::text(401, "Authorization Error: Invalid API key.")).await;
    let out = kubemaas(
        &[
            "maas",
            "machines",
            "--endpoint",
            &denied.url(),
            "--api-key",
            &key(),
        ],
        &[],
    )
    .await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("create a new API key"), "{err}");
    assert!(!leaks_key(&err), "{err}");
}

#[tokio::test]
async fn escape_sequences_in_a_maas_error_never_reach_the_terminal() {
    // OSC 0 (window title), a screen clear, and OSC 52 (a clipboard write).
    let hostile = "boom\x1b]0;owned\x07\x1b[2J\x1b[H\x1b]52;c;ZWNobyBwd25lZA==\x07";
    let maas = TestMaas::start(move |_, _| Canned::text(500, hostile)).await;
    let url = maas.url();
    let k = key();
    let out = kubemaas(
        &["maas", "machines", "--endpoint", &url, "--api-key", &k],
        &[],
    )
    .await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    // Shown escaped, so the operator sees what MAAS sent.
    assert!(err.contains("boom\\x1b]0;owned\\x07\\x1b[2J"), "{err}");
    assert!(err.contains("\\x1b]52;c;"), "{err}");
}
