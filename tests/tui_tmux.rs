//! The real binary in a real terminal (tmux): `kubemaas --demo` opens the console on the
//! in-process simulator, answers keys, and leaves cleanly on `q` and on SIGHUP (a dropped SSH
//! session). Skipped, with a note, where tmux is not installed.
//!
//! Waiting on another process's screen cannot be done by message passing; `wait_for` polls the
//! pane with a generous bound and asserts on content, never on how long anything took.

mod tmux_support;

use std::path::Path;
use std::process::Command;
use tmux_support::Tmux;

#[test]
fn demo_cluster_wizard_to_the_engine() {
    let t = Tmux::start("wizard", "--demo", &[]);
    t.wait_for("[200/200]");
    t.keys(&[":", "clusters", "Enter"]);
    t.wait_for("No clusters yet");
    t.keys(&["n"]);
    t.wait_for("step 1/9: Basics");
    t.keys(&["demo-1", "PageDown"]);
    t.wait_for("step 2/9: Profile");
    // The simulated MAAS's zones, pools and tags arrive with their machine counts.
    t.keys(&["PageDown", "PageDown", "PageDown", "PageDown"]);
    t.wait_for("step 6/9: Node pools");
    t.wait_for("(n) = Ready machines");
    t.keys(&["PageDown", "PageDown"]);
    // The defaults (pod network 10.244.0.0/16) fit the demo MAAS: the review finds nothing.
    let screen = t.wait_for("step 8/9: Review");
    assert!(screen.contains("podCIDR: 10.244.0.0/16"), "{screen}");
    t.wait_for("No problems");
    t.keys(&["Enter"]);
    t.wait_for("Press enter to deploy");
    t.keys(&["Enter"]);
    // The demo runs the engine: the cluster is accepted and the list shows it.
    t.wait_for("cluster demo-1 is being built");
    t.wait_for("demo-1");
    t.keys(&["q"]);
}

#[test]
fn demo_account_wizard_reports_a_wrong_key() {
    let t = Tmux::start("account", "--demo", &[]);
    let screen = t.wait_for("[200/200]");
    // The demo MAAS's URL, from the header.
    let endpoint = screen
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .expect("the endpoint is in the header")
        .to_string();
    t.keys(&[":", "new-account", "Enter"]);
    t.wait_for("New cloud account");
    t.keys(&["lab2", "Tab", "Tab", &endpoint, "Tab"]);
    // A well-formed key this MAAS never issued: shown as bullets only.
    let key = "AAAAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBB:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";
    t.keys(&[key]);
    let screen = t.wait_for("••••••••");
    assert!(!screen.contains("AAAAAAAA"), "{screen}");
    t.keys(&["PageDown"]);
    let screen = t.wait_for("refused the API key");
    assert!(
        screen.contains("API key:"),
        "the failure names the field: {screen}"
    );
    t.keys(&["PageUp"]);
    t.wait_for("step 1/2");
    t.keys(&["Escape"]);
    t.wait_for("Discard the new cloud account?");
    // The dialog opens on Cancel: Tab to Discard, Enter. (No Escape right before another key:
    // terminals send Alt-key that way, so the console could read the two as one.)
    t.keys(&["Tab", "Enter"]);
    t.wait_for("[200/200]");
    t.keys(&["q"]);
}

#[test]
fn demo_console_walkthrough() {
    let t = Tmux::start("walk", "--demo --readonly", &[]);
    let screen = t.wait_for("[200/200]");
    assert!(screen.contains("user admin"), "{screen}");
    assert!(screen.contains("READ-ONLY"), "{screen}");
    t.keys(&[":", "clusters", "Enter"]);
    t.wait_for("No clusters yet.");
    // Read-only: the wizard is refused, and the footer says why.
    t.keys(&["n"]);
    t.wait_for("read-only: creating a cluster is refused");
    t.keys(&["Escape"]);
    t.wait_for("[200/200]");
    t.keys(&["/", "!Ready", "Enter"]);
    let screen = t.wait_for("/!Ready");
    assert!(!screen.contains("│Ready"), "{screen}");
    t.keys(&["?"]);
    t.wait_for("Help");
    // Esc and q sent together read as alt-q (that is how terminals encode alt): wait between.
    t.keys(&["Escape"]);
    t.wait_until("the help closed", |s| !s.contains("Help"));
    t.keys(&["q"]);
    assert_eq!(t.exit_code(), "0", "log:\n{}", t.log());
    t.assert_terminal_restored();
    // Logs stay in the state dir; the demo's throw-away state dir is gone.
    let log = t.log();
    let demo_dir = log
        .split("state_dir=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the log names the demo state dir:\n{log}"));
    assert!(demo_dir.contains("kubemaas-demo-"), "{demo_dir}");
    assert!(!Path::new(demo_dir).exists(), "{demo_dir} was left behind");
    assert!(t.state_dir().join("state/logs").exists());
}

