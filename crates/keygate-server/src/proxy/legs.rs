//! How each tier is spoken to for the endpoint the client called: natively when the tier's
//! protocol is the client's, else translated (Messages ↔ chat completions); its URL, headers
//! and body, and what reads its stream on the way back. Shared by the first answer
//! (`exchange`) and a stream's rescue (`rescue`).

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Uri};
use keygate_core::provider::ProviderKind;
use keygate_core::translate::{TranslateError, chat_request_to_messages, messages_request_to_chat};
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
        }
    }
}

/// How one tier is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leg {
    /// In the client's own protocol.
    Native,
    /// A Messages request translated to chat completions.
    ToChat,
    /// A chat request translated to Messages.
    ToMessages,
}

/// The leg and URL for a tier, or `None` when the tier cannot serve this endpoint.
pub(super) fn leg(inbound: Inbound, provider: &LiveProvider, model: &str) -> Option<(Leg, Uri)> {
    let anthropic = provider.kind == ProviderKind::Anthropic;
    let anthropic_url = |path: &str| {
        format!("{}{path}", provider.base_url.trim_end_matches('/'))
            .parse()
            .ok()
    };
    match (inbound, anthropic) {
        (Inbound::Messages, true) => Some((Leg::Native, anthropic_url("/v1/messages")?)),
        (Inbound::CountTokens, true) => {
            Some((Leg::Native, anthropic_url("/v1/messages/count_tokens")?))
        }
        (Inbound::CountTokens, false) => None,
        (Inbound::Messages, false) => Some((
            Leg::ToChat,
            endpoint_uri(provider, "/chat/completions", model)?,
        )),
        (Inbound::Chat, true) => Some((Leg::ToMessages, anthropic_url("/v1/messages")?)),
        (Inbound::Chat, false) => Some((
            Leg::Native,
            endpoint_uri(provider, "/chat/completions", model)?,
        )),
        (Inbound::Completions | Inbound::Embeddings | Inbound::Responses, _) => Some((
            Leg::Native,
            endpoint_uri(provider, inbound.endpoint(), model)?,
        )),
    }
}

/// The client's body and what was made of it, each built once and only when a tier needs it.
pub(super) struct Bodies<'a> {
    pub body: &'a Bytes,
    /// For native legs that change the model or ask for usage.
    pub parsed: Option<Value>,
    /// The client's request in the other protocol.
    pub translated: Option<Value>,
}

impl Bodies<'_> {
    pub fn for_tier(
        &mut self,
        leg: Leg,
        model: Option<&str>,
        include_usage: bool,
    ) -> Result<Bytes, ProxyError> {
        if leg == Leg::Native {
            return upstream_body(self.body, &mut self.parsed, model, include_usage)
                .map_err(|e| ProxyError::invalid_request("invalid_json", e));
        }
        if self.translated.is_none() {
            let client: Value = serde_json::from_slice(self.body)
                .map_err(|e| ProxyError::invalid_request("invalid_json", e.to_string()))?;
            let translated = match leg {
                Leg::ToChat => messages_request_to_chat(&client),
                _ => chat_request_to_messages(&client),
            }
            .map_err(|e| untranslatable_request(leg, &e))?;
            self.translated = Some(translated);
        }
        let Some(Value::Object(object)) = self.translated.as_ref() else {
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

fn untranslatable_request(leg: Leg, error: &TranslateError) -> ProxyError {
    let (from, to) = match leg {
        Leg::ToChat => ("Anthropic Messages", "OpenAI chat completions"),
        _ => ("OpenAI chat completions", "Anthropic Messages"),
    };
    ProxyError::invalid_request(
        "untranslatable_request",
        format!(
            "the request cannot be translated from {from} to {to} for the provider that serves this model: {error}"
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
        match (self, inbound) {
            (Self::Native, Inbound::Responses) => Opening::Responses,
            (Self::Native, Inbound::Messages) | (Self::ToMessages, _) => Opening::Messages,
            _ => Opening::Chat,
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
            (Self::ToChat, _) => Shaper::Translated(Box::new(Translator::to_messages(model))),
            (Self::ToMessages, _) => {
                Shaper::Translated(Box::new(Translator::to_chat(model, strip_usage)))
            }
        }
    }
}
