//! How each tier is spoken to for the endpoint the client called: natively when the tier
//! speaks the client's protocol, else translated through the hub (`keygate_core::translate::
//! hub`: chat completions, Messages and Responses clients on chat-completions or Messages
//! tiers); its URL, headers and body, and what reads its stream on the way back. Shared by
//! the first answer (`exchange`) and a stream's rescue (`rescue`).

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Uri};
use keygate_core::provider::{ProviderKind, serves_responses};
use keygate_core::translate::{
    Protocol, TranslateError, gemini_dropped, responses_dropped, translate_request,
};
use serde_json::Value;

use super::catalog::{LiveKey, LiveProvider};
use super::commit::Opening;
use super::openai_error::ProxyError;
use super::peek::upstream_body;
use super::relay::{Dialect, SseRelay};
use super::shaper::{Shaper, Translator};
use super::upstream::{endpoint_uri, native_headers, request_headers};

/// The protocol and endpoint the client called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// OpenAI `/v1/chat/completions`.
    Chat,
    /// OpenAI `/v1/completions`, `/v1/embeddings`, `/v1/responses`: OpenAI-style tiers only.
    Completions,
    Embeddings,
    Responses,
    /// Anthropic `/v1/messages`.
    Messages,
    /// Anthropic `/v1/messages/count_tokens`: only Anthropic-kind tiers can answer it.
    CountTokens,
    /// Gemini `models/{model}:generateContent` (or `:streamGenerateContent`) on tiers of other
    /// kinds, through the hub; all-Gemini routes are relayed natively by `gemini.rs`.
    Gemini {
        stream: bool,
    },
}

impl Inbound {
    /// The endpoint as the request log names it.
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::Chat => "/chat/completions",
            Self::Completions => "/completions",
            Self::Embeddings => "/embeddings",
            Self::Responses => "/responses",
            Self::Messages => "/messages",
            Self::CountTokens => "/messages/count_tokens",
            Self::Gemini { stream: false } => "/v1beta/models:generateContent",
            Self::Gemini { stream: true } => "/v1beta/models:streamGenerateContent",
        }
    }

    /// The protocol of an endpoint that can be translated; `None` for the native-only ones.
    fn protocol(self) -> Option<Protocol> {
        match self {
            Self::Chat => Some(Protocol::Chat),
            Self::Messages => Some(Protocol::Messages),
            Self::Responses => Some(Protocol::Responses),
            Self::Gemini { .. } => Some(Protocol::Gemini),
            Self::Completions | Self::Embeddings | Self::CountTokens => None,
        }
    }
}

/// How one tier is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leg {
    /// In the client's own protocol.
    Native,
    /// Translated from the client's protocol to the tier's, through the hub.
    Translated { client: Protocol, tier: Protocol },
}

/// The leg and URL for a tier, or `None` when the tier cannot serve this endpoint.
pub(super) fn leg(inbound: Inbound, provider: &LiveProvider, model: &str) -> Option<(Leg, Uri)> {
    let anthropic = provider.kind == ProviderKind::Anthropic;
    let anthropic_url = |path: &str| {
        format!("{}{path}", provider.base_url.trim_end_matches('/'))
            .parse()
            .ok()
    };
    match inbound {
        Inbound::CountTokens if anthropic => {
            Some((Leg::Native, anthropic_url("/v1/messages/count_tokens")?))
        }
        Inbound::CountTokens => None,
        Inbound::Completions | Inbound::Embeddings => Some((
            Leg::Native,
            endpoint_uri(provider, inbound.endpoint(), model)?,
        )),
        Inbound::Responses if serves_responses(&provider.name, provider.kind) => Some((
            Leg::Native,
            endpoint_uri(provider, inbound.endpoint(), model)?,
        )),
        Inbound::Chat | Inbound::Messages | Inbound::Responses | Inbound::Gemini { .. } => {
            let client = inbound.protocol()?;
            let (tier, url) = if anthropic {
                (Protocol::Messages, anthropic_url("/v1/messages")?)
            } else {
                (
                    Protocol::Chat,
                    endpoint_uri(provider, "/chat/completions", model)?,
                )
            };
            let leg = if client == tier {
                Leg::Native
            } else {
                Leg::Translated { client, tier }
            };
            Some((leg, url))
        }
    }
}

