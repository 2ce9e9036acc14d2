//! Provider kinds, how each sends its key upstream, and the built-in presets.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The wire protocol family a provider speaks. Every OpenAI-compatible preset is `OpenAi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    Anthropic,
    Gemini,
    Azure,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [Self::OpenAi, Self::Anthropic, Self::Gemini, Self::Azure];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Azure => "azure",
        }
    }

    /// How the key travels upstream for this kind.
    pub fn auth_style(self) -> AuthStyle {
        match self {
            Self::OpenAi => AuthStyle::Bearer,
            Self::Anthropic => AuthStyle::XApiKey,
            Self::Gemini => AuthStyle::GoogApiKey,
            Self::Azure => AuthStyle::AzureApiKey,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider kind {0:?}: expected one of openai, anthropic, gemini, azure")]
pub struct UnknownKind(pub String);

impl FromStr for ProviderKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// The header (or absence of one) that carries a key upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`
    Bearer,
    /// `x-api-key: <key>` plus `anthropic-version`
    XApiKey,
    /// `x-goog-api-key: <key>` (never `?key=` in a URL)
    GoogApiKey,
    /// `api-key: <key>` (Azure OpenAI)
    AzureApiKey,
}

impl AuthStyle {
    pub fn header_name(self) -> &'static str {
        match self {
            Self::Bearer => "authorization",
            Self::XApiKey => "x-api-key",
            Self::GoogApiKey => "x-goog-api-key",
            Self::AzureApiKey => "api-key",
        }
    }
}

/// A built-in provider: what `key add --provider NAME` creates when NAME does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preset {
    pub name: &'static str,
    pub display_name: &'static str,
    pub kind: ProviderKind,
    /// Empty for presets whose URL is per account (Azure resource, custom endpoint).
    pub base_url: &'static str,
    pub docs_url: &'static str,
    /// False for local servers such as Ollama that accept any or no key.
    pub needs_key: bool,
}

impl Preset {
    pub fn auth_style(&self) -> AuthStyle {
        self.kind.auth_style()
    }
}

const fn preset(
    name: &'static str,
    display_name: &'static str,
    kind: ProviderKind,
    base_url: &'static str,
    docs_url: &'static str,
) -> Preset {
    Preset {
        name,
        display_name,
        kind,
        base_url,
        docs_url,
        needs_key: true,
    }
}

use ProviderKind::{Anthropic, Azure, Gemini, OpenAi};

/// Every preset, in the order the UI offers them.
pub const PRESETS: &[Preset] = &[
    preset(
        "openai",
        "OpenAI",
        OpenAi,
        "https://api.openai.com/v1",
        "https://platform.openai.com/docs/api-reference",
    ),
    preset(
        "anthropic",
        "Anthropic",
        Anthropic,
        "https://api.anthropic.com",
        "https://docs.anthropic.com/en/api",
    ),
    preset(
        "gemini",
        "Google Gemini",
        Gemini,
        "https://generativelanguage.googleapis.com/v1beta",
        "https://ai.google.dev/gemini-api/docs",
    ),
    preset(
        "azure",
        "Azure OpenAI",
        Azure,
        "",
        "https://learn.microsoft.com/azure/ai-services/openai/reference",
    ),
    preset(
        "deepseek",
        "DeepSeek",
        OpenAi,
        "https://api.deepseek.com/v1",
        "https://api-docs.deepseek.com",
    ),
    preset(
        "qwen",
        "Qwen (DashScope)",
        OpenAi,
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "https://help.aliyun.com/zh/model-studio/",
    ),
    preset(
        "zhipu",
        "Zhipu GLM",
        OpenAi,
        "https://open.bigmodel.cn/api/paas/v4",
        "https://open.bigmodel.cn/dev/api",
    ),
    preset(
        "moonshot",
        "Moonshot Kimi",
        OpenAi,
        "https://api.moonshot.cn/v1",
        "https://platform.moonshot.cn/docs",
    ),
    preset(
        "qianfan",
        "Baidu Qianfan",
        OpenAi,
        "https://qianfan.baidubce.com/v2",
        "https://cloud.baidu.com/doc/WENXINWORKSHOP/",
    ),
    preset(
        "hunyuan",
        "Tencent Hunyuan",
        OpenAi,
        "https://api.hunyuan.cloud.tencent.com/v1",
        "https://cloud.tencent.com/document/product/1729",
    ),
    preset(
        "openrouter",
        "OpenRouter",
        OpenAi,
        "https://openrouter.ai/api/v1",
        "https://openrouter.ai/docs",
    ),
    preset(
        "groq",
        "Groq",
        OpenAi,
        "https://api.groq.com/openai/v1",
        "https://console.groq.com/docs",
    ),
    preset(
        "mistral",
        "Mistral",
        OpenAi,
        "https://api.mistral.ai/v1",
        "https://docs.mistral.ai/api/",
    ),
    preset(
        "siliconflow",
        "SiliconFlow",
        OpenAi,
        "https://api.siliconflow.cn/v1",
        "https://docs.siliconflow.cn",
    ),
    Preset {
        needs_key: false,
        ..preset(
            "ollama",
            "Ollama (local)",
            OpenAi,
            "http://127.0.0.1:11434/v1",
            "https://github.com/ollama/ollama/blob/main/docs/openai.md",
        )
    },
    preset("custom", "Custom OpenAI-compatible", OpenAi, "", ""),
];

