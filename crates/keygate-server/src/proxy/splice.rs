//! Splicing a rescued stream: what the client was sent before the upstream broke off
//! ([`Transcript`], read from the client's own bytes only when a rescue happens, so relaying
//! costs a copy and no parsing), and the continuation's events rewritten to carry on that same
//! stream ([`Splicer`]): the first answer's ids, indexes and sequence numbers, its open text
//! block or part continued rather than a second one opened, no second opening event, one
//! terminal event, and usage that adds the broken attempts' tokens.
//!
//! Only text can be continued. A transcript with a tool call (or a second choice) in it gives
//! `None`: that stream fails cleanly as before.

use axum::body::Bytes;
use serde_json::{Map, Value, json};

use super::relay::{Dialect, Usage, data_of, event_end};

/// What the client saw of an answer that broke off.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Transcript {
    /// The answer's text so far: what a continuation goes on from.
    pub text: String,
    ids: Ids,
}

/// The identities a continuation must keep, per protocol.
#[derive(Debug, Clone, PartialEq)]
enum Ids {
    /// Chat chunks' `id`, `created` and `model`.
    Chat {
        id: Value,
        created: Value,
        model: Value,
    },
    /// Anthropic content blocks: the text block still open (if any) and the next free index.
    Messages { open: Option<u64>, next: u64 },
    /// Responses: the response, its open message item and output_text part, the text of that
    /// part (its `.done` events repeat it whole) and the next sequence number.
    Responses {
        id: Value,
        created_at: Value,
        item_id: Value,
        output_index: u64,
        content_index: u64,
        part_text: String,
        next_sequence: u64,
    },
}

/// The JSON payloads of the complete SSE events in `bytes` (comments, `[DONE]` and what is
/// not JSON left out).
fn payloads(bytes: &[u8]) -> impl Iterator<Item = Value> + '_ {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        loop {
            let end = event_end(rest)?;
            let event = &rest[..end];
            rest = &rest[end..];
            if let Some(json) = data_of(event).and_then(|d| serde_json::from_str(&d).ok()) {
                return Some(json);
            }
        }
    })
}

impl Transcript {
    /// Reads what the client was sent (in `dialect`); `None` when it cannot be continued.
    pub fn read(dialect: Dialect, sent: &[u8]) -> Option<Self> {
        let transcript = match dialect {
            Dialect::Chat => read_chat(sent)?,
            Dialect::Messages => read_messages(sent)?,
            Dialect::Responses => read_responses(sent)?,
        };
        (!transcript.text.is_empty()).then_some(transcript)
    }
}

fn read_chat(sent: &[u8]) -> Option<Transcript> {
    let (mut id, mut created, mut model) = (Value::Null, Value::Null, Value::Null);
    let mut text = String::new();
    for chunk in payloads(sent) {
        if id.is_null() && chunk.get("id").is_some() {
            id = chunk["id"].clone();
            created = chunk["created"].clone();
            model = chunk["model"].clone();
        }
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            let delta = &choice["delta"];
            let calls = |field: &str| {
                !(delta[field].is_null() || delta[field].as_array().is_some_and(Vec::is_empty))
            };
            if choice["index"].as_u64().unwrap_or(0) != 0
                || calls("tool_calls")
                || calls("function_call")
                || !choice["finish_reason"].is_null()
            {
                return None;
            }
            // Completions chunks carry `text`, chat chunks a delta.
            let piece = delta["content"].as_str().or(choice["text"].as_str());
            text.push_str(piece.unwrap_or_default());
        }
    }
    Some(Transcript {
        text,
        ids: Ids::Chat { id, created, model },
    })
}

