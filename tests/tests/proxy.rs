//! The proxy end to end over real sockets: a fake upstream on port 0, `keygate serve` as a
//! child process set up through the CLI, and an HTTP client calling `/v1` like a tool would.
//! Pass-through, streams, bad input and shutdown here; failover in proxy_failover.rs.

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream, STREAM_DELTAS};
use keygate_tests::proxy_client::{
    chat, header, key_state, logged, post, prio, setup, setup_with_settings,
};
use keygate_tests::served::{Served, key};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn chat_passes_through_with_keygate_headers_and_the_real_key() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-good-000000000000000001", Behaviour::Ok);
    let served = setup(&fake, &[key("good", "sk-fake-good-000000000000000001")]).await;
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-provider"), "fake");
    assert_eq!(header(&response, "x-keygate-key"), "good");
    assert_eq!(header(&response, "x-keygate-attempts"), "1");
    assert!(header(&response, "x-keygate-request-id").starts_with("req_"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        STREAM_DELTAS.concat()
    );

    let received = fake.received();
    assert_eq!(received[0].key, "sk-fake-good-000000000000000001");
    assert!(
        received[0].headers.get("x-api-key").is_none(),
        "inbound credentials are not forwarded"
    );
    let auth = received[0]
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        !auth.contains(&served.token),
        "the KeyGate token never goes upstream"
    );

    for path in ["/v1/completions", "/v1/embeddings"] {
        let response = post(
            &served,
            path,
            &json!({ "model": "text-embedding-3-small", "input": "hi", "prompt": "hi" }),
        )
        .await;
        assert_eq!(response.status(), 200, "{path}");
    }
    let stderr = served.stop();
    assert!(!stderr.contains("sk-fake-good"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_get_usage_injected_and_stripped_byte_for_byte() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-stream-0000000000000001", Behaviour::Ok);
    let served = setup(&fake, &[key("stream", "sk-fake-stream-0000000000000001")]).await;
    let response = post(&served, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("text/event-stream"));
    let through_keygate = response.text().await.expect("text");
    assert!(
        fake.received()[0]
            .body
            .pointer("/stream_options/include_usage")
            == Some(&Value::Bool(true)),
        "KeyGate asked for usage"
    );

    // The same request straight to the fake, without include_usage: what the client expects.
    let direct = reqwest::Client::new()
        .post(format!("{}/chat/completions", fake.base_url()))
        .bearer_auth("sk-fake-stream-0000000000000001")
        .json(&chat(true))
        .send()
        .await
        .expect("direct")
        .text()
        .await
        .expect("text");
    assert_eq!(
        through_keygate, direct,
        "identical bytes, usage chunk removed"
    );
    assert!(!through_keygate.contains("\"usage\""));

    // A client that asked for usage gets it.
    let mut asked = chat(true);
    asked["stream_options"] = json!({ "include_usage": true });
    let with_usage = post(&served, "/v1/chat/completions", &asked)
        .await
        .text()
        .await
        .expect("text");
    assert!(with_usage.contains("\"usage\"") && with_usage.ends_with("data: [DONE]\n\n"));
    let log = logged(&served, 2).await;
    assert!(
        log.iter().all(|r| r["stream"] == true
            && r["prompt_tokens"] == 11
            && r["completion_tokens"] == 3),
        "{log:?}"
    );
    assert!(log.iter().all(|r| r["ttfb_ms"].is_u64()));
    let stream = key_state(&served, "stream", |k| k["health"]["state"] == "healthy").await;
    assert_eq!(stream["health"]["state"], "healthy");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_cut_midway_that_nobody_can_continue_is_a_failure_with_an_error_event() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-cutoff-0000000000000001", Behaviour::CutAfter(2));
    // One attempt allowed: no rescue can continue the stream (reliability_rescue.rs has those).
    let served = setup_with_settings(
        &fake,
        &[key("cutoff", "sk-fake-cutoff-0000000000000001")],
        &[("proxy.max_attempts", 1)],
    )
    .await;
    let response = post(&served, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(response.status(), 200, "bytes were already on their way");
    let text = response.text().await.expect("text");
    assert!(text.contains(STREAM_DELTAS[0]) && text.contains(STREAM_DELTAS[1]));
    assert!(!text.contains("[DONE]"), "no fake success");
    let last = text.trim_end().rsplit("\n\n").next().unwrap_or_default();
    let event: Value =
        serde_json::from_str(last.trim_start_matches("data: ")).expect("last event is JSON");
    assert_eq!(event["error"]["code"], "stream_broken");
    let cutoff = key_state(&served, "cutoff", |k| {
        k["health"]["consecutive_errors"] == 1
    })
    .await;
    assert_eq!(cutoff["health"]["consecutive_errors"], 1, "{cutoff}");
    assert_eq!(cutoff["health"]["state"], "degraded");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_4xx_in_the_openai_schema() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-input-00000000000000001", Behaviour::Ok);
    let served = setup(&fake, &[key("input", "sk-fake-input-00000000000000001")]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", served.base);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            client
                .post(&url)
                .bearer_auth(&served.token)
                .header("content-type", "application/json")
                .body("{nope"),
            400,
            "invalid_json",
        ),
        (
            client
                .post(&url)
                .bearer_auth(&served.token)
                .header("content-type", "text/plain")
                .body("hi"),
            415,
            "unsupported_media_type",
        ),
        (
            client
                .post(&url)
                .bearer_auth(&served.token)
                .json(&json!({ "messages": [] })),
            400,
            "missing_model",
        ),
        (client.post(&url).json(&chat(false)), 401, "invalid_api_key"),
        (
            client
                .post(&url)
                .bearer_auth("kg-not-a-real-token-000000000000")
                .json(&chat(false)),
            401,
            "invalid_api_key",
        ),
        (
            client
                .post(&url)
                .header("x-api-key", "sk-fake-input-00000000000000001")
                .json(&chat(false)),
            401,
            "invalid_api_key",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.expect("send");
        assert_eq!(response.status().as_u16(), status, "{code}");
        let body: Value = response.json().await.expect("json error");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(body["error"].get("type").is_some());
    }
    let huge = vec![b'a'; 33 * 1024 * 1024];
    let response = client
        .post(&url)
        .bearer_auth(&served.token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 413);
    assert!(
        fake.received().is_empty(),
        "nothing bad reached the upstream"
    );
    let stderr = served.stop();
    assert!(!stderr.contains("sk-fake-input"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_pass_through_injects_the_key_and_fails_over() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-rawbad-0000000000000001", Behaviour::Unauthorized);
    fake.set("sk-fake-rawok-00000000000000001", Behaviour::Ok);
    let served = setup(
        &fake,
        &[
            prio("rawbad", "sk-fake-rawbad-0000000000000001", 0),
            prio("rawok", "sk-fake-rawok-00000000000000001", 1),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!(
            "{}/p/fake/models?key=AIzaSHOULDNOTPASS",
            served.base
        ))
        .bearer_auth(&served.token)
        .send()
        .await
        .expect("models");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-attempts"), "2");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"][0]["id"], "fake-model-a");
    let received = fake.received();
    assert_eq!(
        received.last().map(|r| r.key.as_str()),
        Some("sk-fake-rawok-00000000000000001")
    );
    assert_eq!(received.last().map(|r| r.path.as_str()), Some("/v1/models"));

    let response = post(&served, "/p/fake/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-keygate-key"),
        "rawok",
        "the benched key is skipped now"
    );

    let response = post(&served, "/p/nosuch/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unknown_provider");
    let response = client
        .get(format!("{}/p/fake/models", served.base))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401, "pass-through needs a token too");
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_loses_no_request_row() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-drain-00000000000000001", Behaviour::Ok);
    let served = setup(&fake, &[key("drain", "sk-fake-drain-00000000000000001")]).await;
    let total = 60;
    let client = reqwest::Client::new();
    let calls = (0..total).map(|i| {
        let client = client.clone();
        let url = format!("{}/v1/chat/completions", served.base);
        let token = served.token.clone();
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&chat(i % 2 == 0))
                .send()
                .await
                .expect("send");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
        }
    });
    futures_util::future::join_all(calls).await;
    // Stop at once: rows still queued for the writer must be saved before the process exits.
    let stderr = tokio::task::spawn_blocking(move || {
        let (stderr, env) = served.stop_keeping_home();
        let store = env.store();
        let rows = store.recent_requests(1000).expect("rows");
        (stderr, rows.len())
    })
    .await
    .expect("stop");
    assert_eq!(
        stderr.1, total,
        "every request has its row; serve said: {}",
        stderr.0
    );
    assert!(!stderr.0.contains("sk-fake-drain"));
}

