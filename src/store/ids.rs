//! Cluster ids: eight lowercase hex characters, random, stable for the cluster's life. Short
//! enough to fit MAAS tags, `agent_name` and hostnames, and the key that ties what kubemaas did in
//! MAAS back to the store after a crash.

use super::error::StoreError;
use rand::Rng;
use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use std::fmt;
use std::str::FromStr;

/// A cluster's stable short id, e.g. `3fa9c01b`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ClusterId(String);

impl ClusterId {
    /// Number of hex characters in an id.
    pub const LEN: usize = 8;

    /// A fresh random id. Collisions are caught by the clusters table's primary key (and the
    /// store retries), so 32 random bits are plenty for one installation.
    pub fn generate(rng: &mut impl Rng) -> Self {
        ClusterId(format!("{:08x}", rng.random::<u32>()))
    }

    /// Checks that `raw` has the shape of a cluster id.
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let ok = raw.len() == Self::LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(ClusterId(raw.to_string()))
        } else {
            Err(StoreError::Invalid {
                what: "cluster id",
                reason: format!(
                    "`{raw}` is not 8 lowercase hex characters like 3fa9c01b (see `kubemaas cluster list` for the ids)"
                ),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag kubemaas writes on what it does in MAAS for this cluster (a machine's
    /// `agent_name` and owner data), e.g. `kubemaas-3fa9c01b`. The prefix keeps it apart from
    /// tags other tools write.
    pub fn owner_tag(&self) -> String {
        format!("{OWNER_TAG_PREFIX}{}", self.0)
    }

    /// The cluster id in a tag written by [`ClusterId::owner_tag`]; `None` for anything else
    /// (another tool's machine, or a hand-edited tag).
    pub fn from_owner_tag(tag: &str) -> Option<ClusterId> {
        tag.strip_prefix(OWNER_TAG_PREFIX)
            .and_then(|id| ClusterId::parse(id).ok())
    }
}

/// What every [`ClusterId::owner_tag`] starts with.
pub const OWNER_TAG_PREFIX: &str = "kubemaas-";

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ClusterId {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClusterId::parse(s)
    }
}

impl TryFrom<String> for ClusterId {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ClusterId::parse(&s)
    }
}

impl From<ClusterId> for String {
    fn from(id: ClusterId) -> String {
        id.0
    }
}

impl AsRef<str> for ClusterId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl ToSql for ClusterId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.0.as_str().into())
    }
}

impl FromSql for ClusterId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        ClusterId::parse(text).map_err(|e| super::codec::bad_text(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_ids_parse_back() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            let id = ClusterId::generate(&mut rng);
            assert_eq!(ClusterId::parse(id.as_str()).unwrap(), id);
        }
    }

    #[test]
    fn owner_tags_round_trip_and_ignore_foreign_tags() {
        let id = ClusterId::parse("3fa9c01b").unwrap();
        assert_eq!(id.owner_tag(), "kubemaas-3fa9c01b");
        assert_eq!(ClusterId::from_owner_tag(&id.owner_tag()), Some(id));
        for foreign in [
            "",
            "juju-3fa9c01b",
            "kubemaas-",
            "kubemaas-3FA9C01B",
            "3fa9c01b",
        ] {
            assert_eq!(ClusterId::from_owner_tag(foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn other_shapes_are_refused() {
        for bad in [
            "",
            "3fa9c01",
            "3fa9c01b0",
            "3FA9C01B",
            "3fa9c01g",
            "3fa9 01b",
        ] {
            assert!(ClusterId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
