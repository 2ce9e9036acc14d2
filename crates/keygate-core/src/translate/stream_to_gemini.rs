//! OpenAI `chat.completion.chunk` stream → Gemini `streamGenerateContent?alt=sse` events, the
//! hub's writer for Gemini clients: one `data:` event per text delta, function calls whole
//! (Gemini sends each call's arguments as one object), and a last event with the finish
//! reason and `usageMetadata`.

use serde_json::{Value, json};

use super::chat_chunks::{Chunk, NO_FINISH_REASON, chunk, drain, first_choices};
use super::content::non_empty_str;
use super::error::TranslateError;
use super::gemini::{finish_reason, function_call_part, usage_metadata};
use super::sse::{SseDecoder, SseEvent};
use super::usage::StreamUsage;

/// A tool call being gathered: its arguments arrive in pieces, Gemini wants them whole.
#[derive(Debug)]
struct Call {
    index: u64,
    id: Option<String>,
    name: String,
    arguments: String,
}

/// Translates an OpenAI chat completion stream into Gemini SSE events.
///
/// The last event waits for the usage chunk that follows the `finish_reason` chunk, or for
/// `[DONE]`; a stream that had its `finish_reason` but closed without `[DONE]` still counts as
/// complete. When `push` or `finish` fails, [`ChatStreamToGemini::take_output`] returns the
/// complete events translated before the failure.
#[derive(Debug)]
pub struct ChatStreamToGemini {
    model: String,
    decoder: SseDecoder,
    id: Option<String>,
    calls: Vec<Call>,
    finish_reason: Option<String>,
    usage: StreamUsage,
    reasoning_tokens: u64,
    completed: bool,
    out: Vec<u8>,
}

impl ChatStreamToGemini {
    /// `model` is the name the events report (`modelVersion`): the one the client asked for.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            decoder: SseDecoder::default(),
            id: None,
            calls: Vec::new(),
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
            self.end()?;
        }
        Ok(std::mem::take(&mut self.out))
    }

    /// Usage as reported so far; final once [`Self::completed`] is true.
    pub fn usage(&self) -> StreamUsage {
        self.usage
    }

    /// Whether the last event (with the finish reason) has been emitted.
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// Events translated before an error that `push`/`finish` could not return.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn emit(&mut self, parts: Vec<Value>, finish: Option<&str>, usage: Option<Value>) {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(finish) = finish {
            candidate["finishReason"] = finish.into();
        }
        let mut event = json!({
            "candidates": [candidate],
            "modelVersion": self.model,
            "responseId": self.id.as_deref().unwrap_or("unknown"),
        });
        if let Some(usage) = usage {
            event["usageMetadata"] = usage;
        }
        // Google separates its events with CRLF; SSE clients take either.
        self.out
            .extend_from_slice(format!("data: {event}\r\n\r\n").as_bytes());
    }

    fn event(&mut self, event: &SseEvent) -> Result<(), TranslateError> {
        let chunk = match chunk(event)? {
            Chunk::Done => {
                if self.finish_reason.is_some() && !self.completed {
                    self.end()?;
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
            self.reasoning_tokens = usage
                .pointer("/completion_tokens_details/reasoning_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
        }
        if self.id.is_none() {
            self.id = non_empty_str(&chunk, "id").map(str::to_owned);
        }
        for choice in first_choices(&chunk) {
            self.choice(choice)?;
        }
        if usage.is_some() && self.finish_reason.is_some() {
            self.end()?;
        }
        Ok(())
    }

    fn choice(&mut self, choice: &Value) -> Result<(), TranslateError> {
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        // `reasoning_content` is dropped: Gemini's thought parts carry signatures only Gemini
        // makes.
        for key in ["content", "refusal"] {
            if let Some(text) = non_empty_str(delta, key) {
                self.emit(vec![json!({"text": text})], None, None);
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                let index = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(position as u64);
                let function = call.get("function").unwrap_or(&Value::Null);
                let fragment = function.get("arguments").and_then(Value::as_str);
                match self.calls.iter_mut().find(|c| c.index == index) {
                    Some(open) => open.arguments.push_str(fragment.unwrap_or_default()),
                    None => {
                        let name = non_empty_str(function, "name").ok_or_else(|| {
                            TranslateError::MalformedStream(format!(
                                "tool call {index} started without a function name"
                            ))
                        })?;
                        self.calls.push(Call {
                            index,
                            id: non_empty_str(call, "id").map(str::to_owned),
                            name: name.to_owned(),
                            arguments: fragment.unwrap_or_default().to_owned(),
                        });
                    }
                }
            }
        }
        if let Some(reason) = non_empty_str(choice, "finish_reason") {
            self.finish_reason = Some(reason.to_owned());
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), TranslateError> {
        let mut parts = Vec::with_capacity(self.calls.len().max(1));
        for (k, call) in self.calls.iter().enumerate() {
            parts.push(function_call_part(
                call.id.as_deref(),
                &call.name,
                &call.arguments,
                &format!("tool call {k}"),
            )?);
        }
        if parts.is_empty() {
            parts.push(json!({"text": ""}));
        }
        let finish = finish_reason(self.finish_reason.as_deref());
        let usage = usage_metadata(self.usage, self.reasoning_tokens);
        self.emit(parts, Some(finish), Some(usage));
        self.completed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::test_streams::{ARGUMENTS, feed, openai_tool_call_stream};

    fn events(bytes: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(bytes)
            .split("\r\n\r\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| serde_json::from_str(e.trim_start_matches("data: ")).expect("json"))
            .collect()
    }

    #[test]
    fn text_then_a_whole_function_call_and_usage_at_the_end() {
        let stream = openai_tool_call_stream();
        let mut whole = None;
        for piece_size in [stream.len(), 1, 7] {
            let mut translator = ChatStreamToGemini::new("gemini-via-chat");
            let mut out = feed(|b| translator.push(b), stream.as_bytes(), piece_size);
            out.extend(translator.finish().expect("finish"));
            assert!(translator.completed());
            assert_eq!(translator.usage().output_tokens, 20);
            match &whole {
                None => whole = Some(out),
                Some(first) => assert_eq!(&out, first, "fed {piece_size} at a time"),
            }
        }
        let events = events(whole.as_deref().expect("out"));
        let text: String = events
            .iter()
            .filter_map(|e| e["candidates"][0]["content"]["parts"][0]["text"].as_str())
            .collect();
        assert_eq!(text, "Let me check — ☀️?");
        let last = events.last().expect("events");
        assert_eq!(last["candidates"][0]["finishReason"], json!("STOP"));
        let call = &last["candidates"][0]["content"]["parts"][0]["functionCall"];
        assert_eq!(call["name"], json!("weather"));
        assert_eq!(
            call["args"],
            serde_json::from_str::<Value>(ARGUMENTS).expect("args")
        );
        assert_eq!(
            last["usageMetadata"],
            json!({"promptTokenCount": 130, "candidatesTokenCount": 20, "totalTokenCount": 150, "cachedContentTokenCount": 100})
        );
        assert_eq!(last["modelVersion"], json!("gemini-via-chat"));
    }

    #[test]
    fn a_stream_cut_before_its_finish_reason_is_an_error() {
        let mut translator = ChatStreamToGemini::new("m");
        let chunk =
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hal\"}}]}\n\n";
        let out = translator.push(chunk.as_bytes()).expect("push");
        assert_eq!(events(&out).len(), 1);
        assert_eq!(
            translator.finish().expect_err("cut"),
            TranslateError::StreamIncomplete {
                expected: "a chunk with finish_reason"
            }
        );
    }
}
