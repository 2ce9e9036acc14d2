//! A fake OpenAI-style provider on a real loopback socket (port 0), told per key how to fail:
//! the faults real providers produce — 401, quota, 429 with reset headers, 5xx, a slow first
//! byte, a stream cut mid-way, malformed JSON. Records what it received for assertions.
//!
//! Besides OpenAI's `/v1/…` paths it answers the URL styles of the other kinds: Azure
//! (`/openai/deployments/{deployment}/chat/completions`, `/openai/v1/responses`, key in
//! `api-key`), Gemini (`/v1beta/models/{model}:generateContent` with `x-goog-api-key`, and the
//! OpenAI-compatible `/v1beta/openai/chat/completions`), and Anthropic's Messages API
//! (`/v1/messages`, `/v1/messages/count_tokens`, in `fake_anthropic.rs`).
//!
//! Chat and Messages answers follow the request: with tools, a call of the first tool with
//! [`fake_tool_input`]; after a tool result, `Tool said: <result>`; else `Hello!`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// How the fake answers a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// A normal answer (JSON, or an SSE stream of `chunks` deltas when asked to stream).
    Ok,
    /// 401 invalid_api_key.
    Unauthorized,
    /// 429 with code insufficient_quota (OpenAI's out-of-credit answer).
    InsufficientQuota,
    /// 402 (DeepSeek's insufficient balance).
    PaymentRequired,
    /// Lists models fine, but every completion is 429 insufficient_quota: a key without credit
    /// that only a one-token completion unmasks.
    NoCredit,
    /// 429 rate_limit_exceeded with `Retry-After` (seconds) and `x-ratelimit-reset-requests`.
    RateLimited { retry_after_secs: u64 },
    /// Like `RateLimited` for the first `times` requests with this key, then `Ok`.
    RateLimitedThenOk { times: usize, retry_after_secs: u64 },
    /// A 5xx with an OpenAI-style error body.
    ServerError(u16),
    /// A 500 for the first `times` requests with this key, then `Ok`.
    ServerErrorThenOk { times: usize },
    /// A 4xx that is the request's own fault.
    BadRequest,
    /// Waits this long before answering (normally).
    Slow(Duration),
    /// Streams this many chunks, then ends without `[DONE]`.
    CutAfter(usize),
    /// A stream whose headers and role-only first chunk come at once, and its first content
    /// only after this long.
    SlowFirstToken(Duration),
    /// A whole stream with an event that is not JSON (`data: {not json`) after its first
    /// content chunk.
    MalformedEvent,
    /// A whole answer whose stream closes after its `finish_reason` (and usage) chunk without
    /// `data: [DONE]`, as several OpenAI-compatible servers do.
    NoDone,
    /// 200 with a body that is not JSON.
    Malformed,
    /// A whole stream (terminal event included) whose connection then stays open, silent: a
    /// client that hangs up after its terminal event leaves KeyGate before the upstream ends.
    HoldsOpen,
    /// Answers with [`long_answer`] (60 pieces), in every protocol.
    Long,
    /// Streams the first `n` pieces of the long answer, then the connection ends.
    LongCutAfter(usize),
    /// Streams the first `n` pieces of the long answer, then goes silent for an hour.
    LongStallAfter(usize),
    /// Messages only: streams the first `n` pieces of the long answer, then Anthropic's
    /// mid-stream `event: error` (`overloaded_error`) and the end.
    LongErrorAfter(usize),
    /// Like `Long`, but a request that ends with an assistant message (a prefill) gets 400
    /// "This model does not support assistant message prefill", as Claude 4.6 answers.
    RejectsPrefill,
}

/// Pieces in the long answer.
pub const LONG_PIECES: usize = 60;

/// The long answer's pieces: `w0 `, `w1 `, … `w59.`.
pub fn long_pieces() -> Vec<String> {
    (0..LONG_PIECES)
        .map(|i| {
            if i + 1 == LONG_PIECES {
                format!("w{i}.")
            } else {
                format!("w{i} ")
            }
        })
        .collect()
}

