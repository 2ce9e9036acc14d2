//! Reading typed values out of text columns, with a column-specific error on bad data.

use std::str::FromStr;

use serde::de::DeserializeOwned;

use crate::sql::{DbError, Row};

/// A nullable text column parsed with `FromStr` (enums stored as their names).
pub(crate) fn parse_column<T>(row: &Row<'_>, index: usize) -> Result<Option<T>, DbError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: Option<String> = row.get(index)?;
    text.map(|t| {
        t.parse::<T>()
            .map_err(|e| DbError::conversion(index, e.to_string()))
    })
    .transpose()
}

/// A text column holding JSON.
pub(crate) fn json_column<T: DeserializeOwned>(row: &Row<'_>, index: usize) -> Result<T, DbError> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| DbError::conversion(index, e.to_string()))
}
