//! The translation matrix of issue 19, end to end over real sockets: every client protocol
//! (chat completions, Responses, Messages, the Gemini API) against every provider kind
//! (OpenAI-compatible, Anthropic, Gemini, Azure), streamed and not, for a text answer, a tool
//! call and an upstream error. Each cell checks what the client sees in its own protocol;
//! at the end every served request's log row must carry tokens.

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream, STREAM_DELTAS, fake_tool_input};
use keygate_tests::proxy_client::{logged, sse_events};
use keygate_tests::served::{Served, key};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Chat,
    Responses,
    Messages,
    Gemini,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Text,
    Tool,
    Error,
}

/// (provider name, kind, base URL path after the fake's address, model of the route).
const KINDS: [(&str, &str, &str, &str); 4] = [
    ("o", "openai", "/v1", "gpt-4o-mini"),
    ("a", "anthropic", "", "claude-sonnet-4-5"),
    ("g", "gemini", "/v1beta", "gemini-2.5-flash"),
    ("z", "azure", "", "gpt-4o-mini"),
];

fn secret(provider: &str, failing: bool) -> String {
    let state = if failing { 9 } else { 1 };
    format!("sk-fake-matrix-{provider}{state}-000000000000000001")
}

fn schema() -> Value {
    json!({ "type": "object", "properties": { "city": { "type": "string" } } })
}

/// The request a client of `client` sends for `case`, and its path.
fn request(client: Client, model: &str, stream: bool, case: Case) -> (String, Value) {
    let tool = case == Case::Tool;
    match client {
        Client::Chat => {
            let mut body = json!({ "model": model, "stream": stream,
                "messages": [{ "role": "user", "content": "hi" }] });
            if tool {
                body["tools"] = json!([{ "type": "function",
                    "function": { "name": "weather", "parameters": schema() } }]);
            }
            ("/v1/chat/completions".into(), body)
        }
        Client::Responses => {
            let mut body = json!({ "model": model, "stream": stream, "input": "hi" });
            if tool {
                body["tools"] =
                    json!([{ "type": "function", "name": "weather", "parameters": schema() }]);
            }
            ("/v1/responses".into(), body)
        }
        Client::Messages => {
            let mut body = json!({ "model": model, "stream": stream, "max_tokens": 64,
                "messages": [{ "role": "user", "content": "hi" }] });
            if tool {
                body["tools"] = json!([{ "name": "weather", "input_schema": schema() }]);
            }
            ("/v1/messages".into(), body)
        }
        Client::Gemini => {
            let mut body = json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }] });
            if tool {
                body["tools"] = json!([{ "functionDeclarations": [
                    { "name": "weather", "parameters": schema() }] }]);
            }
            let path = if stream {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("/v1beta/models/{model}:generateContent")
            };
            (path, body)
        }
    }
}

/// What a client got: its answer's text and its first tool call (name, arguments).
#[derive(Debug, Default)]
struct Answer {
    text: String,
    tool: Option<(String, Value)>,
}

