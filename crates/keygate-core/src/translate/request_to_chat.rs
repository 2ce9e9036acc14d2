//! Anthropic Messages request → OpenAI Chat Completions request.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::content::{anthropic_image_to_chat, joined_text, kind_of, required_str};
use super::error::TranslateError;
use super::tools::anthropic_tools_to_chat;

/// Translates a `POST /v1/messages` body into a `POST /v1/chat/completions` body.
///
/// Dropped on purpose: `top_k` (chat completions has no such sampler) and `thinking` (its budget
/// has no portable equivalent; `reasoning_effort` exists only on some models and is refused by
/// the rest). `cache_control` markers are dropped too: OpenAI-style servers cache on their own.
pub fn messages_request_to_chat(req: &Value) -> Result<Value, TranslateError> {
    if !req.is_object() {
        return Err(TranslateError::request("request", "expected a JSON object"));
    }
    let mut out = Map::new();
    out.insert("model".into(), required_str(req, "model", "")?.into());

    let mut messages = Vec::new();
    let system = joined_text(req.get("system"), "system", "\n\n")?;
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    let input = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::request("messages", "required array is missing"))?;
    let mut tool_ids = HashSet::new();
    for (i, message) in input.iter().enumerate() {
        let path = format!("messages[{i}]");
        match message.get("role").and_then(Value::as_str) {
            Some("user") => user_message(message, &path, &tool_ids, &mut messages)?,
            Some("assistant") => messages.push(assistant_message(message, &path, &mut tool_ids)?),
            // A system message mid-conversation (Claude Code 2.1 sends its environment as one):
            // chat completions takes system messages at any position too.
            Some("system") => {
                let text = joined_text(message.get("content"), &format!("{path}.content"), "\n\n")?;
                messages.push(json!({"role": "system", "content": text}));
            }
            _ => {
                return Err(TranslateError::request(
                    format!("{path}.role"),
                    "must be \"user\", \"assistant\" or \"system\"",
                ));
            }
        }
    }
    out.insert("messages".into(), messages.into());

    // Kept as `max_tokens`, not `max_completion_tokens`: every OpenAI-compatible server
    // understands it, while the newer name is unknown to many of them.
    for key in ["max_tokens", "temperature", "top_p"] {
        if let Some(value) = req.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), value.clone());
        }
    }
    if let Some(stops) = req
        .get("stop_sequences")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
    {
        out.insert("stop".into(), stops.clone().into());
    }
    if let Some(stream) = req.get("stream").and_then(Value::as_bool) {
        out.insert("stream".into(), stream.into());
        if stream {
            // Without this OpenAI streams no usage at all, and KeyGate meters every request.
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    if let Some(user) = req.pointer("/metadata/user_id").and_then(Value::as_str) {
        out.insert("user".into(), user.into());
    }
    anthropic_tools_to_chat(req, &mut out)?;
    Ok(Value::Object(out))
}

fn user_message(
    message: &Value,
    path: &str,
    tool_ids: &HashSet<String>,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let blocks = match message.get("content") {
        Some(Value::String(text)) => {
            out.push(json!({"role": "user", "content": text}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => {
            return Err(TranslateError::request(
                format!("{path}.content"),
                "expected a string or an array of blocks",
            ));
        }
    };
    // Tool results become `tool` messages, which OpenAI needs right after the assistant's
    // tool_calls; whatever else the user said follows them as one user message.
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let block_path = format!("{path}.content[{j}]");
        match kind_of(block) {
            "text" => parts
                .push(json!({"type": "text", "text": required_str(block, "text", &block_path)?})),
            "image" => parts.push(anthropic_image_to_chat(block, &block_path)?),
            "tool_result" => {
                let id = required_str(block, "tool_use_id", &block_path)?;
                if !tool_ids.contains(id) {
                    return Err(TranslateError::request(
                        block_path,
                        format!("tool_result refers to unknown tool_use_id {id:?}"),
                    ));
                }
                let (text, images) =
                    tool_result_content(block.get("content"), &format!("{block_path}.content"))?;
                // `is_error` has no field in chat completions; the result text itself says
                // what went wrong, which is what the model reads either way.
                out.push(json!({"role": "tool", "tool_call_id": id, "content": text}));
                parts.extend(images);
            }
            other => {
                return Err(TranslateError::request(
                    block_path,
                    format!("content block type {other:?} has no OpenAI chat equivalent"),
                ));
            }
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": user_content(parts)}));
    }
    Ok(())
}

/// Text-only content collapses to one string: many OpenAI-compatible servers accept only a
/// string there, and Anthropic text blocks are separate paragraphs anyway.
fn user_content(parts: Vec<Value>) -> Value {
    if parts.iter().all(|part| kind_of(part) == "text") {
        let texts: Vec<&str> = parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect();
        return texts.join("\n\n").into();
    }
    parts.into()
}

/// A tool message can only hold text, so images a tool returned (a screenshot, a read image
/// file) travel in the user message that follows the tool messages.
fn tool_result_content(
    content: Option<&Value>,
    path: &str,
) -> Result<(String, Vec<Value>), TranslateError> {
    let Some(Value::Array(blocks)) = content else {
        return Ok((joined_text(content, path, "\n\n")?, Vec::new()));
    };
    let mut texts = Vec::new();
    let mut images = Vec::new();
    for (k, block) in blocks.iter().enumerate() {
        let block_path = format!("{path}[{k}]");
        match kind_of(block) {
            "text" => texts.push(required_str(block, "text", &block_path)?),
            "image" => images.push(anthropic_image_to_chat(block, &block_path)?),
            other => {
                return Err(TranslateError::request(
                    block_path,
                    format!("tool_result content type {other:?} has no OpenAI chat equivalent"),
                ));
            }
        }
    }
    Ok((texts.join("\n\n"), images))
}

fn assistant_message(
    message: &Value,
    path: &str,
    tool_ids: &mut HashSet<String>,
) -> Result<Value, TranslateError> {
    let blocks = match message.get("content") {
        Some(Value::String(text)) => return Ok(json!({"role": "assistant", "content": text})),
        Some(Value::Array(blocks)) => blocks,
        _ => {
            return Err(TranslateError::request(
                format!("{path}.content"),
                "expected a string or an array of blocks",
            ));
        }
    };
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let block_path = format!("{path}.content[{j}]");
        match kind_of(block) {
            // Assistant text blocks are one continuous answer split around tool calls and
            // citations, so they join with nothing in between.
            "text" => text.push_str(required_str(block, "text", &block_path)?),
            "tool_use" => {
                let id = required_str(block, "id", &block_path)?;
                let name = required_str(block, "name", &block_path)?;
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_ids.insert(id.to_owned());
                calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                }));
            }
            // Thinking is signed for Anthropic's own verification; no OpenAI-style server can
            // check or use it, and chat completions has nowhere to replay it.
            "thinking" | "redacted_thinking" => {}
            other => {
                return Err(TranslateError::request(
                    block_path,
                    format!("content block type {other:?} has no OpenAI chat equivalent"),
                ));
            }
        }
    }
    if calls.is_empty() {
        return Ok(json!({"role": "assistant", "content": text}));
    }
    let content = if text.is_empty() {
        Value::Null
    } else {
        text.into()
    };
    Ok(json!({"role": "assistant", "content": content, "tool_calls": calls}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(req: Value) -> Value {
        messages_request_to_chat(&req).expect("translates")
    }

    #[test]
    fn a_system_message_in_the_conversation_stays_where_it_is() {
        // Claude Code 2.1.332 sends its environment as a system message after the first turn.
        let req = json!({
            "model": "claude-opus-5-5",
            "max_tokens": 100,
            "system": "You are Claude Code.",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "system", "content": [{"type": "text", "text": "# Environment"}, {"type": "text", "text": "cwd: /tmp"}]},
                {"role": "user", "content": "go on"}
            ]
        });
        let out = messages_request_to_chat(&req).expect("translated");
        let roles: Vec<&str> = out["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["role"].as_str().expect("role"))
            .collect();
        assert_eq!(roles, ["system", "user", "system", "user"]);
        assert_eq!(out["messages"][2]["content"], "# Environment\n\ncwd: /tmp");
        let bad = json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]});
        let error = messages_request_to_chat(&bad)
            .expect_err("refused")
            .to_string();
        assert!(error.contains("messages[0].role"), "{error}");
    }

    #[test]
    fn plain_text_request_maps_sampling_fields() {
        let out = translate(json!({
            "model": "claude-sonnet-4-5", "max_tokens": 512, "temperature": 0.2, "top_p": 0.9,
            "top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 1024},
            "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
            "messages": [{"role": "user", "content": "Hello"}]
        }));
        assert_eq!(
            out,
            json!({
                "model": "claude-sonnet-4-5", "max_tokens": 512, "temperature": 0.2, "top_p": 0.9,
                "stop": ["END"], "user": "u-1",
                "messages": [{"role": "user", "content": "Hello"}]
            })
        );
    }

    #[test]
    fn system_blocks_become_one_system_message_without_cache_control() {
        let out = translate(json!({
            "model": "m", "max_tokens": 10,
            "system": [
                {"type": "text", "text": "You are terse."},
                {"type": "text", "text": "Answer in English.", "cache_control": {"type": "ephemeral"}}
            ],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "<reminder>", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Hi"}
            ]}]
        }));
        assert_eq!(
            out["messages"],
            json!([
                {"role": "system", "content": "You are terse.\n\nAnswer in English."},
                {"role": "user", "content": "<reminder>\n\nHi"}
            ])
        );
    }

    #[test]
    fn images_become_image_url_parts() {
        let out = translate(json!({
            "model": "m", "max_tokens": 10,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/b.webp"}}
            ]}]
        }));
        assert_eq!(
            out["messages"],
            json!([{"role": "user", "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/b.webp"}}
            ]}])
        );
    }

    #[test]
    fn tool_round_trip_becomes_tool_calls_then_tool_messages_then_user() {
        let out = translate(json!({
            "model": "m", "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "need a tool", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18°C"}]},
                    {"type": "text", "text": "And tomorrow?"}
                ]},
                {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]}
            ]
        }));
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "18°C"},
                {"role": "user", "content": "And tomorrow?"},
                {"role": "assistant", "content": "Sunny."}
            ])
        );
    }

    #[test]
    fn images_returned_by_a_tool_follow_the_tool_message() {
        let out = translate(json!({
            "model": "m",
            "messages": [
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": false, "content": [
                    {"type": "text", "text": "done"},
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/s.png"}}
                ]}]}
            ]
        }));
        assert_eq!(
            out["messages"],
            json!([
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "shot", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "t1", "content": "done"},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/s.png"}}]}
            ])
        );
    }

    #[test]
    fn tool_result_for_unknown_tool_use_id_is_refused() {
        let err = messages_request_to_chat(&json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "?"}]}
            ]
        }))
        .expect_err("unknown id");
        assert_eq!(
            err.to_string(),
            "messages[2].content[0]: tool_result refers to unknown tool_use_id \"toolu_x\""
        );
    }

    #[test]
    fn oversized_image_names_message_and_part() {
        let data = "A".repeat(7_000_000);
        let err = messages_request_to_chat(&json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
            ]}]
        }))
        .expect_err("too big");
        assert!(
            err.to_string()
                .starts_with("messages[0].content[1]: image is 5.01 MB"),
            "{err}"
        );
    }

    #[test]
    fn server_tools_and_missing_fields_are_refused() {
        let server_tool = messages_request_to_chat(&json!({
            "model": "m", "messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]
        }));
        assert!(
            server_tool
                .expect_err("server tool")
                .to_string()
                .starts_with("tools[0]: server tool type")
        );
        let no_model = messages_request_to_chat(&json!({"messages": []})).expect_err("no model");
        assert_eq!(no_model.to_string(), "model: required string is missing");
        let document = messages_request_to_chat(&json!({
            "model": "m", "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]
        }));
        assert!(document.is_err());
    }
}
