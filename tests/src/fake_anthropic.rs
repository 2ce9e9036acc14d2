//! The fake's Anthropic Messages API: `POST /v1/messages` (JSON, or an SSE stream of
//! `message_start` … `message_stop` with usage incl. cache tokens) and
//! `POST /v1/messages/count_tokens`, failing per key in Anthropic's own error shapes
//! (`{"type":"error","error":{"type","message"}}`; 529 `overloaded_error`).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fake_upstream::{
    Behaviour, PREFILL_REFUSED, Plan, STREAM_DELTAS, Shared, continued_from, ends_with_assistant,
    fake_tool_input, first_tool, note, split3,
};

/// Token counts of every Anthropic answer: input (without cache), output, cache writes and
/// cache reads. KeyGate logs prompt tokens = 11 + 5 + 7 = 23 and cached tokens = 7.
pub const USAGE: (u64, u64, u64, u64) = (11, 3, 5, 7);
/// What `count_tokens` answers.
pub const COUNTED_TOKENS: u64 = 42;

fn error(status: u16, kind: &str, message: &str) -> Response {
    let body = json!({ "type": "error", "error": { "type": kind, "message": message } });
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("request-id", "req_fake_error")],
        axum::Json(body),
    )
        .into_response()
}

/// Every fault that is not about the success body, Anthropic style; `None`: answer normally.
async fn fault(behaviour: &Behaviour) -> Option<Response> {
    match behaviour {
        Behaviour::Ok
        | Behaviour::CutAfter(_)
        | Behaviour::NoDone
        | Behaviour::SlowFirstToken(_)
        | Behaviour::MalformedEvent
        | Behaviour::Long
        | Behaviour::LongCutAfter(_)
        | Behaviour::LongStallAfter(_)
        | Behaviour::LongErrorAfter(_)
        | Behaviour::RejectsPrefill
        | Behaviour::HoldsOpen
        | Behaviour::RateLimitedThenOk { .. }
        | Behaviour::ServerErrorThenOk { .. } => None,
        Behaviour::Slow(wait) => {
            tokio::time::sleep(*wait).await;
            None
        }
        Behaviour::Unauthorized => Some(error(401, "authentication_error", "invalid x-api-key")),
        Behaviour::InsufficientQuota | Behaviour::NoCredit | Behaviour::PaymentRequired => {
            Some(error(
                402,
                "billing_error",
                "Your credit balance is too low to access the Anthropic API.",
            ))
        }
        Behaviour::RateLimited { retry_after_secs } => {
            let mut response = error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            );
            let headers = response.headers_mut();
            headers.insert(
                "retry-after",
                retry_after_secs.to_string().parse().expect("header"),
            );
            headers.insert(
                "anthropic-ratelimit-requests-remaining",
                "0".parse().expect("header"),
            );
            Some(response)
        }
        Behaviour::ServerError(529) => Some(error(529, "overloaded_error", "Overloaded")),
        Behaviour::ServerError(status) => {
            Some(error(*status, "api_error", "Internal server error"))
        }
        Behaviour::BadRequest => Some(error(
            400,
            "invalid_request_error",
            "prompt is too long: 9 tokens > 8 maximum",
        )),
        Behaviour::Malformed => Some(
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{not json",
            )
                .into_response(),
        ),
    }
}

/// `Tool said: …` when the last user turn carries a tool result.
fn reply(request: &Value) -> Option<String> {
    let last = request["messages"].as_array()?.last()?;
    let result = last["content"]
        .as_array()?
        .iter()
        .find(|block| block["type"] == "tool_result")?;
    let text = match &result["content"] {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
        _ => String::new(),
    };
    Some(format!("Tool said: {text}"))
}

fn usage(output: u64) -> Value {
    let (input, _, creation, read) = USAGE;
    json!({ "input_tokens": input, "output_tokens": output,
        "cache_creation_input_tokens": creation, "cache_read_input_tokens": read })
}

pub(crate) async fn messages(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (behaviour, request) = note(&shared, "/v1/messages", &uri, &headers, &body);
    if let Some(response) = fault(&behaviour).await {
        return response;
    }
    if behaviour == Behaviour::RejectsPrefill && ends_with_assistant(&request["messages"]) {
        return error(400, "invalid_request_error", PREFILL_REFUSED);
    }
    let model = request["model"].as_str().unwrap_or("unknown").to_string();
    let reply = reply(&request);
    let tool = first_tool(&request["tools"], "/name").filter(|_| reply.is_none());
    let normal = STREAM_DELTAS.iter().map(|d| d.to_string()).collect();
    let plan = Plan::new(
        &behaviour,
        normal,
        continued_from(&request["messages"]).as_deref(),
    );
    let text = match (&reply, &tool) {
        (Some(reply), _) => reply.clone(),
        (None, Some(_)) => "Let me check.".to_string(),
        (None, None) => plan.text(),
    };
    let stop_reason = if tool.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    if request["stream"].as_bool() != Some(true) {
        let mut content = vec![json!({ "type": "text", "text": text })];
        if let Some(name) = &tool {
            content.push(json!({ "type": "tool_use", "id": "toolu_fake_1", "name": name, "input": fake_tool_input() }));
        }
        let answer = json!({ "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null, "usage": usage(USAGE.1) });
        return ([("request-id", "req_fake")], axum::Json(answer)).into_response();
    }
    let event = |data: Value| {
        let kind = data["type"].as_str().unwrap_or_default().to_string();
        format!("event: {kind}\ndata: {data}\n\n")
    };
    let mut events = vec![
        event(
            json!({ "type": "message_start", "message": { "id": "msg_fake", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(1) } }),
        ),
        event(
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        ),
        event(json!({ "type": "ping" })),
    ];
    let opening = events.len();
    let pieces: Vec<String> = if reply.is_none() && tool.is_none() {
        plan.pieces.clone()
    } else {
        vec![text]
    };
    let output = if plan.pieces.len() == STREAM_DELTAS.len() {
        USAGE.1
    } else {
        plan.pieces.len() as u64
    };
    for piece in pieces {
        events.push(event(json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": piece } })));
    }
    events.push(event(json!({ "type": "content_block_stop", "index": 0 })));
    if let Some(name) = &tool {
        events.push(event(json!({ "type": "content_block_start", "index": 1,
            "content_block": { "type": "tool_use", "id": "toolu_fake_1", "name": name, "input": {} } })));
        for part in split3(&fake_tool_input().to_string()) {
            events.push(event(json!({ "type": "content_block_delta", "index": 1,
                "delta": { "type": "input_json_delta", "partial_json": part } })));
        }
        events.push(event(json!({ "type": "content_block_stop", "index": 1 })));
    }
    events.push(event(json!({ "type": "message_delta", "delta": { "stop_reason": stop_reason, "stop_sequence": null },
        "usage": { "output_tokens": output } })));
    events.push(event(json!({ "type": "message_stop" })));
    if let Behaviour::LongErrorAfter(n) = behaviour {
        events.truncate(opening + n);
        events.push(event(json!({ "type": "error",
            "error": { "type": "overloaded_error", "message": "Overloaded" } })));
    }
    plan.stream(events, opening, &behaviour)
}

pub(crate) async fn count_tokens(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (behaviour, _) = note(&shared, "/v1/messages/count_tokens", &uri, &headers, &body);
    if let Some(response) = fault(&behaviour).await {
        return response;
    }
    axum::Json(json!({ "input_tokens": COUNTED_TOKENS })).into_response()
}
