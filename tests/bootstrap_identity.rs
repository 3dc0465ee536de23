//! The node identity the MAAS simulator reads back from a machine's user-data.

mod bootstrap_support;

use bootstrap_support::{node, plan, ROLES, VERSIONS};
use kubemaas::bootstrap::{
    node_identity_from_user_data, user_data, ClusterSecrets, NodeIdentity, NodeRole,
    NODE_IDENTITY_PATH,
};
use proptest::prelude::*;

#[test]
fn identity_round_trips_for_every_role_and_version() {
    for version in VERSIONS {
        let p = plan(version, true);
        let s = ClusterSecrets::generate(&p).unwrap();
        for role in ROLES {
            let n = node(role);
            let ud = user_data(&p, &s, &n).unwrap();
            let id = node_identity_from_user_data(ud.as_bytes()).expect("identity found");
            assert_eq!(
                id,
                NodeIdentity {
                    cluster_id: "c-7f3a".into(),
                    cluster_name: "prod-eu1".into(),
                    role,
                    node_name: n.hostname.clone(),
                    kubernetes_version: version.into(),
                }
            );
        }
    }
}

#[test]
fn identity_json_uses_the_documented_field_names() {
    let p = plan("1.30.2", false);
    let s = ClusterSecrets::generate(&p).unwrap();
    let ud = user_data(&p, &s, &node(NodeRole::JoinControlPlane)).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&ud).unwrap();
    let entry = doc["write_files"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|f| f["path"] == NODE_IDENTITY_PATH)
        .unwrap();
    assert_eq!(entry["permissions"], "0644");
    let json: serde_json::Value = serde_json::from_str(entry["content"].as_str().unwrap()).unwrap();
    assert_eq!(json["cluster_id"], "c-7f3a");
    assert_eq!(json["cluster_name"], "prod-eu1");
    assert_eq!(json["role"], "join_control_plane");
    assert_eq!(json["node_name"], "cp-2");
    assert_eq!(json["kubernetes_version"], "1.30.2");
}

#[test]
fn base64_encoded_identity_files_are_read_too() {
    use base64::Engine;
    let json = r#"{"cluster_id":"x","cluster_name":"c","role":"worker","node_name":"n","kubernetes_version":"1.31.0"}"#;
    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
    let ud = format!(
        "#cloud-config\nwrite_files:\n- path: {NODE_IDENTITY_PATH}\n  encoding: b64\n  content: {b64}\n"
    );
    let id = node_identity_from_user_data(ud.as_bytes()).unwrap();
    assert_eq!(id.role, NodeRole::Worker);
}

#[test]
fn junk_gives_none() {
    let cases: [&[u8]; 9] = [
        b"",
        b"\xff\xfe\x00",
        b"#!/bin/sh\necho hi\n",
        b"#cloud-config\n",
        b"#cloud-config\nwrite_files: 3\n",
        b"#cloud-config\nwrite_files:\n- path: /etc/kubemaas/node.json\n",
        b"#cloud-config\nwrite_files:\n- path: /etc/kubemaas/node.json\n  content: '{\"role\": \"king\"}'\n",
        b"#cloud-config\nwrite_files:\n- path: /etc/kubemaas/node.json\n  encoding: gz+b64\n  content: H4sI\n",
        b"#cloud-config\n: : : [\n",
    ];
    for case in cases {
        assert_eq!(node_identity_from_user_data(case), None, "{case:?}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = node_identity_from_user_data(&bytes);
        let mut with_header = b"#cloud-config\n".to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = node_identity_from_user_data(&with_header);
    }

    #[test]
    fn mangled_user_data_never_panics(cut in 0usize..4000, flip in any::<u8>()) {
        let p = plan("1.31.1", false);
        let s = ClusterSecrets::generate(&p).unwrap();
        let mut ud = user_data(&p, &s, &node(NodeRole::Worker)).unwrap().into_bytes();
        let at = cut % ud.len();
        ud[at] ^= flip;
        let _ = node_identity_from_user_data(&ud);
        ud.truncate(at);
        let _ = node_identity_from_user_data(&ud);
    }
}
