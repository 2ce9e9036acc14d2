//! OpenAI Responses (`POST /v1/responses`) ↔ the chat-completions hub: a Responses request
//! becomes a chat request, and a chat answer becomes a `response` object. Through the hub a
//! Responses client reaches every kind of tier — chat-only OpenAI-compatible servers directly,
//! Anthropic through the Messages translators.
//!
//! The Responses API keeps state on OpenAI's side (`previous_response_id`, `conversation`,
//! `background`); no other provider has it, so such requests are refused naming the field.
//! Dropped on purpose: `store`, `include`, `metadata`, `truncation`, `service_tier`,
//! `prompt_cache_key`, `safety_identifier` (bookkeeping for OpenAI's own servers), `reasoning`
//! (no portable equivalent; the chat translators drop thinking knobs too) and `reasoning`
//! input items (encrypted for OpenAI; no other model can read them), and tools that are not
//! functions (hosted tools such as web search, tool namespaces, custom-grammar tools): those
//! run on OpenAI's side or need its models, and the model is offered the function tools.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::content::{kind_of, non_empty_str, required_str};
use super::error::{TranslateError, upstream_error_from};
use super::usage::StreamUsage;

/// Request fields that only OpenAI's stored state can honour.
const STATEFUL: [(&str, &str); 3] = [
    (
        "previous_response_id",
        "this provider keeps no stored responses: send the whole conversation in `input` (as Codex does with store=false)",
    ),
    (
        "conversation",
        "this provider keeps no stored conversations: send the whole conversation in `input`",
    ),
    (
        "background",
        "background responses exist only on OpenAI's servers",
    ),
];