/// The client's body and what was made of it, each built once and only when a tier needs it.
pub(super) struct Bodies<'a> {
    pub body: &'a Bytes,
    /// For native legs that change the model or ask for usage.
    parsed: Option<Value>,
    /// The client's request for chat-completions tiers, and for Messages tiers.
    to_chat: Option<Value>,
    to_messages: Option<Value>,
}

impl<'a> Bodies<'a> {
    pub fn new(body: &'a Bytes) -> Self {
        Self {
            body,
            parsed: None,
            to_chat: None,
            to_messages: None,
        }
    }

    pub fn for_tier(
        &mut self,
        leg: Leg,
        model: Option<&str>,
        include_usage: bool,
    ) -> Result<Bytes, ProxyError> {
        let Leg::Translated { client, tier } = leg else {
            return upstream_body(self.body, &mut self.parsed, model, include_usage)
                .map_err(|e| ProxyError::invalid_request("invalid_json", e));
        };
        let slot = match tier {
            Protocol::Messages => &mut self.to_messages,
            _ => &mut self.to_chat,
        };
        if slot.is_none() {
            let request: Value = serde_json::from_slice(self.body)
                .map_err(|e| ProxyError::invalid_request("invalid_json", e.to_string()))?;
            let dropped = match client {
                Protocol::Responses => responses_dropped(&request),
                Protocol::Gemini => gemini_dropped(&request),
                _ => Vec::new(),
            };
            if !dropped.is_empty() {
                tracing::debug!(
                    dropped = %dropped.join(", "),
                    "tools with no chat completions equivalent are left out of a translated request"
                );
            }
            let translated = translate_request(client, tier, &request)
                .map_err(|e| untranslatable_request(client, tier, &e))?;
            *slot = Some(translated);
        }
        let Some(Value::Object(object)) = slot.as_ref() else {
            return Err(ProxyError::invalid_request(
                "invalid_request",
                "the request body must be a JSON object",
            ));
        };
        let mut object = object.clone();
        if let Some(model) = model {
            object.insert("model".into(), Value::String(model.to_string()));
        }
        serde_json::to_vec(&object)
            .map(Bytes::from)
            .map_err(|e| ProxyError::invalid_request("invalid_request", e.to_string()))
    }
}

fn untranslatable_request(client: Protocol, tier: Protocol, error: &TranslateError) -> ProxyError {
    ProxyError::invalid_request(
        "untranslatable_request",
        format!(
            "the request cannot be translated from {} to {} for the provider that serves this model: {error}",
            client.name(),
            tier.name()
        ),
    )
}

/// The headers for an upstream request on `leg` to `provider` with `key`.
pub(super) fn leg_headers(
    leg: Leg,
    client: &HeaderMap,
    provider: &LiveProvider,
    key: &LiveKey,
) -> HeaderMap {
    let mut headers = if provider.kind == ProviderKind::Anthropic {
        native_headers(client, provider, key)
    } else {
        request_headers(client, provider, key)
    };
    if leg != Leg::Native {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    headers
}

impl Leg {
    /// The protocol the tier streams in, which decides what only opens its stream.
    pub fn opening(self, inbound: Inbound) -> Opening {
        match self {
            Self::Native => match inbound {
                Inbound::Responses => Opening::Responses,
                Inbound::Messages => Opening::Messages,
                _ => Opening::Chat,
            },
            Self::Translated {
                tier: Protocol::Messages,
                ..
            } => Opening::Messages,
            Self::Translated { .. } => Opening::Chat,
        }
    }

    /// The client's protocol, when this leg translates.
    pub fn client(self) -> Option<Protocol> {
        match self {
            Self::Native => None,
            Self::Translated { client, .. } => Some(client),
        }
    }

    /// What reads the tier's stream and gives the client its own protocol. `model` is the
    /// name the client asked for, which translated events report.
    pub fn shaper(self, inbound: Inbound, model: &str, strip_usage: bool) -> Shaper {
        match (self, inbound) {
            (Self::Native, Inbound::Chat | Inbound::Completions | Inbound::Embeddings) => {
                Shaper::Native(SseRelay::new(strip_usage, Dialect::Chat))
            }
            (Self::Native, Inbound::Responses) => {
                Shaper::Native(SseRelay::new(false, Dialect::Responses))
            }
            (Self::Native, _) => Shaper::Native(SseRelay::new(false, Dialect::Messages)),
            (Self::Translated { client, tier }, _) => {
                Shaper::Translated(Box::new(Translator::new(tier, client, model, strip_usage)))
            }
        }
    }
}
