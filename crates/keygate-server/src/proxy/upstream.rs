//! Building the upstream request for a provider and key: URL and auth by provider kind,
//! a short whitelist of client headers, and nothing of the client's own credentials.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use keygate_core::provider::{AuthStyle, ProviderKind};

use super::catalog::{LiveKey, LiveProvider};

/// The Azure OpenAI API version used when the provider's config does not name one.
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// Client headers worth passing on. Everything else (cookies, the client's auth, hop-by-hop
/// headers, `accept-encoding` — KeyGate reads the bytes) stays behind.
const FORWARDED: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::USER_AGENT,
    HeaderName::from_static("openai-beta"),
];

/// Upstream headers passed back to the client.
const RETURNED: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CACHE_CONTROL,
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("openai-processing-ms"),
    HeaderName::from_static("openai-version"),
    HeaderName::from_static("request-id"),
];

/// The `user-agent` KeyGate sends when the client named none.
pub const USER_AGENT: &str = concat!("KeyGate/", env!("CARGO_PKG_VERSION"));

/// How long an idle upstream connection is kept for reuse.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The reqwest client for probes, model lists and requests through a system proxy.
pub fn client(connect_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    client_with_tls(connect_timeout, tls_config())
}

/// [`client`] over an already built TLS configuration (the roots are loaded once per engine,
/// shared with the proxy's own client).
pub fn client_with_tls(
    connect_timeout: Duration,
    mut tls: rustls::ClientConfig,
) -> reqwest::Result<reqwest::Client> {
    // reqwest leaves ALPN to a preconfigured TLS setup; offer HTTP/2 as it would itself.
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .build()
}

/// rustls with the bundled web PKI roots plus the system's (no ALPN set: each client adds
/// its own).
pub fn tls_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, as reqwest does.
        let _ = roots.add(cert);
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| rustls::ClientConfig::builder())
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The OpenAI-style endpoints KeyGate serves.
pub const OPENAI_ENDPOINTS: [&str; 5] = [
    "/chat/completions",
    "/completions",
    "/embeddings",
    "/responses",
    "/models",
];

/// The URL of an OpenAI-style endpoint (`suffix` like `/chat/completions`) on a provider, or
/// `None` when the provider does not speak that protocol. For reqwest (probes, model lists).
pub fn endpoint_url(provider: &LiveProvider, suffix: &str, model: &str) -> Option<reqwest::Url> {
    endpoint_text(provider, suffix, model).and_then(|text| reqwest::Url::parse(&text).ok())
}

/// [`endpoint_url`] for the proxy's own client: parsed once per catalog when the URL does not
/// name the model.
/// A client's query string as it may go upstream: without `key=` (a Gemini-style key in the
/// URL: KeyGate never forwards the caller's); `None` when nothing is left.
pub fn forwarded_query(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("key="))
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// `uri` with `query` added to its own.
pub fn with_query(uri: &Uri, query: &str) -> Option<Uri> {
    let text = uri.to_string();
    let joiner = if uri.query().is_some() { '&' } else { '?' };
    format!("{text}{joiner}{query}").parse().ok()
}

pub fn endpoint_uri(provider: &LiveProvider, suffix: &str, model: &str) -> Option<Uri> {
    if let Some(uri) = provider.endpoints.get(suffix) {
        return Some(uri.clone());
    }
    endpoint_text(provider, suffix, model).and_then(|text| text.parse().ok())
}

/// The parsed endpoints of a provider whose URLs do not name the model (all kinds but Azure).
pub fn model_free_endpoints(provider: &LiveProvider) -> HashMap<&'static str, Uri> {
    if matches!(provider.kind, ProviderKind::Azure | ProviderKind::Anthropic) {
        return HashMap::new();
    }
    OPENAI_ENDPOINTS
        .into_iter()
        .filter_map(|suffix| Some((suffix, endpoint_text(provider, suffix, "")?.parse().ok()?)))
        .collect()
}

