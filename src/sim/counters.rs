//! Request counters by (method, endpoint template, op): how tests and demos see what a client
//! actually sent (e.g. "one allocate, then N polls of machines/{system_id}/").

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// One counter row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterRow {
    pub method: String,
    /// Template relative to /MAAS/api/2.0/, e.g. `machines/{system_id}/`.
    pub endpoint: String,
    /// The `op` of the request, `None` for plain CRUD.
    pub op: Option<String>,
    pub count: u64,
}

type Key = (String, String, Option<String>);

/// Shared, cheap-to-clone request counters.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    inner: Arc<Mutex<BTreeMap<Key, u64>>>,
}

impl Counters {
    pub fn record(&self, method: &str, endpoint: &str, op: Option<&str>) {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry((
            method.to_string(),
            endpoint.to_string(),
            op.map(str::to_string),
        ))
        .or_default() += 1;
    }

    /// How many requests matched exactly this method, template and op.
    pub fn get(&self, method: &str, endpoint: &str, op: Option<&str>) -> u64 {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&(
            method.to_string(),
            endpoint.to_string(),
            op.map(str::to_string),
        ))
        .copied()
        .unwrap_or(0)
    }

    /// Requests to a template whatever the method and op.
    pub fn endpoint_total(&self, endpoint: &str) -> u64 {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .filter(|((_, e, _), _)| e == endpoint)
            .map(|(_, n)| n)
            .sum()
    }

    /// Every request counted so far.
    pub fn total(&self) -> u64 {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.values().sum()
    }

    /// All rows, sorted by method, endpoint and op.
    pub fn snapshot(&self) -> Vec<CounterRow> {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .map(|((method, endpoint, op), count)| CounterRow {
                method: method.clone(),
                endpoint: endpoint.clone(),
                op: op.clone(),
                count: *count,
            })
            .collect()
    }

    pub fn reset(&self) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_endpoint_and_op() {
        let c = Counters::default();
        c.record("POST", "machines/", Some("allocate"));
        c.record("POST", "machines/", Some("allocate"));
        c.record("GET", "machines/", None);
        assert_eq!(c.get("POST", "machines/", Some("allocate")), 2);
        assert_eq!(c.get("GET", "machines/", None), 1);
        assert_eq!(c.get("GET", "machines/", Some("allocate")), 0);
        assert_eq!(c.endpoint_total("machines/"), 3);
        assert_eq!(c.snapshot().len(), 2);
        c.reset();
        assert_eq!(c.total(), 0);
    }
}
