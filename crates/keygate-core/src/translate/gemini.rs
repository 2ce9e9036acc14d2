//! Google's Gemini API (`models/{model}:generateContent`) ↔ the chat-completions hub: a Gemini
//! request becomes a chat request, and a chat answer a `GenerateContentResponse`. Through the
//! hub a Gemini client (Gemini CLI, the google-genai SDKs) reaches every kind of tier.
//!
//! A Gemini body names neither its model nor whether it streams (the URL does): the endpoint
//! adds `model` and `stream` to the body it hands the hub, and this reader takes them from
//! there.
//!
//! Dropped on purpose: `safetySettings` (Google's own filters), `generationConfig.topK`,
//! `thinkingConfig` and `responseModalities` (no portable equivalent), thought parts and
//! thought signatures (only Gemini can read them), and tools that are not function
//! declarations (Google Search, code execution, URL context run on Google's side;
//! [`gemini_dropped`] names them). Refused, naming the field: `cachedContent`, more than one
//! candidate, file parts (a `fileData` URI only Google can read) and non-image inline data.

use std::collections::VecDeque;

use serde_json::{Map, Value, json};

use super::content::{non_empty_str, required_str};
use super::error::{TranslateError, upstream_error_from};
use super::tools::parse_arguments;
use super::usage::StreamUsage;

/// Translates a Gemini `generateContent` body (with `model` and `stream` added by the
/// endpoint) into a `POST /v1/chat/completions` body.
pub fn gemini_request_to_chat(req: &Value) -> Result<Value, TranslateError> {
    if !req.is_object() {
        return Err(TranslateError::request("request", "expected a JSON object"));
    }
    if req.get("cachedContent").is_some_and(|v| !v.is_null()) {
        return Err(TranslateError::request(
            "cachedContent",
            "cached contents live on Google's servers; send the contents themselves",
        ));
    }
    let mut out = Map::new();
    out.insert("model".into(), required_str(req, "model", "")?.into());
    let mut messages = Vec::new();
    if let Some(system) = req.get("systemInstruction").filter(|v| !v.is_null()) {
        let text = match system {
            Value::String(text) => text.clone(),
            content => texts_of(content, "systemInstruction")?.join("\n\n"),
        };
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    let contents = req
        .get("contents")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::request("contents", "required array is missing"))?;
    let mut calls = Calls::default();
    for (i, content) in contents.iter().enumerate() {
        let path = format!("contents[{i}]");
        match content.get("role").and_then(Value::as_str) {
            Some("model") => messages.push(model_turn(content, &path, &mut calls)?),
            None | Some("user" | "function") => {
                user_turn(content, &path, &mut calls, &mut messages)?;
            }
            Some(_) => {
                return Err(TranslateError::request(
                    format!("{path}.role"),
                    "must be \"user\" or \"model\"",
                ));
            }
        }
    }
    out.insert("messages".into(), messages.into());
    if let Some(config) = req.get("generationConfig").filter(|v| v.is_object()) {
        generation_config(config, &mut out)?;
    }
    if let Some(stream) = req.get("stream").and_then(Value::as_bool) {
        out.insert("stream".into(), stream.into());
        if stream {
            // Without this OpenAI-style servers stream no usage, and KeyGate meters every request.
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    tools(req, &mut out)?;
    Ok(Value::Object(out))
}

/// Function calls seen so far, so a `functionResponse` (which names the function, and only
/// sometimes the call's id) is answered to the right call.
#[derive(Default)]
struct Calls {
    pending: VecDeque<(String, String)>,
    made: usize,
}

impl Calls {
    fn made(&mut self, name: &str, id: Option<&str>) -> String {
        self.made += 1;
        let id = id.map_or_else(|| format!("call_{}_{name}", self.made), str::to_owned);
        self.pending.push_back((name.to_owned(), id.clone()));
        id
    }

    fn answered(&mut self, name: &str, id: Option<&str>) -> Option<String> {
        let at = self.pending.iter().position(|(n, i)| match id {
            Some(id) => i == id,
            None => n == name,
        })?;
        self.pending.remove(at).map(|(_, id)| id)
    }
}

/// The texts of a `{parts: [{text}]}` content (thought parts left out).
fn texts_of<'a>(content: &'a Value, path: &str) -> Result<Vec<&'a str>, TranslateError> {
    let parts = content
        .get("parts")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            TranslateError::request(format!("{path}.parts"), "required array is missing")
        })?;
    Ok(parts
        .iter()
        .filter(|part| part.get("thought").and_then(Value::as_bool) != Some(true))
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect())
}

