//! Key identity and the settings a user gives a key.

use serde::{Deserialize, Serialize};

/// Key ids look like `k_3f9c2e1dab`: `k_` and ten lowercase letters or digits. They are the
/// keyring account name, so they must stay short, stable and shell-friendly.
pub fn validate_key_id(id: &str) -> Result<(), String> {
    let ok = id.len() == 12
        && id.starts_with("k_")
        && id[2..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid key id {id:?}: key ids look like k_3f9c2e1dab (see `keygate key list`)"
        ))
    }
}

/// Builds a key id from ten random bytes supplied by the caller (core has no randomness).
pub fn key_id_from_bytes(bytes: [u8; 10]) -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let body: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("k_{body}")
}

/// Local limits and budget for one key. `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub rpd: Option<u32>,
    /// Daily spend cap in micro-dollars (1 USD = 1_000_000), so sums stay exact.
    pub daily_budget_micros: Option<i64>,
    /// Monthly spend cap in micro-dollars.
    #[serde(default)]
    pub monthly_budget_micros: Option<i64>,
    /// Prompt plus completion tokens per UTC day / calendar month.
    #[serde(default)]
    pub daily_token_budget: Option<u64>,
    #[serde(default)]
    pub monthly_token_budget: Option<u64>,
}

impl KeyLimits {
    /// What is wrong with these limits, per field (`rpm`, `daily_budget`, `daily_tokens`, …):
    /// the same rules for the admin API, the CLI and import files. A zero request limit would
    /// silently block the key; a token budget over `i64::MAX` does not fit the store.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        for (field, value) in [("rpm", self.rpm), ("tpm", self.tpm), ("rpd", self.rpd)] {
            if value == Some(0) {
                problems.push((field, "must be at least 1 (or none for no limit)".into()));
            }
        }
        for (field, value) in [
            ("daily_budget", self.daily_budget_micros),
            ("monthly_budget", self.monthly_budget_micros),
        ] {
            if value.is_some_and(|v| v < 0) {
                problems.push((field, "must not be negative".into()));
            }
        }
        problems.extend(self.budgets().problems());
        problems
    }
}

/// Parses a dollar amount such as `5`, `12.5` or `0.000001` into micro-dollars, exactly.
pub fn parse_usd_micros(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid amount {text:?}: use dollars like 5 or 12.50");
    let text = text.trim().trim_start_matches('$');
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 6
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac_micros: i64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(1_000_000)
        .and_then(|w| w.checked_add(frac_micros))
        .ok_or_else(bad)
}

/// [`format_usd_micros`] for an unsigned amount (budgets), saturating at `i64::MAX`.
pub fn format_usd(micros: u64) -> String {
    format_usd_micros(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// Formats micro-dollars as dollars with the fewest needed decimals (at least two).
pub fn format_usd_micros(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let frac = format!("{:06}", abs % 1_000_000);
    let trimmed = frac.trim_end_matches('0');
    let frac = if trimmed.len() < 2 {
        &frac[..2]
    } else {
        trimmed
    };
    format!("{sign}{}.{frac}", abs / 1_000_000)
}

/// Tags are short labels for grouping keys (`--tag team-a`).
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 32
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid tag {tag:?}: use 1-32 letters, digits, '-', '_', '.' or ':'"
        ))
    }
}

/// Tags as given, trimmed, without empty ones or repeats (the first of each kept, in order).
pub fn tidy_tags<S: AsRef<str>>(tags: &[S]) -> Vec<String> {
    let mut tidy: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.as_ref().trim();
        if !tag.is_empty() && !tidy.iter().any(|t| t == tag) {
            tidy.push(tag.to_string());
        }
    }
    tidy
}

/// The problems of a key edit's values, as (field, message): the same rules as adding a key.
pub fn edit_problems(
    label: Option<&str>,
    tags: Option<&[String]>,
    priority: Option<i64>,
    weight: Option<i64>,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if let Some(Err(e)) = label.map(validate_label) {
        problems.push(("label".into(), e));
    }
    for tag in tags.unwrap_or_default() {
        if let Err(e) = validate_tag(tag) {
            problems.push(("tags".into(), e));
        }
    }
    if let Some(Err(e)) = priority.map(crate::bounds::check_priority) {
        problems.push(("priority".into(), e));
    }
    if let Some(Err(e)) = weight.map(crate::bounds::check_weight) {
        problems.push(("weight".into(), e));
    }
    problems
}

/// Labels are free text for people, but single-line and bounded.
pub fn validate_label(label: &str) -> Result<(), String> {
    if label.trim().is_empty() || label.len() > 80 || label.chars().any(char::is_control) {
        Err(format!(
            "invalid label {label:?}: use 1-80 characters on one line"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_and_each_kept_once_in_order() {
        assert_eq!(tidy_tags(&[" b ", "a", "", "b", "a"]), ["b", "a"]);
    }

    #[test]
    fn key_ids_from_bytes_are_valid() {
        let id = key_id_from_bytes([0, 1, 2, 25, 26, 35, 36, 200, 255, 7]);
        assert_eq!(id, "k_abcz09audh");
        validate_key_id(&id).expect("valid");
        assert!(validate_key_id("k_ABC").is_err());
        assert!(validate_key_id("../etc/passwd").is_err());
    }

    #[test]
    fn usd_parsing_is_exact() {
        assert_eq!(parse_usd_micros("5"), Ok(5_000_000));
        assert_eq!(parse_usd_micros("12.5"), Ok(12_500_000));
        assert_eq!(parse_usd_micros("$0.000001"), Ok(1));
        assert_eq!(parse_usd_micros(".25"), Ok(250_000));
        assert!(parse_usd_micros("1.0000001").is_err());
        assert!(parse_usd_micros("-3").is_err());
        assert!(parse_usd_micros("").is_err());
        assert!(parse_usd_micros(".").is_err());
        assert!(parse_usd_micros("abc").is_err());
    }

    #[test]
    fn usd_formatting_keeps_cents_and_trims_zeros() {
        assert_eq!(format_usd_micros(5_000_000), "5.00");
        assert_eq!(format_usd_micros(12_500_000), "12.50");
        assert_eq!(format_usd_micros(1), "0.000001");
        assert_eq!(format_usd_micros(-1_230_000), "-1.23");
    }

    #[test]
    fn tags_and_labels_are_validated() {
        assert!(validate_tag("team-a").is_ok());
        assert!(validate_tag("has space").is_err());
        assert!(validate_label("Main key (prod)").is_ok());
        assert!(validate_label("two\nlines").is_err());
        assert!(validate_label("  ").is_err());
    }

    #[test]
    fn a_token_budget_over_i64_is_a_problem_of_its_field() {
        let limits = KeyLimits {
            rpm: Some(0),
            daily_token_budget: Some(9_223_372_036_854_775_808),
            monthly_token_budget: Some(i64::MAX as u64),
            ..KeyLimits::default()
        };
        let fields: Vec<&str> = limits.problems().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["rpm", "daily_tokens"]);
        assert!(KeyLimits::default().problems().is_empty());
    }
}
