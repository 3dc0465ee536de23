//! A state database that cannot be trusted or written: an empty or truncated file is refused with
//! how to restore it (never taken as a new, empty store), a full disk and a read-only state dir
//! are named as such, and the commands that only read work on a read-only state dir.
//!
//! The read-only and full filesystems are real: a read-only bind mount and a tiny tmpfs, made in
//! a private mount namespace with `unshare` (util-linux), so nothing outside the test sees them.

mod tools_support;

use kubemaas::maas::{ApiKey, Endpoint};
use kubemaas::store::{NewAccount, Store, DB_FILE};
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubemaas");

/// Runs `script` (sh) in its own user and mount namespace, where it may mount.
fn in_namespace(script: &str) -> Output {
    let unshare = tools_support::require("unshare");
    Command::new(unshare)
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .output()
        .expect("running unshare")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A store with an account and one cluster in it, closed again.
fn store_with_a_cluster(dir: &Path) {
    let store = Store::open(dir).unwrap();
    store
        .tx(|tx| {
            tx.insert_account(&NewAccount {
                name: "lab".into(),
                gateway: None,
                endpoint: Endpoint::parse("http://127.0.0.1:5240/MAAS").unwrap(),
                api_key: ApiKey::from_parts("a", "b", "c"),
                ca_cert: None,
            })?;
            tx.create_cluster("prod", "lab", &serde_json::json!({}))
        })
        .unwrap();
}

#[test]
fn an_empty_database_file_is_refused_with_how_to_restore_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
    let e = Store::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("is damaged: it is empty (0 bytes)"), "{e}");
    assert!(e.contains("copy your backup over"), "{e}");
    assert!(e.contains("kubemaas account audit ACCOUNT"), "{e}");
    // Left exactly as it was: no schema written over it.
    assert_eq!(
        std::fs::metadata(dir.path().join(DB_FILE)).unwrap().len(),
        0
    );

    // The CLI says the same, and `cluster list` does not answer "no clusters".
    let out = Command::new(BIN)
        .args(["--state-dir"])
        .arg(dir.path())
        .args(["cluster", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("is damaged"), "{t}");
    assert!(!t.contains("no clusters"), "{t}");
}

#[test]
fn a_truncated_database_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    store_with_a_cluster(dir.path());
    let path = dir.path().join(DB_FILE);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len >= 8192, "{len}");
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let e = Store::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("is damaged: it is truncated"), "{e}");
    assert!(e.contains("copy your backup over"), "{e}");
}

#[test]
fn reading_commands_work_on_a_read_only_state_dir_and_writes_say_why_not() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    store_with_a_cluster(&state);
    let dir = root.path().display();
    let km = |args: &str| format!("{BIN} --state-dir {dir}/state {args}");
    let out = in_namespace(&format!(
        "mount --bind -o ro {dir} {dir} || exit 90
         {list}; echo list=$?
         {show} >/dev/null; echo show=$?
         {accounts}; echo accounts=$?
         {delete}; echo delete=$?",
        list = km("cluster list"),
        show = km("cluster show prod"),
        accounts = km("account list"),
        delete = km("account delete nosuch"),
    ));
    let t = text(&out);
    assert_ne!(out.status.code(), Some(90), "no read-only mount: {t}");
    assert!(t.contains("list=0") && t.contains("prod"), "{t}");
    assert!(t.contains("show=0"), "{t}");
    assert!(t.contains("accounts=0"), "{t}");
    assert!(!t.contains("cannot create the state directory"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    // A write is refused as what it is.
    assert!(t.contains("delete=1"), "{t}");
    assert!(t.contains("the state database is read-only"), "{t}");
}

#[test]
fn a_full_disk_at_open_is_named_and_leaves_no_empty_database_behind() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().display();
    let out = in_namespace(&format!(
        "mount -t tmpfs -o size=256k tmpfs {dir} || exit 90
         mkdir -m 700 {dir}/state {dir}/state/logs
         dd if=/dev/zero of={dir}/fill bs=4k 2>/dev/null
         {BIN} --state-dir {dir}/state cluster list; echo first=$?
         ls {dir}/state; echo listed
         rm {dir}/fill
         {BIN} --state-dir {dir}/state cluster list; echo after=$?"
    ));
    let t = text(&out);
    assert_ne!(out.status.code(), Some(90), "no tmpfs: {t}");
    assert!(t.contains("first=1"), "{t}");
    assert!(
        t.contains(&format!("the filesystem holding {dir}/state is full")),
        "{t}"
    );
    assert!(!t.contains("disk I/O error"), "{t}");
    assert!(!t.contains("state.db\n"), "an empty state.db was left: {t}");
    // Space freed, the same state dir opens as a new store: nothing was left to refuse.
    assert!(t.contains("after=0") && t.contains("no clusters"), "{t}");
}
