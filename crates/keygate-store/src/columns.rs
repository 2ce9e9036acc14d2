//! Reading typed values out of text columns, with a column-specific error on bad data.

use std::str::FromStr;

use rusqlite::Row;
use rusqlite::types::Type;
use serde::de::DeserializeOwned;

/// A nullable text column parsed with `FromStr` (enums stored as their names).
pub(crate) fn parse_column<T>(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: Option<String> = row.get(index)?;
    text.map(|t| {
        t.parse::<T>()
            .map_err(|e| conversion_error(index, e.to_string()))
    })
    .transpose()
}

/// A text column holding JSON.
pub(crate) fn json_column<T: DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| conversion_error(index, e.to_string()))
}

fn conversion_error(index: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, message.into())
}
