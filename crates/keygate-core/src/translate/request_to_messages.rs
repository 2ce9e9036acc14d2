//! OpenAI Chat Completions request → Anthropic Messages request.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::content::{chat_image_to_anthropic, joined_text, kind_of, required_str};
use super::error::TranslateError;
use super::tools::{chat_tools_to_anthropic, parse_arguments};

/// Anthropic requires `max_tokens`; OpenAI clients usually leave it out.
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// One Anthropic message being assembled; `from_tool` marks a user turn made of tool results,
/// which the next user or tool message joins, as Anthropic wants them in a single turn.
struct Turn {
    role: &'static str,
    blocks: Vec<Value>,
    from_tool: bool,
}

/// Translates a `POST /v1/chat/completions` body into a `POST /v1/messages` body.
///
/// Dropped on purpose: `stream_options` (Anthropic always streams usage), `logprobs`,
/// `response_format`, `seed`, penalties and other sampling knobs Anthropic does not have.
/// Refused: `n` > 1, since Anthropic returns exactly one answer per request.
pub fn chat_request_to_messages(req: &Value) -> Result<Value, TranslateError> {
    if !req.is_object() {
        return Err(TranslateError::request("request", "expected a JSON object"));
    }
    if req.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(TranslateError::request(
            "n",
            "Anthropic returns one completion per request; n must be 1",
        ));
    }
    let mut out = Map::new();
    out.insert("model".into(), required_str(req, "model", "")?.into());
    let max_tokens = match req
        .get("max_completion_tokens")
        .or_else(|| req.get("max_tokens"))
    {
        None | Some(Value::Null) => DEFAULT_MAX_TOKENS,
        Some(value) => value
            .as_u64()
            .ok_or_else(|| TranslateError::request("max_tokens", "must be a positive integer"))?,
    };
    out.insert("max_tokens".into(), max_tokens.into());

    let (system, turns) = conversation(req)?;
    if !system.is_empty() {
        out.insert("system".into(), system.into());
    }
    out.insert(
        "messages".into(),
        turns
            .into_iter()
            .map(finish_turn)
            .collect::<Vec<_>>()
            .into(),
    );

    for key in ["temperature", "top_p", "stream"] {
        if let Some(value) = req.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), value.clone());
        }
    }
    match req.get("stop") {
        Some(Value::String(stop)) => {
            out.insert("stop_sequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) if !stops.is_empty() => {
            out.insert("stop_sequences".into(), stops.clone().into());
        }
        _ => {}
    }
    if let Some(user) = req.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    chat_tools_to_anthropic(req, &mut out)?;
    Ok(Value::Object(out))
}

/// Splits the chat messages into Anthropic's top-level system prompt and its turns.
fn conversation(req: &Value) -> Result<(String, Vec<Turn>), TranslateError> {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::request("messages", "required array is missing"))?;
    let mut system = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    let mut tool_ids = HashSet::new();
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let content = message.get("content");
        match message.get("role").and_then(Value::as_str) {
            // Anthropic has one system prompt, so system messages anywhere in the list are
            // gathered there in order.
            Some("system" | "developer") => {
                let text = joined_text(content, &format!("{path}.content"), "\n\n")?;
                if !text.is_empty() {
                    system.push(text);
                }
            }
            Some("user") => {
                let blocks = user_blocks(content, &path)?;
                match turns.last_mut() {
                    Some(last) if last.from_tool => {
                        last.blocks.extend(blocks);
                        last.from_tool = false;
                    }
                    _ => turns.push(Turn {
                        role: "user",
                        blocks,
                        from_tool: false,
                    }),
                }
            }
            Some("assistant") => turns.push(assistant_turn(message, &path, &mut tool_ids)?),
            Some("tool") => {
                let id = required_str(message, "tool_call_id", &path)?;
                if !tool_ids.contains(id) {
                    return Err(TranslateError::request(
                        path,
                        format!("tool message refers to unknown tool_call_id {id:?}"),
                    ));
                }
                let text = joined_text(content, &format!("{path}.content"), "\n\n")?;
                let block = json!({"type": "tool_result", "tool_use_id": id, "content": text});
                match turns.last_mut() {
                    Some(last) if last.from_tool => last.blocks.push(block),
                    _ => turns.push(Turn {
                        role: "user",
                        blocks: vec![block],
                        from_tool: true,
                    }),
                }
            }
            Some("function") => {
                return Err(TranslateError::request(
                    format!("{path}.role"),
                    "legacy \"function\" messages are not supported; use tools and \"tool\" messages",
                ));
            }
            _ => {
                return Err(TranslateError::request(
                    format!("{path}.role"),
                    "must be one of system, developer, user, assistant, tool",
                ));
            }
        }
    }
    Ok((system.join("\n\n"), turns))
}

