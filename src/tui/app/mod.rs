//! The console as The Elm Architecture: every change arrives as a [`Msg`], [`update`] changes
//! the [`State`] and returns [`Cmd`]s (work for the event loop: loads), and [`view`] draws the
//! state as a pure function. Nothing here does I/O, so all of it is tested without a terminal.

mod cluster_update;
pub mod gateway_resize;
pub mod gateways;
pub mod lists;
mod msg;
pub mod refresh;
mod state;
mod update;
mod view;
mod wizard_update;

pub use cluster_update::parse_size;
pub use msg::{Cmd, Msg};
pub use state::{Connection, Flash, FlashLevel, Mode, ScreenId, State, StateOptions};
pub use update::{init, update};
pub use view::{table_rows, view, MIN_HEIGHT, MIN_WIDTH};
