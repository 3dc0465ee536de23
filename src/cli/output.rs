//! Output formats shared by every command: a table for people, JSON and YAML for scripts.

use clap::ValueEnum;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Yaml,
}

/// `println!` for a line that may carry text kubemaas did not write (MAAS's answers, names and
/// values from files, a gateway's messages): control characters are shown escaped, never sent
/// to the terminal. JSON lines pass through unchanged (serde_json escapes them already).
macro_rules! say {
    () => {
        println!()
    };
    ($($arg:tt)*) => {
        println!("{}", $crate::untrusted::terminal_safe(&format!($($arg)*)))
    };
}

/// `print!` with the same escaping as [`say!`].
macro_rules! say_inline {
    ($($arg:tt)*) => {
        print!("{}", $crate::untrusted::terminal_safe(&format!($($arg)*)))
    };
}

/// `eprintln!` with the same escaping as [`say!`].
macro_rules! say_err {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::untrusted::terminal_safe(&format!($($arg)*)))
    };
}

pub(crate) use {say, say_err, say_inline};

/// Prints a serialisable value as JSON or YAML (pretty, with a trailing newline).
pub fn print_structured<T: Serialize + ?Sized>(
    format: OutputFormat,
    value: &T,
) -> color_eyre::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Yaml => print!("{}", serde_yaml::to_string(value)?),
        OutputFormat::Table => unreachable!("tables are rendered by the command"),
    }
    Ok(())
}

/// A plain-text table: a header row and left-aligned columns sized to their widest cell.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(headers: I) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row. Cells often hold text from MAAS or a spec: each is kept on one line with its
    /// control characters escaped, so a cell can neither forge rows nor drive the terminal.
    pub fn row<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, cells: I) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| {
                    let c: String = c.into();
                    match crate::untrusted::one_line(&c) {
                        std::borrow::Cow::Borrowed(_) => c,
                        std::borrow::Cow::Owned(safe) => safe,
                    }
                })
                .collect(),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut l = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = cells.get(i).map(String::as_str).unwrap_or("");
                if i + 1 == cols {
                    l.push_str(cell);
                } else {
                    l.push_str(&format!("{cell:<width$}  "));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(&self.headers);
        for row in &self.rows {
            line(row);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_cannot_forge_rows_or_send_escapes() {
        let mut t = Table::new(["NAME", "REASON"]);
        t.row(["a", "bad\nb  forged\x1b]52;c;eA==\x07"]);
        assert_eq!(
            t.render(),
            "NAME  REASON\na     bad\\x0ab  forged\\x1b]52;c;eA==\\x07\n"
        );
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(["NAME", "STATUS"]);
        t.row(["a-long-name", "Ready"]);
        t.row(["b", "Deployed"]);
        assert_eq!(
            t.render(),
            "NAME         STATUS\na-long-name  Ready\nb            Deployed\n"
        );
    }
}