fn user_blocks(content: Option<&Value>, path: &str) -> Result<Vec<Value>, TranslateError> {
    let parts = match content {
        Some(Value::String(text)) => return Ok(vec![json!({"type": "text", "text": text})]),
        Some(Value::Array(parts)) => parts,
        _ => {
            return Err(TranslateError::request(
                format!("{path}.content"),
                "expected a string or an array of parts",
            ));
        }
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let part_path = format!("{path}.content[{j}]");
        match kind_of(part) {
            "text" => blocks
                .push(json!({"type": "text", "text": required_str(part, "text", &part_path)?})),
            "image_url" => blocks.push(chat_image_to_anthropic(part, &part_path)?),
            other => {
                return Err(TranslateError::request(
                    part_path,
                    format!("content part type {other:?} has no Anthropic equivalent"),
                ));
            }
        }
    }
    Ok(blocks)
}

fn assistant_turn(
    message: &Value,
    path: &str,
    tool_ids: &mut HashSet<String>,
) -> Result<Turn, TranslateError> {
    let mut blocks = Vec::new();
    let text = match message.get("content") {
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                let part_path = format!("{path}.content[{j}]");
                match kind_of(part) {
                    "text" => text.push_str(required_str(part, "text", &part_path)?),
                    "refusal" => text.push_str(required_str(part, "refusal", &part_path)?),
                    other => {
                        return Err(TranslateError::request(
                            part_path,
                            format!(
                                "assistant content part type {other:?} has no Anthropic equivalent"
                            ),
                        ));
                    }
                }
            }
            text
        }
        other => joined_text(other, &format!("{path}.content"), "")?,
    };
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    let calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (k, call) in calls.iter().enumerate() {
        let call_path = format!("{path}.tool_calls[{k}]");
        let id = required_str(call, "id", &call_path)?;
        let function = call.get("function").unwrap_or(&Value::Null);
        let name = required_str(function, "name", &format!("{call_path}.function"))?;
        let arguments = function
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or("");
        let input = parse_arguments(arguments).map_err(|reason| {
            TranslateError::request(format!("{call_path}.function.arguments"), reason)
        })?;
        tool_ids.insert(id.to_owned());
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    if blocks.is_empty() {
        // An empty assistant turn is only legal as a prefill; keep it as the client sent it and
        // let Anthropic judge.
        blocks.push(json!({"type": "text", "text": ""}));
    }
    Ok(Turn {
        role: "assistant",
        blocks,
        from_tool: false,
    })
}

