//! The Anthropic Messages API on the proxy (`/v1/messages`, `/v1/messages/count_tokens`) over
//! real sockets: native pass-through to `anthropic`-kind providers (headers, usage with cache
//! tokens, failover, errors in Anthropic's schema), translation to and from OpenAI-style
//! providers (JSON, streams, tool calls), and chat completions served by Anthropic.

use keygate_tests::TestEnv;
use keygate_tests::fake_anthropic::COUNTED_TOKENS;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream, fake_tool_input};
use keygate_tests::proxy_client::{
    header, key_state, logged, post, prio, setup, setup_full, setup_kind, sse_events,
};
use keygate_tests::served::{Served, key};
use serde_json::{Value, json};

const VERSION: &str = "2023-06-01";
const BETA: &str = "prompt-caching-2024-07-31";

fn messages_request(stream: bool) -> Value {
    json!({ "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream,
        "system": "Be brief.", "messages": [{ "role": "user", "content": "hi" }] })
}

fn tool_request(stream: bool) -> Value {
    let mut request = messages_request(stream);
    request["tools"] = json!([{ "name": "weather", "description": "Weather in a city",
        "input_schema": { "type": "object", "properties": { "city": { "type": "string" } } } }]);
    request
}

/// Posts like the Anthropic SDK: the KeyGate token in `x-api-key`, Anthropic's headers.
async fn post_anthropic(served: &Served, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", served.base))
        .header("x-api-key", &served.token)
        .header("anthropic-version", VERSION)
        .header("anthropic-beta", BETA)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Like [`anthropic_provider`], with one attempt allowed: nothing can rescue a stream.
async fn anthropic_one_attempt(
    fake: &FakeUpstream,
    keys: &[keygate_tests::served::KeySpec<'_>],
) -> Served {
    setup_full(
        "claude",
        "anthropic",
        &format!("http://{}", fake.addr),
        keys,
        &[("proxy.max_attempts", 1)],
    )
    .await
}

async fn anthropic_provider(
    fake: &FakeUpstream,
    keys: &[keygate_tests::served::KeySpec<'_>],
) -> Served {
    setup_kind(
        "claude",
        "anthropic",
        &format!("http://{}", fake.addr),
        keys,
    )
    .await
}

/// The events of an SSE body: (event name, data as JSON).
fn events(text: &str) -> Vec<(String, Value)> {
    sse_events(text)
}

/// The text and tool input (joined `partial_json`, parsed) of an Anthropic stream.
fn stream_content(events: &[(String, Value)]) -> (String, Option<Value>) {
    let mut text = String::new();
    let mut json = String::new();
    for (_, data) in events {
        let delta = &data["delta"];
        if delta["type"] == "text_delta" {
            text.push_str(delta["text"].as_str().unwrap_or_default());
        }
        if delta["type"] == "input_json_delta" {
            json.push_str(delta["partial_json"].as_str().unwrap_or_default());
        }
    }
    (text, serde_json::from_str(&json).ok())
}

fn assert_anthropic_error(body: &Value, kind: &str) {
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(
        body.get("code").is_none() && body["error"].get("code").is_none(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_pass_through_to_an_anthropic_provider_with_headers_and_cache_usage() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-ant-fake-native-000000000001";
    fake.set(secret, Behaviour::Ok);
    let served = anthropic_provider(&fake, &[key("native", secret)]).await;

    let response = post_anthropic(&served, "/v1/messages", &messages_request(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-provider"), "claude");
    assert!(!header(&response, "x-keygate-request-id").is_empty());
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["text"], "Hello!");
    assert_eq!(body["usage"]["cache_read_input_tokens"], 7);

    let response = post_anthropic(&served, "/v1/messages", &messages_request(true)).await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("text/event-stream"));
    let through_keygate = response.text().await.expect("text");
    let direct = reqwest::Client::new()
        .post(format!("http://{}/v1/messages", fake.addr))
        .header("x-api-key", secret)
        .json(&messages_request(true))
        .send()
        .await
        .expect("direct")
        .text()
        .await
        .expect("text");
    assert_eq!(through_keygate, direct, "Anthropic streams pass untouched");
    let parsed = events(&through_keygate);
    assert_eq!(parsed.first().map(|e| e.0.as_str()), Some("message_start"));
    assert_eq!(parsed.last().map(|e| e.0.as_str()), Some("message_stop"));

    // Without anthropic-version from the client, KeyGate sends the default.
    let response = post(&served, "/v1/messages", &messages_request(false)).await;
    assert_eq!(response.status(), 200, "a Bearer token works too");

    let received = fake.received();
    assert_eq!(received.len(), 4);
    for (i, r) in received[..2].iter().enumerate() {
        assert_eq!(r.uri, "/v1/messages");
        let h = |name: &str| r.headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(h("x-api-key"), Some(secret), "request {i}");
        assert_eq!(h("anthropic-version"), Some(VERSION));
        assert_eq!(h("anthropic-beta"), Some(BETA));
        assert_eq!(
            h("authorization"),
            None,
            "the client's token is never forwarded"
        );
        assert_eq!(r.body["model"], "claude-sonnet-4-5");
    }
    let last = &received[3];
    assert_eq!(
        last.headers
            .get("anthropic-version")
            .and_then(|v| v.to_str().ok()),
        Some(VERSION)
    );
    assert!(last.headers.get("anthropic-beta").is_none());

    let log = logged(&served, 3).await;
    for row in &log[..3] {
        assert_eq!(row["endpoint"], "/messages", "{row}");
        assert_eq!(row["status"], 200, "{row}");
        assert_eq!(
            row["prompt_tokens"], 23,
            "input + cache writes + cache reads: {row}"
        );
        assert_eq!(row["completion_tokens"], 3, "{row}");
        assert_eq!(row["cached_tokens"], 7, "{row}");
    }
    assert_eq!(log.iter().filter(|r| r["stream"] == true).count(), 1);
    let stderr = served.stop();
    assert!(!stderr.contains(secret), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_anthropic_key_fails_over_and_a_529_blames_the_provider_not_the_key() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-ant-fake-revoked-00000000001", Behaviour::Unauthorized);
    fake.set(
        "sk-ant-fake-overload-0000000001",
        Behaviour::ServerError(529),
    );
    fake.set("sk-ant-fake-working-00000000001", Behaviour::Ok);
    let served = anthropic_provider(
        &fake,
        &[
            prio("revoked", "sk-ant-fake-revoked-00000000001", 0),
            prio("overloaded", "sk-ant-fake-overload-0000000001", 1),
            prio("working", "sk-ant-fake-working-00000000001", 2),
        ],
    )
    .await;
    let response = post_anthropic(&served, "/v1/messages", &messages_request(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-key"), "working");
    assert_eq!(header(&response, "x-keygate-attempts"), "3");
    let revoked = key_state(&served, "revoked", |k| k["health"]["state"] == "unhealthy").await;
    assert_eq!(revoked["health"]["reason"], "auth", "{revoked}");
    let log = logged(&served, 1).await;
    let classes: Vec<&str> = log[0]["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter_map(|a| a["class"].as_str())
        .collect();
    assert_eq!(
        classes,
        vec!["auth", "server_error", "success"],
        "{}",
        log[0]
    );
    let overloaded = key_state(&served, "overloaded", |_| true).await;
    assert_eq!(
        overloaded["health"]["consecutive_errors"], 0,
        "{overloaded}"
    );
    assert_ne!(overloaded["health"]["state"], "unhealthy", "{overloaded}");
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_reach_anthropic_clients_in_anthropic_schema() {
    let fake = FakeUpstream::start().await;
    fake.set(
        "sk-ant-fake-limited-00000000001",
        Behaviour::RateLimited {
            retry_after_secs: 30,
        },
    );
    let served =
        anthropic_provider(&fake, &[key("limited", "sk-ant-fake-limited-00000000001")]).await;

    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", served.base))
        .header("x-api-key", "kg-not-a-real-token")
        .json(&messages_request(false))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    assert_anthropic_error(
        &response.json().await.expect("json"),
        "authentication_error",
    );

    let response = post_anthropic(&served, "/v1/messages", &json!({ "messages": [] })).await;
    assert_eq!(response.status(), 400);
    assert_anthropic_error(
        &response.json().await.expect("json"),
        "invalid_request_error",
    );

    let response = post_anthropic(&served, "/v1/messages", &messages_request(false)).await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.expect("json");
    assert_anthropic_error(&body, "rate_limit_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("limited"),
        "names what was tried: {body}"
    );
    let stderr = served.stop();
    assert!(!stderr.contains("sk-ant-fake"), "{stderr}");

    // An upstream 400 is the request's own fault: passed on as Anthropic wrote it.
    let fake = FakeUpstream::start().await;
    fake.set("sk-ant-fake-badreq-00000000001", Behaviour::BadRequest);
    let served =
        anthropic_provider(&fake, &[key("badreq", "sk-ant-fake-badreq-00000000001")]).await;
    let response = post_anthropic(&served, "/v1/messages", &messages_request(false)).await;
    assert_eq!(response.status(), 400);
    assert_anthropic_error(
        &response.json().await.expect("json"),
        "invalid_request_error",
    );
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anthropic_stream_cut_midway_that_nobody_can_continue_ends_with_an_error_event() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-ant-fake-cut-0000000000000001", Behaviour::CutAfter(4));
    // One attempt allowed: no rescue can continue the stream.
    let served =
        anthropic_one_attempt(&fake, &[key("cut", "sk-ant-fake-cut-0000000000000001")]).await;
    let response = post_anthropic(&served, "/v1/messages", &messages_request(true)).await;
    assert_eq!(response.status(), 200);
    let parsed = events(&response.text().await.expect("text"));
    let (name, data) = parsed.last().expect("events");
    assert_eq!(name, "error");
    assert_anthropic_error(data, "api_error");
    assert_eq!(
        stream_content(&parsed).0,
        "Hel",
        "what arrived before the cut"
    );
    let cut = key_state(&served, "cut", |k| {
        k["health"]["consecutive_errors"].as_u64() == Some(1)
    })
    .await;
    assert_eq!(cut["health"]["consecutive_errors"], 1, "{cut}");
    let log = logged(&served, 1).await;
    assert_eq!(log[0]["error_class"], "stream_broken", "{}", log[0]);
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropics_own_mid_stream_error_ends_the_stream_when_nothing_can_continue_it() {
    let fake = FakeUpstream::start().await;
    fake.set(
        "sk-ant-fake-midstream-error-0001",
        Behaviour::LongErrorAfter(5),
    );
    // One attempt allowed: the error event KeyGate held back for a rescue is what the client
    // gets, as Anthropic sent it.
    let served = anthropic_one_attempt(
        &fake,
        &[key("overload", "sk-ant-fake-midstream-error-0001")],
    )
    .await;
    let response = post_anthropic(&served, "/v1/messages", &messages_request(true)).await;
    assert_eq!(response.status(), 200);
    let parsed = events(&response.text().await.expect("text"));
    let (name, data) = parsed.last().expect("events");
    assert_eq!(name, "error");
    assert_anthropic_error(data, "overloaded_error");
    assert_eq!(parsed.iter().filter(|(n, _)| n == "error").count(), 1);
    let log = logged(&served, 1).await;
    assert_eq!(log[0]["error_class"], "stream_broken", "{}", log[0]);
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_codes_query_string_reaches_the_anthropic_tier_without_a_key() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-ant-fake-query-000000000001", Behaviour::Ok);
    let served = anthropic_provider(&fake, &[key("query", "sk-ant-fake-query-000000000001")]).await;
    let path = "/v1/messages?beta=true&key=kg-leaked-into-the-url";
    for stream in [false, true] {
        let response = post_anthropic(&served, path, &messages_request(stream)).await;
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await;
    }
    let uris: Vec<String> = fake.received().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(uris, ["/v1/messages?beta=true", "/v1/messages?beta=true"]);
    served.stop();

    // A tier that is spoken to through translation does not get the other protocol's query.
    fake.set("sk-fake-query-openai-0000000001", Behaviour::Ok);
    let served = setup(&fake, &[key("gpt", "sk-fake-query-openai-0000000001")]).await;
    let response = post_anthropic(&served, path, &messages_request(false)).await;
    assert_eq!(response.status(), 200);
    let last = fake.received().last().map(|r| r.uri.clone());
    assert_eq!(last.as_deref(), Some("/v1/chat/completions"));
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anthropic_request_is_served_by_an_openai_provider_through_translation() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-translate-000000000001";
    fake.set(secret, Behaviour::Ok);
    let served = setup(&fake, &[key("gpt", secret)]).await;

    let response = post_anthropic(&served, "/v1/messages", &messages_request(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-provider"), "fake");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["type"], "message", "{body}");
    assert_eq!(
        body["content"],
        json!([{ "type": "text", "text": "Hello!" }]),
        "{body}"
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(
        body["usage"]["input_tokens"], 9,
        "11 prompt tokens, 2 of them cached"
    );
    assert_eq!(body["usage"]["cache_read_input_tokens"], 2);

    let response = post_anthropic(&served, "/v1/messages", &messages_request(true)).await;
    assert_eq!(response.status(), 200);
    let parsed = events(&response.text().await.expect("text"));
    let names: Vec<&str> = parsed.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    assert!(
        parsed
            .iter()
            .all(|(name, data)| data["type"] == name.as_str()),
        "{parsed:?}"
    );
    assert_eq!(stream_content(&parsed).0, "Hello!");

    // Tool use, JSON and streamed: the input arrives exactly; the result goes back as a tool
    // message and the answer uses it.
    let response = post_anthropic(&served, "/v1/messages", &tool_request(false)).await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["stop_reason"], "tool_use", "{body}");
    let tool_use = &body["content"][0];
    assert_eq!(tool_use["type"], "tool_use", "{body}");
    assert_eq!(tool_use["name"], "weather");
    assert_eq!(tool_use["input"], fake_tool_input());
    let response = post_anthropic(&served, "/v1/messages", &tool_request(true)).await;
    let parsed = events(&response.text().await.expect("text"));
    assert_eq!(
        stream_content(&parsed).1,
        Some(fake_tool_input()),
        "{parsed:?}"
    );
    let id = tool_use["id"].as_str().expect("tool id").to_string();
    let mut follow_up = tool_request(false);
    follow_up["messages"] = json!([
        { "role": "user", "content": "weather in Paris?" },
        { "role": "assistant", "content": [tool_use.clone()] },
        { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": id, "content": "18°C" }] }
    ]);
    let response = post_anthropic(&served, "/v1/messages", &follow_up).await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["content"][0]["text"], "Tool said: 18°C", "{body}");

    let received = fake.received();
    assert!(received.iter().all(|r| r.path == "/v1/chat/completions"));
    assert_eq!(
        received[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {secret}").as_str())
    );
    assert!(received[0].headers.get("anthropic-version").is_none());
    assert_eq!(
        received[0].body["messages"][0],
        json!({ "role": "system", "content": "Be brief." })
    );
    assert_eq!(received[1].body["stream_options"]["include_usage"], true);
    let sent = &received.last().expect("follow-up").body["messages"];
    assert_eq!(sent[2]["tool_calls"][0]["id"], id.as_str(), "{sent}");
    assert_eq!(
        sent[3],
        json!({ "role": "tool", "tool_call_id": id, "content": "18°C" })
    );

    let log = logged(&served, 5).await;
    for row in &log[..5] {
        assert_eq!(row["endpoint"], "/messages", "{row}");
        assert_eq!(row["prompt_tokens"], 11, "{row}");
        assert_eq!(row["cached_tokens"], 2, "{row}");
    }
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untranslatable_request_is_refused_before_any_upstream_call() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-untranslatable-0000001", Behaviour::Ok);
    let served = setup(&fake, &[key("gpt", "sk-fake-untranslatable-0000001")]).await;
    let mut request = messages_request(false);
    request["messages"] = json!([
        { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x" }] }
    ]);
    let response = post_anthropic(&served, "/v1/messages", &request).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_anthropic_error(&body, "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("toolu_nowhere"),
        "{body}"
    );
    assert!(fake.received().is_empty(), "no upstream call");
    let gpt = key_state(&served, "gpt", |_| true).await;
    assert_eq!(gpt["health"]["consecutive_errors"], 0, "{gpt}");
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_completions_are_served_by_an_anthropic_provider_through_translation() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-ant-fake-chat-00000000000001";
    fake.set(secret, Behaviour::Ok);
    let served = anthropic_provider(&fake, &[key("native", secret)]).await;
    let chat = |stream: bool| {
        json!({ "model": "claude-sonnet-4-5", "stream": stream,
            "messages": [{ "role": "system", "content": "Be brief." }, { "role": "user", "content": "hi" }] })
    };
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["object"], "chat.completion", "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello!");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 23, "{body}");
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 7);

    let response = post(&served, "/v1/chat/completions", &chat(true)).await;
    let text = response.text().await.expect("text");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(
        !text.contains("\"usage\""),
        "the client did not ask for usage: {text}"
    );
    let content: String = events(&text)
        .iter()
        .filter_map(|(_, d)| {
            d["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, "Hello!");

    let mut tools = chat(false);
    tools["tools"] = json!([{ "type": "function", "function": { "name": "weather", "parameters": { "type": "object" } } }]);
    let body: Value = post(&served, "/v1/chat/completions", &tools)
        .await
        .json()
        .await
        .expect("json");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "weather", "{body}");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or_default())
            .expect("arguments");
    assert_eq!(arguments, fake_tool_input());
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");

    let received = fake.received();
    assert_eq!(received.len(), 3);
    for r in &received {
        assert_eq!(r.uri, "/v1/messages");
        assert_eq!(
            r.headers.get("x-api-key").and_then(|v| v.to_str().ok()),
            Some(secret)
        );
        assert_eq!(
            r.headers
                .get("anthropic-version")
                .and_then(|v| v.to_str().ok()),
            Some(VERSION)
        );
        assert_eq!(r.body["system"], "Be brief.");
        assert!(r.body["max_tokens"].is_u64());
    }
    let log = logged(&served, 3).await;
    for row in &log[..3] {
        assert_eq!(row["endpoint"], "/chat/completions", "{row}");
        assert_eq!(row["prompt_tokens"], 23, "{row}");
        assert_eq!(row["cached_tokens"], 7, "{row}");
    }
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn count_tokens_goes_to_anthropic_providers_and_is_refused_clearly_without_one() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-ant-fake-count-0000000000001";
    fake.set(secret, Behaviour::Ok);
    let served = anthropic_provider(&fake, &[key("native", secret)]).await;
    let response = post_anthropic(
        &served,
        "/v1/messages/count_tokens",
        &messages_request(false),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({ "input_tokens": COUNTED_TOKENS }));
    let received = fake.received();
    assert_eq!(received[0].uri, "/v1/messages/count_tokens");
    assert_eq!(received[0].key, secret);
    assert_eq!(
        received[0]
            .headers
            .get("anthropic-beta")
            .and_then(|v| v.to_str().ok()),
        Some(BETA)
    );
    let log = logged(&served, 1).await;
    assert_eq!(log[0]["endpoint"], "/messages/count_tokens");
    served.stop();

    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-count-openai-000000001", Behaviour::Ok);
    let served = setup(&fake, &[key("gpt", "sk-fake-count-openai-000000001")]).await;
    let response = post_anthropic(
        &served,
        "/v1/messages/count_tokens",
        &messages_request(false),
    )
    .await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_anthropic_error(&body, "not_found_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Anthropic-kind"),
        "{body}"
    );
    assert!(fake.received().is_empty());
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_fails_over_from_an_anthropic_tier_to_an_openai_tier_across_protocols() {
    let fake = FakeUpstream::start().await;
    fake.set(
        "sk-ant-fake-mixed-0000000000001",
        Behaviour::ServerError(529),
    );
    fake.set("sk-fake-mixed-gpt-000000000001", Behaviour::Ok);
    let root = format!("http://{}", fake.addr);
    let served = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let mut secrets = Served::provider_of_kind(
            &env,
            "claude",
            "anthropic",
            &root,
            0,
            &[key("claude-key", "sk-ant-fake-mixed-0000000000001")],
        );
        secrets.extend(Served::provider(
            &env,
            "gpt",
            &format!("{root}/v1"),
            1,
            &[key("gpt-key", "sk-fake-mixed-gpt-000000000001")],
        ));
        env.ok(
            &[
                "route",
                "add",
                "sonnet",
                "--to",
                "claude:claude-sonnet-4-5,gpt:gpt-4o",
            ],
            "",
        );
        Served::start(env, secrets)
    })
    .await
    .expect("setup");
    let mut request = messages_request(true);
    request["model"] = json!("sonnet");
    let response = post_anthropic(&served, "/v1/messages", &request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-provider"), "gpt");
    // The 529 (overloaded) is tried once more on the asked-for tier before the fallback.
    assert_eq!(header(&response, "x-keygate-attempts"), "3");
    let parsed = events(&response.text().await.expect("text"));
    assert_eq!(stream_content(&parsed).0, "Hello!");
    assert_eq!(
        parsed[0].1["message"]["model"], "sonnet",
        "the model the client asked for"
    );
    let received = fake.received();
    assert_eq!(received[0].body["model"], "claude-sonnet-4-5");
    assert_eq!(received[1].body["model"], "claude-sonnet-4-5");
    assert_eq!(received[2].body["model"], "gpt-4o");
    assert_eq!(received[2].path, "/v1/chat/completions");
    served.stop();
}