#[test]
fn sighup_and_sigterm_leave_cleanly() {
    for signal in ["HUP", "TERM"] {
        let t = Tmux::start(&format!("sig{signal}"), "--demo", &[]);
        t.wait_for("[200/200]");
        let pid = t.kubemaas_pid();
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        assert_eq!(t.exit_code(), "0", "log:\n{}", t.log());
        let log = t.log();
        assert!(
            log.contains(&format!("SIG{signal}")) && log.contains("console closed"),
            "log:\n{log}"
        );
        t.assert_terminal_restored();
    }
}

#[test]
fn a_terminal_that_hangs_up_without_a_signal_is_noticed() {
    let t = Tmux::start("hangup", "--demo", &[]);
    t.wait_for("[200/200]");
    // Closing the session hangs up the pane's terminal, as a dropped SSH connection does;
    // the pane's shell ignores SIGHUP, so only the hang-up itself tells kubemaas.
    t.tmux(&["kill-session", "-t", "main"]);
    assert_eq!(t.exit_code(), "0", "log:\n{}", t.log());
    assert!(
        t.log().contains("the terminal hung up"),
        "log:\n{}",
        t.log()
    );
}

#[test]
fn no_color_means_no_colour_codes() {
    let t = Tmux::start("nocolor", "--demo", &[("NO_COLOR", "1")]);
    t.wait_for("[200/200]");
    let screen = t.screen_with_escapes();
    for sgr in screen.split("\x1b[").skip(1) {
        let Some(end) = sgr.find('m') else { continue };
        for p in sgr[..end].split(';').filter_map(|p| p.parse::<u32>().ok()) {
            assert!(
                !matches!(p, 30..=38 | 40..=48 | 90..=97 | 100..=107),
                "colour SGR {p} under NO_COLOR in {:?}",
                &sgr[..end]
            );
        }
    }
    // Attributes carry the meaning instead: the selection is reversed (SGR 7).
    let reversed = screen.split("\x1b[").skip(1).any(|sgr| {
        sgr.split_once('m')
            .is_some_and(|(params, _)| params.split(';').any(|p| p == "7"))
    });
    assert!(reversed, "{screen:?}");
    t.keys(&["q"]);
    assert_eq!(t.exit_code(), "0");
    t.assert_terminal_restored();
}

#[test]
fn without_maas_the_console_explains_how_to_start() {
    let t = Tmux::start("welcome", "", &[]);
    let screen = t.wait_for("No MAAS is configured yet");
    assert!(screen.contains("kubemaas --demo"), "{screen}");
    t.keys(&["q"]);
    assert_eq!(t.exit_code(), "0");
    t.assert_terminal_restored();
}

#[test]
fn a_broken_keymap_is_reported_in_the_console_and_a_user_theme_applies() {
    let prepare = |state: &Path| {
        let config = state.join("config");
        std::fs::create_dir_all(config.join("themes")).unwrap();
        std::fs::write(config.join("keymap.yaml"), "quit: [x]\nexplode: y\n").unwrap();
        std::fs::write(
            config.join("themes/site.yaml"),
            "tokens:\n  title: { fg: red }\n",
        )
        .unwrap();
    };
    let t = Tmux::start_with("config", "--demo --theme site", &[], prepare);
    let screen = t.wait_for("[200/200]");
    assert!(screen.contains("unknown action `explode`"), "{screen}");
    // The valid part applies: x quits, q no longer does.
    t.keys(&["q"]);
    t.keys(&[":", "gw", "Enter"]);
    // The Gateways screen lists the embedded engine (asked on a task, so it comes a bit later).
    t.wait_for("embedded");
    t.keys(&["x"]);
    assert_eq!(t.exit_code(), "0", "log:\n{}", t.log());
}
