//! Reading key import files (CSV and TOML) into validated rows. All rows are checked before
//! anything is imported; every problem is reported as `file:line: message`, and no message
//! ever quotes a secret.

use std::fmt;

use serde::Deserialize;

use crate::key::{KeyLimits, parse_usd_micros, validate_label, validate_tag};
use crate::provider::validate_provider_name;

/// Where an imported key's secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ImportSecret {
    /// The secret itself (from the file, or a `${ENV}` reference expanded at import time).
    Literal(String),
    /// Keep an `env:VAR` reference; the secret is read from the environment when used.
    EnvRef(String),
}

impl fmt::Debug for ImportSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(_) => f.write_str("Literal(<redacted>)"),
            Self::EnvRef(var) => write!(f, "EnvRef({var})"),
        }
    }
}

/// One key to import, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: usize,
    pub provider: String,
    pub label: Option<String>,
    pub secret: ImportSecret,
    pub tags: Vec<String>,
    pub priority: i64,
    pub weight: i64,
    pub limits: KeyLimits,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ImportError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Reads an environment variable; injected so parsing stays pure and testable.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The CSV columns, in any order; `provider` and `secret` are required.
pub const CSV_COLUMNS: &[&str] = &[
    "provider",
    "label",
    "secret",
    "tags",
    "priority",
    "weight",
    "rpm",
    "tpm",
    "rpd",
    "daily_budget",
    "monthly_budget",
    "daily_tokens",
    "monthly_tokens",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    provider: Option<String>,
    label: Option<String>,
    secret: Option<String>,
    secret_env: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    priority: Option<i64>,
    weight: Option<i64>,
    rpm: Option<u32>,
    tpm: Option<u32>,
    rpd: Option<u32>,
    daily_budget: Option<String>,
    monthly_budget: Option<String>,
    daily_tokens: Option<u64>,
    monthly_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    key: Vec<toml::Spanned<RawRow>>,
}