fn endpoint_text(provider: &LiveProvider, suffix: &str, model: &str) -> Option<String> {
    let base = provider.base_url.trim_end_matches('/');
    match provider.kind {
        ProviderKind::OpenAi => Some(format!("{base}{suffix}")),
        // Gemini's OpenAI-compatible surface has no Responses API.
        ProviderKind::Gemini if suffix == "/responses" => None,
        ProviderKind::Gemini => Some(format!("{base}/openai{suffix}")),
        ProviderKind::Azure => {
            let version = azure_api_version(provider);
            if suffix == "/responses" {
                // Azure's Responses API is the resource's v1 surface; the deployment name
                // goes in `model`.
                return Some(format!("{base}/openai/v1/responses"));
            }
            Some(format!(
                "{base}/openai/deployments/{model}{suffix}?api-version={version}"
            ))
        }
        ProviderKind::Anthropic => None,
    }
}

/// The `api-version` for an Azure provider: its configured one, else [`AZURE_API_VERSION`].
pub fn azure_api_version(provider: &LiveProvider) -> &str {
    provider
        .headers
        .get("x-keygate-api-version")
        .map_or(AZURE_API_VERSION, String::as_str)
}

/// The headers for an upstream request: whitelisted client headers, the provider's own extra
/// headers, and the key in the provider's auth style.
pub fn request_headers(
    client_headers: &HeaderMap,
    provider: &LiveProvider,
    key: &LiveKey,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in &FORWARDED {
        if let Some(value) = client_headers.get(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &provider.headers {
        if name.starts_with("x-keygate-") {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    let auth = provider.kind.auth_style();
    let value = match provider.kind {
        ProviderKind::OpenAi | ProviderKind::Gemini => format!("Bearer {}", key.secret.expose()),
        ProviderKind::Azure | ProviderKind::Anthropic => key.secret.expose().clone(),
    };
    let name = match provider.kind {
        // Gemini's OpenAI-compatible endpoint takes a Bearer token.
        ProviderKind::Gemini => header::AUTHORIZATION,
        // The common case without parsing the name at run time.
        _ if auth == AuthStyle::Bearer => header::AUTHORIZATION,
        _ => HeaderName::from_static(auth.header_name()),
    };
    if let Ok(mut value) = HeaderValue::from_str(&value) {
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    headers
}

/// Headers for a request to a provider's own API (`/p/…`): like [`request_headers`], but with
/// the key in the provider's native style (Gemini's `x-goog-api-key`, Anthropic's `x-api-key`
/// with `anthropic-version`), and Anthropic's version and beta headers passed on.
pub fn native_headers(
    client_headers: &HeaderMap,
    provider: &LiveProvider,
    key: &LiveKey,
) -> HeaderMap {
    let mut headers = request_headers(client_headers, provider, key);
    match provider.kind {
        ProviderKind::Gemini => {
            headers.remove("authorization");
            if let Ok(mut value) = HeaderValue::from_str(key.secret.expose()) {
                value.set_sensitive(true);
                headers.insert("x-goog-api-key", value);
            }
        }
        ProviderKind::Anthropic => {
            for name in ["anthropic-version", "anthropic-beta"] {
                if let Some(value) = client_headers.get(name) {
                    headers.insert(HeaderName::from_static(name), value.clone());
                }
            }
            if !headers.contains_key("anthropic-version") {
                headers.insert(
                    "anthropic-version",
                    HeaderValue::from_static(ANTHROPIC_VERSION),
                );
            }
        }
        ProviderKind::OpenAi | ProviderKind::Azure => {}
    }
    headers
}

/// The Anthropic API version sent when the client names none.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The upstream response headers the client may see.
pub fn response_headers(upstream: &reqwest::header::HeaderMap) -> HeaderMap {
    // Room for KeyGate's own headers and hyper's too: growing the map costs more than
    // filling it.
    let mut headers = HeaderMap::with_capacity(16);
    for name in &RETURNED {
        if let Some(value) = upstream.get(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in upstream {
        if name.as_str().starts_with("x-ratelimit-")
            || name.as_str().starts_with("anthropic-ratelimit-")
        {
            headers.insert(name.clone(), value.clone());
        }
    }
    headers
}
