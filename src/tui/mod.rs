//! The terminal console (`kubemaas` with no subcommand).
pub mod app;
pub mod columns;
pub mod event_loop;
pub mod filter;
pub mod input;
pub mod keymap;
pub mod launch;
pub mod machines;
pub mod screens;
pub mod source;
pub mod term;
pub mod theme;

pub use launch::{run_console, ConsoleError, ConsoleOptions};
