//! What each tool needs in its files to send its requests to KeyGate, checked against the
//! tools' own docs and code (versions in tests/tools/package.json):
//! - Claude Code: `settings.json` → `env` (`ANTHROPIC_BASE_URL`, `ANTHROPIC_AUTH_TOKEN`; an
//!   `ANTHROPIC_API_KEY` there would be sent instead of the token, so it is taken out).
//! - Codex CLI: `config.toml` → `model_provider` and `[model_providers.keygate]` with
//!   `wire_api = "responses"`; the token as `experimental_bearer_token` (an `env_key` would make
//!   Codex read an environment variable instead and fail when it is unset).
//! - Gemini CLI: `.gemini/.env` (`GOOGLE_GEMINI_BASE_URL`, the root: the CLI adds `/v1beta`;
//!   `GEMINI_API_KEY`) and `.gemini/settings.json` `security.auth.selectedType`, without which
//!   it asks how to sign in.
//! - opencode: `opencode.json` → `provider.keygate` (the `@ai-sdk/openai-compatible` package).
//! - aider: `.aider.conf.yml` (`openai-api-base`, `openai-api-key`, `model: openai/…`).
//! - Continue: `config.yaml` → an item of `models` named "KeyGate" (`provider: openai`).
//! - Shell: `OPENAI_*` and `ANTHROPIC_*` exports, for the SDKs and everything else.

use serde_json::{Value, json};

use super::{Entry, Format, Places, Step, Tool, ToolFile};

/// The model a tool that needs one is given when the user names none and KeyGate knows none.
pub const FALLBACK_MODEL: &str = "gpt-4o";

/// What is written: KeyGate's address, the tool's token and the model it should ask for.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// `http://127.0.0.1:5397`.
    pub origin: &'a str,
    pub token: &'a str,
    /// The model (or route alias) the tool asks for. Claude Code, Codex and Gemini CLI keep
    /// their own defaults when this is `None`; the others get [`FALLBACK_MODEL`].
    pub model: Option<&'a str>,
    /// The models listed in tools that list them (opencode).
    pub models: &'a [String],
}

const CONTINUE_SKELETON: &str = "name: Local Config\nversion: 1.0.0\nschema: v1\n";

/// The files KeyGate edits to connect `tool`, with what it puts in each.
pub fn files_for(tool: Tool, places: &Places, conn: &Connection<'_>) -> Vec<ToolFile> {
    let origin = conn.origin.trim_end_matches('/');
    let v1 = format!("{origin}/v1");
    let token = conn.token;
    let model = conn.model.unwrap_or(FALLBACK_MODEL);
    match tool {
        Tool::ClaudeCode => {
            let mut entries = vec![
                Entry::set(&["env", "ANTHROPIC_BASE_URL"], origin),
                Entry::set(&["env", "ANTHROPIC_AUTH_TOKEN"], token),
                Entry::absent(&["env", "ANTHROPIC_API_KEY"]),
            ];
            if let Some(model) = conn.model {
                entries.push(Entry::set(&["env", "ANTHROPIC_MODEL"], model));
            }
            vec![file(
                places.claude_dir.join("settings.json"),
                Format::Json,
                entries,
            )]
        }
        Tool::Codex => {
            let provider = |key: &'static str| ["model_providers", "keygate", key];
            let mut entries = vec![
                Entry::set(&["model_provider"], "keygate"),
                Entry::set(&provider("name"), "KeyGate"),
                Entry::set(&provider("base_url"), v1),
                Entry::set(&provider("wire_api"), "responses"),
                Entry::set(&provider("experimental_bearer_token"), token),
                Entry::absent(&provider("env_key")),
                Entry::absent(&provider("requires_openai_auth")),
            ];
            if let Some(model) = conn.model {
                entries.insert(0, Entry::set(&["model"], model));
            }
            vec![file(
                places.codex_home.join("config.toml"),
                Format::Toml,
                entries,
            )]
        }
        Tool::GeminiCli => {
            let mut env = vec![
                Entry::set(&["GOOGLE_GEMINI_BASE_URL"], origin),
                Entry::set(&["GEMINI_API_KEY"], token),
            ];
            if let Some(model) = conn.model {
                env.push(Entry::set(&["GEMINI_MODEL"], model));
            }
            vec![
                file(places.gemini_dir.join(".env"), Format::Dotenv, env),
                file(
                    places.gemini_dir.join("settings.json"),
                    Format::Json,
                    vec![Entry::set(
                        &["security", "auth", "selectedType"],
                        "gemini-api-key",
                    )],
                ),
            ]
        }
        Tool::Opencode => {
            let provider = |keys: &[&'static str]| {
                let mut path = vec!["provider", "keygate"];
                path.extend_from_slice(keys);
                path
            };
            let mut listed: Vec<&str> = conn.models.iter().map(String::as_str).collect();
            if !listed.contains(&model) {
                listed.insert(0, model);
            }
            let models: serde_json::Map<String, Value> = listed
                .iter()
                .map(|m| (m.to_string(), json!({ "name": m })))
                .collect();
            let entries = vec![
                Entry::set(&provider(&["npm"]), "@ai-sdk/openai-compatible"),
                Entry::set(&provider(&["name"]), "KeyGate"),
                Entry::set(&provider(&["options", "baseURL"]), v1),
                Entry::set(&provider(&["options", "apiKey"]), token),
                Entry::set(&provider(&["models"]), Value::Object(models)),
                Entry::set(&["model"], format!("keygate/{model}")),
            ];
            vec![file(places.opencode_file.clone(), Format::Json, entries)]
        }
        Tool::Aider => vec![file(
            places.aider_file.clone(),
            Format::Yaml,
            vec![
                Entry::set(&["openai-api-base"], v1),
                Entry::set(&["openai-api-key"], token),
                Entry::set(&["model"], format!("openai/{model}")),
            ],
        )],
        Tool::Continue => {
            let item = json!({
                "name": "KeyGate",
                "provider": "openai",
                "model": model,
                "apiBase": v1,
                "apiKey": token,
            });
            let mut config = file(
                places.continue_dir.join("config.yaml"),
                Format::Yaml,
                vec![Entry {
                    path: vec![
                        Step::key("models"),
                        Step::Item {
                            field: "name".into(),
                            equals: "KeyGate".into(),
                        },
                    ],
                    value: Some(item),
                }],
            );
            config.skeleton = Some(CONTINUE_SKELETON);
            vec![config]
        }
        Tool::Shell => vec![file(
            places.shell_profile.clone(),
            Format::Shell,
            vec![
                Entry::set(&["OPENAI_BASE_URL"], v1),
                Entry::set(&["OPENAI_API_KEY"], token),
                Entry::set(&["ANTHROPIC_BASE_URL"], origin),
                Entry::set(&["ANTHROPIC_AUTH_TOKEN"], token),
            ],
        )],
    }
}

fn file(path: std::path::PathBuf, format: Format, entries: Vec<Entry>) -> ToolFile {
    ToolFile {
        path,
        format,
        entries,
        skeleton: None,
    }
}
