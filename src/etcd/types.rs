//! The JSON shapes of etcd's v3 gateway: protobuf's JSON mapping of etcd's messages. Bytes
//! (keys, values, election names) travel as base64, 64-bit integers as decimal strings, and a
//! field holding its default value (0, false, an empty list, an enum's first member) may be
//! left out, so every field here has a default. Field names are the proto names; the
//! camelCase forms some etcd versions write are accepted as aliases.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

/// base64, as the gateway writes `bytes` fields.
pub(crate) fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn bytes_field<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    B64.decode(text.as_bytes())
        .map_err(|_| serde::de::Error::custom("a bytes field is not base64"))
}

/// A 64-bit integer as the gateway writes it (a decimal string) or, leniently, a number:
/// int64 fields and uint64 ones (member ids use the whole range) alike.
fn number_field<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + Default,
{
    let text = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => return Ok(T::default()),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(serde::de::Error::custom("a 64-bit field is not a number")),
    };
    text.parse()
        .map_err(|_| serde::de::Error::custom("a 64-bit field is not a number in range"))
}

/// The header every answer carries: the store's revision when it was made, and the member
/// that answered.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Header {
    #[serde(default, deserialize_with = "number_field")]
    pub revision: i64,
    #[serde(default, alias = "memberId", deserialize_with = "number_field")]
    pub member_id: u64,
}

/// A key and its value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyValue {
    #[serde(default, deserialize_with = "bytes_field")]
    pub key: Vec<u8>,
    #[serde(default, deserialize_with = "bytes_field")]
    pub value: Vec<u8>,
    #[serde(default, alias = "modRevision", deserialize_with = "number_field")]
    pub mod_revision: i64,
    #[serde(default, alias = "createRevision", deserialize_with = "number_field")]
    pub create_revision: i64,
    #[serde(default, deserialize_with = "number_field")]
    pub version: i64,
    #[serde(default, deserialize_with = "number_field")]
    pub lease: i64,
}

/// A range read's answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RangeResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub kvs: Vec<KeyValue>,
    #[serde(default, deserialize_with = "number_field")]
    pub count: i64,
}

/// The keys a read covers: one key, or `[key, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    key: Vec<u8>,
    end: Option<Vec<u8>>,
    limit: i64,
    count_only: bool,
}

impl Range {
    /// The one key `key`.
    pub fn key(key: impl Into<Vec<u8>>) -> Range {
        Range {
            key: key.into(),
            end: None,
            limit: 0,
            count_only: false,
        }
    }

    /// Every key starting with `prefix`.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Range {
        let key = prefix.into();
        let end = prefix_end(&key);
        Range {
            key,
            end: Some(end),
            limit: 0,
            count_only: false,
        }
    }

    /// The keys from this range's key up to `end`, excluded.
    pub fn until(mut self, end: impl Into<Vec<u8>>) -> Range {
        self.end = Some(end.into());
        self
    }

    /// At most `n` keys (0: no limit).
    pub fn limit(mut self, n: i64) -> Range {
        self.limit = n;
        self
    }

    /// Only the count of keys, not the keys.
    pub fn count_only(mut self) -> Range {
        self.count_only = true;
        self
    }

    pub(crate) fn json(&self) -> Value {
        let mut v = json!({ "key": b64(&self.key) });
        if let Some(end) = &self.end {
            v["range_end"] = json!(b64(end));
        }
        if self.limit > 0 {
            v["limit"] = json!(self.limit.to_string());
        }
        if self.count_only {
            v["count_only"] = json!(true);
        }
        v
    }

    pub(crate) fn delete_json(&self) -> Value {
        let mut v = json!({ "key": b64(&self.key) });
        if let Some(end) = &self.end {
            v["range_end"] = json!(b64(end));
        }
        v
    }
}

/// The smallest key after every key starting with `prefix` (etcd's `GetPrefixRangeEnd`):
/// the prefix with its last byte below 0xff incremented; `\0` (everything) for a prefix of
/// 0xff bytes only.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A condition of a transaction; all are equality tests.
#[derive(Debug, Clone)]
pub enum Compare {
    /// The key's version (0: the key does not exist).
    Version(Vec<u8>, i64),
    /// The key's value.
    Value(Vec<u8>, Vec<u8>),
    /// The revision the key was last changed at (0: it does not exist).
    ModRevision(Vec<u8>, i64),
}

impl Compare {
    fn json(&self) -> Value {
        match self {
            Compare::Version(key, version) => json!({
                "result": "EQUAL", "target": "VERSION", "key": b64(key), "version": version.to_string()
            }),
            Compare::Value(key, value) => json!({
                "result": "EQUAL", "target": "VALUE", "key": b64(key), "value": b64(value)
            }),
            Compare::ModRevision(key, revision) => json!({
                "result": "EQUAL", "target": "MOD", "key": b64(key), "mod_revision": revision.to_string()
            }),
        }
    }
}

/// An operation of a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Get(Range),
}

impl Op {
    fn json(&self) -> Value {
        match self {
            Op::Put(key, value) => {
                json!({ "request_put": { "key": b64(key), "value": b64(value) } })
            }
            Op::Get(range) => json!({ "request_range": range.json() }),
        }
    }
}

/// "If every comparison holds, do `success`, else `failure`", atomically.
#[derive(Debug, Clone, Default)]
pub struct Txn {
    compare: Vec<Compare>,
    success: Vec<Op>,
    failure: Vec<Op>,
}

