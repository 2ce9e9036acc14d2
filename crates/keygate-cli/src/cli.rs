use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// KeyGate: keep LLM API keys in the OS keyring, watch their health, and proxy local tools
/// through http://127.0.0.1:5397 with failover between keys and providers.
#[derive(Debug, Parser)]
#[command(name = "keygate", version, about, propagate_version = true)]
pub struct Cli {
    /// Print listings and results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Where the data lives: `sqlite` (the file in KEYGATE_HOME, the default) or a team's
    /// PostgreSQL database, postgres://USER@HOST:PORT/DB.
    #[arg(
        long,
        global = true,
        env = "KEYGATE_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub store: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine headless: the proxy, the admin API and the web UI.
    Serve(ServeArgs),
    /// Manage providers (OpenAI, Anthropic, … or your own endpoint).
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Manage API keys; secrets go to the OS keyring.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Import keys from a CSV or TOML file: all rows or none.
    Import(ImportArgs),
    /// Manage local access tokens that tools use to call the proxy.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage model routes: an alias served by ordered provider:model tiers.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Model prices: the built-in list and your own (which win from their date on).
    #[command(subcommand)]
    Model(ModelCommand),
    /// Usage and cost over a period, grouped by time, provider, model, key or access token.
    Report(ReportArgs),
    /// Check keys' health now (what the background checker does): every enabled key, or one.
    HealthCheck {
        #[arg(long)]
        key: Option<String>,
    },
    /// Show or change proxy settings (attempts, deadline, max wait, stickiness, limits).
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Point a tool at KeyGate by editing its config (only KeyGate's settings; a backup is
    /// kept, --undo restores it), with an access token of its own. Without TOOL: every
    /// tool's state.
    Connect(ConnectArgs),
}

#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// claude-code, codex, gemini-cli, opencode, aider, continue or shell.
    pub tool: Option<String>,
    /// Show the diff and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Undo: the tool's files as they were before (KeyGate's settings only, when you changed
    /// them since), and its token revoked.
    #[arg(long, conflicts_with = "dry_run")]
    pub undo: bool,
    /// Every tool's state (the default without TOOL).
    #[arg(long, conflicts_with_all = ["dry_run", "undo"])]
    pub status: bool,
    /// The model or route alias the tool should ask for.
    #[arg(long, conflicts_with_all = ["undo", "status"])]
    pub model: Option<String>,
    /// Serve the models the tool asks for from PROVIDER:MODEL (routes for Claude Code's
    /// claude-*, Gemini CLI's gemini-*, Codex's codex; other tools ask for PROVIDER/MODEL).
    #[arg(long, value_name = "PROVIDER:MODEL", conflicts_with_all = ["undo", "status", "model"])]
    pub serve_from: Option<String>,
    /// With --serve-from: the model for the small fast requests (Claude Code's haiku, Gemini
    /// CLI's flash); default: the same model.
    #[arg(long, requires = "serve_from")]
    pub fast_model: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Prices in force now (USD per million tokens).
    List {
        #[arg(long)]
        provider: Option<String>,
    },
    /// Set a model's price (USD per million tokens) from a date on; usage before keeps its
    /// price. MODEL may be a prefix (`gpt-4o` covers `gpt-4o-2024-08-06`).
    Price {
        model: String,
        #[arg(long)]
        input: String,
        #[arg(long)]
        output: String,
        /// Price of cached prompt tokens (default: the input price).
        #[arg(long)]
        cached: Option<String>,
        /// Only for this provider (default: every provider).
        #[arg(long)]
        provider: Option<String>,
        /// In effect from (a date or RFC 3339 time; default: now).
        #[arg(long)]
        from: Option<String>,
    },
    /// Ask a provider for the models its keys can use (through its first working key) and
    /// save the list; models without a price are marked, so you can set one.
    Sync {
        #[arg(long)]
        provider: String,
    },
    /// The price catalog: `keygate model prices refresh --from FILE|URL` imports a public one.
    Prices {
        #[command(subcommand)]
        command: PricesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Import a price catalog in models.dev's `api.json` format (provider → models →
    /// cost.input / cost.output / cost.cache_read, USD per million tokens) as newer built-ins;
    /// your own prices (`keygate model price`) still win. Usage made before keeps its price.
    Refresh {
        /// A file, or an http(s) URL such as https://models.dev/api.json.
        #[arg(long, value_name = "FILE|URL")]
        from: String,
        /// In effect from (a date or RFC 3339 time; default: now).
        #[arg(long, value_name = "DATE")]
        effective: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Start (a date like 2026-11-01, or an RFC 3339 time); default: 7 days ago.
    #[arg(long, conflicts_with = "month")]
    pub from: Option<String>,
    /// End, exclusive (a date means the start of that day); default: now.
    #[arg(long, conflicts_with = "month")]
    pub to: Option<String>,
    /// day, hour, provider, model, key or token.
    #[arg(long, default_value = "day", conflicts_with = "month")]
    pub by: String,
    /// A month's summary (UTC), e.g. 2026-11: its usage and cost by provider and by key.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<String>,
    /// table, csv or json (--json also gives json).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Also draw a chart of the period into FILE (.svg or .png), split by --by (provider
    /// when --by is day or hour).
    #[arg(long, value_name = "FILE")]
    pub chart: Option<std::path::PathBuf>,
    /// What the chart shows: requests, tokens, cost, latency, ttfb or success.
    #[arg(long, value_name = "NAME", default_value = "cost")]
    pub chart_of: String,
    /// Draw the chart on a dark background.
    #[arg(long)]
    pub dark: bool,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Every setting with its value and default.
    List,
    /// Change a setting, e.g. `settings set proxy.max_wait_ms 5000`. The engine reads
    /// settings when it starts.
    Set { name: String, value: u64 },
    /// Back to the default.
    Reset { name: String },
}

#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Create or replace a route, e.g. `route add smart --to openai:gpt-4o,deepseek:deepseek-chat`.
    Add {
        alias: String,
        /// Tiers in the order to try them, comma-separated provider:model.
        #[arg(long, value_delimiter = ',', required = true)]
        to: Vec<String>,
        /// How each tier picks a key: priority, round_robin, least_used, weighted,
        /// lowest_latency, lowest_cost or headroom.
        #[arg(long, default_value = "priority")]
        strategy: String,
    },
    /// List routes.
    List,
    /// Remove a route.
    Rm { alias: String },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "KEYGATE_PORT", default_value_t = 5397)]
    pub port: u16,
    /// Address to bind. Anything but loopback exposes your keys to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Required with a non-loopback --bind.
    #[arg(long)]
    pub i_know_this_exposes_keys: bool,
    /// Open the web UI in the default browser.
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Add a provider. Preset names (openai, anthropic, deepseek, …) fill in kind and URL.
    Add(ProviderAddArgs),
    /// List providers.
    List,
    /// Change a provider's URL, kind, headers, priority or enabled switch; what you leave out
    /// stays as it is. Its keys, routes and usage stay with it.
    Edit(ProviderEditArgs),
    /// Remove a provider. One that still has keys is refused unless --with-keys, which
    /// removes them and their keyring entries too. Routes lose the provider's tiers.
    Rm {
        name: String,
        #[arg(long)]
        with_keys: bool,
    },
    /// List the built-in presets.
    Presets,
}

