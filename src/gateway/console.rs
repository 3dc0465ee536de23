//! The console's record of gateways: the embedded engine (`local`, always there) and paired
//! remote gateways, kept in the store's `gateways` table with their pairing material in
//! `STATE_DIR/gateways/NAME/` (the CA the console pins, its client certificate, and its
//! private key, 0600). A replicated gateway's nodes are kept too (`gateway_addresses`), as its
//! `/v1/info` answers list them, so that its client reaches the gateway through any of them,
//! and the node that answered last (`gateway_last_node`), where the next client starts: a
//! console process started while the paired node's host is down would otherwise wait out a
//! connect timeout on it for every command.

use super::client::{self, GatewayClient, GatewayClientError, PairedMaterial};
use super::pairing::PairingCode;
use super::pki::fingerprint_text;
use super::protocol::{GatewayInfo, NodeInfo};
use crate::model::account::LOCAL_GATEWAY;
use crate::store::{GatewayKind, GatewayRow, KnownNode, NewGateway, Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const CA_FILE: &str = "ca.pem";
const CERT_FILE: &str = "client.pem";
const KEY_FILE: &str = "client.key";

/// What can go wrong with the console's gateway records.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] GatewayClientError),
    #[error("cannot {action} {path}: {source} (check the state dir's owner and permissions)")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`local` is the embedded engine: it is always there and cannot be paired, unpaired or deleted")]
    Local,
    #[error("gateway `{name}` is already paired with this console: to pair again, first run `kubemaas gateway unpair {name}`")]
    AlreadyPaired { name: String },
    #[error("gateway `{name}` was recorded at {recorded}, not {given}: pair it at its recorded address, or `kubemaas gateway delete {name}` and pair anew")]
    AddressChanged {
        name: String,
        recorded: String,
        given: String,
    },
    #[error("gateway name: {reason} (pass --name NAME)")]
    Name { reason: String },
    #[error("paired, but the first mutually authenticated call failed: {source} (the pairing is kept: check the gateway with `kubemaas gateway show NAME`)")]
    FirstCall { source: GatewayClientError },
    #[error("gateway `{name}` still runs cluster(s) {clusters}: delete those clusters first (`kubemaas cluster delete NAME`), then delete the gateway")]
    ClustersRemain { name: String, clusters: String },
}

