//! Relaying an OpenAI-style SSE stream: events go out as soon as they are complete, the usage
//! chunk KeyGate asked for is captured (and removed when the client did not ask for it), and
//! the terminal event is noticed so a stream that stops early counts as broken. Chat and
//! completions streams end with `data: [DONE]`, or, from the OpenAI-compatible servers that
//! never send it, close after a chunk with a `finish_reason`: that answer is whole, and the
//! client gets the `[DONE]` the upstream left out. Responses streams end with
//! `response.completed` (or `.incomplete` / `.failed`), whose `response.usage` holds the tokens.
//! Anthropic Messages streams end with `message_stop`; usage comes from `message_start` (input
//! and cache tokens) and `message_delta` (output tokens).

use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use memchr::memmem::Finder;
use serde_json::Value;

/// The needles looked for in every event, their searchers built once (making one costs more
/// than searching an event).
static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
static DONE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"[DONE]"));
static FINISH_REASON: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"finish_reason\""));
static MESSAGE_WATCHED: LazyLock<[Finder<'static>; 4]> = LazyLock::new(|| {
    [
        b"\"message_start\"".as_slice(),
        b"\"message_delta\"",
        b"\"message_stop\"",
        b"\"error\"",
    ]
    .map(Finder::new)
});
static RESPONSE_TERMINALS: LazyLock<[Finder<'static>; 3]> =
    LazyLock::new(|| RESPONSE_TERMINAL.map(|t| Finder::new(t.as_bytes())));

/// Token counts reported by the upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
}

impl Usage {
    /// Chat/completions names (`prompt_tokens`, `completion_tokens`,
    /// `prompt_tokens_details.cached_tokens`) or the Responses API's (`input_tokens`,
    /// `output_tokens`, `input_tokens_details.cached_tokens`).
    pub fn from_json(usage: &Value) -> Option<Self> {
        if !usage.is_object() {
            return None;
        }
        let n = |a: &Value, b: &Value| a.as_u64().or_else(|| b.as_u64()).unwrap_or(0);
        let cached = n(
            &usage["prompt_tokens_details"]["cached_tokens"],
            &usage["input_tokens_details"]["cached_tokens"],
        );
        if usage.get("cache_read_input_tokens").is_some()
            || usage.get("cache_creation_input_tokens").is_some()
        {
            return Some(AnthropicUsage::default().update(usage).usage());
        }
        Some(Self {
            prompt_tokens: n(&usage["prompt_tokens"], &usage["input_tokens"]),
            completion_tokens: n(&usage["completion_tokens"], &usage["output_tokens"]),
            cached_tokens: cached,
        })
    }

    /// The usage of a whole JSON answer: OpenAI's and Anthropic's `usage`, or Gemini's
    /// `usageMetadata`. Only the token counts are read, into plain numbers: the rest of the
    /// answer (the completion itself) and of `usage` is skipped, nothing is built. This runs
    /// on the usage writer's thread for every answer (it was ~9.5 k instructions per request
    /// through `serde_json::Value`).
    pub fn of_answer(body: &[u8]) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            usage: Option<Counts>,
            #[serde(default, rename = "usageMetadata")]
            usage_metadata: Option<Metadata>,
        }
        #[derive(serde::Deserialize)]
        struct Counts {
            prompt_tokens: Option<u64>,
            completion_tokens: Option<u64>,
            input_tokens: Option<u64>,
            output_tokens: Option<u64>,
            prompt_tokens_details: Option<Details>,
            input_tokens_details: Option<Details>,
            cache_read_input_tokens: Option<u64>,
            cache_creation_input_tokens: Option<u64>,
        }
        #[derive(serde::Deserialize)]
        struct Details {
            cached_tokens: Option<u64>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Metadata {
            prompt_token_count: Option<u64>,
            candidates_token_count: Option<u64>,
            cached_content_token_count: Option<u64>,
        }
        let answer: Answer = serde_json::from_slice(body).ok()?;
        if let Some(c) = answer.usage {
            // Anthropic's `input_tokens` leaves the cache out (see `AnthropicUsage`).
            if c.cache_read_input_tokens.is_some() || c.cache_creation_input_tokens.is_some() {
                let read = c.cache_read_input_tokens.unwrap_or(0);
                return Some(Self {
                    prompt_tokens: c.input_tokens.unwrap_or(0)
                        + read
                        + c.cache_creation_input_tokens.unwrap_or(0),
                    completion_tokens: c.output_tokens.unwrap_or(0),
                    cached_tokens: read,
                });
            }
            let cached = |d: Option<Details>| d.and_then(|d| d.cached_tokens);
            return Some(Self {
                prompt_tokens: c.prompt_tokens.or(c.input_tokens).unwrap_or(0),
                completion_tokens: c.completion_tokens.or(c.output_tokens).unwrap_or(0),
                cached_tokens: cached(c.prompt_tokens_details)
                    .or_else(|| cached(c.input_tokens_details))
                    .unwrap_or(0),
            });
        }
        answer.usage_metadata.map(|m| Self {
            prompt_tokens: m.prompt_token_count.unwrap_or(0),
            completion_tokens: m.candidates_token_count.unwrap_or(0),
            cached_tokens: m.cached_content_token_count.unwrap_or(0),
        })
    }

    /// Gemini's `usageMetadata`.
    pub fn from_metadata(meta: &Value) -> Option<Self> {
        if !meta.is_object() {
            return None;
        }
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        Some(Self {
            prompt_tokens: n(&meta["promptTokenCount"]),
            completion_tokens: n(&meta["candidatesTokenCount"]),
            cached_tokens: n(&meta["cachedContentTokenCount"]),
        })
    }
}