/// Translates a `POST /v1/responses` body into a `POST /v1/chat/completions` body.
pub fn responses_request_to_chat(req: &Value) -> Result<Value, TranslateError> {
    if !req.is_object() {
        return Err(TranslateError::request("request", "expected a JSON object"));
    }
    for (field, reason) in STATEFUL {
        if req
            .get(field)
            .is_some_and(|v| !v.is_null() && *v != Value::Bool(false))
        {
            return Err(TranslateError::request(field, reason));
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), required_str(req, "model", "")?.into());
    let mut messages = Vec::new();
    if let Some(instructions) = non_empty_str(req, "instructions") {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match req.get("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => input_items(items, &mut messages)?,
        _ => {
            return Err(TranslateError::request(
                "input",
                "expected a string or an array of items",
            ));
        }
    }
    out.insert("messages".into(), messages.into());
    if let Some(max) = req.get("max_output_tokens").filter(|v| !v.is_null()) {
        out.insert("max_tokens".into(), max.clone());
    }
    for key in ["temperature", "top_p", "user", "parallel_tool_calls"] {
        if let Some(value) = req.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), value.clone());
        }
    }
    if let Some(stream) = req.get("stream").and_then(Value::as_bool) {
        out.insert("stream".into(), stream.into());
        if stream {
            // Without this OpenAI-style servers stream no usage, and KeyGate meters every request.
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    if let Some(format) = req.pointer("/text/format").filter(|v| !v.is_null())
        && let Some(response_format) = response_format(format)?
    {
        out.insert("response_format".into(), response_format);
    }
    tools(req, &mut out)?;
    Ok(Value::Object(out))
}

/// The input list: messages, function calls and their outputs, in order.
fn input_items(items: &[Value], out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let mut call_ids = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("input[{i}]");
        // An item with a role and no type is a message ("easy input message").
        let kind = match kind_of(item) {
            "" if item.get("role").is_some() => "message",
            kind => kind,
        };
        match kind {
            "message" => out.push(message(item, &path)?),
            "function_call" => {
                let call_id = required_str(item, "call_id", &path)?;
                let name = required_str(item, "name", &path)?;
                let arguments = item
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}");
                call_ids.insert(call_id.to_owned());
                let call = json!({
                    "id": call_id, "type": "function",
                    "function": {"name": name, "arguments": arguments},
                });
                // Parallel calls, and a call after the assistant's text, are one chat message.
                match out.last_mut() {
                    Some(last) if last["role"] == "assistant" => {
                        match last.get_mut("tool_calls").and_then(Value::as_array_mut) {
                            Some(calls) => calls.push(call),
                            None => last["tool_calls"] = json!([call]),
                        }
                    }
                    _ => out
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            "function_call_output" => {
                let call_id = required_str(item, "call_id", &path)?;
                if !call_ids.contains(call_id) {
                    return Err(TranslateError::request(
                        format!("{path}.call_id"),
                        format!("function_call_output refers to unknown call_id {call_id:?}"),
                    ));
                }
                let output = output_text(item.get("output"), &format!("{path}.output"))?;
                out.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
            }
            // Encrypted for OpenAI's models; no other model can read it.
            "reasoning" => {}
            other => {
                return Err(TranslateError::request(
                    format!("{path}.type"),
                    format!("input item type {other:?} has no chat completions equivalent"),
                ));
            }
        }
    }
    Ok(())
}

fn message(item: &Value, path: &str) -> Result<Value, TranslateError> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some("user") => "user",
        Some("assistant") => "assistant",
        // `developer` is OpenAI's newer name for system; most servers know only `system`.
        Some("system" | "developer") => "system",
        _ => {
            return Err(TranslateError::request(
                format!("{path}.role"),
                "must be \"user\", \"assistant\", \"system\" or \"developer\"",
            ));
        }
    };
    let parts = match item.get("content") {
        Some(Value::String(text)) => return Ok(json!({"role": role, "content": text})),
        Some(Value::Array(parts)) => parts,
        _ => {
            return Err(TranslateError::request(
                format!("{path}.content"),
                "expected a string or an array of parts",
            ));
        }
    };
    let mut texts = Vec::new();
    let mut chat_parts = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let part_path = format!("{path}.content[{j}]");
        match kind_of(part) {
            "input_text" | "output_text" | "text" => {
                let text = required_str(part, "text", &part_path)?;
                texts.push(text);
                chat_parts.push(json!({"type": "text", "text": text}));
            }
            "refusal" => {
                let text = required_str(part, "refusal", &part_path)?;
                texts.push(text);
                chat_parts.push(json!({"type": "text", "text": text}));
            }
            "input_image" if role == "user" => {
                let url = part
                    .get("image_url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        TranslateError::request(
                            format!("{part_path}.image_url"),
                            "only images given by URL or data URL can be translated (not file_id)",
                        )
                    })?;
                let mut image = json!({"url": url});
                if let Some(detail) = non_empty_str(part, "detail") {
                    image["detail"] = detail.into();
                }
                chat_parts.push(json!({"type": "image_url", "image_url": image}));
            }
            other => {
                return Err(TranslateError::request(
                    format!("{part_path}.type"),
                    format!("content part type {other:?} has no chat completions equivalent here"),
                ));
            }
        }
    }
    // Text-only content is one string: many OpenAI-compatible servers accept nothing else.
    let content = if chat_parts.len() == texts.len() {
        let separator = if role == "assistant" { "" } else { "\n\n" };
        Value::from(texts.join(separator))
    } else {
        Value::from(chat_parts)
    };
    Ok(json!({"role": role, "content": content}))
}

/// A function call's output: a string, or input_text parts.
fn output_text(output: Option<&Value>, path: &str) -> Result<String, TranslateError> {
    match output {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            for (k, part) in parts.iter().enumerate() {
                match kind_of(part) {
                    "input_text" | "output_text" | "text" => {
                        texts.push(required_str(part, "text", &format!("{path}[{k}]"))?);
                    }
                    other => {
                        return Err(TranslateError::request(
                            format!("{path}[{k}].type"),
                            format!(
                                "a function output part of type {other:?} cannot be translated"
                            ),
                        ));
                    }
                }
            }
            Ok(texts.join("\n\n"))
        }
        _ => Err(TranslateError::request(path, "required string is missing")),
    }
}

