//! A shell profile (`~/.bashrc`, `~/.zshrc`): KeyGate's `export` lines live in one block between
//! its markers; the rest of the profile is never parsed and never changed.

use serde_json::Value;

use super::document::Document;
use super::dotenv_doc::{assignment, quote, unquote};
use super::{ConnectError, Step};

pub const BEGIN: &str = "# >>> keygate >>> (written by `keygate connect shell`; `keygate connect shell --undo` removes it)";
pub const END: &str = "# <<< keygate <<<";

pub struct ShellDoc {
    before: String,
    block: Vec<String>,
    after: String,
}

impl ShellDoc {
    pub fn parse(file: &str, text: &str) -> Result<ShellDoc, ConnectError> {
        let begin = text
            .lines()
            .position(|line| line.starts_with("# >>> keygate >>>"));
        let Some(begin) = begin else {
            return Ok(ShellDoc {
                before: text.to_string(),
                block: Vec::new(),
                after: String::new(),
            });
        };
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let end = lines[begin..]
            .iter()
            .position(|line| line.trim_end() == END)
            .map(|offset| begin + offset)
            .ok_or_else(|| ConnectError::Malformed {
                file: file.to_string(),
                format: "shell profile",
                reason: format!("KeyGate's block opens but never closes with {END:?}"),
            })?;
        Ok(ShellDoc {
            before: lines[..begin].concat(),
            block: lines[begin + 1..end]
                .iter()
                .map(|line| line.trim_end_matches(['\n', '\r']).to_string())
                .collect(),
            after: lines[end + 1..].concat(),
        })
    }

    fn key_of(path: &[Step]) -> Result<&str, ConnectError> {
        match path {
            [Step::Key(key)] => Ok(key),
            _ => Err(ConnectError::Unsafe {
                file: "shell profile".into(),
                why: "a nested path in a shell profile".into(),
            }),
        }
    }
}

impl Document for ShellDoc {
    fn get(&self, path: &[Step]) -> Option<Value> {
        let key = Self::key_of(path).ok()?;
        self.block.iter().rev().find_map(|line| {
            let (k, raw) = assignment(line)?;
            (k == key).then(|| Value::String(unquote(raw)))
        })
    }

    fn set(&mut self, path: &[Step], value: &Value) -> Result<(), ConnectError> {
        let key = Self::key_of(path)?;
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let line = format!("export {key}={}", quote(&text));
        match self
            .block
            .iter()
            .position(|l| assignment(l).is_some_and(|(k, _)| k == key))
        {
            Some(at) => self.block[at] = line,
            None => self.block.push(line),
        }
        Ok(())
    }

    fn remove(&mut self, path: &[Step]) -> Result<(), ConnectError> {
        let key = Self::key_of(path)?;
        self.block
            .retain(|line| assignment(line).is_none_or(|(k, _)| k != key));
        Ok(())
    }

    fn render(&self) -> String {
        if self.block.is_empty() {
            return format!("{}{}", self.before, self.after);
        }
        let mut text = self.before.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        if !text.is_empty() && !text.ends_with("\n\n") {
            text.push('\n');
        }
        text.push_str(BEGIN);
        text.push('\n');
        for line in &self.block {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(END);
        text.push('\n');
        text.push_str(&self.after);
        text
    }

    /// KeyGate's variables, and the rest of the profile as one opaque text (its blank lines
    /// around the block aside), so a check sees any change outside the block.
    fn tree(&self) -> Value {
        let mut map = serde_json::Map::new();
        for line in &self.block {
            if let Some((key, raw)) = assignment(line) {
                map.insert(key.to_string(), Value::String(unquote(raw)));
            }
        }
        let outside = format!("{}{}", self.before.trim_end(), self.after.trim_end());
        map.insert(" outside KeyGate's block".into(), Value::String(outside));
        Value::Object(map)
    }
}
