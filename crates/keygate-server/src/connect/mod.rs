//! `keygate connect`: writes a tool's config so it sends its requests to KeyGate, with a token
//! of its own, and undoes that. The admin API (`/api/connect`) and the CLI both call
//! [`Connector`]; what goes in each file is core's (`keygate_core::connect`), the files, the
//! backups and the record of what was written are here.
//!
//! Under `$KEYGATE_HOME/connect/`: `TOOL.json` records, per file, where its backup is and digests
//! of what KeyGate wrote (never the token itself); `backups/TOOL/TIME/` holds each file as it
//! was before KeyGate's first change, 0600.

mod files;
mod status;

use std::path::{Path, PathBuf};

use keygate_core::connect::{
    self as core_connect, ConnectError, Connection, FALLBACK_MODEL, Format, Places, Reverted, Step,
    Tool, ToolFile,
};
use keygate_core::token::{token_from_random_bytes, token_hash, token_hint};
use keygate_store::{NewToken, RouteTier, Store, StoreError};
use serde::{Deserialize, Serialize};

pub use files::FileError;
pub use status::{ToolState, ToolStatus};

/// Stands in for the token while KeyGate works out which entries carry it, and in a dry run's
/// diff when a new token would be made.
const SENTINEL: &str = "kg-<the token KeyGate makes for this tool>";

#[derive(Debug, thiserror::Error)]
pub enum ConnectFailure {
    #[error(transparent)]
    Config(#[from] ConnectError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} is not connected by KeyGate; there is nothing to undo")]
    NotConnected(&'static str),
    #[error("KeyGate's record of {tool} ({path}) cannot be read: {why}")]
    Record {
        tool: &'static str,
        path: String,
        why: String,
    },
    #[error("no home folder: set HOME")]
    NoHome,
    #[error("the random generator gave too few usable bytes; try again")]
    Random,
    #[error("{0}")]
    Invalid(String),
}

impl ConnectFailure {
    /// The admin API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectFailure::Config(ConnectError::UnknownTool(_)) => "unknown_tool",
            ConnectFailure::Config(ConnectError::Conflict { .. }) => "changed_since_connect",
            ConnectFailure::Config(_) => "config_not_editable",
            ConnectFailure::File(FileError::ChangedMeanwhile { .. }) => "changed_meanwhile",
            ConnectFailure::File(FileError::Io { .. }) => "file_error",
            ConnectFailure::File(_) => "config_not_editable",
            ConnectFailure::Store(_) => "store_error",
            ConnectFailure::NotConnected(_) => "not_connected",
            ConnectFailure::Record { .. } => "record_unreadable",
            ConnectFailure::NoHome => "no_home",
            ConnectFailure::Random => "internal",
            ConnectFailure::Invalid(_) => "invalid_connect",
        }
    }
}

/// What the caller asks of a connect.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectOptions {
    /// Show the change without making it.
    #[serde(default)]
    pub dry_run: bool,
    /// The model (or route alias) the tool asks for; tools without a default of their own get
    /// the first route, else [`FALLBACK_MODEL`].
    #[serde(default)]
    pub model: Option<String>,
    /// Serve the models the tool asks for from this provider (when the user has none of the
    /// tool's own, or wants another): routes for them, translated as the proxy does.
    #[serde(default)]
    pub serve_from: Option<ServeFrom>,
}

/// Where a tool's models are served from: Claude Code's `claude-*` (and its haiku models from
/// `fast_model`), Gemini CLI's `gemini-*` (flash from `fast_model`), Codex's `codex`; other
/// tools ask for `provider/model` directly.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServeFrom {
    pub provider: String,
    pub model: String,
    #[serde(default)]
    pub fast_model: Option<String>,
}

