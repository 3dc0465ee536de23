//! The pieces of the console's screen, each a pure function of the state.

pub mod accounts;
pub mod cluster_detail;
pub mod clusters;
pub mod events;
pub mod footer;
pub mod gateway_resize;
pub mod gateways;
pub mod header;
pub mod help;
pub mod machines;
pub mod profiles;
pub mod too_small;
pub mod welcome;
pub mod wizard;

use crate::tui::app::State;
use ratatui::text::Span;

/// The mark a screen's title carries while the gateway in use does not answer: what it shows
/// is that gateway's last data.
pub fn stale_mark(state: &State) -> Option<Span<'static>> {
    state
        .gateways
        .stale()
        .then(|| Span::styled("stale ", state.theme.danger))
}
