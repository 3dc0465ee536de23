//! Cron schedule syntax for scan, backup and patch policies: the five-field form
//! (`minute hour day-of-month month day-of-week`) with `*`, ranges, steps, lists and month/day
//! names, or one of `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. Checking here means a
//! typo is reported when the spec is written, not weeks later when the first run should happen.

const MACROS: [&str; 6] = [
    "@hourly",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@yearly",
];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    // 0 and 7 are both Sunday, as in every cron.
    Field {
        name: "day of week",
        min: 0,
        max: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

/// Checks a cron expression; the error says which field is wrong and what it accepts.
pub fn check_cron(expr: &str) -> Result<(), String> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Err(
            "is empty: give a cron schedule like `0 2 * * 0` (Sundays at 02:00) or `@weekly`"
                .into(),
        );
    }
    if expr.starts_with('@') {
        return if MACROS.contains(&expr) {
            Ok(())
        } else {
            Err(format!(
                "`{expr}` is not a cron shorthand: use one of {}",
                MACROS.join(", ")
            ))
        };
    }
    let parts: Vec<&str> = expr.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(format!(
            "`{expr}` has {} field(s); a cron schedule has 5: minute hour day-of-month month day-of-week, like `0 2 * * 0`",
            parts.len()
        ));
    }
    for (part, field) in parts.iter().zip(FIELDS.iter()) {
        check_field(part, field).map_err(|e| format!("`{expr}`: {e}"))?;
    }
    Ok(())
}

fn check_field(text: &str, field: &Field) -> Result<(), String> {
    for item in text.split(',') {
        check_item(item, field).map_err(|e| {
            format!(
                "the {} field `{text}` {e} ({}–{}{})",
                field.name,
                field.min,
                field.max,
                if field.names.is_empty() {
                    String::new()
                } else {
                    format!(
                        " or {}–{}",
                        field.names[0],
                        field.names[field.names.len() - 1]
                    )
                }
            )
        })?;
    }
    Ok(())
}

fn check_item(item: &str, field: &Field) -> Result<(), String> {
    if item.is_empty() {
        return Err("has an empty list entry".into());
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(s) if s >= 1 && s <= field.max.max(1) => {}
            _ => {
                return Err(format!(
                    "has step `{step}`, which is not a number from 1 to {}",
                    field.max
                ))
            }
        }
    }
    if range == "*" {
        return Ok(());
    }
    let (lo, hi) = match range.split_once('-') {
        Some((lo, hi)) => (value(lo, field)?, Some(value(hi, field)?)),
        None => (value(range, field)?, None),
    };
    if let Some(hi) = hi {
        if hi < lo {
            return Err(format!("has range `{range}` running backwards"));
        }
    }
    Ok(())
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = field.names.iter().position(|n| *n == lower) {
        // Month names count from 1, day names from 0.
        return Ok(i as u32 + field.min);
    }
    match text.parse::<u32>() {
        Ok(v) if (field.min..=field.max).contains(&v) => Ok(v),
        Ok(v) => Err(format!("has {v}, outside the allowed range")),
        Err(_) => Err(format!("has `{text}`, which is not a number or name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_schedules() {
        for ok in [
            "0 2 * * 0",
            "*/15 * * * *",
            "0 0 1 * *",
            "30 3 * * mon-fri",
            "0 0 1 1,7 *",
            "0 0 * JAN sun",
            "0 0 * * 7",
            "0 8-18/2 * * *",
            "@weekly",
        ] {
            assert!(check_cron(ok).is_ok(), "{ok}: {:?}", check_cron(ok));
        }
    }

    #[test]
    fn rejects_with_the_field_named() {
        let e = check_cron("61 * * * *").unwrap_err();
        assert!(e.contains("minute"), "{e}");
        let e = check_cron("0 0 * * funday").unwrap_err();
        assert!(e.contains("day of week"), "{e}");
        assert!(check_cron("0 0 * *").unwrap_err().contains("4 field"));
        assert!(check_cron("").is_err());
        assert!(check_cron("@sometimes").is_err());
        assert!(check_cron("*/0 * * * *").is_err());
        assert!(check_cron("5-1 * * * *").is_err());
        assert!(check_cron("1,,2 * * * *").is_err());
        assert!(check_cron("0 0 0 * *").is_err());
    }
}
