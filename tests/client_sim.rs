//! kubemaas's MAAS client against kubemaas's MAAS simulator, end to end over loopback: every
//! client operation, the machine lifecycle on the virtual clock, injected faults, and bad
//! credentials / endpoints. The clock is frozen (speed 0) and moved explicitly: nothing sleeps.

use kubemaas::maas::{
    AllocateRequest, ApiKey, CreateDnsResource, DeployRequest, DnsName, DnsResourceFilter,
    EventQuery, MaasClient, MaasConfig, MaasError, MachineFilter, NodeStatus, PowerState,
    ReleaseRequest, ReserveIpRequest, RetryPolicy, StorageConstraint,
};
use kubemaas::sim::{self, SimConfig, SimHandle, TransientKind};
use std::collections::BTreeMap;

async fn sim_with(config: SimConfig) -> (SimHandle, MaasClient) {
    let handle = sim::start(config.speed(0.0))
        .await
        .expect("simulator starts");
    let client = client_for(&handle, handle.api_key(), RetryPolicy::immediate(4));
    (handle, client)
}

async fn sim() -> (SimHandle, MaasClient) {
    sim_with(SimConfig::generated(40, 7)).await
}

fn client_for(handle: &SimHandle, key: ApiKey, retry: RetryPolicy) -> MaasClient {
    let mut config = MaasConfig::new(handle.endpoint(), key);
    config.retry = retry;
    MaasClient::new(config).expect("client")
}

fn stamped(agent: &str) -> AllocateRequest {
    AllocateRequest {
        agent_name: Some(agent.into()),
        comment: Some("kubemaas client test".into()),
        ..Default::default()
    }
}

fn deploy_jammy() -> DeployRequest {
    DeployRequest {
        distro_series: Some("jammy".into()),
        user_data: Some(b"#cloud-config\nruncmd: [true]\n".to_vec()),
        ..Default::default()
    }
}

#[tokio::test]
async fn reads_the_catalogue() {
    let (_sim, c) = sim().await;
    let (version, me) = c.identify().await.unwrap();
    assert!(!version.version.is_empty());
    assert!(me.is_superuser);
    assert!(c.zones().await.unwrap().iter().any(|z| z.name == "default"));
    let pools = c.resource_pools().await.unwrap();
    assert!(pools.iter().any(|p| p.name == "default" && p.id == Some(0)));
    assert!(!c.tags().await.unwrap().is_empty());
    assert!(c.domains().await.unwrap().iter().any(|d| d.is_default));
    let subnets = c.subnets().await.unwrap();
    let ranges = c.subnet_unreserved_ip_ranges(subnets[0].id).await.unwrap();
    assert!(ranges.iter().any(|r| r.num_addresses > 0));
    let images = c.boot_resources().await.unwrap();
    assert!(images.iter().any(|b| b.distro_series() == "jammy"));
}