fn read_messages(sent: &[u8]) -> Option<Transcript> {
    let (mut open, mut next, mut open_is_text) = (None, 0, false);
    let mut text = String::new();
    for event in payloads(sent) {
        match event["type"].as_str().unwrap_or_default() {
            "content_block_start" => {
                let index = event["index"].as_u64()?;
                open_is_text = event["content_block"]["type"] == "text";
                if !open_is_text && event["content_block"]["type"] != "thinking" {
                    return None; // a tool call
                }
                open = Some(index);
                next = index + 1;
            }
            "content_block_delta" if open_is_text => {
                text.push_str(event["delta"]["text"].as_str().unwrap_or_default());
            }
            "content_block_stop" => open = None,
            "message_delta" | "message_stop" => return None,
            _ => {}
        }
    }
    // Only an open text block, or none between blocks, can be continued.
    if open.is_some() && !open_is_text {
        return None;
    }
    Some(Transcript {
        text,
        ids: Ids::Messages { open, next },
    })
}

fn read_responses(sent: &[u8]) -> Option<Transcript> {
    let (mut id, mut created_at, mut item_id) = (Value::Null, Value::Null, Value::Null);
    let (mut output_index, mut content_index, mut next_sequence) = (0, 0, 0);
    let (mut text, mut part_text, mut part_open) = (String::new(), String::new(), false);
    for event in payloads(sent) {
        if let Some(n) = event["sequence_number"].as_u64() {
            next_sequence = next_sequence.max(n + 1);
        }
        match event["type"].as_str().unwrap_or_default() {
            "response.created" | "response.in_progress" => {
                id = event["response"]["id"].clone();
                created_at = event["response"]["created_at"].clone();
            }
            "response.output_item.added" => {
                part_open = false;
                match event["item"]["type"].as_str() {
                    Some("message") => {
                        item_id = event["item"]["id"].clone();
                        output_index = event["output_index"].as_u64()?;
                    }
                    Some("reasoning") => {}
                    _ => return None, // a tool call
                }
            }
            "response.content_part.added" if event["part"]["type"] == "output_text" => {
                content_index = event["content_index"].as_u64()?;
                part_text.clear();
                part_open = true;
            }
            "response.output_text.delta" => {
                let delta = event["delta"].as_str().unwrap_or_default();
                text.push_str(delta);
                part_text.push_str(delta);
            }
            // The part is whole: nothing is left to continue.
            "response.output_text.done" | "response.content_part.done" => return None,
            kind if kind.starts_with("response.function_call") => return None,
            _ => {}
        }
    }
    // Some servers send deltas without a `content_part.added`: their text is enough.
    if !part_open && part_text.is_empty() {
        return None;
    }
    Some(Transcript {
        text,
        ids: Ids::Responses {
            id,
            created_at,
            item_id,
            output_index,
            content_index,
            part_text,
            next_sequence,
        },
    })
}

/// Rewrites a continuation's events (already in the client's protocol) to carry on the
/// stream a [`Transcript`] describes.
pub(super) struct Splicer {
    ids: Ids,
    /// Tokens of the broken attempts, added to the usage the continuation reports.
    carried: Usage,
    /// The continuation's leading whitespace goes: the prefill it continues lost its trailing
    /// whitespace, which the client already has.
    trim_lead: bool,
    /// Messages: the continuation's first block is text and continues the open one.
    merged: bool,
    /// Messages: a content_block_stop for the open block was sent.
    closed_open: bool,
    pending: Vec<u8>,
}

impl Splicer {
    pub fn new(transcript: Transcript, carried: Usage, trim_lead: bool) -> Self {
        Self {
            ids: transcript.ids,
            carried,
            trim_lead,
            merged: false,
            closed_open: false,
            pending: Vec::new(),
        }
    }

    /// Takes the continuation's bytes (whole events as the shaper gives them); returns the
    /// client's.
    pub fn push(&mut self, bytes: &[u8]) -> Bytes {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::with_capacity(self.pending.len() + 64);
        let mut seen = 0;
        while let Some(end) = event_end(&self.pending[seen..]) {
            let event = self.pending[seen..seen + end].to_vec();
            seen += end;
            self.rewrite(&event, &mut out);
        }
        self.pending.drain(..seen);
        Bytes::from(out)
    }

