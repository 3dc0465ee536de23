//! Reading and writing versioned kubemaas documents (`apiVersion: kubemaas.io/v1`, `kind: …`).
//! A document is checked in two steps: first its header (so a wrong kind or version is named as
//! such, not as a confusing missing field), then the typed body with unknown keys refused, so a
//! typo'd key is reported with its path, line and column and, when close, the key meant.

use super::suggest;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The one document version this kubemaas reads and writes.
pub const API_VERSION: &str = "kubemaas.io/v1";

/// Why a document cannot be read. Each message says where and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error(
        "the document is empty: start it with `apiVersion: {API_VERSION}` and `kind: {expected}`"
    )]
    Empty { expected: &'static str },
    #[error("line {line}, column {column}: this is not valid YAML ({reason}): check the indentation and quoting around that place")]
    Syntax {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error(
        "the file holds several YAML documents (separated by `---`); give one {expected} per file"
    )]
    SeveralDocuments { expected: &'static str },
    #[error("the document is not a YAML mapping of keys to values: start it with `apiVersion: {API_VERSION}` and `kind: {expected}`")]
    NotAMapping { expected: &'static str },
    #[error("`apiVersion` is missing: add `apiVersion: {API_VERSION}` at the top")]
    MissingApiVersion,
    #[error(
        "`apiVersion: {found}` is not one this kubemaas reads: use `apiVersion: {API_VERSION}`"
    )]
    WrongApiVersion { found: String },
    #[error("`kind` is missing: add `kind: {expected}` under apiVersion")]
    MissingKind { expected: &'static str },
    #[error("this is a `kind: {found}` document, but a {expected} is expected here")]
    WrongKind {
        found: String,
        expected: &'static str,
    },
    #[error("line {line}: the document nests deeper than {MAX_DEPTH} levels there: no kubemaas document needs that many (a cluster spec needs fewer than 10); check for runaway `[`, `{{` or `- `")]
    TooDeep { line: usize },
    #[error("{}{message}", location(*.line, *.column))]
    Field {
        /// 1-based; 0 when serde_yaml gave no position.
        line: usize,
        column: usize,
        message: String,
    },
}

fn location(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("line {line}, column {column}: ")
    }
}

impl DocumentError {
    /// The line the problem is on (1-based), when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            DocumentError::Syntax { line, .. }
            | DocumentError::Field { line, .. }
            | DocumentError::TooDeep { line }
                if *line > 0 =>
            {
                Some(*line)
            }
            _ => None,
        }
    }
}

/// Reads a document of `kind`, refusing any other kind or version.
pub fn parse_document<T: DeserializeOwned>(
    text: &str,
    kind: &'static str,
) -> Result<T, DocumentError> {
    check_depth(text)?;
    check_header(text, kind)?;
    serde_yaml::from_str::<T>(text).map_err(|e| field_error(&e, kind))
}

/// The deepest nesting a document may have: serde_yaml refuses deeper ones anyway (its
/// recursion limit is 128), but only after parsing the whole file, which takes quadratic time
/// (100,000 levels in 200 KB took 40 s).
pub const MAX_DEPTH: usize = 128;

/// Refuses a document that nests deeper than [`MAX_DEPTH`], before any YAML parser sees it.
/// Only nesting that costs a few bytes a level needs counting: flow collections (`[[[…`,
/// `{a: {b: …`) and compact sequences (`- - - …`). Block nesting by indentation costs a
/// level more of indentation each time, so a file of n bytes holds at most √(2n) levels of it.
pub fn check_depth(text: &str) -> Result<(), DocumentError> {
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    for (index, raw) in text.lines().enumerate() {
        let too_deep = || DocumentError::TooDeep { line: index + 1 };
        let line = raw.trim_start();
        if quote.is_none() && flow == 0 {
            // `- - - x` opens one sequence per dash.
            let mut rest = line;
            let mut compact = 0;
            while let Some(r) = rest
                .strip_prefix('-')
                .filter(|r| r.starts_with([' ', '\t']))
            {
                compact += 1;
                rest = r.trim_start();
            }
            if compact > MAX_DEPTH {
                return Err(too_deep());
            }
        }
        // Whether the previous significant character allows a flow collection to start here.
        let mut node_start = true;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some('"') if c == '\\' => {
                    chars.next();
                    continue;
                }
                Some(q) if c == q => {
                    // '' inside a single-quoted scalar is an escaped quote.
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                    node_start = false;
                    continue;
                }
                Some(_) => continue,
                None => {}
            }
            match c {
                '#' if node_start || line.starts_with('#') => break,
                '"' | '\'' if node_start => quote = Some(c),
                '[' | '{' if node_start => {
                    flow += 1;
                    if flow > MAX_DEPTH {
                        return Err(too_deep());
                    }
                }
                ']' | '}' if flow > 0 => flow -= 1,
                _ => {}
            }
            node_start = match c {
                ' ' | '\t' => node_start,
                ':' | '-' | ',' | '[' | '{' | '?' => true,
                _ => false,
            };
        }
    }
    Ok(())
}

/// Writes a document as YAML.
pub fn to_yaml<T: Serialize>(doc: &T) -> String {
    // Serialising plain data structs (strings, numbers, maps, YAML values) cannot fail; should a
    // future field make it fail, say so in the output rather than panic.
    serde_yaml::to_string(doc).unwrap_or_else(|e| format!("# cannot render this document: {e}\n"))
}

