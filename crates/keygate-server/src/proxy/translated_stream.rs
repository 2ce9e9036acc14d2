//! A streamed answer translated on its way to the client: upstream SSE bytes go through
//! `keygate_core::translate` and the client's protocol goes out as soon as each event is
//! complete. When the stream ends, breaks, or cannot be translated, the attempt is settled
//! like any stream (a break counts against the key) and the client gets what was translated
//! so far followed by an error event of its own protocol — never a silent truncation.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use keygate_core::failure::UpstreamOutcome;
use keygate_core::translate::{
    ChatStreamToMessages, MessagesStreamToChat, StreamUsage, TranslateError,
    anthropic_sse_error_event,
};

use super::answer::answer;
use super::catalog::{LiveKey, LiveProvider};
use super::commit::Opened;
use super::ledger::Ledger;
use super::relay::{Dialect, SseRelay, Usage, broken_stream_event};
use super::stream::StreamAttempt;
use super::upstream::response_headers;
use super::upstream_client::BodyError;
use crate::AppState;

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

struct Relay {
    attempt: StreamAttempt,
    upstream: BoxStream<'static, Result<Bytes, BodyError>>,
    translator: Translator,
}

impl Relay {
    fn settle(&mut self, outcome: &UpstreamOutcome, error: Option<String>) {
        let usage = self.translator.usage();
        let usage = (usage != StreamUsage::default()).then(|| Usage {
            prompt_tokens: usage.prompt_tokens(),
            completion_tokens: usage.output_tokens,
            cached_tokens: usage.cached_input_tokens,
        });
        self.attempt.settle(outcome, error, usage);
    }

    /// Ends the stream as broken: the attempt counts against the key, the client gets an
    /// error event after what was translated. An upstream's own error keeps its type and
    /// (scrubbed) message.
    fn break_off(&mut self, error: Option<TranslateError>, what: &str) -> Bytes {
        let (error_type, detail) = match &error {
            Some(TranslateError::Upstream {
                error_type,
                message,
            }) => (
                error_type.clone(),
                self.attempt.key.redactor.scrub_for_storage(message),
            ),
            Some(other) => (
                "api_error".to_string(),
                self.attempt
                    .key
                    .redactor
                    .scrub_for_storage(&other.to_string()),
            ),
            None => ("api_error".to_string(), what.to_string()),
        };
        self.settle(&UpstreamOutcome::StreamBroken, Some(detail.clone()));
        let message = format!(
            "the upstream stream from provider {:?} (key {:?}) {what}: {detail}",
            self.attempt.provider.name, self.attempt.key.label
        );
        self.translator.failed(&error_type, &message)
    }
}

pub fn translated_stream(
    state: AppState,
    provider: Arc<LiveProvider>,
    key: Arc<LiveKey>,
    upstream: Opened,
    translator: Translator,
    started: Instant,
    ledger: Ledger,
) -> Response {
    let attempt_no = ledger.row.attempts.len();
    let status = upstream.status;
    let headers = response_headers(&upstream.headers);
    let idle = state.proxy().settings.stream_stall;
    let relay = Relay {
        attempt: StreamAttempt::new(state, &provider, &key, started, ledger),
        upstream: upstream.body(),
        translator,
    };
    let body = futures_util::stream::unfold(relay, move |mut r| async move {
        if r.attempt.settled() {
            return None;
        }
        loop {
            let out = match tokio::time::timeout(idle, r.upstream.next()).await {
                Ok(Some(Ok(chunk))) => match r.translator.push(&chunk) {
                    Ok(out) if out.is_empty() => continue,
                    Ok(out) => out,
                    Err(e) => r.break_off(Some(e), "could not be translated"),
                },
                Ok(None) => match r.translator.finish() {
                    Ok(out) if r.translator.completed() => {
                        let answered = UpstreamOutcome::Answered {
                            status: 200,
                            error_code: None,
                            retry_after: None,
                        };
                        r.settle(&answered, None);
                        if out.is_empty() {
                            return None;
                        }
                        out
                    }
                    Ok(_) => r.break_off(None, "ended before it was complete"),
                    Err(e) => r.break_off(Some(e), "ended before it was complete"),
                },
                Ok(Some(Err(_))) | Err(_) => r.break_off(None, "broke or went silent mid-way"),
            };
            r.attempt.sent_bytes();
            return Some((Ok::<Bytes, std::io::Error>(out), r));
        }
    });
    answer(
        status,
        headers,
        Body::from_stream(body),
        &provider.name,
        &key.label,
        attempt_no,
    )
}