    fn rewrite(&mut self, event: &[u8], out: &mut Vec<u8>) {
        let Some(data) = data_of(event) else {
            out.extend_from_slice(event); // a comment or keep-alive
            return;
        };
        let Ok(Value::Object(json)) = serde_json::from_str::<Value>(&data) else {
            out.extend_from_slice(event); // `[DONE]`, or not ours to judge
            return;
        };
        let events = match self.ids {
            Ids::Chat { .. } => self.chat(json).into_iter().collect(),
            Ids::Messages { .. } => self.messages(json),
            Ids::Responses { .. } => self.responses(json).into_iter().collect(),
        };
        for json in events {
            let kind = json.get("type").and_then(Value::as_str);
            match (self.ids_dialect(), kind) {
                (Dialect::Chat, _) | (_, None) => {}
                (_, Some(kind)) => out.extend_from_slice(format!("event: {kind}\n").as_bytes()),
            }
            out.extend_from_slice(format!("data: {}\n\n", Value::Object(json)).as_bytes());
        }
    }

    fn ids_dialect(&self) -> Dialect {
        match self.ids {
            Ids::Chat { .. } => Dialect::Chat,
            Ids::Messages { .. } => Dialect::Messages,
            Ids::Responses { .. } => Dialect::Responses,
        }
    }

    /// Removes the leading whitespace of the continuation's first text, while asked to.
    fn trimmed(&mut self, text: &mut Value) {
        if !self.trim_lead {
            return;
        }
        if let Some(s) = text.as_str() {
            let kept = s.trim_start();
            if !kept.is_empty() {
                self.trim_lead = false;
            }
            *text = Value::String(kept.to_string());
        }
    }

    fn chat(&mut self, mut chunk: Map<String, Value>) -> Option<Map<String, Value>> {
        let Ids::Chat { id, created, model } = &self.ids else {
            return Some(chunk);
        };
        if chunk.contains_key("error") {
            return Some(chunk);
        }
        for (field, value) in [("id", id), ("created", created), ("model", model)] {
            if !value.is_null() {
                chunk.insert(field.into(), value.clone());
            }
        }
        let mut carries = false;
        if let Some(Value::Array(choices)) = chunk.get_mut("choices") {
            for choice in choices.iter_mut() {
                if let Some(Value::Object(delta)) = choice.get_mut("delta") {
                    delta.remove("role");
                }
                if let Some(content) = choice.pointer_mut("/delta/content") {
                    self.trimmed(content);
                } else if let Some(text) = choice.get_mut("text") {
                    self.trimmed(text);
                }
                let delta_carries = choice["delta"]
                    .as_object()
                    .is_some_and(|d| d.values().any(|v| !(v.is_null() || v.as_str() == Some(""))));
                carries |= delta_carries
                    || choice["text"].as_str().is_some_and(|t| !t.is_empty())
                    || !choice["finish_reason"].is_null();
            }
        }
        if let Some(usage) = chunk.get_mut("usage").filter(|u| u.is_object()) {
            add_usage(usage, self.carried, "prompt_tokens", "completion_tokens");
            carries = true;
        }
        // A chunk left with nothing (the continuation's role-only opening) is not sent.
        carries.then_some(chunk)
    }

    fn messages(&mut self, mut event: Map<String, Value>) -> Vec<Map<String, Value>> {
        let Ids::Messages { open, next } = self.ids else {
            return vec![event];
        };
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let index = |event: &Map<String, Value>| event.get("index").and_then(Value::as_u64);
        let mut out = Vec::new();
        match kind.as_str() {
            "message_start" => return out,
            "content_block_start" => {
                let i = index(&event).unwrap_or(0);
                if i == 0 && open.is_some() && event["content_block"]["type"] == "text" {
                    self.merged = true;
                    return out;
                }
                if let Some(open) = open.filter(|_| !self.closed_open) {
                    self.closed_open = true;
                    let mut stop = Map::new();
                    stop.insert("type".into(), json!("content_block_stop"));
                    stop.insert("index".into(), json!(open));
                    out.push(stop);
                }
            }
            // The continuation closes the block it merged into.
            "content_block_stop" if self.merged && index(&event) == Some(0) => {
                self.closed_open = true;
            }
            "message_delta" => {
                if let Some(usage) = event.get_mut("usage").filter(|u| u.is_object()) {
                    let output = usage["output_tokens"].as_u64().unwrap_or(0);
                    usage["output_tokens"] = json!(output + self.carried.completion_tokens);
                }
            }
            _ => {}
        }
        if let Some(i) = index(&event) {
            let base = match open {
                Some(open) if self.merged => open,
                _ => next,
            };
            event.insert("index".into(), json!(base + i));
            if i == 0
                && self.merged
                && let Some(text) = event.get_mut("delta").and_then(|d| d.get_mut("text"))
            {
                self.trimmed(text);
            }
        }
        out.push(event);
        out
    }