/// Which OpenAI-style stream is being relayed: it decides the terminal event and where usage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/chat/completions`, `/completions`: `data: [DONE]` ends it, usage in a chunk of its own.
    Chat,
    /// `/responses`: `response.completed` ends it and carries `response.usage`.
    Responses,
    /// Anthropic `/v1/messages`: `message_stop` ends it; usage in `message_start` and
    /// `message_delta`.
    Messages,
}

/// Anthropic usage as a stream reports it, piece by piece. Anthropic's `input_tokens` leaves
/// out the tokens read from and written to the prompt cache; KeyGate's prompt tokens (like
/// OpenAI's) include them, and its cached tokens are the cache reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnthropicUsage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
}

impl AnthropicUsage {
    /// Takes the fields `usage` has; `message_delta` repeats only some of them.
    pub(super) fn update(mut self, usage: &Value) -> Self {
        let field = |name: &str| usage.get(name).and_then(Value::as_u64);
        self.input = field("input_tokens").unwrap_or(self.input);
        self.output = field("output_tokens").unwrap_or(self.output);
        self.cache_read = field("cache_read_input_tokens").unwrap_or(self.cache_read);
        self.cache_creation = field("cache_creation_input_tokens").unwrap_or(self.cache_creation);
        self
    }

    pub(super) fn usage(self) -> Usage {
        Usage {
            prompt_tokens: self.input + self.cache_read + self.cache_creation,
            completion_tokens: self.output,
            cached_tokens: self.cache_read,
        }
    }
}

/// The Responses API's terminal event types.
const RESPONSE_TERMINAL: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

#[derive(Debug)]
pub struct SseRelay {
    pending: BytesMut,
    strip_usage_chunk: bool,
    dialect: Dialect,
    anthropic: Option<AnthropicUsage>,
    pub usage: Option<Usage>,
    pub done: bool,
    /// A chat chunk named a `finish_reason`: the answer is whole, `[DONE]` or not.
    finished: bool,
    /// The upstream's own error event (Anthropic `event: error`, say `overloaded_error`
    /// mid-stream), held back: the stream is not complete, and a rescue may continue it. If
    /// none does, the client gets this event as its stream's end.
    pub upstream_error: Option<Bytes>,
    pub bytes_out: u64,
}

