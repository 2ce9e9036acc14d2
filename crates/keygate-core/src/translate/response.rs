//! Non-streaming responses in both directions, and the stop-reason mapping the streams share.

use serde_json::{Value, json};

use super::content::kind_of;
use super::error::{TranslateError, upstream_error_from};
use super::tools::parse_arguments;
use super::usage::StreamUsage;

/// OpenAI `finish_reason` → Anthropic `stop_reason`. OpenAI does not say whether `stop` came
/// from a stop sequence, so it is always `end_turn`.
pub(crate) fn stop_reason_for(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        // Anthropic's name for an answer its safety system cut short.
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub(crate) fn finish_reason_for(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        // end_turn, stop_sequence, and pause_turn (a server-tool pause the client resumes by
        // asking again, which for a chat client is simply the end of this answer).
        _ => "stop",
    }
}

/// Translates an OpenAI `chat.completion` body into an Anthropic `message` body.
pub fn chat_response_to_messages(resp: &Value) -> Result<Value, TranslateError> {
    if let Some(error) = resp.get("error").filter(|e| !e.is_null()) {
        return Err(upstream_error_from(error));
    }
    let choice = resp
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|choices| choices.first())
        .ok_or_else(|| TranslateError::response("choices", "expected at least one choice"))?;
    let message = choice
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| TranslateError::response("choices[0].message", "expected an object"))?;

    // `reasoning_content` (DeepSeek and others) is dropped: Anthropic thinking blocks must carry
    // a signature that only Anthropic can produce, and clients reject unsigned ones.
    let mut content = Vec::new();
    let mut text = match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    };
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        text.push_str(refusal);
    }
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    let calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (k, call) in calls.iter().enumerate() {
        let path = format!("choices[0].message.tool_calls[{k}]");
        let function = call.get("function").unwrap_or(&Value::Null);
        let field = |value: &Value, key: &str, path: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    TranslateError::response(format!("{path}.{key}"), "required string is missing")
                })
        };
        let id = field(call, "id", &path)?;
        let name = field(function, "name", &format!("{path}.function"))?;
        let arguments = function
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or("");
        let input = parse_arguments(arguments).map_err(|reason| {
            TranslateError::response(format!("{path}.function.arguments"), reason)
        })?;
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }

    let mut stop_reason = stop_reason_for(choice.get("finish_reason").and_then(Value::as_str));
    // Some OpenAI-compatible servers answer tool calls with finish_reason "stop"; Anthropic
    // clients only run tools on "tool_use".
    if !calls.is_empty() && stop_reason == "end_turn" {
        stop_reason = "tool_use";
    }
    let id = resp.get("id").and_then(Value::as_str).unwrap_or("unknown");
    let usage = StreamUsage::from_chat(resp.get("usage").unwrap_or(&Value::Null));
    Ok(json!({
        "id": format!("msg_{id}"),
        "type": "message",
        "role": "assistant",
        "model": resp.get("model").cloned().unwrap_or(Value::Null),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": usage.to_anthropic(),
    }))
}

