//! How values travel between Rust and SQLite columns: timestamps as fixed-width RFC 3339 text
//! (so text order is time order), payloads as JSON text, small enums as their names.

use super::error::StoreError;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{FromSqlError, Type};
use rusqlite::Row;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A timestamp as stored: always UTC, always microseconds, always `Z`, so that comparing the
/// text compares the times.
pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn conversion_error(idx: usize, ty: Type, reason: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, reason.into())
}

fn column_index(row: &Row<'_>, column: &str) -> rusqlite::Result<usize> {
    row.as_ref().column_index(column)
}

/// Reads a timestamp column written by [`time_text`].
pub(crate) fn col_time(row: &Row<'_>, column: &str) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(column)?;
    parse_time(row, column, &text)
}

/// Reads a nullable timestamp column.
pub(crate) fn col_opt_time(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<String>>(column)? {
        Some(text) => parse_time(row, column, &text).map(Some),
        None => Ok(None),
    }
}

fn parse_time(row: &Row<'_>, column: &str, text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            let idx = column_index(row, column).unwrap_or(0);
            conversion_error(
                idx,
                Type::Text,
                format!("column {column} holds `{text}`, not an RFC 3339 time: {e}"),
            )
        })
}

/// Reads a JSON column; SQL NULL reads as JSON `null`.
pub(crate) fn col_json(row: &Row<'_>, column: &str) -> rusqlite::Result<Value> {
    match row.get::<_, Option<String>>(column)? {
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            let idx = column_index(row, column).unwrap_or(0);
            conversion_error(
                idx,
                Type::Text,
                format!("column {column} is not valid JSON: {e}"),
            )
        }),
        None => Ok(Value::Null),
    }
}

/// Reads a nullable JSON column, keeping SQL NULL apart from a stored JSON `null`.
pub(crate) fn col_opt_json(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<Value>> {
    match row.get::<_, Option<String>>(column)? {
        Some(_) => col_json(row, column).map(Some),
        None => Ok(None),
    }
}

/// Serialises a caller's payload into the JSON text stored in a column.
pub(crate) fn to_json_text<T: Serialize + ?Sized>(
    value: &T,
    what: &str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Json {
        action: "encode",
        what: what.to_string(),
        source,
    })
}

/// Turns a stored payload back into the caller's type.
pub(crate) fn from_json_value<T: DeserializeOwned>(
    value: &Value,
    what: &str,
) -> Result<T, StoreError> {
    T::deserialize(value).map_err(|source| StoreError::Json {
        action: "decode",
        what: what.to_string(),
        source,
    })
}

/// Builds a column conversion error for values that fail our own parsing (enum names, ids...).
pub(crate) fn bad_text(reason: String) -> FromSqlError {
    FromSqlError::Other(reason.into())
}

/// Declares a small enum stored as text: its names are the column values and the serde names.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in the database and shown to operators.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The value with this stored name, if any.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::store::StoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_name(s).ok_or_else(|| $crate::store::StoreError::Invalid {
                    what: stringify!($name),
                    reason: format!(
                        "`{s}` is not one of: {}",
                        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                })
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                Self::from_name(text).ok_or_else(|| {
                    $crate::store::codec::bad_text(format!(
                        "`{text}` is not a known {} (was this state dir written by a newer kubemaas?)",
                        stringify!($name)
                    ))
                })
            }
        }
    };
}
pub(crate) use text_enum;

/// Declares a row-id newtype so that ids of different tables cannot be mixed up.
macro_rules! row_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.0.into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                value.as_i64().map($name)
            }
        }
    };
}
pub(crate) use row_id;
