//! Tool definitions, tool choice and tool-call arguments, which both protocols have under
//! different names.

use serde_json::{Map, Value, json};

use super::content::{kind_of, required_str};
use super::error::TranslateError;

/// Anthropic `tools` and `tool_choice` → OpenAI `tools`, `tool_choice`, `parallel_tool_calls`.
pub(crate) fn anthropic_tools_to_chat(
    req: &Value,
    out: &mut Map<String, Value>,
) -> Result<(), TranslateError> {
    let Some(tools) = req
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
    else {
        // OpenAI refuses tool_choice and parallel_tool_calls without tools.
        return Ok(());
    };
    let mut functions = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        match tool.get("type").and_then(Value::as_str) {
            None | Some("custom") => {}
            Some(other) => {
                return Err(TranslateError::request(
                    path,
                    format!(
                        "server tool type {other:?} runs on Anthropic's side and has no OpenAI equivalent"
                    ),
                ));
            }
        }
        let mut function = Map::new();
        function.insert("name".into(), required_str(tool, "name", &path)?.into());
        if let Some(description) = tool.get("description").and_then(Value::as_str) {
            function.insert("description".into(), description.into());
        }
        let schema = tool
            .get("input_schema")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        function.insert("parameters".into(), schema);
        functions.push(json!({"type": "function", "function": function}));
    }
    out.insert("tools".into(), functions.into());

    let Some(choice) = req.get("tool_choice").filter(|c| !c.is_null()) else {
        return Ok(());
    };
    let mapped = match kind_of(choice) {
        "auto" => json!("auto"),
        "any" => json!("required"),
        "none" => json!("none"),
        "tool" => {
            json!({"type": "function", "function": {"name": required_str(choice, "name", "tool_choice")?}})
        }
        other => {
            return Err(TranslateError::request(
                "tool_choice.type",
                format!("unknown tool_choice type {other:?}"),
            ));
        }
    };
    out.insert("tool_choice".into(), mapped);
    if choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        == Some(true)
    {
        out.insert("parallel_tool_calls".into(), false.into());
    }
    Ok(())
}

/// OpenAI `tools`, `tool_choice` and `parallel_tool_calls` → Anthropic `tools` and `tool_choice`.
pub(crate) fn chat_tools_to_anthropic(
    req: &Value,
    out: &mut Map<String, Value>,
) -> Result<(), TranslateError> {
    let Some(tools) = req
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
    else {
        return Ok(());
    };
    let mut converted = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        if kind_of(tool) != "function" {
            return Err(TranslateError::request(
                format!("{path}.type"),
                format!("tool type {:?} has no Anthropic equivalent", kind_of(tool)),
            ));
        }
        let function = tool.get("function").unwrap_or(&Value::Null);
        let mut out_tool = Map::new();
        out_tool.insert(
            "name".into(),
            required_str(function, "name", &format!("{path}.function"))?.into(),
        );
        if let Some(description) = function.get("description").and_then(Value::as_str) {
            out_tool.insert("description".into(), description.into());
        }
        let schema = function
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        out_tool.insert("input_schema".into(), schema);
        converted.push(Value::Object(out_tool));
    }
    out.insert("tools".into(), converted.into());

    let mut choice = match req.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(mode)) => Some(match mode.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            other => {
                return Err(TranslateError::request(
                    "tool_choice",
                    format!("unknown tool_choice {other:?}"),
                ));
            }
        }),
        Some(object) if kind_of(object) == "function" => {
            let name = required_str(
                object.get("function").unwrap_or(&Value::Null),
                "name",
                "tool_choice.function",
            )?;
            Some(json!({"type": "tool", "name": name}))
        }
        Some(_) => {
            return Err(TranslateError::request(
                "tool_choice",
                "expected \"auto\", \"required\", \"none\" or a function",
            ));
        }
    };
    if req.get("parallel_tool_calls").and_then(Value::as_bool) == Some(false) {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        // Anthropic's `none` has no such flag: with no tool calls there is nothing to serialise.
        if kind_of(choice) != "none" {
            choice["disable_parallel_tool_use"] = true.into();
        }
    }
    if let Some(choice) = choice {
        out.insert("tool_choice".into(), choice);
    }
    Ok(())
}

