//! OpenAI `chat.completion.chunk` stream → Anthropic Messages stream events.

use serde_json::Value;

use super::chat_chunks::{Chunk, NO_FINISH_REASON, chunk, drain, first_choices};
use super::content::non_empty_str;
use super::error::TranslateError;
use super::message_events::MessageEvents;
use super::response::stop_reason_for;
use super::sse::{SseDecoder, SseEvent};
use super::usage::StreamUsage;

/// Translates an OpenAI chat completion stream into Anthropic Messages SSE events.
///
/// `message_delta` and `message_stop` wait for the usage chunk OpenAI sends after the
/// `finish_reason` chunk (or for `[DONE]`), so the usage they carry is final. A stream whose
/// `finish_reason` arrived but that closed without `[DONE]` still counts as complete: the answer
/// is whole, and some OpenAI-compatible servers never send `[DONE]`.
///
/// When `push` or `finish` fails, [`ChatStreamToMessages::take_output`] returns the complete
/// events translated before the failure; send them before your error event.
#[derive(Debug)]
pub struct ChatStreamToMessages {
    model: String,
    decoder: SseDecoder,
    events: MessageEvents,
    /// Set once `message_start` is written.
    message_id: Option<String>,
    saw_tool_call: bool,
    stop_reason: Option<&'static str>,
    usage: StreamUsage,
    completed: bool,
}

