//! What the console writes to the terminal: every frame inside synchronized-update markers,
//! and only the cells that changed (operators on slow SSH links pay for every byte).

mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::tui::event_loop::Renderer;
use kubemaas::tui::term::CrosstermRenderer;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tui_support::*;

const BEGIN_SYNC: &[u8] = b"\x1b[?2026h";
const END_SYNC: &[u8] = b"\x1b[?2026l";

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[test]
fn frames_are_synchronized_and_incremental() {
    let capture = Capture::default();
    let mut renderer = CrosstermRenderer::with_writer(capture.clone(), (120, 40)).unwrap();
    assert_eq!(renderer.size().unwrap(), (120, 40));
    let mut state = loaded(5000, (120, 40));

    renderer.draw(&state).unwrap();
    let first = capture.take();
    assert!(
        first.starts_with(BEGIN_SYNC),
        "a frame opens the synchronized update"
    );
    assert!(
        first.ends_with(END_SYNC),
        "a frame closes the synchronized update"
    );
    assert!(first.len() > 120 * 30, "the first frame paints the screen");

    // The same state again: the markers and a style reset / cursor hide, no cells (ratatui
    // diffs against the last frame). The event loop does not even draw that while idle.
    renderer.draw(&state).unwrap();
    let same = capture.take();
    assert!(
        same.len() <= BEGIN_SYNC.len() + END_SYNC.len() + 32,
        "an unchanged frame wrote {} bytes",
        same.len()
    );

    // Moving the selection one row rewrites two rows, not the screen.
    press(&mut state, KeyCode::Down);
    renderer.draw(&state).unwrap();
    let moved = capture.take();
    assert!(moved.starts_with(BEGIN_SYNC) && moved.ends_with(END_SYNC));
    assert!(
        moved.len() < first.len() / 4,
        "moving one row wrote {} bytes (a full frame is {})",
        moved.len(),
        first.len()
    );
}
