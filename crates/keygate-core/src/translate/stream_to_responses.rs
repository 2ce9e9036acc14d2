//! OpenAI `chat.completion.chunk` stream → Responses stream events (`response.created` …
//! `response.completed`), the hub's writer for Responses clients.

use serde_json::{Value, json};

use super::chat_chunks::{Chunk, NO_FINISH_REASON, chunk, drain, first_choices};
use super::content::non_empty_str;
use super::error::TranslateError;
use super::responses::{
    call_item, chat_reasoning_tokens, finished_status, message_item, response_object,
    responses_usage,
};
use super::sse::{SseDecoder, SseEvent, write_named_event};
use super::usage::StreamUsage;

/// One output item being streamed.
#[derive(Debug)]
enum Item {
    Message {
        id: String,
        text: String,
    },
    Call {
        /// The chat stream's `index` for this call.
        index: u64,
        call_id: String,
        name: String,
        arguments: String,
    },
}

impl Item {
    fn id(&self) -> String {
        match self {
            Self::Message { id, .. } => id.clone(),
            Self::Call { call_id, .. } => format!("fc_{call_id}"),
        }
    }

    fn done(&self) -> Value {
        match self {
            Self::Message { id, text } => message_item(id, text),
            Self::Call {
                call_id,
                name,
                arguments,
                ..
            } => call_item(call_id, name, arguments),
        }
    }
}

/// Translates an OpenAI chat completion stream into Responses SSE events.
///
/// `response.completed` (or `response.incomplete` for a length cut) waits for the usage chunk
/// that follows the `finish_reason` chunk, or for `[DONE]`, so its usage is final; a stream
/// that had its `finish_reason` but closed without `[DONE]` still counts as complete.
///
/// When `push` or `finish` fails, [`ChatStreamToResponses::take_output`] returns the complete
/// events translated before the failure; send them before your error event.
#[derive(Debug)]
pub struct ChatStreamToResponses {
    model: String,
    created_at: i64,
    decoder: SseDecoder,
    /// Set once `response.created` is written.
    id: Option<String>,
    sequence: u64,
    /// Items in output order, each with whether it is still open.
    items: Vec<(Item, bool)>,
    finish_reason: Option<String>,
    usage: StreamUsage,
    reasoning_tokens: u64,
    completed: bool,
    out: Vec<u8>,
}

impl ChatStreamToResponses {
    /// `model` is the name the events report (the one the client asked for); `created_at` the
    /// Unix time to report, since this crate reads no clock.
    pub fn new(model: &str, created_at: i64) -> Self {
        Self {
            model: model.to_owned(),
            created_at,
            decoder: SseDecoder::default(),
            id: None,
            sequence: 0,
            items: Vec::new(),
            finish_reason: None,
            usage: StreamUsage::default(),
            reasoning_tokens: 0,
            completed: false,
            out: Vec::new(),
        }
    }

