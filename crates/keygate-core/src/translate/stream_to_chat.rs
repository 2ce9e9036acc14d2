//! Anthropic Messages stream events → OpenAI `chat.completion.chunk` stream.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::content::{kind_of, non_empty_str};
use super::error::{TranslateError, upstream_error_from};
use super::response::finish_reason_for;
use super::sse::{CHAT_DONE, SseDecoder, SseEvent, write_data_event};
use super::usage::StreamUsage;

/// What an Anthropic content block index turned into on the OpenAI side.
#[derive(Debug, Clone, PartialEq)]
enum Block {
    Text,
    Tool {
        call: u64,
        sent_arguments: bool,
        input: Value,
    },
    /// Thinking: chat completions has no place for it.
    Dropped,
}

/// Translates an Anthropic Messages stream into OpenAI chat completion chunks, ending with a
/// usage chunk (`choices: []`) and `data: [DONE]`.
///
/// When `push` or `finish` fails, [`MessagesStreamToChat::take_output`] returns the complete
/// chunks translated before the failure; send them before your error chunk.
#[derive(Debug)]
pub struct MessagesStreamToChat {
    model: String,
    created: i64,
    decoder: SseDecoder,
    /// Set by `message_start`; nothing is written before it.
    id: Option<String>,
    blocks: HashMap<u64, Block>,
    next_call: u64,
    finish_reason: Option<&'static str>,
    usage: StreamUsage,
    completed: bool,
    out: Vec<u8>,
}

impl MessagesStreamToChat {
    /// `model` is the name every chunk reports: the one the client asked for. `created` is 0.
    pub fn new(model: &str) -> Self {
        Self::with_created(model, 0)
    }

    /// Like [`Self::new`], with the chunks' `created` timestamp (Unix seconds) supplied by the
    /// caller, since this crate reads no clock.
    pub fn with_created(model: &str, created_unix: i64) -> Self {
        Self {
            model: model.to_owned(),
            created: created_unix,
            decoder: SseDecoder::default(),
            id: None,
            blocks: HashMap::new(),
            next_call: 0,
            finish_reason: None,
            usage: StreamUsage::default(),
            completed: false,
            out: Vec::new(),
        }
    }

