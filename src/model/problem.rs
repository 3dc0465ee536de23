//! One thing wrong with what an operator wrote: where (a field path from the document root, like
//! `spec.nodePools[1].minMemoryMiB`) and what (what is wrong and how to fix it). Validators return
//! every problem they find as a list, so an operator fixes a spec in one pass instead of one
//! error per attempt.

use serde::Serialize;
use std::fmt;

/// A problem at a field of a document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    /// The field, from the document root: `metadata.name`, `spec.nodePools[1].taints[0].effect`.
    pub path: String,
    /// What is wrong and how to fix it, in an operator's words.
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A list of problems, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn new() -> Self {
        Problems(Vec::new())
    }

    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(path, message));
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Problem>) {
        self.0.extend(other);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }

    /// `Ok(())` when there is nothing wrong.
    pub fn into_result(self) -> Result<(), Problems> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} problem{}:", if n == 1 { "" } else { "s" })?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl Problems {
    /// The list as [`Display`](fmt::Display) shows it, but at most `max` problems, the rest
    /// counted ("  ... and 19980 more"). For text that is stored and shown in one place (a
    /// cluster's reason in `cluster list`): a spec with 20,000 unknown tags must not make a
    /// 20,000-line reason.
    pub fn summarised(&self, max: usize) -> String {
        if self.0.len() <= max {
            return self.to_string();
        }
        let mut out = Problems(self.0[..max].to_vec()).to_string();
        // The head counts every problem, not just those listed.
        let n = self.0.len();
        if let Some(rest) = out.split_once('\n').map(|(_, rest)| rest.to_string()) {
            out = format!("{n} problems:\n{rest}");
        }
        out.push_str(&format!("  ... and {} more\n", n - max));
        out
    }
}

impl std::error::Error for Problems {}

impl IntoIterator for Problems {
    type Item = Problem;
    type IntoIter = std::vec::IntoIter<Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::Problems;

    #[test]
    fn a_long_list_is_summarised_with_the_count_of_the_rest() {
        let mut p = Problems::new();
        for i in 0..20_000 {
            p.push(
                format!("spec.nodePools[1].maasTags[{i}]"),
                "MAAS has no tag",
            );
        }
        let text = p.summarised(10);
        assert_eq!(text.lines().count(), 12, "{text}");
        assert!(text.starts_with("20000 problems:\n"), "{text}");
        assert!(text.ends_with("  ... and 19990 more\n"), "{text}");
        // A short list is shown whole, as Display shows it.
        let mut short = Problems::new();
        short.push("a", "b");
        assert_eq!(short.summarised(10), short.to_string());
    }
}