fn parts<'a>(content: &'a Value, path: &str) -> Result<&'a [Value], TranslateError> {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| {
            TranslateError::request(format!("{path}.parts"), "required array is missing")
        })
}

fn model_turn(content: &Value, path: &str, calls: &mut Calls) -> Result<Value, TranslateError> {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for (j, part) in parts(content, path)?.iter().enumerate() {
        let part_path = format!("{path}.parts[{j}]");
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            text.push_str(t);
        } else if let Some(call) = part.get("functionCall") {
            let name = required_str(call, "name", &format!("{part_path}.functionCall"))?;
            let id = calls.made(name, call.get("id").and_then(Value::as_str));
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            tool_calls.push(json!({
                "id": id, "type": "function",
                "function": {"name": name, "arguments": args.to_string()},
            }));
        } else if part.get("thoughtSignature").is_none() {
            return Err(TranslateError::request(
                part_path,
                "a model part must be text or a functionCall",
            ));
        }
    }
    let mut message = json!({"role": "assistant", "content": text});
    if !tool_calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = tool_calls.into();
    }
    Ok(message)
}

fn user_turn(
    content: &Value,
    path: &str,
    calls: &mut Calls,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    // Function responses become `tool` messages, which chat needs right after the assistant's
    // tool_calls; whatever else the user said follows them as one user message.
    let mut chat_parts = Vec::new();
    let mut texts = Vec::new();
    for (j, part) in parts(content, path)?.iter().enumerate() {
        let part_path = format!("{path}.parts[{j}]");
        if let Some(text) = part.get("text").and_then(Value::as_str) {
            texts.push(text);
            chat_parts.push(json!({"type": "text", "text": text}));
        } else if let Some(response) = part.get("functionResponse") {
            let response_path = format!("{part_path}.functionResponse");
            let name = required_str(response, "name", &response_path)?;
            let id = calls
                .answered(name, response.get("id").and_then(Value::as_str))
                .ok_or_else(|| {
                    TranslateError::request(
                        &response_path,
                        format!("no functionCall of {name:?} before this functionResponse"),
                    )
                })?;
            let result = response.get("response").cloned().unwrap_or(Value::Null);
            // `{"output": "text"}` is how most tools answer; anything else goes as JSON.
            let text = match result.get("output").and_then(Value::as_str) {
                Some(output) if result.as_object().is_some_and(|o| o.len() == 1) => {
                    output.to_owned()
                }
                _ => result.to_string(),
            };
            out.push(json!({"role": "tool", "tool_call_id": id, "content": text}));
        } else if let Some(data) = part.get("inlineData") {
            let data_path = format!("{part_path}.inlineData");
            let mime = required_str(data, "mimeType", &data_path)?;
            if !mime.starts_with("image/") {
                return Err(TranslateError::request(
                    format!("{data_path}.mimeType"),
                    format!("inline {mime:?} data cannot be translated; only images can"),
                ));
            }
            let bytes = required_str(data, "data", &data_path)?;
            chat_parts.push(json!({"type": "image_url", "image_url": {"url": format!("data:{mime};base64,{bytes}")}}));
        } else if part.get("fileData").is_some() {
            return Err(TranslateError::request(
                format!("{part_path}.fileData"),
                "file URIs are read by Google's servers only; send the file inline",
            ));
        } else if part.get("thought").is_none() && part.get("thoughtSignature").is_none() {
            return Err(TranslateError::request(
                part_path,
                "a user part must be text, inlineData or a functionResponse",
            ));
        }
    }
    if chat_parts.is_empty() {
        return Ok(());
    }
    // Text-only content is one string: many OpenAI-compatible servers accept nothing else.
    let content = if chat_parts.len() == texts.len() {
        Value::from(texts.join("\n\n"))
    } else {
        Value::from(chat_parts)
    };
    out.push(json!({"role": "user", "content": content}));
    Ok(())
}