/// `text.format` → `response_format`; plain text needs none.
fn response_format(format: &Value) -> Result<Option<Value>, TranslateError> {
    match kind_of(format) {
        "text" => Ok(None),
        "json_object" => Ok(Some(json!({"type": "json_object"}))),
        "json_schema" => {
            let mut schema = Map::new();
            for key in ["name", "schema", "strict", "description"] {
                if let Some(value) = format.get(key).filter(|v| !v.is_null()) {
                    schema.insert(key.into(), value.clone());
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        other => Err(TranslateError::request(
            "text.format.type",
            format!("format {other:?} has no chat completions equivalent"),
        )),
    }
}

/// Function tools and the tool choice. Hosted tools (web search, file search, computer use,
/// custom grammars) run on OpenAI's side only.
fn tools(req: &Value, out: &mut Map<String, Value>) -> Result<(), TranslateError> {
    if let Some(tools) = req
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
    {
        let mut chat = Vec::with_capacity(tools.len());
        for (i, tool) in tools.iter().enumerate() {
            let path = format!("tools[{i}]");
            // Hosted tools (web search, file search, …), tool namespaces and custom-grammar
            // tools have no chat equivalent: the model is offered the function tools only,
            // as Codex itself does on its chat wire ([`responses_dropped`] names them).
            if kind_of(tool) != "function" {
                continue;
            }
            let mut function = Map::new();
            function.insert("name".into(), required_str(tool, "name", &path)?.into());
            for key in ["description", "parameters", "strict"] {
                if let Some(value) = tool.get(key).filter(|v| !v.is_null()) {
                    function.insert(key.into(), value.clone());
                }
            }
            chat.push(json!({"type": "function", "function": function}));
        }
        if !chat.is_empty() {
            out.insert("tools".into(), chat.into());
        }
    }
    match req.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(choice)) if matches!(choice.as_str(), "auto" | "none" | "required") => {
            out.insert("tool_choice".into(), choice.as_str().into());
        }
        Some(choice) if kind_of(choice) == "function" => {
            let name = required_str(choice, "name", "tool_choice")?;
            out.insert(
                "tool_choice".into(),
                json!({"type": "function", "function": {"name": name}}),
            );
        }
        Some(_) => {
            return Err(TranslateError::request(
                "tool_choice",
                "only \"auto\", \"none\", \"required\" or a function can be translated",
            ));
        }
    }
    Ok(())
}

/// What [`responses_request_to_chat`] leaves out of a request, for the caller's log: the
/// tools that are not functions, as `tools[i] (type)`.
pub fn responses_dropped(req: &Value) -> Vec<String> {
    let tools = req.get("tools").and_then(Value::as_array);
    tools
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, tool)| kind_of(tool) != "function")
        .map(|(i, tool)| format!("tools[{i}] ({})", kind_of(tool)))
        .collect()
}

/// Responses' usage object from the hub's counts. Responses counts cached tokens inside
/// `input_tokens`, as chat completions does.
pub(crate) fn responses_usage(usage: StreamUsage, reasoning_tokens: u64) -> Value {
    let input = usage.prompt_tokens();
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input + usage.output_tokens,
    })
}

