//! `kubemaas gateway deploy` against the simulator: machines allocated per placement and
//! deployed with the gateway user-data (read back from the simulator), 1 and 3 nodes; a rerun
//! after an injected deployment failure replaces only the failed machine; a rerun after success
//! changes nothing; clear errors; the user-data passes `cloud-init schema`; and pairing back
//! with a real in-process gateway seeded, as on a node, from the code in the user-data; and
//! replacing a failed node of a paired 3-node gateway: a real `kubemaas gateway run` node on
//! real etcd members has its etcd drop the dead member and admit the replacement, which is
//! deployed to join with state `existing` and the member list the gateway returned.

mod bootstrap_support;
mod cli_support;
mod engine_support;
#[path = "ha_support/mod.rs"]
mod ha_support;

use axum::Router;
use bootstrap_support::{cloud_init_python, cloud_init_schema, require_tool, run, shellify_runcmd};
use futures_util::future::BoxFuture;
use kubemaas::bootstrap::cloud_config::CloudConfig;
use kubemaas::bootstrap::gateway_user_data::{
    BinaryArtifact, ETCD_DEFAULTS_PATH, GATEWAY_CONFIG_PATH, INSTALL_SCRIPT_PATH, PAIRING_CODE_PATH,
};
use kubemaas::gateway::clock::SystemClock;
use kubemaas::gateway::deploy::preissued::{admit_from_file, Preissued};
use kubemaas::gateway::deploy::{
    self, agent_name, DeployError, DeployOptions, DeployOutcome, Pace, Progress, OWNER_KEY_GATEWAY,
};
use kubemaas::gateway::pairing::{Limits, PairingCode, Pairings};
use kubemaas::gateway::pki::GatewayPki;
use kubemaas::gateway::protocol::{GatewayInfo, MaasInfo};
use kubemaas::gateway::registry::ConsoleRegistry;
use kubemaas::gateway::server::{GatewayServer, ServerOptions};
use kubemaas::gateway::GatewayConfig;
use kubemaas::maas::{MaasClient, MaasConfig, NodeStatus};
use kubemaas::sim::model::SimMachine;
use kubemaas::sim::{self, SimConfig, SimHandle};
use kubemaas::store::Store;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const URL: &str = "https://files.example/kubemaas-linux-amd64";

/// A fault to run on the simulator once.
type Fault = Box<dyn FnOnce(&SimHandle) + Send>;

/// Each pause moves the simulator's clock a minute; the first one may run a fault first.
struct SimPace {
    sim: Arc<SimHandle>,
    on_first: Mutex<Option<Fault>>,
}

impl SimPace {
    fn new(sim: &Arc<SimHandle>) -> Self {
        SimPace {
            sim: sim.clone(),
            on_first: Mutex::new(None),
        }
    }

    fn with_fault(sim: &Arc<SimHandle>, f: impl FnOnce(&SimHandle) + Send + 'static) -> Self {
        SimPace {
            sim: sim.clone(),
            on_first: Mutex::new(Some(Box::new(f))),
        }
    }
}

impl Pace for SimPace {
    fn pause(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(f) = self.on_first.lock().unwrap().take() {
                f(&self.sim);
            }
            self.sim.advance(60.0);
            tokio::task::yield_now().await;
        })
    }
}

struct World {
    sim: Arc<SimHandle>,
    client: MaasClient,
    dir: tempfile::TempDir,
    store: Store,
}

