//! What reads an upstream body and gives the client its own protocol: the tier's own SSE
//! passed on one complete event at a time (`SseRelay`: usage read, the injected usage chunk
//! removed), SSE translated through `keygate_core::translate`, or a `/p/` pass-through body's
//! raw bytes ([`Raw`]). The relay (`stream`) drives each the same way; when an SSE stream
//! ends early or cannot be translated, the client gets what was made of it so far and an
//! error event of its own protocol — never a silent truncation. A raw body has no
//! protocol-neutral error event: its connection is cut.

use axum::body::Bytes;
use keygate_core::translate::{
    Protocol, StreamTranslator, StreamUsage, TranslateError, anthropic_sse_error_event,
};

use super::gemini::gemini_sse_error_event;
use super::redacted::ChunkScrubber;
use serde_json::Value;

use super::relay::{
    AnthropicUsage, Dialect, SseRelay, Usage, broken_stream_event, data_of, event_end,
};

/// One upstream body on its way to the client.
pub enum Shaper {
    /// In the client's own protocol.
    Native(SseRelay),
    /// Translated to the client's protocol.
    Translated(Box<Translator>),
    /// A pass-through answer, bytes as they arrive.
    Raw(Raw),
}

/// The most of a raw JSON answer kept for the writer to read its usage from.
const USAGE_CAPTURE_LIMIT: usize = 1024 * 1024;

/// A pass-through body: relayed as it arrives; scrubbed of the provider's secrets from the
/// first chunk that mentions an error on; the first MiB of a JSON answer kept for the writer,
/// which reads its usage off the request path; an SSE body's usage read as it goes by.
#[derive(Default)]
pub struct Raw {
    pub scrubber: ChunkScrubber,
    /// `None` for a body that is not JSON, or grew past the limit.
    captured: Option<Vec<u8>>,
    /// For an SSE body.
    sniffer: Option<UsageSniffer>,
}

/// What a pass-through body is, by its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    Json,
    Sse,
    Other,
}

impl RawKind {
    pub fn of(content_type: &str) -> Self {
        if content_type.starts_with("application/json") {
            Self::Json
        } else if content_type.starts_with("text/event-stream") {
            Self::Sse
        } else {
            Self::Other
        }
    }
}

/// Usage read from an SSE body in any provider's shape, without holding the stream back: a
/// copy of the current event is kept until it is complete, and only events that mention
/// usage are parsed. OpenAI chat chunks' `usage`, the Responses API's `response.usage`,
/// Anthropic's `message_start`/`message_delta`, Gemini's `usageMetadata` (the latest wins).
#[derive(Default)]
struct UsageSniffer {
    pending: Vec<u8>,
    anthropic: Option<AnthropicUsage>,
    usage: Option<Usage>,
}

/// An SSE event longer than this is not read for usage.
const MAX_SNIFFED_EVENT: usize = 1024 * 1024;

impl UsageSniffer {
    fn push(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
        let mut seen = 0;
        while let Some(end) = event_end(&self.pending[seen..]) {
            let event = &self.pending[seen..seen + end];
            seen += end;
            if memchr::memmem::find(event, b"usage").is_some() {
                let json = data_of(event).and_then(|d| serde_json::from_str::<Value>(&d).ok());
                if let Some(json) = json {
                    self.read(&json);
                }
            }
        }
        self.pending.drain(..seen);
        if self.pending.len() > MAX_SNIFFED_EVENT {
            self.pending.clear();
        }
    }

    fn read(&mut self, json: &Value) {
        let anthropic = match json["type"].as_str() {
            Some("message_start") => Some(&json["message"]["usage"]),
            Some("message_delta") => Some(&json["usage"]),
            _ => None,
        };
        if let Some(usage) = anthropic.filter(|u| u.is_object()) {
            let sum = self.anthropic.unwrap_or_default().update(usage);
            self.anthropic = Some(sum);
            self.usage = Some(sum.usage());
            return;
        }
        let found = Usage::from_json(&json["response"]["usage"])
            .or_else(|| Usage::from_json(&json["usage"]))
            .or_else(|| Usage::from_metadata(&json["usageMetadata"]));
        if found.is_some() {
            self.usage = found;
        }
    }
}

