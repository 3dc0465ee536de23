//! Request parameters as MAAS (Django + piston) reads them: the query string, and POST/PUT bodies
//! in `application/x-www-form-urlencoded` or `multipart/form-data`. python-libmaas base64-encodes
//! every multipart part (`Content-Transfer-Encoding: base64`), so parts are decoded here.
//! Repeated keys are lists (`id=a&id=b`); booleans follow formencode's StringBool.

use base64::Engine;
use bytes::Bytes;

/// An ordered multimap of request parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// Multipart parts sent as files (a `filename` in their Content-Disposition), with their
    /// bytes unchanged: Django's `request.FILES`. They are in `pairs` too, as (lossy) text,
    /// for the handlers that read uploads as form fields.
    files: Vec<(String, Vec<u8>)>,
}

/// Why a request body could not be read as parameters.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error(
        "multipart body without a boundary: send Content-Type: multipart/form-data; boundary=…"
    )]
    NoBoundary,
    #[error("malformed multipart body: {0}")]
    Multipart(String),
    #[error("part {name:?} says Content-Transfer-Encoding: base64 but is not valid base64")]
    BadBase64 { name: String },
}

/// A value that is not a StringBool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Value must be one of: true; false; yes; no; on; off; 1; 0 (not {value:?})")]
pub struct NotABool {
    pub key: String,
    pub value: String,
}

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    /// Parameters of a query string (without the leading `?`).
    pub fn from_query(query: &str) -> Self {
        Params {
            pairs: url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            files: Vec::new(),
        }
    }

    /// Parameters of a body, by content type. Other content types (JSON, octet-stream) carry
    /// no form parameters for MAAS's handlers, which read `request.POST` only.
    pub async fn from_body(content_type: Option<&str>, body: Bytes) -> Result<Self, ParamsError> {
        let Some(ct) = content_type else {
            return Ok(Params::default());
        };
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/x-www-form-urlencoded" => Ok(Params::from_query(
                std::str::from_utf8(&body).unwrap_or_default(),
            )),
            "multipart/form-data" => parse_multipart(ct, &body),
            _ => Ok(Params::default()),
        }
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((key.into(), value.into()));
    }

    /// Appends every pair and file of `other`, except keys listed in `skip`.
    pub fn extend_from(&mut self, other: &Params, skip: &[&str]) {
        for (k, v) in &other.pairs {
            if !skip.contains(&k.as_str()) {
                self.pairs.push((k.clone(), v.clone()));
            }
        }
        self.files.extend(other.files.iter().cloned());
    }

    /// The uploaded files (name of the form field, bytes), in request order.
    pub fn files(&self) -> &[(String, Vec<u8>)] {
        &self.files
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key` if it is not empty after trimming.
    pub fn get_nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value of `key`, in request order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every value of `key`, each also split on commas (MAAS's legacy list form), empty ones dropped.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.all(key)
            .iter()
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// Keys in first-seen order, each once.
    pub fn keys(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for (k, _) in &self.pairs {
            if !seen.contains(&k.as_str()) {
                seen.push(k);
            }
        }
        seen
    }

    /// Keys with all their values, in first-seen order (Django's `QueryDict.lists()`).
    pub fn lists(&self) -> Vec<(&str, Vec<&str>)> {
        self.keys().into_iter().map(|k| (k, self.all(k))).collect()
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// A StringBool: absent → `None`; `true/false, yes/no, on/off, 1/0` in any case; an empty
    /// value counts as false (an unchecked form field).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, NotABool> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        parse_bool(raw).map(Some).ok_or_else(|| NotABool {
            key: key.to_string(),
            value: raw.to_string(),
        })
    }

    /// [`Params::bool`] with a default for absent keys.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, NotABool> {
        Ok(self.bool(key)?.unwrap_or(default))
    }
}

/// formencode's StringBool vocabulary.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "y" | "t" => Some(true),
        "false" | "no" | "off" | "0" | "n" | "f" | "" => Some(false),
        _ => None,
    }
}

/// The `boundary` parameter of a multipart content type, quotes removed.
fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// Offsets where a delimiter line starts: at the beginning of the body or right after a line
/// break, so the boundary text inside a value never splits it.
fn delimiter_offsets(body: &[u8], delim: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + delim.len() <= body.len() {
        if &body[i..i + delim.len()] == delim && (i == 0 || body[i - 1] == b'\n') {
            out.push(i);
            i += delim.len();
        } else {
            i += 1;
        }
    }
    out
}

fn strip_line_break_start(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\r\n")
        .or_else(|| b.strip_prefix(b"\n"))
        .unwrap_or(b)
}

fn strip_line_break_end(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r\n")
        .or_else(|| b.strip_suffix(b"\n"))
        .unwrap_or(b)
}

/// A parameter (`name="x"`, quoted or not) of a Content-Disposition value.
fn disposition_param(value: &str, param: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(param)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// A lenient multipart/form-data reader, as lenient as Django's: python-libmaas sends
/// `--B\r\n\r\n--B--` (one nameless, empty part) for operations without fields, and ends
/// bodies without a final line break. Nameless parts are ignored.
fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Params, ParamsError> {
    let boundary = boundary_of(content_type).ok_or(ParamsError::NoBoundary)?;
    let delim = format!("--{boundary}").into_bytes();
    let offsets = delimiter_offsets(body, &delim);
    if offsets.is_empty() {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params::default());
        }
        return Err(ParamsError::Multipart(format!(
            "the boundary {boundary:?} of the Content-Type never occurs in the body"
        )));
    }
    let mut params = Params::default();
    for (n, start) in offsets.iter().enumerate() {
        let after = &body[start + delim.len()..];
        if after.starts_with(b"--") {
            break;
        }
        let end = offsets
            .get(n + 1)
            .map_or(after.len(), |next| next - start - delim.len());
        let part = strip_line_break_end(strip_line_break_start(&after[..end]));
        let (head, content) = match find(part, b"\r\n\r\n") {
            Some(i) => (&part[..i], &part[i + 4..]),
            None => match find(part, b"\n\n") {
                Some(i) => (&part[..i], &part[i + 2..]),
                None => (part, &b""[..]),
            },
        };
        let head = String::from_utf8_lossy(head);
        let mut name = None;
        let mut is_file = false;
        let mut base64_part = false;
        for line in head.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    name = disposition_param(v, "name");
                    is_file = disposition_param(v, "filename").is_some();
                }
                "content-transfer-encoding" => {
                    base64_part = v.trim().eq_ignore_ascii_case("base64");
                }
                _ => {}
            }
        }
        let Some(name) = name else {
            continue;
        };
        let data = if base64_part {
            // Encoders wrap base64 at 76 columns; the line breaks are not data.
            let compact: Vec<u8> = content
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| ParamsError::BadBase64 { name: name.clone() })?
        } else {
            content.to_vec()
        };
        params.push(name.clone(), String::from_utf8_lossy(&data).into_owned());
        if is_file {
            params.files.push((name, data));
        }
    }
    Ok(params)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_repeats_in_order() {
        let p = Params::from_query("id=a&op=x&id=b&tags=x,y&tags=z&empty=");
        assert_eq!(p.all("id"), vec!["a", "b"]);
        assert_eq!(p.get("op"), Some("x"));
        assert_eq!(p.list("tags"), vec!["x", "y", "z"]);
        assert_eq!(p.keys(), vec!["id", "op", "tags", "empty"]);
        assert_eq!(p.get_nonempty("empty"), None);
    }

    #[test]
    fn string_bool() {
        let p = Params::from_query("a=Yes&b=off&c=1&d=maybe");
        assert_eq!(p.bool("a"), Ok(Some(true)));
        assert_eq!(p.bool("b"), Ok(Some(false)));
        assert_eq!(p.bool("c"), Ok(Some(true)));
        assert!(p.bool("d").is_err());
        assert_eq!(p.bool("zz"), Ok(None));
        assert_eq!(p.flag("zz", true), Ok(true));
    }

    #[tokio::test]
    async fn multipart_with_base64_parts() {
        let body = "--XyZ\r\n\
Content-Disposition: form-data; name=\"cpu_count\"\r\n\
Content-Type: text/plain; charset=\"utf-8\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n\
NA==\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"tags\"\r\n\r\n\
plain\r\n\
--XyZ--\r\n";
        let p = Params::from_body(Some("multipart/form-data; boundary=XyZ"), Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(p.get("cpu_count"), Some("4"));
        assert_eq!(p.get("tags"), Some("plain"));
        assert!(p.files().is_empty());
    }

    /// gomaasapi's `AddFile`: the content as a file part, as Go's `CreateFormFile` writes it.
    #[tokio::test]
    async fn multipart_file_parts_keep_their_bytes() {
        let mut body = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
        body.extend_from_slice(&[0, 159, 146, 150, b'\n']);
        body.extend_from_slice(b"\r\n--B\r\nContent-Disposition: form-data; name=\"filename\"\r\n\r\nblob\r\n--B--\r\n");
        let p = Params::from_body(Some("multipart/form-data; boundary=B"), Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(
            p.files(),
            &[("file".to_string(), vec![0, 159, 146, 150, b'\n'])]
        );
        assert_eq!(p.get("filename"), Some("blob"));
    }

    #[tokio::test]
    async fn python_libmaas_empty_and_quoted_boundary_bodies() {
        let empty = Params::from_body(
            Some("multipart/form-data; boundary=\"===============49==\""),
            Bytes::from("--===============49==\r\n\r\n--===============49==--"),
        )
        .await
        .unwrap();
        assert!(empty.is_empty());
        let one = Params::from_body(
            Some("multipart/form-data; boundary=\"==B==\""),
            Bytes::from("--==B==\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: form-data; name=\"a\"\r\nMIME-Version: 1.0\r\n\r\nYg==\r\n\r\n--==B==--"),
        )
        .await
        .unwrap();
        assert_eq!(one.get("a"), Some("b"));
        let bad = Params::from_body(
            Some("multipart/form-data; boundary=Q"),
            Bytes::from("--Q\r\nContent-Disposition: form-data; name=\"x\"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!\r\n--Q--"),
        )
        .await;
        assert!(matches!(bad, Err(ParamsError::BadBase64 { .. })));
        let missing =
            Params::from_body(Some("multipart/form-data; boundary=Q"), Bytes::from("junk")).await;
        assert!(matches!(missing, Err(ParamsError::Multipart(_))));
    }

    #[tokio::test]
    async fn urlencoded_and_unknown_types() {
        let p = Params::from_body(
            Some("application/x-www-form-urlencoded"),
            Bytes::from("op=allocate&tags=a&tags=b"),
        )
        .await
        .unwrap();
        assert_eq!(p.all("tags"), vec!["a", "b"]);
        let j = Params::from_body(Some("application/json"), Bytes::from("{}"))
            .await
            .unwrap();
        assert!(j.is_empty());
        assert!(matches!(
            Params::from_body(Some("multipart/form-data"), Bytes::from("x")).await,
            Err(ParamsError::NoBoundary)
        ));
    }
}
