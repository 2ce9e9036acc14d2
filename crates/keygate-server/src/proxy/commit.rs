//! The stream commit point. A streamed answer's 200 and headers go to the client only once the
//! upstream sent its first content-bearing event; the events that only open a stream (a
//! role-only first chunk, `message_start`, `response.created`, pings and comments) are held
//! with the headers. Until then nothing reached the client, so a stream that ends, breaks, goes
//! silent past `proxy.first_token_timeout_seconds` or opens with an error event is still a
//! failed attempt the failover driver can replace.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::Value;

use super::relay::{data_of, event_end};
use super::upstream_client::{BodyError, UpstreamResponse};

/// The protocol the upstream streams in, which decides what only opens a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opening {
    /// OpenAI chat and completions chunks.
    Chat,
    /// OpenAI Responses events.
    Responses,
    /// Anthropic Messages events.
    Messages,
}

/// A stream that got as far as content: its head, the bytes read so far (the held events and
/// the first content event, perhaps part of the next), and the rest of the body.
pub(super) struct Opened {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub prefix: Bytes,
    pub rest: BoxStream<'static, Result<Bytes, BodyError>>,
}

impl Opened {
    /// A body relayed from its first byte, with no commit point (a pass-through answer).
    pub fn whole(upstream: UpstreamResponse) -> Self {
        Self {
            status: upstream.status(),
            headers: upstream.headers().clone(),
            prefix: Bytes::new(),
            rest: upstream.bytes_stream(),
        }
    }

    /// The whole body again: the prefix, then the rest as it arrives.
    pub fn body(self) -> BoxStream<'static, Result<Bytes, BodyError>> {
        let prefix =
            futures_util::stream::iter((!self.prefix.is_empty()).then_some(Ok(self.prefix)));
        prefix.chain(self.rest).boxed()
    }
}

/// Why a stream never got to content.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NoContent {
    /// Silent past the first-token timeout.
    Timeout,
    /// It ended or broke before any content.
    Ended,
    /// Its first real event was an error; the upstream's text (not yet scrubbed).
    Error(String),
}

impl NoContent {
    /// The attempt's error text, for the key's last error and the log.
    pub fn describe(&self, within: Duration) -> String {
        match self {
            Self::Timeout => format!(
                "no content within {} s of the stream's start (proxy.first_token_timeout_seconds)",
                within.as_secs()
            ),
            Self::Ended => "the stream ended before any content".to_string(),
            Self::Error(text) => format!("the stream opened with an error: {text}"),
        }
    }
}

/// Reads `upstream` up to its first content-bearing event, for at most `within`.
pub(super) async fn first_content(
    upstream: UpstreamResponse,
    opening: Opening,
    within: Duration,
) -> Result<Opened, NoContent> {
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let mut rest = upstream.bytes_stream();
    let until = tokio::time::Instant::now() + within;
    let mut read = BytesMut::new();
    // Where the next event not yet looked at starts.
    let mut seen = 0;
    loop {
        while let Some(end) = event_end(&read[seen..]) {
            let event = &read[seen..seen + end];
            seen += end;
            match kind(opening, event) {
                Kind::Opening => {}
                Kind::Content => {
                    return Ok(Opened {
                        status,
                        headers,
                        prefix: read.freeze(),
                        rest,
                    });
                }
                Kind::Error(text) => return Err(NoContent::Error(text)),
            }
        }
        match tokio::time::timeout_at(until, rest.next()).await {
            Ok(Some(Ok(chunk))) => read.extend_from_slice(&chunk),
            Ok(Some(Err(_)) | None) => return Err(NoContent::Ended),
            Err(_) => return Err(NoContent::Timeout),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Opening,
    Content,
    Error(String),
}

/// What one complete SSE event is, in the upstream's protocol.
fn kind(opening: Opening, event: &[u8]) -> Kind {
    let Some(data) = data_of(event) else {
        return Kind::Opening; // a comment or keep-alive
    };
    let data = data.trim();
    if data == "[DONE]" {
        return Kind::Content; // an empty answer, complete: the relay takes it from here
    }
    let Ok(json) = serde_json::from_str::<Value>(data) else {
        return Kind::Content; // not ours to judge: the relay passes it on
    };
    if let Some(error) = json.get("error").filter(|e| !e.is_null()) {
        return Kind::Error(error_text(error));
    }
    let held = match opening {
        Opening::Chat => return chat_kind(&json),
        Opening::Responses => [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ]
        .as_slice(),
        Opening::Messages => ["message_start", "ping", "content_block_start"].as_slice(),
    };
    match json["type"].as_str().unwrap_or_default() {
        "error" | "response.failed" => Kind::Error(error_text(&json)),
        kind if held.contains(&kind) => Kind::Opening,
        _ => Kind::Content,
    }
}

/// A chat chunk carries content when its delta has anything but the role, or it finishes (a
/// usage-only chunk, with no choices, ends an answer too).
fn chat_kind(json: &Value) -> Kind {
    let Some(choices) = json["choices"].as_array() else {
        return Kind::Content;
    };
    let Some(choice) = choices.first() else {
        return Kind::Content;
    };
    if !choice["finish_reason"].is_null() {
        return Kind::Content;
    }
    let carries = |v: &Value| {
        !(v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(Vec::is_empty))
    };
    let delta_content = choice["delta"]
        .as_object()
        .is_some_and(|delta| delta.iter().any(|(k, v)| k != "role" && carries(v)));
    // Completions chunks carry `text` instead of a delta.
    if delta_content || carries(&choice["text"]) {
        Kind::Content
    } else {
        Kind::Opening
    }
}

fn error_text(error: &Value) -> String {
    error
        .pointer("/error/message")
        .or_else(|| error.get("message"))
        .and_then(Value::as_str)
        .map_or_else(|| error.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> Vec<u8> {
        format!("data: {data}\n\n").into_bytes()
    }

    #[test]
    fn chat_role_chunks_and_comments_open_a_stream_and_text_is_content() {
        let role = event(
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        );
        assert_eq!(kind(Opening::Chat, &role), Kind::Opening);
        assert_eq!(kind(Opening::Chat, b": keep-alive\n\n"), Kind::Opening);
        let text =
            event(r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#);
        assert_eq!(kind(Opening::Chat, &text), Kind::Content);
        let tool =
            event(r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1"}]}}]}"#);
        assert_eq!(kind(Opening::Chat, &tool), Kind::Content);
        let stop = event(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#);
        assert_eq!(kind(Opening::Chat, &stop), Kind::Content);
        assert_eq!(kind(Opening::Chat, &event("[DONE]")), Kind::Content);
        let error = event(r#"{"error":{"message":"overloaded","code":"server_error"}}"#);
        assert_eq!(
            kind(Opening::Chat, &error),
            Kind::Error("overloaded".into())
        );
    }

    #[test]
    fn responses_and_messages_hold_their_opening_events() {
        let created = event(r#"{"type":"response.created","response":{"id":"r"}}"#);
        assert_eq!(kind(Opening::Responses, &created), Kind::Opening);
        let delta = event(r#"{"type":"response.output_text.delta","delta":"Hi"}"#);
        assert_eq!(kind(Opening::Responses, &delta), Kind::Content);
        let start = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n";
        assert_eq!(kind(Opening::Messages, start), Kind::Opening);
        let text = event(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        );
        assert_eq!(kind(Opening::Messages, &text), Kind::Content);
        let overloaded =
            event(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
        assert_eq!(
            kind(Opening::Messages, &overloaded),
            Kind::Error("Overloaded".into())
        );
    }
}
