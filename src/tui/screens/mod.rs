//! The pieces of the console's screen, each a pure function of the state.

pub mod footer;
pub mod header;
pub mod help;
pub mod machines;
pub mod placeholder;
pub mod too_small;
pub mod welcome;