/// What a connect did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectOutcome {
    pub tool: &'static str,
    pub dry_run: bool,
    /// False when every file already said this.
    pub changed: bool,
    pub files: Vec<FileChange>,
    /// The access token the tool uses: its name, and whether this connect made it.
    pub token: String,
    pub token_created: bool,
    /// The routes made for the tool's models (`serve_from`).
    pub routes: Vec<RouteChange>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RouteChange {
    pub alias: String,
    /// `provider:model`.
    pub to: String,
    /// What the alias was routed to before, when it was.
    pub replaced: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FileChange {
    pub path: String,
    /// The file did not exist before.
    pub created: bool,
    pub changed: bool,
    /// A unified diff; the token shows as its hint.
    pub diff: String,
    /// Where the file as it was before KeyGate's first change is kept.
    pub backup: Option<String>,
}

/// What an undo did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UndoOutcome {
    pub tool: &'static str,
    pub files: Vec<UndoneFile>,
    /// The tool's token, revoked with the undo.
    pub token_revoked: Option<String>,
    /// The routes connect made, removed (or put back as they were).
    pub routes_restored: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UndoneFile {
    pub path: String,
    /// `restored` (the original bytes), `merged` (KeyGate's settings taken out, the user's later
    /// changes kept), `removed` (KeyGate had created it) or `unchanged`.
    pub action: &'static str,
}

/// KeyGate's record of one connected tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    token: String,
    connected_at: String,
    files: Vec<FileRecord>,
    #[serde(default)]
    routes: Vec<RouteRecord>,
}

