//! JSON (and JSONC: comments, trailing commas) edited through a concrete syntax tree, so the
//! user's comments, key order and indentation stay as they were.

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde_json::Value;

use super::document::{Document, kind_of};
use super::{ConnectError, Step, path_text};

pub struct JsonDoc {
    file: String,
    root: CstRootNode,
    /// A file that was empty or did not exist: rendered with a final newline.
    fresh: bool,
}

impl JsonDoc {
    pub fn parse(file: &str, text: &str) -> Result<JsonDoc, ConnectError> {
        let root = CstRootNode::parse(text, &ParseOptions::default()).map_err(|error| {
            ConnectError::Malformed {
                file: file.to_string(),
                format: "JSON",
                reason: error.to_string(),
            }
        })?;
        if let Some(value) = root.value()
            && value.as_object().is_none()
        {
            return Err(ConnectError::Shape {
                file: file.to_string(),
                path: "the top level".into(),
                found: value
                    .to_serde_value()
                    .as_ref()
                    .map(kind_of)
                    .unwrap_or("not a value"),
                wanted: "an object",
            });
        }
        Ok(JsonDoc {
            file: file.to_string(),
            fresh: text.trim().is_empty(),
            root,
        })
    }

    fn keys<'a>(&self, path: &'a [Step]) -> Result<Vec<&'a str>, ConnectError> {
        path.iter()
            .map(|step| match step {
                Step::Key(key) => Ok(key.as_str()),
                Step::Item { .. } => Err(ConnectError::Unsafe {
                    file: self.file.clone(),
                    why: "a list item path in a JSON file".into(),
                }),
            })
            .collect()
    }

    fn shape(&self, keys: &[&str], found: &Value) -> ConnectError {
        ConnectError::Shape {
            file: self.file.clone(),
            path: keys.join("."),
            found: kind_of(found),
            wanted: "an object",
        }
    }

    /// The object at `keys`, created on the way when `create`.
    fn object_at(&self, keys: &[&str], create: bool) -> Result<Option<CstObject>, ConnectError> {
        let Some(mut object) = (if create {
            self.root.object_value_or_create()
        } else {
            self.root.object_value()
        }) else {
            return Ok(None);
        };
        for (depth, key) in keys.iter().enumerate() {
            let next = if create {
                object.object_value_or_create(key)
            } else {
                object.object_value(key)
            };
            object = match next {
                Some(next) => next,
                None => match object.get(key).and_then(|prop| prop.value()) {
                    Some(node) => {
                        let found = node.to_serde_value().unwrap_or(Value::Null);
                        return Err(self.shape(&keys[..=depth], &found));
                    }
                    None => return Ok(None),
                },
            };
        }
        Ok(Some(object))
    }
}

impl Document for JsonDoc {
    fn set(&mut self, path: &[Step], value: &Value) -> Result<(), ConnectError> {
        let keys = self.keys(path)?;
        let Some((last, parents)) = keys.split_last() else {
            return Ok(());
        };
        let object = self
            .object_at(parents, true)?
            .ok_or_else(|| ConnectError::Unsafe {
                file: self.file.clone(),
                why: format!("no object to hold {}", path_text(path)),
            })?;
        match object.get(last) {
            Some(prop) => prop.set_value(input(value)),
            None => {
                object.append(last, input(value));
            }
        }
        Ok(())
    }

    fn remove(&mut self, path: &[Step]) -> Result<(), ConnectError> {
        let keys = self.keys(path)?;
        let Some((last, parents)) = keys.split_last() else {
            return Ok(());
        };
        if let Some(object) = self.object_at(parents, false)?
            && let Some(prop) = object.get(last)
        {
            prop.remove();
        }
        Ok(())
    }

    fn render(&self) -> String {
        let mut text = self.root.to_string();
        if self.fresh && !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }

    fn tree(&self) -> Value {
        self.root
            .value()
            .and_then(|value| value.to_serde_value())
            .unwrap_or_else(|| Value::Object(Default::default()))
    }
}

fn input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(input).collect()),
        Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}
