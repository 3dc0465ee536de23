//! Juju's MAAS client, gomaasapi, against `kubemaas sim` running as a real process: the
//! Controller API and the legacy MAASObject API, every important call retried after an
//! injected 503 + Retry-After (tests/gomaasapi/accept.go).
//!
//! Needs Debian's Go and gomaasapi (`tools_support::require_gomaasapi`: installed by
//! `.ci/install-test-tools`, else the test fails saying how); built in GOPATH mode from
//! /usr/share/gocode, offline, with the build cache under target/.

mod tools_support;

mod sim_process;

use sim_process::SimProcess;
use std::path::Path;
use std::process::Command;

#[test]
fn gomaasapi_accepts_the_simulator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let go = tools_support::require_gomaasapi();
    // Build first, so compile time is not spent with the simulator's clock running.
    let build = tempfile::tempdir().unwrap();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-build-cache");
    let binary = build.path().join("accept");
    let compiled = Command::new(&go)
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(root.join("tests/gomaasapi/accept.go"))
        .env("GOPATH", tools_support::GOPATH)
        .env("GO111MODULE", "off")
        .env("GOPROXY", "off")
        .env("GOCACHE", &cache)
        .env_remove("GOFLAGS")
        .output()
        .expect("go runs");
    assert!(
        compiled.status.success(),
        "go build tests/gomaasapi/accept.go failed:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );

    let sim = SimProcess::start();
    let result = Command::new(&binary)
        .envs(sim.env.clone())
        .output()
        .expect("the gomaasapi program runs");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "gomaasapi rejected the simulator\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("\"gomaasapi\":\"accepted\""), "{stdout}");
    drop(sim);
}
