//! One interface over the file formats tools use, so merging and undo are written once.

use serde_json::Value;

use super::{ConnectError, Format, Step, dotenv_doc, json_doc, shell_doc, toml_doc, yaml_doc};

/// A parsed config file that can be edited in place and written back with everything KeyGate
/// did not touch kept as it was (comments, order, spacing).
pub trait Document {
    /// The value at `path`, as JSON (TOML and YAML values are converted).
    fn get(&self, path: &[Step]) -> Option<Value> {
        get_in_tree(&self.tree(), path).cloned()
    }
    /// Puts `value` at `path`, creating the objects on the way.
    fn set(&mut self, path: &[Step], value: &Value) -> Result<(), ConnectError>;
    /// Removes what is at `path`; nothing happens when nothing is there.
    fn remove(&mut self, path: &[Step]) -> Result<(), ConnectError>;
    fn render(&self) -> String;
    /// The whole document as a JSON tree, to check that an edit changed only KeyGate's keys.
    fn tree(&self) -> Value;
}

/// Parses `text` (a file that does not exist yet is `""`) as `format`.
pub fn parse(format: Format, file: &str, text: &str) -> Result<Box<dyn Document>, ConnectError> {
    Ok(match format {
        Format::Json => Box::new(json_doc::JsonDoc::parse(file, text)?),
        Format::Toml => Box::new(toml_doc::TomlDoc::parse(file, text)?),
        Format::Yaml => Box::new(yaml_doc::YamlDoc::parse(file, text)?),
        Format::Dotenv => Box::new(dotenv_doc::DotenvDoc::parse(text)),
        Format::Shell => Box::new(shell_doc::ShellDoc::parse(file, text)?),
    })
}

/// `tree` with `value` put at `path` (or removed for `None`), the reference an edit is checked
/// against.
pub fn set_in_tree(tree: &mut Value, path: &[Step], value: Option<&Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = tree;
    for step in parents {
        let Some(next) = child_mut(node, step, value.is_some()) else {
            return;
        };
        node = next;
    }
    match (last, value) {
        (Step::Key(key), Some(value)) => {
            if !node.is_object() {
                *node = Value::Object(Default::default());
            }
            if let Some(map) = node.as_object_mut() {
                map.insert(key.clone(), value.clone());
            }
        }
        (Step::Key(key), None) => {
            if let Some(map) = node.as_object_mut() {
                map.remove(key);
            }
        }
        (Step::Item { field, equals }, value) => {
            if !node.is_array() {
                if value.is_none() {
                    return;
                }
                *node = Value::Array(Vec::new());
            }
            let Some(items) = node.as_array_mut() else {
                return;
            };
            let at = items
                .iter()
                .position(|item| item_matches(item, field, equals));
            match (at, value) {
                (Some(at), Some(value)) => items[at] = value.clone(),
                (None, Some(value)) => items.push(value.clone()),
                (Some(at), None) => {
                    items.remove(at);
                }
                (None, None) => {}
            }
        }
    }
}

/// The value at `path` of a JSON tree.
pub fn get_in_tree<'a>(tree: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut node = tree;
    for step in path {
        node = match step {
            Step::Key(key) => node.as_object()?.get(key)?,
            Step::Item { field, equals } => node
                .as_array()?
                .iter()
                .find(|item| item_matches(item, field, equals))?,
        };
    }
    Some(node)
}

pub fn item_matches(item: &Value, field: &str, equals: &str) -> bool {
    item.get(field).and_then(Value::as_str) == Some(equals)
}

fn child_mut<'a>(node: &'a mut Value, step: &Step, create: bool) -> Option<&'a mut Value> {
    match step {
        Step::Key(key) => {
            if !node.is_object() {
                if !create {
                    return None;
                }
                *node = Value::Object(Default::default());
            }
            let map = node.as_object_mut()?;
            if !map.contains_key(key) {
                if !create {
                    return None;
                }
                map.insert(key.clone(), Value::Object(Default::default()));
            }
            map.get_mut(key)
        }
        Step::Item { field, equals } => node
            .as_array_mut()?
            .iter_mut()
            .find(|item| item_matches(item, field, equals)),
    }
}

/// What a JSON value is, for messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
