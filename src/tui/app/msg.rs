//! What can happen to the console, and what it asks the event loop to do.

use crate::tui::source::{MaasIdentity, MachineRow, SourceError};
use crossterm::event::KeyEvent;

/// Everything that changes the state arrives as one of these.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// The mouse wheel turned (with `--mouse`): positive scrolls down, in rows.
    Scroll(i8),
    /// The terminal is now this many columns and rows.
    Resize(u16, u16),
    /// The 1 Hz clock: periodic refresh, flash expiry.
    Tick,
    /// The answer to [`Cmd::Identify`].
    Identified(Result<MaasIdentity, SourceError>),
    /// The answer to [`Cmd::LoadMachines`].
    MachinesLoaded(Result<Vec<MachineRow>, SourceError>),
    /// Leave now (a signal: SIGTERM, SIGHUP from a dropped SSH session; or input closed).
    Quit,
}

/// Work `update` asks for; the event loop runs it on a task and answers with a [`Msg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Identify,
    LoadMachines,
}
