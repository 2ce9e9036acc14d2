//! Failover end to end: which key or provider serves when others fail, and what each failure
//! does to key and provider health (DESIGN §4's table over real sockets).

use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{chat, header, key_state, logged, post, prio, setup};
use keygate_tests::served::{Served, key};
use serde_json::{Value, json};

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
    // The pause is on the event record, and no key was announced as changed for good.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let events = loop {
        let body: Value = reqwest::Client::new()
            .get(format!("{}/api/events/recent", served.base))
            .bearer_auth(keygate_tests::served::ADMIN_TOKEN)
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("json");
        let events = body["events"].as_array().cloned().unwrap_or_default();
        if events.iter().any(|e| e["kind"] == "provider_paused")
            || std::time::Instant::now() > deadline
        {
            break events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    let paused = events
        .iter()
        .find(|e| e["kind"] == "provider_paused")
        .unwrap_or_else(|| panic!("no provider_paused event: {events:?}"));
    assert_eq!(paused["provider"], "fake");
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
    // A 502 is tried once more on the asked-for tier (its only key, after a short pause).
    assert_eq!(header(&response, "x-keygate-attempts"), "3");
    let models: Vec<String> = fake
        .received()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        models,
        vec!["alpha-large", "alpha-large", "beta-small"],
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
async fn a_key_disabled_from_the_cli_is_skipped_by_the_running_engine() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-first-00000000000000001", Behaviour::Ok);
    fake.set("sk-fake-second-0000000000000001", Behaviour::Ok);
    let served = setup(
        &fake,
        &[
            prio("first", "sk-fake-first-00000000000000001", 0),
            prio("second", "sk-fake-second-0000000000000001", 1),
        ],
    )
    .await;
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(header(&response, "x-keygate-key"), "first");
    let first = key_state(&served, "first", |_| true).await;
    let id = first["id"].as_str().expect("id").to_string();
    served.env.ok(&["key", "disable", &id], "");
    // The engine notices the other process's change on its own (no restart, no admin call).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        if header(&response, "x-keygate-key") == "second" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the disabled key is still used"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
