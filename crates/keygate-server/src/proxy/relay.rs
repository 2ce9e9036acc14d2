//! Relaying an OpenAI-style SSE stream: events go out as soon as they are complete, the usage
//! chunk KeyGate asked for is captured (and removed when the client did not ask for it), and
//! the terminal `data: [DONE]` is noticed so a stream that stops early counts as broken.

use bytes::{Bytes, BytesMut};
use serde_json::Value;

/// Token counts reported by the upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
}

impl Usage {
    pub fn from_json(usage: &Value) -> Option<Self> {
        if !usage.is_object() {
            return None;
        }
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        Some(Self {
            prompt_tokens: n(&usage["prompt_tokens"]),
            completion_tokens: n(&usage["completion_tokens"]),
            cached_tokens: n(&usage["prompt_tokens_details"]["cached_tokens"]),
        })
    }
}

#[derive(Debug)]
pub struct SseRelay {
    pending: BytesMut,
    strip_usage_chunk: bool,
    pub usage: Option<Usage>,
    pub done: bool,
    pub bytes_out: u64,
}

impl SseRelay {
    /// `strip_usage_chunk`: KeyGate injected `include_usage`, so the client must not see it.
    pub fn new(strip_usage_chunk: bool) -> Self {
        Self {
            pending: BytesMut::new(),
            strip_usage_chunk,
            usage: None,
            done: false,
            bytes_out: 0,
        }
    }

    /// Takes bytes from upstream; returns the bytes to send to the client now.
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.pending.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        while let Some(end) = event_end(&self.pending) {
            let event = self.pending.split_to(end);
            if self.keep(&event) {
                out.extend_from_slice(&event);
            }
        }
        self.bytes_out += out.len() as u64;
        out.freeze()
    }

    /// The rest when the upstream ended: an unterminated last event is passed on as is.
    pub fn finish(&mut self) -> Bytes {
        let rest = self.pending.split().freeze();
        if !rest.is_empty() && self.keep(&rest) {
            self.bytes_out += rest.len() as u64;
            return rest;
        }
        Bytes::new()
    }

    /// Looks at one complete event; false when it must not reach the client. Most events are
    /// content deltas: they are recognised by a byte search and passed on without parsing.
    fn keep(&mut self, event: &[u8]) -> bool {
        let mentions_usage = contains(event, b"\"usage\"");
        if !mentions_usage {
            if contains(event, b"[DONE]") && data_of(event).is_some_and(|d| d.trim() == "[DONE]") {
                self.done = true;
            }
            return true;
        }
        let Some(data) = data_of(event) else {
            return true;
        };
        let Ok(json) = serde_json::from_str::<Value>(&data) else {
            return true;
        };
        if let Some(usage) = Usage::from_json(&json["usage"]) {
            self.usage = Some(usage);
            let usage_only = json["choices"].as_array().is_some_and(Vec::is_empty);
            if self.strip_usage_chunk && usage_only {
                return false;
            }
        }
        true
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The `data:` lines of an SSE event, joined as the spec says.
fn data_of(event: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim_start)
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The end (exclusive) of the first complete event in `buf`: after a blank line.
fn event_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// The error event a client receives when the upstream stream breaks mid-way.
pub fn broken_stream_event(message: &str) -> Bytes {
    let body = serde_json::json!({
        "error": { "message": message, "type": "upstream_error", "param": null, "code": "stream_broken" }
    });
    Bytes::from(format!("data: {body}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: &str =
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    const USAGE: &str = "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11,\"prompt_tokens_details\":{\"cached_tokens\":4}}}\n\n";
    const DONE: &str = "data: [DONE]\n\n";

    #[test]
    fn injected_usage_chunk_is_captured_and_stripped() {
        let mut relay = SseRelay::new(true);
        let mut out = Vec::new();
        out.extend_from_slice(&relay.push(CHUNK.as_bytes()));
        out.extend_from_slice(&relay.push(USAGE.as_bytes()));
        out.extend_from_slice(&relay.push(DONE.as_bytes()));
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            format!("{CHUNK}{DONE}")
        );
        assert_eq!(
            relay.usage,
            Some(Usage {
                prompt_tokens: 9,
                completion_tokens: 2,
                cached_tokens: 4
            })
        );
        assert!(relay.done);
    }

    #[test]
    fn a_client_that_asked_for_usage_keeps_the_chunk() {
        let mut relay = SseRelay::new(false);
        let out = relay.push(format!("{CHUNK}{USAGE}{DONE}").as_bytes());
        assert_eq!(out, Bytes::from(format!("{CHUNK}{USAGE}{DONE}")));
        assert!(relay.usage.is_some());
    }

    #[test]
    fn events_split_across_reads_go_out_when_complete() {
        let mut relay = SseRelay::new(true);
        let (a, b) = CHUNK.split_at(17);
        assert!(relay.push(a.as_bytes()).is_empty(), "half an event waits");
        assert_eq!(relay.push(b.as_bytes()), Bytes::from(CHUNK));
        assert!(!relay.done);
        assert!(relay.finish().is_empty());
    }

    #[test]
    fn crlf_events_and_comments_pass_through() {
        let mut relay = SseRelay::new(true);
        let input = ": keep-alive\r\n\r\ndata: [DONE]\r\n\r\n";
        assert_eq!(relay.push(input.as_bytes()), Bytes::from(input));
        assert!(relay.done);
    }

    #[test]
    fn broken_stream_event_is_valid_sse_json() {
        let event = broken_stream_event("cut");
        let text = std::str::from_utf8(&event).expect("utf8");
        let json: Value =
            serde_json::from_str(text.trim().trim_start_matches("data: ")).expect("json");
        assert_eq!(json["error"]["code"], "stream_broken");
    }
}