#[derive(Debug, Args)]
pub struct ProviderEditArgs {
    pub name: String,
    /// openai, anthropic, gemini or azure.
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub base_url: Option<String>,
    /// Sets an extra header sent upstream, as NAME:VALUE (repeatable). Never a secret.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Removes an extra header (repeatable).
    #[arg(long = "unset-header", value_name = "NAME")]
    pub unset_headers: Vec<String>,
    /// Azure's api-version, e.g. 2024-10-21.
    #[arg(long)]
    pub api_version: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub priority: Option<i64>,
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// The proxy stops using the provider (its keys are kept).
    #[arg(long)]
    pub disable: bool,
}

#[derive(Debug, Args)]
pub struct ProviderAddArgs {
    pub name: String,
    /// openai, anthropic, gemini or azure (default: the preset's kind).
    #[arg(long)]
    pub kind: Option<String>,
    /// Base URL, e.g. https://api.example.com/v1 (default: the preset's URL).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Extra header sent upstream, as NAME:VALUE (repeatable). Never a secret.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Azure's api-version, e.g. 2024-10-21 (default: 2024-10-21).
    #[arg(long)]
    pub api_version: Option<String>,
    /// Lower numbers are tried first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i64,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add a key. The secret is read from stdin (hidden on a terminal) or referenced with --secret-env.
    Add(KeyAddArgs),
    /// List keys with their health.
    List,
    /// Change a key's label, tags, priority, weight or enabled switch; what you leave out
    /// stays as it is (the secret never changes: a new secret is a new key).
    Edit {
        id: String,
        #[arg(long)]
        label: Option<String>,
        /// Replaces all tags (repeat for several); `--tag ''` with nothing else clears them.
        #[arg(long = "tag")]
        tags: Option<Vec<String>>,
        #[arg(long, allow_hyphen_values = true)]
        priority: Option<i64>,
        #[arg(long)]
        weight: Option<i64>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Enable keys.
    Enable {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Disable keys (the proxy stops using them).
    Disable {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Remove keys and their keyring entries.
    Rm {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Fetch keys' provider balances now (DeepSeek, Moonshot, OpenRouter, SiliconFlow; others
    /// say "not available from this provider"), optionally setting when a balance counts as
    /// low: `--low-balance 10` (in the balance's currency) or `3d` (days of spend left).
    Balance {
        ids: Vec<String>,
        /// Every enabled key.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Set the keys' low-balance threshold first (`none` removes it). Crossing it raises
        /// one `balance_low` event and a desktop notification.
        #[arg(long, value_name = "AMOUNT|Nd")]
        low_balance: Option<String>,
    },
    /// Test keys with one cheap request each (no tokens spent): status, latency, visible
    /// models, rate-limit headroom and a hint. Exits 1 when a key does not work.
    Test {
        ids: Vec<String>,
        /// Test every enabled key.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Test the enabled keys with this tag.
        #[arg(long, conflicts_with_all = ["ids", "all"])]
        tag: Option<String>,
        /// Also send a one-token completion (tells a key without credit from a good one).
        #[arg(long)]
        deep: bool,
    },
    /// Change a key's local limits and budgets (`none` removes one), e.g.
    /// `keygate key limits k_abc --daily-budget 5 --rpm none`. Shows them without options.
    Limits {
        id: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Clear keys' health and counters so they are tried again.
    Reset {
        ids: Vec<String>,
        /// Reset every unhealthy or degraded key.
        #[arg(long, conflicts_with = "ids")]
        failed: bool,
    },
}

/// Local limits and budgets of a key. With `key limits`, `none` removes one.
#[derive(Debug, Args, Default)]
pub struct LimitArgs {
    /// Requests per minute this key may send (counted by KeyGate).
    #[arg(long, value_name = "N")]
    pub rpm: Option<String>,
    /// Tokens per minute.
    #[arg(long, value_name = "N")]
    pub tpm: Option<String>,
    /// Requests per day.
    #[arg(long, value_name = "N")]
    pub rpd: Option<String>,
    #[command(flatten)]
    pub budgets: BudgetArgs,
}

/// Spend and token budgets of a key or an access token. With `key limits` and `token budget`,
/// `none` removes one.
#[derive(Debug, Args, Default)]
pub struct BudgetArgs {
    /// Daily spend cap in USD, e.g. 5 or 12.50 (UTC day). At 80 % an alert, at 100 % the key
    /// rests (or the token is refused) until the day ends.
    #[arg(long, value_name = "USD")]
    pub daily_budget: Option<String>,
    /// Monthly spend cap in USD (calendar month, UTC).
    #[arg(long, value_name = "USD")]
    pub monthly_budget: Option<String>,
    /// Prompt plus completion tokens per UTC day.
    #[arg(long, value_name = "N")]
    pub daily_tokens: Option<String>,
    /// Prompt plus completion tokens per calendar month.
    #[arg(long, value_name = "N")]
    pub monthly_tokens: Option<String>,
}

#[derive(Debug, Args)]
pub struct KeyAddArgs {
    /// Provider name; a preset name creates the provider on first use.
    #[arg(long)]
    pub provider: String,
    #[arg(long)]
    pub label: Option<String>,
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i64,
    #[arg(long, default_value_t = 1)]
    pub weight: i64,
    /// When the key stops working: a date (2026-12-31, the end of that day, UTC) or an RFC
    /// 3339 time. KeyGate warns 7 days ahead and never uses it afterwards.
    #[arg(long)]
    pub expires: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Keep the secret in this environment variable instead of the keyring (headless hosts).
    #[arg(long, value_name = "VAR")]
    pub secret_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A .csv (columns provider,label,secret,tags,priority,weight,rpm,tpm,rpd,daily_budget)
    /// or .toml ([[key]] tables) file; with --provider, any file of one key per line.
    pub file: PathBuf,
    /// Every line of FILE is one key of this provider (keys pasted one per line).
    #[arg(long)]
    pub provider: Option<String>,
    /// Check the file and show what would be imported, without importing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once.
    Create {
        name: String,
        /// Comma-separated model patterns the token may use, e.g. "gpt-4o*,claude-*".
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Last valid day (YYYY-MM-DD, UTC) or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        budgets: BudgetArgs,
    },
    /// List tokens (never the tokens themselves) and their budgets.
    List,
    /// Change a token's budgets (`none` removes one), e.g.
    /// `keygate token budget cursor --daily-budget 5`. Shows them without options. A token
    /// over a budget is answered 429 `token_budget_exceeded` until the period ends.
    Budget {
        name: String,
        #[command(flatten)]
        budgets: BudgetArgs,
    },
    /// Revoke a token.
    Revoke { name: String },
}
