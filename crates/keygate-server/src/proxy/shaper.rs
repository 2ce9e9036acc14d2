//! What reads an upstream stream and gives the client its own protocol, one complete event at
//! a time: the tier's own SSE passed on (`SseRelay`: usage read, the injected usage chunk
//! removed), or translated through `keygate_core::translate`. The stream relay (`stream`)
//! drives either the same way; when a stream ends early or cannot be translated, the client
//! gets what was made of it so far and an error event of its own protocol — never a silent
//! truncation.

use axum::body::Bytes;
use keygate_core::translate::{
    ChatStreamToMessages, MessagesStreamToChat, StreamUsage, TranslateError,
    anthropic_sse_error_event,
};

use super::relay::{Dialect, SseRelay, Usage, broken_stream_event};

/// One upstream stream on its way to the client.
pub enum Shaper {
    /// In the client's own protocol.
    Native(SseRelay),
    /// Translated to the client's protocol.
    Translated(Box<Translator>),
}

impl Shaper {
    /// Takes bytes from upstream; returns the client's bytes to send now (whole events).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Bytes, TranslateError> {
        match self {
            Self::Native(relay) => Ok(relay.push(bytes)),
            Self::Translated(t) => t.push(bytes),
        }
    }

    /// The rest when the upstream ended.
    pub fn finish(&mut self) -> Result<Bytes, TranslateError> {
        match self {
            Self::Native(relay) => Ok(relay.finish()),
            Self::Translated(t) => t.finish(),
        }
    }

    /// Whether the stream reached its terminal event.
    pub fn completed(&self) -> bool {
        match self {
            Self::Native(relay) => relay.done,
            Self::Translated(t) => t.completed(),
        }
    }

    /// The upstream sent an error event of its own, which the client already has.
    pub fn upstream_error(&self) -> bool {
        matches!(self, Self::Native(relay) if relay.upstream_error)
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
        }
    }

    /// The protocol the client gets.
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Native(relay) => relay.dialect(),
            Self::Translated(t) if matches!(**t, Translator::ToMessages(_)) => Dialect::Messages,
            Self::Translated(_) => Dialect::Chat,
        }
    }

    /// What was made of the stream but not sent yet, then an error event in the client's
    /// protocol.
    pub fn failed(&mut self, error_type: &str, message: &str) -> Bytes {
        match self {
            Self::Native(relay) => broken_stream_event(relay.dialect(), message),
            Self::Translated(t) => t.failed(error_type, message),
        }
    }
}

/// Which way a stream is translated.
pub enum Translator {
    /// An OpenAI-style chat stream for an Anthropic Messages client.
    ToMessages(ChatStreamToMessages),
    /// An Anthropic stream for a chat client; `filter` removes the usage chunk the client did
    /// not ask for, as the untranslated chat relay does.
    ToChat {
        stream: MessagesStreamToChat,
        filter: SseRelay,
    },
}

impl Translator {
    /// `model` is the name the client asked for, which its events report.
    pub fn to_messages(model: &str) -> Self {
        Self::ToMessages(ChatStreamToMessages::new(model))
    }

    pub fn to_chat(model: &str, strip_usage_chunk: bool) -> Self {
        Self::ToChat {
            stream: MessagesStreamToChat::with_created(model, chrono::Utc::now().timestamp()),
            filter: SseRelay::new(strip_usage_chunk, Dialect::Chat),
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<Bytes, TranslateError> {
        match self {
            Self::ToMessages(t) => t.push(bytes).map(Bytes::from),
            Self::ToChat { stream, filter } => Ok(filter.push(&stream.push(bytes)?)),
        }
    }

    fn finish(&mut self) -> Result<Bytes, TranslateError> {
        match self {
            Self::ToMessages(t) => t.finish().map(Bytes::from),
            Self::ToChat { stream, filter } => {
                let mut out = filter.push(&stream.finish()?).to_vec();
                out.extend_from_slice(&filter.finish());
                Ok(Bytes::from(out))
            }
        }
    }

    /// What was translated before a failure, then an error event in the client's protocol.
    fn failed(&mut self, error_type: &str, message: &str) -> Bytes {
        let mut out = match self {
            Self::ToMessages(t) => t.take_output(),
            Self::ToChat { stream, filter } => filter.push(&stream.take_output()).to_vec(),
        };
        match self {
            Self::ToMessages(_) => out.extend(anthropic_sse_error_event(error_type, message)),
            Self::ToChat { .. } => {
                out.extend_from_slice(&broken_stream_event(Dialect::Chat, message))
            }
        }
        Bytes::from(out)
    }

    fn usage(&self) -> StreamUsage {
        match self {
            Self::ToMessages(t) => t.usage(),
            Self::ToChat { stream, .. } => stream.usage(),
        }
    }

    fn completed(&self) -> bool {
        match self {
            Self::ToMessages(t) => t.completed(),
            Self::ToChat { stream, .. } => stream.completed(),
        }
    }
}
