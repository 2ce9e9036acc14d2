//! Provider balances through the real engine: each provider's documented shape (DeepSeek,
//! Moonshot, OpenRouter, SiliconFlow) lands in the API and the CLI, errors (401, 404, not
//! JSON) say what happened without losing the last known amount or leaking the key, a
//! provider without an endpoint says so, a low balance is told once per crossing, zero turns
//! the key yellow, the checker fetches by itself, and proxied requests never call a balance
//! endpoint.

use std::time::{Duration, Instant};

use keygate_tests::TestEnv;
use keygate_tests::fake_balance::FakeBalance;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{chat, events, post};
use keygate_tests::served::{ADMIN_TOKEN, Served, key};
use serde_json::{Value, json};

const BALANCE_PATHS: [&str; 4] = [
    "/user/balance",
    "/v1/users/me/balance",
    "/v1/key",
    "/v1/user/info",
];

/// Providers named after the presets with balance endpoints (and OpenAI, which has none), all
/// at the fake; `keys` are (provider, label, secret).
async fn serve(
    fake: &FakeUpstream,
    keys: &[(&'static str, &'static str, &'static str)],
    env_vars: &'static [(&'static str, &'static str)],
) -> Served {
    let base_url = fake.base_url();
    let keys = keys.to_vec();
    tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let mut secrets = Vec::new();
        for provider in [
            "deepseek",
            "moonshot",
            "openrouter",
            "siliconflow",
            "openai",
        ] {
            let specs: Vec<_> = keys
                .iter()
                .filter(|(p, _, _)| *p == provider)
                .map(|(_, label, secret)| key(label, secret))
                .collect();
            if !specs.is_empty() {
                secrets.extend(Served::provider(&env, provider, &base_url, 0, &specs));
            }
        }
        Served::start_with_env(env, secrets, env_vars)
    })
    .await
    .expect("serve")
}

async fn admin(
    served: &Served,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", served.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn key_id(served: &Served, label: &str) -> String {
    let (_, keys) = admin(served, reqwest::Method::GET, "/api/keys", None).await;
    keys["keys"]
        .as_array()
        .and_then(|k| k.iter().find(|k| k["label"] == label))
        .and_then(|k| k["id"].as_str())
        .expect("key listed")
        .to_string()
}

