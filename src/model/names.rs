//! Name rules: DNS-1123 labels and subdomains (cluster and pool names, DNS domains), Kubernetes
//! label keys and values (also used for taints), and MAAS tag names. Each check returns `Err`
//! with a sentence saying what is wrong and what a valid name looks like.

/// A DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a
/// letter or digit. Cluster and pool names become parts of hostnames, so they follow it.
pub fn check_dns1123_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(
            "is empty: give a name of lowercase letters, digits and '-', like `prod-1`".into(),
        );
    }
    if name.len() > 63 {
        return Err(format!(
            "`{name}` is {} characters long; a DNS-1123 label has at most 63",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        let fix = match label_like(name) {
            Some(l) => format!(" (use `{l}`)"),
            None => String::new(),
        };
        return Err(format!(
            "`{name}` contains {c:?}: only lowercase letters, digits and '-' are allowed{fix}"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "`{name}` starts or ends with '-': it must start and end with a letter or digit"
        ));
    }
    Ok(())
}

/// The DNS-1123 label closest to `name`: lowercased, other characters turned into '-', '-' trimmed
/// from the ends; `None` when nothing is left.
pub fn label_like(name: &str) -> Option<String> {
    let mapped: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let trimmed = mapped.trim_matches('-');
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// A DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
pub fn check_dns1123_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty: give a DNS name like `maas` or `lab.example.com`".into());
    }
    if name.len() > 253 {
        return Err(format!(
            "is {} characters long; a DNS name has at most 253",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!(
                "`{name}` has an empty part between dots: write it like `lab.example.com`"
            ));
        }
        check_dns1123_label(label).map_err(|e| format!("in `{name}`: part {e}"))?;
    }
    Ok(())
}

/// The name part of a Kubernetes label key, or a label value when non-empty: at most 63
/// characters, letters, digits, '-', '_' and '.', starting and ending with a letter or digit.
fn check_qualified_part(part: &str, what: &str) -> Result<(), String> {
    if part.len() > 63 {
        return Err(format!(
            "{what} `{part}` is {} characters long; at most 63 are allowed",
            part.len()
        ));
    }
    if let Some(c) = part
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{what} `{part}` contains {c:?}: only letters, digits, '-', '_' and '.' are allowed"
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(part.chars().next()) || !edge_ok(part.chars().last()) {
        return Err(format!(
            "{what} `{part}` must start and end with a letter or digit"
        ));
    }
    Ok(())
}

/// A Kubernetes label (or taint) key: `[prefix/]name`, the prefix a DNS-1123 subdomain.
pub fn check_label_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err(
            "the key is empty: give a key like `node-role.example.com/gpu` or `tier`".into(),
        );
    }
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        check_dns1123_subdomain(prefix).map_err(|e| format!("the prefix of key `{key}` {e}"))?;
        if name.contains('/') {
            return Err(format!(
                "key `{key}` has more than one '/': write it as prefix/name"
            ));
        }
    }
    if name.is_empty() {
        return Err(format!("key `{key}` has an empty name after the prefix"));
    }
    check_qualified_part(name, "key name")
}

/// A Kubernetes label (or taint) value: empty, or a qualified part.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_qualified_part(value, "value")
}

/// A MAAS tag name. MAAS itself takes letters, digits, '-', '_' and '.'; a comma would be split
/// by the legacy comma-separated `tags=` form and whitespace never survives the form encoding.
pub fn check_maas_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("is empty: give the name of a MAAS tag, like `gpu`".into());
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "`{tag}` contains {c:?}: MAAS tag names use letters, digits, '-', '_' and '.' (list tags with `maas $PROFILE tags read`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["a", "prod-1", "0abc", &"a".repeat(63)] {
            assert!(check_dns1123_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "Prod", "a_b", "a.b", &"a".repeat(64)] {
            assert!(check_dns1123_label(bad).is_err(), "{bad}");
        }
        assert!(check_dns1123_label("Prod").unwrap_err().contains("`prod`"));
        assert!(check_dns1123_label("Lab_1")
            .unwrap_err()
            .contains("(use `lab-1`)"));
        assert_eq!(label_like("__"), None);
    }

    #[test]
    fn subdomains() {
        assert!(check_dns1123_subdomain("lab.example.com").is_ok());
        assert!(check_dns1123_subdomain("maas").is_ok());
        assert!(check_dns1123_subdomain("a..b").is_err());
        assert!(check_dns1123_subdomain(".a").is_err());
        assert!(check_dns1123_subdomain("A.b").is_err());
    }

    #[test]
    fn label_keys_and_values() {
        for ok in [
            "tier",
            "example.com/gpu",
            "node.kubernetes.io/exclude",
            "a_b.c-d",
        ] {
            assert!(check_label_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/x",
            "a/",
            "Bad_Prefix/x",
            "a/b/c",
            "-x",
            "x-",
            "sp ace",
            &"x".repeat(64),
        ] {
            assert!(check_label_key(bad).is_err(), "{bad}");
        }
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("v1.2_3").is_ok());
        assert!(check_label_value("-v").is_err());
        assert!(check_label_value("a b").is_err());
    }

    #[test]
    fn maas_tags() {
        assert!(check_maas_tag("gpu").is_ok());
        assert!(check_maas_tag("nvme_2.0").is_ok());
        assert!(check_maas_tag("a,b").is_err());
        assert!(check_maas_tag("").is_err());
    }
}