impl World {
    async fn new(machines: usize) -> World {
        let inv = engine_support::fleet(machines, 11, false);
        let sim = Arc::new(
            sim::start(SimConfig::with_inventory(inv).seed(11).speed(0.0))
                .await
                .unwrap(),
        );
        let client = MaasClient::new(MaasConfig::new(sim.endpoint(), sim.api_key())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state")).unwrap();
        World {
            sim,
            client,
            dir,
            store,
        }
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    fn config(&self, placement: &str) -> GatewayConfig {
        GatewayConfig::parse(&config_text(&self.sim, placement)).unwrap()
    }

    async fn deploy(
        &self,
        cfg: &GatewayConfig,
        options: &DeployOptions,
        pace: &SimPace,
    ) -> (Result<DeployOutcome, DeployError>, Vec<Progress>) {
        let lines = Mutex::new(Vec::new());
        let report = |p: &Progress| lines.lock().unwrap().push(p.clone());
        let r = deploy::deploy(
            cfg,
            &self.client,
            &self.store,
            &self.state_dir(),
            options,
            pace,
            &report,
        )
        .await;
        (r, lines.into_inner().unwrap())
    }

    /// The machines the simulator holds for gateway `name`.
    fn gateway_machines(&self, name: &str) -> Vec<SimMachine> {
        let agent = agent_name(name);
        let mut ms: Vec<SimMachine> = self
            .sim
            .machines()
            .into_iter()
            .filter(|m| m.agent_name == agent && m.owner.is_some())
            .collect();
        ms.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        ms
    }

    fn posts(&self) -> u64 {
        self.sim
            .counters()
            .snapshot()
            .iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.count)
            .sum()
    }
}

fn config_text(sim: &SimHandle, placement: &str) -> String {
    format!(
        "apiVersion: kubemaas.io/v1
kind: Gateway
name: dc1
listen: 0.0.0.0:8443
maas:
  endpoint: {}
  apiKey: {}
proxy:
  https: http://proxy.example:3128
  noProxy: [.example]
placement:
{placement}
artifact:
  url: {URL}
  sha256: {SHA}
",
        sim.url(),
        sim.api_key().expose()
    )
}

/// Gives every machine's first linked interface a static address (10.10.200.N), as an
/// operator does in MAAS for machines that must keep theirs.
fn static_addresses(sim: &SimHandle) {
    sim.with_region(|r| {
        for (i, m) in r.machines.iter_mut().enumerate() {
            if let Some(nic) = m.nics.iter_mut().find(|n| n.subnet_id.is_some()) {
                nic.link_mode = "static".into();
                nic.ip_address = Some(format!("10.10.200.{}", i + 1));
            }
        }
    });
}

fn options(pair_address: Option<String>, skip_pairing: bool) -> DeployOptions {
    DeployOptions {
        binary: BinaryArtifact {
            url: URL.into(),
            sha256: SHA.into(),
            served: false,
        },
        timeout: Duration::from_secs(3600),
        poll: Duration::from_secs(60),
        pair_address,
        skip_pairing,
        console_name: "laptop".into(),
    }
}

fn cloud_config(m: &SimMachine) -> CloudConfig {
    let text = std::str::from_utf8(m.user_data.as_deref().expect("deployed with user-data"))
        .unwrap()
        .to_string();
    assert!(text.starts_with("#cloud-config\n"));
    serde_yaml::from_str(&text).unwrap()
}

fn file<'a>(cc: &'a CloudConfig, path: &str) -> &'a kubemaas::bootstrap::cloud_config::WriteFile {
    cc.write_files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path} in the user-data"))
}

