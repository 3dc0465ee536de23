//! End to end, the real binary in a real terminal (tmux): `kubemaas --demo` (the simulated
//! MAAS, its `demo` account and the embedded engine running in the console), the cluster
//! wizard walked with keystrokes, deploy, the progress pane reaching Running, a pool resized
//! and settling, the cluster deleted by typing its name, and gone from the list. Skipped, with a
//! note, where tmux is not installed.
//!
//! The demo runs fast (KUBEMAAS_DEMO_SPEED, KUBEMAAS_ENGINE_POLL_MS). Waiting on another
//! process's screen cannot be done by message passing: `wait_until` polls the pane with a
//! generous bound and asserts on what the screen says, never on how long anything took.

mod tmux_support;

use tmux_support::Tmux;

#[test]
fn demo_wizard_deploy_resize_delete() {
    let t = Tmux::start_sized(
        "cluster",
        "--demo",
        &[
            ("KUBEMAAS_DEMO_SPEED", "300"),
            ("KUBEMAAS_ENGINE_POLL_MS", "200"),
        ],
        (120, 40),
    );
    t.wait_for("[200/200]");
    t.keys(&[":", "clusters", "Enter"]);
    t.wait_for("No clusters yet");

    // The wizard, step by step: a name, then the defaults (the demo account is the only one).
    t.keys(&["n"]);
    t.wait_for("step 1/9");
    t.text("e2e-web");
    t.wait_for("e2e-web");
    // The MAAS lists (zones, pools, machine counts) arrive before the placement step matters.
    for step in 2..=9 {
        t.keys(&["PageDown"]);
        t.wait_for(&format!("step {step}/9"));
        if step == 4 {
            t.wait_for("200 machines");
        }
    }
    t.wait_for("Press enter to deploy");
    t.keys(&["Enter"]);
    t.wait_for("cluster e2e-web is being built");
    t.wait_for("Clusters [1/1]");

    // The progress pane, live, until Running with every node Ready.
    t.keys(&["Enter"]);
    t.wait_for("Cluster e2e-web");
    let screen = t.wait_until("Running and healthy", |s| {
        s.contains(" Running ") && s.contains("healthy") && s.contains("2/2 ready")
    });
    assert!(screen.contains("Machines (3)"), "{screen}");
    assert!(screen.contains("cluster is running"), "{screen}");

    // Resize the workers to 3 and watch it settle.
    t.keys(&["r"]);
    t.wait_for("Pick a pool");
    t.keys(&["Down", "Enter"]);
    t.wait_for("New size");
    t.keys(&["BSpace"]);
    t.text("3");
    t.keys(&["Enter"]);
    t.wait_for("resized to 3");
    let screen = t.wait_until("the resized pool settled", |s| {
        s.contains("3/3 ready") && s.contains("gen 2/2") && s.contains("Machines (4)")
    });
    assert!(screen.contains(" Running "), "{screen}");

    // Delete: the dialog opens on Cancel and wants the name typed.
    t.keys(&["d"]);
    t.wait_for("Delete cluster e2e-web?");
    t.keys(&["Tab"]);
    t.text("e2e-web");
    t.keys(&["Tab", "Enter"]);
    t.wait_for("deletion of cluster e2e-web requested");
    t.wait_until("the cluster deleted", |s| {
        s.contains(" Deleted ") && s.contains("Machines (0)")
    });
    t.keys(&["Escape"]);
    let screen = t.wait_for("No clusters yet");
    assert!(!screen.contains("e2e-web  "), "{screen}");

    // Nothing is mid-change: q leaves at once.
    t.keys(&["q"]);
    assert_eq!(t.exit_code(), "0", "log:\n{}", t.log_tail(40));
}
