//! Protocol translation between the Anthropic Messages API (`POST /v1/messages`), OpenAI
//! Chat Completions (`POST /v1/chat/completions`), OpenAI Responses (`POST /v1/responses`) and
//! Google's Gemini API (`models/{model}:generateContent`):
//! requests, non-streaming responses, SSE streams, and errors in each protocol's own shape.
//! Chat completions is the hub ([`hub`]): each protocol has a reader into it and a writer out
//! of it, and any pair is those two steps.
//!
//! This lets a client that speaks one protocol use a key for a provider that speaks another.
//! Everything works on `serde_json::Value`: translation reads only the fields it knows (others
//! are ignored, not forwarded), and tests compare whole bodies.
//!
//! What it never does: I/O, async, reading a clock, or guessing. When something cannot be
//! expressed faithfully in the other protocol (an unknown tool id, tool arguments that are not
//! JSON, an image Anthropic would refuse, `n` > 1) it returns a [`TranslateError`] naming the
//! field, because a clean failure beats a silently different request. What it drops on purpose
//! (sampling knobs one side lacks, thinking blocks, cache markers) is listed where it happens.
//!
//! Streams are fed upstream bytes cut at any point ([`ChatStreamToMessages`],
//! [`MessagesStreamToChat`]) and give back only complete events of the other protocol.

mod chat_chunks;
mod content;
mod error;
mod gemini;
pub mod hub;
mod message_events;
mod request_to_chat;
mod request_to_messages;
mod response;
mod responses;
mod sse;
mod stream_to_chat;
mod stream_to_gemini;
mod stream_to_messages;
mod stream_to_responses;
mod tools;
mod usage;

#[cfg(test)]
mod test_streams;

pub use error::{
    TranslateError, anthropic_error_body, anthropic_error_type_for_status,
    anthropic_sse_error_event, chat_sse_error_chunk,
};
pub use gemini::{chat_response_to_gemini, gemini_dropped, gemini_request_to_chat};
pub use hub::{Protocol, StreamTranslator, translate_request, translate_response};
pub use request_to_chat::messages_request_to_chat;
pub use request_to_messages::chat_request_to_messages;
pub use response::{chat_response_to_messages, messages_response_to_chat};
pub use responses::{chat_response_to_responses, responses_dropped, responses_request_to_chat};
pub use stream_to_chat::MessagesStreamToChat;
pub use stream_to_gemini::ChatStreamToGemini;
pub use stream_to_messages::ChatStreamToMessages;
pub use stream_to_responses::ChatStreamToResponses;
pub use usage::StreamUsage;

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// An Anthropic conversation with every translated feature, and its exact OpenAI form.
    fn anthropic_conversation() -> Value {
        json!({
            "model": "m", "max_tokens": 256, "temperature": 0.3, "stream": false,
            "system": "Be brief.",
            "stop_sequences": ["###"],
            "metadata": {"user_id": "u-9"},
            "tools": [{"name": "weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this picture, and the weather there?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "UklGRg=="}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Paris. Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C"},
                    {"type": "text", "text": "Thanks"}
                ]},
                {"role": "assistant", "content": "It is 18°C."}
            ]
        })
    }

    #[test]
    fn anthropic_request_survives_a_round_trip_through_openai() {
        let original = anthropic_conversation();
        let chat = messages_request_to_chat(&original).expect("to chat");
        assert_eq!(
            chat["messages"].as_array().map(Vec::len),
            Some(6),
            "system, user, assistant, tool, user, assistant"
        );
        assert_eq!(chat["tool_choice"], json!("required"));
        assert_eq!(chat["parallel_tool_calls"], json!(false));
        let back = chat_request_to_messages(&chat).expect("back to messages");
        assert_eq!(back, original);
    }

    #[test]
    fn openai_request_survives_a_round_trip_through_anthropic() {
        let original = json!({
            "model": "m", "max_tokens": 100, "stream": true, "stop": ["###"], "user": "u",
            "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.gif"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
            ]
        });
        let messages = chat_request_to_messages(&original).expect("to messages");
        let back = messages_request_to_chat(&messages).expect("back to chat");
        let mut expected = original;
        expected["stream_options"] = json!({"include_usage": true});
        assert_eq!(back, expected);
    }

    #[test]
    fn responses_survive_a_round_trip() {
        let anthropic = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "c",
            "content": [{"type": "text", "text": "Hi"}, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": [1, 2]}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 3, "output_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 5}
        });
        let chat = messages_response_to_chat(&anthropic).expect("to chat");
        let back = chat_response_to_messages(&chat).expect("back");
        let mut expected = anthropic;
        expected["id"] = json!("msg_chatcmpl-msg_1");
        assert_eq!(back, expected);
    }
}
