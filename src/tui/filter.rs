//! The `/` filter every table shares: a case-insensitive substring, or with a leading `!` the
//! rows that do NOT contain it (k9s's negation).

/// A parsed filter. The empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    needle: String,
    negate: bool,
}

impl Filter {
    pub fn parse(text: &str) -> Filter {
        let text = text.trim();
        let (negate, needle) = match text.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, text),
        };
        Filter {
            needle: needle.to_lowercase(),
            negate: negate && !needle.is_empty(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.needle.is_empty()
    }

    /// Whether a row whose searchable text (already lowercase) is `haystack` passes.
    pub fn matches(&self, haystack: &str) -> bool {
        self.needle.is_empty() || haystack.contains(&self.needle) != self.negate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_and_negation() {
        let hay = "node-01 ready zone-a";
        assert!(Filter::parse("").matches(hay));
        assert!(Filter::parse("READY").matches(hay));
        assert!(!Filter::parse("deployed").matches(hay));
        assert!(!Filter::parse("!ready").matches(hay));
        assert!(Filter::parse("!deployed").matches(hay));
        // A lone "!" is not yet a filter: everything shows while the operator types.
        assert!(Filter::parse("!").matches(hay));
        assert!(Filter::parse("!").is_empty());
    }
}
