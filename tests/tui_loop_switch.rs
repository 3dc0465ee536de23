//! The event loop switching gateways with a paused clock: `:gateway dc1` swaps the source,
//! every load after it asks the new one, and an answer the old source gives late (a load that
//! was in flight during the switch) is dropped instead of showing the old gateway's data under
//! the new one's name. A refused switch leaves the console where it was.

mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::tui::app::{Msg, State};
use kubemaas::tui::event_loop::{run, LoopConfig, Renderer};
use kubemaas::tui::source::{ConsoleSource, MaasIdentity, MachineRow, Reachability, SourceError};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tui_support::*;

/// A gateway's inventory: machines named after it. While `held`, loads wait for `release`.
struct GatewaySource {
    name: String,
    held: Arc<AtomicBool>,
    release: Arc<Notify>,
}

impl ConsoleSource for GatewaySource {
    async fn identify(&self) -> Result<MaasIdentity, SourceError> {
        Ok(identity())
    }

    async fn list_machines(&self) -> Result<Vec<MachineRow>, SourceError> {
        if self.held.load(Ordering::SeqCst) {
            self.release.notified().await;
        }
        Ok(fleet(3)
            .into_iter()
            .map(|mut m| {
                m.hostname = format!("{}-{}", self.name, m.hostname);
                m
            })
            .collect())
    }

    async fn check_gateway(&self, _name: String) -> Reachability {
        Reachability::Reachable {
            version: "test".into(),
        }
    }

    async fn use_gateway(&self, name: String) -> Result<Self, SourceError> {
        if name == "down" {
            return Err(SourceError::new(
                "gateway down does not answer: connection refused; the console stays where it was",
            ));
        }
        Ok(GatewaySource {
            name,
            held: Arc::new(AtomicBool::new(false)),
            release: Arc::new(Notify::new()),
        })
    }
}

struct Screen {
    terminal: Terminal<TestBackend>,
    last: Arc<Mutex<String>>,
}

impl Renderer for Screen {
    fn draw(&mut self, state: &State) -> io::Result<()> {
        self.terminal
            .draw(|f| kubemaas::tui::app::view(state, f))
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
        *self.last.lock().unwrap() = self.terminal.backend().to_string();
        Ok(())
    }
    fn size(&self) -> io::Result<(u16, u16)> {
        Ok((100, 24))
    }
    fn clear(&mut self) -> io::Result<()> {
        Ok(())
    }
}

async fn wait(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

fn command(tx: &mpsc::UnboundedSender<Msg>, text: &str) {
    tx.send(key(KeyCode::Char(':'))).unwrap();
    for c in text.chars() {
        tx.send(key(KeyCode::Char(c))).unwrap();
    }
    tx.send(key(KeyCode::Enter)).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_late_answer_of_the_gateway_left_is_dropped() {
    let held = Arc::new(AtomicBool::new(false));
    let release = Arc::new(Notify::new());
    let source = Arc::new(GatewaySource {
        name: "local".into(),
        held: held.clone(),
        release: release.clone(),
    });
    let last = Arc::new(Mutex::new(String::new()));
    let mut screen = Screen {
        terminal: Terminal::new(TestBackend::new(100, 24)).unwrap(),
        last: last.clone(),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut state = State::new(options((100, 24)));
        run(
            &mut state,
            Some(source),
            &mut screen,
            &mut rx,
            LoopConfig::default(),
        )
        .await
        .unwrap();
        state
    });
    wait(0.5).await;
    assert!(last.lock().unwrap().contains("local-node-0000"));

    // A reload of this host's inventory hangs; meanwhile the console switches to dc1.
    held.store(true, Ordering::SeqCst);
    tx.send(ctrl('r')).unwrap();
    wait(0.5).await;
    command(&tx, "gateway dc1");
    wait(0.5).await;
    let shown = last.lock().unwrap().clone();
    assert!(shown.contains("dc1-node-0000"), "{shown}");
    assert!(shown.contains("gateway dc1"), "{shown}");

    // The old load answers now: it must not replace dc1's inventory.
    release.notify_waiters();
    wait(0.5).await;
    let shown = last.lock().unwrap().clone();
    assert!(!shown.contains("local-node"), "{shown}");
    assert!(shown.contains("dc1-node-0000"), "{shown}");

    // Refused: the console stays on dc1, saying why.
    command(&tx, "gw down");
    wait(0.5).await;
    let shown = last.lock().unwrap().clone();
    assert!(shown.contains("does not answer"), "{shown}");
    assert!(shown.contains("dc1-node-0000"), "{shown}");

    // And back to the embedded engine's source: a fresh one, loads answered.
    command(&tx, "gw local");
    wait(6.0).await;
    let shown = last.lock().unwrap().clone();
    assert!(shown.contains("local-node-0000"), "{shown}");

    tx.send(Msg::Quit).unwrap();
    let state = task.await.unwrap();
    assert_eq!(state.gateways.in_use, "local");
    assert!(state.gateways.switching.is_none());
}