/// Presets whose servers speak chat completions but not OpenAI's Responses API.
const CHAT_ONLY: [&str; 9] = [
    "deepseek",
    "qwen",
    "zhipu",
    "moonshot",
    "qianfan",
    "hunyuan",
    "mistral",
    "siliconflow",
    "ollama",
];

/// Whether a provider answers `/v1/responses` itself. The others get a Responses client's
/// request translated to chat completions (`translate::hub`). A provider that is not a known
/// chat-only preset is trusted to (OpenAI, Azure, OpenRouter, Groq, vLLM, LiteLLM…).
pub fn serves_responses(name: &str, kind: ProviderKind) -> bool {
    match kind {
        ProviderKind::Anthropic | ProviderKind::Gemini => false,
        ProviderKind::Azure => true,
        ProviderKind::OpenAi => !CHAT_ONLY.iter().any(|p| p.eq_ignore_ascii_case(name)),
    }
}

pub fn find_preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Model-name prefixes each preset is known to serve, used to route a bare model name when no
/// route or synced model list says otherwise. Case-insensitive.
const MODEL_PREFIXES: &[(&str, &[&str])] = &[
    (
        "openai",
        &[
            "gpt-",
            "o1",
            "o3",
            "o4",
            "chatgpt-",
            "text-embedding-",
            "davinci",
            "babbage",
            "omni-moderation",
            "codex-",
        ],
    ),
    ("anthropic", &["claude-"]),
    (
        "gemini",
        &["gemini-", "gemma-", "text-embedding-004", "embedding-001"],
    ),
    ("deepseek", &["deepseek-"]),
    ("qwen", &["qwen", "qwq-", "qvq-", "text-embedding-v"]),
    ("zhipu", &["glm-", "embedding-2", "embedding-3", "cogview-"]),
    ("moonshot", &["moonshot-", "kimi-"]),
    ("qianfan", &["ernie-"]),
    ("hunyuan", &["hunyuan-"]),
    (
        "mistral",
        &[
            "mistral-",
            "open-mistral",
            "codestral-",
            "pixtral-",
            "ministral-",
            "magistral-",
            "devstral-",
        ],
    ),
    (
        "groq",
        &[
            "llama-",
            "llama3",
            "gemma2-",
            "mixtral-",
            "whisper-",
            "qwen/",
            "openai/gpt-oss",
            "moonshotai/",
        ],
    ),
];

/// Whether a preset is known to serve `model` (see [`MODEL_PREFIXES`]).
pub fn preset_serves_model(preset: &str, model: &str) -> bool {
    let model = model.to_ascii_lowercase();
    MODEL_PREFIXES
        .iter()
        .find(|(name, _)| *name == preset)
        .is_some_and(|(_, prefixes)| prefixes.iter().any(|p| model.starts_with(p)))
}