/// `POST /api/keys/{id}/balance` for the key labelled `label`: the key as answered.
async fn refresh(served: &Served, label: &str) -> Value {
    let id = key_id(served, label).await;
    let (status, key) = admin(
        served,
        reqwest::Method::POST,
        &format!("/api/keys/{id}/balance"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{key}");
    key
}

const DS: &str = "sk-fake-bal-deepseek-000000001";
const DS_REFUSED: &str = "sk-fake-bal-deepseek-refused01";
const KIMI: &str = "sk-fake-bal-moonshot-000000001";
const KIMI_HTML: &str = "sk-fake-bal-moonshot-html00001";
const OR: &str = "sk-fake-bal-openrouter-0000001";
const OR_UNLIMITED: &str = "sk-fake-bal-openrouter-unlim01";
const SF: &str = "sk-fake-bal-siliconflow-000001";
const SF_GONE: &str = "sk-fake-bal-siliconflow-gone01";
const OPENAI: &str = "sk-fake-bal-openai-00000000001";

#[tokio::test(flavor = "multi_thread")]
async fn each_providers_balance_lands_in_the_api_and_the_cli_and_errors_say_why() {
    if keygate_tests::skip_on_postgres(
        "each_providers_balance_lands_in_the_api_and_the_cli_and_errors_say_why",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    for secret in [
        DS,
        DS_REFUSED,
        KIMI,
        KIMI_HTML,
        OR,
        OR_UNLIMITED,
        SF,
        SF_GONE,
        OPENAI,
    ] {
        fake.set(secret, Behaviour::Ok);
    }
    fake.set_balance(DS, FakeBalance::Amount(110.0));
    fake.set_balance(DS_REFUSED, FakeBalance::Status(401));
    fake.set_balance(KIMI, FakeBalance::Amount(49.58));
    fake.set_balance(KIMI_HTML, FakeBalance::NotJson);
    fake.set_balance(OR, FakeBalance::Amount(74.5));
    fake.set_balance(OR_UNLIMITED, FakeBalance::Unlimited);
    fake.set_balance(SF, FakeBalance::Amount(88.88));
    let served = serve(
        &fake,
        &[
            ("deepseek", "ds", DS),
            ("deepseek", "ds-refused", DS_REFUSED),
            ("moonshot", "kimi", KIMI),
            ("moonshot", "kimi-html", KIMI_HTML),
            ("openrouter", "or", OR),
            ("openrouter", "or-unlimited", OR_UNLIMITED),
            ("siliconflow", "sf", SF),
            ("siliconflow", "sf-gone", SF_GONE),
            ("openai", "plain", OPENAI),
        ],
        &[],
    )
    .await;

    // Never fetched: null, not a made-up figure.
    let (_, keys) = admin(&served, reqwest::Method::GET, "/api/keys", None).await;
    assert!(
        keys["keys"]
            .as_array()
            .is_some_and(|k| k.iter().all(|k| k["balance"].is_null())),
        "{keys}"
    );

    let mut answers = Vec::new();
    let balance = |label: &'static str| {
        let served = &served;
        async move { refresh(served, label).await }
    };
    let ds = balance("ds").await;
    assert_eq!(ds["balance"]["available"], true, "{ds}");
    assert_eq!(ds["balance"]["amount"], 110.0);
    assert_eq!(ds["balance"]["currency"], "CNY");
    assert_eq!(ds["balance"]["note"], "granted 0.00, topped up 110.00");
    assert!(
        ds["balance"]["checked_at"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "{ds}"
    );
    let kimi = balance("kimi").await;
    assert_eq!(kimi["balance"]["amount"], 49.58, "{kimi}");
    assert_eq!(kimi["balance"]["currency"], "CNY");
    let or = balance("or").await;
    assert_eq!(
        (
            or["balance"]["amount"].as_f64(),
            or["balance"]["currency"].as_str()
        ),
        (Some(74.5), Some("USD")),
        "{or}"
    );
    assert_eq!(
        or["balance"]["note"],
        "key limit 100.00 (resets monthly), used 25.50"
    );
    let unlimited = balance("or-unlimited").await;
    assert!(unlimited["balance"]["amount"].is_null(), "{unlimited}");
    assert!(
        unlimited["balance"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("no credit limit")),
        "{unlimited}"
    );
    let sf = balance("sf").await;
    assert_eq!(sf["balance"]["amount"], 88.88, "{sf}");
    let plain = balance("plain").await;
    assert_eq!(plain["balance"]["available"], false, "{plain}");
    assert_eq!(plain["balance"]["note"], "not available from this provider");

    let refused = balance("ds-refused").await;
    assert_eq!(refused["balance"]["available"], true, "{refused}");
    assert!(refused["balance"]["amount"].is_null());
    assert!(
        refused["balance"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("refused the key (HTTP 401)")),
        "{refused}"
    );
    let html = balance("kimi-html").await;
    assert!(
        html["balance"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("did not answer JSON")),
        "{html}"
    );
    let gone = balance("sf-gone").await;
    assert!(
        gone["balance"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("HTTP 404")),
        "{gone}"
    );
    answers.extend([ds, kimi, or, unlimited, sf, plain, refused, html, gone]);

    // A failed refresh keeps the last known amount, and says the refresh failed.
    fake.set_balance(DS, FakeBalance::Status(500));
    let kept = refresh(&served, "ds").await;
    assert_eq!(kept["balance"]["amount"], 110.0, "{kept}");
    assert!(
        kept["balance"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("HTTP 500") && n.contains("last known")),
        "{kept}"
    );

    // The list and the CLI show the same; `key balance` goes through the engine.
    let listed = served.cli_ok(&["key", "list"]);
    assert!(
        listed.contains("BALANCE")
            && listed.contains("¥110.00")
            && listed.contains("$74.50")
            && listed.contains("n/a"),
        "{listed}"
    );
    let json: Value =
        serde_json::from_str(&served.cli_ok(&["--json", "key", "list"])).expect("json");
    let sf_row = json
        .as_array()
        .and_then(|k| k.iter().find(|k| k["label"] == "sf"))
        .cloned()
        .expect("sf");
    assert_eq!(sf_row["balance"]["amount"], 88.88, "{sf_row}");
    fake.set_balance(SF, FakeBalance::Amount(80.0));
    let cli: Value =
        serde_json::from_str(&served.cli_ok(&["--json", "key", "balance", "--all"])).expect("json");
    let sf_now = cli
        .as_array()
        .and_then(|k| k.iter().find(|k| k["label"] == "sf"))
        .cloned()
        .expect("sf");
    assert_eq!(sf_now["balance"]["amount"], 80.0, "{cli}");
    let table = served.cli_ok(&["key", "balance", "--all"]);
    assert!(
        table.contains("not available from this provider"),
        "{table}"
    );

    // The key test fetches the balance too.
    fake.set_balance(KIMI, FakeBalance::Amount(12.0));
    let id = key_id(&served, "kimi").await;
    let (status, report) = admin(
        &served,
        reqwest::Method::POST,
        &format!("/api/keys/{id}/test"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["balance"]["amount"], 12.0, "{report}");

    // No secret in any answer, the CLI's output or the engine's log.
    let everything = format!("{answers:?}{listed}{cli}{table}{report}");
    let log = served.stop();
    for secret in [
        DS,
        DS_REFUSED,
        KIMI,
        KIMI_HTML,
        OR,
        OR_UNLIMITED,
        SF,
        SF_GONE,
        OPENAI,
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked into an answer"
        );
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_low_balance_is_told_once_per_crossing_and_zero_turns_the_key_yellow() {
    if keygate_tests::skip_on_postgres(
        "a_low_balance_is_told_once_per_crossing_and_zero_turns_the_key_yellow",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    fake.set(DS, Behaviour::Ok);
    fake.set_balance(DS, FakeBalance::Amount(110.0));
    let served = serve(&fake, &[("deepseek", "ds", DS)], &[]).await;
    let id = key_id(&served, "ds").await;

    let (status, bad) = admin(
        &served,
        reqwest::Method::PUT,
        &format!("/api/keys/{id}"),
        Some(json!({ "low_balance": "soon" })),
    )
    .await;
    assert_eq!(status, 422);
    assert!(bad["error"]["fields"]["low_balance"].is_string(), "{bad}");
    let bad = served.cli(&["key", "balance", &id, "--low-balance", "0d"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--low-balance"),
        "{bad:?}"
    );
    let set = served.cli_ok(&["key", "balance", &id, "--low-balance", "50"]);
    assert!(set.contains("¥110.00") && set.contains("50"), "{set}");
    assert!(events(&served, "balance_low", 1).await.is_empty());

    // Under 50: one event, however often it is seen.
    fake.set_balance(DS, FakeBalance::Amount(40.0));
    let low = refresh(&served, "ds").await;
    assert_eq!(low["low_balance"], "50", "{low}");
    refresh(&served, "ds").await;
    refresh(&served, "ds").await;
    let told = events(&served, "balance_low", 1).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["key_id"], id);
    let message = told[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("40.00 CNY") && message.contains("threshold of 50.00"),
        "{message}"
    );

    // Topped up, then low again: a second crossing, a second event.
    fake.set_balance(DS, FakeBalance::Amount(100.0));
    refresh(&served, "ds").await;
    fake.set_balance(DS, FakeBalance::Amount(30.0));
    refresh(&served, "ds").await;
    assert_eq!(events(&served, "balance_low", 2).await.len(), 2);

    // Zero: yellow "out of credit soon" before any request failed; topped up, it clears.
    fake.set_balance(DS, FakeBalance::Amount(0.0));
    let empty = refresh(&served, "ds").await;
    assert_eq!(empty["health"]["state"], "degraded", "{empty}");
    assert_eq!(empty["health"]["reason"], "credit", "{empty}");
    assert!(
        empty["health"]["reason_text"]
            .as_str()
            .is_some_and(|t| t.contains("out of credit soon")),
        "{empty}"
    );
    assert_eq!(
        events(&served, "balance_low", 2).await.len(),
        2,
        "still the same crossing"
    );
    let served_anyway = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(served_anyway.status(), 200, "yellow keys are still used");
    fake.set_balance(DS, FakeBalance::Amount(500.0));
    let topped = refresh(&served, "ds").await;
    assert_ne!(topped["health"]["reason"], "credit", "{topped}");

    // Days of spend left, through the API.
    let (status, edited) = admin(
        &served,
        reqwest::Method::PUT,
        &format!("/api/keys/{id}"),
        Some(json!({ "low_balance": "3d" })),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["low_balance"], "3d");
    let (_, cleared) = admin(
        &served,
        reqwest::Method::PUT,
        &format!("/api/keys/{id}"),
        Some(json!({ "low_balance": "" })),
    )
    .await;
    assert!(cleared["low_balance"].is_null(), "{cleared}");
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checker_fetches_balances_by_itself_and_proxied_requests_never_do() {
    let fake = FakeUpstream::start().await;
    fake.set(DS, Behaviour::Ok);
    fake.set_balance(DS, FakeBalance::Amount(64.0));
    // Checker time scaled by 0.001: probes every 300 ms, balances every 3.6 s.
    let served = serve(
        &fake,
        &[("deepseek", "ds", DS)],
        &[
            ("KEYGATE_HEALTH_TIME_SCALE", "0.001"),
            ("KEYGATE_HEALTH_CHECKER", "on"),
        ],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut amount = Value::Null;
    while Instant::now() < deadline {
        let (_, keys) = admin(&served, reqwest::Method::GET, "/api/keys", None).await;
        amount = keys["keys"][0]["balance"]["amount"].clone();
        if !amount.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        amount, 64.0,
        "the checker fetched the balance with nobody asking"
    );

    // Under load, balance requests come only from the checker's hourly (here 3.6 s) rounds.
    let started = Instant::now();
    let before = balance_calls(&fake);
    let mut load = Vec::new();
    for _ in 0..8 {
        let served = &served;
        load.push(async move {
            for _ in 0..40 {
                let response = post(served, "/v1/chat/completions", &chat(false)).await;
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await;
            }
        });
    }
    futures_util::future::join_all(load).await;
    let during = balance_calls(&fake) - before;
    let rounds = started.elapsed().as_secs_f64() / 3.6;
    assert!(
        (during as f64) <= rounds.ceil() + 1.0,
        "{during} balance calls in {:?} of 320 proxied requests",
        started.elapsed()
    );
    let proxied = fake
        .received()
        .iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .count();
    assert_eq!(proxied, 320);
    served.stop();
}

fn balance_calls(fake: &FakeUpstream) -> usize {
    fake.received()
        .iter()
        .filter(|r| BALANCE_PATHS.contains(&r.path.as_str()))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_engine_the_cli_fetches_and_saves_balances_itself() {
    let fake = FakeUpstream::start().await;
    fake.set(DS, Behaviour::Ok);
    fake.set_balance(DS, FakeBalance::Amount(0.0));
    let base_url = fake.base_url();
    let (balance, tested, events) = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let secrets = Served::provider(&env, "deepseek", &base_url, 0, &[key("ds", DS)]);
        let run = |args: &[&str]| {
            let mut cmd = env.keygate();
            for (var, secret) in &secrets {
                cmd.env(var, secret);
            }
            let out = cmd.args(args).output().expect("keygate");
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let balance = run(&["--json", "key", "balance", "--all", "--low-balance", "5"]);
        let tested = run(&["--json", "key", "test", "--all"]);
        let store = env.store();
        let events: Vec<String> = store
            .recent_events(100)
            .expect("events")
            .into_iter()
            .map(|e| e.kind)
            .collect();
        (balance, tested, events)
    })
    .await
    .expect("cli");
    let balance: Value = serde_json::from_str(&balance).expect("json");
    assert_eq!(balance[0]["balance"]["amount"], 0.0, "{balance}");
    assert_eq!(balance[0]["low_balance"], "5");
    let tested: Value = serde_json::from_str(&tested).expect("json");
    assert_eq!(
        tested[0]["balance"]["amount"], 0.0,
        "the key test fetched it too: {tested}"
    );
    assert_eq!(
        events.iter().filter(|k| *k == "balance_low").count(),
        1,
        "told once, not again at the test: {events:?}"
    );
}
