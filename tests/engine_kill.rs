//! A real crash test: the `kubemaas` binary runs the reconcilers (`cluster wait`, `cluster
//! delete --wait`) as a child process against a simulator that is itself a child process
//! (`kubemaas sim`), and is killed with SIGKILL at points chosen by watching its event journal
//! (the Nth new event, N from a seeded RNG), then started again. After every create, scale and
//! delete the cluster must reach its target, `kubemaas account audit` must find every machine
//! held exactly once (no orphan, unaccounted, vanished or mismatched one), the store must hold
//! no machine twice and have no open intent.
//!
//! This complements tests/engine_crash.rs, which stops an in-process engine at every
//! checkpoint: here the kill is a real one, so nothing of the dying process (buffers, drops,
//! SQLite connections, the flock) gets a chance to tidy up.

use kubemaas::store::{ClusterId, EventId, MachineRow, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Virtual-clock speed of the simulator: a 10-minute MAAS deployment takes one second.
const SIM_SPEED: &str = "600";
/// Latency the simulator adds to every MAAS request: it keeps calls in flight long enough
/// for a kill to land between journaling an intent and recording MAAS's answer.
const SIM_LATENCY_MS: &str = "20";
/// How often the journal is read while waiting for the Nth event. Only how promptly the kill
/// follows the event depends on it, never an outcome.
const POLL: Duration = Duration::from_millis(3);
/// A guard against a hung child, not a timing assertion: every step normally takes seconds.
const STUCK: Duration = Duration::from_secs(60);
/// At most this many kills per scenario; the run after the last kill goes to the end.
const MAX_KILLS: u32 = 4;

/// A child process that is killed (SIGKILL) and reaped when dropped, so a failing assertion
/// never leaves a simulator or an engine running.
struct Kid {
    child: Child,
    what: String,
    /// Where its stdout and stderr go (read back for failure messages).
    out: PathBuf,
    err: PathBuf,
}

impl Kid {
    /// SIGKILL now: like `kill -9`, the process gets no chance to clean up.
    fn kill9(&mut self) {
        // An error only means it already exited, which the caller sees from the journal.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn output(&self) -> (String, String) {
        (
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default(),
        )
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One seed's world: the simulator child, a state dir, the account and the store.
struct World {
    dir: tempfile::TempDir,
    url: String,
    key: String,
    store: Store,
    _sim: Kid,
    spawned: u32,
    /// Kills that left an intent open (a MAAS call journaled, its result not yet recorded).
    mid_call_kills: u32,
}

impl World {
    fn new(seed: u64) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubemaas"))
            .args(["sim", "--print-env", "--speed", SIM_SPEED])
            .args(["--machines", "60", "--seed", &seed.to_string()])
            .args(["--latency-ms", SIM_LATENCY_MS])
            .env_remove("KUBEMAAS_STATE_DIR")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the simulator starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let sim = Kid {
            child,
            what: "kubemaas sim".into(),
            out: PathBuf::new(),
            err: PathBuf::new(),
        };
        // `--print-env` prints these two lines once the simulator listens.
        let mut url = None;
        let mut key = None;
        for line in BufReader::new(stdout).lines().take(2) {
            let line = line.expect("simulator output");
            if let Some(v) = line.strip_prefix("MAAS_URL=") {
                url = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("MAAS_API_KEY=") {
                key = Some(v.to_string());
            }
        }
        let url = url.expect("the simulator printed MAAS_URL");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let key = key.expect("the simulator printed MAAS_API_KEY");
        let store = Store::open(dir.path()).expect("the store opens");
        let w = World {
            dir,
            url,
            key,
            store,
            _sim: sim,
            spawned: 0,
            mid_call_kills: 0,
        };
        let (ok, out, err) = w.run(&["account", "add", "lab", "--endpoint", &w.url.clone()]);
        assert!(ok, "account add: {out}{err}");
        w
    }

    fn state(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kubemaas"));
        c.arg("--state-dir")
            .arg(self.state())
            .args(args)
            .env_remove("KUBEMAAS_STATE_DIR")
            // The key goes through the environment, never the command line (`ps` shows that).
            .env("MAAS_API_KEY", &self.key)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        c
    }

    /// Runs a kubemaas command to the end: (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command(args).output().expect("kubemaas runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-o", "json"]);
        let (ok, out, err) = self.run(&all);
        assert!(ok, "kubemaas {}: {err}", args.join(" "));
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("kubemaas {}: not JSON ({e}): {out}", args.join(" ")))
    }

    /// Starts a long-running command (one reconcile pass a second) with its output in files.
    fn spawn(&mut self, args: &[&str]) -> Kid {
        self.spawned += 1;
        let out = self.state().join(format!("child-{}.out", self.spawned));
        let err = self.state().join(format!("child-{}.err", self.spawned));
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--poll-seconds", "1"]);
        let child = self
            .command(&all)
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("kubemaas starts");
        Kid {
            child,
            what: format!("kubemaas {}", args.join(" ")),
            out,
            err,
        }
    }

    /// The number of journal events of the cluster so far.
    fn event_count(&self, id: &ClusterId) -> usize {
        self.store
            .events_after(Some(id), EventId(0), 1_000_000)
            .expect("the journal reads")
            .len()
    }

    /// Watches the journal until it has `n` events of the cluster (`None`) or the child exits
    /// on its own first (`Some(status)`).
    fn until_event(&self, kid: &mut Kid, id: &ClusterId, n: usize) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = kid.child.try_wait().expect("child status") {
                return Some(status);
            }
            if self.event_count(id) >= n {
                return None;
            }
            if started.elapsed() > STUCK {
                let (out, err) = kid.output();
                panic!(
                    "{} neither exited nor wrote event {n} (has {}):\n{out}\n{err}",
                    kid.what,
                    self.event_count(id)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Watches the intent journal until a MAAS mutation of the cluster is in flight (`None`)
    /// or the child exits on its own first (`Some(status)`).
    fn until_open_intent(&self, kid: &mut Kid, id: &ClusterId) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = kid.child.try_wait().expect("child status") {
                return Some(status);
            }
            if !self
                .store
                .open_intents(Some(id))
                .expect("intents read")
                .is_empty()
            {
                return None;
            }
            assert!(
                started.elapsed() < STUCK,
                "{} neither exited nor started a MAAS call",
                kid.what
            );
            std::thread::sleep(POLL);
        }
    }

    /// Runs `first` (then `cluster wait ID --for target` after each kill), killing it with
    /// SIGKILL at up to [`MAX_KILLS`] random journal points, until a run exits by itself.
    /// Returns how many kills landed.
    fn run_with_kills(
        &mut self,
        rng: &mut ChaCha8Rng,
        id: &ClusterId,
        first: &[&str],
        target: &str,
    ) -> u32 {
        let kills_wanted = rng.random_range(1..=MAX_KILLS);
        let mut kills = 0;
        let resume = ["cluster", "wait", id.as_str(), "--for", target];
        let mut args: &[&str] = first;
        loop {
            let mut kid = self.spawn(args);
            let status = if kills < kills_wanted {
                // The Nth event from now: early ones land mid-allocation, later ones mid-deploy
                // or mid-release, sometimes inside a pass (events are written as it goes).
                let n = self.event_count(id) + rng.random_range(1..=8);
                let mut exited = self.until_event(&mut kid, id, n);
                // Half the time, go on to the next MAAS mutation in flight: the kill then lands
                // between journaling the intent and recording MAAS's answer.
                if exited.is_none() && rng.random_bool(0.5) {
                    exited = self.until_open_intent(&mut kid, id);
                }
                match exited {
                    Some(status) => status,
                    None => {
                        kid.kill9();
                        kills += 1;
                        let open = self.store.open_intents(Some(id)).expect("intents read");
                        if !open.is_empty() {
                            self.mid_call_kills += 1;
                        }
                        args = &resume;
                        continue;
                    }
                }
            } else {
                let started = Instant::now();
                loop {
                    if let Some(s) = kid.child.try_wait().expect("child status") {
                        break s;
                    }
                    assert!(started.elapsed() < STUCK, "{} hangs", kid.what);
                    std::thread::sleep(POLL * 10);
                }
            };
            let (out, err) = kid.output();
            assert!(
                status.success(),
                "{} failed after {kills} kill(s): {status}\n{out}\n{err}",
                kid.what
            );
            return kills;
        }
    }

    /// Every invariant that must hold once a scenario settled, with `nodes` machines held.
    fn assert_consistent(&self, id: &ClusterId, nodes: usize, after: &str) {
        let open = self.store.open_intents(Some(id)).expect("intents read");
        assert!(open.is_empty(), "{after}: open intents {open:?}");

        let audit = self.json(&["account", "audit", "lab"]);
        let machines = audit["machines"].as_array().expect("audit machines");
        for m in machines {
            assert_eq!(m["verdict"], "held", "{after}: {m}");
        }
        assert_eq!(machines.len(), nodes, "{after}: {audit}");
        assert_eq!(audit["unclaimed"], serde_json::json!([]), "{after}");

        let active = self
            .store
            .read(|r| r.all_active_machines())
            .expect("machines read");
        assert_eq!(active.len(), nodes, "{after}: {active:?}");
        for (i, a) in active.iter().enumerate() {
            assert!(
                active[i + 1..].iter().all(|b| b.system_id != a.system_id),
                "{after}: {} is held twice",
                a.system_id
            );
        }
        // Nor was a machine ever held twice at once: a later holding of the same machine
        // starts only after the earlier one was released.
        let history: Vec<MachineRow> = self
            .store
            .read(|r| r.machines(id, true))
            .expect("history read");
        for (i, a) in history.iter().enumerate() {
            for b in history[i + 1..].iter() {
                if a.system_id == b.system_id {
                    assert!(
                        a.released_at.is_some_and(|t| t <= b.created),
                        "{after}: {} held twice at once",
                        a.system_id
                    );
                }
            }
        }
    }
}

/// What one seed did.
struct Outcome {
    kills: u32,
    mid_call_kills: u32,
    events: usize,
}

/// create → wait (killed) → scale (killed) → delete --wait (killed), with one seed.
fn scenario(seed: u64) -> Outcome {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = World::new(seed);
    // The simulator's fleet has machines other MAAS users deployed; none is kubemaas's.
    let baseline = w.json(&["account", "audit", "lab"]);
    assert_eq!(baseline["machines"], serde_json::json!([]), "{baseline}");

    let workers: u32 = rng.random_range(1..=3);
    let (ok, spec, err) = w.run(&[
        "cluster",
        "new",
        "crashy",
        "--account",
        "lab",
        "--control-plane",
        "1",
        "--workers",
        &workers.to_string(),
    ]);
    assert!(ok, "cluster new: {err}");
    let file = w.state().join("spec.yaml");
    std::fs::write(&file, spec).expect("spec written");
    let created = w.json(&[
        "cluster",
        "create",
        "-f",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(created["phase"], "Pending");
    let id: ClusterId = created["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a cluster id");

    let mut kills = w.run_with_kills(
        &mut rng,
        &id,
        &["cluster", "wait", "crashy", "--for", "running"],
        "running",
    );
    let shown = w.json(&["cluster", "show", "crashy"]);
    assert_eq!(shown["phase"], "Running", "seed {seed}: {shown}");
    w.assert_consistent(&id, 1 + workers as usize, "create");

    // Scale up or down, the size from the seed.
    let size: u32 = loop {
        let s = rng.random_range(1..=4);
        if s != workers {
            break s;
        }
    };
    let (ok, _, err) = w.run(&[
        "cluster",
        "scale",
        "crashy",
        "--pool",
        "workers",
        "--size",
        &size.to_string(),
    ]);
    assert!(ok, "scale: {err}");
    kills += w.run_with_kills(
        &mut rng,
        &id,
        &["cluster", "wait", "crashy", "--for", "running"],
        "running",
    );
    let shown = w.json(&["cluster", "show", "crashy"]);
    assert_eq!(shown["phase"], "Running", "seed {seed}: {shown}");
    assert_eq!(shown["observed_generation"], shown["spec_generation"]);
    w.assert_consistent(&id, 1 + size as usize, "scale");

    kills += w.run_with_kills(
        &mut rng,
        &id,
        &["cluster", "delete", "crashy", "--wait"],
        "deleted",
    );
    // A deleted cluster is reachable by id only.
    let shown = w.json(&["cluster", "show", id.as_str()]);
    assert_eq!(shown["phase"], "Deleted", "seed {seed}: {shown}");
    w.assert_consistent(&id, 0, "delete");

    // The journal as operators read it shows the whole story, kills included.
    let events = w.json(&["cluster", "events", id.as_str()]);
    let events = events.as_array().expect("an event list");
    assert_eq!(events.len(), w.event_count(&id));
    Outcome {
        kills,
        mid_call_kills: w.mid_call_kills,
        events: events.len(),
    }
}

#[test]
fn kill_9_during_create_scale_and_delete_loses_nothing() {
    let mut kills = 0;
    for seed in [11, 12, 13, 14, 15] {
        let o = scenario(seed);
        eprintln!(
            "seed {seed}: {} kill(s) ({} with a MAAS call in flight), {} journal events",
            o.kills, o.mid_call_kills, o.events
        );
        kills += o.kills;
    }
    // Each scenario asks for at least one kill; a scenario can finish before its Nth event,
    // but not every one of them.
    assert!(kills >= 3, "only {kills} kills landed");
}
