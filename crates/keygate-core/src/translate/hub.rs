//! The hub: every translation goes through OpenAI chat completions, so each protocol needs a
//! reader into the hub and a writer out of it — not a converter per pair. A Responses client
//! on an Anthropic tier is Responses → chat → Messages on the way up and Messages → chat →
//! Responses on the way back; each step is one of the pure translators of this module's
//! siblings. The tiers KeyGate speaks to talk either chat completions (every OpenAI-style
//! provider, Azure, Gemini's OpenAI endpoint) or Messages (Anthropic).
//!
//! What the hub cannot carry is what chat completions cannot: signed thinking, OpenAI's
//! encrypted reasoning, hosted tools. Each step drops or refuses those as its own docs say.

use serde_json::Value;

use super::error::TranslateError;
use super::gemini::{chat_response_to_gemini, gemini_request_to_chat};
use super::request_to_chat::messages_request_to_chat;
use super::request_to_messages::chat_request_to_messages;
use super::response::{chat_response_to_messages, messages_response_to_chat};
use super::responses::{chat_response_to_responses, responses_request_to_chat};
use super::stream_to_chat::MessagesStreamToChat;
use super::stream_to_gemini::ChatStreamToGemini;
use super::stream_to_messages::ChatStreamToMessages;
use super::stream_to_responses::ChatStreamToResponses;
use super::usage::StreamUsage;

/// A wire protocol, as a client speaks it or a tier answers in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OpenAI chat completions: the hub itself.
    Chat,
    /// Anthropic Messages.
    Messages,
    /// OpenAI Responses (as a client protocol; tiers that speak it natively get it natively).
    Responses,
    /// Google's Gemini API (as a client protocol; Gemini tiers are reached through their
    /// OpenAI-compatible surface when the hub is used).
    Gemini,
}

impl Protocol {
    /// The protocol's name for people, in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Chat => "OpenAI chat completions",
            Self::Messages => "Anthropic Messages",
            Self::Responses => "OpenAI Responses",
            Self::Gemini => "the Gemini API",
        }
    }
}

/// A client's request body in `client`'s protocol, for a tier that speaks `tier`'s.
pub fn translate_request(
    client: Protocol,
    tier: Protocol,
    request: &Value,
) -> Result<Value, TranslateError> {
    let chat = match client {
        Protocol::Chat => None,
        Protocol::Messages => Some(messages_request_to_chat(request)?),
        Protocol::Responses => Some(responses_request_to_chat(request)?),
        Protocol::Gemini => Some(gemini_request_to_chat(request)?),
    };
    let chat = chat.as_ref().unwrap_or(request);
    match tier {
        Protocol::Chat => Ok(chat.clone()),
        Protocol::Messages if client == Protocol::Messages => Ok(request.clone()),
        Protocol::Messages => chat_request_to_messages(chat),
        Protocol::Responses | Protocol::Gemini => Err(TranslateError::request(
            "request",
            format!("no tier is reached through {} translation", tier.name()),
        )),
    }
}

/// A whole answer in `tier`'s protocol, for a client of `client`'s. `model` is the name the
/// client asked for and `now` the Unix time, which protocols that report one need.
pub fn translate_response(
    tier: Protocol,
    client: Protocol,
    answer: &Value,
    model: &str,
    now: i64,
) -> Result<Value, TranslateError> {
    if tier == client {
        return Ok(answer.clone());
    }
    let chat = match tier {
        Protocol::Messages => messages_response_to_chat(answer)?,
        _ => answer.clone(),
    };
    match client {
        Protocol::Chat => Ok(chat),
        Protocol::Messages => chat_response_to_messages(&chat),
        Protocol::Responses => chat_response_to_responses(&chat, model, now),
        Protocol::Gemini => chat_response_to_gemini(&chat, model),
    }
}

/// The writer of the client's side of a translated stream.
#[derive(Debug)]
enum Writer {
    /// The client speaks chat: the hub's bytes are its bytes.
    Chat,
    Messages(ChatStreamToMessages),
    Responses(ChatStreamToResponses),
    Gemini(ChatStreamToGemini),
}

/// A stream in `tier`'s protocol translated, as it arrives, into `client`'s.
#[derive(Debug)]
pub struct StreamTranslator {
    /// Reads a Messages tier into chat chunks; none for a chat tier.
    reader: Option<MessagesStreamToChat>,
    writer: Writer,
}