/// The name among `candidates` that `typed` most likely meant (a typo of one or two letters,
/// or two swapped: `antrhopic` → `anthropic`), for a "did you mean" hint.
pub fn closest_name<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let typed = typed.to_ascii_lowercase();
    let allowed = (typed.chars().count() / 3).clamp(1, 2);
    candidates
        .into_iter()
        .map(|c| (typo_distance(&typed, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}

/// Edits between two names (insert, delete, substitute, or swap two neighbours), by the
/// optimal string alignment distance.
fn typo_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Provider names are used in URLs (`/p/{provider}/…`) and CLI arguments.
pub fn validate_provider_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid provider name {name:?}: use 1-40 lowercase letters, digits, '-' or '_', starting with a letter"
        ))
    }
}

/// A base URL must be an absolute http(s) URL without credentials or a query string.
pub fn validate_base_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("invalid base URL {url:?}: it must start with http:// or https://")
        })?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("invalid base URL {url:?}: it has no host"));
    }
    if host.contains('@') {
        return Err("invalid base URL: credentials in the URL are not allowed; add the key with `keygate key add`".into());
    }
    if url.contains('?') || url.contains('#') || url.chars().any(char::is_whitespace) {
        return Err(format!(
            "invalid base URL {url:?}: no query string, fragment or spaces"
        ));
    }
    Ok(())
}

/// The provider header holding an Azure provider's `api-version`. Like every `x-keygate-*`
/// header it is configuration, never sent upstream.
pub const API_VERSION_HEADER: &str = "x-keygate-api-version";

/// Headers that would carry a credential: keys belong in the keyring, not in provider config.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "proxy-authorization",
    "cookie",
];

/// An extra header a provider sends upstream (e.g. OpenRouter's `HTTP-Referer`), checked and
/// tidied: the name lower-cased, the value trimmed. Credential headers and KeyGate's own
/// `x-keygate-*` names are refused.
pub fn check_header(name: &str, value: &str) -> Result<(String, String), String> {
    let name = name.trim().to_ascii_lowercase();
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid_name {
        return Err(format!(
            "invalid header name {name:?}: use letters, digits and '-'"
        ));
    }
    if CREDENTIAL_HEADERS.contains(&name.as_str()) {
        return Err(format!(
            "header {name:?} would carry a credential in plain configuration; add the key with `keygate key add` so it lives in the OS keyring"
        ));
    }
    if name.starts_with("x-keygate-") {
        return Err(format!(
            "header {name:?} is KeyGate's own; pick another name"
        ));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("header {name:?} has no value"));
    }
    crate::bounds::check_name(value)
        .map_err(|e| format!("invalid value for header {name:?}: it {e}"))?;
    Ok((name, value.to_string()))
}

/// An Azure `api-version` such as `2024-10-21` or `2025-01-01-preview`.
pub fn check_api_version(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value.starts_with(|c: char| c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid api-version {value:?}: write it as Azure names it, e.g. 2024-10-21"
        ))
    }
}