fn arguments(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn answer_of(client: Client, stream: bool, body: &str) -> Answer {
    let mut answer = Answer::default();
    if !stream {
        let json: Value = serde_json::from_str(body).expect("a JSON answer");
        match client {
            Client::Chat => {
                let message = &json["choices"][0]["message"];
                answer.text = message["content"].as_str().unwrap_or_default().to_string();
                if let Some(call) = message["tool_calls"].get(0) {
                    let f = &call["function"];
                    answer.tool = Some((
                        f["name"].as_str().unwrap_or_default().into(),
                        arguments(f["arguments"].as_str().unwrap_or_default()),
                    ));
                }
            }
            Client::Responses => responses_output(&json, &mut answer),
            Client::Messages => {
                for block in json["content"].as_array().into_iter().flatten() {
                    match block["type"].as_str() {
                        Some("text") => answer.text.push_str(block["text"].as_str().unwrap_or("")),
                        Some("tool_use") if answer.tool.is_none() => {
                            answer.tool = Some((
                                block["name"].as_str().unwrap_or_default().into(),
                                block["input"].clone(),
                            ));
                        }
                        _ => {}
                    }
                }
            }
            Client::Gemini => gemini_parts(&json, &mut answer),
        }
        return answer;
    }
    match client {
        Client::Gemini => {
            for event in body.split("\r\n\r\n").filter(|e| !e.trim().is_empty()) {
                let json: Value =
                    serde_json::from_str(event.trim().trim_start_matches("data: ")).expect("event");
                assert!(json.get("error").is_none(), "an error event: {json}");
                gemini_parts(&json, &mut answer);
            }
        }
        Client::Chat => {
            let (mut name, mut args) = (None, String::new());
            for (_, data) in sse_events(body) {
                let Some(delta) = data.pointer("/choices/0/delta") else {
                    continue;
                };
                answer
                    .text
                    .push_str(delta["content"].as_str().unwrap_or_default());
                if let Some(call) = delta["tool_calls"].get(0) {
                    if let Some(n) = call["function"]["name"].as_str() {
                        name = Some(n.to_string());
                    }
                    args.push_str(call["function"]["arguments"].as_str().unwrap_or_default());
                }
            }
            answer.tool = name.map(|n| (n, arguments(&args)));
        }
        Client::Responses => {
            let events = sse_events(body);
            let (last, data) = events.last().expect("events");
            assert_eq!(last, "response.completed", "{body}");
            responses_output(&data["response"], &mut answer);
            let deltas: String = events
                .iter()
                .filter(|(e, _)| e == "response.output_text.delta")
                .filter_map(|(_, d)| d["delta"].as_str())
                .collect();
            assert_eq!(
                deltas, answer.text,
                "the deltas add up to the completed text"
            );
        }
        Client::Messages => {
            let (mut name, mut args) = (None, String::new());
            let events = sse_events(body);
            assert_eq!(
                events.last().map(|(e, _)| e.as_str()),
                Some("message_stop"),
                "{body}"
            );
            for (event, data) in events {
                match event.as_str() {
                    "content_block_start" if data["content_block"]["type"] == "tool_use" => {
                        name = data["content_block"]["name"].as_str().map(str::to_string);
                    }
                    "content_block_delta" => {
                        answer
                            .text
                            .push_str(data["delta"]["text"].as_str().unwrap_or_default());
                        args.push_str(data["delta"]["partial_json"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            answer.tool = name.map(|n| (n, arguments(&args)));
        }
    }
    answer
}

fn responses_output(response: &Value, answer: &mut Answer) {
    for item in response["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("message") => {
                for part in item["content"].as_array().into_iter().flatten() {
                    answer
                        .text
                        .push_str(part["text"].as_str().unwrap_or_default());
                }
            }
            Some("function_call") if answer.tool.is_none() => {
                answer.tool = Some((
                    item["name"].as_str().unwrap_or_default().into(),
                    arguments(item["arguments"].as_str().unwrap_or_default()),
                ));
            }
            _ => {}
        }
    }
}

fn gemini_parts(json: &Value, answer: &mut Answer) {
    let parts = json
        .pointer("/candidates/0/content/parts")
        .and_then(Value::as_array);
    for part in parts.into_iter().flatten() {
        answer
            .text
            .push_str(part["text"].as_str().unwrap_or_default());
        if let Some(call) = part.get("functionCall")
            && answer.tool.is_none()
        {
            answer.tool = Some((
                call["name"].as_str().unwrap_or_default().into(),
                call["args"].clone(),
            ));
        }
    }
}

/// An error in the client's own schema.
fn assert_error_schema(client: Client, body: &Value, cell: &str) {
    match client {
        Client::Chat | Client::Responses => {
            assert!(body["error"]["message"].is_string(), "{cell}: {body}");
            assert!(
                body.get("type").is_none(),
                "{cell}: OpenAI's schema, not Anthropic's: {body}"
            );
        }
        Client::Messages => {
            assert_eq!(body["type"], "error", "{cell}: {body}");
            assert!(body["error"]["message"].is_string(), "{cell}: {body}");
        }
        Client::Gemini => {
            assert_eq!(
                body["error"]["status"], "INVALID_ARGUMENT",
                "{cell}: {body}"
            );
            assert_eq!(body["error"]["code"], 400, "{cell}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_client_protocol_on_every_provider_kind() {
    let fake = FakeUpstream::start().await;
    for (name, ..) in KINDS {
        fake.set(&secret(name, false), Behaviour::Ok);
        fake.set(&secret(name, true), Behaviour::BadRequest);
    }
    let addr = fake.addr;
    let served = tokio::task::spawn_blocking(move || {
        let env = keygate_tests::TestEnv::new();
        let mut secrets = Vec::new();
        for (name, kind, path, model) in KINDS {
            let base = format!("http://{addr}{path}");
            for failing in [false, true] {
                let provider = if failing {
                    format!("{name}e")
                } else {
                    name.to_string()
                };
                let s = secret(name, failing);
                secrets.extend(Served::provider_of_kind(
                    &env,
                    &provider,
                    kind,
                    &base,
                    0,
                    &[key(&provider, &s)],
                ));
                let alias = if failing {
                    format!("err-{name}")
                } else {
                    format!("to-{name}")
                };
                env.ok(
                    &[
                        "route",
                        "add",
                        &alias,
                        "--to",
                        &format!("{provider}:{model}"),
                    ],
                    "",
                );
            }
        }
        Served::start(env, secrets)
    })
    .await
    .expect("setup");

    let http = reqwest::Client::new();
    let mut served_ok = 0;
    for client in [
        Client::Chat,
        Client::Responses,
        Client::Messages,
        Client::Gemini,
    ] {
        for (name, kind, ..) in KINDS {
            for stream in [false, true] {
                for case in [Case::Text, Case::Tool, Case::Error] {
                    let cell = format!("{client:?} on {kind}, stream {stream}, {case:?}");
                    let alias = match case {
                        Case::Error => format!("err-{name}"),
                        _ => format!("to-{name}"),
                    };
                    let (path, body) = request(client, &alias, stream, case);
                    let mut call = http
                        .post(format!("{}{path}", served.base))
                        .header("anthropic-version", "2023-06-01")
                        .json(&body);
                    call = match client {
                        Client::Gemini => call.header("x-goog-api-key", served.token.clone()),
                        Client::Messages => call.header("x-api-key", served.token.clone()),
                        _ => call.bearer_auth(&served.token),
                    };
                    let response = call.send().await.expect("send");
                    let status = response.status().as_u16();
                    let text = response.text().await.expect("body");
                    if case == Case::Error {
                        assert_eq!(status, 400, "{cell}: {text}");
                        let json: Value = serde_json::from_str(&text).expect("a JSON error");
                        assert_error_schema(client, &json, &cell);
                        continue;
                    }
                    assert_eq!(status, 200, "{cell}: {text}");
                    served_ok += 1;
                    let answer = answer_of(client, stream, &text);
                    match case {
                        Case::Text => {
                            assert_eq!(answer.text, STREAM_DELTAS.concat(), "{cell}: {text}");
                            assert!(answer.tool.is_none(), "{cell}: {text}");
                        }
                        _ => {
                            let (tool, args) = answer.tool.expect(&cell);
                            assert_eq!(tool, "weather", "{cell}: {text}");
                            assert_eq!(args, fake_tool_input(), "{cell}: {text}");
                        }
                    }
                }
            }
        }
    }
    assert_eq!(served_ok, 4 * 4 * 2 * 2);
    let rows = logged(&served, 4 * 4 * 2 * 3).await;
    for row in rows.iter().filter(|r| r["status"] == 200) {
        assert!(row["prompt_tokens"].as_u64() > Some(0), "{row}");
        assert!(row["completion_tokens"].as_u64() > Some(0), "{row}");
    }
    assert_eq!(
        rows.iter().filter(|r| r["status"] == 200).count(),
        served_ok
    );
    served.stop();
}
