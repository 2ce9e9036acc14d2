//! YAML edited as lines: a top-level `key: value` (aider's `openai-api-base`) or one item of a
//! top-level list (Continue's model named "KeyGate") is replaced, appended or removed, and every
//! other line stays byte for byte. YAML has no comment-keeping editor in Rust, so each edit is
//! checked afterwards by parsing the result (`merge::apply` compares the whole tree).

use serde_json::Value;

use super::document::{Document, item_matches, kind_of};
use super::{ConnectError, Step};

pub struct YamlDoc {
    file: String,
    lines: Vec<String>,
}

impl YamlDoc {
    pub fn parse(file: &str, text: &str) -> Result<YamlDoc, ConnectError> {
        let doc = YamlDoc {
            file: file.to_string(),
            lines: text.lines().map(str::to_string).collect(),
        };
        let tree = parse_tree(file, text)?;
        if !(tree.is_object() || tree.is_null()) {
            return Err(ConnectError::Shape {
                file: file.to_string(),
                path: "the top level".into(),
                found: kind_of(&tree),
                wanted: "a mapping",
            });
        }
        Ok(doc)
    }

    fn text(&self) -> String {
        if self.lines.is_empty() {
            return String::new();
        }
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }

    fn unsafe_edit(&self, why: impl Into<String>) -> ConnectError {
        ConnectError::Unsafe {
            file: self.file.clone(),
            why: why.into(),
        }
    }

    /// The line of top-level `key:`, and the line after its value (its indented lines).
    fn top_level(&self, key: &str) -> Option<(usize, usize)> {
        let start = self.lines.iter().position(|line| {
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })?;
        let mut end = start + 1;
        while end < self.lines.len() && is_inside(&self.lines[end]) {
            end += 1;
        }
        // Blank lines and comments at the end belong to what follows.
        while end > start + 1 && is_blank_or_comment(&self.lines[end - 1]) {
            end -= 1;
        }
        Some((start, end))
    }

    fn set_top_level(&mut self, key: &str, value: &Value) -> Result<(), ConnectError> {
        if !is_scalar(value) {
            return Err(self.unsafe_edit(format!("{key} would be {}", kind_of(value))));
        }
        let line = format!("{key}: {}", scalar(value));
        match self.top_level(key) {
            Some((start, end)) => {
                self.lines.splice(start..end, [line]);
            }
            None => self.lines.push(line),
        }
        Ok(())
    }

    /// Sets the item of top-level list `key` whose `field` is `equals`.
    fn set_item(
        &mut self,
        key: &str,
        field: &str,
        equals: &str,
        value: &Value,
    ) -> Result<(), ConnectError> {
        let tree = self.tree();
        let Some((start, end)) = self.top_level(key) else {
            self.lines.push(format!("{key}:"));
            self.lines.extend(render_item(value, 2));
            return Ok(());
        };
        let header = self.lines[start].clone();
        let inline = header
            .split_once(':')
            .map(|(_, rest)| rest.trim())
            .unwrap_or("");
        match tree.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) if items.is_empty() => {}
            Some(Value::Array(_)) if inline.is_empty() || inline.starts_with('#') => {}
            Some(found) => {
                return Err(ConnectError::Shape {
                    file: self.file.clone(),
                    path: key.to_string(),
                    found: if found.is_array() {
                        "a list written on one line"
                    } else {
                        kind_of(found)
                    },
                    wanted: "a list of items, one per line",
                });
            }
        }
        if !inline.is_empty() && !inline.starts_with('#') {
            // `models: []` or `models: ~`: becomes a block list.
            self.lines[start] = format!("{key}:");
        }
        let items = self.items(start, end);
        let indent = items
            .first()
            .map(|&(at, _)| indent_of(&self.lines[at]))
            .unwrap_or(2);
        let existing = tree.get(key).and_then(Value::as_array).and_then(|list| {
            list.iter()
                .position(|item| item_matches(item, field, equals))
        });
        match existing {
            Some(index) => {
                let (from, to) = *items.get(index).ok_or_else(|| {
                    self.unsafe_edit(format!("the items of {key} are not one per line"))
                })?;
                self.lines.splice(from..to, render_item(value, indent));
            }
            None => {
                let at = items.last().map(|&(_, to)| to).unwrap_or(end);
                let at = if items.is_empty() { start + 1 } else { at };
                self.lines.splice(at..at, render_item(value, indent));
            }
        }
        Ok(())
    }

    /// The items (first line, line after) of the block list under the key at `start`.
    fn items(&self, start: usize, end: usize) -> Vec<(usize, usize)> {
        let mut dashes = Vec::new();
        let mut dash_indent = None;
        for at in start + 1..end {
            let line = &self.lines[at];
            let trimmed = line.trim_start();
            if trimmed.starts_with("- ") || trimmed == "-" {
                let indent = indent_of(line);
                if dash_indent.is_none_or(|d| d == indent) {
                    dash_indent = Some(indent);
                    dashes.push(at);
                }
            }
        }
        let mut items = Vec::new();
        for (i, &from) in dashes.iter().enumerate() {
            let mut to = dashes.get(i + 1).copied().unwrap_or(end);
            while to > from + 1 && is_blank_or_comment(&self.lines[to - 1]) {
                to -= 1;
            }
            items.push((from, to));
        }
        items
    }

    fn remove_item(&mut self, key: &str, field: &str, equals: &str) {
        let tree = self.tree();
        let Some((start, end)) = self.top_level(key) else {
            return;
        };
        let index = tree.get(key).and_then(Value::as_array).and_then(|list| {
            list.iter()
                .position(|item| item_matches(item, field, equals))
        });
        if let Some(index) = index
            && let Some(&(from, to)) = self.items(start, end).get(index)
        {
            self.lines.drain(from..to);
        }
    }
}