/// The kind and base URL of a new provider named `name`: the given ones, else its preset's.
pub fn new_provider_parts(
    name: &str,
    kind: Option<&str>,
    base_url: Option<&str>,
) -> Result<(ProviderKind, String), String> {
    validate_provider_name(name)?;
    let preset = find_preset(name);
    let kind = match (kind, preset) {
        (Some(kind), _) => kind.parse::<ProviderKind>().map_err(|e| e.to_string())?,
        (None, Some(preset)) => preset.kind,
        (None, None) => {
            return Err(format!(
                "provider {name:?} is not a preset: give its kind (openai, anthropic, gemini or azure)"
            ));
        }
    };
    let base_url = match (base_url.map(str::trim).filter(|u| !u.is_empty()), preset) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, Some(preset)) if !preset.base_url.is_empty() => preset.base_url.to_string(),
        _ => return Err(format!("provider {name:?} needs a base URL")),
    };
    validate_base_url(&base_url)?;
    Ok((kind, base_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_tidied_and_credentials_refused() {
        assert_eq!(
            check_header(" HTTP-Referer ", " https://me.example "),
            Ok(("http-referer".into(), "https://me.example".into()))
        );
        let refused = check_header("Authorization", "Bearer sk-x").expect_err("credential");
        assert!(refused.contains("keyring"), "{refused}");
        assert!(check_header("x-keygate-api-version", "1").is_err());
        assert!(check_header("bad name", "1").is_err());
        assert!(check_header("x-a", " ").is_err());
    }

    #[test]
    fn a_new_provider_takes_its_presets_parts_unless_given() {
        assert_eq!(
            new_provider_parts("deepseek", None, None),
            Ok((ProviderKind::OpenAi, "https://api.deepseek.com/v1".into()))
        );
        assert_eq!(
            new_provider_parts("mine", Some("anthropic"), Some("https://gw.example/")),
            Ok((ProviderKind::Anthropic, "https://gw.example".into()))
        );
        assert!(
            new_provider_parts("azure", None, None)
                .expect_err("no url")
                .contains("base URL")
        );
        assert!(new_provider_parts("mine", None, Some("https://x.example")).is_err());
        assert!(new_provider_parts("Mine", Some("openai"), Some("https://x.example")).is_err());
        assert!(check_api_version("2024-10-21").is_ok());
        assert!(check_api_version("v1; drop").is_err());
    }

    #[test]
    fn a_typo_of_a_preset_name_finds_the_preset() {
        let names = PRESETS.iter().map(|p| p.name);
        assert_eq!(closest_name("antrhopic", names.clone()), Some("anthropic"));
        assert_eq!(closest_name("OpenAl", names.clone()), Some("openai"));
        assert_eq!(closest_name("deepsek", names.clone()), Some("deepseek"));
        assert_eq!(closest_name("mylab", names.clone()), None);
        assert_eq!(closest_name("x", names), None);
    }

    #[test]
    fn every_required_preset_exists_with_its_kind() {
        let expected = [
            ("openai", OpenAi),
            ("anthropic", Anthropic),
            ("gemini", Gemini),
            ("azure", Azure),
            ("deepseek", OpenAi),
            ("qwen", OpenAi),
            ("zhipu", OpenAi),
            ("moonshot", OpenAi),
            ("qianfan", OpenAi),
            ("hunyuan", OpenAi),
            ("openrouter", OpenAi),
            ("groq", OpenAi),
            ("mistral", OpenAi),
            ("siliconflow", OpenAi),
            ("ollama", OpenAi),
            ("custom", OpenAi),
        ];
        for (name, kind) in expected {
            let preset = find_preset(name).unwrap_or_else(|| panic!("missing preset {name}"));
            assert_eq!(preset.kind, kind, "{name}");
            if !preset.base_url.is_empty() {
                validate_base_url(preset.base_url).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            validate_provider_name(name).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(PRESETS.len(), expected.len());
    }

    #[test]
    fn auth_styles_follow_provider_kind() {
        assert_eq!(OpenAi.auth_style().header_name(), "authorization");
        assert_eq!(Anthropic.auth_style().header_name(), "x-api-key");
        assert_eq!(Gemini.auth_style().header_name(), "x-goog-api-key");
        assert_eq!(Azure.auth_style().header_name(), "api-key");
    }

    #[test]
    fn anthropic_base_url_is_the_root_and_openai_includes_the_version() {
        assert_eq!(
            find_preset("anthropic").map(|p| p.base_url),
            Some("https://api.anthropic.com")
        );
        assert!(find_preset("openai").is_some_and(|p| p.base_url.ends_with("/v1")));
    }

    #[test]
    fn bare_model_names_map_to_the_presets_that_serve_them() {
        assert!(preset_serves_model("openai", "gpt-4o-mini"));
        assert!(preset_serves_model("anthropic", "Claude-sonnet-4-5"));
        assert!(preset_serves_model("deepseek", "deepseek-chat"));
        assert!(!preset_serves_model("openai", "claude-3"));
        assert!(!preset_serves_model("mylab", "gpt-4o"));
    }

    #[test]
    fn kind_parses_case_insensitively_and_rejects_unknown() {
        assert_eq!("OpenAI".parse::<ProviderKind>(), Ok(OpenAi));
        assert!("bedrock".parse::<ProviderKind>().is_err());
    }

    #[test]
    fn base_url_validation_rejects_credentials_and_queries() {
        assert!(validate_base_url("https://api.example.com/v1").is_ok());
        assert!(validate_base_url("ftp://x").is_err());
        assert!(validate_base_url("https://user:pw@host/v1").is_err());
        assert!(validate_base_url("https://host/v1?key=abc").is_err());
        assert!(validate_base_url("https:///v1").is_err());
    }
}