impl Shaper {
    /// Whether the client gets server-sent events (where a comment line may be added).
    pub fn sends_events(&self) -> bool {
        match self {
            Self::Native(_) | Self::Translated(_) => true,
            Self::Raw(raw) => raw.events(),
        }
    }
}

impl Raw {
    pub fn new(kind: RawKind) -> Self {
        Self {
            scrubber: ChunkScrubber::default(),
            captured: (kind == RawKind::Json).then(Vec::new),
            sniffer: (kind == RawKind::Sse).then(UsageSniffer::default),
        }
    }

    /// Whether the body is a whole JSON answer (which may pause as long as the idle timeout).
    pub fn json(&self) -> bool {
        self.captured.is_some()
    }

    /// Whether the body is a server-sent-event stream.
    pub fn events(&self) -> bool {
        self.sniffer.is_some()
    }

    fn keep(&mut self, chunk: &[u8]) {
        if let Some(sniffer) = self.sniffer.as_mut() {
            sniffer.push(chunk);
        }
        if let Some(captured) = self.captured.as_mut() {
            if captured.len() + chunk.len() <= USAGE_CAPTURE_LIMIT {
                captured.extend_from_slice(chunk);
            } else {
                self.captured = None;
            }
        }
    }
}

impl Shaper {
    /// Takes bytes from upstream; returns the client's bytes to send now (whole events).
    pub fn push(&mut self, bytes: Bytes) -> Result<Bytes, TranslateError> {
        match self {
            Self::Native(relay) => Ok(relay.push(&bytes)),
            Self::Translated(t) => t.push(&bytes),
            Self::Raw(raw) => {
                raw.keep(&bytes);
                Ok(bytes)
            }
        }
    }

    /// The rest when the upstream ended.
    pub fn finish(&mut self) -> Result<Bytes, TranslateError> {
        match self {
            Self::Native(relay) => Ok(relay.finish()),
            Self::Translated(t) => t.finish(),
            Self::Raw(_) => Ok(Bytes::new()),
        }
    }

    /// Whether the stream reached its terminal event; a raw body is whole when it ends.
    pub fn completed(&self) -> bool {
        match self {
            Self::Native(relay) => relay.done,
            Self::Translated(t) => t.completed(),
            Self::Raw(_) => true,
        }
    }

    /// Whether the client has been given its stream's terminal event (`[DONE]`,
    /// `response.completed`, `message_stop`, a Gemini finish): the answer is whole even if the
    /// client hangs up now. Never for a raw body, which is whole only when it ends.
    pub fn terminal_sent(&self) -> bool {
        match self {
            Self::Native(relay) => relay.done,
            Self::Translated(t) => t.completed(),
            Self::Raw(_) => false,
        }
    }

    /// A raw JSON answer as received, for the writer to read its usage from.
    pub fn captured(&mut self) -> Option<Bytes> {
        match self {
            Self::Raw(raw) => raw.captured.take().map(Bytes::from),
            _ => None,
        }
    }

    /// The text of the upstream's own error event, held back from the client.
    pub fn upstream_error(&self) -> Option<String> {
        let Self::Native(relay) = self else {
            return None;
        };
        let event = relay.upstream_error.as_ref()?;
        let json: serde_json::Value = serde_json::from_str(&data_of(event)?).ok()?;
        let message = json.pointer("/error/message").and_then(|m| m.as_str());
        Some(message.unwrap_or("an error event").to_string())
    }

    /// The usage the upstream reported so far.
    pub fn usage(&self) -> Option<Usage> {
        match self {
            Self::Native(relay) => relay.usage,
            Self::Translated(t) => {
                let usage = t.usage();
                (usage != StreamUsage::default()).then(|| Usage {
                    prompt_tokens: usage.prompt_tokens(),
                    completion_tokens: usage.output_tokens,
                    cached_tokens: usage.cached_input_tokens,
                })
            }
            Self::Raw(raw) => raw.sniffer.as_ref().and_then(|s| s.usage),
        }
    }

    /// The SSE protocol the client gets; `None` for a raw body.
    pub fn dialect(&self) -> Option<Dialect> {
        match self {
            Self::Native(relay) => Some(relay.dialect()),
            Self::Translated(t) => t.dialect(),
            Self::Raw(_) => None,
        }
    }

