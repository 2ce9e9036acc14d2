//! The proxy end to end over real sockets: a fake upstream on port 0, `keygate serve` as a
//! child process set up through the CLI, and an HTTP client calling `/v1` like a tool would.

use std::time::{Duration, Instant};

use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream, STREAM_DELTAS};
use keygate_tests::served::{ADMIN_TOKEN, KeySpec, Served, key};
use serde_json::{Value, json};

async fn setup(fake: &FakeUpstream, keys: &[KeySpec<'_>]) -> Served {
    let base_url = fake.base_url();
    let keys: Vec<(String, String, i64)> = keys
        .iter()
        .map(|k| (k.label.to_string(), k.secret.to_string(), k.priority))
        .collect();
    tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let specs: Vec<KeySpec<'_>> = keys
            .iter()
            .map(|(l, s, p)| KeySpec {
                label: l,
                secret: s,
                priority: *p,
            })
            .collect();
        let secrets = Served::provider(&env, "fake", &base_url, 0, &specs);
        Served::start(env, secrets)
    })
    .await
    .expect("setup")
}

fn prio<'a>(label: &'a str, secret: &'a str, priority: i64) -> KeySpec<'a> {
    KeySpec {
        label,
        secret,
        priority,
    }
}

async fn post(served: &Served, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", served.base))
        .bearer_auth(&served.token)
        .json(body)
        .send()
        .await
        .expect("request")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Polls `key list --json` until `check` holds for the key labelled `label` (the health writer
/// saves asynchronously), and returns that key.
async fn key_state(served: &Served, label: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = served.env.ok(&["--json", "key", "list"], "");
        let keys: Vec<Value> = serde_json::from_str(&list).expect("json");
        let key = keys
            .into_iter()
            .find(|k| k["label"] == label)
            .expect("key exists");
        if check(&key) || Instant::now() > deadline {
            return key;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls the request log until it holds `count` requests; returns them newest first.
async fn logged(served: &Served, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body: Value = reqwest::Client::new()
            .get(format!("{}/api/logs", served.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("logs")
            .json()
            .await
            .expect("json");
        let requests = body["requests"].as_array().cloned().unwrap_or_default();
        if requests.len() >= count || Instant::now() > deadline {
            return requests;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn chat(stream: bool) -> Value {
    json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }], "stream": stream })
}

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
async fn a_401_key_and_a_429_key_fail_over_to_the_working_key() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-revoked-0000000000000001", Behaviour::Unauthorized);
    fake.set(
        "sk-fake-limited-0000000000000001",
        Behaviour::RateLimited {
            retry_after_secs: 40,
        },
    );
    fake.set("sk-fake-working-0000000000000001", Behaviour::Ok);
    let served = setup(
        &fake,
        &[
            prio("revoked", "sk-fake-revoked-0000000000000001", 0),
            prio("limited", "sk-fake-limited-0000000000000001", 1),
            prio("working", "sk-fake-working-0000000000000001", 2),
        ],
    )
    .await;
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-attempts"), "3");
    assert_eq!(header(&response, "x-keygate-key"), "working");
    assert_eq!(
        fake.keys_tried(),
        vec![
            "sk-fake-revoked-0000000000000001",
            "sk-fake-limited-0000000000000001",
            "sk-fake-working-0000000000000001"
        ]
    );

    let revoked = key_state(&served, "revoked", |k| k["health"]["state"] == "unhealthy").await;
    assert_eq!(revoked["health"]["reason"], "auth");
    let limited = key_state(&served, "limited", |k| k["health"]["state"] == "degraded").await;
    assert_eq!(limited["health"]["reason"], "rate_limited");
    assert!(limited["health"]["cooldown_until"].is_string());
    let working = key_state(&served, "working", |k| k["health"]["state"] == "healthy").await;
    assert_eq!(working["health"]["state"], "healthy");

    let log = logged(&served, 1).await;
    let classes: Vec<&str> = log[0]["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter_map(|a| a["class"].as_str())
        .collect();
    assert_eq!(
        classes,
        vec!["auth", "rate_limited", "success"],
        "{}",
        log[0]
    );
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[0]["prompt_tokens"], 11, "usage read from the answer");
    assert_eq!(log[0]["token"], "test-client");

    // The next request goes straight to the working key: the others are benched or cooling.
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(header(&response, "x-keygate-attempts"), "1");
    assert_eq!(fake.keys_tried().len(), 4);
    let listing = served.env.ok(&["--json", "key", "list"], "");
    assert!(
        !listing.contains("sk-fake-revoked-0000000000000001"),
        "the scrubbed error never holds the key"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_503_never_marks_a_key_unhealthy() {
    let fake = FakeUpstream::start().await;
    fake.set(
        "sk-fake-flaky-00000000000000001",
        Behaviour::ServerError(503),
    );
    fake.set("sk-fake-steady-0000000000000001", Behaviour::Ok);
    let served = setup(
        &fake,
        &[
            prio("flaky", "sk-fake-flaky-00000000000000001", 0),
            prio("steady", "sk-fake-steady-0000000000000001", 1),
        ],
    )
    .await;
    for _ in 0..6 {
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(response.status(), 200);
    }
    let steady = key_state(&served, "steady", |k| k["health"]["state"] == "healthy").await;
    assert_eq!(steady["health"]["state"], "healthy");
    let flaky = key_state(&served, "flaky", |_| true).await;
    assert_ne!(flaky["health"]["state"], "unhealthy", "{flaky}");
    assert_ne!(flaky["health"]["state"], "degraded", "{flaky}");
    assert_eq!(flaky["health"]["consecutive_errors"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_wide_429_pauses_the_provider_without_blaming_keys() {
    let fake = FakeUpstream::start().await;
    fake.set(
        "sk-fake-pool-a-0000000000000001",
        Behaviour::RateLimited {
            retry_after_secs: 30,
        },
    );
    fake.set(
        "sk-fake-pool-b-0000000000000001",
        Behaviour::RateLimited {
            retry_after_secs: 30,
        },
    );
    let served = setup(
        &fake,
        &[
            key("pool-a", "sk-fake-pool-a-0000000000000001"),
            key("pool-b", "sk-fake-pool-b-0000000000000001"),
        ],
    )
    .await;
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("pool-a") && m.contains("pool-b")),
        "{body}"
    );

    // While paused, nothing is sent upstream and the client is told when to come back.
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(fake.keys_tried().len(), 2);

    for label in ["pool-a", "pool-b"] {
        let k = key_state(&served, label, |k| k["health"]["state"] != "degraded").await;
        assert_ne!(
            k["health"]["state"], "degraded",
            "{label} is not blamed: {k}"
        );
        assert_ne!(
            k["health"]["state"], "unhealthy",
            "{label} is not blamed: {k}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_are_returned_as_is_without_failover_or_blame() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-strict-0000000000000001", Behaviour::BadRequest);
    fake.set("sk-fake-spare-00000000000000001", Behaviour::Ok);
    let served = setup(
        &fake,
        &[
            prio("strict", "sk-fake-strict-0000000000000001", 0),
            prio("spare", "sk-fake-spare-00000000000000001", 1),
        ],
    )
    .await;
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, "x-keygate-attempts"), "1");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["error"]["code"], "context_length_exceeded",
        "the upstream's own error"
    );
    assert_eq!(
        fake.keys_tried().len(),
        1,
        "no failover for the request's own fault"
    );
    let strict = key_state(&served, "strict", |_| true).await;
    assert_eq!(strict["health"]["state"], "unknown");
}

#[tokio::test(flavor = "multi_thread")]
async fn quota_exhausted_keys_are_benched_and_the_next_key_serves() {
    let fake = FakeUpstream::start().await;
    fake.set(
        "sk-fake-broke-00000000000000001",
        Behaviour::PaymentRequired,
    );
    fake.set(
        "sk-fake-empty-00000000000000001",
        Behaviour::InsufficientQuota,
    );
    fake.set("sk-fake-funded-0000000000000001", Behaviour::Ok);
    let served = setup(
        &fake,
        &[
            prio("broke", "sk-fake-broke-00000000000000001", 0),
            prio("empty", "sk-fake-empty-00000000000000001", 1),
            prio("funded", "sk-fake-funded-0000000000000001", 2),
        ],
    )
    .await;
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    for label in ["broke", "empty"] {
        let k = key_state(&served, label, |k| k["health"]["state"] == "unhealthy").await;
        assert_eq!(k["health"]["reason"], "quota", "{label}: {k}");
    }
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
async fn stream_cut_midway_is_a_failure_with_an_error_event() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-cutoff-0000000000000001", Behaviour::CutAfter(2));
    let served = setup(&fake, &[key("cutoff", "sk-fake-cutoff-0000000000000001")]).await;
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
async fn a_route_fails_over_across_providers_with_each_tier_s_model() {
    let fake = FakeUpstream::start().await;
    fake.set(
        "sk-fake-alpha-00000000000000001",
        Behaviour::ServerError(502),
    );
    fake.set("sk-fake-beta-000000000000000001", Behaviour::Ok);
    let base_url = fake.base_url();
    let served = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let mut secrets = Served::provider(
            &env,
            "alpha",
            &base_url,
            0,
            &[key("alpha-key", "sk-fake-alpha-00000000000000001")],
        );
        secrets.extend(Served::provider(
            &env,
            "beta",
            &base_url,
            1,
            &[key("beta-key", "sk-fake-beta-000000000000000001")],
        ));
        env.ok(
            &[
                "route",
                "add",
                "smart",
                "--to",
                "alpha:alpha-large,beta:beta-small",
            ],
            "",
        );
        let listed = env.ok(&["route", "list"], "");
        assert!(
            listed.contains("alpha:alpha-large → beta:beta-small"),
            "{listed}"
        );
        Served::start(env, secrets)
    })
    .await
    .expect("setup");
    let response = post(
        &served,
        "/v1/chat/completions",
        &json!({ "model": "smart", "messages": [] }),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-provider"), "beta");
    assert_eq!(header(&response, "x-keygate-attempts"), "2");
    let models: Vec<String> = fake
        .received()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        models,
        vec!["alpha-large", "beta-small"],
        "each tier gets its own model name"
    );
    let log = logged(&served, 1).await;
    assert_eq!(log[0]["model_requested"], "smart");
    assert_eq!(log[0]["model_served"], "beta-small");
    assert_eq!(log[0]["provider"], "beta");

    // /v1/models: the providers' own lists (alpha cannot list, beta can) plus the aliases.
    let models: Value = reqwest::Client::new()
        .get(format!("{}/v1/models", served.base))
        .bearer_auth(&served.token)
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec!["fake-model-a", "fake-model-b", "smart"],
        "{models}"
    );
    assert_eq!(models["object"], "list");
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
        let store = keygate_store::Store::open_in(&env.home()).expect("open");
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
