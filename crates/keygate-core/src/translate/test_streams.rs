//! Realistic upstream streams and helpers shared by the stream translators' tests.

use serde_json::{Value, json};

use super::error::TranslateError;
use super::sse::decode_all;

/// The tool arguments both fixtures stream in pieces.
pub(crate) const ARGUMENTS: &str = "{\"city\": \"Paris\", \"unit\": \"celsius\"}";
const ARGUMENT_PIECES: [&str; 3] = ["{\"city\": \"Pa", "ris\", \"unit\"", ": \"celsius\"}"];

/// A gpt-4o style stream: role, text, one tool call whose arguments arrive in three chunks,
/// the finish_reason chunk, then the `include_usage` chunk and `[DONE]`.
pub(crate) fn openai_tool_call_stream() -> String {
    let chunk = |delta: Value, finish: Value| {
        let body = json!({
            "id": "chatcmpl-9x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}], "usage": null
        });
        format!("data: {body}\n\n")
    };
    let mut stream = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    stream += &chunk(json!({"content": "Let me check"}), Value::Null);
    stream += &chunk(json!({"content": " — ☀️?"}), Value::Null);
    let call = json!({"index": 0, "id": "call_abc", "type": "function", "function": {"name": "weather", "arguments": ""}});
    stream += &chunk(json!({"tool_calls": [call]}), Value::Null);
    for piece in ARGUMENT_PIECES {
        let call = json!({"index": 0, "function": {"arguments": piece}});
        stream += &chunk(json!({"tool_calls": [call]}), Value::Null);
    }
    stream += &chunk(json!({}), json!("tool_calls"));
    let usage = json!({
        "id": "chatcmpl-9x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": [],
        "usage": {"prompt_tokens": 130, "completion_tokens": 20, "total_tokens": 150,
                  "prompt_tokens_details": {"cached_tokens": 100}}
    });
    stream + &format!("data: {usage}\n\ndata: [DONE]\n\n")
}

/// One Anthropic event frame, named after its data's `type`.
pub(crate) fn anthropic_frame(data: Value) -> String {
    format!(
        "event: {}\ndata: {data}\n\n",
        data["type"].as_str().unwrap_or_default()
    )
}

/// A claude-sonnet style stream with CRLF line ends: ping, a thinking block, a text block, then
/// a tool_use block whose input arrives in pieces, with cache usage in message_start.
pub(crate) fn anthropic_text_then_tool_stream() -> String {
    let usage = json!({"input_tokens": 10, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 100, "output_tokens": 1});
    let mut stream = anthropic_frame(json!({"type": "message_start", "message": {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage
    }}));
    stream += "event: ping\ndata: {\"type\": \"ping\"}\n\n";
    let delta = |index: u64, delta: Value| {
        anthropic_frame(json!({"type": "content_block_delta", "index": index, "delta": delta}))
    };
    let start = |index: u64, block: Value| {
        anthropic_frame(
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        )
    };
    let stop = |index: u64| anthropic_frame(json!({"type": "content_block_stop", "index": index}));
    stream += &start(0, json!({"type": "thinking", "thinking": ""}));
    stream += &delta(0, json!({"type": "thinking_delta", "thinking": "hmm"}));
    stream += &delta(0, json!({"type": "signature_delta", "signature": "s"}));
    stream += &stop(0);
    stream += &start(1, json!({"type": "text", "text": ""}));
    stream += &delta(1, json!({"type": "text_delta", "text": "Let me "}));
    stream += &delta(1, json!({"type": "text_delta", "text": "check — ☀️"}));
    stream += &stop(1);
    stream += &start(
        2,
        json!({"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}),
    );
    for piece in [""].into_iter().chain(ARGUMENT_PIECES) {
        stream += &delta(
            2,
            json!({"type": "input_json_delta", "partial_json": piece}),
        );
    }
    stream += &stop(2);
    stream += &anthropic_frame(json!({
        "type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
        "usage": {"output_tokens": 42}
    }));
    stream += &anthropic_frame(json!({"type": "message_stop"}));
    stream.replace('\n', "\r\n")
}

/// Feeds `bytes` to a translator's `push` in pieces of `size` bytes and collects the output.
pub(crate) fn feed(
    mut push: impl FnMut(&[u8]) -> Result<Vec<u8>, TranslateError>,
    bytes: &[u8],
    size: usize,
) -> Vec<u8> {
    bytes
        .chunks(size)
        .flat_map(|piece| push(piece).expect("push"))
        .collect()
}

/// Every emitted event as (event name or "", data as JSON); `[DONE]` becomes the string "[DONE]".
pub(crate) fn parsed_events(bytes: &[u8]) -> Vec<(String, Value)> {
    decode_all(bytes)
        .into_iter()
        .map(|event| {
            let data = match event.data.as_str() {
                "[DONE]" => json!("[DONE]"),
                data => serde_json::from_str(data).expect("emitted data is JSON"),
            };
            (event.event.unwrap_or_default(), data)
        })
        .collect()
}