impl Txn {
    pub fn new() -> Txn {
        Txn::default()
    }
    pub fn when(mut self, compare: impl IntoIterator<Item = Compare>) -> Txn {
        self.compare.extend(compare);
        self
    }
    pub fn and_then(mut self, ops: impl IntoIterator<Item = Op>) -> Txn {
        self.success.extend(ops);
        self
    }
    pub fn or_else(mut self, ops: impl IntoIterator<Item = Op>) -> Txn {
        self.failure.extend(ops);
        self
    }
    pub(crate) fn json(&self) -> Value {
        json!({
            "compare": self.compare.iter().map(Compare::json).collect::<Vec<_>>(),
            "success": self.success.iter().map(Op::json).collect::<Vec<_>>(),
            "failure": self.failure.iter().map(Op::json).collect::<Vec<_>>(),
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct TxnJson {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub succeeded: bool,
    #[serde(default)]
    pub responses: Vec<OpResponseJson>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct OpResponseJson {
    #[serde(default, alias = "responseRange")]
    pub response_range: Option<RangeResponse>,
}

/// A transaction's answer: which branch ran, and the answer of each of its reads in order.
#[derive(Debug, Clone, Default)]
pub struct TxnResponse {
    pub header: Header,
    pub succeeded: bool,
    /// The range answers of the branch that ran, in the order of its reads (puts answer
    /// nothing worth keeping).
    pub ranges: Vec<RangeResponse>,
}

impl From<TxnJson> for TxnResponse {
    fn from(t: TxnJson) -> Self {
        TxnResponse {
            header: t.header,
            succeeded: t.succeeded,
            ranges: t
                .responses
                .into_iter()
                .filter_map(|r| r.response_range)
                .collect(),
        }
    }
}

/// A watch event's kind. `PUT` is the enum's default, so the gateway leaves it out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum EventKind {
    #[default]
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "DELETE")]
    Delete,
}

/// A change to a watched key.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    #[serde(default, rename = "type")]
    pub kind: EventKind,
    #[serde(default)]
    pub kv: KeyValue,
}

/// One message of a watch stream.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WatchResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub canceled: bool,
    #[serde(default, alias = "compactRevision", deserialize_with = "number_field")]
    pub compact_revision: i64,
    #[serde(default)]
    pub events: Vec<Event>,
}

/// A lease's id and what is left of its time to live, in seconds (0: it is gone).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LeaseJson {
    #[serde(default, rename = "ID", deserialize_with = "number_field")]
    pub id: i64,
    #[serde(default, rename = "TTL", deserialize_with = "number_field")]
    pub ttl: i64,
    /// `lease/grant` reports some failures here rather than as an error status.
    #[serde(default)]
    pub error: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LeaderKeyJson {
    #[serde(default, deserialize_with = "bytes_field")]
    pub key: Vec<u8>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CampaignJson {
    #[serde(default)]
    pub leader: Option<LeaderKeyJson>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LeaderJson {
    #[serde(default)]
    pub kv: Option<KeyValue>,
}

/// A member of the etcd cluster as `member/list` gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Member {
    #[serde(default, rename = "ID", deserialize_with = "number_field")]
    pub id: u64,
    /// Empty until the member has started and published its name.
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "peerURLs")]
    pub peer_urls: Vec<String>,
    #[serde(default, rename = "clientURLs")]
    pub client_urls: Vec<String>,
    #[serde(default, rename = "isLearner")]
    pub is_learner: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct MembersJson {
    #[serde(default)]
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct HeaderOnly {
    #[serde(default)]
    pub header: Header,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_increment_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn answers_decode_strings_numbers_base64_and_missing_defaults() {
        let r: RangeResponse = serde_json::from_str(
            r#"{"header":{"cluster_id":"1","member_id":"18446744073709551615","revision":"42"},
                "kvs":[{"key":"L2E=","value":"eA==","mod_revision":"7","version":"1"}],"count":"1"}"#,
        )
        .unwrap();
        assert_eq!(r.header.revision, 42);
        assert_eq!(r.header.member_id, u64::MAX);
        assert_eq!(r.kvs[0].key, b"/a");
        assert_eq!(r.kvs[0].value, b"x");
        assert_eq!(r.kvs[0].mod_revision, 7);
        assert_eq!(r.count, 1);
        let empty: RangeResponse = serde_json::from_str(r#"{"header":{}}"#).unwrap();
        assert!(empty.kvs.is_empty() && empty.count == 0);
        let w: WatchResponse = serde_json::from_str(
            r#"{"header":{"revision":"9"},"events":[{"kv":{"key":"YQ=="}},{"type":"DELETE","kv":{"key":"YQ=="}}]}"#,
        )
        .unwrap();
        assert_eq!(w.events[0].kind, EventKind::Put);
        assert_eq!(w.events[1].kind, EventKind::Delete);
        let m: MembersJson = serde_json::from_str(
            r#"{"members":[{"ID":"10501334649042878790","name":"m0","peerURLs":["http://127.0.0.1:1"],"isLearner":true},{"ID":42}]}"#,
        )
        .unwrap();
        assert_eq!(m.members[0].id, 10501334649042878790);
        assert!(m.members[0].is_learner);
        assert!(m.members[1].name.is_empty());
    }

    #[test]
    fn a_transaction_is_written_with_proto_names_and_base64() {
        let t = Txn::new()
            .when([Compare::Version(b"h".to_vec(), 0)])
            .and_then([Op::Put(b"h".to_vec(), b"1".to_vec())])
            .or_else([Op::Get(Range::prefix(b"/p/".to_vec()).limit(5))]);
        let v = t.json();
        assert_eq!(v["compare"][0]["target"], "VERSION");
        assert_eq!(v["compare"][0]["version"], "0");
        assert_eq!(v["success"][0]["request_put"]["value"], b64(b"1"));
        assert_eq!(v["failure"][0]["request_range"]["range_end"], b64(b"/p0"));
        assert_eq!(v["failure"][0]["request_range"]["limit"], "5");
    }
}
