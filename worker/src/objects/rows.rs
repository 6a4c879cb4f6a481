//! SQL rows read by column position (`SqlCursor::raw`), not through serde.
//!
//! `SqlCursor::to_array::<T>()` deserialises each row with
//! `serde_wasm_bindgen`, and every row type × that deserializer is a copy of
//! its own in the `.wasm` (issue 9). Here there is one reader for every
//! query: a row is its columns in `SELECT` order, and each column is asked
//! for as the type the schema gives it. A column of another type is an error,
//! as it was for the derived row types (a number where text is expected, a
//! fraction or an unsafe integer where an integer is expected; NULL only
//! where the column may be NULL).

use worker::{Error, Result, SqlCursor, SqlStorageValue};

/// One row: its columns in `SELECT` order.
pub(crate) struct Row(Vec<SqlStorageValue>);

/// Every row of a query.
pub(crate) fn all(cursor: SqlCursor) -> Result<Vec<Row>> {
    cursor.raw().map(|r| r.map(Row)).collect()
}

/// The first row of a query, if any.
pub(crate) fn first(cursor: SqlCursor) -> Result<Option<Row>> {
    cursor.raw().next().transpose().map(|r| r.map(Row))
}

fn column_error(i: usize, expected: &str) -> Error {
    Error::RustError(format!("column {i}: expected {expected}"))
}

impl Row {
    fn get(&self, i: usize) -> &SqlStorageValue {
        self.0.get(i).unwrap_or(&SqlStorageValue::Null)
    }

    /// A TEXT column that may be NULL.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.get(i) {
            SqlStorageValue::Null => Ok(None),
            SqlStorageValue::String(s) => Ok(Some(s.clone())),
            _ => Err(column_error(i, "text")),
        }
    }

    /// A TEXT column.
    pub(crate) fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?.ok_or_else(|| column_error(i, "text"))
    }

    /// An INTEGER column that may be NULL.
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.get(i) {
            SqlStorageValue::Null => Ok(None),
            SqlStorageValue::Integer(n) => Ok(Some(*n)),
            _ => Err(column_error(i, "an integer")),
        }
    }

    /// An INTEGER column.
    pub(crate) fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| column_error(i, "an integer"))
    }
}

/// A row type read by column position.
pub(crate) trait FromRow: Sized {
    fn from_row(r: &Row) -> Result<Self>;
}

/// Every row of a query as `T` (what `SqlCursor::to_array::<T>()` gave).
pub(crate) fn read<T: FromRow>(cursor: SqlCursor) -> Result<Vec<T>> {
    all(cursor)?.iter().map(T::from_row).collect()
}
