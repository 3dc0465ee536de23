//! Shared by the tests/sim_k8s*.rs suites: machines deployed as Kubernetes nodes of a
//! simulated cluster (the identity file in their user-data is all the simulator reads), the
//! virtual clock run until nodes are Ready, and raw calls to the control API.

use kubemaas::bootstrap::NODE_IDENTITY_PATH;
use kubemaas::maas::{DeployRequest, MaasClient, MaasConfig, ReleaseRequest, RetryPolicy};
use kubemaas::sim::SimHandle;

/// Cloud-config carrying only the node identity file, as the bootstrap module writes it.
pub fn identity_user_data(cluster: &str, node: &str, role: &str) -> Vec<u8> {
    let json = serde_json::json!({
        "cluster_id": cluster,
        "cluster_name": "prod",
        "role": role,
        "node_name": node,
        "kubernetes_version": "1.30.2",
    })
    .to_string();
    format!(
        "#cloud-config\nwrite_files:\n- path: {NODE_IDENTITY_PATH}\n  permissions: '0644'\n  content: '{json}'\n"
    )
    .into_bytes()
}

/// The real MAAS client against the simulator, without retries (a refusal must show at once).
pub fn client(sim: &SimHandle) -> MaasClient {
    let mut config = MaasConfig::new(sim.endpoint(), sim.api_key());
    config.retry = RetryPolicy::never();
    MaasClient::new(config).unwrap()
}

/// Deploys machine `index` as node `node` (role `role`) of `cluster`; returns its system id.
pub async fn deploy(
    sim: &SimHandle,
    index: usize,
    cluster: &str,
    node: &str,
    role: &str,
) -> String {
    let id = sim.machines()[index].system_id.clone();
    let request = DeployRequest {
        distro_series: Some("jammy".into()),
        user_data: Some(identity_user_data(cluster, node, role)),
        ..Default::default()
    };
    client(sim).deploy(&id, &request).await.unwrap();
    id
}

pub async fn release(sim: &SimHandle, system_id: &str) {
    client(sim)
        .release(system_id, &ReleaseRequest::default())
        .await
        .unwrap();
}

/// Advances in 30 s steps until every node named is registered and Ready.
pub fn until_ready(sim: &SimHandle, cluster: &str, nodes: &[&str]) {
    for _ in 0..200 {
        if let Some(v) = sim.k8s_cluster(cluster) {
            if nodes
                .iter()
                .all(|n| v.nodes.iter().any(|k| &k.name == n && k.ready))
            {
                return;
            }
        }
        sim.advance(30.0);
    }
    panic!("{nodes:?} never became Ready in {cluster}");
}

/// `POST {control_url}{path}`: the status and the body as text.
pub async fn control_post(sim: &SimHandle, path: &str) -> (u16, String) {
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}{path}", sim.control_url()))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}