fn generation_config(config: &Value, out: &mut Map<String, Value>) -> Result<(), TranslateError> {
    if config
        .get("candidateCount")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        return Err(TranslateError::request(
            "generationConfig.candidateCount",
            "only one candidate can be translated",
        ));
    }
    for (from, to) in [
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("maxOutputTokens", "max_tokens"),
        ("stopSequences", "stop"),
        ("presencePenalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty"),
        ("seed", "seed"),
    ] {
        if let Some(value) = config.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), value.clone());
        }
    }
    if config.get("responseMimeType").and_then(Value::as_str) == Some("application/json") {
        let schema = config
            .get("responseJsonSchema")
            .or_else(|| config.get("responseSchema"))
            .filter(|v| !v.is_null());
        let format = match schema {
            Some(schema) => {
                json!({"type": "json_schema", "json_schema": {"name": "response", "schema": json_schema(schema)}})
            }
            None => json!({"type": "json_object"}),
        };
        out.insert("response_format".into(), format);
    }
    Ok(())
}

/// A Gemini schema as JSON Schema: Gemini spells types in capitals (`OBJECT`) and orders
/// properties with a key of its own.
fn json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(key, _)| key.as_str() != "propertyOrdering")
                .map(|(key, value)| {
                    let value = match (key.as_str(), value) {
                        ("type", Value::String(t)) => Value::String(t.to_ascii_lowercase()),
                        _ => json_schema(value),
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(json_schema).collect()),
        other => other.clone(),
    }
}

fn tools(req: &Value, out: &mut Map<String, Value>) -> Result<(), TranslateError> {
    let mut chat = Vec::new();
    for (i, tool) in req
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let declarations = tool.get("functionDeclarations").and_then(Value::as_array);
        for (j, declaration) in declarations.into_iter().flatten().enumerate() {
            let path = format!("tools[{i}].functionDeclarations[{j}]");
            let mut function = Map::new();
            function.insert(
                "name".into(),
                required_str(declaration, "name", &path)?.into(),
            );
            if let Some(description) = non_empty_str(declaration, "description") {
                function.insert("description".into(), description.into());
            }
            let parameters = declaration
                .get("parametersJsonSchema")
                .or_else(|| declaration.get("parameters"))
                .filter(|v| !v.is_null());
            function.insert(
                "parameters".into(),
                parameters.map_or_else(|| json!({"type": "object", "properties": {}}), json_schema),
            );
            chat.push(json!({"type": "function", "function": function}));
        }
    }
    if !chat.is_empty() {
        out.insert("tools".into(), chat.into());
    }
    let Some(config) = req.pointer("/toolConfig/functionCallingConfig") else {
        return Ok(());
    };
    let allowed: Vec<&str> = config
        .get("allowedFunctionNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let choice = match config.get("mode").and_then(Value::as_str) {
        None | Some("AUTO" | "MODE_UNSPECIFIED" | "VALIDATED") => return Ok(()),
        Some("NONE") => json!("none"),
        Some("ANY") => match allowed.as_slice() {
            [one] => json!({"type": "function", "function": {"name": one}}),
            _ => json!("required"),
        },
        Some(other) => {
            return Err(TranslateError::request(
                "toolConfig.functionCallingConfig.mode",
                format!("mode {other:?} is unknown"),
            ));
        }
    };
    out.insert("tool_choice".into(), choice);
    Ok(())
}

/// What [`gemini_request_to_chat`] leaves out of a request, for the caller's log: tools that
/// are not function declarations, as `tools[i] (googleSearch)`.
pub fn gemini_dropped(req: &Value) -> Vec<String> {
    let tools = req.get("tools").and_then(Value::as_array);
    let mut dropped = Vec::new();
    for (i, tool) in tools.into_iter().flatten().enumerate() {
        if let Some(object) = tool.as_object() {
            for key in object.keys().filter(|k| *k != "functionDeclarations") {
                dropped.push(format!("tools[{i}] ({key})"));
            }
        }
    }
    dropped
}