#[tokio::test]
async fn lists_with_filters_and_one_request_polls_many_machines() {
    let (sim, c) = sim().await;
    let all = c.machines(&MachineFilter::default()).await.unwrap();
    assert_eq!(all.len(), 40);
    let ids: Vec<String> = all.iter().take(5).map(|m| m.system_id.clone()).collect();
    let before = sim.counters().total();
    let some = c.machines(&MachineFilter::ids(ids.clone())).await.unwrap();
    assert_eq!(
        sim.counters().total() - before,
        1,
        "one request for five machines"
    );
    let mut got: Vec<String> = some.iter().map(|m| m.system_id.clone()).collect();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want);
    let one = c.machine(&ids[0]).await.unwrap();
    assert_eq!(one.system_id, ids[0]);
    let zone = all[0].zone.name.clone();
    let in_zone = c
        .machines(&MachineFilter {
            zone: Some(zone.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!in_zone.is_empty() && in_zone.iter().all(|m| m.zone.name == zone));
}

#[tokio::test]
async fn allocate_deploy_release_through_every_state() {
    let (sim, c) = sim().await;
    let alloc = c
        .allocate(&AllocateRequest {
            cpu_count: Some(4),
            mem: Some(8192),
            storage: vec![StorageConstraint::new("root", 20)],
            ..stamped("kubemaas:test01")
        })
        .await
        .unwrap();
    let m = alloc.machine;
    assert_eq!(m.status, NodeStatus::Allocated);
    assert!(m.cpu_count >= 4 && m.memory >= 8192);
    // The stamp finds the allocation again, as after a crash that lost the answer.
    let mine = c
        .machines(&MachineFilter::agent_name("kubemaas:test01"))
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].system_id, m.system_id);

    let mut data = BTreeMap::new();
    data.insert("kubemaas-cluster".to_string(), "test01".to_string());
    let m2 = c.set_owner_data(&m.system_id, &data).await.unwrap();
    assert_eq!(
        m2.owner_data.get("kubemaas-cluster").map(String::as_str),
        Some("test01")
    );

    let d = c.deploy(&m.system_id, &deploy_jammy()).await.unwrap();
    assert_eq!(d.status, NodeStatus::Deploying);
    let sid = m.system_id.clone();
    sim.advance(60.0);
    let mid = c.machine(&sid).await.unwrap();
    assert_eq!(mid.status, NodeStatus::Deploying);
    assert!(
        mid.status_message.is_some(),
        "a deploying machine says what it is doing"
    );
    sim.advance(3600.0);
    let done = c.machine(&sid).await.unwrap();
    assert_eq!(done.status, NodeStatus::Deployed);
    assert_eq!(done.distro_series, "jammy");
    assert!(!done.ip_addresses.is_empty());
    assert_eq!(c.query_power_state(&sid).await.unwrap(), PowerState::On);

    let events = c
        .events(&EventQuery {
            ids: vec![sid.clone()],
            limit: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(events.events.iter().any(|e| e.kind.contains("Deployed")));

    let r = c
        .release(
            &sid,
            &ReleaseRequest {
                quick_erase: true,
                erase: true,
                comment: Some("done".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        r.status,
        NodeStatus::DiskErasing | NodeStatus::Releasing
    ));
    sim.advance(3600.0);
    let back = c.machine(&sid).await.unwrap();
    assert_eq!(back.status, NodeStatus::Ready);
    assert!(back.owner.is_none() && back.owner_data.is_empty());
    assert!(c
        .machines(&MachineFilter::agent_name("kubemaas:test01"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn abort_and_power_operations() {
    let (sim, c) = sim().await;
    let m = c
        .allocate(&stamped("kubemaas:abort"))
        .await
        .unwrap()
        .machine;
    c.deploy(&m.system_id, &deploy_jammy()).await.unwrap();
    sim.advance(30.0);
    let aborted = c.abort(&m.system_id, Some("operator abort")).await.unwrap();
    assert_eq!(aborted.status, NodeStatus::Allocated);
    // Aborting again is a conflict MAAS explains.
    match c.abort(&m.system_id, None).await {
        Err(MaasError::Conflict { message, .. }) => assert!(message.contains("Cannot abort")),
        other => panic!("expected a conflict, got {other:?}"),
    }
    c.power_on(&m.system_id, None).await.unwrap();
    assert_eq!(
        c.query_power_state(&m.system_id).await.unwrap(),
        PowerState::On
    );
    c.power_off(&m.system_id, None).await.unwrap();
    sim.advance(5.0);
    assert_eq!(
        c.query_power_state(&m.system_id).await.unwrap(),
        PowerState::Off
    );
}

#[tokio::test]
async fn no_match_names_the_constraints() {
    let (_sim, c) = sim().await;
    let err = c
        .allocate(&AllocateRequest {
            cpu_count: Some(100_000),
            ..stamped("kubemaas:nomatch")
        })
        .await
        .unwrap_err();
    match &err {
        MaasError::NoMatch { .. } => assert!(err.to_string().contains("cpu_count")),
        other => panic!("expected NoMatch, got {other:?}"),
    }
    let err = c
        .allocate(&AllocateRequest {
            zone: Some("no-such-zone".into()),
            ..stamped("kubemaas:nomatch")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, MaasError::BadRequest { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-zone"));
}

#[tokio::test]
async fn every_tag_is_sent_and_honoured() {
    let (sim, c) = sim().await;
    let machines = sim.machines();
    let tagged = machines
        .iter()
        .find(|m| m.tags.len() >= 2 && m.status == NodeStatus::Ready)
        .expect("a Ready machine with two tags in the fleet");
    let alloc = c
        .allocate(&AllocateRequest {
            tags: tagged.tags.clone(),
            ..stamped("kubemaas:tags")
        })
        .await
        .unwrap();
    for tag in &tagged.tags {
        assert!(alloc.machine.tag_names.contains(tag), "{tag} honoured");
    }
}

#[tokio::test]
async fn ip_reservations_and_dns_records() {
    let (_sim, c) = sim().await;
    let subnet = c.subnets().await.unwrap()[0].cidr.clone();
    let vip = c
        .reserve_ip(&ReserveIpRequest {
            subnet: Some(subnet.clone()),
            comment: Some("kubemaas VIP".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(c
        .ip_addresses(None)
        .await
        .unwrap()
        .iter()
        .any(|a| a.ip == vip.ip));
    // Reserving the same address again is refused the way MAAS refuses it.
    let again = c
        .reserve_ip(&ReserveIpRequest {
            ip: Some(vip.ip.clone()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already in use"), "{again}");

    let record = c
        .create_dns_resource(&CreateDnsResource {
            name: DnsName::Fqdn("api-test01.maas".into()),
            address_ttl: Some(30),
            ip_addresses: vec![vip.ip.clone()],
        })
        .await
        .unwrap();
    let found = c
        .dns_resources(&DnsResourceFilter {
            fqdn: Some("api-test01.maas".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ip_addresses[0].ip, vip.ip);
    c.delete_dns_resource(record.id).await.unwrap();
    c.release_ip(&vip.ip).await.unwrap();
    assert!(!c
        .ip_addresses(None)
        .await
        .unwrap()
        .iter()
        .any(|a| a.ip == vip.ip));
    assert!(matches!(
        c.release_ip(&vip.ip).await.unwrap_err(),
        MaasError::BadRequest { .. }
    ));
}

#[tokio::test]
async fn failed_deployments_are_reported_as_maas_does() {
    let (sim, c) = sim_with(SimConfig::generated(10, 3).fail_deploy_rate(1.0)).await;
    let m = c.allocate(&stamped("kubemaas:fail")).await.unwrap().machine;
    c.deploy(&m.system_id, &deploy_jammy()).await.unwrap();
    sim.advance(7200.0);
    let failed = c.machine(&m.system_id).await.unwrap();
    assert_eq!(failed.status, NodeStatus::FailedDeployment);
    assert_eq!(failed.status_name, "Failed deployment");
    // A failed machine is released, as the engine will do before replacing it.
    c.release(&m.system_id, &ReleaseRequest::default())
        .await
        .unwrap();
    sim.advance(600.0);
    assert_eq!(
        c.machine(&m.system_id).await.unwrap().status,
        NodeStatus::Ready
    );
}

#[tokio::test]
async fn transient_errors_are_retried_on_reads_only() {
    let (sim, c) = sim().await;
    sim.fail_next("machines/", TransientKind::Unavailable, 2);
    let before = sim.counters().total();
    let listed = c.machines(&MachineFilter::default()).await.unwrap();
    assert_eq!(listed.len(), 40);
    assert_eq!(sim.counters().total() - before, 3, "two 503s, then success");

    sim.fail_next("machines/", TransientKind::GatewayTimeout, 1);
    assert!(c.machines(&MachineFilter::default()).await.is_ok());

    // A 409 with Retry-After means MAAS rolled the request back, so allocate may try again...
    sim.fail_next("machines/", TransientKind::RetryConflict, 1);
    assert!(c.allocate(&stamped("kubemaas:retry")).await.is_ok());

    // ...but a plain failure on a mutation is returned, never resent blindly.
    let no_retry = client_for(&sim, sim.api_key(), RetryPolicy::immediate(1));
    sim.fail_next("machines/", TransientKind::Unavailable, 5);
    let err = no_retry
        .machines(&MachineFilter::default())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn vanished_and_unpowered_machines() {
    let (sim, c) = sim().await;
    let m = c
        .allocate(&stamped("kubemaas:vanish"))
        .await
        .unwrap()
        .machine;
    assert!(sim.vanish(&m.system_id));
    assert!(matches!(
        c.machine(&m.system_id).await.unwrap_err(),
        MaasError::NotFound { .. }
    ));
    let n = c
        .allocate(&stamped("kubemaas:power"))
        .await
        .unwrap()
        .machine;
    c.deploy(&n.system_id, &deploy_jammy()).await.unwrap();
    sim.advance(3600.0);
    assert!(sim.power_loss(&n.system_id));
    let after = c.machine(&n.system_id).await.unwrap();
    assert_eq!(after.status, NodeStatus::Deployed);
    assert_eq!(after.power_state, PowerState::Off);
    assert!(sim.set_power_state(&n.system_id, PowerState::Error));
    assert_eq!(
        c.query_power_state(&n.system_id).await.unwrap(),
        PowerState::Error
    );
}

#[tokio::test]
async fn bad_credentials_and_permissions() {
    let (sim, _c) = sim().await;
    let wrong = ApiKey::from_parts(
        "aaaaaaaaaaaaaaaaaa",
        "bbbbbbbbbbbbbbbbbb",
        "cccccccccccccccccccccccccccccccc",
    );
    let c = client_for(&sim, wrong, RetryPolicy::immediate(3));
    let err = c.whoami().await.unwrap_err();
    assert!(matches!(err, MaasError::Unauthorized { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("cccccccc"),
        "the secret is never shown"
    );

    let real = sim.api_key();
    let bad_secret = ApiKey::from_parts(
        real.consumer_key(),
        real.token_key(),
        "dddddddddddddddddddddddddddddddd",
    );
    let c = client_for(&sim, bad_secret, RetryPolicy::immediate(3));
    let err = c.zones().await.unwrap_err();
    assert!(matches!(err, MaasError::Unauthorized { .. }), "{err:?}");
    assert!(!err.to_string().contains(real.token_secret()));

    // A non-admin user may allocate but not create DNS records.
    let user = client_for(&sim, sim.user_api_key(), RetryPolicy::immediate(3));
    assert!(!user.whoami().await.unwrap().is_superuser);
    let err = user
        .create_dns_resource(&CreateDnsResource {
            name: DnsName::Fqdn("x.maas".into()),
            address_ttl: None,
            ip_addresses: vec![],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, MaasError::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error_that_says_what_to_check() {
    let (sim, _c) = sim().await;
    let key = sim.api_key();
    // Bind then drop a listener: the port is closed, on loopback.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}/MAAS").parse().unwrap();
    let mut config = MaasConfig::new(endpoint, key);
    config.retry = RetryPolicy::immediate(2);
    let c = MaasClient::new(config).unwrap();
    let err = c.version().await.unwrap_err();
    assert!(matches!(err, MaasError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("is MAAS running"), "{err}");
}
