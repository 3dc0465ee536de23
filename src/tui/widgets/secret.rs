//! A secret typed into the console (a MAAS API key). It is never shown: the screen draws one
//! `•` per character, `Debug` prints only the length, and there is no `Display`, so neither a
//! snapshot, a log line nor a `{:?}` of the state can carry the key.

use std::fmt;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret itself, for the one place that needs it (parsing it into an `ApiKey`).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn push(&mut self, c: char) {
        self.0.push(c);
    }

    pub fn pop(&mut self) -> bool {
        self.0.pop().is_some()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many characters were typed (what the mask shows).
    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    /// The mask drawn on screen.
    pub fn mask(&self) -> String {
        "•".repeat(self.len())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} chars)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_mask_never_show_the_text() {
        let s = Secret::new("abc:def:ghi");
        assert_eq!(format!("{s:?}"), "Secret(11 chars)");
        assert_eq!(s.mask(), "•••••••••••");
        assert_eq!(s.expose(), "abc:def:ghi");
    }
}