/// A single text block is written as plain string content, the form clients send most.
fn finish_turn(turn: Turn) -> Value {
    let content = match turn.blocks.as_slice() {
        [only] if kind_of(only) == "text" => only.get("text").cloned().unwrap_or_default(),
        _ => turn.blocks.into(),
    };
    json!({"role": turn.role, "content": content})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(req: Value) -> Value {
        chat_request_to_messages(&req).expect("translates")
    }

    #[test]
    fn plain_text_request_maps_sampling_fields_and_defaults_max_tokens() {
        let out = translate(json!({
            "model": "gpt-4o", "temperature": 0.5, "top_p": 1, "stop": "END", "stream": true,
            "stream_options": {"include_usage": true}, "user": "u-1", "n": 1, "seed": 7,
            "messages": [{"role": "user", "content": "Hello"}]
        }));
        assert_eq!(
            out,
            json!({
                "model": "gpt-4o", "max_tokens": 4096, "temperature": 0.5, "top_p": 1, "stream": true,
                "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
                "messages": [{"role": "user", "content": "Hello"}]
            })
        );
        let capped = translate(
            json!({"model": "m", "max_completion_tokens": 99, "max_tokens": 5, "messages": []}),
        );
        assert_eq!(capped["max_tokens"], json!(99));
        assert_eq!(
            translate(json!({"model": "m", "max_tokens": 5, "messages": []}))["max_tokens"],
            json!(5)
        );
    }

    #[test]
    fn system_and_developer_messages_join_into_the_system_prompt() {
        let out = translate(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
                {"role": "user", "content": "Hi"}
            ]
        }));
        assert_eq!(out["system"], json!("You are terse.\n\nAnswer in English."));
        assert_eq!(out["messages"], json!([{"role": "user", "content": "Hi"}]));
    }

    #[test]
    fn image_parts_become_image_blocks() {
        let out = translate(json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}}
            ]}]
        }));
        assert_eq!(
            out["messages"],
            json!([{"role": "user", "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/b.png"}}
            ]}])
        );
    }

    #[test]
    fn tool_round_trip_groups_tool_results_with_the_following_user_text() {
        let out = translate(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "25°C"}]},
                {"role": "user", "content": "Which is warmer?"},
                {"role": "assistant", "content": "Rome."}
            ]
        }));
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18°C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "25°C"},
                    {"type": "text", "text": "Which is warmer?"}
                ]},
                {"role": "assistant", "content": "Rome."}
            ])
        );
    }

    #[test]
    fn empty_arguments_mean_no_parameters() {
        let out = translate(json!({
            "model": "m",
            "messages": [{"role": "assistant", "content": "Looking.", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "now", "arguments": ""}}
            ]}]
        }));
        assert_eq!(
            out["messages"][0]["content"],
            json!([{"type": "text", "text": "Looking."}, {"type": "tool_use", "id": "c", "name": "now", "input": {}}])
        );
    }

    #[test]
    fn invalid_tool_arguments_are_refused() {
        let err = chat_request_to_messages(&json!({
            "model": "m",
            "messages": [{"role": "assistant", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"city\": "}}
            ]}]
        }))
        .expect_err("bad JSON");
        assert!(err.to_string().starts_with(
            "messages[0].tool_calls[0].function.arguments: tool arguments are not valid JSON"
        ));
    }

    #[test]
    fn tool_message_for_unknown_tool_call_id_is_refused() {
        let err = chat_request_to_messages(&json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_x", "content": "?"}]
        }))
        .expect_err("unknown id");
        assert_eq!(
            err.to_string(),
            "messages[1]: tool message refers to unknown tool_call_id \"call_x\""
        );
    }

    #[test]
    fn more_than_one_completion_is_refused() {
        let err = chat_request_to_messages(&json!({"model": "m", "n": 2, "messages": []}))
            .expect_err("n=2");
        assert_eq!(
            err.to_string(),
            "n: Anthropic returns one completion per request; n must be 1"
        );
    }

    #[test]
    fn unsupported_parts_and_media_types_are_refused() {
        let audio = chat_request_to_messages(&json!({
            "model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]
        }));
        assert_eq!(
            audio.expect_err("audio").to_string(),
            "messages[0].content[0]: content part type \"input_audio\" has no Anthropic equivalent"
        );
        let svg = chat_request_to_messages(&json!({
            "model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/svg+xml;base64,PHN2Zz4="}}
            ]}]
        }));
        assert!(svg.expect_err("svg").to_string().contains("image/svg+xml"));
    }
}