/// A route connect made, and what the alias was before (to put back on undo).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RouteRecord {
    alias: String,
    previous: Option<(Vec<RouteTier>, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileRecord {
    path: PathBuf,
    format: Format,
    /// The file before KeyGate's first change; `None`: it did not exist.
    backup: Option<PathBuf>,
    /// Digest of the text KeyGate last wrote.
    applied: String,
    entries: Vec<(Vec<Step>, String)>,
}

/// Connects tools for one KeyGate home and one user's home.
#[derive(Debug, Clone)]
pub struct Connector {
    keygate_home: PathBuf,
    user_home: PathBuf,
    places: Places,
    path_dirs: Vec<PathBuf>,
    origin: String,
}

impl Connector {
    /// `env` reads the environment (HOME, each tool's override, PATH); `origin` is the engine's
    /// address (`http://127.0.0.1:5397`).
    pub fn new(
        keygate_home: &Path,
        env: impl Fn(&str) -> Option<String>,
        origin: String,
    ) -> Result<Connector, ConnectFailure> {
        let home = env("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or(ConnectFailure::NoHome)?;
        let path_dirs = env("PATH")
            .map(|path| std::env::split_paths(&path).collect())
            .unwrap_or_default();
        Ok(Connector {
            keygate_home: keygate_home.to_path_buf(),
            places: Places::resolve(&home, &env),
            user_home: home,
            path_dirs,
            origin,
        })
    }

    /// From this process's environment; without HOME (Windows), the platform's home folder.
    pub fn from_env(keygate_home: &Path, origin: String) -> Result<Connector, ConnectFailure> {
        let home = std::env::var("HOME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                directories::BaseDirs::new().map(|dirs| dirs.home_dir().display().to_string())
            });
        Connector::new(
            keygate_home,
            |name| match name {
                "HOME" => home.clone(),
                _ => std::env::var(name).ok(),
            },
            origin,
        )
    }

    fn dir(&self) -> PathBuf {
        self.keygate_home.join("connect")
    }

    fn record_path(&self, tool: Tool) -> PathBuf {
        self.dir().join(format!("{}.json", tool.id()))
    }

    fn load_record(&self, tool: Tool) -> Result<Option<Record>, ConnectFailure> {
        let path = self.record_path(tool);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ConnectFailure::Record {
                    tool: tool.id(),
                    path: path.display().to_string(),
                    why: e.to_string(),
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ConnectFailure::Record {
                tool: tool.id(),
                path: path.display().to_string(),
                why: e.to_string(),
            })
    }

    fn save_record(&self, tool: Tool, record: &Record) -> Result<(), ConnectFailure> {
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| ConnectFailure::Record {
            tool: tool.id(),
            path: self.record_path(tool).display().to_string(),
            why: e.to_string(),
        })?;
        Ok(files::write_private(&self.record_path(tool), &bytes)?)
    }

    /// The files of `tool` with `token` written in them.
    fn files(
        &self,
        tool: Tool,
        token: &str,
        model: Option<&str>,
        models: &[String],
    ) -> Vec<ToolFile> {
        core_connect::files_for(
            tool,
            &self.places,
            &Connection {
                origin: &self.origin,
                token,
                model,
                models,
            },
        )
    }

    /// Connects `tool`: its files point at KeyGate with its own token.
    pub fn connect(
        &self,
        store: &mut Store,
        tool: Tool,
        options: &ConnectOptions,
    ) -> Result<ConnectOutcome, ConnectFailure> {
        if let Some(model) = options.model.as_deref().filter(|m| m.contains('*')) {
            return Err(ConnectFailure::Invalid(format!(
                "the model for {} must be a model name or alias, not the pattern {model:?}",
                tool.title()
            )));
        }
        let record = self.load_record(tool)?;
        let routes: Vec<String> = store
            .list_routes()?
            .into_iter()
            .map(|route| route.alias)
            // A pattern (`claude-*`) is not a model a tool can ask for.
            .filter(|alias| !alias.contains('*'))
            .collect();
        let serve = self.planned_routes(store, tool, options)?;
        let model = match (&options.serve_from, tool.model_routes()) {
            // Codex asks for the one model in its config: the alias its route serves.
            (Some(_), Some((alias, _))) if tool == Tool::Codex => Some(alias.to_string()),
            (Some(_), Some(_)) => options.model.clone(),
            (Some(from), None) => Some(format!("{}/{}", from.provider, from.model)),
            (None, _) => options.model.clone(),
        };
        let model = model.or_else(|| match tool {
            Tool::ClaudeCode | Tool::Codex | Tool::GeminiCli => None,
            _ => Some(
                routes
                    .first()
                    .cloned()
                    .unwrap_or_else(|| FALLBACK_MODEL.into()),
            ),
        });

        let sentinel_files = self.files(tool, SENTINEL, model.as_deref(), &routes);
        let mut current = Vec::new();
        for file in &sentinel_files {
            current.push(files::read(&file.path)?);
        }

        // The tool keeps its token when its file still holds the live one.
        let tokens = store.list_tokens()?;
        let reusable = sentinel_files
            .iter()
            .zip(&current)
            .filter_map(|(file, text)| status::token_in_file(file, text.as_deref()?, SENTINEL))
            .find(|found| {
                tokens.iter().any(|t| {
                    t.hash == token_hash(found) && record.as_ref().is_none_or(|r| r.token == t.name)
                })
            });
        let name = match &record {
            Some(record) => record.token.clone(),
            None => free_token_name(tool, &tokens),
        };
        let (token, token_created) = match reusable {
            Some(token) => (token, false),
            None if options.dry_run => (SENTINEL.to_string(), true),
            None => {
                let bytes: [u8; 64] = rand::random();
                (
                    token_from_random_bytes(&bytes).ok_or(ConnectFailure::Random)?,
                    true,
                )
            }
        };

        let planned = self.files(tool, &token, model.as_deref(), &routes);
        let mut applied = Vec::new();
        for (file, text) in planned.iter().zip(&current) {
            let result = core_connect::apply(file, text.as_deref())?;
            if result.changed {
                files::check_writable(&file.path)?;
            }
            applied.push(result);
        }
        let mask = |text: String| {
            if token == SENTINEL {
                text
            } else {
                text.replace(&token, &token_hint(&token))
            }
        };
        let backups_at = self
            .dir()
            .join("backups")
            .join(tool.id())
            .join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string());
        // Each file's backup: the one kept from KeyGate's first change, else a new one (made
        // below) for a file that exists.
        let backups: Vec<(Option<PathBuf>, bool)> = planned
            .iter()
            .zip(&current)
            .map(|(file, text)| {
                let kept = record
                    .as_ref()
                    .and_then(|r| r.files.iter().find(|f| f.path == file.path));
                match kept {
                    Some(kept) => (kept.backup.clone(), false),
                    None => (
                        text.as_ref()
                            .map(|_| backups_at.join(backup_name(&file.path))),
                        text.is_some(),
                    ),
                }
            })
            .collect();
        let mut changes = Vec::new();
        for (((file, text), result), (backup, _)) in
            planned.iter().zip(&current).zip(&applied).zip(&backups)
        {
            changes.push(FileChange {
                path: file.path.display().to_string(),
                created: text.is_none(),
                changed: result.changed,
                diff: mask(core_connect::diff(
                    &file.path.display().to_string(),
                    text.as_deref(),
                    Some(&result.text),
                )),
                backup: backup.as_ref().map(|b| b.display().to_string()),
            });
        }
        let changed = applied.iter().any(|a| a.changed);
        let outcome = ConnectOutcome {
            tool: tool.id(),
            dry_run: options.dry_run,
            changed,
            files: changes,
            token: name.clone(),
            token_created,
            routes: serve
                .iter()
                .map(|(alias, tier, previous)| RouteChange {
                    alias: alias.clone(),
                    to: format!("{}:{}", tier.provider, tier.model),
                    replaced: previous.as_ref().map(|(tiers, _)| {
                        tiers
                            .iter()
                            .map(|t| format!("{}:{}", t.provider, t.model))
                            .collect::<Vec<_>>()
                            .join(",")
                    }),
                })
                .collect(),
        };
        if options.dry_run {
            return Ok(outcome);
        }

        // The backups and the record come first: whatever fails after them, undo can put
        // back what was written (a file left as it was undoes as `unchanged`).
        let mut records = Vec::new();
        for (((file, text), result), (backup, new_backup)) in
            planned.iter().zip(&current).zip(&applied).zip(&backups)
        {
            if let (true, Some(path), Some(text)) = (new_backup, backup, text) {
                files::write_private(path, text.as_bytes())?;
            }
            records.push(FileRecord {
                path: file.path.clone(),
                format: file.format,
                backup: backup.clone(),
                applied: core_connect::text_digest(&result.text),
                entries: core_connect::entry_digests(&file.entries),
            });
        }
        let mut route_records: Vec<RouteRecord> = record
            .as_ref()
            .map(|r| r.routes.clone())
            .unwrap_or_default();
        for (alias, _, previous) in &serve {
            // The state before KeyGate's first change is what undo puts back.
            if !route_records.iter().any(|r| &r.alias == alias) {
                route_records.push(RouteRecord {
                    alias: alias.to_string(),
                    previous: previous.clone(),
                });
            }
        }
        self.save_record(
            tool,
            &Record {
                token: name.clone(),
                connected_at: record
                    .map(|r| r.connected_at)
                    .unwrap_or_else(|| chrono::Utc::now().to_rfc3339()),
                files: records,
                routes: route_records,
            },
        )?;
        if token_created {
            store.replace_token(&NewToken {
                name,
                hash: token_hash(&token),
                hint: token_hint(&token),
                models: Vec::new(),
                expires_at: None,
                budgets: Default::default(),
            })?;
        }
        for (alias, tier, _) in &serve {
            store.upsert_route(alias, std::slice::from_ref(tier), "priority")?;
        }
        for ((file, text), result) in planned.iter().zip(&current).zip(&applied) {
            if result.changed {
                files::write_atomic(&file.path, &result.text, text.as_deref())?;
            }
        }
        Ok(outcome)
    }

    /// The routes `serve_from` asks for: (alias, tier, what the alias routed to before).
    #[allow(clippy::type_complexity)]
    fn planned_routes(
        &self,
        store: &Store,
        tool: Tool,
        options: &ConnectOptions,
    ) -> Result<Vec<(String, RouteTier, Option<(Vec<RouteTier>, String)>)>, ConnectFailure> {
        let Some(from) = &options.serve_from else {
            return Ok(Vec::new());
        };
        if !store
            .list_providers()?
            .iter()
            .any(|p| p.name == from.provider)
        {
            return Err(ConnectFailure::Invalid(format!(
                "no provider named {:?} to serve {}'s models (see `keygate provider list`)",
                from.provider,
                tool.title()
            )));
        }
        for model in std::iter::once(&from.model).chain(&from.fast_model) {
            if model.contains('*') {
                return Err(ConnectFailure::Invalid(format!(
                    "the model to serve {} from must be a model name, not the pattern {model:?}",
                    tool.title()
                )));
            }
            keygate_core::token::validate_model_glob(model).map_err(ConnectFailure::Invalid)?;
        }
        let Some((main, fast)) = tool.model_routes() else {
            return Ok(Vec::new());
        };
        let existing = store.list_routes()?;
        let previous = |alias: &str| {
            existing
                .iter()
                .find(|r| r.alias == alias)
                .map(|r| (r.tiers.clone(), r.strategy.clone()))
        };
        let tier = |model: &str| RouteTier {
            provider: from.provider.clone(),
            model: model.to_string(),
        };
        let mut planned = vec![(main.to_string(), tier(&from.model), previous(main))];
        if let Some(fast) = fast {
            let model = from.fast_model.as_deref().unwrap_or(&from.model);
            planned.push((fast.to_string(), tier(model), previous(fast)));
        }
        Ok(planned)
    }

    /// Undoes `tool`'s connect: each file as it was before (or with only KeyGate's settings
    /// taken out, when the user changed it since), and the tool's token revoked.
    pub fn undo(&self, store: &mut Store, tool: Tool) -> Result<UndoOutcome, ConnectFailure> {
        let record = self
            .load_record(tool)?
            .ok_or(ConnectFailure::NotConnected(tool.id()))?;
        // Work out every file first: a conflict in one leaves all of them as they are.
        let mut plans = Vec::new();
        for file in &record.files {
            let current = files::read(&file.path)?;
            let original =
                match &file.backup {
                    Some(backup) => Some(std::fs::read_to_string(backup).map_err(|e| {
                        ConnectFailure::Record {
                            tool: tool.id(),
                            path: backup.display().to_string(),
                            why: format!("the backup cannot be read: {e}"),
                        }
                    })?),
                    None => None,
                };
            let shape = ToolFile {
                path: file.path.clone(),
                format: file.format,
                entries: Vec::new(),
                skeleton: None,
            };
            let reverted = core_connect::undo(
                &shape,
                current.as_deref(),
                original.as_deref(),
                &file.applied,
                &file.entries,
            )?;
            if !matches!(reverted, Reverted::Unchanged) {
                files::check_writable(&file.path)?;
            }
            plans.push((file, current, original, reverted));
        }
        let mut done = Vec::new();
        for (file, current, original, reverted) in plans {
            let action = match reverted {
                Reverted::Write(text) => {
                    let exact = original.as_deref() == Some(text.as_str());
                    files::write_atomic(&file.path, &text, current.as_deref())?;
                    if exact { "restored" } else { "merged" }
                }
                Reverted::Remove => {
                    files::remove(&file.path)?;
                    "removed"
                }
                Reverted::Unchanged => "unchanged",
            };
            done.push(UndoneFile {
                path: file.path.display().to_string(),
                action,
            });
        }
        let mut routes_restored = Vec::new();
        for route in &record.routes {
            match &route.previous {
                Some((tiers, strategy)) => store.upsert_route(&route.alias, tiers, strategy)?,
                None => match store.delete_route(&route.alias) {
                    Ok(()) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                },
            }
            routes_restored.push(route.alias.clone());
        }
        let token_revoked = match store.revoke_token(&record.token) {
            Ok(()) => Some(record.token.clone()),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let path = self.record_path(tool);
        std::fs::remove_file(&path).map_err(|e| ConnectFailure::Record {
            tool: tool.id(),
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Ok(UndoOutcome {
            tool: tool.id(),
            files: done,
            token_revoked,
            routes_restored,
        })
    }
}

/// The tool's id, or `id-2`, `id-3`… when the user already has a token of that name.
fn free_token_name(tool: Tool, tokens: &[keygate_store::TokenRow]) -> String {
    let taken = |name: &str| tokens.iter().any(|t| t.name == name);
    if !taken(tool.id()) {
        return tool.id().to_string();
    }
    (2..)
        .map(|n| format!("{}-{n}", tool.id()))
        .find(|name| !taken(name))
        .unwrap_or_else(|| tool.id().to_string())
}

/// `settings.json` for `~/.claude/settings.json`; a tool with two files of one name (none
/// today) would still get two backups, as the folder's name is kept too.
fn backup_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{parent}_{name}")
        .trim_start_matches('.')
        .to_string()
}
