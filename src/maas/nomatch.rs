//! Reads MAAS's 409 answer to an allocation nothing satisfies, so the operator learns WHICH
//! constraints were asked. MAAS 3.x writes
//! `No available machine matches constraints: [('cpu_count', ['4']), ('mem', ['8192'])]
//! (resolved to "cpu_count=4.0 mem=8192.0")` — a Python repr of the request's parameters, then
//! the form's resolved view; MAAS 2.x wrote only `… constraints: mem=3584.0 name=x.maas`.
//! Other texts: `No machine available.` and `No machine with system ID <id> available.`.

/// What a no-match text says: the constraints MAAS saw and its resolved summary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoMatchText {
    /// `(name, values)` in request order, parsed from the Python repr (empty if MAAS gave none).
    pub constraints: Vec<(String, Vec<String>)>,
    /// MAAS's `name=value …` view, if given.
    pub resolved: Option<String>,
}

const PREFIX: &str = "No available machine matches constraints:";

/// Parses a no-match text; `None` if it is not one of MAAS's no-match messages.
pub fn parse(text: &str) -> Option<NoMatchText> {
    let text = text.trim();
    if text.starts_with("No machine available") || text.starts_with("No machine with system ID") {
        return Some(NoMatchText::default());
    }
    let rest = text.strip_prefix(PREFIX)?.trim();
    if rest.starts_with('[') {
        let mut parser = Repr::new(rest);
        let constraints = parser.pairs().unwrap_or_default();
        let resolved = rest
            .find("(resolved to \"")
            .map(|i| &rest[i + "(resolved to \"".len()..])
            .and_then(|r| r.rfind("\")").map(|end| r[..end].to_string()));
        Some(NoMatchText {
            constraints,
            resolved,
        })
    } else {
        // MAAS 2.x: only the resolved form.
        Some(NoMatchText {
            constraints: Vec::new(),
            resolved: (!rest.is_empty()).then(|| rest.to_string()),
        })
    }
}

/// A tiny reader for the one Python-repr shape MAAS prints: `[('k', ['v', …]), …]`.
struct Repr<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> Repr<'a> {
    fn new(s: &'a str) -> Self {
        Repr {
            chars: s.chars().peekable(),
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.chars.next();
        }
    }

    fn eat(&mut self, want: char) -> Option<()> {
        self.skip_ws();
        (self.chars.next()? == want).then_some(())
    }

    fn peek_is(&mut self, want: char) -> bool {
        self.skip_ws();
        self.chars.peek() == Some(&want)
    }

    /// A Python string literal in single or double quotes, with backslash escapes.
    fn string(&mut self) -> Option<String> {
        self.skip_ws();
        let quote = self.chars.next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let mut out = String::new();
        loop {
            match self.chars.next()? {
                '\\' => out.push(self.chars.next()?),
                c if c == quote => return Some(out),
                c => out.push(c),
            }
        }
    }

    fn pairs(&mut self) -> Option<Vec<(String, Vec<String>)>> {
        self.eat('[')?;
        let mut out = Vec::new();
        while !self.peek_is(']') {
            self.eat('(')?;
            let name = self.string()?;
            self.eat(',')?;
            let mut values = Vec::new();
            if self.peek_is('[') {
                self.eat('[')?;
                while !self.peek_is(']') {
                    values.push(self.string()?);
                    if self.peek_is(',') {
                        self.eat(',')?;
                    }
                }
                self.eat(']')?;
            } else {
                values.push(self.string()?);
            }
            self.eat(')')?;
            out.push((name, values));
            if self.peek_is(',') {
                self.eat(',')?;
            }
        }
        self.eat(']')?;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maas_3_text() {
        let t = parse(
            "No available machine matches constraints: [('cpu_count', ['4']), ('mem', ['8192']), \
             ('tags', ['gpu', 'ssd'])] (resolved to \"cpu_count=4.0 mem=8192.0 tags=gpu,ssd\")",
        )
        .unwrap();
        assert_eq!(
            t.constraints,
            vec![
                ("cpu_count".to_string(), vec!["4".to_string()]),
                ("mem".to_string(), vec!["8192".to_string()]),
                (
                    "tags".to_string(),
                    vec!["gpu".to_string(), "ssd".to_string()]
                ),
            ]
        );
        assert_eq!(
            t.resolved.as_deref(),
            Some("cpu_count=4.0 mem=8192.0 tags=gpu,ssd")
        );
    }

    #[test]
    fn parses_maas_2_text_and_plain_texts() {
        let t = parse("No available machine matches constraints: mem=3584.0 name=x.maas").unwrap();
        assert!(t.constraints.is_empty());
        assert_eq!(t.resolved.as_deref(), Some("mem=3584.0 name=x.maas"));
        assert_eq!(parse("No machine available."), Some(NoMatchText::default()));
        assert!(parse("No machine with system ID abc123 available.").is_some());
        assert_eq!(parse("Invalid transition: Broken -> Allocated."), None);
    }

    #[test]
    fn malformed_repr_does_not_panic() {
        for s in [
            "No available machine matches constraints: [('cpu",
            "No available machine matches constraints: [(",
            "No available machine matches constraints: [",
            "No available machine matches constraints: [('a', ['b'",
        ] {
            let t = parse(s).unwrap();
            assert!(t.constraints.is_empty(), "{s}");
        }
    }
}
