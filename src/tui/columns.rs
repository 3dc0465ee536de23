//! Table columns that declare how much they matter, so narrow terminals drop the least
//! important ones (rightmost first among equals) instead of squeezing every column unreadable.

/// At or above this width every column is shown.
pub const FULL_WIDTH: u16 = 120;

/// Spacing between two columns.
pub const COLUMN_SPACING: u16 = 1;

/// How a column wants to be laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSpec {
    pub title: &'static str,
    /// Cells wider than this are truncated (a flexible column takes at least this).
    pub width: u16,
    /// 0 = always shown; higher numbers drop first.
    pub priority: u8,
    /// Takes the width left over (tags, messages).
    pub flexible: bool,
    /// Numbers align right.
    pub right_aligned: bool,
}

/// The indexes of the columns to show in `width` cells, in their declared order.
pub fn fit(columns: &[ColumnSpec], width: u16) -> Vec<usize> {
    let mut shown: Vec<usize> = (0..columns.len()).collect();
    if width >= FULL_WIDTH {
        return shown;
    }
    let needed = |shown: &[usize]| -> u32 {
        let cells: u32 = shown.iter().map(|&i| u32::from(columns[i].width)).sum();
        cells + u32::from(COLUMN_SPACING) * shown.len().saturating_sub(1) as u32
    };
    while needed(&shown) > u32::from(width) {
        // The least important column; among equals the rightmost.
        let drop = shown
            .iter()
            .enumerate()
            .filter(|(_, &i)| columns[i].priority > 0)
            .max_by_key(|(pos, &i)| (columns[i].priority, *pos))
            .map(|(pos, _)| pos);
        match drop {
            Some(pos) => {
                shown.remove(pos);
            }
            // Only must-have columns left: they are truncated by the layout.
            None => break,
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(width: u16, priority: u8) -> ColumnSpec {
        ColumnSpec {
            title: "x",
            width,
            priority,
            flexible: false,
            right_aligned: false,
        }
    }

    #[test]
    fn drops_least_important_rightmost_first() {
        let cols = [col(20, 0), col(10, 2), col(10, 1), col(10, 2)];
        assert_eq!(fit(&cols, 200), vec![0, 1, 2, 3]);
        assert_eq!(fit(&cols, 53), vec![0, 1, 2, 3]);
        assert_eq!(fit(&cols, 52), vec![0, 1, 2]);
        assert_eq!(fit(&cols, 40), vec![0, 2]);
        assert_eq!(fit(&cols, 25), vec![0]);
        assert_eq!(fit(&cols, 5), vec![0]);
    }
}
