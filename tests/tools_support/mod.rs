//! The programs some tests drive (etcd members, tmux, cloud-init, curl …): found, or installed
//! by the repository's `.ci/install-test-tools` where that can be done (as root, with apt),
//! or a failure naming the exact command to run. A test never passes without running because
//! a tool is missing.
#![allow(dead_code)] // each test crate uses a different part

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The Debian package that brings each tool (what .ci/install-test-tools installs).
const PACKAGES: &[(&str, &str)] = &[
    ("etcd", "etcd-server"),
    ("tmux", "tmux"),
    ("cloud-init", "cloud-init"),
    ("openssl", "openssl"),
    ("ip", "iproute2"),
    ("curl", "curl"),
    ("sh", "dash"),
    ("unshare", "util-linux"),
    ("sha256sum", "coreutils"),
    ("go", "golang-go"),
];

fn package(tool: &str) -> &str {
    PACKAGES
        .iter()
        .find(|(t, _)| *t == tool)
        .map_or(tool, |(_, p)| p)
}

fn on_path(tool: &str) -> Option<PathBuf> {
    if tool.starts_with('/') {
        return Path::new(tool).is_file().then(|| PathBuf::from(tool));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    })
}

/// One install attempt per test process, whatever the number of threads asking.
static INSTALL: Mutex<Option<Result<(), String>>> = Mutex::new(None);

fn install_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/install-test-tools")
}

fn install_once() -> Result<(), String> {
    let mut done = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(outcome) = done.as_ref() {
        return outcome.clone();
    }
    let script = install_script();
    let outcome = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))
        .and_then(|out| {
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        });
    *done = Some(outcome.clone());
    outcome
}

/// The path of `tool` (a name on PATH, or an absolute path). Missing, it is installed by
/// `.ci/install-test-tools` (which does so as root and otherwise prints the install line);
/// still missing, the test fails saying what to run.
pub fn require(tool: &str) -> PathBuf {
    if let Some(path) = on_path(tool) {
        return path;
    }
    let name = Path::new(tool)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(tool);
    let tried = install_once();
    if let Some(path) = on_path(tool) {
        return path;
    }
    let why = tried.err().unwrap_or_default();
    panic!(
        "`{tool}` is missing and these tests need it: run `sudo .ci/install-test-tools` \
         (or `apt-get install -y --no-install-recommends {}`), then the tests again.\n{why}",
        package(name)
    );
}

/// The python of `.tools/libmaas-venv` with Canonical's python-libmaas importable: created by
/// .ci/install-test-tools when missing, else a failure saying how.
pub fn require_libmaas() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/libmaas-venv/bin/python");
    let usable = || {
        python.exists()
            && Command::new(&python)
                .args(["-c", "import maas.client"])
                .output()
                .is_ok_and(|o| o.status.success())
    };
    if usable() {
        return python;
    }
    let tried = install_once();
    if usable() {
        return python;
    }
    panic!(
        "python-libmaas is missing at {}: run `.ci/install-test-tools` (or `python3 -m venv \
         .tools/libmaas-venv && .tools/libmaas-venv/bin/pip install python-libmaas`).\n{}",
        python.display(),
        tried.err().unwrap_or_default()
    );
}

/// Where Debian's golang-*-dev packages put their sources: the GOPATH gomaasapi builds from.
pub const GOPATH: &str = "/usr/share/gocode";

/// Debian's `go` with Juju's gomaasapi (and what it imports) under [`GOPATH`]: installed by
/// .ci/install-test-tools when missing, else a failure saying how.
pub fn require_gomaasapi() -> PathBuf {
    let go = require("go");
    let source = Path::new(GOPATH).join("src/github.com/juju/gomaasapi/controller.go");
    if source.exists() {
        return go;
    }
    let tried = install_once();
    if source.exists() {
        return go;
    }
    panic!(
        "gomaasapi's sources are missing at {}: run `sudo .ci/install-test-tools` (or \
         `apt-get install -y --no-install-recommends golang-github-juju-gomaasapi-dev \
         golang-github-juju-collections-dev golang-github-juju-errors-dev \
         golang-github-juju-loggo-dev golang-github-juju-schema-dev \
         golang-github-juju-version-dev golang-gopkg-mgo.v2-dev`).\n{}",
        source.display(),
        tried.err().unwrap_or_default()
    );
}
