//! A small multi-line editor for YAML (pack value overrides): lines, a cursor, typing,
//! Enter / Backspace / Delete, arrows, Home / End. Tab is left to the form (it moves between
//! fields), so indentation is typed with spaces, as YAML wants anyway.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextArea {
    lines: Vec<String>,
    /// (line, character column).
    row: usize,
    col: usize,
}

impl Default for TextArea {
    fn default() -> Self {
        TextArea::new("")
    }
}

/// What a key did to the text area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaOutcome {
    Edited,
    Moved,
    /// ↑ on the first line or ↓ on the last: the form may move to another field.
    LeftTop,
    LeftBottom,
    Ignored,
}

impl TextArea {
    pub fn new(text: &str) -> Self {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.is_empty() {
            lines.push(String::new());
        }
        TextArea {
            lines,
            row: 0,
            col: 0,
        }
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    fn line_len(&self, row: usize) -> usize {
        self.lines.get(row).map_or(0, |l| l.chars().count())
    }

    fn byte_at(&self, row: usize, col: usize) -> usize {
        let line = &self.lines[row];
        line.char_indices().nth(col).map_or(line.len(), |(b, _)| b)
    }

    pub fn handle(&mut self, key: KeyEvent) -> AreaOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char(c) if !ctrl => {
                let at = self.byte_at(self.row, self.col);
                self.lines[self.row].insert(at, c);
                self.col += 1;
                AreaOutcome::Edited
            }
            KeyCode::Enter => {
                let at = self.byte_at(self.row, self.col);
                let rest = self.lines[self.row].split_off(at);
                // Keep the indentation of the line being split: YAML nests by it.
                let indent: String = self.lines[self.row]
                    .chars()
                    .take_while(|c| *c == ' ')
                    .collect();
                self.row += 1;
                self.col = indent.chars().count();
                self.lines.insert(self.row, format!("{indent}{rest}"));
                AreaOutcome::Edited
            }
            KeyCode::Backspace => {
                if self.col > 0 {
                    let at = self.byte_at(self.row, self.col - 1);
                    self.lines[self.row].remove(at);
                    self.col -= 1;
                } else if self.row > 0 {
                    let line = self.lines.remove(self.row);
                    self.row -= 1;
                    self.col = self.line_len(self.row);
                    self.lines[self.row].push_str(&line);
                } else {
                    return AreaOutcome::Ignored;
                }
                AreaOutcome::Edited
            }
            KeyCode::Delete => {
                if self.col < self.line_len(self.row) {
                    let at = self.byte_at(self.row, self.col);
                    self.lines[self.row].remove(at);
                } else if self.row + 1 < self.lines.len() {
                    let next = self.lines.remove(self.row + 1);
                    self.lines[self.row].push_str(&next);
                } else {
                    return AreaOutcome::Ignored;
                }
                AreaOutcome::Edited
            }
            KeyCode::Left if self.col > 0 => {
                self.col -= 1;
                AreaOutcome::Moved
            }
            KeyCode::Right if self.col < self.line_len(self.row) => {
                self.col += 1;
                AreaOutcome::Moved
            }
            KeyCode::Home => {
                self.col = 0;
                AreaOutcome::Moved
            }
            KeyCode::End => {
                self.col = self.line_len(self.row);
                AreaOutcome::Moved
            }
            KeyCode::Up if self.row == 0 => AreaOutcome::LeftTop,
            KeyCode::Up => {
                self.row -= 1;
                self.col = self.col.min(self.line_len(self.row));
                AreaOutcome::Moved
            }
            KeyCode::Down if self.row + 1 >= self.lines.len() => AreaOutcome::LeftBottom,
            KeyCode::Down => {
                self.row += 1;
                self.col = self.col.min(self.line_len(self.row));
                AreaOutcome::Moved
            }
            _ => AreaOutcome::Ignored,
        }
    }

    /// The first line to show so the cursor's line is inside a window of `height` lines.
    pub fn scroll_for(&self, height: usize) -> usize {
        if height == 0 {
            return self.row;
        }
        self.row.saturating_sub(height - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn typing_newlines_keep_indent_and_backspace_joins() {
        let mut t = TextArea::new("calico:");
        t.handle(k(KeyCode::End));
        t.handle(k(KeyCode::Enter));
        for c in "  mtu: 1400".chars() {
            t.handle(k(KeyCode::Char(c)));
        }
        t.handle(k(KeyCode::Enter));
        assert_eq!(t.cursor(), (2, 2), "the new line is indented like the last");
        t.handle(k(KeyCode::Backspace));
        t.handle(k(KeyCode::Backspace));
        t.handle(k(KeyCode::Backspace));
        assert_eq!(t.text(), "calico:\n  mtu: 1400");
        assert_eq!(t.handle(k(KeyCode::Down)), AreaOutcome::LeftBottom);
        t.handle(k(KeyCode::Up));
        assert_eq!(t.handle(k(KeyCode::Up)), AreaOutcome::LeftTop);
        assert_eq!(t.scroll_for(1), 0);
    }

    #[test]
    fn multibyte_characters_are_edited_whole() {
        let mut t = TextArea::new("é");
        t.handle(k(KeyCode::End));
        t.handle(k(KeyCode::Char('ü')));
        t.handle(k(KeyCode::Left));
        t.handle(k(KeyCode::Backspace));
        assert_eq!(t.text(), "ü");
    }
}
