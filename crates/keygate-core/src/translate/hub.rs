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
