//! The Machines table's model: rows, the filtered and sorted view of them (as indexes, so a
//! frame never clones the list), the selection and the scroll offset.

use super::columns::ColumnSpec;
use super::filter::Filter;
use super::source::MachineRow;
use std::cmp::Ordering;

/// The columns of the Machines table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineColumn {
    Hostname,
    Status,
    Zone,
    Pool,
    Cores,
    Memory,
    Disks,
    Tags,
    Owner,
}

impl MachineColumn {
    pub const ALL: [MachineColumn; 9] = [
        MachineColumn::Hostname,
        MachineColumn::Status,
        MachineColumn::Zone,
        MachineColumn::Pool,
        MachineColumn::Cores,
        MachineColumn::Memory,
        MachineColumn::Disks,
        MachineColumn::Tags,
        MachineColumn::Owner,
    ];

    pub fn spec(self) -> ColumnSpec {
        let (title, width, priority, flexible, right_aligned) = match self {
            MachineColumn::Hostname => ("HOSTNAME", 18, 0, false, false),
            MachineColumn::Status => ("STATUS", 17, 0, false, false),
            MachineColumn::Zone => ("ZONE", 10, 2, false, false),
            MachineColumn::Pool => ("POOL", 10, 3, false, false),
            MachineColumn::Cores => ("CORES", 5, 1, false, true),
            MachineColumn::Memory => ("MEM GiB", 7, 1, false, true),
            MachineColumn::Disks => ("DISKS", 13, 4, false, false),
            MachineColumn::Tags => ("TAGS", 12, 5, true, false),
            MachineColumn::Owner => ("OWNER", 10, 4, false, false),
        };
        ColumnSpec {
            title,
            width,
            priority,
            flexible,
            right_aligned,
        }
    }

    pub fn specs() -> [ColumnSpec; 9] {
        MachineColumn::ALL.map(MachineColumn::spec)
    }

    /// The cell text of a row in this column.
    pub fn text(self, row: &MachineRow) -> String {
        match self {
            MachineColumn::Hostname => row.hostname.clone(),
            MachineColumn::Status => row.status.label().to_string(),
            MachineColumn::Zone => row.zone.clone(),
            MachineColumn::Pool => row.pool.clone(),
            MachineColumn::Cores => row.cores.to_string(),
            MachineColumn::Memory => format!("{:.0}", row.memory_gib()),
            MachineColumn::Disks => row.disks_label(),
            MachineColumn::Tags => row.tags.join(","),
            // A kubemaas cluster's machine shows the cluster; others their MAAS owner.
            MachineColumn::Owner => match (&row.cluster, &row.owner) {
                (Some(cluster), _) => format!("⎈{cluster}"),
                (None, Some(owner)) => owner.clone(),
                (None, None) => "-".into(),
            },
        }
    }

    fn compare(self, a: &MachineRow, b: &MachineRow) -> Ordering {
        match self {
            MachineColumn::Hostname => a.hostname.cmp(&b.hostname),
            MachineColumn::Status => a.status.label().cmp(b.status.label()),
            MachineColumn::Zone => a.zone.cmp(&b.zone),
            MachineColumn::Pool => a.pool.cmp(&b.pool),
            MachineColumn::Cores => a.cores.cmp(&b.cores),
            MachineColumn::Memory => a.memory_mib.cmp(&b.memory_mib),
            MachineColumn::Disks => a.disks_total_gb().cmp(&b.disks_total_gb()),
            MachineColumn::Tags => a.tags.cmp(&b.tags),
            MachineColumn::Owner => (&a.cluster, &a.owner).cmp(&(&b.cluster, &b.owner)),
        }
    }
}

/// How the table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: MachineColumn,
    pub descending: bool,
}

/// Whether the inventory has been loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadState {
    Loading,
    Loaded,
    /// The last load failed; rows from an earlier load (if any) are kept and shown.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct MachinesTable {
    rows: Vec<MachineRow>,
    /// Lowercase searchable text of each row, built once per load (not per key or frame).
    haystacks: Vec<String>,
    /// Indexes into `rows` that pass the filter, in sort order.
    visible: Vec<usize>,
    filter_text: String,
    filter: Filter,
    pub sort: Sort,
    /// Position in `visible`.
    selected: usize,
    /// First visible position drawn.
    offset: usize,
    pub load: LoadState,
}

impl Default for MachinesTable {
    fn default() -> Self {
        MachinesTable {
            rows: Vec::new(),
            haystacks: Vec::new(),
            visible: Vec::new(),
            filter_text: String::new(),
            filter: Filter::default(),
            sort: Sort {
                column: MachineColumn::Hostname,
                descending: false,
            },
            selected: 0,
            offset: 0,
            load: LoadState::Loading,
        }
    }
}

impl MachinesTable {
    /// Replaces the rows; returns false (nothing to redraw) when they are unchanged. The
    /// selection stays on the same machine when it is still there.
    pub fn set_rows(&mut self, rows: Vec<MachineRow>) -> bool {
        let was_loaded = self.load == LoadState::Loaded;
        self.load = LoadState::Loaded;
        if rows == self.rows {
            return !was_loaded;
        }
        let selected_id = self.selected_row().map(|r| r.system_id.clone());
        self.haystacks = rows.iter().map(haystack).collect();
        self.rows = rows;
        self.rebuild();
        if let Some(id) = selected_id {
            if let Some(pos) = self
                .visible
                .iter()
                .position(|&i| self.rows[i].system_id == id)
            {
                self.selected = pos;
            }
        }
        self.clamp();
        true
    }