/// Where the pairing material of gateway `name` lives.
pub fn material_dir(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("gateways").join(name)
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ConsoleError + 'a {
    move |source| ConsoleError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Makes sure the embedded engine is listed as the gateway `local`.
pub fn ensure_local(store: &Store) -> Result<(), ConsoleError> {
    store.tx(|tx| {
        if tx.gateways()?.iter().any(|g| g.name == LOCAL_GATEWAY) {
            return Ok(());
        }
        tx.insert_gateway(&NewGateway {
            name: LOCAL_GATEWAY.into(),
            address: "embedded".into(),
            fingerprint: None,
            client_cert_path: None,
            client_key_path: None,
            kind: GatewayKind::Local,
        })?;
        Ok::<_, ConsoleError>(())
    })
}

/// Checks that `name` can be paired at `address`: unknown, or recorded there but unpaired.
/// Returns the unpaired record, if any.
pub fn check_free(
    store: &Store,
    name: &str,
    address: &str,
) -> Result<Option<GatewayRow>, ConsoleError> {
    if name == LOCAL_GATEWAY {
        return Err(ConsoleError::Local);
    }
    let existing =
        store.read(|r| Ok::<_, StoreError>(r.gateways()?.into_iter().find(|g| g.name == name)))?;
    if let Some(row) = &existing {
        if row.fingerprint.is_some() {
            return Err(ConsoleError::AlreadyPaired { name: name.into() });
        }
        // Another node of the same replicated gateway is the same gateway.
        let a_node = || {
            store
                .read(|r| r.known_gateway_nodes(name))
                .map(|nodes| nodes.iter().any(|n| n.node.address == address))
        };
        if row.address != address && !a_node()? {
            return Err(ConsoleError::AddressChanged {
                name: name.into(),
                recorded: row.address.clone(),
                given: address.into(),
            });
        }
    }
    Ok(existing)
}

/// Records a freshly paired gateway: its material on disk (key 0600), then its row.
pub fn save_pairing(
    store: &Store,
    state_dir: &Path,
    name: &str,
    address: &str,
    material: &PairedMaterial,
) -> Result<GatewayRow, ConsoleError> {
    let existing = check_free(store, name, address)?;
    let dir = material_dir(state_dir, name);
    for d in [dir.parent().unwrap_or(&dir), &dir] {
        crate::paths::create_private_dir(d).map_err(|e| ConsoleError::Io {
            action: "create",
            path: d.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    let (ca, cert, key) = (dir.join(CA_FILE), dir.join(CERT_FILE), dir.join(KEY_FILE));
    crate::paths::write_private_file(&key, material.client_key_pem.as_bytes())
        .map_err(io("write", &key))?;
    crate::paths::write_private_file(&cert, material.client_cert_pem.as_bytes())
        .map_err(io("write", &cert))?;
    crate::paths::write_private_file(&ca, material.ca_pem.as_bytes()).map_err(io("write", &ca))?;
    let pin = fingerprint_text(&material.ca_fingerprint);
    let row = store.tx(|tx| {
        if existing.is_some() {
            tx.set_gateway_fingerprint(name, &pin)?;
            // The material paths follow the name, so they are the ones already recorded.
            tx.gateway(name)
        } else {
            tx.insert_gateway(&NewGateway {
                name: name.into(),
                address: address.into(),
                fingerprint: Some(pin.clone()),
                client_cert_path: Some(cert.clone()),
                client_key_path: Some(key.clone()),
                kind: GatewayKind::Remote,
            })
        }
    })?;
    Ok(row)
}

/// Keeps the nodes gateway `gateway` listed. A failure is logged, not raised: the answer that
/// listed them was received, and the next one lists them again.
pub fn remember_nodes(store: &Store, gateway: &str, nodes: &[NodeInfo]) {
    let known: Vec<KnownNode> = nodes
        .iter()
        .map(|n| KnownNode {
            node: n.name.clone(),
            address: n.address.clone(),
            leader: n.leader,
        })
        .collect();
    if let Err(e) = store.tx(|tx| tx.set_gateway_nodes(gateway, &known)) {
        tracing::warn!(gateway, error = %e, "could not record the gateway's nodes");
    }
}

/// Keeps `address` as the node of gateway `gateway` that answered last. A failure is logged,
/// not raised: the call that answered has its answer; the next process merely starts at the
/// node recorded before.
pub fn remember_answering_node(store: &Store, gateway: &str, address: &str) {
    if let Err(e) = store.tx(|tx| tx.set_gateway_last_node(gateway, address)) {
        tracing::warn!(gateway, error = %e, "could not record the gateway node that answered");
    }
}

/// The node of gateway `name` that answered this console last, if recorded.
pub fn last_answering_node(store: &Store, name: &str) -> Result<Option<String>, ConsoleError> {
    Ok(store.read(|r| r.gateway_last_node(name))?)
}

/// The nodes of gateway `name` this console knows (none for a 1-node gateway), by name.
pub fn known_nodes(store: &Store, name: &str) -> Result<Vec<KnownNode>, ConsoleError> {
    Ok(store
        .read(|r| r.known_gateway_nodes(name))?
        .into_iter()
        .map(|row| row.node)
        .collect())
}

/// A client for the paired gateway `name`: it knows every node recorded for it (the address
/// it was paired at first), starts at the node that answered last (when still known), records
/// the nodes each `/v1/info` answer lists, and the node it moves to when one cannot be reached.
pub fn client_for(store: &Store, name: &str) -> Result<GatewayClient, ConsoleError> {
    let client = paired_client(store, name)?;
    let others: Vec<String> = known_nodes(store, name)?
        .into_iter()
        .map(|n| n.address)
        .collect();
    let mut client = client.with_nodes(others);
    if let Some(last) = last_answering_node(store, name)? {
        client = client.starting_at(&last);
    }
    let (nodes_store, gateway) = (store.clone(), name.to_string());
    let (move_store, moved_gateway) = (store.clone(), name.to_string());
    Ok(client
        .on_nodes(Arc::new(move |nodes| {
            remember_nodes(&nodes_store, &gateway, nodes)
        }))
        .on_move(Arc::new(move |address| {
            remember_answering_node(&move_store, &moved_gateway, address)
        })))
}

/// One client per known node of gateway `name`, each calling its node only, in the order a
/// rolling upgrade takes them: the followers first, the elected node last (so the
/// reconcilers move once), as the gateway's latest `/v1/info` answer said. A gateway with no
/// recorded nodes (1-node, or never asked) gives its one client.
pub fn node_clients(store: &Store, name: &str) -> Result<Vec<GatewayClient>, ConsoleError> {
    let client = paired_client(store, name)?;
    let nodes = upgrade_order(known_nodes(store, name)?);
    if nodes.is_empty() {
        return Ok(vec![client]);
    }
    Ok(nodes
        .iter()
        .map(|n| client.pinned(&n.address))
        .collect::<Result<_, _>>()?)
}

/// Followers first, the elected node last; by name within each (the sort is stable).
fn upgrade_order(mut nodes: Vec<KnownNode>) -> Vec<KnownNode> {
    nodes.sort_by_key(|n| n.leader);
    nodes
}

/// The client made from the pairing material, knowing the paired address only.
fn paired_client(store: &Store, name: &str) -> Result<GatewayClient, ConsoleError> {
    client_at(store, name, None)
}

/// A client for the paired gateway `name` at `address` instead of the recorded one: another
/// node of a 3-node gateway (its nodes share one CA, so the pairing holds at each).
pub fn client_at(
    store: &Store,
    name: &str,
    address: Option<&str>,
) -> Result<GatewayClient, ConsoleError> {
    if name == LOCAL_GATEWAY {
        return Err(ConsoleError::Local);
    }
    let row = store.read(|r| r.gateway(name))?;
    let (Some(_), Some(cert), Some(key)) = (
        &row.fingerprint,
        &row.client_cert_path,
        &row.client_key_path,
    ) else {
        return Err(GatewayClientError::NotPaired {
            gateway: name.into(),
        }
        .into());
    };
    let ca = cert
        .parent()
        .map(|d| d.join(CA_FILE))
        .unwrap_or_else(|| PathBuf::from(CA_FILE));
    Ok(GatewayClient::from_files(
        name,
        address.unwrap_or(&row.address),
        &ca,
        cert,
        key,
    )?)
}

fn remove_material(state_dir: &Path, name: &str) -> Result<(), ConsoleError> {
    let dir = material_dir(state_dir, name);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove", &dir)(e)),
    }
}

/// Forgets the pairing (pinned CA, client certificate and key) but keeps the gateway's record,
/// so clusters that run on it stay known and it can be paired again.
pub fn unpair(store: &Store, state_dir: &Path, name: &str) -> Result<(), ConsoleError> {
    if name == LOCAL_GATEWAY {
        return Err(ConsoleError::Local);
    }
    store.read(|r| r.gateway(name))?;
    remove_material(state_dir, name)?;
    store.tx(|tx| {
        // The store has no call to clear a pin (it only sets one); clearing is this module's
        // business, so the statement lives here.
        tx.conn()
            .execute(
                "UPDATE gateways SET fingerprint = NULL WHERE name = ?1",
                [name],
            )
            .map_err(|source| StoreError::Db {
                what: format!("unpairing gateway {name}"),
                source,
            })?;
        Ok::<_, ConsoleError>(())
    })?;
    Ok(())
}

/// The live clusters whose cloud account goes through gateway `name`, by name.
pub fn clusters_on(store: &Store, name: &str) -> Result<Vec<String>, ConsoleError> {
    Ok(store.read(|r| {
        let accounts: Vec<String> = r
            .accounts()?
            .into_iter()
            .filter(|a| a.gateway.as_deref() == Some(name))
            .map(|a| a.name)
            .collect();
        let clusters = r
            .clusters(false)?
            .into_iter()
            .filter(|c| accounts.contains(&c.account))
            .map(|c| c.name)
            .collect();
        Ok::<_, StoreError>(clusters)
    })?)
}

/// Removes a gateway entirely — refused, naming them, while clusters run on it. Cloud accounts
/// recorded for it go with it.
pub fn delete(store: &Store, state_dir: &Path, name: &str) -> Result<(), ConsoleError> {
    if name == LOCAL_GATEWAY {
        return Err(ConsoleError::Local);
    }
    store.read(|r| r.gateway(name))?;
    let clusters = clusters_on(store, name)?;
    if !clusters.is_empty() {
        return Err(ConsoleError::ClustersRemain {
            name: name.into(),
            clusters: clusters.join(", "),
        });
    }
    store.tx(|tx| {
        for account in tx.accounts()? {
            if account.gateway.as_deref() == Some(name) {
                tx.delete_account(&account.name)?;
            }
        }
        tx.delete_gateway(name)
    })?;
    remove_material(state_dir, name)
}

/// The first half of pairing, shared by `kubemaas gateway pair`, the console's wizard and
/// `gateway deploy`'s pair-back: settles the gateway's name (given, or the one it announces),
/// checks it is free in the store, then pairs with `code`. Nothing is stored yet: the caller
/// shows the operator the gateway's name and CA fingerprint and calls [`finish_pairing`] to
/// keep it.
pub async fn begin_pairing(
    store: &Store,
    address: &str,
    code: &PairingCode,
    name: Option<&str>,
    console_name: &str,
) -> Result<(String, PairedMaterial), ConsoleError> {
    // Settle the name first, so that a name already taken is refused before the code is spent.
    let name = match name {
        Some(n) => n.to_string(),
        None => client::hello(address).await?.gateway,
    };
    super::config::check_name(&name).map_err(|reason| ConsoleError::Name { reason })?;
    ensure_local(store)?;
    check_free(store, &name, address)?;
    let material = client::pair(address, code, console_name).await?;
    Ok((name, material))
}

/// The second half: stores the pairing (material 0600, the row) and makes the first mutually
/// authenticated call, whose answer it returns.
pub async fn finish_pairing(
    store: &Store,
    state_dir: &Path,
    name: &str,
    address: &str,
    material: &PairedMaterial,
) -> Result<GatewayInfo, ConsoleError> {
    save_pairing(store, state_dir, name, address, material)?;
    let client = client_for(store, name)?;
    client
        .info()
        .await
        .map_err(|source| ConsoleError::FirstCall { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unpaired_gateway_pairs_again_at_any_of_its_known_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .tx(|tx| {
                tx.insert_gateway(&NewGateway {
                    name: "dc1".into(),
                    address: "127.0.0.1:1".into(),
                    fingerprint: None,
                    client_cert_path: None,
                    client_key_path: None,
                    kind: GatewayKind::Remote,
                })
            })
            .unwrap();
        let node = |name: &str, address: &str| NodeInfo {
            name: name.into(),
            address: address.into(),
            leader: false,
        };
        remember_nodes(
            &store,
            "dc1",
            &[node("gw1", "127.0.0.1:1"), node("gw2", "127.0.0.1:2")],
        );
        assert!(check_free(&store, "dc1", "127.0.0.1:2").unwrap().is_some());
        assert!(matches!(
            check_free(&store, "dc1", "127.0.0.1:3"),
            Err(ConsoleError::AddressChanged { .. })
        ));
        let known: Vec<_> = known_nodes(&store, "dc1")
            .unwrap()
            .into_iter()
            .map(|n| n.node)
            .collect();
        assert_eq!(known, vec!["gw1", "gw2"]);
    }

    #[test]
    fn upgrades_take_the_followers_first_and_the_leader_last() {
        let node = |name: &str, leader| KnownNode {
            node: name.into(),
            address: format!("{name}:1"),
            leader,
        };
        let order: Vec<_> = upgrade_order(vec![
            node("gw1", false),
            node("gw2", true),
            node("gw3", false),
        ])
        .into_iter()
        .map(|n| n.node)
        .collect();
        assert_eq!(order, vec!["gw1", "gw3", "gw2"]);
    }
}