impl SseRelay {
    /// `strip_usage_chunk`: KeyGate injected `include_usage`, so the client must not see it.
    pub fn new(strip_usage_chunk: bool, dialect: Dialect) -> Self {
        Self {
            pending: BytesMut::new(),
            strip_usage_chunk,
            dialect,
            anthropic: None,
            usage: None,
            done: false,
            finished: false,
            upstream_error: None,
            bytes_out: 0,
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
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

    /// The rest when the upstream ended: an unterminated last event is passed on as is, and a
    /// chat stream that finished without `[DONE]` gets it.
    pub fn finish(&mut self) -> Bytes {
        let rest = self.pending.split().freeze();
        let mut out = BytesMut::new();
        if !rest.is_empty() && self.keep(&rest) {
            out.extend_from_slice(&rest);
        }
        if self.dialect == Dialect::Chat && self.finished && !self.done {
            self.done = true;
            if !out.is_empty() && !out.ends_with(b"\n\n") {
                out.extend_from_slice(b"\n\n");
            }
            out.extend_from_slice(CHAT_DONE);
        }
        self.bytes_out += out.len() as u64;
        out.freeze()
    }

    /// Looks at one complete event; false when it must not reach the client. Most events are
    /// content deltas: they are recognised by a byte search and passed on without parsing.
    fn keep(&mut self, event: &[u8]) -> bool {
        match self.dialect {
            Dialect::Responses => {
                self.watch_response_event(event);
                return true;
            }
            Dialect::Messages => return self.watch_message_event(event),
            Dialect::Chat => {}
        }
        if !self.finished && names_finish_reason(event) {
            self.finished = true;
        }
        let mentions_usage = contains(event, &USAGE);
        if !mentions_usage {
            if contains(event, &DONE) && data_of(event).is_some_and(|d| d.trim() == "[DONE]") {
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

impl SseRelay {
    /// Responses streams are passed on untouched; only the terminal event is read.
    fn watch_response_event(&mut self, event: &[u8]) {
        if !RESPONSE_TERMINALS.iter().any(|t| contains(event, t)) {
            return;
        }
        let Some(json) = data_of(event).and_then(|d| serde_json::from_str::<Value>(&d).ok()) else {
            return;
        };
        let kind = json["type"].as_str().unwrap_or_default();
        if RESPONSE_TERMINAL.contains(&kind) {
            self.done = true;
            self.usage = Usage::from_json(&json["response"]["usage"]).or(self.usage);
        }
    }
}

impl SseRelay {
    /// Anthropic streams are passed on untouched; only the few events that carry usage, the
    /// end or an error are read (content deltas are recognised by a byte search). False for
    /// an error event, which is held back.
    fn watch_message_event(&mut self, event: &[u8]) -> bool {
        if !MESSAGE_WATCHED.iter().any(|w| contains(event, w)) {
            return true;
        }
        let Some(json) = data_of(event).and_then(|d| serde_json::from_str::<Value>(&d).ok()) else {
            return true;
        };
        let usage = match json["type"].as_str().unwrap_or_default() {
            "message_start" => &json["message"]["usage"],
            "message_delta" => &json["usage"],
            "message_stop" => {
                self.done = true;
                return true;
            }
            "error" => {
                self.upstream_error = Some(Bytes::copy_from_slice(event));
                return false;
            }
            _ => return true,
        };
        if usage.is_object() {
            let anthropic = self.anthropic.unwrap_or_default().update(usage);
            self.anthropic = Some(anthropic);
            self.usage = Some(anthropic.usage());
        }
        true
    }
}

const CHAT_DONE: &[u8] = b"data: [DONE]\n\n";

fn contains(haystack: &[u8], needle: &Finder<'_>) -> bool {
    needle.find(haystack).is_some()
}

/// Whether a chat chunk names a finish reason: `"finish_reason"` followed by a string, where
/// content chunks carry `null` (or leave the field out).
fn names_finish_reason(event: &[u8]) -> bool {
    let mut rest = event;
    while let Some(at) = FINISH_REASON.find(rest) {
        rest = &rest[at + FINISH_REASON.needle().len()..];
        let value = rest
            .iter()
            .find(|b| !b.is_ascii_whitespace() && **b != b':');
        if value == Some(&b'"') {
            return true;
        }
    }
    false
}

/// The `data:` lines of an SSE event, joined as the spec says.
pub(super) fn data_of(event: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim_start)
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The end (exclusive) of the first complete event in `buf`: after a blank line.
pub(super) fn event_end(buf: &[u8]) -> Option<usize> {
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

/// The error event a client receives when the upstream stream breaks mid-way, in the shape of
/// the stream's own protocol.
pub fn broken_stream_event(dialect: Dialect, message: &str) -> Bytes {
    match dialect {
        Dialect::Chat => {
            let body = serde_json::json!({
                "error": { "message": message, "type": "upstream_error", "param": null, "code": "stream_broken" }
            });
            Bytes::from(format!("data: {body}\n\n"))
        }
        Dialect::Responses => {
            let body = serde_json::json!({
                "type": "error", "code": "stream_broken", "message": message, "param": null
            });
            Bytes::from(format!("event: error\ndata: {body}\n\n"))
        }
        Dialect::Messages => Bytes::from(keygate_core::translate::anthropic_sse_error_event(
            "api_error",
            message,
        )),
    }
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
        let mut relay = SseRelay::new(true, Dialect::Chat);
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
        let mut relay = SseRelay::new(false, Dialect::Chat);
        let out = relay.push(format!("{CHUNK}{USAGE}{DONE}").as_bytes());
        assert_eq!(out, Bytes::from(format!("{CHUNK}{USAGE}{DONE}")));
        assert!(relay.usage.is_some());
    }

    #[test]
    fn events_split_across_reads_go_out_when_complete() {
        let mut relay = SseRelay::new(true, Dialect::Chat);
        let (a, b) = CHUNK.split_at(17);
        assert!(relay.push(a.as_bytes()).is_empty(), "half an event waits");
        assert_eq!(relay.push(b.as_bytes()), Bytes::from(CHUNK));
        assert!(!relay.done);
        assert!(relay.finish().is_empty());
    }

    const FINISH: &str = "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\": \"stop\"}]}\n\n";

    #[test]
    fn a_chat_stream_that_finished_without_done_is_complete_and_gets_its_done() {
        let mut relay = SseRelay::new(true, Dialect::Chat);
        let mut out = relay
            .push(format!("{CHUNK}{FINISH}{USAGE}").as_bytes())
            .to_vec();
        assert!(!relay.done);
        out.extend_from_slice(&relay.finish());
        assert!(
            relay.done,
            "finish_reason then a clean close is a whole answer"
        );
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            format!("{CHUNK}{FINISH}{DONE}")
        );
        assert_eq!(relay.usage.map(|u| u.completion_tokens), Some(2));
    }

    #[test]
    fn a_chat_stream_cut_before_its_finish_reason_is_not_done() {
        let mut relay = SseRelay::new(false, Dialect::Chat);
        let null_finish = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n";
        relay.push(format!("{CHUNK}{null_finish}").as_bytes());
        assert!(relay.finish().is_empty());
        assert!(!relay.done);
        assert!(names_finish_reason(FINISH.as_bytes()));
        assert!(!names_finish_reason(null_finish.as_bytes()));
        assert!(!names_finish_reason(b"data: {\"text\":\"finish_reason\"}"));
    }

    #[test]
    fn crlf_events_and_comments_pass_through() {
        let mut relay = SseRelay::new(true, Dialect::Chat);
        let input = ": keep-alive\r\n\r\ndata: [DONE]\r\n\r\n";
        assert_eq!(relay.push(input.as_bytes()), Bytes::from(input));
        assert!(relay.done);
    }

    #[test]
    fn broken_stream_event_is_valid_sse_json() {
        let event = broken_stream_event(Dialect::Chat, "cut");
        let text = std::str::from_utf8(&event).expect("utf8");
        let json: Value =
            serde_json::from_str(text.trim().trim_start_matches("data: ")).expect("json");
        assert_eq!(json["error"]["code"], "stream_broken");
    }

    const RESPONSE_DELTA: &str = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n";
    const RESPONSE_DONE: &str = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":7,\"input_tokens_details\":{\"cached_tokens\":3},\"output_tokens\":5,\"total_tokens\":12}}}\n\n";

    #[test]
    fn responses_streams_pass_untouched_and_end_with_response_completed() {
        let mut relay = SseRelay::new(false, Dialect::Responses);
        let input = format!("{RESPONSE_DELTA}{RESPONSE_DONE}");
        let (a, b) = input.split_at(40);
        let mut out = relay.push(a.as_bytes()).to_vec();
        assert!(!relay.done);
        out.extend_from_slice(&relay.push(b.as_bytes()));
        assert_eq!(String::from_utf8(out).expect("utf8"), input);
        assert!(relay.done);
        assert_eq!(
            relay.usage,
            Some(Usage {
                prompt_tokens: 7,
                completion_tokens: 5,
                cached_tokens: 3
            })
        );
    }

    const MESSAGE_START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":11,\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":7,\"output_tokens\":1}}}\n\n";
    const MESSAGE_DELTA: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"message_stop\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n";
    const MESSAGE_STOP: &str = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn anthropic_streams_pass_untouched_with_usage_and_cache_tokens() {
        let mut relay = SseRelay::new(false, Dialect::Messages);
        let input = format!("{MESSAGE_START}{MESSAGE_DELTA}");
        let out = relay.push(input.as_bytes());
        assert_eq!(out, Bytes::from(input));
        assert!(
            !relay.done,
            "a text that says message_stop does not end the stream"
        );
        relay.push(MESSAGE_STOP.as_bytes());
        assert!(relay.done);
        assert_eq!(
            relay.usage,
            Some(Usage {
                prompt_tokens: 23,
                completion_tokens: 3,
                cached_tokens: 7
            })
        );
        let mut relay = SseRelay::new(false, Dialect::Messages);
        let out = relay.push(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
        assert!(out.is_empty(), "held back for a rescue");
        assert!(relay.upstream_error.is_some() && !relay.done);
    }

    #[test]
    fn anthropic_usage_of_a_whole_answer_counts_cache_tokens_as_prompt() {
        let answer = br#"{"id":"msg_1","content":[{"type":"text","text":"hi"}],"usage": {"input_tokens": 11, "output_tokens": 3, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 7}}"#;
        assert_eq!(
            Usage::of_answer(answer),
            Some(Usage {
                prompt_tokens: 23,
                completion_tokens: 3,
                cached_tokens: 7
            })
        );
        let gemini =
            br#"{"choices":[],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2}}"#;
        assert_eq!(
            Usage::of_answer(gemini),
            Some(Usage {
                prompt_tokens: 4,
                completion_tokens: 2,
                cached_tokens: 0
            })
        );
        assert_eq!(Usage::of_answer(b"[1,2]"), None);
        assert_eq!(Usage::of_answer(b"not json"), None);
    }

    #[test]
    fn the_typed_answer_parse_reads_what_the_value_parse_reads() {
        // `of_answer` reads numbers straight from the bytes; `from_json`/`from_metadata` read
        // a parsed `Value` (streams use those). Both must agree on every shape.
        let bodies: [&[u8]; 8] = [
            br#"{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0}}}"#,
            br#"{"output":[],"usage":{"input_tokens":7,"output_tokens":3,"input_tokens_details":{"cached_tokens":1},"output_tokens_details":{"reasoning_tokens":2}}}"#,
            br#"{"content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":5,"output_tokens":8,"cache_read_input_tokens":100,"cache_creation_input_tokens":20,"service_tier":"standard"}}"#,
            br#"{"candidates":[],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"cachedContentTokenCount":1,"totalTokenCount":6}}"#,
            br#"{"usage":null,"usageMetadata":{"promptTokenCount":3}}"#,
            br#"{"usage":{}}"#,
            br#"{"choices":[]}"#,
            br#"{"usage":{"completion_tokens":5}}"#,
        ];
        for body in bodies {
            let v: Value = serde_json::from_slice(body).expect("json");
            let by_value =
                Usage::from_json(&v["usage"]).or_else(|| Usage::from_metadata(&v["usageMetadata"]));
            assert_eq!(
                Usage::of_answer(body),
                by_value,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_responses_stream_without_its_terminal_event_is_not_done() {
        let mut relay = SseRelay::new(false, Dialect::Responses);
        relay.push(RESPONSE_DELTA.as_bytes());
        relay.push(b"data: [DONE]\n\n");
        assert!(!relay.done, "[DONE] does not end a Responses stream");
        let event = broken_stream_event(Dialect::Responses, "cut");
        assert!(event.starts_with(b"event: error\ndata: {"));
    }
}