/// Reasoning tokens of a chat `usage` object (`completion_tokens_details.reasoning_tokens`).
pub(crate) fn chat_reasoning_tokens(usage: &Value) -> u64 {
    usage
        .pointer("/completion_tokens_details/reasoning_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Why a response stopped short, from a chat `finish_reason`.
pub(crate) fn incomplete_reason(finish_reason: Option<&str>) -> Option<&'static str> {
    match finish_reason {
        Some("length") => Some("max_output_tokens"),
        Some("content_filter") => Some("content_filter"),
        _ => None,
    }
}

/// A `response` object around `output`. `model` is the name the client asked for.
pub(crate) fn response_object(
    id: &str,
    created_at: i64,
    model: &str,
    status: &str,
    output: Vec<Value>,
    usage: Value,
) -> Value {
    let incomplete = match status {
        "incomplete:max_output_tokens" => Some("max_output_tokens"),
        "incomplete:content_filter" => Some("content_filter"),
        _ => None,
    };
    let status = if incomplete.is_some() {
        "incomplete"
    } else {
        status
    };
    json!({
        "id": id, "object": "response", "created_at": created_at, "status": status,
        "error": null,
        "incomplete_details": incomplete.map(|reason| json!({"reason": reason})),
        "model": model, "output": output, "parallel_tool_calls": true,
        "tool_choice": "auto", "tools": [], "usage": usage,
    })
}

/// The status a finished response reports: `completed`, or `incomplete:<reason>` (which
/// [`response_object`] splits into a status and its details).
pub(crate) fn finished_status(finish_reason: Option<&str>) -> String {
    match incomplete_reason(finish_reason) {
        Some(reason) => format!("incomplete:{reason}"),
        None => "completed".to_string(),
    }
}

/// A finished assistant message item.
pub(crate) fn message_item(id: &str, text: &str) -> Value {
    json!({
        "type": "message", "id": id, "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

/// A finished function call item.
pub(crate) fn call_item(call_id: &str, name: &str, arguments: &str) -> Value {
    json!({
        "type": "function_call", "id": format!("fc_{call_id}"), "call_id": call_id,
        "name": name, "arguments": arguments, "status": "completed",
    })
}

/// Translates a `chat.completion` body into a Responses `response` body. `model` is the name
/// the client asked for; `created_at` the time to report (this crate reads no clock).
pub fn chat_response_to_responses(
    resp: &Value,
    model: &str,
    created_at: i64,
) -> Result<Value, TranslateError> {
    if let Some(error) = resp.get("error").filter(|e| !e.is_null()) {
        return Err(upstream_error_from(error));
    }
    let choice = resp
        .pointer("/choices/0")
        .ok_or_else(|| TranslateError::response("choices", "expected at least one choice"))?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let id = non_empty_str(resp, "id").unwrap_or("unknown");
    let mut output = Vec::new();
    if let Some(text) = non_empty_str(message, "content") {
        output.push(message_item(&format!("msg_{id}"), text));
    } else if let Some(refusal) = non_empty_str(message, "refusal") {
        output.push(json!({
            "type": "message", "id": format!("msg_{id}"), "status": "completed", "role": "assistant",
            "content": [{"type": "refusal", "refusal": refusal}],
        }));
    }
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for (j, call) in calls.iter().enumerate() {
            let path = format!("choices[0].message.tool_calls[{j}]");
            let call_id = non_empty_str(call, "id")
                .ok_or_else(|| TranslateError::response(&path, "tool call without an id"))?;
            let function = call.get("function").unwrap_or(&Value::Null);
            let name = non_empty_str(function, "name").ok_or_else(|| {
                TranslateError::response(&path, "tool call without a function name")
            })?;
            let arguments = function
                .get("arguments")
                .and_then(Value::as_str)
                .unwrap_or("{}");
            output.push(call_item(call_id, name, arguments));
        }
    }
    let usage_json = resp.get("usage").unwrap_or(&Value::Null);
    let usage = responses_usage(
        StreamUsage::from_chat(usage_json),
        chat_reasoning_tokens(usage_json),
    );
    let status = finished_status(choice.get("finish_reason").and_then(Value::as_str));
    Ok(response_object(
        &format!("resp_{id}"),
        created_at,
        model,
        &status,
        output,
        usage,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codex_style_request_becomes_chat() {
        let request = json!({
            "model": "claude-sonnet-4", "instructions": "You are Codex.", "store": false,
            "stream": true, "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low"},
            "parallel_tool_calls": false, "tool_choice": "auto", "prompt_cache_key": "s-1",
            "tools": [{"type": "function", "name": "shell", "description": "Run a command", "strict": false,
                       "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}}],
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox: read-only."}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "List files"}, {"type": "input_text", "text": "please"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running ls."}]},
                {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
                {"type": "function_call", "call_id": "call_2", "name": "shell", "arguments": "{\"command\":[\"pwd\"]}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
                {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "/tmp"}]},
                {"role": "user", "content": "Thanks"}
            ]
        });
        let chat = responses_request_to_chat(&request).expect("translates");
        assert_eq!(
            chat,
            json!({
                "model": "claude-sonnet-4", "stream": true, "stream_options": {"include_usage": true},
                "parallel_tool_calls": false, "tool_choice": "auto",
                "tools": [{"type": "function", "function": {"name": "shell", "description": "Run a command", "strict": false,
                           "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}}}],
                "messages": [
                    {"role": "system", "content": "You are Codex."},
                    {"role": "system", "content": "Sandbox: read-only."},
                    {"role": "user", "content": "List files\n\nplease"},
                    {"role": "assistant", "content": "Running ls.", "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"ls\"]}"}},
                        {"id": "call_2", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"pwd\"]}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
                    {"role": "tool", "tool_call_id": "call_2", "content": "/tmp"},
                    {"role": "user", "content": "Thanks"}
                ]
            })
        );
    }

    #[test]
    fn what_only_openai_can_do_is_refused_naming_the_field() {
        let cases = [
            (
                json!({"model": "m", "input": "hi", "previous_response_id": "resp_1"}),
                "previous_response_id",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "x", "output": "1"}]}),
                "input[0].call_id",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
                "input[0].content[0].type",
            ),
            (
                json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
                "input[0].type",
            ),
            (json!({"model": "m"}), "input"),
        ];
        for (request, field) in cases {
            let err = responses_request_to_chat(&request).expect_err("refused");
            assert!(
                matches!(&err, TranslateError::InvalidRequest { path, .. } if path == field),
                "{request}: {err}"
            );
        }
    }

    #[test]
    fn tools_that_are_not_functions_are_left_out_and_named() {
        // As Codex 0.169 sends them: functions, a namespace of sub-agent tools, web search.
        let request = json!({"model": "m", "input": "hi", "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {"type": "namespace", "name": "multi_agent_v1", "tools": [{"type": "function", "name": "close_agent"}]},
            {"type": "web_search", "external_web_access": false}
        ]});
        let chat = responses_request_to_chat(&request).expect("translates");
        assert_eq!(
            chat["tools"],
            json!([{"type": "function", "function": {"name": "exec_command", "parameters": {"type": "object"}}}])
        );
        assert_eq!(
            responses_dropped(&request),
            ["tools[1] (namespace)", "tools[2] (web_search)"]
        );
        let only_hosted = json!({"model": "m", "input": "hi", "tools": [{"type": "web_search"}]});
        let chat = responses_request_to_chat(&only_hosted).expect("translates");
        assert!(chat.get("tools").is_none(), "{chat}");
    }

    #[test]
    fn images_and_output_formats_carry_over() {
        let chat = responses_request_to_chat(&json!({
            "model": "m", "max_output_tokens": 50,
            "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}, "strict": true}},
            "input": [{"role": "user", "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBO", "detail": "low"}
            ]}]
        }))
        .expect("translates");
        assert_eq!(chat["max_tokens"], json!(50));
        assert_eq!(
            chat["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": true}})
        );
        assert_eq!(
            chat["messages"][0]["content"],
            json!([
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO", "detail": "low"}}
            ])
        );
    }

    #[test]
    fn a_chat_answer_becomes_a_response() {
        let answer = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 5, "model": "deepseek-chat",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Checking.",
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]
            }}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37,
                      "prompt_tokens_details": {"cached_tokens": 10}, "completion_tokens_details": {"reasoning_tokens": 2}}
        });
        let response = chat_response_to_responses(&answer, "gpt-5-codex", 9).expect("translates");
        assert_eq!(response["id"], json!("resp_chatcmpl-1"));
        assert_eq!(response["status"], json!("completed"));
        assert_eq!(response["model"], json!("gpt-5-codex"));
        assert_eq!(
            response["output"],
            json!([
                {"type": "message", "id": "msg_chatcmpl-1", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
                {"type": "function_call", "id": "fc_call_9", "call_id": "call_9", "name": "f",
                 "arguments": "{\"a\":1}", "status": "completed"}
            ])
        );
        assert_eq!(
            response["usage"],
            json!({"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10},
                   "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 37})
        );
        let cut = json!({"id": "c", "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "Hal"}}]});
        let response = chat_response_to_responses(&cut, "m", 0).expect("translates");
        assert_eq!(response["status"], json!("incomplete"));
        assert_eq!(
            response["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
    }
}