impl StreamTranslator {
    /// `model` is the name the client's events report; `now` the Unix time they carry.
    pub fn new(tier: Protocol, client: Protocol, model: &str, now: i64) -> Self {
        let reader =
            (tier == Protocol::Messages).then(|| MessagesStreamToChat::with_created(model, now));
        let writer = match client {
            Protocol::Chat => Writer::Chat,
            Protocol::Messages => Writer::Messages(ChatStreamToMessages::new(model)),
            Protocol::Responses => Writer::Responses(ChatStreamToResponses::new(model, now)),
            Protocol::Gemini => Writer::Gemini(ChatStreamToGemini::new(model)),
        };
        Self { reader, writer }
    }

    /// Feeds tier bytes, cut anywhere; returns the complete client events they finished.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, TranslateError> {
        let chat = match &mut self.reader {
            Some(reader) => std::borrow::Cow::Owned(reader.push(bytes)?),
            None => std::borrow::Cow::Borrowed(bytes),
        };
        self.write(&chat)
    }

    /// Call when the tier's stream closes. Errs if the answer never finished.
    pub fn finish(&mut self) -> Result<Vec<u8>, TranslateError> {
        let mut out = match &mut self.reader {
            Some(reader) => {
                let chat = reader.finish()?;
                self.write(&chat)?
            }
            None => Vec::new(),
        };
        match &mut self.writer {
            Writer::Chat => {}
            Writer::Messages(w) => out.extend(w.finish()?),
            Writer::Responses(w) => out.extend(w.finish()?),
            Writer::Gemini(w) => out.extend(w.finish()?),
        }
        Ok(out)
    }

    fn write(&mut self, chat: &[u8]) -> Result<Vec<u8>, TranslateError> {
        match &mut self.writer {
            Writer::Chat => Ok(chat.to_vec()),
            Writer::Messages(w) => w.push(chat),
            Writer::Responses(w) => w.push(chat),
            Writer::Gemini(w) => w.push(chat),
        }
    }

    /// Client events translated before an error that `push`/`finish` could not return.
    pub fn take_output(&mut self) -> Vec<u8> {
        let chat = self.reader.as_mut().map(MessagesStreamToChat::take_output);
        let mut out = match chat {
            // What the reader finished is whole chat chunks; the writer turns them into whole
            // client events (an error here means they add nothing sendable).
            Some(chat) => self.write(&chat).unwrap_or_default(),
            None => Vec::new(),
        };
        match &mut self.writer {
            Writer::Chat => {}
            Writer::Messages(w) => out.extend(w.take_output()),
            Writer::Responses(w) => out.extend(w.take_output()),
            Writer::Gemini(w) => out.extend(w.take_output()),
        }
        out
    }

    /// Usage as the tier reported it so far.
    pub fn usage(&self) -> StreamUsage {
        match (&self.reader, &self.writer) {
            (Some(reader), _) => reader.usage(),
            (None, Writer::Messages(w)) => w.usage(),
            (None, Writer::Responses(w)) => w.usage(),
            (None, Writer::Gemini(w)) => w.usage(),
            (None, Writer::Chat) => StreamUsage::default(),
        }
    }

    /// Whether the client's stream has had its terminal event.
    pub fn completed(&self) -> bool {
        match (&self.reader, &self.writer) {
            (_, Writer::Messages(w)) => w.completed(),
            (_, Writer::Responses(w)) => w.completed(),
            (_, Writer::Gemini(w)) => w.completed(),
            (Some(reader), Writer::Chat) => reader.completed(),
            (None, Writer::Chat) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::translate::test_streams::parsed_events;

    #[test]
    fn a_responses_client_reaches_an_anthropic_tier_through_the_hub() {
        let request = json!({
            "model": "claude", "instructions": "Be brief.", "max_output_tokens": 64, "stream": true,
            "input": [{"role": "user", "content": "Hi"}]
        });
        let messages =
            translate_request(Protocol::Responses, Protocol::Messages, &request).expect("up");
        assert_eq!(messages["system"], json!("Be brief."));
        assert_eq!(messages["max_tokens"], json!(64));
        assert_eq!(
            messages["messages"],
            json!([{"role": "user", "content": "Hi"}])
        );

        let answer = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Hello"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 3}
        });
        let response = translate_response(
            Protocol::Messages,
            Protocol::Responses,
            &answer,
            "claude",
            1,
        )
        .expect("down");
        assert_eq!(response["output"][0]["content"][0]["text"], json!("Hello"));
        assert_eq!(response["usage"]["input_tokens"], json!(8));
        assert_eq!(
            response["usage"]["input_tokens_details"]["cached_tokens"],
            json!(3)
        );

        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let mut translator =
            StreamTranslator::new(Protocol::Messages, Protocol::Responses, "claude", 1);
        let mut out = Vec::new();
        for piece in stream.as_bytes().chunks(9) {
            out.extend(translator.push(piece).expect("push"));
        }
        out.extend(translator.finish().expect("finish"));
        assert!(translator.completed());
        assert_eq!(translator.usage().output_tokens, 2);
        let events = parsed_events(&out);
        let text: String = events
            .iter()
            .filter(|(name, _)| name == "response.output_text.delta")
            .filter_map(|(_, d)| d["delta"].as_str())
            .collect();
        assert_eq!(text, "Hello");
        let (last, data) = events.last().expect("events");
        assert_eq!(last, "response.completed");
        assert_eq!(data["response"]["usage"]["output_tokens"], json!(2));
    }

    #[test]
    fn the_pairs_that_existed_before_the_hub_translate_as_before() {
        let chat =
            json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5});
        let messages = translate_request(Protocol::Chat, Protocol::Messages, &chat).expect("up");
        assert_eq!(messages, chat_request_to_messages(&chat).expect("direct"));
        let back = translate_request(Protocol::Messages, Protocol::Chat, &messages).expect("up");
        assert_eq!(back, messages_request_to_chat(&messages).expect("direct"));
    }
}