#[tokio::test(flavor = "multi_thread")]
async fn header_injection_attempts_go_nowhere() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-inject-0000000000000001", Behaviour::Ok);
    let served = setup(&fake, &[key("inject", "sk-fake-inject-0000000000000001")]).await;
    let host = served.base.trim_start_matches("http://").to_string();

    // A raw request whose header value hides a bare CR: rejected by the HTTP parser.
    let body = chat(false).to_string();
    let raw = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nX-Evil: a\rInjected: b\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        served.token,
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    socket.write_all(raw.as_bytes()).await.expect("write");
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // Spoofed KeyGate headers and the client's own credentials never reach the upstream, and
    // a model name with CR/LF stays inside the JSON body.
    let mut request = chat(false);
    request["model"] = "fake/gpt-4o\r\nx-evil: 1".into();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", served.base))
        .bearer_auth(&served.token)
        .header("x-keygate-key", "spoofed")
        .header("api-key", "stolen-azure-key")
        .header("x-goog-api-key", "stolen-gemini-key")
        .header("cookie", "session=1")
        .header("x-forwarded-for", "10.0.0.1")
        .json(&request)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-key"), "inject");
    assert!(response.headers().get("x-evil").is_none());
    let received = fake.received();
    let last = received.last().expect("reached upstream");
    assert_eq!(last.body["model"], "gpt-4o\r\nx-evil: 1");
    for name in [
        "x-evil",
        "x-keygate-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "x-forwarded-for",
    ] {
        assert!(last.headers.get(name).is_none(), "{name} was forwarded");
    }

    // An encoded CR/LF in a pass-through path stays encoded in the upstream URL.
    let response = reqwest::Client::new()
        .get(format!("{}/p/fake/models%0D%0Ax-evil:%201", served.base))
        .bearer_auth(&served.token)
        .send()
        .await
        .expect("send");
    assert!(response.status().is_client_error(), "{}", response.status());
    assert!(response.headers().get("x-evil").is_none());
    assert!(
        fake.received()
            .iter()
            .all(|r| r.headers.get("x-evil").is_none() && !r.uri.contains('\n'))
    );

    // A Host that is not KeyGate's (DNS rebinding) is refused before auth.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", served.base))
        .header("host", "evil.example:5397")
        .bearer_auth(&served.token)
        .json(&chat(false))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 403);

    // KeyGate still serves after all of that.
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    let stderr = served.stop();
    assert!(!stderr.contains("sk-fake-inject"), "{stderr}");
}

