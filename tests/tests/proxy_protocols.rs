//! The proxy's other URL styles over real sockets: the Responses API (`/v1/responses`, JSON and
//! streams ending in `response.completed`), Azure OpenAI (deployment URLs, `api-key`) and
//! Gemini (native `models/{model}:generateContent` with `x-goog-api-key`, and its
//! OpenAI-compatible surface).

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream, STREAM_DELTAS};
use keygate_tests::proxy_client::{
    chat, header, key_state, logged, post, setup, setup_kind, setup_with_settings, sse_events,
};
use keygate_tests::served::key;
use serde_json::{Value, json};

fn responses_request(stream: bool) -> Value {
    json!({ "model": "gpt-4o-mini", "input": "hi", "stream": stream })
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_pass_through_with_usage_from_json_and_streams() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-resp-bad-00000000000001", Behaviour::Unauthorized);
    fake.set("sk-fake-resp-good-0000000000001", Behaviour::Ok);
    let served = setup(
        &fake,
        &[
            keygate_tests::proxy_client::prio("bad", "sk-fake-resp-bad-00000000000001", 0),
            keygate_tests::proxy_client::prio("good", "sk-fake-resp-good-0000000000001", 1),
        ],
    )
    .await;

    let response = post(&served, "/v1/responses", &responses_request(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-key"), "good", "failed over");
    assert_eq!(header(&response, "x-keygate-attempts"), "2");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["object"], "response");
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        STREAM_DELTAS.concat()
    );

    let response = post(&served, "/v1/responses", &responses_request(true)).await;
    assert_eq!(response.status(), 200);
    let through_keygate = response.text().await.expect("text");
    let direct = reqwest::Client::new()
        .post(format!("{}/responses", fake.base_url()))
        .bearer_auth("sk-fake-resp-good-0000000000001")
        .json(&responses_request(true))
        .send()
        .await
        .expect("direct")
        .text()
        .await
        .expect("text");
    assert_eq!(through_keygate, direct, "Responses streams pass untouched");
    assert!(through_keygate.contains("event: response.completed"));
    let sent = fake.received();
    assert!(
        sent.iter().all(|r| r.body.get("stream_options").is_none()),
        "no include_usage is injected into Responses requests"
    );

    let log = logged(&served, 2).await;
    for row in &log[..2] {
        assert_eq!(row["endpoint"], "/responses", "{row}");
        assert_eq!(row["status"], 200, "{row}");
        assert_eq!(row["prompt_tokens"], 11, "{row}");
        assert_eq!(row["completion_tokens"], 3, "{row}");
        assert_eq!(row["cached_tokens"], 2, "{row}");
    }
    let stderr = served.stop();
    assert!(!stderr.contains("sk-fake-resp"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_responses_stream_cut_before_response_completed_is_a_failure() {
    let fake = FakeUpstream::start().await;
    // Cut after the three opening events and the first delta, with one attempt allowed: no
    // rescue can continue it.
    fake.set("sk-fake-resp-cut-00000000000001", Behaviour::CutAfter(4));
    let served = setup_with_settings(
        &fake,
        &[key("cut", "sk-fake-resp-cut-00000000000001")],
        &[("proxy.max_attempts", 1)],
    )
    .await;
    let response = post(&served, "/v1/responses", &responses_request(true)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    let last = text.trim_end().rsplit("\n\n").next().unwrap_or_default();
    assert!(last.starts_with("event: error\ndata: "), "{text}");
    let event: Value = serde_json::from_str(last.trim_start_matches("event: error\ndata: "))
        .expect("error event is JSON");
    assert_eq!(event["type"], "error");
    assert_eq!(event["code"], "stream_broken");
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
async fn azure_maps_the_model_to_a_deployment_and_sends_api_key() {
    let fake = FakeUpstream::start().await;
    fake.set("azure-fake-key-000000000000000001", Behaviour::Ok);
    let base = format!("http://{}", fake.addr);
    let served = setup_kind(
        "myazure",
        "azure",
        &base,
        &[key("az", "azure-fake-key-000000000000000001")],
    )
    .await;

    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    let response = post(&served, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .expect("text")
            .ends_with("data: [DONE]\n\n")
    );
    let response = post(&served, "/v1/responses", &responses_request(false)).await;
    assert_eq!(response.status(), 200);
    // Raw pass-through: the path is relative to the resource; the key goes in `api-key`.
    let response = post(
        &served,
        "/p/myazure/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
        &chat(false),
    )
    .await;
    assert_eq!(response.status(), 200);

    let received = fake.received();
    assert_eq!(received.len(), 4);
    assert!(
        received[0]
            .uri
            .starts_with("/openai/deployments/gpt-4o-mini/chat/completions?api-version="),
        "{}",
        received[0].uri
    );
    assert_eq!(received[2].uri, "/openai/v1/responses");
    for r in &received {
        assert_eq!(
            r.headers.get("api-key").and_then(|v| v.to_str().ok()),
            Some("azure-fake-key-000000000000000001"),
            "{}",
            r.uri
        );
        assert!(r.headers.get("authorization").is_none(), "{}", r.uri);
    }
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_native_calls_send_x_goog_api_key_and_never_a_key_in_the_url() {
    let fake = FakeUpstream::start().await;
    fake.set("AIza-fake-bad-000000000000000001", Behaviour::Unauthorized);
    fake.set("AIza-fake-good-00000000000000001", Behaviour::Ok);
    let base = format!("http://{}/v1beta", fake.addr);
    let served = setup_kind(
        "gemini",
        "gemini",
        &base,
        &[
            keygate_tests::proxy_client::prio("bad", "AIza-fake-bad-000000000000000001", 0),
            keygate_tests::proxy_client::prio("good", "AIza-fake-good-00000000000000001", 1),
        ],
    )
    .await;
    let content = json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }] });

    let response = post(
        &served,
        "/p/gemini/models/gemini-2.5-flash:generateContent?key=AIza-client-leak",
        &content,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-key"), "good");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["usageMetadata"]["totalTokenCount"], 14);

    // As Gemini CLI calls it with GOOGLE_GEMINI_BASE_URL=…/p/gemini: it adds `/v1beta`
    // itself, which the provider's base URL already ends with — sent once, not doubled.
    let response = post(
        &served,
        "/p/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &content,
    )
    .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    assert_eq!(
        text.matches("data: ").count(),
        STREAM_DELTAS.len(),
        "{text}"
    );

    // Gemini's OpenAI-compatible surface, reached through /v1 with a Bearer key.
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);

    let received = fake.received();
    let native: Vec<_> = received
        .iter()
        .filter(|r| r.path == "/v1beta/models")
        .collect();
    assert_eq!(native.len(), 3, "one 401 and two answers");
    for r in &native {
        assert!(!r.uri.contains("key="), "no key in the URL: {}", r.uri);
        assert!(r.headers.get("x-goog-api-key").is_some());
        assert!(r.headers.get("authorization").is_none());
    }
    assert_eq!(
        native[2].uri,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let compat = received.last().expect("compat call");
    assert_eq!(compat.uri, "/v1beta/openai/chat/completions");
    assert_eq!(
        compat
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer AIza-fake-good-00000000000000001")
    );
    // Usage from both native answers, the streamed one read from its events as they passed
    // (Gemini CLI streams everything).
    let rows = logged(&served, 3).await;
    let native_rows: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["endpoint"]
                .as_str()
                .is_some_and(|e| e.contains("Content"))
        })
        .collect();
    assert_eq!(native_rows.len(), 2, "{rows:?}");
    for row in native_rows {
        assert_eq!(
            (
                row["prompt_tokens"].as_u64(),
                row["completion_tokens"].as_u64()
            ),
            (Some(11), Some(3)),
            "{row}"
        );
    }
    let stderr = served.stop();
    assert!(!stderr.contains("AIza-"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_no_tier_offers_is_a_4xx_that_stops_client_retries() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-ant-fake-key-0000000000000001", Behaviour::Ok);
    let served = setup_kind(
        "claude",
        "anthropic",
        &format!("http://{}", fake.addr),
        &[key("claude", "sk-ant-fake-key-0000000000000001")],
    )
    .await;
    // Anthropic has no embeddings API.
    let embed = json!({ "model": "claude-sonnet-4", "input": "hi" });
    let response = post(&served, "/v1/embeddings", &embed).await;
    assert_eq!(response.status(), 400, "a 5xx makes clients retry");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "protocol_not_supported", "{body}");
    assert!(fake.received().is_empty(), "nothing was sent upstream");
    served.stop();
}

/// Codex (and any Responses client) on providers without a Responses API: Anthropic through
/// Messages, a chat-only preset (DeepSeek) and Gemini through chat completions — JSON and
/// streams, in the Responses shape, with usage in the log.
#[tokio::test(flavor = "multi_thread")]
async fn responses_clients_are_served_by_every_kind_through_translation() {
    let kinds = [
        ("claude", "anthropic", "", "/v1/messages"),
        ("deepseek", "openai", "/v1", "/v1/chat/completions"),
        (
            "gem",
            "gemini",
            "/v1beta",
            "/v1beta/openai/chat/completions",
        ),
    ];
    // The fake files every chat request under one path; the URI says which surface it hit.
    for (i, (name, kind, base_path, path)) in kinds.into_iter().enumerate() {
        let fake = FakeUpstream::start().await;
        let base = format!("http://{}{base_path}", fake.addr);
        // No words in the secret: its 8-character runs are redacted from error-looking bodies.
        let secret = format!("sk-fake-{i}-0000000000000000000000001");
        fake.set(&secret, Behaviour::Ok);
        let served = setup_kind(name, kind, &base, &[key(name, &secret)]).await;
        let request = json!({
            "model": "some-model", "instructions": "Be brief.", "store": false,
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        });
        let response = post(&served, "/v1/responses", &request).await;
        assert_eq!(response.status(), 200, "{name}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["object"], "response", "{name}: {body}");
        assert_eq!(body["status"], "completed", "{name}: {body}");
        assert_eq!(body["model"], "some-model", "{name}: {body}");
        assert_eq!(
            body["output"][0]["content"][0]["text"],
            STREAM_DELTAS.concat(),
            "{name}: {body}"
        );
        assert!(
            body["usage"]["input_tokens"].as_u64() > Some(0),
            "{name}: {body}"
        );

        let mut streamed = request.clone();
        streamed["stream"] = json!(true);
        let response = post(&served, "/v1/responses", &streamed).await;
        assert_eq!(response.status(), 200, "{name}");
        let events = sse_events(&response.text().await.expect("text"));
        let text: String = events
            .iter()
            .filter(|(event, _)| event == "response.output_text.delta")
            .filter_map(|(_, data)| data["delta"].as_str().map(str::to_string))
            .collect();
        assert_eq!(text, STREAM_DELTAS.concat(), "{name}");
        let (last, data) = events.last().expect("events");
        assert_eq!(last, "response.completed", "{name}");
        assert!(
            data["response"]["usage"]["output_tokens"].as_u64() > Some(0),
            "{name}: {data}"
        );

        let sent = fake.received();
        assert!(
            sent.iter().all(|r| r.uri == path),
            "{name}: {:?}",
            sent.iter().map(|r| &r.uri).collect::<Vec<_>>()
        );
        let rows = logged(&served, 2).await;
        for row in &rows {
            assert_eq!(row["status"], 200, "{name}: {row}");
            assert_eq!(row["endpoint"], "/responses", "{name}: {row}");
            assert!(row["completion_tokens"].as_u64() > Some(0), "{name}: {row}");
        }
        served.stop();
    }
}

/// Gemini CLI and the google-genai SDKs on providers of other kinds: the Gemini API
/// translated through the hub to Messages (Anthropic) and chat completions (DeepSeek), JSON
/// and `alt=sse` streams, usage in the log, the token as `?key=`, and errors in Google's
/// schema.
#[tokio::test(flavor = "multi_thread")]
async fn gemini_clients_are_served_by_other_kinds_through_translation() {
    let kinds = [
        ("claude", "anthropic", "", "/v1/messages"),
        ("deepseek", "openai", "/v1", "/v1/chat/completions"),
    ];
    for (i, (name, kind, base_path, path)) in kinds.into_iter().enumerate() {
        let fake = FakeUpstream::start().await;
        let base = format!("http://{}{base_path}", fake.addr);
        let secret = format!("sk-fake-g{i}-000000000000000000000001");
        fake.set(&secret, Behaviour::Ok);
        let served = setup_kind(name, kind, &base, &[key(name, &secret)]).await;
        let content = json!({
            "systemInstruction": { "parts": [{ "text": "Be brief." }] },
            "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }],
            "generationConfig": { "maxOutputTokens": 50 },
        });
        let call = |method: &str| {
            reqwest::Client::new()
                .post(format!("{}/v1beta/models/some-model:{method}", served.base))
                .header("x-goog-api-key", served.token.clone())
                .json(&content)
        };
        let response = call("generateContent").send().await.expect("json");
        assert_eq!(response.status(), 200, "{name}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["candidates"][0]["content"]["parts"][0]["text"],
            STREAM_DELTAS.concat(),
            "{name}: {body}"
        );
        assert_eq!(
            body["candidates"][0]["finishReason"], "STOP",
            "{name}: {body}"
        );
        assert!(
            body["usageMetadata"]["totalTokenCount"].as_u64() > Some(0),
            "{name}: {body}"
        );

        // The token in the URL, as Google's key is: accepted, and not sent on.
        let response = reqwest::Client::new()
            .post(format!(
                "{}/v1beta/models/some-model:streamGenerateContent?alt=sse&key={}",
                served.base, served.token
            ))
            .json(&content)
            .send()
            .await
            .expect("stream");
        assert_eq!(response.status(), 200, "{name}");
        let text = response.text().await.expect("text");
        let events: Vec<Value> = text
            .split("\r\n\r\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| serde_json::from_str(e.trim_start_matches("data: ")).expect("event json"))
            .collect();
        let streamed: String = events
            .iter()
            .filter_map(|e| e["candidates"][0]["content"]["parts"][0]["text"].as_str())
            .collect();
        assert_eq!(streamed, STREAM_DELTAS.concat(), "{name}: {text}");
        let last = events.last().expect("events");
        assert_eq!(
            last["candidates"][0]["finishReason"], "STOP",
            "{name}: {last}"
        );
        assert!(
            last["usageMetadata"]["candidatesTokenCount"].as_u64() > Some(0),
            "{name}: {last}"
        );

        let sent = fake.received();
        assert_eq!(sent.len(), 2, "{name}");
        for request in &sent {
            assert_eq!(request.uri, path, "{name}");
            assert!(!request.uri.contains(served.token.as_str()), "{name}");
            assert_eq!(request.body["model"], "some-model", "{name}");
        }
        assert_eq!(sent[1].body["stream"], true, "{name}");
        let rows = logged(&served, 2).await;
        for row in &rows {
            assert_eq!(row["status"], 200, "{name}: {row}");
            assert!(row["completion_tokens"].as_u64() > Some(0), "{name}: {row}");
            let endpoint = row["endpoint"].as_str().unwrap_or_default();
            assert!(endpoint.starts_with("/v1beta/models:"), "{name}: {row}");
        }

        let listed: Value = reqwest::Client::new()
            .get(format!(
                "{}/v1beta/models?key={}",
                served.base, served.token
            ))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        assert!(listed["models"].is_array(), "{name}: {listed}");
        served.stop();
    }

    // An upstream refusal reaches the Gemini client in Google's schema.
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-g9-000000000000000000000001", Behaviour::BadRequest);
    let served = setup_kind(
        "claude",
        "anthropic",
        &format!("http://{}", fake.addr),
        &[key("claude", "sk-fake-g9-000000000000000000000001")],
    )
    .await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1beta/models/m:generateContent", served.base))
        .header("x-goog-api-key", served.token.clone())
        .json(&json!({ "contents": [{ "parts": [{ "text": "hi" }] }] }))
        .send()
        .await
        .expect("refused");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{body}");
    assert_eq!(body["error"]["code"], 400, "{body}");
    served.stop();
}

/// What only OpenAI's servers keep (stored responses, hosted tools) is a 400 naming the
/// field when the tier is not OpenAI's: never a silently different request.
#[tokio::test(flavor = "multi_thread")]
async fn a_responses_request_that_cannot_be_translated_is_a_400_naming_the_field() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-ant-fake-key-0000000000000002", Behaviour::Ok);
    let served = setup_kind(
        "claude",
        "anthropic",
        &format!("http://{}", fake.addr),
        &[key("claude", "sk-ant-fake-key-0000000000000002")],
    )
    .await;
    let request = json!({ "model": "m", "input": "hi", "previous_response_id": "resp_123" });
    let response = post(&served, "/v1/responses", &request).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("previous_response_id"), "{body}");
    assert!(
        message.contains("OpenAI Responses to Anthropic Messages"),
        "{body}"
    );
    assert!(fake.received().is_empty(), "nothing was sent upstream");
    served.stop();
}

/// Gemini CLI's calls, as it makes them with `GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT`
/// and `GEMINI_API_KEY=kg-…`: `/v1beta/models/{model}:{method}` with the token in
/// `x-goog-api-key`, served through a route over two Gemini providers with failover.
#[tokio::test(flavor = "multi_thread")]
async fn the_native_gemini_api_is_served_with_routes_failover_usage_and_googles_errors() {
    let fake = FakeUpstream::start().await;
    fake.set(
        "AIza-fake-down-00000000000000001",
        Behaviour::ServerError(503),
    );
    fake.set("AIza-fake-up-0000000000000000001", Behaviour::Ok);
    let base = format!("http://{}/v1beta", fake.addr);
    let served = tokio::task::spawn_blocking(move || {
        let env = keygate_tests::TestEnv::new();
        let mut secrets = Vec::new();
        for (name, priority, secret) in [
            ("gema", 0, "AIza-fake-down-00000000000000001"),
            ("gemb", 1, "AIza-fake-up-0000000000000000001"),
        ] {
            secrets.extend(keygate_tests::served::Served::provider_of_kind(
                &env,
                name,
                "gemini",
                &base,
                priority,
                &[key(name, secret)],
            ));
        }
        env.ok(
            &[
                "route",
                "add",
                "smart",
                "--to",
                "gema:gemini-2.5-flash,gemb:gemini-2.5-flash",
            ],
            "",
        );
        keygate_tests::served::Served::start(env, secrets)
    })
    .await
    .expect("setup");
    let content = json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }] });
    let call = |path: &str, token: &str| {
        reqwest::Client::new()
            .post(format!("{}{path}", served.base))
            .header("x-goog-api-key", token.to_string())
            .json(&content)
    };

    let response = call(
        "/v1beta/models/smart:streamGenerateContent?alt=sse",
        &served.token,
    )
    .send()
    .await
    .expect("stream");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-key"), "gemb");
    // The 503 was tried once more on its own tier (the same key, after a pause) first.
    assert_eq!(header(&response, "x-keygate-attempts"), "3");
    let text = response.text().await.expect("text");
    assert_eq!(
        text.matches("data: ").count(),
        STREAM_DELTAS.len(),
        "{text}"
    );
    let response = call("/v1beta/models/smart:generateContent", &served.token)
        .send()
        .await
        .expect("json");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["usageMetadata"]["totalTokenCount"], 14);

    // The upstream got its own paths, the version once, and never the caller's token.
    let uris: Vec<String> = fake
        .received()
        .iter()
        .filter(|r| r.key.starts_with("AIza-fake-up"))
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(
        uris,
        [
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            "/v1beta/models/gemini-2.5-flash:generateContent"
        ]
    );
    let rows = logged(&served, 2).await;
    for row in &rows {
        assert_eq!(row["prompt_tokens"], 11, "{row}");
        assert_eq!(row["completion_tokens"], 3, "{row}");
        assert_eq!(row["model_requested"], "smart", "{row}");
    }

    // Errors in Google's schema: a bad token, an unknown method, a model no Gemini provider serves.
    for (path, token, status, google) in [
        (
            "/v1beta/models/smart:generateContent",
            "kg-not-a-token",
            401,
            "UNAUTHENTICATED",
        ),
        (
            "/v1beta/models/smart:fly",
            served.token.as_str(),
            404,
            "NOT_FOUND",
        ),
        (
            "/v1beta/models/gpt-4o:generateContent",
            served.token.as_str(),
            404,
            "NOT_FOUND",
        ),
    ] {
        let response = call(path, token).send().await.expect("error");
        assert_eq!(response.status(), status, "{path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["status"], google, "{path}: {body}");
        assert_eq!(body["error"]["code"], status, "{path}: {body}");
    }
    let stderr = served.stop();
    assert!(!stderr.contains("AIza-"), "{stderr}");
}