/// Gemini's finish reason for a chat `finish_reason` (function calls end with `STOP`).
pub(crate) fn finish_reason(chat: Option<&str>) -> &'static str {
    match chat {
        Some("length") => "MAX_TOKENS",
        Some("content_filter") => "SAFETY",
        _ => "STOP",
    }
}

/// Gemini's `usageMetadata` from the hub's counts.
pub(crate) fn usage_metadata(usage: StreamUsage, reasoning_tokens: u64) -> Value {
    let prompt = usage.prompt_tokens();
    let mut metadata = json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": usage.output_tokens,
        "totalTokenCount": prompt + usage.output_tokens,
    });
    if usage.cached_input_tokens > 0 {
        metadata["cachedContentTokenCount"] = usage.cached_input_tokens.into();
    }
    if reasoning_tokens > 0 {
        metadata["thoughtsTokenCount"] = reasoning_tokens.into();
    }
    metadata
}

/// A `functionCall` part from a chat tool call's name and JSON arguments.
pub(crate) fn function_call_part(
    id: Option<&str>,
    name: &str,
    arguments: &str,
    path: &str,
) -> Result<Value, TranslateError> {
    let args = parse_arguments(arguments).map_err(|e| TranslateError::response(path, e))?;
    let mut call = json!({"name": name, "args": args});
    if let Some(id) = id {
        call["id"] = id.into();
    }
    Ok(json!({"functionCall": call}))
}

