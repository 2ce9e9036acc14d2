//! Connecting a tool: which of a tool's config files KeyGate edits, which keys in them it owns,
//! and the pure parse → merge → render of each file format, with a three-way undo.
//!
//! Nothing here reads or writes a file: the engine (`keygate_server::connect`) reads the
//! files, passes their text in, and writes what comes back. A tool's file only ever receives
//! the base URL, the tool's own access token and model names — never a provider secret.

mod document;
mod dotenv_doc;
#[cfg(test)]
mod golden_tests;
mod json_doc;
mod merge;
mod places;
mod shell_doc;
mod toml_doc;
mod tools;
mod yaml_doc;

pub use merge::{
    Applied, Reverted, apply, diff, entry_digest, entry_digests, read_entries, text_digest, undo,
};
pub use places::Places;
pub use tools::{Connection, FALLBACK_MODEL, files_for};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool KeyGate can connect. Its id is also the name of the access token made for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    ClaudeCode,
    Codex,
    GeminiCli,
    Opencode,
    Aider,
    Continue,
    Shell,
}

impl Tool {
    pub const ALL: [Tool; 7] = [
        Tool::ClaudeCode,
        Tool::Codex,
        Tool::GeminiCli,
        Tool::Opencode,
        Tool::Aider,
        Tool::Continue,
        Tool::Shell,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Tool::ClaudeCode => "claude-code",
            Tool::Codex => "codex",
            Tool::GeminiCli => "gemini-cli",
            Tool::Opencode => "opencode",
            Tool::Aider => "aider",
            Tool::Continue => "continue",
            Tool::Shell => "shell",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Tool::ClaudeCode => "Claude Code",
            Tool::Codex => "Codex CLI",
            Tool::GeminiCli => "Gemini CLI",
            Tool::Opencode => "opencode",
            Tool::Aider => "aider",
            Tool::Continue => "Continue",
            Tool::Shell => "Shell profile",
        }
    }

    /// The command a user runs, looked for on PATH to tell whether the tool is installed.
    /// Continue is an editor extension and the shell is always there.
    pub fn command(self) -> Option<&'static str> {
        match self {
            Tool::ClaudeCode => Some("claude"),
            Tool::Codex => Some("codex"),
            Tool::GeminiCli => Some("gemini"),
            Tool::Opencode => Some("opencode"),
            Tool::Aider => Some("aider"),
            Tool::Continue | Tool::Shell => None,
        }
    }

    /// The wire protocol the tool speaks to KeyGate, which decides the models it asks for.
    pub fn protocol(self) -> &'static str {
        match self {
            Tool::ClaudeCode => "anthropic",
            Tool::Codex => "responses",
            Tool::GeminiCli => "gemini",
            Tool::Opencode | Tool::Aider | Tool::Continue | Tool::Shell => "openai",
        }
    }

    /// The route aliases that catch the models the tool asks for, when they are served from a
    /// provider of the user's choice: its main models and its small fast ones (Claude Code's
    /// haiku, Gemini CLI's flash). Codex asks for the one model in its config, which KeyGate
    /// sets to the alias `codex`. `None`: the tool asks for the model KeyGate writes for it.
    pub fn model_routes(self) -> Option<(&'static str, Option<&'static str>)> {
        match self {
            Tool::ClaudeCode => Some(("claude-*", Some("claude-*haiku*"))),
            Tool::GeminiCli => Some(("gemini-*", Some("gemini-*flash*"))),
            Tool::Codex => Some(("codex", None)),
            Tool::Opencode | Tool::Aider | Tool::Continue | Tool::Shell => None,
        }
    }

    /// The model the tool asks for when nothing says otherwise (the pinned versions' defaults,
    /// tests/tools/package.json), to warn when no provider serves it.
    pub fn default_model(self) -> Option<&'static str> {
        match self {
            Tool::ClaudeCode => Some("claude-opus-5-5"),
            Tool::GeminiCli => Some("gemini-2.5-pro"),
            Tool::Codex => Some("gpt-6.1-sol"),
            Tool::Opencode | Tool::Aider | Tool::Continue | Tool::Shell => None,
        }
    }

    pub fn parse(text: &str) -> Result<Tool, ConnectError> {
        Tool::ALL
            .into_iter()
            .find(|tool| tool.id() == text)
            .ok_or_else(|| ConnectError::UnknownTool(text.chars().take(40).collect()))
    }
}