fn check_header(text: &str, kind: &'static str) -> Result<(), DocumentError> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| syntax_error(&e, kind))?;
    let map = match value {
        serde_yaml::Value::Null => return Err(DocumentError::Empty { expected: kind }),
        serde_yaml::Value::Mapping(map) => map,
        _ => return Err(DocumentError::NotAMapping { expected: kind }),
    };
    match map.get("apiVersion") {
        None => return Err(DocumentError::MissingApiVersion),
        Some(serde_yaml::Value::String(v)) if v == API_VERSION => {}
        Some(other) => {
            return Err(DocumentError::WrongApiVersion {
                found: scalar_text(other),
            })
        }
    }
    match map.get("kind") {
        None => Err(DocumentError::MissingKind { expected: kind }),
        Some(serde_yaml::Value::String(k)) if k == kind => Ok(()),
        Some(other) => Err(DocumentError::WrongKind {
            found: scalar_text(other),
            expected: kind,
        }),
    }
}

fn scalar_text(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        other => to_yaml(other).trim().to_string(),
    }
}

fn syntax_error(e: &serde_yaml::Error, kind: &'static str) -> DocumentError {
    let text = e.to_string();
    if text.contains("more than one document") {
        return DocumentError::SeveralDocuments { expected: kind };
    }
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    DocumentError::Syntax {
        line,
        column,
        reason: strip_location(&text),
    }
}

fn field_error(e: &serde_yaml::Error, kind: &'static str) -> DocumentError {
    let text = e.to_string();
    if text.contains("more than one document") {
        return DocumentError::SeveralDocuments { expected: kind };
    }
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let mut message = strip_location(&text);
    if let Some(hint) = unknown_field_hint_for(&message) {
        message.push_str(&hint);
    } else if message.contains("missing field") {
        message.push_str(": add it (`kubemaas cluster new` prints a complete example)");
    }
    DocumentError::Field {
        line,
        column,
        message,
    }
}

/// serde_yaml ends messages with " at line L column C"; the location is reported separately.
fn strip_location(text: &str) -> String {
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`"), the closest
/// expected name, so `minMemry` comes back with "did you mean `minMemoryMiB`?".
pub(crate) fn unknown_field_hint_for(message: &str) -> Option<String> {
    let rest = &message[message.find("unknown field `")? + "unknown field `".len()..];
    let wanted = &rest[..rest.find('`')?];
    let expected_part = &rest[rest.find("expected")?..];
    let expected: Vec<&str> = expected_part.split('`').skip(1).step_by(2).collect();
    suggest::closest(wanted, expected.iter().copied())
        .map(|best| format!(" (did you mean `{best}`?)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Doc {
        api_version: String,
        kind: String,
        spec: Spec,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Spec {
        #[serde(rename = "minMemoryMiB")]
        min_memory_mib: u64,
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing_with_its_line() {
        let deep = format!(
            "apiVersion: kubemaas.io/v1\nkind: ClusterSpec\nx: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let started = std::time::Instant::now();
        let err = parse_document::<serde_yaml::Value>(&deep, "ClusterSpec").unwrap_err();
        assert_eq!(err, DocumentError::TooDeep { line: 3 });
        assert!(err.to_string().contains("deeper than 128 levels"), "{err}");
        // Refused by the scan, not after serde_yaml's quadratic parse (tens of seconds).
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let mapping = format!("x: {}1{}\n", "{a: ".repeat(200), "}".repeat(200));
        assert!(check_depth(&mapping).is_err());
        let dashes = format!("{}x\n", "- ".repeat(200));
        assert_eq!(
            check_depth(&dashes),
            Err(DocumentError::TooDeep { line: 1 })
        );
    }

    #[test]
    fn ordinary_nesting_and_brackets_in_text_pass() {
        let text =
            "a: [1, [2, {b: [3]}]]\nc: 'it''s [not {a list'\nd: \"[\\\"\"\ne: x[y # [[[\n- - - z\n";
        assert_eq!(check_depth(text), Ok(()));
        let many = format!("{}\n", "k: [v]\n".repeat(10_000));
        assert_eq!(check_depth(&many), Ok(()));
    }

    #[test]
    fn header_problems_are_named() {
        let p = |t: &str| parse_document::<Doc>(t, "Cluster").unwrap_err();
        assert_eq!(
            p(""),
            DocumentError::Empty {
                expected: "Cluster"
            }
        );
        assert_eq!(
            p("[1]"),
            DocumentError::NotAMapping {
                expected: "Cluster"
            }
        );
        assert_eq!(p("kind: Cluster"), DocumentError::MissingApiVersion);
        assert!(matches!(
            p("apiVersion: v2\nkind: Cluster"),
            DocumentError::WrongApiVersion { .. }
        ));
        assert!(matches!(
            p("apiVersion: kubemaas.io/v1\nkind: CloudAccount"),
            DocumentError::WrongKind { .. }
        ));
        assert!(matches!(p("a: [\n"), DocumentError::Syntax { .. }));
        assert!(matches!(
            p("a: 1\n---\nb: 2\n"),
            DocumentError::SeveralDocuments { .. }
        ));
    }

    #[test]
    fn unknown_keys_come_with_line_and_suggestion() {
        let text = "apiVersion: kubemaas.io/v1\nkind: Cluster\nspec:\n  minMemry: 3\n";
        let e = parse_document::<Doc>(text, "Cluster").unwrap_err();
        assert_eq!(e.line(), Some(4));
        let shown = e.to_string();
        assert!(shown.contains("spec: unknown field `minMemry`"), "{shown}");
        assert!(shown.contains("did you mean `minMemoryMiB`?"), "{shown}");
    }
}