fn etcd_value(defaults: &str, key: &str) -> String {
    defaults
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {defaults}"))
        .trim_matches('"')
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_lands_on_the_placement_with_its_user_data_and_a_rerun_changes_nothing() {
    let w = World::new(9).await;
    let cfg = w.config(
        "  zone: az-2\n  pool: default\n  machine: {minCpu: 8, minMemoryMiB: 16384}\n  nodes: 1",
    );
    let pace = SimPace::new(&w.sim);
    let (r, lines) = w.deploy(&cfg, &options(None, true), &pace).await;
    let outcome = r.unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.pairing, "not_paired");
    let steps: Vec<&str> = lines.iter().map(|p| p.step).collect();
    for s in ["allocate", "deploy", "wait", "deployed", "done"] {
        assert!(steps.contains(&s), "no {s} step in {lines:?}");
    }

    let ms = w.gateway_machines("dc1");
    assert_eq!(ms.len(), 1);
    let m = &ms[0];
    assert_eq!(m.zone, "az-2");
    assert_eq!(m.status, NodeStatus::Deployed);
    assert_eq!(
        m.owner_data.get(OWNER_KEY_GATEWAY).map(String::as_str),
        Some("dc1")
    );
    assert_eq!(outcome.machines[0].system_id, m.system_id);
    assert_eq!(
        outcome.address.as_deref(),
        Some(format!("{}:8443", outcome.machines[0].ip.as_deref().unwrap()).as_str())
    );

    let cc = cloud_config(m);
    // gateway.yaml: the same gateway, MAAS key included, root-only; the node's names in tlsNames.
    let gy = file(&cc, GATEWAY_CONFIG_PATH);
    assert_eq!(gy.permissions.as_deref(), Some("0600"));
    assert_eq!(gy.owner.as_deref(), Some("root:root"));
    let on_node = GatewayConfig::parse(&gy.content).unwrap();
    assert_eq!(on_node.name, "dc1");
    assert_eq!(on_node.maas.api_key, w.sim.api_key());
    assert!(
        on_node.tls_names.contains(&m.hostname),
        "{:?}",
        on_node.tls_names
    );
    // A 1-node gateway keeps its state in SQLite (etcd is installed for a later resize only).
    assert_eq!(on_node.etcd, None);
    assert_eq!(on_node.node.name, None);
    // MAAS gives an automatic address only as the deploy starts, after the user-data was
    // handed over: no address is written, the node announces its own toward MAAS; the
    // operator is told.
    assert_eq!(on_node.node.address, None);
    assert!(
        lines
            .iter()
            .any(|p| p.step == "deploy" && p.message.contains("toward MAAS")),
        "{lines:?}"
    );
    // The pairing code, root-only, the one the console keeps in its deployment record.
    let code = file(&cc, PAIRING_CODE_PATH);
    assert_eq!(code.permissions.as_deref(), Some("0600"));
    let record = deploy::DeployRecord::load_or_new(&w.state_dir(), "dc1").unwrap();
    assert_eq!(
        PairingCode::parse(code.content.trim()).unwrap(),
        record.code
    );
    // A one-member etcd on loopback.
    let etcd = &file(&cc, ETCD_DEFAULTS_PATH).content;
    assert_eq!(etcd_value(etcd, "ETCD_NAME"), m.hostname);
    assert_eq!(
        etcd_value(etcd, "ETCD_INITIAL_CLUSTER"),
        format!("{}=http://127.0.0.1:2380", m.hostname)
    );
    // etcd-server installed, kubemaas downloaded and checked, the unit started, via the proxy.
    let runcmd = serde_yaml::to_string(&cc.runcmd).unwrap();
    assert!(runcmd.contains("etcd-server"), "{runcmd}");
    assert!(runcmd.contains("https_proxy=http://proxy.example:3128"));
    let install = cc
        .runcmd
        .iter()
        .find_map(|c| match c {
            kubemaas::bootstrap::cloud_config::Command::Argv(a)
                if a.iter().any(|x| x == INSTALL_SCRIPT_PATH) =>
            {
                Some(a.clone())
            }
            _ => None,
        })
        .expect("the install command");
    assert_eq!(
        &install[install.len() - 2..],
        &[URL.to_string(), SHA.to_string()]
    );
    assert!(runcmd.contains("kubemaas-gateway.service"));
    assert!(file(&cc, INSTALL_SCRIPT_PATH).content.contains("sha256sum"));

    // A rerun: nothing sent to MAAS but reads, nothing changed.
    let before = w.posts();
    let (r, lines) = w.deploy(&cfg, &options(None, true), &pace).await;
    let again = r.unwrap();
    assert!(!again.changed, "{lines:?}");
    assert_eq!(
        w.posts(),
        before,
        "a rerun after success must not change MAAS"
    );
    assert_eq!(again.machines[0].system_id, m.system_id);
    assert!(lines.iter().any(|p| p.message.contains("nothing changed")));

    // The artifact was wrong and the gateway never paired: fixing it and rerunning replaces
    // the node with one deployed with the fixed settings.
    let fixed_sha = "f".repeat(64);
    let fixed = GatewayConfig::parse(
        &config_text(&w.sim, "  zone: az-2\n  nodes: 1").replace(SHA, &fixed_sha),
    )
    .unwrap();
    let mut opts = options(None, true);
    opts.binary.sha256 = fixed_sha.clone();
    let (r, lines) = w.deploy(&fixed, &opts, &pace).await;
    let replaced = r.unwrap();
    assert!(replaced.changed);
    assert!(
        lines
            .iter()
            .any(|p| p.step == "release" && p.message.contains("other settings")),
        "{lines:?}"
    );
    let now = w.gateway_machines("dc1");
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].system_id, m.system_id);
    let runcmd = serde_yaml::to_string(&cloud_config(&now[0]).runcmd).unwrap();
    assert!(runcmd.contains(&fixed_sha) && !runcmd.contains(SHA));
    assert!(now[0].owner_data.contains_key(deploy::OWNER_KEY_SETTINGS));
    assert!(!now[0]
        .owner_data
        .values()
        .any(|v| v.contains(&w.sim.api_key().expose())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_one_etcd_cluster_and_an_unpaired_one_says_how_to_replace_a_failed_node() {
    let w = World::new(9).await;
    // Static addresses: MAAS lists them before the deploy, so each node's gateway.yaml can
    // carry its own.
    static_addresses(&w.sim);
    let cfg = w.config("  machine: {minCpu: 4, minMemoryMiB: 8192}\n  nodes: 3");
    // The first node MAAS is asked to deploy fails during the wait.
    let victim: Arc<Mutex<Option<String>>> = Arc::default();
    let v = victim.clone();
    let pace = SimPace::with_fault(&w.sim, move |sim| {
        let mut deploying: Vec<SimMachine> = sim
            .machines()
            .into_iter()
            .filter(|m| m.agent_name == agent_name("dc1"))
            .collect();
        deploying.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        let id = deploying[0].system_id.clone();
        assert!(sim.force_status(
            &id,
            NodeStatus::FailedDeployment,
            "curtin failed: no disk /dev/sda"
        ));
        *v.lock().unwrap() = Some(id);
    });
    let (r, _) = w.deploy(&cfg, &options(None, true), &pace).await;
    let err = r.unwrap_err();
    let victim = victim.lock().unwrap().clone().unwrap();
    let text = err.to_string();
    assert!(matches!(err, DeployError::DeploymentFailed { .. }), "{err}");
    assert!(text.contains("curtin failed: no disk /dev/sda"), "{text}");
    assert!(text.contains(&victim) && text.contains("rerun"), "{text}");

    let first = w.gateway_machines("dc1");
    assert_eq!(first.len(), 3);
    // The three form one etcd cluster over their host names, each its own member, and each
    // node's gateway runs on the replicated store through its own member on loopback, named
    // after its machine as its member is: one gateway, not three SQLite ones.
    let mut names = std::collections::BTreeSet::new();
    let mut addresses = std::collections::BTreeSet::new();
    for m in &first {
        let cc = cloud_config(m);
        let etcd = &file(&cc, ETCD_DEFAULTS_PATH).content;
        let cluster = etcd_value(etcd, "ETCD_INITIAL_CLUSTER");
        for other in &first {
            assert!(
                cluster.contains(&format!("{}=https://{}:2380", other.hostname, other.fqdn())),
                "{cluster}"
            );
        }
        assert_eq!(etcd_value(etcd, "ETCD_INITIAL_CLUSTER_STATE"), "new");
        assert_eq!(etcd_value(etcd, "ETCD_PEER_AUTO_TLS"), "true");
        assert_eq!(
            etcd_value(etcd, "ETCD_INITIAL_ADVERTISE_PEER_URLS"),
            format!("https://{}:2380", m.fqdn())
        );
        assert_eq!(etcd_value(etcd, "ETCD_NAME"), m.hostname);
        names.insert(m.hostname.clone());
        let on_node = GatewayConfig::parse(&file(&cc, GATEWAY_CONFIG_PATH).content)
            .unwrap_or_else(|p| panic!("{p:?}"));
        let etcd = on_node
            .etcd
            .expect("a 3-node gateway's node has an etcd: section");
        assert_eq!(etcd.endpoints, vec!["http://127.0.0.1:2379".to_string()]);
        assert_eq!(etcd.prefix, "/kubemaas/dc1");
        assert_eq!(etcd.tls, None);
        assert_eq!(on_node.node.name.as_deref(), Some(m.hostname.as_str()));
        // Each node announces its own MAAS address (the first MAAS lists, the one a console
        // pairs back on) with the listen port: where consoles fail over to it.
        assert_eq!(
            on_node.node.address,
            Some(format!("{}:8443", m.ip_addresses()[0])),
            "{}",
            m.hostname
        );
        addresses.insert(on_node.node.address.clone().unwrap());
    }
    assert_eq!(names.len(), 3);
    assert_eq!(addresses.len(), 3, "{addresses:?}");
    // Every node carries the same code.
    let codes: Vec<String> = first
        .iter()
        .map(|m| file(&cloud_config(m), PAIRING_CODE_PATH).content.clone())
        .collect();
    assert!(codes.iter().all(|c| c == &codes[0]));
    let survivors: Vec<String> = first
        .iter()
        .filter(|m| m.system_id != victim)
        .map(|m| m.system_id.clone())
        .collect();
    let survivor_data: Vec<Vec<u8>> = first
        .iter()
        .filter(|m| m.system_id != victim)
        .map(|m| m.user_data.clone().unwrap())
        .collect();
    assert_eq!(
        w.sim.counters().get("POST", "machines/", Some("allocate")),
        3
    );

    // Rerun: the failed machine is released and a replacement allocated, but the survivors'
    // etcd must admit it before it starts, and a gateway never paired cannot be asked to: the
    // replacement is left Allocated and the error says how to go on.
    let (r, lines) = w
        .deploy(&cfg, &options(None, true), &SimPace::new(&w.sim))
        .await;
    let err = r.unwrap_err();
    assert!(matches!(err, DeployError::ReplaceUnpaired { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("never paired") && text.contains("kubemaas gateway pair"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|p| p.step == "release" && p.machine.as_deref() == Some(victim.as_str())),
        "{lines:?}"
    );
    assert_eq!(
        w.sim.counters().get("POST", "machines/", Some("allocate")),
        4
    );
    assert_eq!(
        w.sim
            .counters()
            .get("POST", "machines/{system_id}/", Some("deploy")),
        3,
        "the replacement is not deployed"
    );
    let now = w.gateway_machines("dc1");
    assert_eq!(now.len(), 3);
    assert!(!now.iter().any(|m| m.system_id == victim));
    for (id, data) in survivors.iter().zip(&survivor_data) {
        let m = now
            .iter()
            .find(|m| &m.system_id == id)
            .expect("survivor kept");
        assert_eq!(
            m.user_data.as_ref(),
            Some(data),
            "a kept node is not redeployed"
        );
    }
    let replacement = now
        .iter()
        .find(|m| !survivors.contains(&m.system_id))
        .unwrap();
    assert_eq!(replacement.status, NodeStatus::Allocated);
    assert!(text.contains(&replacement.hostname), "{text}");
    let released = w.sim.machine(&victim).unwrap();
    assert!(released.owner.is_none() || released.status != NodeStatus::FailedDeployment);

    // A rerun allocates nothing more and still says so.
    let (r, _) = w
        .deploy(&cfg, &options(None, true), &SimPace::new(&w.sim))
        .await;
    assert!(
        matches!(r, Err(DeployError::ReplaceUnpaired { .. })),
        "{r:?}"
    );
    assert_eq!(
        w.sim.counters().get("POST", "machines/", Some("allocate")),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_matching_machine_names_the_constraint_and_allocates_nothing() {
    let w = World::new(4).await;
    let cfg = w.config("  zone: az-1\n  machine: {minCpu: 4, minMemoryMiB: 1048576}\n  nodes: 1");
    let (r, _) = w
        .deploy(&cfg, &options(None, true), &SimPace::new(&w.sim))
        .await;
    let err = r.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DeployError::NoMatch { .. }), "{text}");
    assert!(text.contains("mem") && text.contains("1048576"), "{text}");
    assert!(text.contains("placement"), "{text}");
    assert!(w.gateway_machines("dc1").is_empty());

    // Too many nodes asked for the machines there are: the ones taken stay for the rerun.
    let cfg = w.config("  zone: az-1\n  nodes: 3");
    let (r, _) = w
        .deploy(&cfg, &options(None, true), &SimPace::new(&w.sim))
        .await;
    assert!(matches!(r, Err(DeployError::NoMatch { .. })), "{r:?}");
    let taken = w.gateway_machines("dc1").len();
    assert!(taken >= 1, "az-1 has machines");
    let (r, _) = w
        .deploy(&cfg, &options(None, true), &SimPace::new(&w.sim))
        .await;
    assert!(r.is_err());
    assert_eq!(
        w.gateway_machines("dc1").len(),
        taken,
        "a rerun never allocates extra"
    );
}

/// A gateway as `kubemaas gateway run` serves it, on 127.0.0.1:0, with no code of its own.
async fn in_process_gateway(dir: &Path) -> (String, Pairings, tokio::sync::oneshot::Sender<()>) {
    let pki = Arc::new(GatewayPki::load_or_create(&dir.join("pki"), &[]).unwrap());
    let pairings = Pairings::new(Arc::new(SystemClock), Limits::default());
    let server = GatewayServer::bind(ServerOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        pki,
        pairings: pairings.clone(),
        consoles: ConsoleRegistry::in_memory(),
        info: GatewayInfo {
            name: "dc1".into(),
            version: "test".into(),
            protocol: kubemaas::gateway::PROTOCOL_VERSION,
            maas: MaasInfo {
                endpoint: "http://127.0.0.1:5240/MAAS/".into(),
                version: None,
            },
            default_account: "dc1".into(),
        },
        api: Router::new(),
        heartbeat: Duration::from_secs(15),
    })
    .await
    .unwrap();
    let addr = server.local_addr().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    (addr, pairings, tx)
}

/// Writes the node's pairing-code file as cloud-init would, and has the gateway read it as
/// `gateway run --pairing-code-file` does.
fn seed_from_user_data(m: &SimMachine, dir: &Path, pairings: &Pairings) {
    let cc = cloud_config(m);
    let path = dir.join("pairing-code");
    std::fs::write(&path, &file(&cc, PAIRING_CODE_PATH).content).unwrap();
    assert!(matches!(
        admit_from_file(&path, pairings, std::time::SystemTime::now()).unwrap(),
        Preissued::Admitted(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_back_with_the_embedded_code_and_records_the_gateway() {
    let w = World::new(4).await;
    let cfg = w.config("  nodes: 1");
    // Machines first; pairing cannot reach a simulated machine.
    let (r, _) = w
        .deploy(&cfg, &options(None, true), &SimPace::new(&w.sim))
        .await;
    r.unwrap();
    let node = w.gateway_machines("dc1").remove(0);

    // Nothing listens yet: the console side cannot reach it, and says so.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut short = options(Some(closed.clone()), false);
    short.timeout = Duration::from_secs(120);
    let (r, _) = w.deploy(&cfg, &short, &SimPace::new(&w.sim)).await;
    let err = r.unwrap_err();
    assert!(matches!(err, DeployError::PairUnreachable { .. }), "{err}");
    assert!(err.to_string().contains(&closed), "{err}");

    // A gateway seeded with another code refuses: the gateway's side, named as such.
    let gdir = tempfile::tempdir().unwrap();
    let (addr, pairings, _stop) = in_process_gateway(gdir.path()).await;
    pairings.admit(
        &PairingCode::parse("00000-00000-00000-00000").unwrap(),
        Duration::from_secs(600),
    );
    let (r, _) = w
        .deploy(
            &cfg,
            &options(Some(addr.clone()), false),
            &SimPace::new(&w.sim),
        )
        .await;
    let err = r.unwrap_err();
    assert!(matches!(err, DeployError::PairGatewaySide { .. }), "{err}");
    assert!(err.to_string().contains("gateway's side"), "{err}");

    // Seeded from the node's user-data, as on the node: pairs, and the console records it.
    seed_from_user_data(&node, gdir.path(), &pairings);
    let before = w.posts();
    let (r, lines) = w
        .deploy(
            &cfg,
            &options(Some(addr.clone()), false),
            &SimPace::new(&w.sim),
        )
        .await;
    let outcome = r.unwrap();
    assert_eq!(outcome.pairing, "paired", "{lines:?}");
    assert!(!outcome.changed);
    assert_eq!(w.posts(), before);
    let row = w.store.read(|r| r.gateway("dc1")).unwrap();
    assert_eq!(row.address, addr);
    assert!(row.fingerprint.is_some());
    let client = kubemaas::gateway::console::client_for(&w.store, "dc1").unwrap();
    assert_eq!(client.info().await.unwrap().name, "dc1");

    // A rerun knows it is paired: the code (spent) is not tried again.
    let addr_again = addr.clone();
    let (r, _) = w
        .deploy(&cfg, &options(Some(addr), false), &SimPace::new(&w.sim))
        .await;
    assert_eq!(r.unwrap().pairing, "already_paired");

    // Paired, a changed gateway.yaml does not tear the gateway down (that is an upgrade).
    let changed_cfg =
        GatewayConfig::parse(&config_text(&w.sim, "  nodes: 1").replace(SHA, &"e".repeat(64)))
            .unwrap();
    let before = w.posts();
    let (r, lines) = w
        .deploy(
            &changed_cfg,
            &options(Some(addr_again), false),
            &SimPace::new(&w.sim),
        )
        .await;
    assert!(!r.unwrap().changed);
    assert_eq!(w.posts(), before);
    assert!(
        lines.iter().any(|p| p.message.contains("upgrade")),
        "{lines:?}"
    );
}

fn cloud_init() -> std::path::PathBuf {
    require_tool("cloud-init")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_user_data_passes_cloud_init_schema() {
    let tool = cloud_init();
    let w = World::new(6).await;
    let cfg = w.config("  nodes: 3");
    let (r, _) = w
        .deploy(&cfg, &options(None, true), &SimPace::new(&w.sim))
        .await;
    r.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ms = w.gateway_machines("dc1");
    assert_eq!(ms.len(), 3);
    for (i, m) in ms.iter().enumerate() {
        let path = dir.path().join(format!("node{i}.yaml"));
        std::fs::write(&path, m.user_data.as_deref().unwrap()).unwrap();
        cloud_init_schema(&tool, &path)
            .unwrap_or_else(|report| panic!("cloud-init schema rejected node {i}:\n{report}"));
    }
    // Guard: the same check refuses a broken document.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "#cloud-config\nwrite_files: 3\n").unwrap();
    let out = run(&tool, &["schema", "--config-file", bad.to_str().unwrap()]);
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_explains_a_missing_artifact_and_a_bad_digest() {
    let w = World::new(2).await;
    let bin = env!("CARGO_BIN_EXE_kubemaas");
    let run = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.yaml");
        kubemaas::paths::write_private_file(&path, text.as_bytes()).unwrap();
        let out = std::process::Command::new(bin)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args([
                "gateway",
                "deploy",
                "-c",
                path.to_str().unwrap(),
                "--no-pair",
            ])
            .env_remove("MAAS_API_KEY")
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let full = config_text(&w.sim, "  nodes: 1");
    let no_artifact = full[..full.find("artifact:").unwrap()].to_string();
    let err = run(&no_artifact);
    assert!(
        err.contains("no `artifact:`") && err.contains("--serve-binary"),
        "{err}"
    );
    let bad = full.replace(SHA, "abc123");
    let err = run(&bad);
    assert!(
        err.contains("artifact.sha256") && err.contains("64 hex digits"),
        "{err}"
    );
    assert!(
        !err.contains(&w.sim.api_key().expose()),
        "the key was printed"
    );
    assert!(w.gateway_machines("dc1").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_deleted_from_maas_during_the_wait_is_named_and_replaced_on_rerun() {
    let w = World::new(4).await;
    let cfg = w.config("  nodes: 1");
    let gone: Arc<Mutex<Option<String>>> = Arc::default();
    let g = gone.clone();
    let pace = SimPace::with_fault(&w.sim, move |sim| {
        let m = sim
            .machines()
            .into_iter()
            .find(|m| m.agent_name == agent_name("dc1"))
            .unwrap();
        assert!(sim.vanish(&m.system_id));
        *g.lock().unwrap() = Some(m.system_id);
    });
    let (r, _) = w.deploy(&cfg, &options(None, true), &pace).await;
    let err = r.unwrap_err().to_string();
    let gone = gone.lock().unwrap().clone().unwrap();
    assert!(
        err.contains(&gone) && err.contains("no longer lists"),
        "{err}"
    );
    let (r, _) = w
        .deploy(&cfg, &options(None, true), &SimPace::new(&w.sim))
        .await;
    let outcome = r.unwrap();
    assert_eq!(outcome.machines.len(), 1);
    assert_ne!(outcome.machines[0].system_id, gone);
}

fn node_plan(url: &str, sha256: &str) -> kubemaas::bootstrap::gateway_user_data::GatewayNodePlan {
    use kubemaas::bootstrap::gateway_user_data::{EtcdMember, GatewayNodePlan};
    GatewayNodePlan {
        gateway: "dc1".into(),
        member: "n1".into(),
        members: ["n1", "n2", "n3"]
            .iter()
            .map(|n| EtcdMember {
                name: n.to_string(),
                host: format!("{n}.maas"),
            })
            .collect(),
        gateway_yaml: "name: dc1\n".into(),
        maas_ca_pem: Some("-----BEGIN CERTIFICATE-----\n".into()),
        binary: BinaryArtifact {
            url: url.into(),
            sha256: sha256.into(),
            served: true,
        },
        pairing_code: PairingCode::parse("7KQ2M-4XH9P-ABCDE-FGHJK").unwrap(),
        proxy: kubemaas::gateway::config::ProxySettings {
            https: Some("http://proxy.example:3128".into()),
            http: Some("http://proxy.example:3128".into()),
            no_proxy: vec!["10.0.0.0/8".into()],
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_script_installs_only_a_file_with_the_digest_from_the_user_data() {
    let sh = require_tool("sh");
    require_tool("curl");
    require_tool("sha256sum");
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("kubemaas-build");
    std::fs::write(&binary, b"#!/bin/sh\necho kubemaas\n").unwrap();
    let served = deploy::serve_binary::serve_binary(SocketAddr::from(([127, 0, 0, 1], 0)), &binary)
        .await
        .unwrap();
    let cc = node_plan(&served.url, &served.sha256)
        .cloud_config()
        .unwrap();
    let script = dir.path().join("install.sh");
    std::fs::write(&script, &file(&cc, INSTALL_SCRIPT_PATH).content).unwrap();
    let run = |sha: &str, dest: &Path| {
        std::process::Command::new(&sh)
            .arg(&script)
            .args([served.url.as_str(), sha])
            .arg(dest)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .env("no_proxy", "127.0.0.1")
            .output()
            .unwrap()
    };
    let good = dir.path().join("good");
    let out = run(&served.sha256, &good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&good).unwrap(),
        std::fs::read(&binary).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&good).unwrap().permissions().mode() & 0o777,
        0o755
    );

    let bad = dir.path().join("bad");
    let out = run(&"0".repeat(64), &bad);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fix artifact.sha256"), "{stderr}");
    assert!(!bad.exists() && !dir.path().join("bad.download").exists());
}

#[test]
fn the_gateway_runcmd_is_valid_shell_as_cloud_init_writes_it() {
    let (cloud_init, sh) = (cloud_init(), require_tool("sh"));
    let python = cloud_init_python(&cloud_init);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ud.yaml");
    let script = dir.path().join("runcmd.sh");
    let ud = node_plan("http://10.0.0.9:8080/kubemaas", &"a".repeat(64))
        .user_data()
        .unwrap();
    std::fs::write(&input, &ud).unwrap();
    let text = shellify_runcmd(&python, &input, &script);
    assert!(text.starts_with("#!/bin/sh\nset -e\n"), "{text}");
    assert!(
        text.contains("NO_PROXY=localhost,127.0.0.1,n1.maas,n2.maas,n3.maas,10.0.0.9,10.0.0.0/8"),
        "{text}"
    );
    let out = run(&sh, &["-n", script.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And the schema, with the MAAS CA and both proxies.
    cloud_init_schema(&cloud_init, &input)
        .unwrap_or_else(|report| panic!("cloud-init schema rejected it:\n{report}"));
}

/// The etcd members named after `names`, started off the async runtime (the helper runs its
/// own).
fn etcd_named(names: Vec<String>) -> ha_support::EtcdCluster {
    std::thread::spawn(move || ha_support::EtcdCluster::start_named(&names))
        .join()
        .unwrap()
}

/// Node 0 running the gateway from its own user-data: its gateway.yaml (its local member's
/// client URL standing in for 127.0.0.1:2379) and its pairing-code file.
fn gateway_on_node(
    node: &SimMachine,
    etcd: &ha_support::EtcdCluster,
) -> (cli_support::GatewayProcess, tempfile::TempDir) {
    let cc = cloud_config(node);
    let mut on_node = GatewayConfig::parse(&file(&cc, GATEWAY_CONFIG_PATH).content).unwrap();
    on_node.etcd.as_mut().unwrap().endpoints = vec![etcd.endpoint(0)];
    on_node.proxy = Default::default();
    // The node runs here on 127.0.0.1, not at the MAAS address its user-data names: it must
    // not tell consoles to call that address (nothing but loopback may be reached).
    on_node.node.address = None;
    let gdir = tempfile::tempdir().unwrap();
    let config_path = gdir.path().join("gateway.yaml");
    on_node.save(&config_path).unwrap();
    let code_path = gdir.path().join("pairing-code");
    std::fs::write(&code_path, &file(&cc, PAIRING_CODE_PATH).content).unwrap();
    let state = gdir.path().join("state");
    let gw = tokio::task::block_in_place(|| {
        cli_support::start_gateway(
            &state,
            &config_path,
            &[
                "--listen",
                "127.0.0.1:0",
                "--pairing-code-file",
                code_path.to_str().unwrap(),
                "--reconcile-ms",
                "200",
                "--lease-secs",
                "2",
            ],
        )
    });
    assert!(
        gw.printed
            .contains(&format!("node {} of gateway dc1", node.hostname)),
        "{}",
        gw.printed
    );
    (gw, gdir)
}

/// Node 2 dies (MAAS marks it broken, its etcd member is gone) and the deploy is rerun: only a
/// replacement is deployed, joining the running etcd — state `existing`, the survivors as etcd
/// lists them (their real peer URLs) and itself — as etcd itself shows. Returns the outcome
/// and the progress lines.
async fn replace_node_2(
    w: &World,
    cfg: &GatewayConfig,
    first: &[SimMachine],
    etcd: &mut ha_support::EtcdCluster,
    gateway_addr: &str,
) -> (DeployOutcome, Vec<Progress>) {
    let victim = &first[2];
    assert!(w
        .sim
        .force_status(&victim.system_id, NodeStatus::Broken, "disk failed"));
    etcd.kill(2);
    let before_deploys = w
        .sim
        .counters()
        .get("POST", "machines/{system_id}/", Some("deploy"));
    let (r, lines) = w
        .deploy(
            cfg,
            &options(Some(gateway_addr.to_string()), false),
            &SimPace::new(&w.sim),
        )
        .await;
    let outcome = r.unwrap_or_else(|e| panic!("{e}\n{lines:?}"));
    assert!(outcome.changed);
    assert_eq!(
        w.sim
            .counters()
            .get("POST", "machines/{system_id}/", Some("deploy")),
        before_deploys + 1,
        "only the replacement is deployed"
    );
    let now = w.gateway_machines("dc1");
    assert_eq!(now.len(), 3);
    assert!(now.iter().all(|m| m.status == NodeStatus::Deployed));
    for m in &first[..2] {
        let kept = now.iter().find(|n| n.system_id == m.system_id).unwrap();
        assert_eq!(kept.user_data, m.user_data, "a survivor is not redeployed");
    }
    let replacement = now
        .iter()
        .find(|m| first.iter().all(|f| f.system_id != m.system_id))
        .unwrap();
    assert!(
        lines.iter().any(
            |p| p.step == "etcd" && p.message.contains(&format!("removed {}", victim.hostname))
        ),
        "{lines:?}"
    );
    let defaults = file(&cloud_config(replacement), ETCD_DEFAULTS_PATH)
        .content
        .clone();
    assert_eq!(
        etcd_value(&defaults, "ETCD_INITIAL_CLUSTER_STATE"),
        "existing"
    );
    assert_eq!(etcd_value(&defaults, "ETCD_NAME"), replacement.hostname);
    let mut listed: Vec<String> = etcd_value(&defaults, "ETCD_INITIAL_CLUSTER")
        .split(',')
        .map(str::to_string)
        .collect();
    listed.sort();
    let mut want = vec![
        format!("{}={}", first[0].hostname, etcd.peer_url(0)),
        format!("{}={}", first[1].hostname, etcd.peer_url(1)),
        format!(
            "{}=https://{}:2380",
            replacement.hostname,
            replacement.fqdn()
        ),
    ];
    want.sort();
    assert_eq!(listed, want);
    // etcd itself agrees: the dead member is gone, the replacement admitted (not started).
    let (members, _) =
        kubemaas::ha::membership::list_at(&kubemaas::ha::EtcdConfig::new(vec![etcd.endpoint(1)]))
            .await
            .unwrap();
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(!members.iter().any(|m| m.name == victim.hostname));
    assert!(
        members
            .iter()
            .any(|m| !m.started
                && m.peer_urls == vec![format!("https://{}:2380", replacement.fqdn())])
    );
    (outcome, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_node_of_a_paired_three_node_gateway_is_replaced_into_its_etcd() {
    let w = World::new(9).await;
    let cfg = w.config("  nodes: 3");
    let (r, _) = w
        .deploy(&cfg, &options(None, true), &SimPace::new(&w.sim))
        .await;
    r.unwrap();
    let first = w.gateway_machines("dc1");
    assert_eq!(first.len(), 3);
    // The nodes' etcd members, on 127.0.0.1, named as the user-data names them.
    let mut etcd = etcd_named(first.iter().map(|m| m.hostname.clone()).collect());
    let (gw, _gdir) = gateway_on_node(&first[0], &etcd);
    let (r, lines) = w
        .deploy(
            &cfg,
            &options(Some(gw.addr.clone()), false),
            &SimPace::new(&w.sim),
        )
        .await;
    assert_eq!(r.unwrap().pairing, "paired", "{lines:?}");

    let (outcome, _) = replace_node_2(&w, &cfg, &first, &mut etcd, &gw.addr).await;
    assert_eq!(outcome.pairing, "already_paired");

    // A rerun asks nothing more of MAAS or etcd.
    let before = w.posts();
    let (r, lines) = w
        .deploy(
            &cfg,
            &options(Some(gw.addr.clone()), false),
            &SimPace::new(&w.sim),
        )
        .await;
    assert!(!r.unwrap().changed);
    assert_eq!(w.posts(), before);
    assert!(!lines.iter().any(|p| p.step == "etcd"), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_paired_three_node_gateway_is_paired_through_a_survivor_to_replace_a_node() {
    let w = World::new(9).await;
    let cfg = w.config("  nodes: 3");
    let (r, _) = w
        .deploy(&cfg, &options(None, true), &SimPace::new(&w.sim))
        .await;
    r.unwrap();
    let first = w.gateway_machines("dc1");
    let mut etcd = etcd_named(first.iter().map(|m| m.hostname.clone()).collect());
    let (gw, _gdir) = gateway_on_node(&first[0], &etcd);
    let (outcome, lines) = replace_node_2(&w, &cfg, &first, &mut etcd, &gw.addr).await;
    assert_eq!(outcome.pairing, "paired");
    let pair = lines
        .iter()
        .position(|p| p.step == "pair" && p.message.contains("surviving node"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    let admit = lines.iter().position(|p| p.step == "etcd").unwrap();
    assert!(pair < admit, "paired before asking etcd: {lines:?}");
    let row = w.store.read(|r| r.gateway("dc1")).unwrap();
    assert_eq!(row.address, gw.addr);
}
