//! The MAAS client against a recording stand-in server: wire format, error mapping, retries.

mod maas_client_support;

use base64::Engine;
use kubemaas::maas::*;
use maas_client_support::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

fn version_json() -> serde_json::Value {
    json!({"version": "3.5.4", "subversion": "", "capabilities": ["networks-management"]})
}

#[tokio::test]
async fn every_request_is_signed_with_plaintext_oauth_and_a_fresh_nonce() {
    let maas = TestMaas::start(|_, _| Canned::json(version_json())).await;
    let client = maas.client();
    let v = client.version().await.unwrap();
    assert_eq!(v.version, "3.5.4");
    client.version().await.unwrap();

    let reqs = maas.requests();
    assert_eq!(reqs.len(), 2);
    let header = reqs[0].authorization.clone().unwrap();
    assert!(header.starts_with("OAuth realm=\"\", "), "{header}");
    let params: BTreeMap<String, String> = reqs[0].oauth_params().into_iter().collect();
    assert_eq!(params["oauth_version"], "1.0");
    assert_eq!(params["oauth_signature_method"], "PLAINTEXT");
    assert_eq!(params["oauth_consumer_key"], CONSUMER);
    assert_eq!(params["oauth_token"], TOKEN);
    assert_eq!(params["oauth_signature"], format!("&{SECRET}"));
    assert!(params["oauth_nonce"].len() >= 16);
    let ts: u64 = params["oauth_timestamp"].parse().unwrap();
    assert!(ts > 1_600_000_000, "a unix timestamp in seconds: {ts}");
    let second: BTreeMap<String, String> = reqs[1].oauth_params().into_iter().collect();
    assert_ne!(
        params["oauth_nonce"], second["oauth_nonce"],
        "nonces are never reused"
    );
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/MAAS/api/2.0/version/");
}

