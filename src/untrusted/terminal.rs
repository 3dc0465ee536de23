//! Text on its way to a terminal. MAAS error bodies, spec names, gateway.yaml values and the
//! messages of etcd or Kubernetes are not kubemaas's: printed raw, an escape sequence in them
//! retitles the window (OSC 0), clears the screen (CSI 2J) or writes the operator's clipboard
//! (OSC 52). Every such string is shown with its control characters escaped (`\x1b`), so the
//! operator sees what was sent and the terminal interprets none of it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Text with every control character escaped except newline and tab, which kubemaas's own
/// multi-line messages use: for whole messages and blocks of output.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape(text, Keep::LineBreaks)
}

/// Text with every control character escaped, newlines and tabs too: for what must stay on
/// one line (a table cell, a footer message), where a newline would forge another row.
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, Keep::Nothing)
}

/// A `Display` wrapper that prints its text through [`terminal_safe`].
pub struct TerminalSafe<'a>(pub &'a str);

impl std::fmt::Display for TerminalSafe<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&terminal_safe(self.0))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    LineBreaks,
    Nothing,
}

fn escape(text: &str, keep: Keep) -> Cow<'_, str> {
    let unsafe_char = |c: char| needs_escape(c, keep);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char, keep: Keep) -> bool {
    if keep == Keep::LineBreaks && (c == '\n' || c == '\t') {
        return false;
    }
    // C0, DEL and C1 (U+0080–U+009F: 0x9b is a one-byte CSI on some terminals), and the
    // bidirectional overrides and isolates, which reorder what the operator reads.
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OSC 0 (window title), a screen clear, and OSC 52 (clipboard write).
    const HOSTILE: &str = "boom\x1b]0;owned\x07\x1b[2J\x1b[H\x1b]52;c;ZWNobyBwd25lZA==\x07 done";

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        let shown = terminal_safe(HOSTILE);
        assert!(
            !shown.contains('\x1b') && !shown.contains('\x07'),
            "{shown:?}"
        );
        assert_eq!(
            shown,
            "boom\\x1b]0;owned\\x07\\x1b[2J\\x1b[H\\x1b]52;c;ZWNobyBwd25lZA==\\x07 done"
        );
    }

    #[test]
    fn line_breaks_are_kept_in_messages_and_escaped_on_one_line() {
        assert_eq!(terminal_safe("a\n\tb\r"), "a\n\tb\\x0d");
        assert_eq!(one_line("a\nb\tc"), "a\\x0ab\\x09c");
    }

    #[test]
    fn c1_controls_and_bidi_overrides_are_escaped() {
        assert_eq!(terminal_safe("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(terminal_safe("abc\u{202e}fed"), "abc\\u{202e}fed");
    }

    #[test]
    fn ordinary_text_is_untouched_and_not_copied() {
        let text = "cluster prod: Running (3/3 ready) — ü ✓";
        assert!(matches!(terminal_safe(text), Cow::Borrowed(_)));
        assert!(matches!(one_line(text), Cow::Borrowed(_)));
    }

    #[test]
    fn a_wrapper_displays_the_safe_text() {
        assert_eq!(TerminalSafe("x\x1by").to_string(), "x\\x1by");
    }
}