/// Proxied requests go through KeyGate's own hyper client, unless the environment names an
/// HTTP proxy: then through reqwest, which honours `HTTP_PROXY` and `NO_PROXY`.
#[tokio::test(flavor = "multi_thread")]
async fn a_system_proxy_in_the_environment_is_honoured() {
    const SECRET: &str = "sk-fake-proxied-00000000000000001";
    let fake = FakeUpstream::start().await;
    fake.set(SECRET, Behaviour::Ok);
    // A port nothing listens on, as the system proxy.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let proxy = format!("http://{closed}");
    for (no_proxy, reaches_upstream) in [("", false), ("127.0.0.1", true)] {
        let (base, proxy) = (fake.base_url(), proxy.clone());
        let served = tokio::task::spawn_blocking(move || {
            let env = keygate_tests::TestEnv::new();
            let secrets = Served::provider(&env, "fake", &base, 0, &[key("k", SECRET)]);
            Served::start_with_env(
                env,
                secrets,
                &[("HTTP_PROXY", &proxy), ("NO_PROXY", no_proxy)],
            )
        })
        .await
        .expect("start");
        let before = fake.received().len();
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        let reached = fake.received().len() > before;
        assert_eq!(reached, reaches_upstream, "NO_PROXY={no_proxy:?}");
        if reaches_upstream {
            assert_eq!(response.status(), 200);
        } else {
            assert!(
                response.status().is_server_error(),
                "an unreachable proxy is a failed attempt, got {}",
                response.status()
            );
        }
        let stderr = tokio::task::spawn_blocking(move || served.stop())
            .await
            .expect("stop");
        assert!(!stderr.contains(SECRET), "the secret leaked: {stderr}");
    }
}