    /// What was made of the stream but not sent yet, then an error event in the client's
    /// protocol; `None` for a raw body, which has none.
    pub fn failed(&mut self, error_type: &str, message: &str) -> Option<Bytes> {
        match self {
            // The upstream's own error event, when it sent one, ends the stream as it was.
            Self::Native(relay) => Some(
                relay
                    .upstream_error
                    .take()
                    .unwrap_or_else(|| broken_stream_event(relay.dialect(), message)),
            ),
            Self::Translated(t) => Some(t.failed(error_type, message)),
            Self::Raw(_) => None,
        }
    }
}

/// A stream translated, through the hub, from the tier's protocol into the client's.
pub struct Translator {
    stream: StreamTranslator,
    /// For a chat client: removes the usage chunk it did not ask for, as the untranslated
    /// chat relay does.
    filter: Option<SseRelay>,
    client: Protocol,
}

impl Translator {
    /// `model` is the name the client asked for, which its events report.
    pub fn new(tier: Protocol, client: Protocol, model: &str, strip_usage_chunk: bool) -> Self {
        let now = chrono::Utc::now().timestamp();
        let filter =
            (client == Protocol::Chat).then(|| SseRelay::new(strip_usage_chunk, Dialect::Chat));
        Self {
            stream: StreamTranslator::new(tier, client, model, now),
            filter,
            client,
        }
    }

    /// The client's SSE protocol where a rescue can splice into it; `None` for Gemini.
    fn dialect(&self) -> Option<Dialect> {
        match self.client {
            Protocol::Chat => Some(Dialect::Chat),
            Protocol::Messages => Some(Dialect::Messages),
            Protocol::Responses => Some(Dialect::Responses),
            Protocol::Gemini => None,
        }
    }

    fn filtered(&mut self, bytes: Vec<u8>) -> Bytes {
        match &mut self.filter {
            Some(filter) => filter.push(&bytes),
            None => Bytes::from(bytes),
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<Bytes, TranslateError> {
        let out = self.stream.push(bytes)?;
        Ok(self.filtered(out))
    }

    fn finish(&mut self) -> Result<Bytes, TranslateError> {
        let out = self.stream.finish()?;
        let mut out = self.filtered(out).to_vec();
        if let Some(filter) = &mut self.filter {
            out.extend_from_slice(&filter.finish());
        }
        Ok(Bytes::from(out))
    }

    /// What was translated before a failure, then an error event in the client's protocol.
    fn failed(&mut self, error_type: &str, message: &str) -> Bytes {
        let before = self.stream.take_output();
        let mut out = self.filtered(before).to_vec();
        match self.dialect() {
            Some(Dialect::Messages) => out.extend(anthropic_sse_error_event(error_type, message)),
            Some(dialect) => out.extend_from_slice(&broken_stream_event(dialect, message)),
            None => out.extend_from_slice(&gemini_sse_error_event(message)),
        }
        Bytes::from(out)
    }

    fn usage(&self) -> StreamUsage {
        self.stream.usage()
    }

    fn completed(&self) -> bool {
        self.stream.completed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_of(body: &str, pieces: usize) -> Option<Usage> {
        let mut raw = Raw::new(RawKind::Sse);
        let bytes = body.as_bytes();
        let step = bytes.len().div_ceil(pieces);
        for chunk in bytes.chunks(step) {
            raw.keep(chunk);
        }
        Shaper::Raw(raw).usage()
    }

    #[test]
    fn a_raw_streams_usage_is_read_in_every_shape_however_it_is_split() {
        let gemini = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\r\n\r\ndata: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":11,\"candidatesTokenCount\":3,\"cachedContentTokenCount\":2}}\r\n\r\n";
        let chat = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":2}}}\n\ndata: [DONE]\n\n";
        let responses = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":11,\"output_tokens\":3,\"input_tokens_details\":{\"cached_tokens\":2}}}}\n\n";
        let want = Some(Usage {
            prompt_tokens: 11,
            completion_tokens: 3,
            cached_tokens: 2,
        });
        for body in [gemini, chat, responses] {
            for pieces in [1, 3, 17] {
                assert_eq!(usage_of(body, pieces), want, "{body} in {pieces}");
            }
        }
        let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1,\"cache_read_input_tokens\":2}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3}}\n\n";
        assert_eq!(usage_of(anthropic, 5), want);
        assert_eq!(usage_of("data: {\"text\":\"no usage here\"}\n\n", 2), None);
    }
}
