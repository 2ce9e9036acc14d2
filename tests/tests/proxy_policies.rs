//! Proxy policies over real sockets: waiting for a cooling key (`proxy.max_wait_ms`), session
//! stickiness, and settings given through the CLI.

use std::collections::HashSet;
use std::time::Instant;

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{chat, header, post, prio, setup, setup_with_settings};
use keygate_tests::served::key;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn with_max_wait_a_request_waits_for_the_cooling_key_instead_of_failing() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-wait-000000000000000001";
    fake.set(
        secret,
        Behaviour::RateLimitedThenOk {
            times: 1,
            retry_after_secs: 1,
        },
    );
    let served = setup_with_settings(
        &fake,
        &[key("wait", secret)],
        &[("proxy.max_wait_ms", 5000)],
    )
    .await;
    let started = Instant::now();
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-attempts"), "2");
    assert!(
        started.elapsed().as_millis() >= 900,
        "the retry waited for Retry-After"
    );
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_max_wait_a_cooling_pool_fails_at_once_with_429() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-nowait-0000000000000001";
    fake.set(
        secret,
        Behaviour::RateLimitedThenOk {
            times: 1,
            retry_after_secs: 30,
        },
    );
    let served = setup(&fake, &[key("nowait", secret)]).await;
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nowait"),
        "{body}"
    );
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_sticks_to_its_key_while_healthy_and_moves_when_it_breaks() {
    let fake = FakeUpstream::start().await;
    let (a, b) = (
        "sk-fake-sticky-a-00000000000001",
        "sk-fake-sticky-b-00000000000001",
    );
    fake.set(a, Behaviour::Ok);
    fake.set(b, Behaviour::Ok);
    let served = setup(&fake, &[key("a", a), key("b", b)]).await;

    let mut in_session = chat(false);
    in_session["user"] = "conversation-1".into();
    let mut served_by = Vec::new();
    for _ in 0..6 {
        let response = post(&served, "/v1/chat/completions", &in_session).await;
        assert_eq!(response.status(), 200);
        served_by.push(header(&response, "x-keygate-key").to_string());
    }
    assert!(
        served_by.iter().all(|k| *k == served_by[0]),
        "one key for the whole session: {served_by:?}"
    );

    let mut without = HashSet::new();
    for _ in 0..6 {
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        without.insert(header(&response, "x-keygate-key").to_string());
    }
    assert_eq!(without.len(), 2, "requests without a session rotate");

    // The session's key breaks: the session moves to the other key and stays there.
    let (sticky_secret, other) = if served_by[0] == "a" {
        (a, "b")
    } else {
        (b, "a")
    };
    fake.set(sticky_secret, Behaviour::Unauthorized);
    for _ in 0..3 {
        let response = post(&served, "/v1/chat/completions", &in_session).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-keygate-key"), other);
    }
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_at_its_local_rpm_is_skipped_for_the_next_key() {
    let fake = FakeUpstream::start().await;
    let (a, b) = (
        "sk-fake-rpm-a-0000000000000001",
        "sk-fake-rpm-b-0000000000000001",
    );
    fake.set(a, Behaviour::Ok);
    fake.set(b, Behaviour::Ok);
    let mut limited = prio("limited", a, 0);
    limited.rpm = Some(2);
    let served = setup(&fake, &[limited, prio("spare", b, 1)]).await;
    let mut served_by = Vec::new();
    for _ in 0..4 {
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(response.status(), 200);
        served_by.push(header(&response, "x-keygate-key").to_string());
    }
    assert_eq!(served_by, ["limited", "limited", "spare", "spare"]);
    served.stop();
}

#[test]
fn settings_are_validated_and_listed() {
    let env = keygate_tests::TestEnv::new();
    let out = env
        .keygate()
        .args(["settings", "set", "proxy.max_attempts", "0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 1 and 10"));
    let out = env
        .keygate()
        .args(["settings", "set", "proxy.nope", "1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting"));
    env.ok(&["settings", "set", "proxy.max_wait_ms", "2500"], "");
    let listed: Vec<Value> =
        serde_json::from_str(&env.ok(&["--json", "settings", "list"], "")).expect("json");
    let wait = listed
        .iter()
        .find(|s| s["name"] == "proxy.max_wait_ms")
        .expect("listed");
    assert_eq!(wait["value"], 2500);
    assert_eq!(wait["default"], 3000);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_key_is_red_and_never_used_and_a_near_expiry_is_flagged() {
    let fake = FakeUpstream::start().await;
    let (old, new) = (
        "sk-fake-expired-00000000000001",
        "sk-fake-fresh-000000000000001",
    );
    fake.set(old, Behaviour::Ok);
    fake.set(new, Behaviour::Ok);
    let base_url = fake.base_url();
    let served = tokio::task::spawn_blocking(move || {
        let env = keygate_tests::TestEnv::new();
        let mut secrets = keygate_tests::served::Served::provider(
            &env,
            "fake",
            &base_url,
            0,
            &[prio("fresh", new, 1)],
        );
        let soon = (chrono::Utc::now() + chrono::Duration::days(3))
            .format("%Y-%m-%d")
            .to_string();
        for (label, expires, var, secret) in [
            ("old", "2020-01-01", "KG_TEST_OLD", old),
            (
                "soon",
                soon.as_str(),
                "KG_TEST_SOON",
                "sk-fake-soon-0000000000000001",
            ),
        ] {
            let out = env
                .keygate()
                .args([
                    "key",
                    "add",
                    "--provider",
                    "fake",
                    "--label",
                    label,
                    "--priority",
                    "0",
                    "--expires",
                    expires,
                    "--secret-env",
                    var,
                ])
                .env(var, secret)
                .output()
                .expect("key add");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            secrets.push((var.to_string(), secret.to_string()));
        }
        let out = env
            .keygate()
            .args([
                "key",
                "add",
                "--provider",
                "fake",
                "--expires",
                "someday",
                "--secret-env",
                "X",
            ])
            .env("X", "sk-fake-never-000000000000001")
            .output()
            .expect("key add");
        assert_eq!(out.status.code(), Some(2), "a bad date is a usage error");
        keygate_tests::served::Served::start(env, secrets)
    })
    .await
    .expect("serve");

    let listed: Vec<Value> =
        serde_json::from_str(&served.env.ok(&["--json", "key", "list"], "")).expect("json");
    let by = |label: &str| {
        listed
            .iter()
            .find(|k| k["label"] == label)
            .cloned()
            .expect("key")
    };
    assert_eq!(by("old")["health"]["state"], "unhealthy");
    assert_eq!(by("old")["health"]["reason"], "expired");
    assert_eq!(by("old")["expiry"], "expired");
    assert_eq!(by("soon")["expiry"], "soon");
    assert_eq!(by("soon")["expires_in_days"], 3, "{}", by("soon"));
    assert_eq!(by("fresh")["expiry"], "valid");

    fake.set("sk-fake-soon-0000000000000001", Behaviour::Unauthorized);
    for _ in 0..3 {
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(response.status(), 200);
        assert_ne!(
            header(&response, "x-keygate-key"),
            "old",
            "an expired key is never used"
        );
    }
    assert!(fake.keys_tried().iter().all(|k| k != old));
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn lowest_cost_tries_the_cheapest_tier_first_and_requests_carry_their_cost() {
    let fake = FakeUpstream::start().await;
    let (dear, cheap) = (
        "sk-fake-cost-openai-000000001",
        "sk-fake-cost-deepseek-0000001",
    );
    fake.set(dear, Behaviour::Ok);
    fake.set(cheap, Behaviour::Ok);
    let base_url = fake.base_url();
    let served = tokio::task::spawn_blocking(move || {
        let env = keygate_tests::TestEnv::new();
        let mut secrets = keygate_tests::served::Served::provider_of_kind(
            &env,
            "openai",
            "openai",
            &base_url,
            0,
            &[prio("dear", dear, 0)],
        );
        secrets.extend(keygate_tests::served::Served::provider_of_kind(
            &env,
            "deepseek",
            "openai",
            &base_url,
            1,
            &[prio("cheap", cheap, 0)],
        ));
        env.ok(
            &[
                "route",
                "add",
                "smart",
                "--to",
                "openai:gpt-4o,deepseek:deepseek-chat",
                "--strategy",
                "lowest_cost",
            ],
            "",
        );
        keygate_tests::served::Served::start(env, secrets)
    })
    .await
    .expect("serve");

    let mut request = chat(false);
    request["model"] = "smart".into();
    let response = post(&served, "/v1/chat/completions", &request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-keygate-provider"), "deepseek");
    assert_eq!(fake.keys_tried(), [cheap]);

    // Cost from usage and the model's price: gpt-4o-mini, 11 prompt tokens (2 cached), 3
    // completion: 9 × 0.15 + 2 × 0.075 + 3 × 0.60 = 3.3 micro-dollars → 3. Streamed or not,
    // the same.
    let direct = post(
        &served,
        "/v1/chat/completions",
        &json!({ "model": "openai/gpt-4o-mini", "messages": [] }),
    )
    .await;
    assert_eq!(direct.status(), 200);
    let mut streamed = chat(true);
    streamed["model"] = "openai/gpt-4o-mini".into();
    let response = post(&served, "/v1/chat/completions", &streamed).await;
    let _ = response.text().await;
    let log = keygate_tests::proxy_client::logged(&served, 3).await;
    let costs: Vec<&Value> = log
        .iter()
        .filter(|r| r["model_served"] == "gpt-4o-mini")
        .map(|r| &r["cost_micros"])
        .collect();
    assert_eq!(costs, [&json!(3), &json!(3)], "{log:?}");
    // deepseek-chat: 9 × 0.28 + 2 × 0.028 + 3 × 0.42 = 3.836 → 4.
    let smart = log
        .iter()
        .find(|r| r["model_requested"] == "smart")
        .expect("row");
    assert_eq!(smart["cost_micros"], 4, "{smart}");

    // The same numbers in reports: CLI (json, csv, table) and API.
    let report: Value = serde_json::from_str(
        &served
            .env
            .ok(&["report", "--by", "provider", "--format", "json"], ""),
    )
    .expect("json report");
    let rows = report["rows"].as_array().expect("rows");
    let openai = rows
        .iter()
        .find(|r| r["group"] == "openai")
        .expect("openai row");
    assert_eq!(openai["requests"], 2);
    assert_eq!(openai["cost_micros"], 6);
    assert_eq!(report["total"]["cost_micros"], 10);
    let csv = served
        .env
        .ok(&["report", "--by", "model", "--format", "csv"], "");
    assert!(
        csv.starts_with("group,requests,errors,failed_attempts,prompt_tokens"),
        "{csv}"
    );
    assert!(csv.contains("gpt-4o-mini,2,0,0,22,6,4,0.000006,0"), "{csv}");
    let table = served.env.ok(&["report"], "");
    assert!(
        table.contains("total") && table.contains("0.000010"),
        "{table}"
    );
    let out = served.env.run(&["report", "--by", "week"], "");
    assert_eq!(out.status.code(), Some(2));
    let api: Value = reqwest::Client::new()
        .get(format!("{}/api/usage?by=model", served.base))
        .bearer_auth(keygate_tests::served::ADMIN_TOKEN)
        .send()
        .await
        .expect("usage")
        .json()
        .await
        .expect("json");
    assert_eq!(api["total"]["cost_micros"], 10, "{api}");
    let bad = reqwest::Client::new()
        .get(format!("{}/api/usage?by=week", served.base))
        .bearer_auth(keygate_tests::served::ADMIN_TOKEN)
        .send()
        .await
        .expect("usage");
    assert_eq!(bad.status(), 422);
    let cost: Value = reqwest::Client::new()
        .get(format!("{}/api/usage/cost?group_by=provider", served.base))
        .bearer_auth(keygate_tests::served::ADMIN_TOKEN)
        .send()
        .await
        .expect("cost")
        .json()
        .await
        .expect("json");
    assert_eq!(cost["rows"][0]["group"], "openai", "{cost}");
    let metrics: Value = reqwest::Client::new()
        .get(format!("{}/api/metrics", served.base))
        .bearer_auth(keygate_tests::served::ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics")
        .json()
        .await
        .expect("json");
    assert_eq!(metrics["1h"]["requests"], 3, "{metrics}");
    assert_eq!(metrics["24h"]["success_rate"], 1.0, "{metrics}");
    assert!(metrics["7d"]["latency_ms"]["p99"].is_u64(), "{metrics}");
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn request_rows_older_than_the_retention_are_pruned_by_the_engine() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-retention-00000000001", Behaviour::Ok);
    let base_url = fake.base_url();
    let served = tokio::task::spawn_blocking(move || {
        let env = keygate_tests::TestEnv::new();
        let secrets = keygate_tests::served::Served::provider(
            &env,
            "fake",
            &base_url,
            0,
            &[key("kept", "sk-fake-retention-00000000001")],
        );
        env.ok(&["settings", "set", "retention.request_days", "30"], "");
        let mut store = env.store();
        let old = |id: &str, days: i64| keygate_store::RequestRow {
            id: id.into(),
            at: (chrono::Utc::now() - chrono::Duration::days(days))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            token: None,
            endpoint: "/chat/completions".into(),
            model_requested: "gpt-4o".into(),
            model_served: None,
            provider: None,
            key_id: None,
            status: 200,
            error_class: None,
            attempts: Vec::new(),
            latency_ms: 1,
            ttfb_ms: None,
            stream: false,
            prompt_tokens: None,
            completion_tokens: None,
            cached_tokens: None,
            cost_micros: None,
        };
        store
            .write_batch(&[old("req_ancient", 31), old("req_recent", 29)], &[])
            .expect("seed");
        drop(store);
        keygate_tests::served::Served::start(env, secrets)
    })
    .await
    .expect("serve");
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    let ids = loop {
        let log = keygate_tests::proxy_client::logged(&served, 0).await;
        let ids: Vec<String> = log
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect();
        if !ids.iter().any(|i| i == "req_ancient") || Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert_eq!(
        ids,
        ["req_recent"],
        "31-day-old row pruned, 29-day-old kept"
    );
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn user_prices_apply_from_their_date_and_price_requests() {
    let fake = FakeUpstream::start().await;
    fake.set("sk-fake-priced-000000000000001", Behaviour::Ok);
    let base_url = fake.base_url();
    let served = tokio::task::spawn_blocking(move || {
        let env = keygate_tests::TestEnv::new();
        let secrets = keygate_tests::served::Served::provider(
            &env,
            "fake",
            &base_url,
            0,
            &[key("priced", "sk-fake-priced-000000000000001")],
        );
        env.ok(
            &[
                "model",
                "price",
                "fake-model",
                "--provider",
                "fake",
                "--input",
                "1",
                "--output",
                "2",
            ],
            "",
        );
        env.ok(
            &[
                "model",
                "price",
                "fake-model",
                "--provider",
                "fake",
                "--input",
                "100",
                "--output",
                "100",
                "--from",
                "2099-01-01",
            ],
            "",
        );
        let out = env.run(
            &["model", "price", "x", "--input", "cheap", "--output", "1"],
            "",
        );
        assert_eq!(out.status.code(), Some(2), "a bad price is a usage error");
        let listed: Vec<Value> =
            serde_json::from_str(&env.ok(&["--json", "model", "list", "--provider", "fake"], ""))
                .expect("json");
        assert_eq!(listed.len(), 1, "only the fake's own price: {listed:?}");
        assert_eq!(listed[0]["input_usd"], "1.000000");
        let all: Vec<Value> =
            serde_json::from_str(&env.ok(&["--json", "model", "list"], "")).expect("json");
        assert!(all.iter().any(|p| {
            p["model"] == "gpt-4o"
                && p["source"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("built-in"))
        }));
        keygate_tests::served::Served::start(env, secrets)
    })
    .await
    .expect("serve");
    let mut request = chat(false);
    request["model"] = "fake-model".into();
    let response = post(&served, "/v1/chat/completions", &request).await;
    assert_eq!(response.status(), 200);
    let log = keygate_tests::proxy_client::logged(&served, 1).await;
    // 9 prompt + 2 cached (cached defaults to the input price) at $1/1M, 3 completion at $2/1M.
    assert_eq!(log[0]["cost_micros"], 17, "{}", log[0]);
    served.stop();
}