/// Tool arguments as Anthropic's `input` object. Models sometimes send `""` for a tool without
/// parameters, which means `{}`; anything else that is not a JSON object is refused rather than
/// guessed at.
pub(crate) fn parse_arguments(arguments: &str) -> Result<Value, String> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err("tool arguments must be a JSON object".to_owned()),
        Err(e) => Err(format!("tool arguments are not valid JSON ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{chat_request_to_messages, messages_request_to_chat};

    #[test]
    fn tools_and_tool_choice_become_functions() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
        let out = messages_request_to_chat(&json!({
            "model": "m", "max_tokens": 10, "stream": true,
            "tools": [{"name": "weather", "description": "Get weather", "input_schema": schema,
                       "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "tool", "name": "weather", "disable_parallel_tool_use": true},
            "messages": [{"role": "user", "content": "Weather in Paris?"}]
        }))
        .expect("translates");
        assert_eq!(
            out,
            json!({
                "model": "m", "max_tokens": 10, "stream": true, "stream_options": {"include_usage": true},
                "tools": [{"type": "function", "function": {"name": "weather", "description": "Get weather", "parameters": schema}}],
                "tool_choice": {"type": "function", "function": {"name": "weather"}},
                "parallel_tool_calls": false,
                "messages": [{"role": "user", "content": "Weather in Paris?"}]
            })
        );
        for (anthropic, openai) in [("auto", "auto"), ("any", "required"), ("none", "none")] {
            let out = messages_request_to_chat(&json!({
                "model": "m", "messages": [], "tools": [{"name": "t", "input_schema": {}}],
                "tool_choice": {"type": anthropic}
            }))
            .expect("translates");
            assert_eq!(out["tool_choice"], json!(openai));
        }
    }

    #[test]
    fn functions_and_tool_choice_become_anthropic_tools() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let out = chat_request_to_messages(&json!({
            "model": "m",
            "tools": [{"type": "function", "function": {"name": "weather", "description": "Get weather", "parameters": schema, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "parallel_tool_calls": false,
            "messages": [{"role": "user", "content": "Weather?"}]
        }))
        .expect("translates");
        assert_eq!(
            out["tools"],
            json!([{"name": "weather", "description": "Get weather", "input_schema": schema}])
        );
        assert_eq!(
            out["tool_choice"],
            json!({"type": "tool", "name": "weather", "disable_parallel_tool_use": true})
        );
        for (openai, anthropic) in [
            (json!("auto"), json!({"type": "auto"})),
            (json!("required"), json!({"type": "any"})),
            (json!("none"), json!({"type": "none"})),
        ] {
            let out = chat_request_to_messages(&json!({
                "model": "m", "messages": [], "tool_choice": openai,
                "tools": [{"type": "function", "function": {"name": "t"}}]
            }))
            .expect("translates");
            assert_eq!(out["tool_choice"], anthropic);
            assert_eq!(
                out["tools"][0]["input_schema"],
                json!({"type": "object", "properties": {}})
            );
        }
    }

    #[test]
    fn arguments_must_be_a_json_object() {
        assert_eq!(parse_arguments("{\"a\":1}"), Ok(json!({"a": 1})));
        assert_eq!(parse_arguments(" "), Ok(json!({})));
        assert_eq!(
            parse_arguments("[1]"),
            Err("tool arguments must be a JSON object".to_owned())
        );
        assert!(
            parse_arguments("{\"a\":")
                .is_err_and(|e| e.starts_with("tool arguments are not valid JSON"))
        );
    }
}
