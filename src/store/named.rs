//! Tables of records addressed by a unique name (gateways, cloud accounts): recording one with a
//! duplicate check, reading one or all, changing one, and removing one nothing uses, with the
//! same errors (and hints) whatever the kind of record.

use super::error::{db_err, is_unique_violation, StoreError};
use super::tx::Tx;
use rusqlite::{OptionalExtension, Params, Row};

/// A table whose rows have a unique `name` column.
pub(crate) struct NamedTable {
    pub table: &'static str,
    /// The columns reads select and inserts fill, in binding order.
    pub columns: &'static str,
    /// What operators call a record, for messages: "cloud account".
    pub kind: &'static str,
    /// The name's field, for a blank one: "cloud account name".
    pub name_field: &'static str,
    /// How to see the names that exist: "list the accounts with `kubemaas account list`".
    pub list_hint: &'static str,
    /// What to do when a name is taken: "pick another name, or remove the old account first".
    pub duplicate_hint: &'static str,
}

/// The records that keep a named record from being removed.
pub(crate) struct Users {
    /// Selects the names of the users of the record named `?1`.
    pub sql: &'static str,
    /// What they are, for messages: "cluster(s)".
    pub label: &'static str,
    /// What to do about them: "delete those clusters first".
    pub hint: &'static str,
}

type FromRow<T> = fn(&Row<'_>) -> rusqlite::Result<T>;

impl NamedTable {
    pub(crate) fn not_found(&self, name: &str) -> StoreError {
        StoreError::NotFound {
            kind: self.kind,
            key: name.to_string(),
            hint: self.list_hint,
        }
    }
}

impl Tx<'_> {
    /// Inserts a record; `values` is the SQL `VALUES` list binding `params` to the columns.
    pub(crate) fn insert_named(
        &self,
        t: &NamedTable,
        name: &str,
        values: &str,
        params: impl Params,
    ) -> Result<(), StoreError> {
        non_empty(t.name_field, name)?;
        self.conn()
            .execute(
                &format!("INSERT INTO {} ({}) VALUES {values}", t.table, t.columns),
                params,
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Duplicate {
                        kind: t.kind,
                        key: name.to_string(),
                        hint: t.duplicate_hint,
                    }
                } else {
                    db_err(format!("recording {} {name}", t.kind))(e)
                }
            })?;
        Ok(())
    }

    /// The record called `name`.
    pub(crate) fn named<T>(
        &self,
        t: &NamedTable,
        name: &str,
        from_row: FromRow<T>,
    ) -> Result<T, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {} FROM {} WHERE name = ?1", t.columns, t.table),
                [name],
                from_row,
            )
            .optional()
            .map_err(db_err(format!("reading {} {name}", t.kind)))?
            .ok_or_else(|| t.not_found(name))
    }

    /// Every record, by name.
    pub(crate) fn all_named<T>(
        &self,
        t: &NamedTable,
        from_row: FromRow<T>,
    ) -> Result<Vec<T>, StoreError> {
        let what = format!("listing {}s", t.kind);
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {} FROM {} ORDER BY name",
                t.columns, t.table
            ))
            .map_err(db_err(what.clone()))?;
        let rows = stmt.query_map([], from_row).map_err(db_err(what.clone()))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }

    /// Runs an `UPDATE … WHERE name = ?1`; a name that matches nothing is an error.
    pub(crate) fn update_named(
        &self,
        t: &NamedTable,
        name: &str,
        sql: &str,
        params: impl Params,
        what: String,
    ) -> Result<(), StoreError> {
        self.conn().execute(sql, params).map_err(db_err(what))?;
        if self.changes() == 0 {
            return Err(t.not_found(name));
        }
        Ok(())
    }

    /// Removes the record called `name`, refused while `users` lists any.
    pub(crate) fn delete_named(
        &self,
        t: &NamedTable,
        name: &str,
        users: &Users,
    ) -> Result<(), StoreError> {
        let what = format!("removing {} {name}", t.kind);
        let found: Vec<String> = {
            let mut stmt = self
                .conn()
                .prepare_cached(users.sql)
                .map_err(db_err(what.clone()))?;
            let rows = stmt
                .query_map([name], |r| r.get(0))
                .map_err(db_err(what.clone()))?;
            rows.collect::<Result<_, _>>()
                .map_err(db_err(what.clone()))?
        };
        if !found.is_empty() {
            return Err(StoreError::InUse {
                kind: t.kind,
                key: name.to_string(),
                users: format!("{} {}", users.label, found.join(", ")),
                hint: users.hint,
            });
        }
        self.conn()
            .execute(&format!("DELETE FROM {} WHERE name = ?1", t.table), [name])
            .map_err(db_err(what))?;
        if self.changes() == 0 {
            return Err(t.not_found(name));
        }
        Ok(())
    }
}

/// Refuses empty or blank names, which no command line could address later.
pub(crate) fn non_empty(what: &'static str, value: &str) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(StoreError::Invalid {
            what,
            reason: "it is empty: give a name".into(),
        });
    }
    Ok(())
}
