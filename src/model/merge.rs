//! Deep merge of YAML values: per-pack overrides from a cluster spec laid over the profile's pack
//! values. Maps merge key by key, recursively; anything else (scalars, lists) in the override
//! replaces what was there; a `null` in the override removes the key, as in Helm, so an operator
//! can drop a profile default without editing the profile.

use serde_yaml::Value;

/// Lays `overlay` over `base` in place.
pub fn deep_merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Mapping(base_map), Value::Mapping(over_map)) => {
            for (key, over_value) in over_map {
                if over_value.is_null() {
                    base_map.remove(key);
                    continue;
                }
                match base_map.get_mut(key) {
                    Some(existing) => deep_merge(existing, over_value),
                    None => {
                        base_map.insert(key.clone(), strip_nulls(over_value));
                    }
                }
            }
        }
        (base, overlay) => *base = strip_nulls(overlay),
    }
}

/// The merge of `overlay` onto a copy of `base`.
pub fn merged(base: &Value, overlay: &Value) -> Value {
    let mut out = base.clone();
    deep_merge(&mut out, overlay);
    out
}

/// A new key's value, with "remove" markers (nulls in maps) dropped: there is nothing to remove.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn merges_maps_and_replaces_the_rest() {
        let base = y("a: 1\nb: {c: 2, d: [1, 2]}\ne: keep\n");
        let over = y("a: 5\nb: {d: [9], x: {y: 1, z: null}}\ne: null\nnew: true\n");
        assert_eq!(
            merged(&base, &over),
            y("a: 5\nb: {c: 2, d: [9], x: {y: 1}}\nnew: true\n")
        );
    }

    #[test]
    fn a_scalar_base_is_replaced() {
        assert_eq!(merged(&y("3"), &y("{a: 1}")), y("{a: 1}"));
        assert_eq!(merged(&y("{a: 1}"), &y("[1]")), y("[1]"));
    }
}