impl ChatStreamToMessages {
    /// `model` is the name reported in `message_start`: the one the client asked for.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            decoder: SseDecoder::default(),
            events: MessageEvents::default(),
            message_id: None,
            saw_tool_call: false,
            stop_reason: None,
            usage: StreamUsage::default(),
            completed: false,
        }
    }

    /// Feeds upstream bytes, cut anywhere; returns the complete Anthropic events they finished.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, TranslateError> {
        let events = self.decoder.push(bytes)?;
        self.handle(events)?;
        Ok(self.events.take())
    }

    /// Call when the upstream closes. Errs if it never sent a `finish_reason`.
    pub fn finish(&mut self) -> Result<Vec<u8>, TranslateError> {
        let mut decoder = std::mem::take(&mut self.decoder);
        drain(&mut decoder, |event| self.event(event))?;
        if !self.completed {
            if self.stop_reason.is_none() {
                return Err(NO_FINISH_REASON);
            }
            self.end();
        }
        Ok(self.events.take())
    }

    /// Usage as reported so far; final once [`Self::completed`] is true.
    pub fn usage(&self) -> StreamUsage {
        self.usage
    }

    /// Whether `message_stop` has been emitted.
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// Events translated before an error that `push`/`finish` could not return.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.events.take()
    }

    fn handle(&mut self, events: Vec<SseEvent>) -> Result<(), TranslateError> {
        events.into_iter().try_for_each(|event| self.event(&event))
    }

    fn event(&mut self, event: &SseEvent) -> Result<(), TranslateError> {
        let chunk = match chunk(event)? {
            Chunk::Done => {
                if self.stop_reason.is_some() && !self.completed {
                    self.end();
                }
                return Ok(());
            }
            Chunk::Nothing => return Ok(()),
            Chunk::Data(chunk) => chunk,
        };
        if self.completed {
            return Ok(());
        }
        let usage = chunk.get("usage").filter(|u| u.is_object());
        if let Some(usage) = usage {
            self.usage = StreamUsage::from_chat(usage);
        }
        if self.message_id.is_none() {
            let id = format!("msg_{}", non_empty_str(&chunk, "id").unwrap_or("unknown"));
            self.events.start(&id, &self.model, self.usage);
            self.message_id = Some(id);
        }
        for choice in first_choices(&chunk) {
            self.choice(choice)?;
        }
        if usage.is_some() && self.stop_reason.is_some() {
            self.end();
        }
        Ok(())
    }

    fn choice(&mut self, choice: &Value) -> Result<(), TranslateError> {
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        // `reasoning_content` is dropped: Anthropic thinking blocks need a signature only
        // Anthropic can make, and clients reject unsigned ones.
        for key in ["content", "refusal"] {
            if let Some(text) = non_empty_str(delta, key) {
                self.events.text(text);
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                self.tool_call(call, position as u64)?;
            }
        }
        if let Some(reason) = non_empty_str(choice, "finish_reason") {
            self.events.close_block();
            self.stop_reason = Some(stop_reason_for(Some(reason)));
        }
        Ok(())
    }

    fn tool_call(&mut self, call: &Value, position: u64) -> Result<(), TranslateError> {
        // Some servers leave out `index` when they send each call whole.
        let call_index = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position);
        let function = call.get("function").unwrap_or(&Value::Null);
        if !self.events.is_open_call(call_index) {
            let name = non_empty_str(function, "name").ok_or_else(|| {
                TranslateError::MalformedStream(format!(
                    "tool call {call_index} started without a function name"
                ))
            })?;
            let id = match non_empty_str(call, "id") {
                Some(id) => id.to_owned(),
                None => format!(
                    "toolu_{}_{call_index}",
                    self.message_id.as_deref().unwrap_or_default()
                ),
            };
            self.events.start_tool(call_index, &id, name)?;
            self.saw_tool_call = true;
        }
        if let Some(fragment) = non_empty_str(function, "arguments") {
            self.events.tool_arguments(fragment);
        }
        Ok(())
    }

    fn end(&mut self) {
        let mut stop_reason = self.stop_reason.unwrap_or("end_turn");
        // Some OpenAI-compatible servers answer tool calls with finish_reason "stop"; Anthropic
        // clients only run tools on "tool_use".
        if self.saw_tool_call && stop_reason == "end_turn" {
            stop_reason = "tool_use";
        }
        self.events.end(stop_reason, self.usage);
        self.completed = true;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::translate::test_streams::{ARGUMENTS, feed, openai_tool_call_stream, parsed_events};

    fn translate(stream: &str, piece_size: usize) -> (Vec<u8>, ChatStreamToMessages) {
        let mut translator = ChatStreamToMessages::new("claude-via-gpt");
        let mut out = feed(
            |bytes| translator.push(bytes),
            stream.as_bytes(),
            piece_size,
        );
        out.extend(translator.finish().expect("finish"));
        (out, translator)
    }

    fn names(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[test]
    fn tool_call_arguments_split_across_chunks_arrive_intact() {
        let stream = openai_tool_call_stream();
        let (whole, translator) = translate(&stream, stream.len());
        for piece_size in [1, 7] {
            assert_eq!(
                translate(&stream, piece_size).0,
                whole,
                "fed {piece_size} bytes at a time"
            );
        }
        assert!(translator.completed());

        let events = parsed_events(&whole);
        #[rustfmt::skip]
        let expected = [
            "message_start",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
            "message_delta", "message_stop",
        ];
        assert_eq!(names(&events), expected);
        for (name, data) in &events {
            assert_eq!(data["type"], json!(name), "event name matches data type");
        }
        let start = &events[0].1["message"];
        assert_eq!(start["id"], json!("msg_chatcmpl-9x"));
        assert_eq!(start["model"], json!("claude-via-gpt"));
        let text: String = events
            .iter()
            .filter_map(|(_, d)| d["delta"]["text"].as_str())
            .collect();
        assert_eq!(text, "Let me check — ☀️?");
        assert_eq!(events[5].1["index"], json!(1));
        assert_eq!(
            events[5].1["content_block"],
            json!({"type": "tool_use", "id": "call_abc", "name": "weather", "input": {}})
        );
        let arguments: String = events
            .iter()
            .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
            .collect();
        assert_eq!(arguments, ARGUMENTS);
        let message_delta = &events[10].1;
        assert_eq!(
            message_delta["delta"],
            json!({"stop_reason": "tool_use", "stop_sequence": null})
        );
        assert_eq!(
            message_delta["usage"],
            json!({"input_tokens": 30, "output_tokens": 20, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0})
        );
        let usage = StreamUsage {
            input_tokens: 30,
            output_tokens: 20,
            cached_input_tokens: 100,
            cache_creation_input_tokens: 0,
        };
        assert_eq!(translator.usage(), usage);
    }

    #[test]
    fn message_end_waits_for_the_usage_chunk() {
        let stream = openai_tool_call_stream();
        let usage_at = stream.find("\"choices\":[]").expect("usage chunk");
        let mut translator = ChatStreamToMessages::new("m");
        let before = parsed_events(
            &translator
                .push(&stream.as_bytes()[..usage_at])
                .expect("push"),
        );
        assert!(!names(&before).contains(&"message_delta"));
        assert!(!translator.completed());
        translator
            .push(&stream.as_bytes()[usage_at..])
            .expect("push");
        assert!(translator.completed());
    }

    #[test]
    fn finish_reason_ends_the_message_with_or_without_done() {
        let chunk = |delta: &str, finish: &str| {
            format!(
                "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\r\n\r\n"
            )
        };
        let body = format!(
            ": keep-alive\r\n\r\n{}{}",
            chunk("{\"content\":\"Hi\"}", "null"),
            chunk("{}", "\"length\"")
        );
        for stream in [format!("{body}data: [DONE]\r\n\r\n"), body] {
            let events = parsed_events(&translate(&stream, 5).0);
            let tail = &events[events.len() - 2..];
            assert_eq!(names(tail), ["message_delta", "message_stop"]);
            assert_eq!(tail[0].1["delta"]["stop_reason"], json!("max_tokens"));
        }
    }

    #[test]
    fn parallel_tool_calls_become_consecutive_blocks() {
        let call = |index: u64, id: &str, finish: &str| {
            let tool =
                json!({"index": index, "id": id, "function": {"name": "f", "arguments": "{}"}});
            format!(
                "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{tool}]}},\"finish_reason\":{finish}}}]}}\n\n"
            )
        };
        let stream = call(0, "a", "null") + &call(1, "b", "\"stop\"") + "data: [DONE]\n\n";
        let events = parsed_events(&translate(&stream, 3).0);
        let starts: Vec<&Value> = events
            .iter()
            .filter(|(n, _)| n == "content_block_start")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(
            (&starts[0]["index"], &starts[1]["index"]),
            (&json!(0), &json!(1))
        );
        assert_eq!(starts[1]["content_block"]["id"], json!("b"));
        let stop = events
            .iter()
            .find(|(n, _)| n == "message_delta")
            .map(|(_, d)| &d["delta"]["stop_reason"]);
        assert_eq!(
            stop,
            Some(&json!("tool_use")),
            "tool calls with finish_reason stop still mean tool_use"
        );
    }

    #[test]
    fn malformed_upstream_event_is_an_error() {
        let mut translator = ChatStreamToMessages::new("m");
        let good =
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
        let err = translator
            .push(format!("{good}data: {{\"id\": oops}}\n\n").as_bytes())
            .expect_err("bad JSON");
        assert!(
            err.to_string()
                .starts_with("upstream stream: invalid JSON in a data line"),
            "{err}"
        );
        let earlier = parsed_events(&translator.take_output());
        assert_eq!(
            names(&earlier),
            [
                "message_start",
                "content_block_start",
                "content_block_delta"
            ]
        );
    }

    #[test]
    fn upstream_error_chunk_is_forwarded() {
        let mut translator = ChatStreamToMessages::new("m");
        let frame = b"data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}\n\n";
        let err = translator.push(frame).expect_err("error chunk");
        let expected = TranslateError::Upstream {
            error_type: "requests".into(),
            message: "Rate limit reached".into(),
        };
        assert_eq!(err, expected);
    }

    #[test]
    fn stream_cut_before_finish_reason_is_a_failure() {
        let stream = openai_tool_call_stream();
        let cut = stream
            .find("\"finish_reason\":\"tool_calls\"")
            .expect("finish chunk");
        let mut translator = ChatStreamToMessages::new("m");
        let sent = translator.push(&stream.as_bytes()[..cut]).expect("push");
        let err = translator.finish().expect_err("incomplete");
        assert_eq!(
            err,
            TranslateError::StreamIncomplete {
                expected: "a chunk with finish_reason"
            }
        );
        assert_eq!(
            err.to_string(),
            "upstream stream ended before a chunk with finish_reason"
        );
        assert!(!translator.completed());
        // What was sent is whole events, so the caller's error event can follow directly.
        assert_eq!(
            names(&parsed_events(&sent)).last(),
            Some(&"content_block_delta")
        );
    }
}