#[tokio::test]
async fn reads_use_maas_paths_and_query_params() {
    let maas = TestMaas::start(|req, _| match req.path.as_str() {
        "/MAAS/api/2.0/users/" => Canned::json(json!({"username": "admin", "is_superuser": true})),
        "/MAAS/api/2.0/zones/" => Canned::json(json!([{"id": 1, "name": "az1", "description": "rack 1"}])),
        "/MAAS/api/2.0/resourcepools/" => Canned::json(json!([{"id": 0, "name": "default"}])),
        "/MAAS/api/2.0/tags/" => Canned::json(json!([{"name": "ssd", "definition": "", "comment": "", "kernel_opts": null}])),
        "/MAAS/api/2.0/domains/" => Canned::json(json!([{"id": 0, "name": "maas", "ttl": null, "is_default": true}])),
        "/MAAS/api/2.0/subnets/" => Canned::json(json!([{"id": 2, "cidr": "10.0.0.0/24", "vlan": {"id": 5001, "vid": 0}}])),
        "/MAAS/api/2.0/subnets/2/" => Canned::json(json!([{"start": "10.0.0.100", "end": "10.0.0.200", "num_addresses": 101}])),
        "/MAAS/api/2.0/boot-resources/" => Canned::json(json!([{"id": 7, "type": "Synced", "name": "ubuntu/jammy", "architecture": "amd64/ga-22.04"}])),
        "/MAAS/api/2.0/machines/" => Canned::json(json!([machine_json("aaa111", 6, "Deployed"), machine_json("bbb222", 4, "Ready")])),
        "/MAAS/api/2.0/machines/aaa111/" => {
            if req.query_values("op") == ["query_power_state"] {
                Canned::json(json!({"state": "error"}))
            } else {
                Canned::json(machine_json("aaa111", 6, "Deployed"))
            }
        }
        "/MAAS/api/2.0/events/" => Canned::json(json!({"count": 1, "events": [{"id": 9, "node": "aaa111", "level": "INFO", "type": "Deploying", "description": ""}], "next_uri": "x", "prev_uri": "y"})),
        "/MAAS/api/2.0/ipaddresses/" => Canned::json(json!([{"ip": "10.0.0.5", "alloc_type": 4}])),
        "/MAAS/api/2.0/dnsresources/" => Canned::json(json!([{"id": 3, "fqdn": "api.maas", "address_ttl": 10, "ip_addresses": []}])),
        _ => Canned::text(404, "Unknown API endpoint"),
    })
    .await;
    let c = maas.client();
    assert!(c.whoami().await.unwrap().is_superuser);
    assert_eq!(c.zones().await.unwrap()[0].name, "az1");
    assert_eq!(c.resource_pools().await.unwrap()[0].name, "default");
    assert_eq!(c.tags().await.unwrap()[0].name, "ssd");
    assert!(c.domains().await.unwrap()[0].is_default);
    assert_eq!(c.subnets().await.unwrap()[0].cidr, "10.0.0.0/24");
    assert_eq!(
        c.subnet_unreserved_ip_ranges(2).await.unwrap()[0].num_addresses,
        101
    );
    assert_eq!(
        c.boot_resources().await.unwrap()[0].distro_series(),
        "jammy"
    );
    let filter = MachineFilter {
        ids: vec!["aaa111".into(), "bbb222".into()],
        tags: vec!["k8s".into(), "ssd".into()],
        zone: Some("az1".into()),
        pool: Some("k8s".into()),
        agent_name: Some("kubemaas:c1".into()),
        status: Some(NodeStatus::FailedDeployment),
        owner: Some("admin".into()),
        hostnames: vec!["node-aaa111".into()],
        ..Default::default()
    };
    let machines = c.machines(&filter).await.unwrap();
    assert_eq!(machines.len(), 2);
    assert_eq!(machines[0].status, NodeStatus::Deployed);
    assert!(
        machines[0].extra.contains_key("hardware_info"),
        "unknown fields are kept"
    );
    assert_eq!(c.machine("aaa111").await.unwrap().system_id, "aaa111");
    assert_eq!(
        c.query_power_state("aaa111").await.unwrap(),
        PowerState::Error
    );
    let page = c
        .events(&EventQuery {
            ids: vec!["aaa111".into(), "bbb222".into()],
            level: Some("INFO".into()),
            limit: Some(50),
            after: Some(8),
            before: None,
        })
        .await
        .unwrap();
    assert_eq!(page.events[0].kind, "Deploying");
    assert_eq!(
        c.ip_addresses(Some("10.0.0.5")).await.unwrap()[0].ip,
        "10.0.0.5"
    );
    let dns = c
        .dns_resources(&DnsResourceFilter {
            fqdn: Some("api.maas".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(dns[0].id, 3);

    let reqs = maas.requests();
    assert!(reqs.iter().all(|r| r.method == "GET" && r.body.is_empty()));
    let find = |path: &str| reqs.iter().find(|r| r.path == path).unwrap().clone();
    assert_eq!(
        find("/MAAS/api/2.0/users/").raw_query.as_deref(),
        Some("op=whoami")
    );
    assert_eq!(
        find("/MAAS/api/2.0/subnets/2/").raw_query.as_deref(),
        Some("op=unreserved_ip_ranges")
    );
    let m = find("/MAAS/api/2.0/machines/");
    assert_eq!(
        m.query_values("id"),
        ["aaa111", "bbb222"],
        "one request polls many machines"
    );
    assert_eq!(m.query_values("tags"), ["k8s", "ssd"]);
    assert_eq!(m.query_values("zone"), ["az1"]);
    assert_eq!(m.query_values("pool"), ["k8s"]);
    assert_eq!(m.query_values("agent_name"), ["kubemaas:c1"]);
    assert_eq!(m.query_values("status"), ["failed_deployment"]);
    assert_eq!(m.query_values("owner"), ["admin"]);
    assert_eq!(m.query_values("hostname"), ["node-aaa111"]);
    let ev = find("/MAAS/api/2.0/events/");
    assert_eq!(ev.query_values("op"), ["query"]);
    assert_eq!(ev.query_values("id"), ["aaa111", "bbb222"]);
    assert_eq!(ev.query_values("limit"), ["50"]);
    assert_eq!(ev.query_values("after"), ["8"]);
    assert_eq!(
        find("/MAAS/api/2.0/ipaddresses/").query_values("ip"),
        ["10.0.0.5"]
    );
    assert_eq!(
        find("/MAAS/api/2.0/dnsresources/").query_values("fqdn"),
        ["api.maas"]
    );
}

#[tokio::test]
async fn allocate_posts_every_constraint_as_a_form_with_op_in_the_query() {
    let maas = TestMaas::start(|_, _| {
        let mut m = machine_json("abc123", 10, "Allocated");
        m["constraints_by_type"] = json!({"storage": {"root": [1], "data": [2]}});
        Canned::json(m)
    })
    .await;
    let req = AllocateRequest {
        cpu_count: Some(4),
        mem: Some(8192),
        storage: vec![
            StorageConstraint::new("root", 100),
            StorageConstraint::new("data", 500).with_tags(["ssd"]),
        ],
        zone: Some("az1".into()),
        not_in_zone: vec!["az2".into(), "az3".into()],
        pool: Some("k8s".into()),
        not_in_pool: vec!["spare".into()],
        tags: vec!["k8s".into(), "gpu".into(), "10g".into()],
        not_tags: vec!["broken-nic".into()],
        arch: Some("amd64".into()),
        agent_name: Some("kubemaas:cluster-1".into()),
        comment: Some("kubemaas cluster-1 worker".into()),
        dry_run: false,
        ..Default::default()
    };
    let alloc = maas.client().allocate(&req).await.unwrap();
    assert_eq!(alloc.machine.status, NodeStatus::Allocated);
    assert_eq!(alloc.constraints_by_type["storage"]["root"], json!([1]));
    assert!(!alloc.machine.extra.contains_key("constraints_by_type"));

    let r = &maas.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/MAAS/api/2.0/machines/");
    assert_eq!(
        r.raw_query.as_deref(),
        Some("op=allocate"),
        "op goes in the query string only"
    );
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(r.form_values("op").is_empty());
    assert_eq!(
        r.form_values("tags"),
        ["k8s", "gpu", "10g"],
        "every tag, repeated"
    );
    assert_eq!(r.form_values("not_tags"), ["broken-nic"]);
    assert_eq!(r.form_values("not_in_zone"), ["az2", "az3"]);
    assert_eq!(r.form_values("not_in_pool"), ["spare"]);
    assert_eq!(r.form_values("storage"), ["root:100,data:500(ssd)"]);
    assert_eq!(r.form_values("cpu_count"), ["4"]);
    assert_eq!(r.form_values("mem"), ["8192"]);
    assert_eq!(r.form_values("zone"), ["az1"]);
    assert_eq!(r.form_values("pool"), ["k8s"]);
    assert_eq!(r.form_values("arch"), ["amd64"]);
    assert_eq!(r.form_values("agent_name"), ["kubemaas:cluster-1"]);
    assert_eq!(r.form_values("comment"), ["kubemaas cluster-1 worker"]);
    assert!(r.form_values("dry_run").is_empty());
}

#[tokio::test]
async fn machine_actions_send_maas_parameters() {
    let maas = TestMaas::start(|req, _| {
        let op = req.query_values("op").first().cloned().unwrap_or_default();
        match op.as_str() {
            "deploy" => Canned::json(machine_json("abc123", 9, "Deploying")),
            "release" => Canned::json(machine_json("abc123", 12, "Releasing")),
            "power_off" => Canned::json(json!(null)),
            "reserve" => Canned::json(json!({"ip": "10.0.0.9", "alloc_type": 4, "alloc_type_name": "User reserved", "created": "2018-12-14T20:01:45.856"})),
            "release_ip" | "" if req.method == "DELETE" => Canned::status(204),
            "" => Canned::json(json!({"id": 4, "fqdn": "api.maas", "address_ttl": 10, "ip_addresses": [{"ip": "10.0.0.9"}]})),
            _ if req.path == "/MAAS/api/2.0/ipaddresses/" => Canned::status(204),
            _ => Canned::json(machine_json("abc123", 9, "Deploying")),
        }
    })
    .await;
    let c = maas.client();
    let user_data = b"#cloud-config\nruncmd: [echo hi]\n".to_vec();
    let m = c
        .deploy(
            "abc123",
            &DeployRequest {
                distro_series: Some("jammy".into()),
                hwe_kernel: Some("ga-22.04".into()),
                user_data: Some(user_data.clone()),
                agent_name: Some("kubemaas:c1".into()),
                comment: Some("kubemaas deploy".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(m.status, NodeStatus::Deploying);
    let released = c
        .release(
            "abc123",
            &ReleaseRequest {
                erase: true,
                quick_erase: true,
                comment: Some("cluster deleted".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(released.status, NodeStatus::Releasing);
    c.abort("abc123", Some("stop")).await.unwrap();
    c.power_on("abc123", None).await.unwrap();
    assert!(c.power_off("abc123", None).await.unwrap().is_none());
    let mut data = BTreeMap::new();
    data.insert("kubemaas-cluster".to_string(), "c1".to_string());
    data.insert("old-key".to_string(), String::new());
    c.set_owner_data("abc123", &data).await.unwrap();
    let dns = c
        .create_dns_resource(&CreateDnsResource {
            name: DnsName::Fqdn("api.maas".into()),
            address_ttl: Some(10),
            ip_addresses: vec!["10.0.0.9".into(), "10.0.0.10".into()],
        })
        .await
        .unwrap();
    assert_eq!(dns.ip_addresses[0].ip, "10.0.0.9");
    c.delete_dns_resource(4).await.unwrap();
    let ip = c
        .reserve_ip(&ReserveIpRequest {
            subnet: Some("10.0.0.0/24".into()),
            hostname: Some("api.maas".into()),
            comment: Some("cluster c1 VIP".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ip.ip, "10.0.0.9");
    c.release_ip("10.0.0.9").await.unwrap();

    let reqs = maas.requests();
    let deploy = &reqs[0];
    assert_eq!(
        (deploy.method.as_str(), deploy.path.as_str()),
        ("POST", "/MAAS/api/2.0/machines/abc123/")
    );
    assert_eq!(deploy.raw_query.as_deref(), Some("op=deploy"));
    let sent = deploy.form_values("user_data");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&sent[0])
            .unwrap(),
        user_data,
        "user_data goes out base64-encoded"
    );
    assert_eq!(deploy.form_values("distro_series"), ["jammy"]);
    assert_eq!(deploy.form_values("hwe_kernel"), ["ga-22.04"]);
    assert_eq!(deploy.form_values("agent_name"), ["kubemaas:c1"]);
    let release = &reqs[1];
    assert_eq!(release.raw_query.as_deref(), Some("op=release"));
    assert_eq!(release.form_values("erase"), ["true"]);
    assert_eq!(release.form_values("quick_erase"), ["true"]);
    assert!(release.form_values("secure_erase").is_empty());
    assert_eq!(release.form_values("comment"), ["cluster deleted"]);
    assert_eq!(reqs[2].raw_query.as_deref(), Some("op=abort"));
    assert_eq!(reqs[2].form_values("comment"), ["stop"]);
    assert_eq!(reqs[3].raw_query.as_deref(), Some("op=power_on"));
    assert!(reqs[3].body.is_empty(), "no params, no body");
    assert_eq!(reqs[4].raw_query.as_deref(), Some("op=power_off"));
    let owner = &reqs[5];
    assert_eq!(owner.raw_query.as_deref(), Some("op=set_owner_data"));
    assert_eq!(owner.form_values("kubemaas-cluster"), ["c1"]);
    assert_eq!(
        owner.form_values("old-key"),
        [""],
        "an empty value removes the key"
    );
    let dns_req = &reqs[6];
    assert_eq!(
        (dns_req.method.as_str(), dns_req.path.as_str()),
        ("POST", "/MAAS/api/2.0/dnsresources/")
    );
    assert_eq!(dns_req.raw_query, None);
    assert_eq!(dns_req.form_values("fqdn"), ["api.maas"]);
    assert_eq!(dns_req.form_values("address_ttl"), ["10"]);
    assert_eq!(dns_req.form_values("ip_addresses"), ["10.0.0.9 10.0.0.10"]);
    assert_eq!(
        (reqs[7].method.as_str(), reqs[7].path.as_str()),
        ("DELETE", "/MAAS/api/2.0/dnsresources/4/")
    );
    let reserve = &reqs[8];
    assert_eq!(reserve.raw_query.as_deref(), Some("op=reserve"));
    assert_eq!(reserve.form_values("subnet"), ["10.0.0.0/24"]);
    assert_eq!(reserve.form_values("hostname"), ["api.maas"]);
    assert_eq!(reqs[9].raw_query.as_deref(), Some("op=release"));
    assert_eq!(reqs[9].form_values("ip"), ["10.0.0.9"]);
}

/// One error case: what the server answers, which call is made, and what must come out.
async fn error_for(canned: Canned, alloc: bool) -> (MaasError, usize) {
    let maas = TestMaas::start(move |_, _| canned.clone()).await;
    let c = maas.client();
    let err = if alloc {
        let req = AllocateRequest {
            cpu_count: Some(4),
            mem: Some(8192),
            tags: vec!["gpu".into()],
            agent_name: Some("kubemaas:c1".into()),
            ..Default::default()
        };
        c.allocate(&req).await.unwrap_err()
    } else {
        c.machine("abc123").await.unwrap_err()
    };
    let shown = format!("{err} {err:?}");
    assert!(!leaks_key(&shown), "key leaked: {shown}");
    (err, maas.requests().len())
}

#[tokio::test]
async fn http_errors_map_to_typed_actionable_errors() {
    // 401 whose text echoes the expected signature, as real MAAS does.
    let (e, _) = error_for(
        Canned::text(401, &format!("Authorization Error: 'Invalid signature. Expected signature base string: &{SECRET}'")),
        false,
    )
    .await;
    assert!(matches!(e, MaasError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("create a new API key"), "{e}");

    let (e, _) = error_for(Canned::text(403, ""), false).await;
    assert!(matches!(e, MaasError::Forbidden { .. }), "{e:?}");
    assert!(e.to_string().contains("admin"), "{e}");

    let (e, _) = error_for(
        Canned::text(404, "No Machine matches the given query."),
        false,
    )
    .await;
    match &e {
        MaasError::NotFound { message, request } => {
            assert_eq!(message, "No Machine matches the given query.");
            assert_eq!(request, "GET machines/abc123/");
        }
        other => panic!("{other:?}"),
    }

    let (e, n) = error_for(
        Canned::text(
            409,
            "No available machine matches constraints: [('cpu_count', ['4']), ('mem', ['8192']), ('tags', ['gpu']), ('agent_name', ['kubemaas:c1'])] (resolved to \"cpu_count=4.0 mem=8192.0 tags=gpu\")",
        ),
        true,
    )
    .await;
    assert_eq!(n, 1, "a no-match is not retried");
    match &e {
        MaasError::NoMatch {
            asked, resolved, ..
        } => {
            assert_eq!(asked[0], ("cpu_count".to_string(), vec!["4".to_string()]));
            assert_eq!(asked[2], ("tags".to_string(), vec!["gpu".to_string()]));
            assert_eq!(
                resolved.as_deref(),
                Some("cpu_count=4.0 mem=8192.0 tags=gpu")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string().contains("cpu_count=4, mem=8192, tags=gpu"),
        "{e}"
    );

    // MAAS 2.x wording: the constraints come from our own request.
    let (e, _) = error_for(
        Canned::text(409, "No available machine matches constraints: mem=8192.0"),
        true,
    )
    .await;
    match &e {
        MaasError::NoMatch { asked, .. } => {
            assert!(asked.contains(&("mem".to_string(), vec!["8192".to_string()])));
            assert!(!asked.iter().any(|(k, _)| k == "agent_name"));
        }
        other => panic!("{other:?}"),
    }

    let (e, _) = error_for(
        Canned::text(409, "Invalid transition: Broken -> Allocated."),
        true,
    )
    .await;
    assert!(matches!(e, MaasError::Conflict { .. }), "{e:?}");

    let (e, n) = error_for(
        Canned::text(409, "<html>conflict</html>").header("retry-after", "5"),
        false,
    )
    .await;
    assert!(
        matches!(e, MaasError::ServerBusy { status: 409, retry_after: Some(d), .. } if d == Duration::from_secs(5)),
        "{e:?}"
    );
    assert_eq!(
        n, 3,
        "a read with Retry-After is retried up to the policy's attempts"
    );

    let (e, _) = error_for(
        Canned::json(json!({"zone": ["No such zone: 'az9'."], "tags": ["No such tag(s): 'gpu'."]}))
            .status_code(400),
        true,
    )
    .await;
    match &e {
        MaasError::BadRequest { fields, .. } => {
            assert_eq!(fields["zone"], vec!["No such zone: 'az9'.".to_string()]);
            assert_eq!(fields["tags"], vec!["No such tag(s): 'gpu'.".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("zone: No such zone: 'az9'."), "{e}");

    let (e, n) = error_for(
        Canned::text(503, "Unable to connect to any rack controller"),
        false,
    )
    .await;
    assert!(
        matches!(
            e,
            MaasError::ServerBusy {
                status: 503,
                retry_after: None,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(n, 3);
    assert!(e
        .to_string()
        .contains("Unable to connect to any rack controller"));

    let (e, _) = error_for(
        Canned::text(302, "").header("location", "https://maas.example:5443/MAAS/"),
        false,
    )
    .await;
    assert!(
        matches!(e, MaasError::Redirected { ref location, .. } if location == "https://maas.example:5443/MAAS/"),
        "{e:?}"
    );

    let (e, _) = error_for(
        Canned::text(200, "<html><body>proxy login</body></html>"),
        false,
    )
    .await;
    match &e {
        MaasError::Decode { request, detail } => {
            assert_eq!(request, "GET machines/abc123/");
            assert!(detail.contains("HTML"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

trait StatusCode {
    fn status_code(self, status: u16) -> Self;
}

impl StatusCode for Canned {
    fn status_code(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

#[tokio::test]
async fn reads_are_retried_until_maas_recovers() {
    let maas = TestMaas::start(|_, n| match n {
        0 => Canned::text(503, "busy").header("retry-after", "10"),
        1 => Canned::text(504, "Gateway Time-out"),
        _ => Canned::json(json!([machine_json("abc123", 4, "Ready")])),
    })
    .await;
    let machines = maas
        .client()
        .machines(&MachineFilter::default())
        .await
        .unwrap();
    assert_eq!(machines.len(), 1);
    let reqs = maas.requests();
    assert_eq!(reqs.len(), 3);
    let nonces: std::collections::BTreeSet<String> = reqs
        .iter()
        .map(|r| {
            r.oauth_params()
                .into_iter()
                .find(|(k, _)| k == "oauth_nonce")
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(nonces.len(), 3, "each retry is signed afresh");
}

#[tokio::test]
async fn writes_are_never_retried_blindly() {
    for status in [503, 504, 500] {
        let maas = TestMaas::start(move |_, _| Canned::text(status, "failed")).await;
        let c = maas.client();
        let e = c.allocate(&AllocateRequest::default()).await.unwrap_err();
        assert_eq!(e.status(), Some(status));
        let e = c
            .deploy("abc123", &DeployRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(status));
        c.release("abc123", &ReleaseRequest::default())
            .await
            .unwrap_err();
        c.reserve_ip(&ReserveIpRequest::default())
            .await
            .unwrap_err();
        c.create_dns_resource(&CreateDnsResource {
            name: DnsName::Fqdn("a.maas".into()),
            address_ttl: None,
            ip_addresses: vec![],
        })
        .await
        .unwrap_err();
        assert_eq!(
            maas.requests().len(),
            5,
            "one attempt each for HTTP {status}"
        );
    }
    // A 409 without Retry-After on deploy is a real conflict: one attempt.
    let maas = TestMaas::start(|_, _| {
        Canned::text(409, "Can't deploy a machine that is in the 'Broken' state")
    })
    .await;
    let e = maas
        .client()
        .deploy("abc123", &DeployRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, MaasError::Conflict { .. }), "{e:?}");
    assert_eq!(maas.requests().len(), 1);
}

#[tokio::test]
async fn a_write_maas_rolled_back_with_retry_after_is_resent() {
    let maas = TestMaas::start(|_, n| match n {
        0 => Canned::text(409, "conflict").header("retry-after", "5"),
        _ => {
            let mut m = machine_json("abc123", 10, "Allocated");
            m["constraints_by_type"] = json!({});
            Canned::json(m)
        }
    })
    .await;
    let alloc = maas
        .client()
        .allocate(&AllocateRequest::default())
        .await
        .unwrap();
    assert_eq!(alloc.machine.system_id, "abc123");
    assert_eq!(maas.requests().len(), 2);
}

#[tokio::test]
async fn transport_failures_are_typed() {
    let port = closed_port().await;
    let mut config = MaasConfig::new(
        Endpoint::parse(&format!("http://127.0.0.1:{port}/MAAS")).unwrap(),
        maas_client_support::test_key(),
    );
    config.retry = RetryPolicy::immediate(2);
    let c = MaasClient::new(config).unwrap();
    let e = c.version().await.unwrap_err();
    assert!(matches!(e, MaasError::Connect { .. }), "{e:?}");
    let s = e.to_string();
    assert!(
        s.contains(&format!("127.0.0.1:{port}")) && s.contains("port"),
        "{s}"
    );
    assert!(!leaks_key(&format!("{s} {e:?}")));

    let maas = TestMaas::start(|_, _| Canned::hang()).await;
    let mut config = maas.config();
    config.timeout = Duration::from_millis(300);
    config.retry = RetryPolicy::never();
    let e = MaasClient::new(config)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(matches!(e, MaasError::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("GET version/"), "{e}");
}

#[tokio::test]
async fn the_key_never_shows_in_debug_output() {
    let maas = TestMaas::start(|_, _| Canned::json(version_json())).await;
    let config = maas.config();
    let client = MaasClient::new(config.clone()).unwrap();
    for shown in [
        format!("{config:?}"),
        format!("{client:?}"),
        format!("{:?}", config.api_key),
    ] {
        assert!(!leaks_key(&shown), "{shown}");
    }
}

#[tokio::test]
async fn clones_share_one_client_and_run_concurrently() {
    let maas = TestMaas::start(|_, _| Canned::json(json!([]))).await;
    let c = maas.client();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.zones().await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_empty());
    }
    assert_eq!(maas.requests().len(), 8);
}

/// A server that drops the first `drops` connections without answering, then answers every
/// request with `body` (HTTP/1.1, one request per connection). Returns its port and a counter
/// of connections accepted.
async fn flaky_server(
    drops: usize,
    body: &'static str,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match tcp.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            if n < drops {
                drop(tcp); // the request was read, no answer: a broken connection
                continue;
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tcp.write_all(response.as_bytes()).await;
            let _ = tcp.shutdown().await;
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn reads_retry_broken_connections_writes_do_not() {
    use std::sync::atomic::Ordering;
    let (port, accepted) = flaky_server(2, r#"[{"id": 1, "name": "az1"}]"#).await;
    let mut config = MaasConfig::new(
        Endpoint::parse(&format!("http://127.0.0.1:{port}/MAAS")).unwrap(),
        maas_client_support::test_key(),
    );
    config.retry = RetryPolicy::immediate(3);
    let c = MaasClient::new(config).unwrap();
    assert_eq!(c.zones().await.unwrap()[0].name, "az1");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        3,
        "two broken connections, then success"
    );

    let (port, accepted) = flaky_server(1, "{}").await;
    let mut config = MaasConfig::new(
        Endpoint::parse(&format!("http://127.0.0.1:{port}/MAAS")).unwrap(),
        maas_client_support::test_key(),
    );
    config.retry = RetryPolicy::immediate(3);
    let c = MaasClient::new(config).unwrap();
    let e = c.allocate(&AllocateRequest::default()).await.unwrap_err();
    assert!(matches!(e, MaasError::Connect { .. }), "{e:?}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "an allocate whose answer was lost is not resent"
    );
}

/// A "MAAS" on 127.0.0.1 that answers every request with a 200 whose chunked body never ends.
async fn endless_maas() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 8192];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("10000\r\n[{}\r\n", "0,".repeat(0x7fff) + "0");
                while socket.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    format!("http://{addr}/MAAS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_an_error_naming_the_endpoint_and_the_bound() {
    let url = endless_maas().await;
    let mut config = MaasConfig::new(
        Endpoint::parse(&url).unwrap(),
        maas_client_support::test_key(),
    );
    config.retry = RetryPolicy::never();
    let c = MaasClient::new(config).unwrap();
    let e = c.machines(&MachineFilter::default()).await.unwrap_err();
    assert!(matches!(e, MaasError::TooLarge { .. }), "{e:?}");
    let s = e.to_string();
    assert!(
        s.contains(url.trim_end_matches("/MAAS"))
            && s.contains("GET machines/")
            && s.contains("256 MiB"),
        "{s}"
    );
    assert!(!leaks_key(&s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_of_ten_thousand_simulated_machines_fits_the_bound() {
    let sim = kubemaas::sim::start(kubemaas::sim::SimConfig::generated(10_000, 7))
        .await
        .unwrap();
    let mut config = MaasConfig::new(sim.endpoint(), sim.api_key());
    config.retry = RetryPolicy::never();
    let machines = MaasClient::new(config)
        .unwrap()
        .machines(&MachineFilter::default())
        .await
        .unwrap();
    assert_eq!(machines.len(), 10_000);
    sim.shutdown().await;
}