/// Property tests: a conversation any client protocol can hold reaches both tier protocols
/// with the same meaning — its Messages form, read back into chat, is exactly its chat form,
/// and the texts, calls and results are all there in order — and no input makes a reader
/// panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// One round of a conversation after the user's message: a text answer, or tool calls
    /// (name, argument) with their results.
    #[derive(Debug, Clone)]
    enum Round {
        Text(String),
        Calls(Vec<(String, i64, String)>),
    }

    fn text() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9 ,.!?]{0,20}"
    }

    fn rounds() -> impl Strategy<Value = (Vec<(String, Round)>, String)> {
        let call = ("[a-z][a-z_]{0,8}", -1000i64..1000, text());
        let round = prop_oneof![
            text().prop_map(Round::Text),
            proptest::collection::vec(call, 1..3).prop_map(Round::Calls),
        ];
        (proptest::collection::vec((text(), round), 0..4), text())
    }

    fn tool_names(rounds: &[(String, Round)]) -> Vec<String> {
        let mut names: Vec<String> = rounds
            .iter()
            .flat_map(|(_, round)| match round {
                Round::Calls(calls) => calls.iter().map(|(n, ..)| n.clone()).collect(),
                Round::Text(_) => Vec::new(),
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn responses_request(rounds: &[(String, Round)], last: &str, stream: bool) -> Value {
        let mut input = Vec::new();
        let mut n = 0;
        for (user, round) in rounds {
            input.push(json!({"role": "user", "content": user}));
            match round {
                Round::Text(answer) => input.push(json!({"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": answer}]})),
                Round::Calls(calls) => {
                    let ids: Vec<String> = calls
                        .iter()
                        .map(|_| {
                            n += 1;
                            format!("call_{n}")
                        })
                        .collect();
                    for ((name, arg, _), id) in calls.iter().zip(&ids) {
                        input.push(json!({"type": "function_call", "call_id": id, "name": name,
                            "arguments": json!({"x": arg}).to_string()}));
                    }
                    for ((.., output), id) in calls.iter().zip(&ids) {
                        input.push(json!({"type": "function_call_output", "call_id": id, "output": output}));
                    }
                }
            }
        }
        input.push(json!({"role": "user", "content": [{"type": "input_text", "text": last}]}));
        let tools: Vec<Value> = tool_names(rounds)
            .into_iter()
            .map(|name| json!({"type": "function", "name": name, "parameters": {"type": "object"}}))
            .collect();
        json!({"model": "m", "instructions": "Be brief.", "max_output_tokens": 100,
            "stream": stream, "input": input, "tools": tools})
    }

    fn gemini_request(rounds: &[(String, Round)], last: &str, stream: bool) -> Value {
        let mut contents = Vec::new();
        for (user, round) in rounds {
            contents.push(json!({"role": "user", "parts": [{"text": user}]}));
            match round {
                Round::Text(answer) => {
                    contents.push(json!({"role": "model", "parts": [{"text": answer}]}))
                }
                Round::Calls(calls) => {
                    let made: Vec<Value> = calls.iter().map(|(name, arg, _)| {
                        json!({"functionCall": {"name": name, "args": {"x": arg}}})
                    }).collect();
                    contents.push(json!({"role": "model", "parts": made}));
                    let answered: Vec<Value> = calls.iter().map(|(name, _, output)| {
                        json!({"functionResponse": {"name": name, "response": {"output": output}}})
                    }).collect();
                    contents.push(json!({"role": "user", "parts": answered}));
                }
            }
        }
        contents.push(json!({"role": "user", "parts": [{"text": last}]}));
        let declarations: Vec<Value> = tool_names(rounds)
            .into_iter()
            .map(|name| json!({"name": name, "parameters": {"type": "OBJECT"}}))
            .collect();
        let tools = if declarations.is_empty() {
            json!([])
        } else {
            json!([{"functionDeclarations": declarations}])
        };
        json!({"model": "m", "stream": stream, "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"maxOutputTokens": 100}, "contents": contents, "tools": tools})
    }

    /// The texts, calls and results a chat request holds, in order.
    fn said(chat: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for message in chat["messages"].as_array().into_iter().flatten() {
            if let Some(text) = message["content"].as_str() {
                out.push(format!(
                    "{}: {text}",
                    message["role"].as_str().unwrap_or_default()
                ));
            }
            for call in message["tool_calls"].as_array().into_iter().flatten() {
                out.push(format!(
                    "call {} {}",
                    call["function"]["name"], call["function"]["arguments"]
                ));
            }
        }
        out
    }

    fn expected(rounds: &[(String, Round)], last: &str) -> Vec<String> {
        let mut out = vec!["system: Be brief.".to_string()];
        for (user, round) in rounds {
            out.push(format!("user: {user}"));
            match round {
                Round::Text(answer) => out.push(format!("assistant: {answer}")),
                Round::Calls(calls) => {
                    for (name, arg, _) in calls {
                        out.push(format!(
                            "call {:?} {:?}",
                            name,
                            json!({"x": arg}).to_string()
                        ));
                    }
                    for (.., output) in calls {
                        out.push(format!("tool: {output}"));
                    }
                }
            }
        }
        out.push(format!("user: {last}"));
        out
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z_]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            let keys = prop_oneof![
                Just("model".to_string()),
                Just("input".to_string()),
                Just("contents".to_string()),
                Just("parts".to_string()),
                Just("role".to_string()),
                Just("type".to_string()),
                Just("text".to_string()),
                Just("tools".to_string()),
                Just("functionCall".to_string()),
                Just("functionResponse".to_string()),
                Just("call_id".to_string()),
                Just("name".to_string()),
                Just("content".to_string()),
                Just("messages".to_string()),
                "[a-z]{1,4}".prop_map(|s| s),
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(keys, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(200) })]

        #[test]
        fn a_responses_conversation_means_the_same_on_both_tier_protocols(
            (rounds, last) in rounds(), stream in any::<bool>(),
        ) {
            let request = responses_request(&rounds, &last, stream);
            let chat = translate_request(Protocol::Responses, Protocol::Chat, &request).expect("to chat");
            prop_assert_eq!(said(&chat), expected(&rounds, &last));
            let messages = translate_request(Protocol::Responses, Protocol::Messages, &request).expect("to messages");
            prop_assert_eq!(messages_request_to_chat(&messages).expect("back"), chat);
        }

        #[test]
        fn a_gemini_conversation_means_the_same_on_both_tier_protocols(
            (rounds, last) in rounds(), stream in any::<bool>(),
        ) {
            let request = gemini_request(&rounds, &last, stream);
            let chat = translate_request(Protocol::Gemini, Protocol::Chat, &request).expect("to chat");
            prop_assert_eq!(said(&chat), expected(&rounds, &last));
            let messages = translate_request(Protocol::Gemini, Protocol::Messages, &request).expect("to messages");
            prop_assert_eq!(messages_request_to_chat(&messages).expect("back"), chat);
        }

        #[test]
        fn no_request_makes_a_reader_panic(request in json_value()) {
            for client in [Protocol::Chat, Protocol::Messages, Protocol::Responses, Protocol::Gemini] {
                for tier in [Protocol::Chat, Protocol::Messages] {
                    let _ = translate_request(client, tier, &request);
                }
            }
        }

        #[test]
        fn no_answer_makes_a_writer_panic(answer in json_value(), chunks in proptest::collection::vec(json_value(), 0..6)) {
            for tier in [Protocol::Chat, Protocol::Messages] {
                for client in [Protocol::Chat, Protocol::Messages, Protocol::Responses, Protocol::Gemini] {
                    let _ = translate_response(tier, client, &answer, "m", 0);
                    let mut stream = StreamTranslator::new(tier, client, "m", 0);
                    for chunk in &chunks {
                        let _ = stream.push(format!("data: {chunk}\n\n").as_bytes());
                    }
                    let _ = stream.finish();
                    let _ = stream.take_output();
                }
            }
        }
    }
}
