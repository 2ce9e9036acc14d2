//! What KeyGate agrees to store, in one place: every text a client or an admin hands it is
//! short and single-line, every number fits the store's columns (SQLite integers are `i64`).
//!
//! Any token holder chooses the model names, session ids and `/p/` paths of its requests, and
//! each of them lands in the request log, the rollups and the events; a 1 MB model name once
//! grew the database by 4 MB a request and made `/api/logs?limit=50` answer 40 MB. So the
//! proxy refuses longer texts before anything is stored ([`check_client_text`]), the admin API
//! and the CLI refuse them in names, labels and prices ([`check_name`]), and the store clips
//! whatever still arrives ([`clip`]) as the last line of defence.

use std::ops::RangeInclusive;

/// The longest text KeyGate stores from a client or an admin, in bytes.
pub const MAX_TEXT_BYTES: usize = 256;

/// The largest integer a store column holds (`i64::MAX`).
pub const MAX_STORED_INTEGER: u64 = i64::MAX as u64;

/// The highest price KeyGate accepts, in micro-dollars per million tokens ($100,000): far
/// above any real model, low enough that a request's cost can never overflow its column.
pub const MAX_PRICE_MICROS: u64 = 100_000 * 1_000_000;

/// Key and provider priorities (lower goes first).
pub const PRIORITIES: RangeInclusive<i64> = -1000..=1000;

/// Key weights for the `weighted` strategy.
pub const WEIGHTS: RangeInclusive<i64> = 1..=1000;

/// A text a client sent (a model name, a session id, a path): at most [`MAX_TEXT_BYTES`].
/// The message never quotes the value, which may be megabytes.
pub fn check_client_text(value: &str) -> Result<(), String> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "is {} bytes long; KeyGate accepts at most {MAX_TEXT_BYTES}",
            value.len()
        ));
    }
    Ok(())
}

/// A name, label or model name given through the admin API or the CLI: at most
/// [`MAX_TEXT_BYTES`] and no control characters (NUL, new lines, escapes), which would break
/// the one-line listings, CSV files and logs that show it.
pub fn check_name(value: &str) -> Result<(), String> {
    check_client_text(value)?;
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "holds the control character U+{:04X}; use printable text on one line",
            u32::from(c)
        ));
    }
    Ok(())
}

/// `value` cut to at most [`MAX_TEXT_BYTES`], at a character boundary.
pub fn clip(value: &str) -> &str {
    if value.len() <= MAX_TEXT_BYTES {
        return value;
    }
    let mut end = MAX_TEXT_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Cuts `value` in place like [`clip`].
pub fn clip_in_place(value: &mut String) {
    let len = clip(value).len();
    value.truncate(len);
}

/// A count or amount that must fit a store column.
pub fn check_stored_integer(value: u64) -> Result<(), String> {
    if value > MAX_STORED_INTEGER {
        return Err(format!("must be at most {MAX_STORED_INTEGER}, not {value}"));
    }
    Ok(())
}

/// `value` as the store's integer, saturated at [`MAX_STORED_INTEGER`]: figures KeyGate did
/// not choose (an upstream's token counts) never fail a batch of rows.
pub fn saturate(value: u64) -> u64 {
    value.min(MAX_STORED_INTEGER)
}

pub fn check_priority(value: i64) -> Result<(), String> {
    in_range(value, &PRIORITIES)
}

pub fn check_weight(value: i64) -> Result<(), String> {
    in_range(value, &WEIGHTS)
}

fn in_range(value: i64, range: &RangeInclusive<i64>) -> Result<(), String> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "must be between {} and {}, not {value}",
            range.start(),
            range.end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_megabyte_model_name_is_refused_without_being_quoted() {
        let long = "m".repeat(1024 * 1024);
        let err = check_client_text(&long).expect_err("too long");
        assert!(err.contains("1048576 bytes"), "{err}");
        assert!(err.len() < 100, "the message must not quote the value");
        assert!(check_client_text(&"m".repeat(MAX_TEXT_BYTES)).is_ok());
        assert!(check_name(&"m".repeat(MAX_TEXT_BYTES + 1)).is_err());
    }

    #[test]
    fn names_with_control_characters_are_refused() {
        let err = check_name("a\u{0}b").expect_err("NUL");
        assert!(err.contains("U+0000"), "{err}");
        assert!(check_name("two\nlines").is_err());
        assert!(check_name("gpt-4o (prod) é 你好").is_ok());
    }

    #[test]
    fn clipping_keeps_whole_characters() {
        let text = "é".repeat(200); // 400 bytes
        let clipped = clip(&text);
        assert!(clipped.len() <= MAX_TEXT_BYTES && clipped.len() >= MAX_TEXT_BYTES - 1);
        assert!(clipped.chars().all(|c| c == 'é'));
        let mut owned = text.clone();
        clip_in_place(&mut owned);
        assert_eq!(owned, clipped);
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn integers_must_fit_a_store_column() {
        assert!(check_stored_integer(i64::MAX as u64).is_ok());
        let err = check_stored_integer(9_223_372_036_854_775_808).expect_err("over");
        assert!(err.contains("9223372036854775807"), "{err}");
        assert_eq!(saturate(u64::MAX), MAX_STORED_INTEGER);
        assert!(check_priority(-1000).is_ok() && check_priority(1001).is_err());
        assert!(check_weight(0).is_err() && check_weight(1000).is_ok());
    }
}