    fn responses(&mut self, mut event: Map<String, Value>) -> Option<Map<String, Value>> {
        let Ids::Responses {
            id,
            created_at,
            item_id,
            output_index,
            content_index,
            part_text,
            next_sequence,
        } = &mut self.ids
        else {
            return Some(event);
        };
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let first_item = event.get("output_index").and_then(Value::as_u64) == Some(0);
        let first_part =
            first_item && event.get("content_index").and_then(Value::as_u64) == Some(0);
        match kind.as_str() {
            "response.created" | "response.in_progress" => return None,
            "response.output_item.added" if first_item && event["item"]["type"] == "message" => {
                return None;
            }
            "response.content_part.added" if first_part => return None,
            "response.output_text.done" if first_part => {
                prefix_text(event.get_mut("text"), part_text);
            }
            "response.content_part.done" if first_part => {
                prefix_text(
                    event.get_mut("part").and_then(|p| p.get_mut("text")),
                    part_text,
                );
            }
            "response.output_item.done" if first_item => {
                if let Some(item) = event.get_mut("item") {
                    continue_item(item, item_id, part_text);
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                if let Some(response) = event.get_mut("response") {
                    response["id"] = id.clone();
                    if !created_at.is_null() {
                        response["created_at"] = created_at.clone();
                    }
                    if let Some(Value::Array(output)) = response.get_mut("output")
                        && let Some(item) = output.first_mut().filter(|i| i["type"] == "message")
                    {
                        continue_item(item, item_id, part_text);
                    }
                    if let Some(usage) = response.get_mut("usage").filter(|u| u.is_object()) {
                        add_usage(usage, self.carried, "input_tokens", "output_tokens");
                    }
                }
            }
            _ => {}
        }
        if let Some(index) = event.get("output_index").and_then(Value::as_u64) {
            event.insert("output_index".into(), json!(*output_index + index));
            if index == 0 {
                if event.contains_key("item_id") {
                    event.insert("item_id".into(), item_id.clone());
                }
                if let Some(c) = event.get("content_index").and_then(Value::as_u64) {
                    event.insert("content_index".into(), json!(*content_index + c));
                }
            }
        }
        if event.contains_key("sequence_number") {
            event.insert("sequence_number".into(), json!(*next_sequence));
            *next_sequence += 1;
        }
        let trim = kind == "response.output_text.delta" && first_part;
        if trim && let Some(delta) = event.get_mut("delta") {
            self.trimmed(delta);
        }
        Some(event)
    }
}

/// `prefix` before the text at `text`.
fn prefix_text(text: Option<&mut Value>, prefix: &str) {
    if let Some(text) = text
        && let Some(rest) = text.as_str()
    {
        *text = Value::String(format!("{prefix}{rest}"));
    }
}

/// The continuation's message item as the first answer's: its id, and its first part's text
/// whole.
fn continue_item(item: &mut Value, item_id: &Value, part_text: &str) {
    if !item_id.is_null() {
        item["id"] = item_id.clone();
    }
    prefix_text(item.pointer_mut("/content/0/text"), part_text);
}

/// Adds the broken attempts' tokens to a usage object, and its total.
fn add_usage(usage: &mut Value, carried: Usage, prompt: &str, completion: &str) {
    let n = |usage: &Value, field: &str| usage[field].as_u64().unwrap_or(0);
    let prompt_tokens = n(usage, prompt) + carried.prompt_tokens;
    let completion_tokens = n(usage, completion) + carried.completion_tokens;
    usage[prompt] = json!(prompt_tokens);
    usage[completion] = json!(completion_tokens);
    if usage.get("total_tokens").is_some() {
        usage["total_tokens"] = json!(prompt_tokens + completion_tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_chunk(delta: &Value, finish: &Value) -> String {
        let chunk = json!({ "id": "c-first", "object": "chat.completion.chunk", "created": 7,
            "model": "m", "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
        format!("data: {chunk}\n\n")
    }

    fn texts(bytes: &[u8], pointer: &str) -> String {
        payloads(bytes)
            .filter_map(|p| {
                p.pointer(pointer)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    }

    #[test]
    fn a_chat_continuation_keeps_the_first_id_drops_its_role_and_sums_usage() {
        let sent = [
            chat_chunk(&json!({ "role": "assistant", "content": "" }), &Value::Null),
            chat_chunk(&json!({ "content": "The quick " }), &Value::Null),
        ]
        .concat();
        let transcript = Transcript::read(Dialect::Chat, sent.as_bytes()).expect("continuable");
        assert_eq!(transcript.text, "The quick ");
        let carried = Usage {
            prompt_tokens: 10,
            completion_tokens: 3,
            cached_tokens: 0,
        };
        let mut splicer = Splicer::new(transcript, carried, true);
        let second = |delta: Value, finish: Value| {
            let chunk = json!({ "id": "c-second", "created": 9, "model": "other",
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
            format!("data: {chunk}\n\n")
        };
        let usage = json!({ "id": "c-second", "choices": [],
            "usage": { "prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24 } });
        let continuation = [
            second(json!({ "role": "assistant", "content": "" }), Value::Null),
            second(json!({ "content": " brown" }), Value::Null),
            second(json!({ "content": " fox" }), Value::Null),
            second(json!({}), json!("stop")),
            format!("data: {usage}\n\n"),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        let out = splicer.push(continuation.as_bytes());
        let events: Vec<Value> = payloads(&out).collect();
        assert_eq!(events.len(), 4, "the role-only chunk is gone: {events:?}");
        assert!(
            events
                .iter()
                .all(|e| e["id"] == "c-first" && e["created"] == 7)
        );
        assert_eq!(texts(&out, "/choices/0/delta/content"), "brown fox");
        assert_eq!(events[3]["usage"]["prompt_tokens"], 30);
        assert_eq!(events[3]["usage"]["completion_tokens"], 7);
        assert_eq!(events[3]["usage"]["total_tokens"], 37);
        assert!(out.ends_with(b"data: [DONE]\n\n"));
    }

    #[test]
    fn tool_calls_or_a_finished_answer_are_not_continued() {
        let tool = chat_chunk(
            &json!({ "tool_calls": [{ "index": 0, "id": "call_1", "function": { "name": "f" } }] }),
            &Value::Null,
        );
        let text = chat_chunk(&json!({ "content": "Hi" }), &Value::Null);
        assert_eq!(
            Transcript::read(Dialect::Chat, format!("{text}{tool}").as_bytes()),
            None
        );
        let tool_use = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n";
        assert_eq!(
            Transcript::read(Dialect::Messages, tool_use.as_bytes()),
            None
        );
        let empty_calls = chat_chunk(&json!({ "content": "Hi", "tool_calls": [] }), &Value::Null);
        assert!(
            Transcript::read(Dialect::Chat, empty_calls.as_bytes()).is_some(),
            "an empty tool_calls list is no tool call"
        );
        let role_only = chat_chunk(&json!({ "role": "assistant" }), &Value::Null);
        assert_eq!(
            Transcript::read(Dialect::Chat, role_only.as_bytes()),
            None,
            "no text, nothing to go on from"
        );
    }

    fn event(data: &Value) -> String {
        let kind = data["type"].as_str().unwrap_or_default();
        format!("event: {kind}\ndata: {data}\n\n")
    }

    #[test]
    fn a_messages_continuation_goes_on_in_the_open_text_block() {
        let sent = [
            event(&json!({ "type": "message_start", "message": { "id": "msg_first", "usage": { "input_tokens": 5, "output_tokens": 1 } } })),
            event(&json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } })),
            event(&json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "One two" } })),
        ]
        .concat();
        let transcript = Transcript::read(Dialect::Messages, sent.as_bytes()).expect("text");
        assert_eq!(transcript.text, "One two");
        let carried = Usage {
            prompt_tokens: 5,
            completion_tokens: 2,
            cached_tokens: 0,
        };
        let mut splicer = Splicer::new(transcript, carried, false);
        let continuation = [
            event(&json!({ "type": "message_start", "message": { "id": "msg_second" } })),
            event(&json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } })),
            event(&json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": " three" } })),
            event(&json!({ "type": "content_block_stop", "index": 0 })),
            event(&json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "text", "text": "" } })),
            event(&json!({ "type": "content_block_stop", "index": 1 })),
            event(&json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn" }, "usage": { "output_tokens": 4 } })),
            event(&json!({ "type": "message_stop" })),
        ]
        .concat();
        let out = splicer.push(continuation.as_bytes());
        let kinds: Vec<String> = payloads(&out)
            .map(|e| format!("{}{}", e["type"].as_str().unwrap_or_default(), e["index"]))
            .collect();
        assert_eq!(
            kinds,
            [
                "content_block_delta0",
                "content_block_stop0",
                "content_block_start1",
                "content_block_stop1",
                "message_deltanull",
                "message_stopnull"
            ]
        );
        let delta = payloads(&out)
            .find(|e| e["type"] == "message_delta")
            .expect("delta");
        assert_eq!(delta["usage"]["output_tokens"], 6);
        assert!(
            std::str::from_utf8(&out)
                .expect("utf8")
                .starts_with("event: content_block_delta\n")
        );
    }

    #[test]
    fn a_responses_continuation_keeps_the_item_renumbers_and_repeats_the_whole_text() {
        let sent = [
            event(&json!({ "type": "response.created", "sequence_number": 0, "response": { "id": "resp_first", "created_at": 5 } })),
            event(&json!({ "type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": { "type": "message", "id": "msg_first" } })),
            event(&json!({ "type": "response.content_part.added", "sequence_number": 2, "output_index": 0, "content_index": 0, "item_id": "msg_first", "part": { "type": "output_text", "text": "" } })),
            event(&json!({ "type": "response.output_text.delta", "sequence_number": 3, "output_index": 0, "content_index": 0, "item_id": "msg_first", "delta": "Once upon" })),
        ]
        .concat();
        let transcript = Transcript::read(Dialect::Responses, sent.as_bytes()).expect("text");
        let mut splicer = Splicer::new(transcript, Usage::default(), false);
        let message = json!({ "type": "message", "id": "msg_second", "content": [{ "type": "output_text", "text": " a time" }] });
        let continuation = [
            event(&json!({ "type": "response.created", "sequence_number": 0, "response": { "id": "resp_second" } })),
            event(&json!({ "type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": { "type": "message", "id": "msg_second" } })),
            event(&json!({ "type": "response.output_text.delta", "sequence_number": 2, "output_index": 0, "content_index": 0, "item_id": "msg_second", "delta": " a time" })),
            event(&json!({ "type": "response.output_text.done", "sequence_number": 3, "output_index": 0, "content_index": 0, "item_id": "msg_second", "text": " a time" })),
            event(&json!({ "type": "response.completed", "sequence_number": 4, "response": { "id": "resp_second", "output": [message], "usage": { "input_tokens": 3, "output_tokens": 2, "total_tokens": 5 } } })),
        ]
        .concat();
        let out = splicer.push(continuation.as_bytes());
        let events: Vec<Value> = payloads(&out).collect();
        assert_eq!(events.len(), 3, "{events:?}");
        let numbers: Vec<u64> = events
            .iter()
            .filter_map(|e| e["sequence_number"].as_u64())
            .collect();
        assert_eq!(numbers, [4, 5, 6]);
        assert_eq!(events[0]["item_id"], "msg_first");
        assert_eq!(events[1]["text"], "Once upon a time");
        let response = &events[2]["response"];
        assert_eq!(response["id"], "resp_first");
        assert_eq!(response["created_at"], 5);
        assert_eq!(response["output"][0]["id"], "msg_first");
        assert_eq!(
            response["output"][0]["content"][0]["text"],
            "Once upon a time"
        );
    }
}
