//! "Did you mean …?": the closest known name to one an operator typed, so a typo'd zone, pool,
//! tag or field name comes back with the likely fix.

/// Edit distance (insertions, deletions, substitutions), case-insensitive.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The known name closest to `wanted`, if one is close enough to be a plausible typo (at most a
/// third of the longer name differs).
pub fn closest<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(wanted, k), k))
        .filter(|(d, k)| {
            let longest = wanted.chars().count().max(k.chars().count());
            *d * 3 <= longest.max(1)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// " (did you mean `x`?)" or, when nothing is close, " (known: a, b, c)" listing up to 8 names, or
/// nothing when there are none.
pub fn hint<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str> + Clone) -> String {
    if let Some(best) = closest(wanted, known.clone()) {
        return format!(" (did you mean `{best}`?)");
    }
    let mut names: Vec<&str> = known.into_iter().collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return String::new();
    }
    let more = names.len().saturating_sub(8);
    let mut list = names.into_iter().take(8).collect::<Vec<_>>().join(", ");
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    format!(" (known: {list})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("AZ-1", "az-1"), 0);
    }

    #[test]
    fn suggests_only_plausible_typos() {
        let known = ["az-1", "az-2", "default"];
        assert_eq!(closest("az1", known), Some("az-1"));
        assert_eq!(closest("defualt", known), Some("default"));
        assert_eq!(closest("zzzzzz", known), None);
        assert_eq!(hint("x", ["b", "a"]), " (known: a, b)");
        assert_eq!(hint("x", std::iter::empty::<&str>()), "");
    }
}
