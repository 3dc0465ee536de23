//! The state of the Profiles and Cloud accounts screens: what was loaded, the selection, and
//! (profiles) the open read-only detail with its scroll.

use crate::model::ClusterProfile;
use crate::tui::account_check::AccountSummary;

/// Loading, loaded, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ListLoad {
    #[default]
    NotLoaded,
    Loading,
    Loaded,
    Failed(String),
}

#[derive(Debug, Clone, Default)]
pub struct ProfilesView {
    pub list: Vec<ClusterProfile>,
    pub load: ListLoad,
    pub selected: usize,
    /// The detail of the selected profile is open.
    pub detail: bool,
    pub detail_scroll: u16,
}

impl ProfilesView {
    pub fn selected_profile(&self) -> Option<&ClusterProfile> {
        self.list.get(self.selected)
    }

    /// Moves the selection (list) or scrolls (detail); whether anything moved.
    pub fn move_by(&mut self, by: isize) -> bool {
        if self.detail {
            let before = self.detail_scroll;
            self.detail_scroll = self.detail_scroll.saturating_add_signed(by as i16);
            return before != self.detail_scroll;
        }
        let before = self.selected;
        let last = self.list.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(by).min(last);
        before != self.selected
    }
}

#[derive(Debug, Clone, Default)]
pub struct AccountsView {
    pub rows: Vec<AccountSummary>,
    pub load: ListLoad,
    pub selected: usize,
}

impl AccountsView {
    pub fn selected_row(&self) -> Option<&AccountSummary> {
        self.rows.get(self.selected)
    }

    pub fn names(&self) -> Vec<String> {
        self.rows.iter().map(|r| r.name.clone()).collect()
    }

    pub fn move_by(&mut self, by: isize) -> bool {
        let before = self.selected;
        let last = self.rows.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(by).min(last);
        before != self.selected
    }
}