    /// Feeds upstream bytes, cut anywhere; returns the complete chunks they finished.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, TranslateError> {
        let events = self.decoder.push(bytes)?;
        self.handle(events)?;
        Ok(std::mem::take(&mut self.out))
    }

    /// Call when the upstream closes. Errs if it never sent `message_stop`.
    pub fn finish(&mut self) -> Result<Vec<u8>, TranslateError> {
        match self.decoder.finish().and_then(|events| self.handle(events)) {
            // A stream cut mid-event: that event never arrived; the check below decides.
            Err(TranslateError::MalformedStream(_)) | Ok(()) => {}
            Err(other) => return Err(other),
        }
        if !self.completed {
            return Err(TranslateError::StreamIncomplete {
                expected: "message_stop",
            });
        }
        Ok(std::mem::take(&mut self.out))
    }

    /// Usage as reported so far; final once [`Self::completed`] is true.
    pub fn usage(&self) -> StreamUsage {
        self.usage
    }

    /// Whether `data: [DONE]` has been emitted.
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// Chunks translated before an error that `push`/`finish` could not return.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn handle(&mut self, events: Vec<SseEvent>) -> Result<(), TranslateError> {
        events.into_iter().try_for_each(|event| self.event(&event))
    }

    fn event(&mut self, event: &SseEvent) -> Result<(), TranslateError> {
        let name = event.event.as_deref().unwrap_or("");
        let data: Value = serde_json::from_str(&event.data).map_err(|e| {
            let preview: String = event.data.chars().take(80).collect();
            TranslateError::MalformedStream(format!(
                "invalid JSON in {name:?} event ({e}): {preview}"
            ))
        })?;
        // The data's own `type` is authoritative; the `event:` line is a routing hint.
        let kind = match kind_of(&data) {
            "" => name,
            kind => kind,
        };
        if kind == "error" || name == "error" {
            return Err(upstream_error_from(data.get("error").unwrap_or(&data)));
        }
        if self.completed {
            return Ok(());
        }
        match kind {
            "message_start" => self.start(&data),
            "content_block_start" => self.block_start(&data),
            "content_block_delta" => self.block_delta(&data),
            "content_block_stop" => self.block_stop(&data),
            "message_delta" => {
                self.require_started(kind)?;
                if let Some(usage) = data.get("usage") {
                    self.usage.update_from_anthropic(usage);
                }
                let reason =
                    finish_reason_for(data.pointer("/delta/stop_reason").and_then(Value::as_str));
                self.finish_reason = Some(reason);
                self.chunk(json!({}), Some(reason));
                Ok(())
            }
            "message_stop" => {
                self.require_started(kind)?;
                if self.finish_reason.is_none() {
                    self.finish_reason = Some("stop");
                    self.chunk(json!({}), Some("stop"));
                }
                let usage = json!({
                    "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.model, "choices": [], "usage": self.usage.to_chat(),
                });
                write_data_event(&mut self.out, &usage);
                self.out.extend_from_slice(CHAT_DONE);
                self.completed = true;
                Ok(())
            }
            // `ping`, and event types Anthropic may add later, which its docs ask clients to skip.
            _ => Ok(()),
        }
    }

    fn require_started(&self, kind: &str) -> Result<(), TranslateError> {
        if self.id.is_some() {
            Ok(())
        } else {
            Err(TranslateError::MalformedStream(format!(
                "{kind} arrived before message_start"
            )))
        }
    }

    fn start(&mut self, data: &Value) -> Result<(), TranslateError> {
        let message = data.get("message").unwrap_or(&Value::Null);
        let id = non_empty_str(message, "id").unwrap_or("unknown");
        self.id = Some(format!("chatcmpl-{id}"));
        if let Some(usage) = message.get("usage") {
            self.usage.update_from_anthropic(usage);
        }
        self.chunk(json!({"role": "assistant", "content": ""}), None);
        Ok(())
    }

    fn block_start(&mut self, data: &Value) -> Result<(), TranslateError> {
        self.require_started("content_block_start")?;
        let index = block_index(data)?;
        let block = data.get("content_block").unwrap_or(&Value::Null);
        let translated = match kind_of(block) {
            "text" => {
                if let Some(text) = non_empty_str(block, "text") {
                    self.chunk(json!({"content": text}), None);
                }
                Block::Text
            }
            "tool_use" => {
                let call = self.next_call;
                self.next_call += 1;
                let id = block.get("id").and_then(Value::as_str).unwrap_or("");
                let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                let start = json!({"index": call, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
                self.chunk(json!({"tool_calls": [start]}), None);
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                Block::Tool {
                    call,
                    sent_arguments: false,
                    input,
                }
            }
            "thinking" | "redacted_thinking" => Block::Dropped,
            other => {
                return Err(TranslateError::MalformedStream(format!(
                    "content block type {other:?} has no OpenAI chat equivalent"
                )));
            }
        };
        self.blocks.insert(index, translated);
        Ok(())
    }

    fn block_delta(&mut self, data: &Value) -> Result<(), TranslateError> {
        let index = block_index(data)?;
        let delta = data.get("delta").unwrap_or(&Value::Null);
        let chunk_delta = match (self.blocks.get_mut(&index), kind_of(delta)) {
            (None, _) => {
                return Err(TranslateError::MalformedStream(format!(
                    "content_block_delta for block {index}, which was never started"
                )));
            }
            (Some(Block::Text), "text_delta") => match non_empty_str(delta, "text") {
                Some(text) => json!({"content": text}),
                None => return Ok(()),
            },
            (
                Some(Block::Tool {
                    call,
                    sent_arguments,
                    ..
                }),
                "input_json_delta",
            ) => match non_empty_str(delta, "partial_json") {
                Some(fragment) => {
                    *sent_arguments = true;
                    json!({"tool_calls": [{"index": *call, "function": {"arguments": fragment}}]})
                }
                None => return Ok(()),
            },
            // Thinking and signature deltas, and citation metadata, which has no chat field;
            // cited text itself arrives as text_delta.
            _ => return Ok(()),
        };
        self.chunk(chunk_delta, None);
        Ok(())
    }

    /// A tool call whose input never streamed (a tool without parameters) still needs
    /// arguments a client can parse.
    fn block_stop(&mut self, data: &Value) -> Result<(), TranslateError> {
        let index = block_index(data)?;
        if let Some(Block::Tool {
            call,
            sent_arguments: false,
            input,
        }) = self.blocks.get(&index)
        {
            let arguments = match input {
                Value::Object(fields) if !fields.is_empty() => input.to_string(),
                _ => "{}".to_owned(),
            };
            let delta =
                json!({"tool_calls": [{"index": *call, "function": {"arguments": arguments}}]});
            self.chunk(delta, None);
        }
        Ok(())
    }

    fn chunk(&mut self, delta: Value, finish_reason: Option<&str>) {
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        write_data_event(&mut self.out, &chunk);
    }
}

fn block_index(data: &Value) -> Result<u64, TranslateError> {
    data.get("index").and_then(Value::as_u64).ok_or_else(|| {
        TranslateError::MalformedStream(format!("{} without an index", kind_of(data)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::test_streams::{
        ARGUMENTS, anthropic_frame, anthropic_text_then_tool_stream, feed, parsed_events,
    };

    fn translate(stream: &str, piece_size: usize) -> (Vec<u8>, MessagesStreamToChat) {
        let mut translator = MessagesStreamToChat::with_created("gpt-via-claude", 1_700_000_000);
        let mut out = feed(
            |bytes| translator.push(bytes),
            stream.as_bytes(),
            piece_size,
        );
        out.extend(translator.finish().expect("finish"));
        (out, translator)
    }

    /// The data of every emitted chunk, `[DONE]` as the string "[DONE]".
    fn chunks(bytes: &[u8]) -> Vec<Value> {
        parsed_events(bytes)
            .into_iter()
            .map(|(_, data)| data)
            .collect()
    }

    fn deltas(chunks: &[Value]) -> Vec<&Value> {
        chunks
            .iter()
            .filter_map(|c| c["choices"].get(0))
            .map(|c| &c["delta"])
            .collect()
    }

    #[test]
    fn text_and_tool_use_stream_becomes_chunks_ending_in_usage_and_done() {
        let stream = anthropic_text_then_tool_stream();
        let (whole, translator) = translate(&stream, stream.len());
        for piece_size in [1, 7] {
            assert_eq!(
                translate(&stream, piece_size).0,
                whole,
                "fed {piece_size} bytes at a time"
            );
        }
        assert!(translator.completed());

        let chunks = chunks(&whole);
        let (done, chunks) = chunks.split_last().expect("chunks");
        assert_eq!(done, &json!("[DONE]"));
        for chunk in chunks {
            assert_eq!(chunk["id"], json!("chatcmpl-msg_01"));
            assert_eq!(chunk["object"], json!("chat.completion.chunk"));
            assert_eq!(chunk["created"], json!(1_700_000_000));
            assert_eq!(chunk["model"], json!("gpt-via-claude"));
        }
        let deltas = deltas(chunks);
        assert_eq!(deltas[0], &json!({"role": "assistant", "content": ""}));
        let text: String = deltas
            .iter()
            .filter_map(|d| d["content"].as_str())
            .collect();
        assert_eq!(text, "Let me check — ☀️", "thinking is dropped");
        let calls: Vec<&Value> = deltas
            .iter()
            .filter_map(|d| d["tool_calls"].get(0))
            .collect();
        let first = json!({"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": ""}});
        assert_eq!(calls[0], &first);
        let arguments: String = calls
            .iter()
            .filter_map(|c| c["function"]["arguments"].as_str())
            .collect();
        assert_eq!(arguments, ARGUMENTS);

        let (usage, rest) = chunks.split_last().expect("usage chunk");
        assert_eq!(
            rest.last().map(|c| &c["choices"][0]["finish_reason"]),
            Some(&json!("tool_calls"))
        );
        assert_eq!(usage["choices"], json!([]));
        let expected = json!({"prompt_tokens": 130, "completion_tokens": 42, "total_tokens": 172,
                              "prompt_tokens_details": {"cached_tokens": 100}});
        assert_eq!(usage["usage"], expected);
        let usage = StreamUsage {
            input_tokens: 10,
            output_tokens: 42,
            cached_input_tokens: 100,
            cache_creation_input_tokens: 20,
        };
        assert_eq!(translator.usage(), usage);
    }

    #[test]
    fn tool_without_streamed_input_gets_parseable_arguments() {
        let block = json!({"type": "tool_use", "id": "t", "name": "now", "input": {}});
        let stream = [
            json!({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": block}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}),
            json!({"type": "message_stop"}),
        ]
        .map(anthropic_frame)
        .concat();
        let chunks = chunks(&translate(&stream, 4).0);
        let deltas = deltas(&chunks);
        let arguments: String = deltas
            .iter()
            .filter_map(|d| d["tool_calls"].get(0)?["function"]["arguments"].as_str())
            .collect();
        assert_eq!(arguments, "{}");
        assert!(
            chunks
                .iter()
                .any(|c| c["choices"][0]["finish_reason"] == json!("stop"))
        );
    }

    #[test]
    fn anthropic_error_frame_keeps_its_type_and_message() {
        let stream = anthropic_text_then_tool_stream();
        let cut = stream
            .find("event: content_block_start")
            .expect("block start");
        let mut translator = MessagesStreamToChat::new("m");
        translator.push(&stream.as_bytes()[..cut]).expect("push");
        let frame = "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
        let err = translator.push(frame.as_bytes()).expect_err("error frame");
        let expected = TranslateError::Upstream {
            error_type: "overloaded_error".into(),
            message: "Overloaded".into(),
        };
        assert_eq!(err, expected);
        assert_eq!(
            err.to_string(),
            "upstream error (overloaded_error): Overloaded"
        );
    }

    #[test]
    fn malformed_upstream_event_is_an_error() {
        let mut translator = MessagesStreamToChat::new("m");
        let err = translator
            .push(b"event: message_start\ndata: {\"type\": \"message_start\", \n\n")
            .expect_err("bad JSON");
        assert!(
            err.to_string()
                .starts_with("upstream stream: invalid JSON in \"message_start\" event"),
            "{err}"
        );
        let delta =
            anthropic_frame(json!({"type": "content_block_delta", "index": 0, "delta": {}}));
        let out_of_order = MessagesStreamToChat::new("m")
            .push(delta.as_bytes())
            .expect_err("no message_start");
        assert_eq!(
            out_of_order.to_string(),
            "upstream stream: content_block_delta for block 0, which was never started"
        );
    }

    #[test]
    fn stream_cut_before_message_stop_is_a_failure() {
        let stream = anthropic_text_then_tool_stream();
        let cut = stream.find("event: message_delta").expect("message_delta") + 10;
        let mut translator = MessagesStreamToChat::new("m");
        let sent = translator.push(&stream.as_bytes()[..cut]).expect("push");
        assert_eq!(
            translator.finish(),
            Err(TranslateError::StreamIncomplete {
                expected: "message_stop"
            })
        );
        assert!(!translator.completed());
        let sent = chunks(&sent);
        assert!(
            !sent.contains(&json!("[DONE]")),
            "no [DONE] for an incomplete answer"
        );
        assert!(
            sent.iter()
                .all(|c| c["choices"][0]["finish_reason"].is_null())
        );
    }
}
