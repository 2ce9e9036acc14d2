//! `KEY=value` files (`~/.gemini/.env`): one line per key replaced, appended or removed; every
//! other line, comments included, stays byte for byte.

use serde_json::Value;

use super::document::Document;
use super::{ConnectError, Step};

pub struct DotenvDoc {
    lines: Vec<String>,
    /// Whether the text ended with a newline (kept when the last line is not ours).
    final_newline: bool,
}

impl DotenvDoc {
    pub fn parse(text: &str) -> DotenvDoc {
        DotenvDoc {
            lines: text.lines().map(str::to_string).collect(),
            final_newline: text.is_empty() || text.ends_with('\n'),
        }
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.lines
            .iter()
            .rposition(|line| assignment(line).is_some_and(|(k, _)| k == key))
    }
}

/// `KEY` and its raw value, for `KEY=value` and `export KEY=value`.
pub fn assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start();
    if line.starts_with('#') {
        return None;
    }
    let line = line.strip_prefix("export ").map_or(line, str::trim_start);
    let (key, value) = line.split_once('=')?;
    let key = key.trim_end();
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    valid.then_some((key, value.trim()))
}

/// The value of `KEY=value`, without its quotes.
pub fn unquote(raw: &str) -> String {
    let bytes = raw.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && let Some(end) = raw[1..].find(char::from(bytes[0]))
    {
        let inner = &raw[1..1 + end];
        return if bytes[0] == b'"' {
            inner.replace("\\\"", "\"").replace("\\\\", "\\")
        } else {
            inner.to_string()
        };
    }
    // An unquoted value ends at a ` #` comment.
    match raw.find(" #") {
        Some(at) => raw[..at].trim_end().to_string(),
        None => raw.to_string(),
    }
}

/// `value` as the right side of `KEY=…`, quoted when a shell or dotenv reader would split it.
pub fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+,=~".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

fn key_of(path: &[Step]) -> Result<&str, ConnectError> {
    match path {
        [Step::Key(key)] => Ok(key),
        _ => Err(ConnectError::Unsafe {
            file: ".env".into(),
            why: "a nested path in a KEY=value file".into(),
        }),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Document for DotenvDoc {
    fn get(&self, path: &[Step]) -> Option<Value> {
        let key = key_of(path).ok()?;
        let at = self.position(key)?;
        let (_, raw) = assignment(&self.lines[at])?;
        Some(Value::String(unquote(raw)))
    }

    fn set(&mut self, path: &[Step], value: &Value) -> Result<(), ConnectError> {
        let key = key_of(path)?;
        let rendered = quote(&text_of(value));
        match self.position(key) {
            Some(at) => {
                let export = self.lines[at].trim_start().starts_with("export ");
                self.lines[at] = format!("{}{key}={rendered}", if export { "export " } else { "" });
            }
            None => {
                self.lines.push(format!("{key}={rendered}"));
                self.final_newline = true;
            }
        }
        Ok(())
    }

    fn remove(&mut self, path: &[Step]) -> Result<(), ConnectError> {
        let key = key_of(path)?;
        self.lines
            .retain(|line| assignment(line).is_none_or(|(k, _)| k != key));
        Ok(())
    }

    fn render(&self) -> String {
        let mut text = self.lines.join("\n");
        if self.final_newline && !self.lines.is_empty() {
            text.push('\n');
        }
        text
    }

    fn tree(&self) -> Value {
        let mut map = serde_json::Map::new();
        for line in &self.lines {
            if let Some((key, raw)) = assignment(line) {
                map.insert(key.to_string(), Value::String(unquote(raw)));
            }
        }
        Value::Object(map)
    }
}
