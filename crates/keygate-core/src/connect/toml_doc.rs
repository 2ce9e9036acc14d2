//! TOML edited through `toml_edit`: comments, order and formatting of everything else kept.

use serde_json::Value;
use toml_edit::{DocumentMut, Item, Table, TableLike};

use super::document::{Document, kind_of};
use super::{ConnectError, Step, path_text};

pub struct TomlDoc {
    file: String,
    doc: DocumentMut,
}

impl TomlDoc {
    pub fn parse(file: &str, text: &str) -> Result<TomlDoc, ConnectError> {
        let doc = text
            .parse::<DocumentMut>()
            .map_err(|error| ConnectError::Malformed {
                file: file.to_string(),
                format: "TOML",
                reason: error.message().to_string(),
            })?;
        Ok(TomlDoc {
            file: file.to_string(),
            doc,
        })
    }

    fn keys<'a>(&self, path: &'a [Step]) -> Result<Vec<&'a str>, ConnectError> {
        path.iter()
            .map(|step| match step {
                Step::Key(key) => Ok(key.as_str()),
                Step::Item { .. } => Err(self.unsafe_edit("a list item path in a TOML file")),
            })
            .collect()
    }

    fn unsafe_edit(&self, why: &str) -> ConnectError {
        ConnectError::Unsafe {
            file: self.file.clone(),
            why: why.to_string(),
        }
    }
}

impl Document for TomlDoc {
    fn set(&mut self, path: &[Step], value: &Value) -> Result<(), ConnectError> {
        let keys = self.keys(path)?;
        let Some((last, parents)) = keys.split_last() else {
            return Ok(());
        };
        let item = item_of(value).ok_or_else(|| {
            self.unsafe_edit(&format!("{} would be {}", path_text(path), kind_of(value)))
        })?;
        let file = self.file.clone();
        let mut table: &mut dyn TableLike = self.doc.as_table_mut();
        for (depth, key) in parents.iter().enumerate() {
            if table.get(key).is_none() {
                let mut created = Table::new();
                // Only the innermost table gets a header: `[model_providers.keygate]`.
                created.set_implicit(depth + 1 < parents.len());
                table.insert(key, Item::Table(created));
            }
            let Some(next) = table.get_mut(key) else {
                return Err(ConnectError::Unsafe {
                    file,
                    why: format!("no table at {}", parents[..=depth].join(".")),
                });
            };
            let found = item_kind(next);
            table = next
                .as_table_like_mut()
                .ok_or_else(|| ConnectError::Shape {
                    file: file.clone(),
                    path: parents[..=depth].join("."),
                    found,
                    wanted: "a table",
                })?;
        }
        match table.get_mut(last) {
            Some(existing) if existing.is_value() => {
                // Keep the key's own decoration (a comment after the value stays).
                let decor = existing.as_value().map(|v| v.decor().clone());
                *existing = item;
                if let (Some(decor), Some(new)) = (decor, existing.as_value_mut()) {
                    *new.decor_mut() = decor;
                }
            }
            _ => {
                table.insert(last, item);
            }
        }
        Ok(())
    }

    fn remove(&mut self, path: &[Step]) -> Result<(), ConnectError> {
        let keys = self.keys(path)?;
        let Some((last, parents)) = keys.split_last() else {
            return Ok(());
        };
        let mut table: &mut dyn TableLike = self.doc.as_table_mut();
        for key in parents {
            match table.get_mut(key).and_then(Item::as_table_like_mut) {
                Some(next) => table = next,
                None => return Ok(()),
            }
        }
        table.remove(last);
        Ok(())
    }

    fn render(&self) -> String {
        self.doc.to_string()
    }

    fn tree(&self) -> Value {
        toml::from_str::<toml::Table>(&self.doc.to_string())
            .ok()
            .and_then(|table| serde_json::to_value(table).ok())
            .unwrap_or_else(|| Value::Object(Default::default()))
    }
}

fn item_of(value: &Value) -> Option<Item> {
    value_of(value).map(Item::Value)
}

fn value_of(value: &Value) -> Option<toml_edit::Value> {
    Some(match value {
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(value_of(item)?);
            }
            array.into()
        }
        Value::Null | Value::Object(_) => return None,
    })
}

fn item_kind(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(toml_edit::Value::String(_)) => "a string",
        Item::Value(toml_edit::Value::Array(_)) => "a list",
        Item::Value(toml_edit::Value::InlineTable(_)) | Item::Table(_) => "a table",
        Item::Value(_) => "a value",
        Item::ArrayOfTables(_) => "a list of tables",
    }
}