/// Translates an Anthropic `message` body into an OpenAI `chat.completion` body.
///
/// `created` is 0: this crate reads no clock. Callers that want a timestamp overwrite it.
pub fn messages_response_to_chat(resp: &Value) -> Result<Value, TranslateError> {
    if kind_of(resp) == "error" {
        return Err(upstream_error_from(
            resp.get("error").unwrap_or(&Value::Null),
        ));
    }
    let blocks = resp
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::response("content", "expected an array of blocks"))?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        match kind_of(block) {
            "text" => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            "tool_use" => {
                let id = block.get("id").and_then(Value::as_str).unwrap_or("");
                let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                if id.is_empty() || name.is_empty() {
                    return Err(TranslateError::response(
                        format!("content[{j}]"),
                        "tool_use without id or name",
                    ));
                }
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                }));
            }
            // Chat completions has no place for signed thinking; the answer stands without it.
            "thinking" | "redacted_thinking" => {}
            other => {
                return Err(TranslateError::response(
                    format!("content[{j}]"),
                    format!("block type {other:?} has no OpenAI chat equivalent"),
                ));
            }
        }
    }
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = calls.into();
    }
    let id = resp.get("id").and_then(Value::as_str).unwrap_or("unknown");
    let usage = StreamUsage::from_anthropic(resp.get("usage").unwrap_or(&Value::Null));
    Ok(json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": 0,
        "model": resp.get("model").cloned().unwrap_or(Value::Null),
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason_for(resp.get("stop_reason").and_then(Value::as_str)),
            "logprobs": null,
        }],
        "usage": usage.to_chat(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_text_response_becomes_anthropic_message() {
        let out = chat_response_to_messages(&json!({
            "id": "chatcmpl-abc", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!", "refusal": null}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135, "prompt_tokens_details": {"cached_tokens": 100}}
        }))
        .expect("translates");
        assert_eq!(
            out,
            json!({
                "id": "msg_chatcmpl-abc", "type": "message", "role": "assistant", "model": "gpt-4o",
                "content": [{"type": "text", "text": "Hi!"}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 30, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100}
            })
        );
    }

    #[test]
    fn chat_tool_calls_become_tool_use_blocks() {
        let out = chat_response_to_messages(&json!({
            "id": "c1", "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]}}]
        }))
        .expect("translates");
        assert_eq!(
            out["content"],
            json!([{"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}}])
        );
        assert_eq!(out["stop_reason"], json!("tool_use"));
        assert_eq!(out["usage"]["input_tokens"], json!(0));
    }

    #[test]
    fn invalid_tool_arguments_in_a_response_fail_cleanly() {
        let err = chat_response_to_messages(&json!({
            "id": "c1", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":"}}
            ]}}]
        }))
        .expect_err("bad JSON");
        assert!(
            err.to_string().starts_with(
                "upstream response choices[0].message.tool_calls[0].function.arguments:"
            )
        );
    }

    #[test]
    fn anthropic_message_becomes_chat_completion() {
        let out = messages_response_to_chat(&json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}
        }))
        .expect("translates");
        assert_eq!(
            out,
            json!({
                "id": "chatcmpl-msg_01", "object": "chat.completion", "created": 0, "model": "claude-sonnet-4-5",
                "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "Let me check.",
                    "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]
                }}],
                "usage": {"prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135, "prompt_tokens_details": {"cached_tokens": 100}}
            })
        );
    }

    #[test]
    fn tool_only_answer_has_null_content() {
        let out = messages_response_to_chat(&json!({
            "id": "m", "model": "c", "stop_reason": "tool_use",
            "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]
        }))
        .expect("translates");
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            json!("{}")
        );
    }

    #[test]
    fn stop_reasons_map_both_ways() {
        for (finish, stop) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("tool_calls", "tool_use"),
            ("content_filter", "refusal"),
        ] {
            assert_eq!(stop_reason_for(Some(finish)), stop);
            assert_eq!(finish_reason_for(Some(stop)), finish);
        }
        assert_eq!(finish_reason_for(Some("stop_sequence")), "stop");
        assert_eq!(finish_reason_for(Some("pause_turn")), "stop");
        assert_eq!(stop_reason_for(None), "end_turn");
        let out = messages_response_to_chat(
            &json!({"id": "m", "content": [], "stop_reason": "max_tokens"}),
        )
        .expect("ok");
        assert_eq!(out["choices"][0]["finish_reason"], json!("length"));
        let out = chat_response_to_messages(&json!({
            "id": "c", "choices": [{"message": {"content": "cut"}, "finish_reason": "length"}]
        }))
        .expect("ok");
        assert_eq!(out["stop_reason"], json!("max_tokens"));
    }

    #[test]
    fn error_bodies_are_reported_as_upstream_errors() {
        let err = messages_response_to_chat(&json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
            .expect_err("error body");
        assert_eq!(
            err,
            TranslateError::Upstream {
                error_type: "overloaded_error".into(),
                message: "Overloaded".into()
            }
        );
        let err = chat_response_to_messages(
            &json!({"error": {"message": "bad key", "type": "invalid_request_error"}}),
        )
        .expect_err("error body");
        assert_eq!(err.anthropic_error_type(), "invalid_request_error");
        let empty =
            chat_response_to_messages(&json!({"id": "c", "choices": []})).expect_err("no choices");
        assert_eq!(
            empty.to_string(),
            "upstream response choices: expected at least one choice"
        );
    }
}