/// Parses keys pasted one per line, all for `provider` (blank lines and `#` comments are
/// skipped). Each line must be one whole key: no spaces inside, no commas (a CSV row pasted
/// here by mistake). Errors never quote the line: it may be a secret.
pub fn parse_lines(
    file: &str,
    text: &str,
    provider: &str,
) -> Result<Vec<ImportRow>, Vec<ImportError>> {
    let error = |line: usize, message: &str| ImportError {
        file: file.to_string(),
        line,
        message: message.to_string(),
    };
    if let Err(e) = validate_provider_name(provider) {
        return Err(vec![error(0, &e)]);
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let secret = raw.trim();
        if secret.is_empty() || secret.starts_with('#') {
            continue;
        }
        if secret.chars().any(char::is_whitespace) || secret.contains(',') {
            errors.push(error(
                line,
                "one whole key per line: no spaces or commas (for columns, use CSV with a header row)",
            ));
            continue;
        }
        if secret.len() > 4096 {
            errors.push(error(line, "longer than any API key (4096 bytes)"));
            continue;
        }
        if !seen.insert(secret) {
            errors.push(error(line, "the same key as an earlier line"));
            continue;
        }
        rows.push(ImportRow {
            line,
            provider: provider.to_string(),
            label: None,
            secret: ImportSecret::Literal(secret.to_string()),
            tags: Vec::new(),
            priority: 0,
            weight: 1,
            limits: KeyLimits::default(),
        });
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(error(0, "no keys: paste one key per line"));
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// Parses a CSV file with a header row. `secret` may be a literal secret, `${VAR}` (expanded
/// now) or `env:VAR` (kept as a reference).
/// Tags are separated by `;`.
pub fn parse_csv(
    file: &str,
    text: &str,
    env: EnvLookup<'_>,
) -> Result<Vec<ImportRow>, Vec<ImportError>> {
    let err = |line: usize, message: String| ImportError {
        file: file.to_string(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![err(
                1,
                format!("cannot read the header row: {}", csv_reason(&e)),
            )]);
        }
    };
    let mut errors = Vec::new();
    for name in headers.iter() {
        if !CSV_COLUMNS.contains(&name) {
            errors.push(err(
                1,
                format!(
                    "unknown column {name:?}; columns are {}",
                    CSV_COLUMNS.join(", ")
                ),
            ));
        }
    }
    for required in ["provider", "secret"] {
        if !headers.iter().any(|h| h == required) {
            errors.push(err(1, format!("missing column {required:?}")));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                errors.push(err(line, csv_reason(&e)));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        // Trailing empty fields may be left out; extra fields are a mistake.
        if record.len() > headers.len() {
            errors.push(err(
                line,
                format!("expected {} fields, found {}", headers.len(), record.len()),
            ));
            continue;
        }
        let mut raw = RawRow::default();
        let mut field_errors = Vec::new();
        for (name, value) in headers.iter().zip(record.iter()) {
            if value.is_empty() {
                continue;
            }
            let value = value.to_string();
            match name {
                "provider" => raw.provider = Some(value),
                "label" => raw.label = Some(value),
                "secret" => match value.strip_prefix("env:") {
                    Some(var) => raw.secret_env = Some(var.to_string()),
                    None => raw.secret = Some(value),
                },
                "tags" => {
                    raw.tags = value
                        .split(';')
                        .map(|t| t.trim().to_string())
                        .filter(|t| !t.is_empty())
                        .collect()
                }
                "priority" => raw.priority = parse_num(name, &value, &mut field_errors),
                "weight" => raw.weight = parse_num(name, &value, &mut field_errors),
                "rpm" => raw.rpm = parse_num(name, &value, &mut field_errors),
                "tpm" => raw.tpm = parse_num(name, &value, &mut field_errors),
                "rpd" => raw.rpd = parse_num(name, &value, &mut field_errors),
                "daily_budget" => raw.daily_budget = Some(value),
                "monthly_budget" => raw.monthly_budget = Some(value),
                "daily_tokens" => raw.daily_tokens = parse_num(name, &value, &mut field_errors),
                "monthly_tokens" => raw.monthly_tokens = parse_num(name, &value, &mut field_errors),
                _ => {}
            }
        }
        errors.extend(field_errors.into_iter().map(|m| err(line, m)));
        match validate_row(raw, line, env) {
            Ok(row) => rows.push(row),
            Err(messages) => errors.extend(messages.into_iter().map(|m| err(line, m))),
        }
    }
    finish(file, rows, errors)
}

/// Parses a TOML file of `[[key]]` tables. `secret = "${VAR}"` is expanded from the
/// environment at import time; `secret_env = "VAR"` keeps an `env:VAR` reference.
pub fn parse_toml(
    file: &str,
    text: &str,
    env: EnvLookup<'_>,
) -> Result<Vec<ImportRow>, Vec<ImportError>> {
    let parsed: TomlFile = match toml::from_str(text) {
        Ok(p) => p,
        Err(e) => {
            let line = e.span().map_or(1, |span| line_of(text, span.start));
            // toml's message quotes the offending input, which may be a secret: keep only its
            // first line, which names the problem, not the value.
            let reason = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string();
            return Err(vec![ImportError {
                file: file.to_string(),
                line,
                message: reason,
            }]);
        }
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for spanned in parsed.key {
        let line = line_of(text, spanned.span().start);
        match validate_row(spanned.into_inner(), line, env) {
            Ok(row) => rows.push(row),
            Err(messages) => errors.extend(messages.into_iter().map(|message| ImportError {
                file: file.to_string(),
                line,
                message,
            })),
        }
    }
    finish(file, rows, errors)
}

fn finish(
    file: &str,
    rows: Vec<ImportRow>,
    errors: Vec<ImportError>,
) -> Result<Vec<ImportRow>, Vec<ImportError>> {
    if !errors.is_empty() {
        return Err(errors);
    }
    if rows.is_empty() {
        return Err(vec![ImportError {
            file: file.to_string(),
            line: 1,
            message: "no keys found in the file".into(),
        }]);
    }
    Ok(rows)
}

fn validate_row(raw: RawRow, line: usize, env: EnvLookup<'_>) -> Result<ImportRow, Vec<String>> {
    let mut problems = Vec::new();
    let provider = match raw.provider {
        Some(p) => {
            if let Err(e) = validate_provider_name(&p) {
                problems.push(e);
            }
            p
        }
        None => {
            problems.push("missing provider".into());
            String::new()
        }
    };
    // The label and tag checks' own messages quote the value; here they must not: a quote
    // opened in one column can swallow the rest of the file, secrets of later rows included.
    if let Some(label) = &raw.label
        && validate_label(label).is_err()
    {
        problems.push("invalid label: use 1-80 characters on one line".into());
    }
    if raw.tags.iter().any(|tag| validate_tag(tag).is_err()) {
        problems.push(
            "invalid tags: separate them with ';', each 1-32 letters, digits, '-', '_', '.' or ':'"
                .into(),
        );
    }
    let secret = match (raw.secret, raw.secret_env) {
        (Some(_), Some(_)) => {
            problems.push("give either secret or secret_env, not both".into());
            None
        }
        (None, None) => {
            problems.push("missing secret (a secret, ${VAR} or env:VAR)".into());
            None
        }
        (None, Some(var)) => match crate_env_name(&var) {
            Ok(()) => Some(ImportSecret::EnvRef(var)),
            Err(e) => {
                problems.push(e);
                None
            }
        },
        (Some(value), None) => match expand_env(&value, env) {
            Ok(v) => Some(ImportSecret::Literal(v)),
            Err(e) => {
                problems.push(e);
                None
            }
        },
    };
    if let Some(ImportSecret::Literal(value)) = &secret
        && (value.is_empty() || value.chars().any(char::is_whitespace))
    {
        problems.push("the secret is empty or contains whitespace".into());
    }
    let weight = raw.weight.unwrap_or(1);
    if let Err(e) = crate::bounds::check_weight(weight) {
        problems.push(format!("weight {e}"));
    }
    let priority = raw.priority.unwrap_or(0);
    if let Err(e) = crate::bounds::check_priority(priority) {
        problems.push(format!("priority {e}"));
    }
    // Errors name the column, never the value: in a misaligned row it may be a secret.
    let mut usd = |column: &str, text: Option<&str>| match text.map(parse_usd_micros).transpose() {
        Ok(v) => v,
        Err(_) => {
            problems.push(format!(
                "{column} must be an amount in dollars like 5 or 12.50"
            ));
            None
        }
    };
    let daily_budget_micros = usd("daily_budget", raw.daily_budget.as_deref());
    let monthly_budget_micros = usd("monthly_budget", raw.monthly_budget.as_deref());
    let limits = KeyLimits {
        rpm: raw.rpm,
        tpm: raw.tpm,
        rpd: raw.rpd,
        daily_budget_micros,
        monthly_budget_micros,
        daily_token_budget: raw.daily_tokens,
        monthly_token_budget: raw.monthly_tokens,
    };
    for (column, e) in limits.problems() {
        problems.push(format!("{column} {e}"));
    }
    match secret {
        Some(secret) if problems.is_empty() => Ok(ImportRow {
            line,
            provider,
            label: raw.label,
            secret,
            tags: raw.tags,
            priority,
            weight,
            limits,
        }),
        _ => Err(problems),
    }
}

fn crate_env_name(var: &str) -> Result<(), String> {
    let ok = !var.is_empty()
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid environment variable name {var:?}"))
    }
}

/// Expands `${VAR}` references. A value without `${` is taken literally.
pub fn expand_env(value: &str, env: EnvLookup<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or("unclosed ${ in secret: write ${VAR}")?;
        let var = &after[..end];
        crate_env_name(var)?;
        let val = env(var).ok_or_else(|| format!("environment variable {var} is not set"))?;
        out.push_str(&val);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_num<T: std::str::FromStr>(name: &str, value: &str, errors: &mut Vec<String>) -> Option<T> {
    match value.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            // The value is not echoed: in a misaligned row it may be another column's secret.
            errors.push(format!("{name} must be a whole number"));
            None
        }
    }
}

/// A csv error's reason without the record's contents (which may hold a secret).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "the line is not valid UTF-8".into(),
        csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
        _ => "malformed CSV".into(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pasted_one_per_line_import_for_one_provider_and_bad_lines_are_named_not_quoted() {
        let rows = parse_lines(
            "paste",
            "sk-one-111\n\n# a comment\n  sk-two-222  \n",
            "openai",
        )
        .expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[1].line), (1, 4));
        assert!(rows.iter().all(|r| r.provider == "openai" && r.weight == 1));
        assert_eq!(rows[1].secret, ImportSecret::Literal("sk-two-222".into()));
        let errors = parse_lines("paste", "sk-a-1\nopenai,sk-b-2\nsk c\nsk-a-1\n", "openai")
            .expect_err("bad");
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        for e in &errors {
            assert!(!e.message.contains("sk-"), "{e}");
        }
        assert!(parse_lines("paste", "\n# only\n", "openai").is_err());
        assert!(parse_lines("paste", "sk-x", "Bad Name").is_err());
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn csv_rows_parse_with_literal_and_env_secrets() {
        let text = "provider,label,secret,tags,priority,rpm,daily_budget\n\
                    openai,main,sk-aaaaaaaaaaaaaaaaaaaa,team;prod,1,60,5.5\n\
                    anthropic,,env:ANTHROPIC_KEY,,,,\n";
        let rows = parse_csv("keys.csv", text, &no_env).expect("valid");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].tags, vec!["team", "prod"]);
        assert_eq!(rows[0].limits.rpm, Some(60));
        assert_eq!(rows[0].limits.daily_budget_micros, Some(5_500_000));
        assert_eq!(rows[1].secret, ImportSecret::EnvRef("ANTHROPIC_KEY".into()));
        assert_eq!(rows[1].line, 3);
    }

    #[test]
    fn csv_bad_rows_report_file_and_line_without_the_secret() {
        let text = "provider,secret,priority\n\
                    openai,sk-good-000000000000,0\n\
                    Bad Name,sk-secret-value-xyz,abc\n";
        let errors = parse_csv("keys.csv", text, &no_env).expect_err("bad row");
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(all.iter().all(|e| e.starts_with("keys.csv:3: ")), "{all:?}");
        assert!(all.iter().any(|e| e.contains("priority")), "{all:?}");
        assert!(all.iter().any(|e| e.contains("provider name")), "{all:?}");
        assert!(
            all.iter().all(|e| !e.contains("sk-secret-value-xyz")),
            "{all:?}"
        );
    }

    #[test]
    fn an_open_quote_in_tags_does_not_quote_the_next_rows_secret() {
        // Found by reliability_input's proptest: the quote runs to the end of the file.
        let text = "provider,secret,tags\n,sk-PROPSECRET,\",\n,sk-PROPSECRET,\n";
        let errors = parse_csv("keys.csv", text, &no_env).expect_err("bad rows");
        assert!(
            errors.iter().all(|e| !e.to_string().contains("PROPSECRET")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.message.contains("invalid tags")),
            "{errors:?}"
        );
    }

    #[test]
    fn csv_rows_may_leave_out_trailing_empty_fields() {
        let rows = parse_csv(
            "k.csv",
            "provider,secret,label,tags\nopenai,sk-short-1\n",
            &no_env,
        )
        .expect("valid");
        assert_eq!(rows[0].label, None);
    }

    #[test]
    fn csv_unknown_column_and_ragged_rows_are_errors() {
        let errors =
            parse_csv("k.csv", "provider,secret,colour\nopenai,x,red\n", &no_env).expect_err("col");
        assert!(errors[0].to_string().contains("unknown column \"colour\""));
        let errors = parse_csv("k.csv", "provider,secret\nopenai,sk-1,extra\n", &no_env)
            .expect_err("ragged");
        assert_eq!(errors[0].line, 2);
        assert!(!errors[0].to_string().contains("sk-1"));
    }

    #[test]
    fn toml_expands_env_references_and_keeps_env_refs() {
        let text = r#"
[[key]]
provider = "openai"
label = "from env"
secret = "${TEST_OPENAI}"
tags = ["a"]

[[key]]
provider = "deepseek"
secret_env = "DEEPSEEK_KEY"
"#;
        let env = |name: &str| (name == "TEST_OPENAI").then(|| "sk-expanded-123456789".to_string());
        let rows = parse_toml("keys.toml", text, &env).expect("valid");
        assert_eq!(
            rows[0].secret,
            ImportSecret::Literal("sk-expanded-123456789".into())
        );
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[1].secret, ImportSecret::EnvRef("DEEPSEEK_KEY".into()));
        assert_eq!(rows[1].line, 8);
    }

    #[test]
    fn toml_missing_env_and_unknown_fields_name_the_line() {
        let text = "[[key]]\nprovider = \"openai\"\nsecret = \"${NOPE}\"\n\n[[key]]\nprovider = \"openai\"\nsecret = \"x-123456\"\ncolour = \"red\"\n";
        let errors = parse_toml("k.toml", text, &no_env).expect_err("bad");
        let text_errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text_errors
                .iter()
                .any(|e| e.starts_with("k.toml:") && (e.contains("NOPE") || e.contains("colour"))),
            "{text_errors:?}"
        );
        assert!(
            text_errors.iter().all(|e| !e.contains("x-123456")),
            "{text_errors:?}"
        );
    }

    #[test]
    fn toml_row_errors_point_at_the_table() {
        let text = "[[key]]\nprovider = \"openai\"\nsecret = \"sk-ok-1234567890\"\n\n[[key]]\nprovider = \"openai\"\nweight = 0\nsecret = \"sk-ok-2345678901\"\n";
        let errors = parse_toml("k.toml", text, &no_env).expect_err("weight");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 5);
        assert!(errors[0].message.contains("weight"));
    }

    #[test]
    fn an_empty_file_is_an_error() {
        assert!(parse_toml("k.toml", "", &no_env).is_err());
        assert!(parse_csv("k.csv", "provider,secret\n", &no_env).is_err());
    }

    #[test]
    fn secret_debug_is_redacted() {
        let dbg = format!("{:?}", ImportSecret::Literal("sk-top-secret".into()));
        assert!(!dbg.contains("sk-top-secret"));
    }
}