/// Translates a `chat.completion` body into a Gemini `GenerateContentResponse`. `model` is the
/// name the client asked for.
pub fn chat_response_to_gemini(resp: &Value, model: &str) -> Result<Value, TranslateError> {
    if let Some(error) = resp.get("error").filter(|e| !e.is_null()) {
        return Err(upstream_error_from(error));
    }
    let choice = resp
        .pointer("/choices/0")
        .ok_or_else(|| TranslateError::response("choices", "expected at least one choice"))?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut parts = Vec::new();
    if let Some(text) = non_empty_str(message, "content") {
        parts.push(json!({"text": text}));
    }
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for (j, call) in calls.iter().enumerate() {
            let path = format!("choices[0].message.tool_calls[{j}]");
            let function = call.get("function").unwrap_or(&Value::Null);
            let name = non_empty_str(function, "name")
                .ok_or_else(|| TranslateError::response(&path, "tool call without a name"))?;
            let arguments = function
                .get("arguments")
                .and_then(Value::as_str)
                .unwrap_or("");
            parts.push(function_call_part(
                non_empty_str(call, "id"),
                name,
                arguments,
                &path,
            )?);
        }
    }
    if parts.is_empty() {
        parts.push(json!({"text": ""}));
    }
    let usage = resp.get("usage").unwrap_or(&Value::Null);
    let reasoning = usage
        .pointer("/completion_tokens_details/reasoning_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Ok(json!({
        "candidates": [{
            "content": {"role": "model", "parts": parts},
            "finishReason": finish_reason(choice.get("finish_reason").and_then(Value::as_str)),
            "index": 0,
        }],
        "usageMetadata": usage_metadata(StreamUsage::from_chat(usage), reasoning),
        "modelVersion": model,
        "responseId": non_empty_str(resp, "id").unwrap_or("unknown"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gemini_cli_style_request_becomes_chat() {
        let request = json!({
            "model": "claude-sonnet-4", "stream": true,
            "systemInstruction": {"role": "user", "parts": [{"text": "You are Gemini CLI."}]},
            "generationConfig": {"temperature": 0, "topP": 1, "maxOutputTokens": 100, "topK": 64,
                                 "thinkingConfig": {"includeThoughts": true}},
            "tools": [{"functionDeclarations": [{"name": "read_file", "description": "Read a file",
                        "parametersJsonSchema": {"type": "object", "properties": {"path": {"type": "string"}}}}]},
                      {"googleSearch": {}}],
            "contents": [
                {"role": "user", "parts": [{"text": "Read a.txt"}]},
                {"role": "model", "parts": [{"thought": true, "text": "hmm"},
                                            {"functionCall": {"name": "read_file", "args": {"path": "a.txt"}}, "thoughtSignature": "x"}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "read_file", "response": {"output": "hello"}}}]},
                {"role": "model", "parts": [{"text": "It says hello."}]},
                {"role": "user", "parts": [{"text": "Thanks"}]}
            ]
        });
        let chat = gemini_request_to_chat(&request).expect("translates");
        assert_eq!(
            chat,
            json!({
                "model": "claude-sonnet-4", "stream": true, "stream_options": {"include_usage": true},
                "temperature": 0, "top_p": 1, "max_tokens": 100,
                "tools": [{"type": "function", "function": {"name": "read_file", "description": "Read a file",
                           "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}],
                "messages": [
                    {"role": "system", "content": "You are Gemini CLI."},
                    {"role": "user", "content": "Read a.txt"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1_read_file", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a.txt\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1_read_file", "content": "hello"},
                    {"role": "assistant", "content": "It says hello."},
                    {"role": "user", "content": "Thanks"}
                ]
            })
        );
        assert_eq!(gemini_dropped(&request), ["tools[1] (googleSearch)"]);
    }

    #[test]
    fn gemini_schemas_and_modes_become_json_schema_and_tool_choice() {
        let chat = gemini_request_to_chat(&json!({
            "model": "m", "contents": [{"parts": [{"text": "hi"}]}],
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT",
                "properties": {"n": {"type": "INTEGER"}}, "propertyOrdering": ["n"]}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": {"type": "ARRAY", "items": {"type": "STRING"}}}
        }))
        .expect("translates");
        assert_eq!(
            chat["tools"][0]["function"]["parameters"],
            json!({"type": "object", "properties": {"n": {"type": "integer"}}})
        );
        assert_eq!(
            chat["tool_choice"],
            json!({"type": "function", "function": {"name": "f"}})
        );
        assert_eq!(
            chat["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "array", "items": {"type": "string"}}}})
        );
    }

    #[test]
    fn what_only_google_can_read_is_refused_naming_the_field() {
        let cases = [
            (
                json!({"model": "m", "contents": [], "cachedContent": "cachedContents/1"}),
                "cachedContent",
            ),
            (
                json!({"model": "m", "contents": [{"parts": [{"fileData": {"fileUri": "gs://x"}}]}]}),
                "contents[0].parts[0].fileData",
            ),
            (
                json!({"model": "m", "contents": [{"parts": [{"inlineData": {"mimeType": "audio/wav", "data": "AA"}}]}]}),
                "contents[0].parts[0].inlineData.mimeType",
            ),
            (
                json!({"model": "m", "contents": [{"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}),
                "contents[0].parts[0].functionResponse",
            ),
            (
                json!({"model": "m", "contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 2}}),
                "generationConfig.candidateCount",
            ),
            (json!({"model": "m"}), "contents"),
        ];
        for (request, field) in cases {
            let err = gemini_request_to_chat(&request).expect_err("refused");
            assert!(
                matches!(&err, TranslateError::InvalidRequest { path, .. } if path == field),
                "{request}: {err}"
            );
        }
    }

    #[test]
    fn a_chat_answer_becomes_a_gemini_response() {
        let answer = json!({
            "id": "chatcmpl-7", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Reading.",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a\"}"}}]
            }}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 4}}
        });
        assert_eq!(
            chat_response_to_gemini(&answer, "gemini-2.5-pro").expect("translates"),
            json!({
                "candidates": [{"content": {"role": "model", "parts": [
                    {"text": "Reading."},
                    {"functionCall": {"id": "call_1", "name": "read_file", "args": {"path": "a"}}}
                ]}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5, "totalTokenCount": 25, "cachedContentTokenCount": 4},
                "modelVersion": "gemini-2.5-pro", "responseId": "chatcmpl-7"
            })
        );
    }
}
