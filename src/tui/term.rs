//! The terminal, owned by one guard: raw mode, alternate screen, hidden cursor and (only if
//! asked) mouse capture, undone on every way out — normal quit, error (the guard's Drop), and
//! panic (a hook that restores first, then hands over to the previous hook, color-eyre's).
//! Signals (SIGTERM, SIGHUP from a dropped SSH session) become a quit message in
//! [`super::input`], so they leave through the normal path.
//!
//! Every frame is wrapped in synchronized-update markers (DEC mode 2026): terminals that know
//! them paint the frame at once (no tearing over slow links); the others ignore them.

use super::app::{view, State};
use super::event_loop::Renderer;
use crossterm::cursor::{Hide, Show};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, BeginSynchronizedUpdate, EndSynchronizedUpdate,
    EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{execute, queue};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::io::{self, BufWriter, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

// What is switched on, so restoring undoes exactly that and a second restore does nothing.
static RAW_MODE: AtomicBool = AtomicBool::new(false);
static ALT_SCREEN: AtomicBool = AtomicBool::new(false);
static MOUSE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// Holds the terminal in console mode; dropping it restores the terminal.
#[derive(Debug)]
pub struct TerminalGuard {
    _private: (),
}

impl TerminalGuard {
    /// Switches the terminal to console mode. On failure, whatever was switched on is undone.
    pub fn enter(mouse: bool) -> io::Result<TerminalGuard> {
        install_panic_hook();
        let guard = TerminalGuard { _private: () };
        enable_raw_mode()?;
        RAW_MODE.store(true, Ordering::SeqCst);
        let mut out = io::stdout();
        execute!(out, EnterAlternateScreen, Hide)?;
        ALT_SCREEN.store(true, Ordering::SeqCst);
        if mouse {
            execute!(out, EnableMouseCapture)?;
            MOUSE.store(true, Ordering::SeqCst);
        }
        Ok(guard)
    }

    /// A ratatui terminal drawing on stdout through a buffer (one write per frame).
    pub fn renderer(&self) -> io::Result<CrosstermRenderer> {
        let backend = CrosstermBackend::new(BufWriter::with_capacity(64 * 1024, io::stdout()));
        Ok(CrosstermRenderer {
            terminal: Terminal::new(backend)?,
            fixed: None,
        })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if let Err(e) = restore() {
            tracing::warn!(error = %e, "could not fully restore the terminal");
        }
    }
}

/// Puts the terminal back as it was. Idempotent, needs no terminal handle (the panic hook
/// calls it), and undoes only what [`TerminalGuard::enter`] switched on.
pub fn restore() -> io::Result<()> {
    let mut out = io::stdout();
    let mut result = Ok(());
    let mut keep = |r: io::Result<()>| {
        if let Err(e) = r {
            if result.is_ok() {
                result = Err(e);
            }
        }
    };
    if MOUSE.swap(false, Ordering::SeqCst) {
        keep(execute!(out, DisableMouseCapture));
    }
    if ALT_SCREEN.swap(false, Ordering::SeqCst) {
        // A panic may strike mid-frame: end the synchronized update so the terminal paints.
        keep(execute!(
            out,
            EndSynchronizedUpdate,
            LeaveAlternateScreen,
            Show
        ));
    }
    if RAW_MODE.swap(false, Ordering::SeqCst) {
        keep(disable_raw_mode());
    }
    result
}

/// Restores the terminal before the previous panic hook prints, so the report is readable.
/// Installed once, after color-eyre's hook (which main installs first), and chained to it.
pub fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = restore();
            previous(info);
        }));
    });
}

/// Draws frames on a terminal, each in one synchronized update. `W` is stdout (buffered) in
/// the console; tests give it a shared byte buffer to see exactly what a frame writes.
pub struct CrosstermRenderer<W: Write = BufWriter<Stdout>> {
    terminal: Terminal<CrosstermBackend<W>>,
    /// Set for a fixed-size surface (tests); None follows the real terminal's size.
    fixed: Option<(u16, u16)>,
}

impl<W: Write> CrosstermRenderer<W> {
    /// A renderer writing to `writer` as a terminal of `size` (columns, rows).
    pub fn with_writer(writer: W, size: (u16, u16)) -> io::Result<Self> {
        let viewport = Viewport::Fixed(Rect::new(0, 0, size.0, size.1));
        Ok(CrosstermRenderer {
            terminal: Terminal::with_options(
                CrosstermBackend::new(writer),
                TerminalOptions { viewport },
            )?,
            fixed: Some(size),
        })
    }

    /// Shows the cursor again and lets go of the terminal. On a terminal that is gone (SSH
    /// dropped) ratatui's own drop would print an error to that dead terminal, and a failed
    /// print panics: so the handle is released without its drop. Only done at exit.
    pub fn close(mut self) {
        if self.terminal.show_cursor().is_err() {
            tracing::debug!("terminal gone: releasing it without restoring the cursor");
            std::mem::forget(self);
        }
    }
}

impl<W: Write> Renderer for CrosstermRenderer<W> {
    fn draw(&mut self, state: &State) -> io::Result<()> {
        queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        self.terminal.draw(|frame| view(state, frame))?;
        queue!(self.terminal.backend_mut(), EndSynchronizedUpdate)?;
        self.terminal.backend_mut().flush()
    }

    fn clear(&mut self) -> io::Result<()> {
        self.terminal.clear()
    }

    fn size(&self) -> io::Result<(u16, u16)> {
        if let Some(size) = self.fixed {
            return Ok(size);
        }
        let s = self.terminal.size()?;
        Ok((s.width, s.height))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    static PREVIOUS_HOOK_RAN: AtomicBool = AtomicBool::new(false);
    static RESTORED_BEFORE_PREVIOUS_HOOK: AtomicBool = AtomicBool::new(false);

    #[test]
    fn the_panic_hook_restores_first_then_chains() {
        // Stand-in for color-eyre's hook: it must still run, after the terminal is restored.
        std::panic::set_hook(Box::new(|_| {
            RESTORED_BEFORE_PREVIOUS_HOOK.store(!RAW_MODE.load(Ordering::SeqCst), Ordering::SeqCst);
            PREVIOUS_HOOK_RAN.store(true, Ordering::SeqCst);
        }));
        install_panic_hook();
        // As if the console were running (raw mode is not really on: restoring it is a no-op).
        RAW_MODE.store(true, Ordering::SeqCst);
        let result = std::panic::catch_unwind(|| panic!("boom"));
        let _ = std::panic::take_hook();
        assert!(result.is_err());
        assert!(
            PREVIOUS_HOOK_RAN.load(Ordering::SeqCst),
            "the previous hook was not chained"
        );
        assert!(RESTORED_BEFORE_PREVIOUS_HOOK.load(Ordering::SeqCst));
        assert!(!RAW_MODE.load(Ordering::SeqCst));
        // A second restore has nothing left to undo.
        assert!(restore().is_ok());
    }
}
