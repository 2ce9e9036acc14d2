//! Each tool's state: installed or not, connected to this KeyGate, drifted (its config points
//! elsewhere now, or holds a token that is no longer live), and when its token was last used.

use keygate_core::connect::{self as core_connect, Tool, ToolFile};
use keygate_core::token::token_hash;
use keygate_store::{Store, TokenRow};
use serde::Serialize;
use serde_json::Value;

use super::{ConnectFailure, Connector, SENTINEL, files};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolState {
    Connected,
    NotConnected,
    /// KeyGate connected it, and its config no longer says so.
    Drifted,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ToolStatus {
    pub tool: &'static str,
    pub title: &'static str,
    /// Found on PATH, or its config folder exists.
    pub installed: bool,
    pub state: ToolState,
    /// Why it is drifted or not connected, in a sentence.
    pub detail: String,
    pub files: Vec<String>,
    /// The access token it uses, when KeyGate connected it.
    pub token: Option<String>,
    /// When a request last came with that token.
    pub last_used_at: Option<String>,
    /// The API it speaks: `anthropic`, `responses`, `gemini` or `openai`.
    pub protocol: &'static str,
    /// The model it asks for by default, when it has one of its own.
    pub default_model: Option<&'static str>,
    /// Whether it can serve its models from a provider of the user's choice (`serve_from`).
    pub serves_from_any: bool,
    /// Set by the engine: no provider with keys serves the model the tool asks for.
    pub warning: Option<String>,
}

impl Connector {
    pub fn status(&self, store: &Store) -> Result<Vec<ToolStatus>, ConnectFailure> {
        let tokens = store.list_tokens()?;
        Tool::ALL
            .into_iter()
            .map(|tool| self.tool_status(tool, &tokens))
            .collect()
    }

    fn tool_status(&self, tool: Tool, tokens: &[TokenRow]) -> Result<ToolStatus, ConnectFailure> {
        let record = self.load_record(tool)?;
        let files = self.files(tool, SENTINEL, None, &[]);
        let installed = tool == Tool::Shell
            || tool.command().is_some_and(|command| self.on_path(command))
            || files.iter().any(|f| self.config_exists(&f.path));
        let token = record.as_ref().map(|r| r.token.clone());
        let live = |found: &str| {
            tokens.iter().find(|t| {
                t.hash == token_hash(found) && token.as_ref().is_none_or(|name| &t.name == name)
            })
        };
        let mut problem: Option<Problem> = None;
        let mut last_used_at = None;
        for file in &files {
            let shown = file.path.display().to_string();
            let text = match files::read(&file.path) {
                Ok(Some(text)) => text,
                Ok(None) => {
                    problem.get_or_insert(Problem::Missing(shown));
                    continue;
                }
                Err(e) => {
                    problem.get_or_insert(Problem::Unreadable(e.to_string()));
                    continue;
                }
            };
            if let Some(found) = self.disagreement(file, &text) {
                problem.get_or_insert(found);
                continue;
            }
            if let Some(found) = token_in_file(file, &text, SENTINEL) {
                match live(&found) {
                    Some(row) => last_used_at = row.last_used_at.clone(),
                    None => {
                        problem.get_or_insert(Problem::DeadToken(shown));
                    }
                }
            }
        }
        let (state, detail) = match (problem, &record) {
            (None, _) => (
                ToolState::Connected,
                "sends its requests to KeyGate".to_string(),
            ),
            (Some(problem), Some(_)) => (ToolState::Drifted, problem.since_connected()),
            (Some(problem), None) => (ToolState::NotConnected, problem.not_yet()),
        };
        Ok(ToolStatus {
            tool: tool.id(),
            title: tool.title(),
            installed,
            state,
            detail,
            files: files.iter().map(|f| f.path.display().to_string()).collect(),
            token,
            last_used_at,
            protocol: tool.protocol(),
            default_model: tool.default_model(),
            serves_from_any: tool.model_routes().is_some(),
            warning: None,
        })
    }

    /// The tool's own folder exists (`~/.claude`), or its file does when it sits right in the
    /// home folder (`~/.aider.conf.yml`).
    fn config_exists(&self, path: &std::path::Path) -> bool {
        match path.parent() {
            Some(dir) if dir != self.user_home => dir.is_dir(),
            _ => path.is_file(),
        }
    }

    fn on_path(&self, command: &str) -> bool {
        self.path_dirs.iter().any(|dir| {
            let path = dir.join(command);
            std::fs::metadata(&path).is_ok_and(|meta| meta.is_file())
        })
    }

    /// The first of KeyGate's settings the file does not hold: its address and the token's
    /// place (what the tool needs to reach KeyGate; a model name of the user's is not drift).
    fn disagreement(&self, file: &ToolFile, text: &str) -> Option<Problem> {
        let values = match core_connect::read_entries(file, text) {
            Ok(values) => values,
            Err(e) => return Some(Problem::Unreadable(e.to_string())),
        };
        for (entry, now) in file.entries.iter().zip(values) {
            let Some(wanted) = &entry.value else { continue };
            if !agrees(wanted, now.as_ref(), &self.origin) {
                let file = file.path.display().to_string();
                return Some(match now {
                    Some(Value::String(s)) => Problem::Elsewhere {
                        file,
                        setting: entry.path_text(),
                        value: s,
                    },
                    _ => Problem::Unset(file),
                });
            }
        }
        None
    }
}

/// Why a tool does not reach KeyGate, said differently before and after KeyGate connected it.
enum Problem {
    Missing(String),
    Unreadable(String),
    Unset(String),
    Elsewhere {
        file: String,
        setting: String,
        value: String,
    },
    DeadToken(String),
}

impl Problem {
    fn not_yet(&self) -> String {
        match self {
            Problem::Missing(file) => format!("no config yet ({file})"),
            Problem::Unreadable(why) => why.clone(),
            Problem::Unset(file) => format!("{file} does not point at KeyGate yet"),
            Problem::Elsewhere {
                file,
                setting,
                value,
            } => {
                format!("points elsewhere: {setting} is {value} in {file}")
            }
            Problem::DeadToken(file) => {
                format!("{file} holds a KeyGate token that is no longer live")
            }
        }
    }

    fn since_connected(&self) -> String {
        match self {
            Problem::Missing(file) => format!("{file} was removed after KeyGate connected it"),
            Problem::Unreadable(why) => why.clone(),
            Problem::Unset(file) => format!("{file} no longer points at KeyGate"),
            Problem::Elsewhere {
                file,
                setting,
                value,
            } => {
                format!("changed since KeyGate connected it: {setting} is {value} in {file}")
            }
            Problem::DeadToken(file) => {
                format!("the token in {file} is not a live KeyGate token (revoked?)")
            }
        }
    }
}

/// Whether `now` holds what matters of `wanted`: the strings that carry KeyGate's address
/// equal, and a token where the token goes.
fn agrees(wanted: &Value, now: Option<&Value>, origin: &str) -> bool {
    match wanted {
        Value::String(s) if s == SENTINEL => {
            matches!(now, Some(Value::String(t)) if t.starts_with(keygate_core::token::TOKEN_PREFIX))
        }
        Value::String(s) if s.starts_with(origin) => now == Some(wanted),
        Value::Object(map) => map
            .iter()
            .all(|(key, value)| agrees(value, now.and_then(|n| n.get(key)), origin)),
        _ => true,
    }
}

/// The token the file holds where KeyGate puts the tool's token.
pub(super) fn token_in_file(file: &ToolFile, text: &str, sentinel: &str) -> Option<String> {
    let values = core_connect::read_entries(file, text).ok()?;
    file.entries
        .iter()
        .zip(values)
        .find_map(|(entry, now)| find_token(entry.value.as_ref()?, now.as_ref()?, sentinel))
}

fn find_token(wanted: &Value, now: &Value, sentinel: &str) -> Option<String> {
    match (wanted, now) {
        (Value::String(s), Value::String(t)) if s == sentinel => Some(t.clone()),
        (Value::Object(map), Value::Object(_)) => map
            .iter()
            .find_map(|(key, value)| find_token(value, now.get(key)?, sentinel)),
        _ => None,
    }
}