/// The whole long answer, as a client must receive it, however many attempts it took.
pub fn long_answer() -> String {
    long_pieces().concat()
}

/// What the fake answers for `behaviour`: its pieces, and after how many it cuts or stalls.
pub(crate) struct Plan {
    pub pieces: Vec<String>,
    pub cut: Option<usize>,
    pub stall: Option<usize>,
}

impl Plan {
    /// `normal` for the ordinary behaviours, the long answer for the long ones; in either,
    /// only what follows `partial` (the answer so far, in a continuation request), as a
    /// model that continues perfectly would.
    pub(crate) fn new(behaviour: &Behaviour, normal: Vec<String>, partial: Option<&str>) -> Self {
        let (pieces, cut, stall) = match behaviour {
            Behaviour::Long | Behaviour::RejectsPrefill | Behaviour::LongErrorAfter(_) => {
                (long_pieces(), None, None)
            }
            Behaviour::LongCutAfter(n) => (long_pieces(), Some(*n), None),
            Behaviour::LongStallAfter(n) => (long_pieces(), None, Some(*n)),
            _ => (normal, None, None),
        };
        Self {
            pieces: after_partial(pieces, partial),
            cut,
            stall,
        }
    }

    pub(crate) fn text(&self) -> String {
        self.pieces.concat()
    }
}

/// The pieces still to come after `partial`; all of them when `partial` is not how the answer
/// starts.
fn after_partial(pieces: Vec<String>, partial: Option<&str>) -> Vec<String> {
    let Some(partial) = partial.filter(|p| pieces.concat().starts_with(p)) else {
        return pieces;
    };
    let mut skip = partial.len();
    let mut rest = Vec::new();
    for piece in pieces {
        if skip >= piece.len() {
            skip -= piece.len();
        } else {
            rest.push(piece[skip..].to_string());
            skip = 0;
        }
    }
    rest
}

/// The answer so far that a continuation request carries: its trailing assistant message (a
/// prefill), or the assistant message before a trailing "continue" instruction.
pub(crate) fn continued_from(messages: &Value) -> Option<String> {
    let messages = messages.as_array()?;
    let text = |m: &Value| match &m["content"] {
        Value::String(text) => Some(text.clone()),
        Value::Array(blocks) => Some(
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<String>(),
        ),
        _ => None,
    };
    let last = messages.last()?;
    if last["role"] == "assistant" {
        return text(last);
    }
    let instructed = text(last).is_some_and(|t| t.contains("cut off"));
    let before = messages.get(messages.len().checked_sub(2)?)?;
    (instructed && before["role"] == "assistant")
        .then(|| text(before))
        .flatten()
}

/// Whether a request ends with an assistant message.
pub(crate) fn ends_with_assistant(messages: &Value) -> bool {
    messages
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["role"] == "assistant")
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// The path and query exactly as received.
    pub uri: String,
    pub key: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
pub(crate) struct Shared {
    behaviours: HashMap<String, Behaviour>,
    received: Vec<Received>,
    pub(crate) balances: HashMap<String, crate::fake_balance::FakeBalance>,
    /// Whether the model list carries OpenRouter-style `pricing`.
    list_prices: bool,
}

#[derive(Clone)]
pub struct FakeUpstream {
    shared: Arc<Mutex<Shared>>,
    pub addr: SocketAddr,
}

/// Deltas in every streamed answer.
pub const STREAM_DELTAS: [&str; 3] = ["Hel", "lo", "!"];

