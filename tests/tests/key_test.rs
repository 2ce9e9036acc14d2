//! One-click key tests end to end: `keygate key test` / `health-check` with no engine running
//! (tests run in the CLI, health saved to the store), through a running engine (its live key
//! state learns from the test), and `POST /api/keys/{id}/test` / `POST /api/keys/batch`.

use std::process::Output;
use std::time::{Duration, Instant};

use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{chat, header, key_state, post, prio, setup};
use keygate_tests::served::{ADMIN_TOKEN, Served, key};
use serde_json::{Value, json};

fn run_with(env: &TestEnv, secrets: &[(String, String)], args: &[&str]) -> Output {
    env.keygate()
        .args(args)
        .envs(secrets.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run keygate")
}

fn ids_by_label(env: &TestEnv) -> Vec<(String, String)> {
    let keys: Vec<Value> =
        serde_json::from_str(&env.ok(&["--json", "key", "list"], "")).expect("json");
    keys.iter()
        .map(|k| {
            (
                k["label"].as_str().unwrap_or_default().to_string(),
                k["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn key_test_without_an_engine_reports_every_error_class_with_a_hint() {
    let fake = FakeUpstream::start().await;
    let cases = [
        ("good", "sk-fake-kt-good-00000000000001", Behaviour::Ok),
        (
            "revoked",
            "sk-fake-kt-revoked-0000000001",
            Behaviour::Unauthorized,
        ),
        (
            "broke",
            "sk-fake-kt-broke-000000000001",
            Behaviour::InsufficientQuota,
        ),
        (
            "busy",
            "sk-fake-kt-busy-00000000000001",
            Behaviour::RateLimited {
                retry_after_secs: 120,
            },
        ),
        (
            "down",
            "sk-fake-kt-down-00000000000001",
            Behaviour::ServerError(503),
        ),
        (
            "nocredit",
            "sk-fake-kt-nocredit-000000001",
            Behaviour::NoCredit,
        ),
    ];
    for (_, secret, behaviour) in &cases {
        fake.set(secret, behaviour.clone());
    }
    let base_url = fake.base_url();
    let labelled: Vec<(&'static str, &'static str)> =
        cases.iter().map(|(l, s, _)| (*l, *s)).collect();
    let (env, secrets) = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let specs: Vec<_> = labelled.iter().map(|(l, s)| key(l, s)).collect();
        let secrets = Served::provider(&env, "fake", &base_url, 0, &specs);
        // A provider nobody listens on.
        let dead = Served::provider(
            &env,
            "dead",
            "http://127.0.0.1:9/v1",
            1,
            &[key("unreachable", "sk-fake-kt-dead-00000000000001")],
        );
        (env, [secrets, dead].concat())
    })
    .await
    .expect("setup");

    let out = run_with(&env, &secrets, &["--json", "key", "test", "--all"]);
    assert_eq!(out.status.code(), Some(1), "some keys fail, so exit 1");
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json reports");
    let by = |label: &str| {
        reports
            .iter()
            .find(|r| r["label"] == label)
            .cloned()
            .unwrap_or_else(|| panic!("no report for {label}: {reports:?}"))
    };
    let good = by("good");
    assert_eq!(good["ok"], true);
    assert_eq!(good["model_count"], 2);
    assert_eq!(good["state"], "healthy");
    assert_eq!(good["hint"], "working");
    let expect = [
        ("revoked", "auth", "revoked or mistyped", "unhealthy"),
        ("broke", "quota", "out of credit", "unhealthy"),
        ("busy", "rate_limited", "rate limited until", "degraded"),
        ("down", "server_error", "provider down", "unknown"),
        ("unreachable", "connect", "network/proxy problem", "unknown"),
        // Listing models works without credit; without --deep the key looks fine.
        ("nocredit", "success", "working", "healthy"),
    ];
    for (label, class, hint, state) in expect {
        let report = by(label);
        assert_eq!(report["class"], class, "{report}");
        assert!(
            report["hint"].as_str().unwrap_or_default().contains(hint),
            "{report}"
        );
        assert_eq!(report["state"], state, "{report}");
    }
    assert_eq!(by("busy")["headroom"]["requests_remaining"], 0);

    // The results were saved: the store shows red for the revoked key.
    let listed: Vec<Value> =
        serde_json::from_str(&env.ok(&["--json", "key", "list"], "")).expect("json");
    let revoked = listed
        .iter()
        .find(|k| k["label"] == "revoked")
        .expect("key");
    assert_eq!(revoked["health"]["state"], "unhealthy");
    assert_eq!(revoked["health"]["reason"], "auth");

    // --deep unmasks the key without credit.
    let ids = ids_by_label(&env);
    let nocredit = &ids.iter().find(|(l, _)| l == "nocredit").expect("id").1;
    let out = run_with(
        &env,
        &secrets,
        &["--json", "key", "test", "--deep", nocredit],
    );
    assert_eq!(out.status.code(), Some(1));
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reports[0]["class"], "quota", "{}", reports[0]);
    assert_eq!(reports[0]["deep"], true);

    // The human table names every key; no output ever holds a secret.
    let out = run_with(&env, &secrets, &["key", "test", "--all"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (label, secret, _) in &cases {
        assert!(text.contains(label), "{text}");
        assert!(!text.contains(secret), "secret in output: {text}");
    }
    assert!(text.contains("did not pass"), "{text}");
    let out = env.run(&["key", "test"], "");
    assert_eq!(out.status.code(), Some(2), "nothing named is a usage error");
    for (_, secret, _) in &cases {
        assert!(env.files_containing(secret).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_through_the_running_engine_brings_a_healed_key_back_at_once() {
    if keygate_tests::skip_on_postgres(
        "a_test_through_the_running_engine_brings_a_healed_key_back_at_once",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    let (a, b) = (
        "sk-fake-kt-heal-a-000000000001",
        "sk-fake-kt-heal-b-000000000001",
    );
    fake.set(a, Behaviour::Unauthorized);
    fake.set(b, Behaviour::Ok);
    let served = setup(&fake, &[prio("first", a, 0), prio("second", b, 1)]).await;
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(header(&response, "x-keygate-key"), "second");
    key_state(&served, "first", |k| k["health"]["state"] == "unhealthy").await;

    // The provider fixes the key; a test through the engine makes the proxy use it again
    // right away instead of after its quarantine backoff.
    fake.set(a, Behaviour::Ok);
    let ids = ids_by_label(&served.env);
    let first = ids
        .iter()
        .find(|(l, _)| l == "first")
        .expect("id")
        .1
        .clone();
    let out = served
        .env
        .keygate()
        .args(["--json", "key", "test", &first])
        .env("KEYGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reports[0]["state"], "healthy", "{}", reports[0]);
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(header(&response, "x-keygate-key"), "first");
    key_state(&served, "first", |k| k["health"]["state"] == "healthy").await;

    // health-check goes through the engine too.
    let out = served
        .env
        .keygate()
        .args(["--json", "health-check"])
        .env("KEYGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reports.len(), 2);
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tests_one_key_and_batches_run_concurrently() {
    let fake = FakeUpstream::start().await;
    let slow = Behaviour::Slow(Duration::from_millis(800));
    let secrets = [
        "sk-fake-kt-api-1-0000000000001",
        "sk-fake-kt-api-2-0000000000001",
        "sk-fake-kt-api-3-0000000000001",
    ];
    for s in secrets {
        fake.set(s, slow.clone());
    }
    let served = setup(
        &fake,
        &[
            key("one", secrets[0]),
            key("two", secrets[1]),
            key("three", secrets[2]),
        ],
    )
    .await;
    let ids: Vec<String> = ids_by_label(&served.env)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let client = reqwest::Client::new();

    let response = client
        .post(format!("{}/api/keys/{}/test", served.base, ids[0]))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("test");
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.expect("json");
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["latency_ms"].as_u64().unwrap_or(0) >= 800);
    assert_eq!(report["models"], json!(["fake-model-a", "fake-model-b"]));
    // The answer comes once the verdict is saved: a reload right after it shows it (the
    // writer would otherwise store it with its next batch, up to ~50 ms later).
    let saved: Value = client
        .get(format!("{}/api/keys/{}", served.base, ids[0]))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("get key")
        .json()
        .await
        .expect("json");
    assert_eq!(saved["health"]["state"], "healthy", "{saved}");
    assert!(saved["health"]["last_checked_at"].is_string(), "{saved}");

    let started = Instant::now();
    let response = client
        .post(format!("{}/api/keys/batch", served.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "ids": ids, "action": "test" }))
        .send()
        .await
        .expect("batch");
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["results"].as_array().map(Vec::len), Some(3));
    assert!(
        took < Duration::from_millis(2000),
        "three 800 ms tests ran one after another: {took:?}"
    );

    for (request, status) in [
        (json!({ "ids": ids, "action": "explode" }), 422),
        (json!({ "ids": [], "action": "test" }), 422),
        (json!({ "ids": ["k_nosuchkey0"], "action": "test" }), 404),
    ] {
        let response = client
            .post(format!("{}/api/keys/batch", served.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&request)
            .send()
            .await
            .expect("batch");
        assert_eq!(response.status(), status, "{request}");
        let body: Value = response.json().await.expect("json error");
        assert!(body["error"]["message"].is_string(), "{body}");
    }

    // Batch disable, then a test of a disabled key says so.
    let response = client
        .post(format!("{}/api/keys/batch", served.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "ids": [ids[2]], "action": "disable" }))
        .send()
        .await
        .expect("disable");
    assert_eq!(response.status(), 200);
    let report: Value = client
        .post(format!("{}/api/keys/{}/test", served.base, ids[2]))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("test")
        .json()
        .await
        .expect("json");
    assert_eq!(report["class"], "disabled", "{report}");
    let stderr = served.stop();
    assert!(!stderr.contains("sk-fake-kt-api"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_provider_kind_is_probed_its_own_way() {
    let fake = FakeUpstream::start().await;
    let root = format!("http://{}", fake.addr);
    let kinds = [
        (
            "anthropic",
            root.clone(),
            "sk-ant-fake-kt-00000000000001",
            "x-api-key",
        ),
        (
            "gemini",
            format!("{root}/v1beta"),
            "AIza-fake-kt-0000000000000001",
            "x-goog-api-key",
        ),
        (
            "azure",
            root.clone(),
            "azure-fake-kt-000000000000001",
            "api-key",
        ),
        (
            "openai",
            format!("{root}/v1"),
            "sk-fake-kt-openai-00000000001",
            "authorization",
        ),
    ];
    for (_, _, secret, _) in &kinds {
        fake.set(secret, Behaviour::Ok);
    }
    let setup: Vec<(String, String, String)> = kinds
        .iter()
        .map(|(k, b, s, _)| (k.to_string(), b.clone(), s.to_string()))
        .collect();
    let (env, secrets) = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let mut secrets = Vec::new();
        for (kind, base, secret) in &setup {
            let name = format!("my{kind}");
            secrets.extend(Served::provider_of_kind(
                &env,
                &name,
                kind,
                base,
                0,
                &[key(kind, secret)],
            ));
        }
        (env, secrets)
    })
    .await
    .expect("setup");
    let out = run_with(&env, &secrets, &["--json", "key", "test", "--all"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reports.len(), 4);
    for report in &reports {
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(
            report["models"],
            json!(["fake-model-a", "fake-model-b"]),
            "{report}"
        );
    }
    let received = fake.received();
    for (kind, _, secret, header) in kinds {
        let request = received
            .iter()
            .find(|r| r.key == secret)
            .unwrap_or_else(|| panic!("{kind} was not probed"));
        let sent = request
            .headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(sent.ends_with(secret), "{kind}: key not in {header}");
        assert!(!request.uri.contains(secret), "{kind}: key in the URL");
        if kind == "anthropic" {
            assert!(request.headers.get("anthropic-version").is_some());
        }
        if kind == "azure" {
            assert!(
                request.uri.starts_with("/openai/models?api-version="),
                "{}",
                request.uri
            );
        }
    }
}
