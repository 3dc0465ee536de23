//! The event loop on a test terminal with a paused clock: it draws when something changed,
//! coalesces bursts under the frame cap, and draws nothing at all while idle.

mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::tui::app::{Msg, State};
use kubemaas::tui::event_loop::{run, LoopConfig, Renderer};
use kubemaas::tui::source::{ConsoleSource, MaasIdentity, MachineRow, SourceError};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tui_support::*;

/// A fixed inventory that counts how often it is asked.
struct FixedSource {
    rows: Vec<MachineRow>,
    loads: AtomicUsize,
}

impl ConsoleSource for FixedSource {
    async fn identify(&self) -> Result<MaasIdentity, SourceError> {
        Ok(identity())
    }
    async fn list_machines(&self) -> Result<Vec<MachineRow>, SourceError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(self.rows.clone())
    }
}

/// Draws on a TestBackend and counts frames; the last frame's text is kept for checks.
struct CountingRenderer {
    terminal: Terminal<TestBackend>,
    draws: Arc<AtomicUsize>,
    clears: Arc<AtomicUsize>,
    last: Arc<Mutex<String>>,
}

impl Renderer for CountingRenderer {
    fn draw(&mut self, state: &State) -> io::Result<()> {
        self.terminal
            .draw(|f| kubemaas::tui::app::view(state, f))
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
        self.draws.fetch_add(1, Ordering::SeqCst);
        *self.last.lock().unwrap() = self.terminal.backend().to_string();
        Ok(())
    }
    fn clear(&mut self) -> io::Result<()> {
        self.clears.fetch_add(1, Ordering::SeqCst);
        self.terminal
            .clear()
            .map_err(|e| io::Error::other(format!("{e:?}")))
    }
    fn size(&self) -> io::Result<(u16, u16)> {
        let a = self.terminal.backend().buffer().area;
        Ok((a.width, a.height))
    }
}

struct Harness {
    draws: Arc<AtomicUsize>,
    clears: Arc<AtomicUsize>,
    last: Arc<Mutex<String>>,
    source: Arc<FixedSource>,
    tx: mpsc::UnboundedSender<Msg>,
    task: tokio::task::JoinHandle<State>,
}

fn start(rows: usize, max_fps: u32) -> Harness {
    let draws = Arc::new(AtomicUsize::new(0));
    let clears = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(Mutex::new(String::new()));
    let source = Arc::new(FixedSource {
        rows: fleet(rows),
        loads: AtomicUsize::new(0),
    });
    let mut renderer = CountingRenderer {
        terminal: Terminal::new(TestBackend::new(80, 24)).unwrap(),
        draws: draws.clone(),
        clears: clears.clone(),
        last: last.clone(),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let src = source.clone();
    let task = tokio::spawn(async move {
        let mut state = State::new(options((80, 24)));
        let config = LoopConfig {
            max_fps,
            tick: Duration::from_secs(1),
        };
        run(&mut state, Some(src), &mut renderer, &mut rx, config)
            .await
            .unwrap();
        state
    });
    Harness {
        draws,
        clears,
        last,
        source,
        tx,
        task,
    }
}

/// Lets the (paused) clock run: every task gets to run until all wait on the clock.
async fn wait(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn idle_console_draws_nothing() {
    let h = start(50, 20);
    wait(0.5).await;
    assert!(
        h.last.lock().unwrap().contains("node-0000"),
        "data arrived and was drawn"
    );
    let after_load = h.draws.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&after_load),
        "{after_load} draws to show the first data"
    );

    // A minute of idling: 60 ticks and 12 reloads of the same inventory.
    wait(60.0).await;
    assert!(
        h.source.loads.load(Ordering::SeqCst) >= 12,
        "reloads happened"
    );
    assert_eq!(
        h.draws.load(Ordering::SeqCst),
        after_load,
        "an idle console must not draw"
    );

    // One key: exactly one more frame.
    h.tx.send(key(KeyCode::Char('j'))).unwrap();
    wait(0.5).await;
    assert_eq!(h.draws.load(Ordering::SeqCst), after_load + 1);

    h.tx.send(Msg::Quit).unwrap();
    let state = h.task.await.unwrap();
    assert_eq!(state.machines.selected(), 1);
}

#[tokio::test(start_paused = true)]
async fn bursts_are_coalesced_under_the_frame_cap() {
    let h = start(500, 20);
    wait(0.5).await;
    let before = h.draws.load(Ordering::SeqCst);
    for _ in 0..200 {
        h.tx.send(key(KeyCode::Char('j'))).unwrap();
    }
    wait(0.5).await;
    let frames = h.draws.load(Ordering::SeqCst) - before;
    assert!(
        (1..=2).contains(&frames),
        "200 queued keys gave {frames} frames"
    );
    assert!(h.last.lock().unwrap().contains("node-0200"));
    h.tx.send(Msg::Quit).unwrap();
    let state = h.task.await.unwrap();
    assert_eq!(state.machines.selected(), 200);
}

#[tokio::test(start_paused = true)]
async fn closed_input_ends_the_loop() {
    let h = start(5, 20);
    drop(h.tx);
    let state = h.task.await.unwrap();
    assert!(state.quit);
}

#[tokio::test(start_paused = true)]
async fn ctrl_l_repaints_the_whole_screen_once() {
    let h = start(10, 20);
    wait(0.5).await;
    let before = h.draws.load(Ordering::SeqCst);
    h.tx.send(ctrl('l')).unwrap();
    wait(0.5).await;
    assert_eq!(h.clears.load(Ordering::SeqCst), 1);
    assert_eq!(h.draws.load(Ordering::SeqCst), before + 1);
    wait(5.0).await;
    assert_eq!(
        h.clears.load(Ordering::SeqCst),
        1,
        "only the asked-for frame is cleared"
    );
    h.tx.send(Msg::Quit).unwrap();
    h.task.await.unwrap();
}
