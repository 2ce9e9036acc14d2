//! Apply and undo, written once for every format: an edit is checked by parsing what it
//! produced, and undo is a three-way merge of the file as it is now, as KeyGate left it and as
//! it was before KeyGate touched it.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::document::{self, Document};
use super::{ConnectError, Entry, Step, ToolFile, path_text};

/// What connecting does to one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The file's new text.
    pub text: String,
    /// False when the file already says exactly this (connecting twice changes nothing).
    pub changed: bool,
}

/// What undoing does to one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Reverted {
    /// Write this text (the original bytes when nothing else changed since).
    Write(String),
    /// The file did not exist before KeyGate created it: remove it.
    Remove,
    /// Nothing of KeyGate's is left in the file.
    Unchanged,
}

fn label(file: &ToolFile) -> String {
    file.path.display().to_string()
}

fn open(file: &ToolFile, text: &str) -> Result<Box<dyn Document>, ConnectError> {
    document::parse(file.format, &label(file), text)
}

/// The file's text after KeyGate's entries are set in `current` (`None`: no file yet).
pub fn apply(file: &ToolFile, current: Option<&str>) -> Result<Applied, ConnectError> {
    let start = match (current, file.skeleton) {
        (Some(text), _) => text,
        (None, Some(skeleton)) => skeleton,
        (None, None) => "",
    };
    let mut doc = open(file, start)?;
    let mut expected = doc.tree();
    for entry in &file.entries {
        document::set_in_tree(&mut expected, &entry.path, entry.value.as_ref());
        match &entry.value {
            Some(value) => doc.set(&entry.path, value)?,
            None => doc.remove(&entry.path)?,
        }
    }
    let text = doc.render();
    check(file, &text, &expected)?;
    Ok(Applied {
        changed: current != Some(text.as_str()),
        text,
    })
}

/// Parses the edited text again: it must say what the original said, with only KeyGate's
/// entries changed. This is what makes line-based edits (YAML, dotenv) safe.
fn check(file: &ToolFile, text: &str, expected: &Value) -> Result<(), ConnectError> {
    let got = open(file, text)
        .map_err(|error| ConnectError::Unsafe {
            file: label(file),
            why: format!("the edited file would not parse: {error}"),
        })?
        .tree();
    if &got != expected {
        return Err(ConnectError::Unsafe {
            file: label(file),
            why: "the edit would change other settings too".into(),
        });
    }
    Ok(())
}

/// A digest of an entry's value as KeyGate wrote it, kept in place of the value itself (the
/// value may be the tool's token), to tell later whether the user changed it.
pub fn entry_digest(value: Option<&Value>) -> String {
    let text = match value {
        Some(value) => serde_json::to_string(value).unwrap_or_default(),
        None => "absent".into(),
    };
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// The digest of a whole file's text.
pub fn text_digest(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// What the file says now at each of `file`'s entries (`None`: absent).
pub fn read_entries(file: &ToolFile, text: &str) -> Result<Vec<Option<Value>>, ConnectError> {
    let doc = open(file, text)?;
    Ok(file
        .entries
        .iter()
        .map(|entry| doc.get(&entry.path))
        .collect())
}

/// Undoes what KeyGate did to one file.
///
/// - `current`: the file now (`None`: it was deleted since).
/// - `original`: the file before KeyGate's first change (`None`: it did not exist).
/// - `applied`: the digest of the text KeyGate wrote, and of each entry's value.
pub fn undo(
    file: &ToolFile,
    current: Option<&str>,
    original: Option<&str>,
    applied_text: &str,
    applied_entries: &[(Vec<Step>, String)],
) -> Result<Reverted, ConnectError> {
    let Some(current) = current else {
        return Ok(match original {
            Some(original) => Reverted::Write(original.to_string()),
            None => Reverted::Unchanged,
        });
    };
    if text_digest(current) == applied_text {
        return Ok(match original {
            Some(original) => Reverted::Write(original.to_string()),
            None => Reverted::Remove,
        });
    }
    // Changed since: put back only KeyGate's entries, where the user did not change them too.
    let mut doc = open(file, current)?;
    let before = open(file, original.unwrap_or(""))?.tree();
    let mut touched = false;
    for (path, digest) in applied_entries {
        let now = doc.get(path);
        let was = document::get_in_tree(&before, path).cloned();
        if now == was {
            continue;
        }
        if &entry_digest(now.as_ref()) != digest {
            return Err(ConnectError::Conflict {
                file: label(file),
                path: path_text(path),
                why: match now {
                    Some(_) => "it holds a value KeyGate did not write".into(),
                    None => "it was removed".into(),
                },
            });
        }
        touched = true;
        match was {
            Some(value) => doc.set(path, &value)?,
            None => doc.remove(path)?,
        }
    }
    if !touched {
        return Ok(Reverted::Unchanged);
    }
    prune(&mut *doc, &before, applied_entries)?;
    let text = doc.render();
    if original.is_none() && doc.tree() == Value::Object(Default::default()) {
        return Ok(Reverted::Remove);
    }
    Ok(Reverted::Write(text))
}

/// Removes the objects KeyGate created to hold its entries (`env`, `model_providers.keygate`)
/// once they are empty again.
fn prune(
    doc: &mut dyn Document,
    before: &Value,
    entries: &[(Vec<Step>, String)],
) -> Result<(), ConnectError> {
    let mut parents: Vec<&[Step]> = entries
        .iter()
        .flat_map(|(path, _)| (1..path.len()).map(move |len| &path[..len]))
        .collect();
    parents.sort_by_key(|path| std::cmp::Reverse(path.len()));
    parents.dedup();
    for parent in parents {
        let empty = match doc.get(parent) {
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Array(items)) => items.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty && document::get_in_tree(before, parent).is_none() {
            doc.remove(parent)?;
        }
    }
    Ok(())
}

/// The entries' paths with the digests of their values, as kept after connecting.
pub fn entry_digests(entries: &[Entry]) -> Vec<(Vec<Step>, String)> {
    entries
        .iter()
        .map(|entry| (entry.path.clone(), entry_digest(entry.value.as_ref())))
        .collect()
}

/// A unified diff of a file's change, `a/` the text before and `b/` after.
pub fn diff(name: &str, before: Option<&str>, after: Option<&str>) -> String {
    let old = before.unwrap_or("");
    let new = after.unwrap_or("");
    let text = similar::TextDiff::from_lines(old, new);
    // An absolute path is shown as it is (`--- /home/ada/.claude/settings.json`).
    let side = |prefix: &str, present: bool| match (present, name.starts_with('/')) {
        (false, _) => "/dev/null".to_string(),
        (true, true) => name.to_string(),
        (true, false) => format!("{prefix}/{name}"),
    };
    let (from, to) = (side("a", before.is_some()), side("b", after.is_some()));
    text.unified_diff()
        .context_radius(3)
        .header(&from, &to)
        .to_string()
}