/// How a config file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON, comments allowed (JSONC), edited in place.
    Json,
    /// TOML through `toml_edit`.
    Toml,
    /// A YAML document: top-level keys, or an item of a top-level list (Continue's `models`).
    Yaml,
    /// `KEY=value` lines.
    Dotenv,
    /// A block of `export KEY=value` lines between KeyGate's markers in a shell profile.
    Shell,
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Step {
    /// The value under this key of an object (a table in TOML, a mapping in YAML).
    Key(String),
    /// The item of a list whose `field` is `equals` (Continue's model named "KeyGate").
    Item { field: String, equals: String },
}

impl Step {
    pub fn key(name: &str) -> Step {
        Step::Key(name.to_string())
    }
}

/// A value KeyGate owns in a file: `Some` is written there, `None` must be absent (a key that
/// would override KeyGate's, such as Claude Code's `ANTHROPIC_API_KEY`).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: Vec<Step>,
    pub value: Option<Value>,
}

impl Entry {
    pub fn set(path: &[&str], value: impl Into<Value>) -> Entry {
        Entry {
            path: path.iter().map(|s| Step::key(s)).collect(),
            value: Some(value.into()),
        }
    }

    pub fn absent(path: &[&str]) -> Entry {
        Entry {
            path: path.iter().map(|s| Step::key(s)).collect(),
            value: None,
        }
    }

    /// `a.b` or `models[name=KeyGate]`, for messages.
    pub fn path_text(&self) -> String {
        path_text(&self.path)
    }
}

pub fn path_text(path: &[Step]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Step::Item { field, equals } => {
                text.push_str(&format!("[{field}={equals}]"));
            }
        }
    }
    text
}

/// A file of a tool's that KeyGate edits, and what it puts there.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolFile {
    pub path: std::path::PathBuf,
    pub format: Format,
    pub entries: Vec<Entry>,
    /// The text of a file KeyGate creates, before its entries are set (Continue's config needs
    /// a name, version and schema of its own).
    pub skeleton: Option<&'static str>,
}

impl ToolFile {
    /// The path of the entry that carries the tool's token, to read it back for status and reuse.
    pub fn token_entry(&self, token: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|entry| contains_string(entry.value.as_ref(), token))
    }
}

fn contains_string(value: Option<&Value>, needle: &str) -> bool {
    match value {
        Some(Value::String(s)) => s == needle,
        Some(Value::Object(map)) => map.values().any(|v| contains_string(Some(v), needle)),
        Some(Value::Array(items)) => items.iter().any(|v| contains_string(Some(v), needle)),
        _ => false,
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConnectError {
    #[error(
        "unknown tool {0:?}: use claude-code, codex, gemini-cli, opencode, aider, continue or shell"
    )]
    UnknownTool(String),
    #[error(
        "{file} is not valid {format}: {reason}. KeyGate leaves it as it is; fix it or move it away, then connect again"
    )]
    Malformed {
        file: String,
        format: &'static str,
        reason: String,
    },
    #[error(
        "{file}: {path} is {found}, where KeyGate needs {wanted}. KeyGate leaves the file as it is"
    )]
    Shape {
        file: String,
        path: String,
        found: &'static str,
        wanted: &'static str,
    },
    #[error(
        "{file}: {path} was changed after KeyGate connected the tool ({why}); undo it by hand, or set it back and undo again"
    )]
    Conflict {
        file: String,
        path: String,
        why: String,
    },
    #[error(
        "{file}: KeyGate could not edit this file without changing what it does not own ({why}); add the settings by hand"
    )]
    Unsafe { file: String, why: String },
}