impl FakeUpstream {
    /// Starts the fake on 127.0.0.1:0 inside the current tokio runtime.
    pub async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/responses", post(responses))
            .route("/v1/models", axum::routing::get(models))
            .route("/v1/messages", post(crate::fake_anthropic::messages))
            .route(
                "/v1/messages/count_tokens",
                post(crate::fake_anthropic::count_tokens),
            )
            .route(
                "/openai/deployments/{deployment}/chat/completions",
                post(chat),
            )
            .route("/openai/v1/responses", post(responses))
            .route("/v1beta/openai/chat/completions", post(chat))
            .route("/v1beta/models/{model_action}", post(gemini))
            .route("/v1beta/models", axum::routing::get(gemini_models))
            .route("/openai/models", axum::routing::get(models))
            .merge(crate::fake_balance::routes())
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake upstream");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, addr }
    }

    /// The base URL to give KeyGate (`…/v1`, like OpenAI's).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn set(&self, key: &str, behaviour: Behaviour) {
        self.lock().behaviours.insert(key.to_string(), behaviour);
    }

    /// What the balance endpoints answer for `key` (by default 404, as from a provider
    /// without one).
    pub fn set_balance(&self, key: &str, balance: crate::fake_balance::FakeBalance) {
        self.lock().balances.insert(key.to_string(), balance);
    }

    /// Makes `/v1/models` carry OpenRouter's per-token `pricing`: $1 / $2 per million tokens
    /// for `fake-model-a`, free for `fake-model-b`.
    pub fn list_prices(&self) {
        self.lock().list_prices = true;
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// The keys that were tried, in order.
    pub fn keys_tried(&self) -> Vec<String> {
        self.lock().received.iter().map(|r| r.key.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub(crate) fn note(
    shared: &Arc<Mutex<Shared>>,
    path: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> (Behaviour, Value) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let key = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| header("api-key"))
        .or_else(|| header("x-goog-api-key"))
        .or_else(|| header("x-api-key"))
        .unwrap_or_default()
        .to_string();
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut shared = shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut behaviour = shared
        .behaviours
        .get(&key)
        .cloned()
        .unwrap_or(Behaviour::Unauthorized);
    let seen = || shared.received.iter().filter(|r| r.key == key).count();
    behaviour = match behaviour {
        Behaviour::RateLimitedThenOk {
            times,
            retry_after_secs,
        } if seen() < times => Behaviour::RateLimited { retry_after_secs },
        Behaviour::ServerErrorThenOk { times } if seen() < times => Behaviour::ServerError(500),
        Behaviour::RateLimitedThenOk { .. } | Behaviour::ServerErrorThenOk { .. } => Behaviour::Ok,
        other => other,
    };
    shared.received.push(Received {
        path: path.to_string(),
        uri: uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        key,
        headers: headers.clone(),
        body: body.clone(),
    });
    (behaviour, body)
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> Response {
    let body =
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

/// A fault answer as Google writes it: `{"error":{"code","message","status"}}`, same status
/// and headers.
async fn in_googles_schema(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let openai: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let status = match parts.status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let body = json!({ "error": { "code": parts.status.as_u16(),
        "message": openai["error"]["message"], "status": status } });
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

/// Answers every fault that is not about the success body; `None` means "answer normally".
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
        Behaviour::Unauthorized => Some(error(
            401,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided: sk-fake***",
        )),
        Behaviour::InsufficientQuota | Behaviour::NoCredit => Some(error(
            429,
            "insufficient_quota",
            "insufficient_quota",
            "You exceeded your current quota",
        )),
        Behaviour::PaymentRequired => Some(error(
            402,
            "payment_required",
            "insufficient_balance",
            "Insufficient Balance",
        )),
        Behaviour::RateLimited { retry_after_secs } => {
            let mut response = error(429, "requests", "rate_limit_exceeded", "Rate limit reached");
            let headers = response.headers_mut();
            headers.insert(
                "retry-after",
                retry_after_secs.to_string().parse().expect("header"),
            );
            headers.insert(
                "x-ratelimit-reset-requests",
                format!("{retry_after_secs}s").parse().expect("header"),
            );
            headers.insert(
                "x-ratelimit-remaining-requests",
                "0".parse().expect("header"),
            );
            Some(response)
        }
        Behaviour::ServerError(status) => Some(error(
            *status,
            "server_error",
            "server_error",
            "The server had an error",
        )),
        Behaviour::BadRequest => Some(error(
            400,
            "invalid_request_error",
            "context_length_exceeded",
            "This model's maximum context length is 8 tokens",
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

async fn chat(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (behaviour, request) = note(&shared, "/v1/chat/completions", &uri, &headers, &body);
    if let Some(response) = fault(&behaviour).await {
        return response;
    }
    if behaviour == Behaviour::RejectsPrefill && ends_with_assistant(&request["messages"]) {
        return error(
            400,
            "invalid_request_error",
            "invalid_request_error",
            PREFILL_REFUSED,
        );
    }
    let normal = STREAM_DELTAS.iter().map(|d| d.to_string()).collect();
    let plan = Plan::new(
        &behaviour,
        normal,
        continued_from(&request["messages"]).as_deref(),
    );
    let model = request["model"].as_str().unwrap_or("unknown").to_string();
    let pieces = plan.pieces.len() as u64;
    let usage = json!({ "prompt_tokens": 11, "completion_tokens": pieces, "total_tokens": 11 + pieces, "prompt_tokens_details": { "cached_tokens": 2 } });
    let tool = first_tool(&request["tools"], "/function/name");
    let reply = chat_reply(&request);
    if request["stream"].as_bool() != Some(true) {
        let message = match (&tool, &reply) {
            (Some(name), None) => json!({ "role": "assistant", "content": null, "tool_calls": [{
                "id": "call_fake_1", "type": "function",
                "function": { "name": name, "arguments": fake_tool_input().to_string() } }] }),
            _ => {
                json!({ "role": "assistant", "content": reply.unwrap_or_else(|| plan.text()) })
            }
        };
        let finish = if message["tool_calls"].is_array() {
            "tool_calls"
        } else {
            "stop"
        };
        return axum::Json(json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
            "choices": [{ "index": 0, "message": message, "finish_reason": finish }],
            "usage": usage,
        }))
        .into_response();
    }
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let chunk = |delta: Value, finish: Value| {
        let chunk = json!({ "id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
        format!("data: {chunk}\n\n")
    };
    let mut events: Vec<String> = Vec::new();
    let finish = match (&tool, &reply) {
        (Some(name), None) => {
            events.push(chunk(
                json!({ "role": "assistant", "content": null, "tool_calls": [{ "index": 0, "id": "call_fake_1", "type": "function", "function": { "name": name, "arguments": "" } }] }),
                Value::Null,
            ));
            for part in split3(&fake_tool_input().to_string()) {
                events.push(chunk(
                    json!({ "tool_calls": [{ "index": 0, "function": { "arguments": part } }] }),
                    Value::Null,
                ));
            }
            "tool_calls"
        }
        (_, Some(reply)) => {
            events.push(chunk(json!({ "content": reply }), Value::Null));
            "stop"
        }
        _ => {
            events.extend(
                plan.pieces
                    .iter()
                    .map(|d| chunk(json!({ "content": d }), Value::Null)),
            );
            "stop"
        }
    };
    events.push(chunk(json!({}), json!(finish)));
    if include_usage {
        let chunk = json!({ "id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage });
        events.push(format!("data: {chunk}\n\n"));
    }
    if !matches!(behaviour, Behaviour::NoDone) {
        events.push("data: [DONE]\n\n".to_string());
    }
    if behaviour == Behaviour::MalformedEvent {
        events.insert(1, "data: {not json\n\n".to_string());
    }
    if let Behaviour::SlowFirstToken(pause) = behaviour {
        events.insert(
            0,
            chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
        );
        return sse_pausing(events, 1, pause);
    }
    if plan.cut.is_some() || plan.stall.is_some() {
        events.insert(
            0,
            chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
        );
    }
    plan.stream(events, 1, &behaviour)
}

/// Claude 4.6's answer to a prefill.
pub const PREFILL_REFUSED: &str = "This model does not support assistant message prefill. The conversation must end with a user message.";

impl Plan {
    /// `events` as an SSE answer, whose first `opening` events come before the pieces: cut or
    /// stalled after the plan's number of pieces, or cut as `behaviour` says.
    pub(crate) fn stream(
        &self,
        events: Vec<String>,
        opening: usize,
        behaviour: &Behaviour,
    ) -> Response {
        if let Some(n) = self.stall {
            return sse_pausing(events, opening + n, Duration::from_secs(3600));
        }
        if *behaviour == Behaviour::HoldsOpen {
            // Everything, then the connection stays open without a byte more.
            let all = events.len();
            let mut events = events;
            events.push(String::new());
            return sse_pausing(events, all, Duration::from_secs(3600));
        }
        match self.cut {
            Some(n) => sse(events, Some(opening + n)),
            None => sse(events, cut_after(behaviour)),
        }
    }
}

/// The input every fake tool call carries, so tests can check it arrives exactly.
pub fn fake_tool_input() -> Value {
    json!({ "city": "Paris", "days": [1, 2], "units": "celsius", "note": "a \"quoted\" word" })
}

/// The name of the first tool in `tools` (at `pointer` inside each tool), if there is one.
pub(crate) fn first_tool(tools: &Value, pointer: &str) -> Option<String> {
    tools
        .as_array()?
        .first()?
        .pointer(pointer)?
        .as_str()
        .map(str::to_string)
}

/// `Tool said: …` when the conversation ends with a tool result.
fn chat_reply(request: &Value) -> Option<String> {
    let last = request["messages"].as_array()?.last()?;
    (last["role"] == "tool")
        .then(|| format!("Tool said: {}", last["content"].as_str().unwrap_or("")))
}

/// `text` cut in three pieces (at char boundaries), as streamed tool arguments arrive.
pub(crate) fn split3(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let third = chars.len().div_ceil(3).max(1);
    chars.chunks(third).map(|c| c.iter().collect()).collect()
}

/// An SSE answer of `events`, cut after `cut_after` of them when asked.
pub(crate) fn sse(mut events: Vec<String>, cut_after: Option<usize>) -> Response {
    if let Some(n) = cut_after {
        events.truncate(n);
    }
    let stream = futures_util::stream::iter(
        events
            .into_iter()
            .map(|e| Ok::<_, std::io::Error>(Bytes::from(e))),
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Like [`sse`], with a pause of `pause` after the first `before` events.
fn sse_pausing(events: Vec<String>, before: usize, pause: Duration) -> Response {
    let stream = futures_util::StreamExt::then(
        futures_util::stream::iter(events.into_iter().enumerate()),
        move |(i, event)| async move {
            if i == before {
                tokio::time::sleep(pause).await;
            }
            Ok::<_, std::io::Error>(Bytes::from(event))
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

pub(crate) fn cut_after(behaviour: &Behaviour) -> Option<usize> {
    match behaviour {
        Behaviour::CutAfter(n) => Some(*n),
        _ => None,
    }
}

/// The Responses API (`/v1/responses`): a `response` object, or its event stream ending with
/// `response.completed`, which carries the usage.
async fn responses(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (behaviour, request) = note(&shared, "/v1/responses", &uri, &headers, &body);
    if let Some(response) = fault(&behaviour).await {
        return response;
    }
    let model = request["model"].as_str().unwrap_or("unknown").to_string();
    let input = match &request["input"] {
        Value::String(text) => json!([{ "role": "user", "content": text }]),
        other => other.clone(),
    };
    let normal = STREAM_DELTAS.iter().map(|d| d.to_string()).collect();
    let plan = Plan::new(&behaviour, normal, continued_from(&input).as_deref());
    let text = plan.text();
    let message = |text: &str| {
        json!({ "type": "message", "id": "msg_fake", "status": "completed", "role": "assistant",
        "content": [{ "type": "output_text", "text": text, "annotations": [] }] })
    };
    let response = |status: &str, output: Value, usage: Value| {
        json!({ "id": "resp_fake", "object": "response", "created_at": 0, "status": status, "model": model,
            "output": output, "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "usage": usage })
    };
    let pieces = plan.pieces.len();
    let usage = json!({ "input_tokens": 11, "input_tokens_details": { "cached_tokens": 2 },
        "output_tokens": pieces, "output_tokens_details": { "reasoning_tokens": 0 }, "total_tokens": 11 + pieces });
    // With tools, the first one is called — unless the input ends with its output.
    let answered = input
        .as_array()
        .and_then(|items| items.last())
        .is_some_and(|item| item["type"] == "function_call_output");
    let tool = first_tool(&request["tools"], "/name").filter(|_| !answered);
    let call = |arguments: &str, status: &str| {
        json!({ "type": "function_call", "id": "fc_fake_1", "call_id": "call_fake_1",
            "name": tool.clone().unwrap_or_default(), "arguments": arguments, "status": status })
    };
    if request["stream"].as_bool() != Some(true) {
        let output = match &tool {
            Some(_) => json!([call(&fake_tool_input().to_string(), "completed")]),
            None => json!([message(&text)]),
        };
        return axum::Json(response("completed", output, usage)).into_response();
    }
    let mut sequence = 0;
    let mut event = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(sequence);
        sequence += 1;
        format!("event: {kind}\ndata: {data}\n\n")
    };
    let part = |text: &str| json!({ "type": "output_text", "text": text, "annotations": [] });
    if tool.is_some() {
        let arguments = fake_tool_input().to_string();
        let mut events = vec![
            event(
                "response.created",
                json!({ "response": response("in_progress", json!([]), Value::Null) }),
            ),
            event(
                "response.output_item.added",
                json!({ "output_index": 0, "item": call("", "in_progress") }),
            ),
        ];
        for piece in split3(&arguments) {
            events.push(event(
                "response.function_call_arguments.delta",
                json!({ "item_id": "fc_fake_1", "output_index": 0, "delta": piece }),
            ));
        }
        events.push(event(
            "response.function_call_arguments.done",
            json!({ "item_id": "fc_fake_1", "output_index": 0, "arguments": arguments }),
        ));
        events.push(event(
            "response.output_item.done",
            json!({ "output_index": 0, "item": call(&arguments, "completed") }),
        ));
        events.push(event(
            "response.completed",
            json!({ "response": response("completed", json!([call(&arguments, "completed")]), usage) }),
        ));
        return sse(events, cut_after(&behaviour));
    }
    let mut events = vec![
        event(
            "response.created",
            json!({ "response": response("in_progress", json!([]), Value::Null) }),
        ),
        event(
            "response.output_item.added",
            json!({ "output_index": 0,
            "item": { "type": "message", "id": "msg_fake", "status": "in_progress", "role": "assistant", "content": [] } }),
        ),
        event(
            "response.content_part.added",
            json!({ "item_id": "msg_fake", "output_index": 0, "content_index": 0, "part": part("") }),
        ),
    ];
    let opening = events.len();
    for delta in &plan.pieces {
        events.push(event(
            "response.output_text.delta",
            json!({ "item_id": "msg_fake",
            "output_index": 0, "content_index": 0, "delta": delta }),
        ));
    }
    events.push(event(
        "response.output_text.done",
        json!({ "item_id": "msg_fake", "output_index": 0, "content_index": 0, "text": text }),
    ));
    events.push(event("response.content_part.done", json!({ "item_id": "msg_fake", "output_index": 0, "content_index": 0, "part": part(&text) })));
    events.push(event(
        "response.output_item.done",
        json!({ "output_index": 0, "item": message(&text) }),
    ));
    events.push(event(
        "response.completed",
        json!({ "response": response("completed", json!([message(&text)]), usage) }),
    ));
    plan.stream(events, opening, &behaviour)
}

/// Gemini's native `models/{model}:generateContent` and `:streamGenerateContent?alt=sse`.
async fn gemini(
    State(shared): State<Arc<Mutex<Shared>>>,
    axum::extract::Path(model_action): axum::extract::Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (behaviour, request) = note(&shared, "/v1beta/models", &uri, &headers, &body);
    if let Some(response) = fault(&behaviour).await {
        return in_googles_schema(response).await;
    }
    let usage = json!({ "promptTokenCount": 11, "candidatesTokenCount": 3, "totalTokenCount": 14 });
    // With function declarations, the first one is called — unless the conversation ends with
    // its response, which is answered "Tool said: …".
    let last_parts = request["contents"]
        .as_array()
        .and_then(|c| c.last())
        .map(|c| c["parts"].clone())
        .unwrap_or_default();
    let answered = last_parts
        .as_array()
        .and_then(|parts| parts.iter().find_map(|p| p.get("functionResponse")))
        .map(|r| {
            format!(
                "Tool said: {}",
                r["response"]["output"].as_str().unwrap_or("")
            )
        });
    let tool = first_tool(&request["tools"], "/functionDeclarations/0/name")
        .filter(|_| answered.is_none());
    if let Some(name) = tool {
        let answer = json!({ "candidates": [{ "content": { "role": "model", "parts": [
            { "functionCall": { "name": name, "args": fake_tool_input() } }] },
            "finishReason": "STOP", "index": 0 }], "usageMetadata": usage });
        if model_action.ends_with(":streamGenerateContent") {
            return sse(
                vec![format!("data: {answer}\r\n\r\n")],
                cut_after(&behaviour),
            );
        }
        return axum::Json(answer).into_response();
    }
    if let Some(reply) = answered {
        let mut answer = json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": reply }] },
            "finishReason": "STOP", "index": 0 }], "usageMetadata": usage });
        if model_action.ends_with(":streamGenerateContent") {
            return sse(
                vec![format!("data: {answer}\r\n\r\n")],
                cut_after(&behaviour),
            );
        }
        answer["modelVersion"] = json!("fake");
        return axum::Json(answer).into_response();
    }
    let chunk = |text: &str, usage: Option<&Value>| {
        let mut chunk = json!({ "candidates": [{ "content": { "parts": [{ "text": text }], "role": "model" }, "index": 0 }] });
        if let Some(usage) = usage {
            chunk["candidates"][0]["finishReason"] = json!("STOP");
            chunk["usageMetadata"] = usage.clone();
        }
        chunk
    };
    if model_action.ends_with(":streamGenerateContent") {
        let last = STREAM_DELTAS.len() - 1;
        let events = STREAM_DELTAS
            .iter()
            .enumerate()
            .map(|(i, d)| format!("data: {}\r\n\r\n", chunk(d, (i == last).then_some(&usage))))
            .collect();
        return sse(events, cut_after(&behaviour));
    }
    axum::Json(chunk(&STREAM_DELTAS.concat(), Some(&usage))).into_response()
}

async fn embeddings(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (behaviour, request) = note(&shared, "/v1/embeddings", &uri, &headers, &body);
    if let Some(response) = fault(&behaviour).await {
        return response;
    }
    axum::Json(json!({
        "object": "list",
        "data": [{ "object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3] }],
        "model": request["model"],
        "usage": { "prompt_tokens": 4, "total_tokens": 4 },
    }))
    .into_response()
}

/// Gemini's native model list (`models[].name` with a `models/` prefix).
async fn gemini_models(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (behaviour, _) = note(&shared, "/v1beta/models", &uri, &headers, &Bytes::new());
    if let Some(response) = fault(&behaviour).await {
        return response;
    }
    let models: Vec<Value> = FAKE_MODELS
        .iter()
        .map(|id| json!({ "name": format!("models/{id}"), "displayName": id }))
        .collect();
    axum::Json(json!({ "models": models })).into_response()
}

/// The models every fake provider lists.
pub const FAKE_MODELS: [&str; 2] = ["fake-model-a", "fake-model-b"];

async fn models(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (behaviour, _) = note(&shared, "/v1/models", &uri, &headers, &Bytes::new());
    let behaviour = if behaviour == Behaviour::NoCredit {
        Behaviour::Ok
    } else {
        behaviour
    };
    if let Some(response) = fault(&behaviour).await {
        return response;
    }
    let priced = shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .list_prices;
    let data: Vec<Value> = FAKE_MODELS
        .iter()
        .map(|id| {
            let mut model =
                json!({ "id": id, "object": "model", "created": 0, "owned_by": "fake" });
            if priced {
                model["pricing"] = if *id == "fake-model-a" {
                    json!({ "prompt": "0.000001", "completion": "0.000002" })
                } else {
                    json!({ "prompt": "0", "completion": "0" })
                };
            }
            model
        })
        .collect();
    axum::Json(json!({ "object": "list", "data": data })).into_response()
}