    /// Records a failed load; returns whether that changes what is shown.
    pub fn set_error(&mut self, message: String) -> bool {
        let new = LoadState::Failed(message);
        if self.load == new {
            return false;
        }
        self.load = new;
        true
    }

    pub fn filter_text(&self) -> &str {
        &self.filter_text
    }

    /// Applies a new filter text; the selection goes back to the top.
    pub fn set_filter(&mut self, text: &str) {
        if text == self.filter_text {
            return;
        }
        self.filter_text = text.to_string();
        self.filter = Filter::parse(text);
        self.rebuild();
        self.selected = 0;
        self.offset = 0;
    }

    /// Sorts by the next column (wrapping), ascending.
    pub fn sort_next(&mut self) {
        let all = MachineColumn::ALL;
        let pos = all.iter().position(|c| *c == self.sort.column).unwrap_or(0);
        self.sort = Sort {
            column: all[(pos + 1) % all.len()],
            descending: false,
        };
        self.resort();
    }

    pub fn sort_reverse(&mut self) {
        self.sort.descending = !self.sort.descending;
        self.resort();
    }

    fn resort(&mut self) {
        let id = self.selected_row().map(|r| r.system_id.clone());
        self.rebuild();
        self.selected = id
            .and_then(|id| {
                self.visible
                    .iter()
                    .position(|&i| self.rows[i].system_id == id)
            })
            .unwrap_or(0);
        self.clamp();
    }

    fn rebuild(&mut self) {
        let filter = &self.filter;
        let mut visible: Vec<usize> = (0..self.rows.len())
            .filter(|&i| filter.matches(&self.haystacks[i]))
            .collect();
        let sort = self.sort;
        let rows = &self.rows;
        visible.sort_by(|&a, &b| {
            // Hostname breaks ties so equal keys keep a stable, meaningful order.
            let ord = sort
                .column
                .compare(&rows[a], &rows[b])
                .then_with(|| rows[a].hostname.cmp(&rows[b].hostname));
            if sort.descending {
                ord.reverse()
            } else {
                ord
            }
        });
        self.visible = visible;
    }

    fn clamp(&mut self) {
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
        self.offset = self.offset.min(self.selected);
    }

    /// Moves the selection by `delta` rows and keeps it inside a window of `height` rows.
    pub fn move_by(&mut self, delta: isize, height: usize) {
        let last = self.visible.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
        self.scroll_into_view(height);
    }

    pub fn select_first(&mut self, height: usize) {
        self.selected = 0;
        self.scroll_into_view(height);
    }

    pub fn select_last(&mut self, height: usize) {
        self.selected = self.visible.len().saturating_sub(1);
        self.scroll_into_view(height);
    }

    /// Adjusts the offset so the selection is visible in `height` rows.
    pub fn scroll_into_view(&mut self, height: usize) {
        self.offset = visible_offset(self.offset, self.selected, height);
    }

    pub fn total(&self) -> usize {
        self.rows.len()
    }

    pub fn shown(&self) -> usize {
        self.visible.len()
    }

    pub fn selected(&self) -> usize {
        self.selected
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn selected_row(&self) -> Option<&MachineRow> {
        self.visible.get(self.selected).map(|&i| &self.rows[i])
    }

    /// The rows of a window of the view: (position in the view, row). Only these are rendered.
    pub fn window(
        &self,
        offset: usize,
        height: usize,
    ) -> impl Iterator<Item = (usize, &MachineRow)> {
        self.visible
            .iter()
            .enumerate()
            .skip(offset)
            .take(height)
            .map(|(pos, &i)| (pos, &self.rows[i]))
    }
}

/// The first row to draw so that `selected` is inside a window of `height` rows starting as
/// close to `offset` as possible. Used by update (to store) and view (for a resized terminal).
pub fn visible_offset(offset: usize, selected: usize, height: usize) -> usize {
    let height = height.max(1);
    if selected < offset {
        selected
    } else if selected >= offset + height {
        selected + 1 - height
    } else {
        offset
    }
}

fn haystack(row: &MachineRow) -> String {
    let mut s = String::with_capacity(96);
    for part in [
        row.hostname.as_str(),
        row.system_id.as_str(),
        row.status.label(),
        row.zone.as_str(),
        row.pool.as_str(),
        row.owner.as_deref().unwrap_or(""),
        row.cluster.as_deref().unwrap_or(""),
    ] {
        s.push_str(part);
        s.push(' ');
    }
    for t in &row.tags {
        s.push_str(t);
        s.push(' ');
    }
    s.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_column_names_the_kubemaas_cluster_first() {
        let mut row = MachineRow {
            system_id: "abc123".into(),
            hostname: "h".into(),
            status: crate::maas::NodeStatus::Deployed,
            zone: "z".into(),
            pool: "p".into(),
            cores: 4,
            memory_mib: 8192,
            disks_gb: vec![],
            tags: vec![],
            owner: Some("admin".into()),
            cluster: None,
        };
        assert_eq!(MachineColumn::Owner.text(&row), "admin");
        row.cluster = Some("web".into());
        assert_eq!(MachineColumn::Owner.text(&row), "⎈web");
        assert!(
            haystack(&row).contains("web"),
            "the filter finds machines by cluster"
        );
        row.owner = None;
        row.cluster = None;
        assert_eq!(MachineColumn::Owner.text(&row), "-");
    }
}
