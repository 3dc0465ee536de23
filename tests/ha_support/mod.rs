//! Real etcd members on 127.0.0.1 for the HA tests, and helpers to compare store copies.
//!
//! etcd cannot report the port of a port-0 bind, so free ports are found by binding
//! 127.0.0.1:0 and closing. Data dirs live in a tempdir; members are killed on drop.

#![allow(dead_code)]

// Test crates may include several support modules that each bring this one.
#[allow(clippy::duplicate_mod)]
#[path = "../tools_support/mod.rs"]
mod tools_support;

use kubemaas::ha::EtcdConfig;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ETCD: &str = "/usr/bin/etcd";

/// The etcd binary: installed by .ci/install-test-tools when missing, else the test fails
/// saying how to install it.
pub fn etcd_binary() -> PathBuf {
    tools_support::require(ETCD)
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

/// A running etcd cluster on 127.0.0.1.
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    token: String,
}

impl EtcdCluster {
    /// Starts `n` members and waits until every one of them answers. A free port found by
    /// binding and closing can be taken by another process before etcd binds it (tests run in
    /// parallel); a member that exits at start is retried on fresh ports.
    pub fn start(n: usize) -> EtcdCluster {
        let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        EtcdCluster::start_named(&names)
    }

    /// Like [`EtcdCluster::start`], the members named `names` (the host names of the
    /// machines a deploy test placed a gateway on, say).
    pub fn start_named(names: &[String]) -> EtcdCluster {
        etcd_binary();
        for attempt in 1..=3 {
            let mut cluster = EtcdCluster::spawn_all(names);
            match cluster.wait_ready() {
                Ok(()) => return cluster,
                Err(why) if attempt < 3 => {
                    eprintln!("etcd start attempt {attempt}: {why}; retrying")
                }
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn_all(names: &[String]) -> EtcdCluster {
        let n = names.len();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ports = std::collections::HashSet::new();
        let mut distinct_port = || loop {
            let p = free_port();
            if ports.insert(p) {
                return p;
            }
        };
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: names[i].clone(),
                client_port: distinct_port(),
                peer_port: distinct_port(),
                child: None,
            })
            .collect();
        let token = format!("kubemaas-test-{}", members[0].peer_port);
        let mut cluster = EtcdCluster {
            dir,
            members,
            token,
        };
        for i in 0..n {
            cluster.spawn(i, "new");
        }
        cluster
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize, state: &str) {
        let initial = self.initial_cluster();
        self.spawn_with(i, state, &initial);
    }

    fn spawn_with(&mut self, i: usize, state: &str, initial: &str) {
        let m = &self.members[i];
        let data = self.dir.path().join(&m.name);
        let log = std::fs::File::create(self.dir.path().join(format!("{}.log", m.name)))
            .expect("log file");
        let client = format!("http://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let child = Command::new(ETCD)
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", initial])
            .args(["--initial-cluster-token", &self.token])
            .args(["--initial-cluster-state", state])
            // Elections within a second keep the tests short, yet survive a loaded machine
            // (loopback latency is microseconds, but tests share 2 cores with builds).
            .args(["--heartbeat-interval", "100", "--election-timeout", "1000"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.members[i].child = Some(child);
    }

    /// Waits until a write through each live member on its own succeeds (polling, with a
    /// generous deadline: etcd elects its first leader in about a second). Two members make a
    /// quorum, so a write through the cluster can succeed while the third still starts: each
    /// member is checked alone. Errs when a member exited or the deadline passed.
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let deadline = Instant::now() + Duration::from_secs(60);
        let logs = self.dir.path().display().to_string();
        for i in 0..self.members.len() {
            if self.members[i].child.is_none() {
                continue;
            }
            let name = self.members[i].name.clone();
            let endpoint = vec![format!("http://127.0.0.1:{}", self.members[i].client_port)];
            loop {
                let ok = rt.block_on(async {
                    let cfg = EtcdConfig::new(endpoint.clone());
                    let client = cfg.connect().await.ok()?;
                    client.put(b"/ready", b"1").await.ok()?;
                    Some(())
                });
                if ok.is_some() {
                    break;
                }
                if self.exited(i) {
                    return Err(format!(
                        "etcd member {name} exited at start; logs in {logs}"
                    ));
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "etcd member {name} did not become ready; logs in {logs}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Whether member `i`'s process has exited (a port it needed was taken, say).
    fn exited(&mut self, i: usize) -> bool {
        self.members[i]
            .child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_some())
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect()
    }

    pub fn live_endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// A config for all members under `prefix`.
    pub fn config(&self, prefix: &str) -> EtcdConfig {
        let mut cfg = EtcdConfig::new(self.endpoints());
        cfg.prefix = prefix.to_string();
        cfg
    }

    /// Kills member `i` (SIGKILL) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Member `i`'s client URL.
    pub fn endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.members[i].client_port)
    }

    /// Member `i`'s peer URL.
    pub fn peer_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.members[i].peer_port)
    }

    /// Member `i`'s name.
    pub fn name(&self, i: usize) -> String {
        self.members[i].name.clone()
    }

    /// Starts a new member `name` on `peer_port` joining the running cluster — state
    /// `existing`, `initial_cluster` as the cluster's membership API gave it after the member
    /// was added — and returns its index. Wait for it with [`EtcdCluster::wait_ready`].
    pub fn join(&mut self, name: &str, peer_port: u16, initial_cluster: &str) -> usize {
        let mut client_port = free_port();
        while client_port == peer_port {
            client_port = free_port();
        }
        self.members.push(Member {
            name: name.to_string(),
            client_port,
            peer_port,
            child: None,
        });
        let i = self.members.len() - 1;
        self.spawn_with(i, "existing", initial_cluster);
        i
    }

    /// Restarts a killed member on its data dir.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i, "existing");
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// Every table of the database at `db`, rows in primary-key order, as text: two copies that
/// converged have equal dumps.
pub fn dump(db: &Path) -> Vec<(String, Vec<String>)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the copy");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1"))
                .unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    let cols: Vec<String> = (0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect();
                    Ok(cols.join("|"))
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (t, rows)
        })
        .collect()
}

/// Polls `cond` until true; panics with `what` after a generous deadline. Replication is
/// asynchronous (a follower applies after etcd notified it), so tests wait for convergence
/// instead of assuming it; the deadline only bounds a broken run.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
