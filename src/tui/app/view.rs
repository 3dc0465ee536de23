//! `view`: draws the state. Pure: no I/O, no mutation, no clones of the inventory.

use super::state::{Connection, ScreenId, State};
use crate::tui::screens;
use ratatui::layout::{Constraint, Layout};
use ratatui::Frame;

/// Below this the console shows only a line asking for a bigger terminal.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

/// Header line + footer line + the table's two borders + its column header.
const TABLE_CHROME_ROWS: u16 = 5;

/// How many table rows fit in a terminal of `size` (columns, rows). Shared by `update` (to
/// keep the selection in view when moving) and the table view (to draw that window).
pub fn table_rows((_, height): (u16, u16)) -> usize {
    usize::from(height.saturating_sub(TABLE_CHROME_ROWS))
}

pub fn view(state: &State, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        screens::too_small::render(state, frame, area);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    screens::header::render(state, frame, header);
    match (&state.connection, state.screen) {
        (_, _) if state.wizard.is_some() => {
            if let Some(w) = &state.wizard {
                screens::wizard::render(state, w, frame, body);
            }
        }
        // Without a MAAS only the inventory has nothing to show: the engine's screens and the
        // Gateways screen (pair one, then work through it) still work.
        (Connection::NotConfigured, ScreenId::Machines) => {
            screens::welcome::render(state, frame, body)
        }
        (_, ScreenId::Machines) => screens::machines::render(state, frame, body),
        (_, ScreenId::Clusters) => screens::clusters::render(state, frame, body),
        (_, ScreenId::ClusterDetail) => screens::cluster_detail::render(state, frame, body),
        (_, ScreenId::Events) => screens::events::render(state, frame, body),
        (_, ScreenId::Profiles) => screens::profiles::render(state, frame, body),
        (_, ScreenId::Accounts) => screens::accounts::render(state, frame, body),
        (_, ScreenId::Gateways) => screens::gateways::render(state, frame, body),
    }
    screens::footer::render(state, frame, footer);
    if let Some(dialog) = &state.confirm {
        crate::tui::widgets::confirm::render(dialog, &state.theme, frame, body);
    }
    if state.help_open {
        screens::help::render(state, frame, body);
    }
}
