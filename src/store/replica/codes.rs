//! A replicated gateway's pairing codes (`gateway_pairing_codes`, schema V4), so that a code
//! printed by one node is redeemed on any. Each code is kept as its derived key (the one-way
//! hash both sides compute from it, hex), never the code; with its expiry and, once redeemed,
//! when. Redeeming marks the row in the same write transaction that found it unused, so two
//! nodes redeeming one code at once cannot both succeed: the replicated log orders the two
//! transactions and the second one reruns on a copy where the code is used.

use crate::store::codec::{col_opt_time, col_time, time_text};
use crate::store::error::{db_err, StoreError};
use crate::store::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::params;

/// A pairing code as the replicated store keeps it. `Debug` shows no key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCode {
    /// The code's derived key, hex.
    pub key: String,
    pub expires: DateTime<Utc>,
    pub used: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCode")
            .field("expires", &self.expires)
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl Tx<'_> {
    /// Keeps a newly issued code, and forgets the codes that expired before `forget_before`.
    pub fn add_pairing_code(
        &self,
        code: &StoredCode,
        forget_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let what = "recording a pairing code";
        self.conn()
            .execute(
                "DELETE FROM gateway_pairing_codes WHERE expires < ?1",
                [time_text(forget_before)],
            )
            .map_err(db_err(what))?;
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO gateway_pairing_codes (key, expires, used) VALUES (?1, ?2, ?3)",
                params![code.key, time_text(code.expires), code.used.map(time_text)],
            )
            .map_err(db_err(what))?;
        Ok(())
    }

    /// Every remembered code, used and expired ones included (so their reuse is named as
    /// such).
    pub fn pairing_codes(&self) -> Result<Vec<StoredCode>, StoreError> {
        let what = "reading the pairing codes";
        let mut stmt = self
            .conn()
            .prepare("SELECT key, expires, used FROM gateway_pairing_codes ORDER BY expires")
            .map_err(db_err(what))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredCode {
                    key: r.get("key")?,
                    expires: col_time(r, "expires")?,
                    used: col_opt_time(r, "used")?,
                })
            })
            .map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// Marks the code `key` used at `at`, if it still is unused; whether it was.
    pub fn use_pairing_code(&self, key: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE gateway_pairing_codes SET used = ?2 WHERE key = ?1 AND used IS NULL",
                params![key, time_text(at)],
            )
            .map_err(db_err("redeeming a pairing code"))?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_code_is_used_once_and_expired_codes_are_forgotten_later() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = Utc::now();
        let code = |key: &str, expires| StoredCode {
            key: key.into(),
            expires,
            used: None,
        };
        let old = code("aa", now - chrono::Duration::days(2));
        store
            .tx(|tx| tx.add_pairing_code(&old, old.expires))
            .unwrap();
        let fresh = code("bb", now + chrono::Duration::minutes(10));
        store
            .tx(|tx| tx.add_pairing_code(&fresh, now - chrono::Duration::days(1)))
            .unwrap();
        let kept = store.read(|r| r.pairing_codes()).unwrap();
        let keys: Vec<_> = kept.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, vec!["bb"]);
        assert!(!format!("{fresh:?}").contains("bb"));
        assert!(store.tx(|tx| tx.use_pairing_code("bb", now)).unwrap());
        assert!(!store.tx(|tx| tx.use_pairing_code("bb", now)).unwrap());
        assert!(!store.tx(|tx| tx.use_pairing_code("zz", now)).unwrap());
        let used = store.read(|r| r.pairing_codes()).unwrap();
        assert!(used[0].used.is_some());
    }
}