    /// Feeds upstream bytes, cut anywhere; returns the complete events they finished.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, TranslateError> {
        let events = self.decoder.push(bytes)?;
        events.iter().try_for_each(|event| self.event(event))?;
        Ok(std::mem::take(&mut self.out))
    }

    /// Call when the upstream closes. Errs if it never sent a `finish_reason`.
    pub fn finish(&mut self) -> Result<Vec<u8>, TranslateError> {
        let mut decoder = std::mem::take(&mut self.decoder);
        drain(&mut decoder, |event| self.event(event))?;
        if !self.completed {
            if self.finish_reason.is_none() {
                return Err(NO_FINISH_REASON);
            }
            self.end();
        }
        Ok(std::mem::take(&mut self.out))
    }

    /// Usage as reported so far; final once [`Self::completed`] is true.
    pub fn usage(&self) -> StreamUsage {
        self.usage
    }

    /// Whether the terminal event has been emitted.
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// Events translated before an error that `push`/`finish` could not return.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn emit(&mut self, kind: &str, mut data: Value) {
        data["type"] = kind.into();
        data["sequence_number"] = self.sequence.into();
        self.sequence += 1;
        write_named_event(&mut self.out, kind, &data);
    }

    fn event(&mut self, event: &SseEvent) -> Result<(), TranslateError> {
        let chunk = match chunk(event)? {
            Chunk::Done => {
                if self.finish_reason.is_some() && !self.completed {
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
            self.reasoning_tokens = chat_reasoning_tokens(usage);
        }
        if self.id.is_none() {
            let id = format!("resp_{}", non_empty_str(&chunk, "id").unwrap_or("unknown"));
            self.id = Some(id);
            let response = self.with_id(self.response("in_progress", Vec::new(), Value::Null));
            self.emit("response.created", json!({ "response": response.clone() }));
            self.emit("response.in_progress", json!({ "response": response }));
        }
        for choice in first_choices(&chunk) {
            self.choice(choice)?;
        }
        if usage.is_some() && self.finish_reason.is_some() {
            self.end();
        }
        Ok(())
    }

    fn choice(&mut self, choice: &Value) -> Result<(), TranslateError> {
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        // `reasoning_content` is dropped: Responses reasoning items are OpenAI's own, encrypted.
        for key in ["content", "refusal"] {
            if let Some(text) = non_empty_str(delta, key) {
                self.text(text);
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                self.tool_call(call, position as u64)?;
            }
        }
        if let Some(reason) = non_empty_str(choice, "finish_reason") {
            self.close(|_| true);
            self.finish_reason = Some(reason.to_owned());
        }
        Ok(())
    }

    fn text(&mut self, text: &str) {
        let open = match self.items.last() {
            Some((Item::Message { .. }, true)) => self.items.len() - 1,
            _ => {
                // Text after a tool call starts a new message item.
                self.close(|_| true);
                let output_index = self.items.len();
                let id = format!(
                    "msg_{}_{output_index}",
                    self.id.as_deref().unwrap_or_default()
                );
                self.emit(
                    "response.output_item.added",
                    json!({ "output_index": output_index, "item": {
                        "type": "message", "id": id, "status": "in_progress",
                        "role": "assistant", "content": [] } }),
                );
                self.emit(
                    "response.content_part.added",
                    json!({ "item_id": id, "output_index": output_index, "content_index": 0,
                        "part": {"type": "output_text", "text": "", "annotations": []} }),
                );
                self.items.push((
                    Item::Message {
                        id,
                        text: String::new(),
                    },
                    true,
                ));
                output_index
            }
        };
        if let (Item::Message { id, text: so_far }, _) = &mut self.items[open] {
            so_far.push_str(text);
            let id = id.clone();
            self.emit(
                "response.output_text.delta",
                json!({ "item_id": id, "output_index": open, "content_index": 0,
                    "delta": text, "logprobs": [] }),
            );
        }
    }

    fn tool_call(&mut self, call: &Value, position: u64) -> Result<(), TranslateError> {
        // Some servers leave out `index` when they send each call whole.
        let index = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position);
        let function = call.get("function").unwrap_or(&Value::Null);
        let open = self
            .items
            .iter()
            .position(|item| matches!(item, (Item::Call { index: i, .. }, true) if *i == index));
        let at = match open {
            Some(at) => at,
            None => {
                let name = non_empty_str(function, "name").ok_or_else(|| {
                    TranslateError::MalformedStream(format!(
                        "tool call {index} started without a function name"
                    ))
                })?;
                // An open message ends where a call begins; open calls stay open, since
                // parallel calls' fragments may interleave.
                self.close(|item| matches!(item, Item::Message { .. }));
                let call_id = match non_empty_str(call, "id") {
                    Some(id) => id.to_owned(),
                    None => format!("call_{}_{index}", self.id.as_deref().unwrap_or_default()),
                };
                let output_index = self.items.len();
                self.emit(
                    "response.output_item.added",
                    json!({ "output_index": output_index, "item": {
                        "type": "function_call", "id": format!("fc_{call_id}"), "call_id": call_id,
                        "name": name, "arguments": "", "status": "in_progress" } }),
                );
                self.items.push((
                    Item::Call {
                        index,
                        call_id,
                        name: name.to_owned(),
                        arguments: String::new(),
                    },
                    true,
                ));
                output_index
            }
        };
        if let Some(fragment) = non_empty_str(function, "arguments")
            && let (
                Item::Call {
                    call_id, arguments, ..
                },
                _,
            ) = &mut self.items[at]
        {
            arguments.push_str(fragment);
            let item_id = format!("fc_{call_id}");
            self.emit(
                "response.function_call_arguments.delta",
                json!({ "item_id": item_id, "output_index": at, "delta": fragment }),
            );
        }
        Ok(())
    }

    /// Ends the open items that `which` picks, in output order: each gets its `.done` events.
    fn close(&mut self, which: impl Fn(&Item) -> bool) {
        for output_index in 0..self.items.len() {
            let (item, open) = &self.items[output_index];
            if !*open || !which(item) {
                continue;
            }
            let (item_id, done) = (item.id(), item.done());
            match item {
                Item::Message { text, .. } => {
                    let text = text.clone();
                    self.emit(
                        "response.output_text.done",
                        json!({ "item_id": item_id, "output_index": output_index,
                            "content_index": 0, "text": text, "logprobs": [] }),
                    );
                    self.emit(
                        "response.content_part.done",
                        json!({ "item_id": item_id, "output_index": output_index, "content_index": 0,
                            "part": {"type": "output_text", "text": text, "annotations": []} }),
                    );
                }
                Item::Call { arguments, .. } => {
                    let arguments = arguments.clone();
                    self.emit(
                        "response.function_call_arguments.done",
                        json!({ "item_id": item_id, "output_index": output_index,
                            "arguments": arguments }),
                    );
                }
            }
            self.emit(
                "response.output_item.done",
                json!({ "output_index": output_index, "item": done }),
            );
            self.items[output_index].1 = false;
        }
    }

    fn response(&self, status: &str, output: Vec<Value>, usage: Value) -> Value {
        response_object("", self.created_at, &self.model, status, output, usage)
    }

    fn with_id(&self, mut response: Value) -> Value {
        response["id"] = self.id.clone().unwrap_or_default().into();
        response
    }

    fn end(&mut self) {
        self.close(|_| true);
        let status = finished_status(self.finish_reason.as_deref());
        let output = self.items.iter().map(|(item, _)| item.done()).collect();
        let usage = responses_usage(self.usage, self.reasoning_tokens);
        let response = self.with_id(self.response(&status, output, usage));
        let kind = if response["status"] == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.emit(kind, json!({ "response": response }));
        self.completed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::test_streams::{ARGUMENTS, feed, openai_tool_call_stream, parsed_events};

    fn translate(stream: &str, piece_size: usize) -> (Vec<u8>, ChatStreamToResponses) {
        let mut translator = ChatStreamToResponses::new("gpt-via-chat", 7);
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
    fn text_and_a_tool_call_become_items_in_order() {
        let stream = openai_tool_call_stream();
        let (whole, translator) = translate(&stream, stream.len());
        for piece_size in [1, 7] {
            assert_eq!(translate(&stream, piece_size).0, whole, "fed {piece_size}");
        }
        assert!(translator.completed());
        let events = parsed_events(&whole);
        #[rustfmt::skip]
        let expected = [
            "response.created", "response.in_progress",
            "response.output_item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.delta",
            "response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta", "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done", "response.output_item.done",
            "response.completed",
        ];
        assert_eq!(names(&events), expected);
        for (i, (name, data)) in events.iter().enumerate() {
            assert_eq!(data["type"], json!(name));
            assert_eq!(data["sequence_number"], json!(i));
        }
        let completed = &events.last().expect("events").1["response"];
        assert_eq!(completed["id"], json!("resp_chatcmpl-9x"));
        assert_eq!(completed["model"], json!("gpt-via-chat"));
        assert_eq!(completed["created_at"], json!(7));
        assert_eq!(
            completed["output"][0]["content"][0]["text"],
            json!("Let me check — ☀️?")
        );
        assert_eq!(
            completed["output"][1],
            json!({"type": "function_call", "id": "fc_call_abc", "call_id": "call_abc",
                   "name": "weather", "arguments": ARGUMENTS, "status": "completed"})
        );
        assert_eq!(
            completed["usage"],
            json!({"input_tokens": 130, "input_tokens_details": {"cached_tokens": 100},
                   "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 150})
        );
        assert_eq!(translator.usage().output_tokens, 20);
    }

    #[test]
    fn parallel_calls_with_interleaved_fragments_stay_apart() {
        let chunk = |calls: Value, finish: &str| {
            format!(
                "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":{calls}}},\"finish_reason\":{finish}}}]}}\n\n"
            )
        };
        let stream = chunk(
            json!([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\":"}}]),
            "null",
        ) + &chunk(
            json!([{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{\"y\":"}}]),
            "null",
        ) + &chunk(
            json!([{"index": 0, "function": {"arguments": "1}"}}]),
            "null",
        ) + &chunk(
            json!([{"index": 1, "function": {"arguments": "2}"}}]),
            "\"tool_calls\"",
        ) + "data: [DONE]\n\n";
        let events = parsed_events(&translate(&stream, 5).0);
        let done: Vec<&Value> = events
            .iter()
            .filter(|(n, _)| n == "response.function_call_arguments.done")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(done[0]["arguments"], json!("{\"x\":1}"));
        assert_eq!(done[1]["arguments"], json!("{\"y\":2}"));
        assert_eq!(
            (&done[0]["output_index"], &done[1]["output_index"]),
            (&json!(0), &json!(1))
        );
        assert_eq!(names(&events).last(), Some(&"response.completed"));
    }

    #[test]
    fn a_length_cut_is_an_incomplete_response_and_a_cut_stream_an_error() {
        let chunk = |delta: &str, finish: &str| {
            format!(
                "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
            )
        };
        let stream = chunk("{\"content\":\"Hal\"}", "null") + &chunk("{}", "\"length\"");
        let events = parsed_events(&translate(&stream, 4).0);
        let (name, last) = events.last().expect("events");
        assert_eq!(name, "response.incomplete");
        assert_eq!(
            last["response"]["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );

        let mut translator = ChatStreamToResponses::new("m", 0);
        translator
            .push(chunk("{\"content\":\"Hal\"}", "null").as_bytes())
            .expect("push");
        assert_eq!(
            translator.finish().expect_err("cut"),
            TranslateError::StreamIncomplete {
                expected: "a chunk with finish_reason"
            }
        );
        let upstream =
            b"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";
        let err = ChatStreamToResponses::new("m", 0)
            .push(upstream)
            .expect_err("error chunk");
        assert!(matches!(err, TranslateError::Upstream { .. }), "{err}");
    }
}