impl Document for YamlDoc {
    fn set(&mut self, path: &[Step], value: &Value) -> Result<(), ConnectError> {
        match path {
            [Step::Key(key)] => self.set_top_level(key, value),
            [Step::Key(key), Step::Item { field, equals }] => {
                self.set_item(key, field, equals, value)
            }
            _ => Err(self.unsafe_edit("a path deeper than a top-level key or list item")),
        }
    }

    fn remove(&mut self, path: &[Step]) -> Result<(), ConnectError> {
        match path {
            [Step::Key(key)] => {
                if let Some((start, end)) = self.top_level(key) {
                    self.lines.drain(start..end);
                }
                Ok(())
            }
            [Step::Key(key), Step::Item { field, equals }] => {
                self.remove_item(key, field, equals);
                Ok(())
            }
            _ => Err(self.unsafe_edit("a path deeper than a top-level key or list item")),
        }
    }

    fn render(&self) -> String {
        self.text()
    }

    fn tree(&self) -> Value {
        parse_tree(&self.file, &self.text()).unwrap_or(Value::Null)
    }
}

fn parse_tree(file: &str, text: &str) -> Result<Value, ConnectError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|error| ConnectError::Malformed {
            file: file.to_string(),
            format: "YAML",
            reason: error.to_string(),
        })?;
    let value = serde_json::to_value(value).map_err(|error| ConnectError::Malformed {
        file: file.to_string(),
        format: "YAML",
        reason: error.to_string(),
    })?;
    Ok(if value.is_null() {
        Value::Object(Default::default())
    } else {
        value
    })
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// A line that belongs to the value of the top-level key above it.
fn is_inside(line: &str) -> bool {
    line.is_empty()
        || line.starts_with([' ', '\t'])
        || line.starts_with('#')
        || line.starts_with("- ")
}

fn is_blank_or_comment(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.is_empty() || trimmed.starts_with('#')
}

fn is_scalar(value: &Value) -> bool {
    !(value.is_object() || value.is_array())
}

/// A scalar as YAML writes it (quoted where a plain scalar would read as something else).
fn scalar(value: &Value) -> String {
    serde_yaml::to_string(value)
        .map(|text| text.trim_end().to_string())
        .unwrap_or_else(|_| format!("{value}"))
}

/// A mapping as a list item: `- name: …` first, then the other keys, at `indent`.
fn render_item(value: &Value, indent: usize) -> Vec<String> {
    let pad = " ".repeat(indent);
    let Some(map) = value.as_object() else {
        return vec![format!("{pad}- {}", scalar(value))];
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|key| (key.as_str() != "name", key.as_str()));
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let rendered = match &map[*key] {
                Value::Array(items) => format!(
                    "[{}]",
                    items.iter().map(scalar).collect::<Vec<_>>().join(", ")
                ),
                other => scalar(other),
            };
            let lead = if i == 0 {
                format!("{pad}- ")
            } else {
                format!("{pad}  ")
            };
            format!("{lead}{key}: {rendered}")
        })
        .collect()
}
