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
        let mut problem = None;
        let mut last_used_at = None;
        for file in &files {
            let shown = file.path.display();
            let text = match files::read(&file.path) {
                Ok(Some(text)) => text,
                Ok(None) => {
                    problem.get_or_insert(format!("{shown} does not exist"));
                    continue;
                }
                Err(e) => {
                    problem.get_or_insert(e.to_string());
                    continue;
                }
            };
            if let Some(why) = self.disagreement(file, &text) {
                problem.get_or_insert(why);
                continue;
            }
            if let Some(found) = token_in_file(file, &text, SENTINEL) {
                match live(&found) {
                    Some(row) => last_used_at = row.last_used_at.clone(),
                    None => {
                        problem.get_or_insert(format!(
                            "the token in {shown} is not a live KeyGate token (revoked?)"
                        ));
                    }
                }
            }
        }
        let (state, detail) = match (problem, &record) {
            (None, _) => (
                ToolState::Connected,
                "sends its requests to KeyGate".to_string(),
            ),
            (Some(why), Some(_)) => (ToolState::Drifted, why),
            (Some(why), None) => (ToolState::NotConnected, why),
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
    fn disagreement(&self, file: &ToolFile, text: &str) -> Option<String> {
        let values = match core_connect::read_entries(file, text) {
            Ok(values) => values,
            Err(e) => return Some(e.to_string()),
        };
        for (entry, now) in file.entries.iter().zip(values) {
            let Some(wanted) = &entry.value else { continue };
            if !agrees(wanted, now.as_ref(), &self.origin) {
                let shown = match &now {
                    Some(Value::String(s)) => format!("is {s}"),
                    Some(_) => "is not KeyGate's".into(),
                    None => "is not set".into(),
                };
                return Some(format!(
                    "{}: {} {shown}",
                    file.path.display(),
                    entry.path_text()
                ));
            }
        }
        None
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
