//! Benchmark of the console's rendering: time per frame of the machines table with 5,000 rows,
//! and bytes written to the terminal per frame (a full paint, one selection move, a data refresh
//! where a few machines changed status, and an unchanged state, which the event loop never draws).
//!
//! Run: `cargo bench --bench tui_render` (options: `--rows N --frames F`). Figures are written up
//! in docs/benchmarks.md.

#[path = "../tests/tui_support/mod.rs"]
mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::maas::NodeStatus;
use kubemaas::tui::app::{update, view, Msg};
use kubemaas::tui::event_loop::Renderer;
use kubemaas::tui::term::CrosstermRenderer;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tui_support::{fleet, loaded, press};

/// A terminal that counts what it is sent.
#[derive(Clone, Default)]
struct Counting(Arc<Mutex<usize>>);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        *self.0.lock().expect("counter") += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Counting {
    fn take(&self) -> usize {
        std::mem::take(&mut *self.0.lock().expect("counter"))
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rows = arg("--rows", 5_000);
    let frames = arg("--frames", 500).max(1);
    println!("machines table, {rows} rows, {frames} frames per size\n");
    println!("| size | µs per frame (view + diff) | bytes: first frame | one-row move | refresh with 10 status changes |");
    println!("|---|---|---|---|---|");
    for size in [(80u16, 24u16), (120, 40)] {
        // Time: what the loop does per frame, on a test backend (no terminal I/O).
        let mut state = loaded(rows, size);
        let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).expect("backend");
        let started = Instant::now();
        for i in 0..frames {
            // Move the selection so every frame has something new to draw.
            press(
                &mut state,
                if i % 2 == 0 {
                    KeyCode::Down
                } else {
                    KeyCode::Up
                },
            );
            terminal.draw(|f| view(&state, f)).expect("draw");
        }
        let per_frame_us = started.elapsed().as_secs_f64() * 1e6 / frames as f64;

        // Bytes: the real crossterm renderer writing into a counter.
        let out = Counting::default();
        let mut renderer = CrosstermRenderer::with_writer(out.clone(), size).expect("renderer");
        let mut state = loaded(rows, size);
        renderer.draw(&state).expect("draw");
        let first = out.take();
        press(&mut state, KeyCode::Down);
        renderer.draw(&state).expect("draw");
        let moved = out.take();
        let mut changed = fleet(rows);
        for m in changed.iter_mut().take(20).step_by(2) {
            m.status = NodeStatus::Deploying;
        }
        update(&mut state, Msg::MachinesLoaded(Ok(changed)));
        renderer.draw(&state).expect("draw");
        let refresh = out.take();
        println!(
            "| {}x{} | {per_frame_us:.0} | {first} | {moved} | {refresh} |",
            size.0, size.1
        );
    }
    println!("\nAn unchanged state is never drawn (the loop's dirty flag): idle costs 0 bytes.");
}
