//! Usage accounting through the real engine: budgets (alert at 80 %, key out at 100 %), token
//! counts that agree between streamed and plain answers, a cut stream counted once, and the
//! charts drawn from it (API and CLI).

use std::time::{Duration, Instant};

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{
    admin_get, chat, events, header, logged, post, prio, setup, setup_with_settings,
};
use keygate_tests::served::{ADMIN_TOKEN, KeySpec};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn a_token_budget_alerts_once_at_80_percent_and_moves_traffic_at_100() {
    let fake = FakeUpstream::start().await;
    let (capped, spare) = (
        "sk-fake-budget-capped-00000001",
        "sk-fake-budget-spare-000000001",
    );
    fake.set(capped, Behaviour::Ok);
    fake.set(spare, Behaviour::Ok);
    // Each fake answer uses 14 tokens: 3 requests = 42 (84 %), 4 = 56 (past 50).
    let capped_key = KeySpec {
        extra: &["--daily-tokens", "50"],
        ..prio("capped", capped, 0)
    };
    let served = setup(&fake, &[capped_key, prio("spare", spare, 1)]).await;
    let mut served_by = Vec::new();
    for i in 1..=6 {
        // Streamed and plain answers alike count against the budget.
        let response = post(&served, "/v1/chat/completions", &chat(i % 2 == 0)).await;
        assert_eq!(response.status(), 200);
        served_by.push(header(&response, "x-keygate-key").to_string());
        let _ = response.bytes().await;
        // The writer counts usage once the row is saved; wait for it before the next one.
        assert_eq!(logged(&served, i).await.len(), i);
    }
    assert_eq!(
        served_by,
        ["capped", "capped", "capped", "capped", "spare", "spare"]
    );
    let reached = events(&served, "budget_reached", 1).await;
    assert_eq!(reached.len(), 1, "{reached:?}");
    assert!(
        reached[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("daily token budget") && m.contains("56 tokens of 50")),
        "{reached:?}"
    );
    let alerts = events(&served, "budget_alert", 1).await;
    assert_eq!(
        alerts.len(),
        1,
        "one alert, not one per request: {alerts:?}"
    );
    assert_eq!(alerts[0]["key_id"], reached[0]["key_id"]);

    let keys = admin_get(&served, "/api/keys").await;
    let key = keys["keys"]
        .as_array()
        .and_then(|k| k.iter().find(|k| k["label"] == "capped"))
        .cloned()
        .expect("capped key");
    assert_eq!(key["health"]["state"], "degraded", "yellow, not red: {key}");
    assert_eq!(key["health"]["reason"], "budget");
    assert_eq!(key["limits"]["daily_tokens"], 50);
    assert_eq!(key["budgets"][0]["kind"], "daily_tokens");
    assert_eq!(key["budgets"][0]["used"], 56);
    assert_eq!(key["budgets"][0]["percent"], 112);

    // Raising the budget lets the key back in once the engine picked up the change.
    let client = reqwest::Client::new();
    let bad = client
        .put(format!(
            "{}/api/keys/{}/limits",
            served.base,
            key["id"].as_str().unwrap_or("")
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "daily_budget_usd": "five", "rpm": 0 }))
        .send()
        .await
        .expect("put");
    assert_eq!(bad.status(), 422);
    let bad: Value = bad.json().await.expect("json");
    assert!(
        bad["error"]["fields"]["daily_budget_usd"].is_string(),
        "{bad}"
    );
    assert!(bad["error"]["fields"]["rpm"].is_string(), "{bad}");
    let raised = client
        .put(format!(
            "{}/api/keys/{}/limits",
            served.base,
            key["id"].as_str().unwrap_or("")
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "daily_tokens": 1000 }))
        .send()
        .await
        .expect("put");
    assert_eq!(raised.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut back = String::new();
    while Instant::now() < deadline {
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        back = header(&response, "x-keygate-key").to_string();
        if back == "capped" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(back, "capped");
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_and_plain_answers_record_the_same_tokens_and_a_cut_stream_counts_once() {
    let fake = FakeUpstream::start().await;
    let (good, cut) = (
        "sk-fake-usage-good-0000000001",
        "sk-fake-usage-cut-00000000001",
    );
    fake.set(good, Behaviour::Ok);
    fake.set(cut, Behaviour::CutAfter(2));
    let served = setup(&fake, &[prio("good", good, 0)]).await;
    for stream in [false, true] {
        let response = post(&served, "/v1/chat/completions", &chat(stream)).await;
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await;
    }
    let rows = logged(&served, 2).await;
    let tokens = |r: &Value| {
        (
            r["prompt_tokens"].clone(),
            r["completion_tokens"].clone(),
            r["cached_tokens"].clone(),
            r["cost_micros"].clone(),
        )
    };
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["stream"], true);
    assert_eq!(tokens(&rows[0]), tokens(&rows[1]), "{rows:?}");
    assert_eq!(rows[0]["prompt_tokens"], 11);

    // The same counts in the usage report (from the rollups).
    let usage = admin_get(&served, "/api/usage?by=model").await;
    let row = &usage["rows"][0];
    assert_eq!(row["requests"], 2, "{usage}");
    assert_eq!(row["prompt_tokens"], 22);
    assert_eq!(row["completion_tokens"], 6);
    served.stop();

    // A stream cut mid-way that nothing can continue (one attempt allowed): one row, no
    // tokens invented, nothing counted twice.
    let served =
        setup_with_settings(&fake, &[prio("cut", cut, 0)], &[("proxy.max_attempts", 1)]).await;
    let response = post(&served, "/v1/chat/completions", &chat(true)).await;
    let _ = response.bytes().await;
    let rows = logged(&served, 1).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["error_class"], "stream_broken", "{rows:?}");
    assert_eq!(rows[0]["completion_tokens"], Value::Null);
    let usage = admin_get(&served, "/api/usage?by=model").await;
    assert_eq!(usage["rows"][0]["requests"], 1, "{usage}");
    assert_eq!(usage["rows"][0]["errors"], 1);
    served.stop();
}

/// Clients that hang up: Codex closes its stream as soon as `response.completed` arrives,
/// before the upstream's own end — the request is still logged, with its usage, as a success;
/// and a client gone mid-stream leaves a 499 `client_closed` row, not nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_hangs_up_still_leaves_its_row_and_usage() {
    use futures_util::StreamExt;
    let fake = FakeUpstream::start().await;
    let (open, stalling) = (
        "sk-fake-hangup-open-0000000001",
        "sk-fake-hangup-stall-000000001",
    );
    fake.set(open, Behaviour::HoldsOpen);
    fake.set(stalling, Behaviour::LongStallAfter(5));
    let served = setup(&fake, &[prio("open", open, 0)]).await;
    let mut request = chat(true);
    request["stream_options"] = json!({ "include_usage": true });
    let response = post(&served, "/v1/chat/completions", &request).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    while let Some(Ok(bytes)) = body.next().await {
        seen.extend_from_slice(&bytes);
        if seen.ends_with(b"data: [DONE]\n\n") {
            break;
        }
    }
    drop(body); // hang up while the upstream still holds its connection open
    let rows = logged(&served, 1).await;
    assert_eq!(rows[0]["status"], 200, "{rows:?}");
    assert_eq!(rows[0]["error_class"], Value::Null, "{rows:?}");
    assert_eq!(rows[0]["prompt_tokens"], 11, "{rows:?}");
    served.stop();

    let served = setup(&fake, &[prio("stalling", stalling, 0)]).await;
    let response = post(&served, "/v1/chat/completions", &chat(true)).await;
    let mut body = response.bytes_stream();
    let _ = body.next().await;
    drop(body);
    let rows = logged(&served, 1).await;
    assert_eq!(rows[0]["status"], 499, "{rows:?}");
    assert_eq!(rows[0]["error_class"], "client_closed", "{rows:?}");
    let keys = admin_get(&served, "/api/keys").await;
    let health = &keys["keys"][0]["health"];
    assert_eq!(
        (&health["consecutive_errors"], &health["last_error"]),
        (&json!(0), &Value::Null),
        "a client hanging up is not the key's fault: {keys}"
    );
    served.stop();
}

/// Gemini CLI's streams (`streamGenerateContent?alt=sse`, relayed natively) count like any
/// other: their `usageMetadata` reaches the token budget, which moves traffic to the next key,
/// and the usage report.
#[tokio::test(flavor = "multi_thread")]
async fn gemini_streams_count_against_budgets_and_in_reports() {
    let fake = FakeUpstream::start().await;
    let (capped, spare) = (
        "AIza-fake-budget-capped-0000001",
        "AIza-fake-budget-spare-00000001",
    );
    fake.set(capped, Behaviour::Ok);
    fake.set(spare, Behaviour::Ok);
    // Each fake Gemini answer uses 14 tokens: 3 streams = 42, past 30.
    let capped_key = KeySpec {
        extra: &["--daily-tokens", "30"],
        ..prio("capped", capped, 0)
    };
    let served = keygate_tests::proxy_client::setup_kind(
        "gem",
        "gemini",
        &format!("http://{}/v1beta", fake.addr),
        &[capped_key, prio("spare", spare, 1)],
    )
    .await;
    let content = json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }] });
    let mut served_by = Vec::new();
    for i in 1..=4 {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                served.base
            ))
            .header("x-goog-api-key", served.token.clone())
            .json(&content)
            .send()
            .await
            .expect("stream");
        assert_eq!(response.status(), 200);
        served_by.push(header(&response, "x-keygate-key").to_string());
        let _ = response.bytes().await;
        assert_eq!(logged(&served, i).await.len(), i);
    }
    assert_eq!(served_by, ["capped", "capped", "capped", "spare"]);
    let reached = events(&served, "budget_reached", 1).await;
    assert_eq!(reached.len(), 1, "{reached:?}");
    let usage = admin_get(&served, "/api/usage?by=model").await;
    let row = &usage["rows"][0];
    assert_eq!(row["requests"], 4, "{usage}");
    assert_eq!(row["prompt_tokens"], 44, "{usage}");
    assert_eq!(row["completion_tokens"], 12, "{usage}");
    served.stop();
}

/// The texts of an SVG document (titles, legend, axis labels); panics unless it is valid XML.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("valid SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "text")
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn charts_of_real_traffic_render_in_the_api_and_the_cli() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-charts-000000000000001";
    fake.set(secret, Behaviour::Ok);
    let served = setup(&fake, &[prio("charted", secret, 0)]).await;
    for stream in [false, true, false] {
        let _ = post(&served, "/v1/chat/completions", &chat(stream))
            .await
            .bytes()
            .await;
    }
    assert_eq!(logged(&served, 3).await.len(), 3);
    let client = reqwest::Client::new();
    let get = |path: String| {
        client
            .get(format!("{}{path}", served.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let response = get("/api/charts/requests.svg?by=model&theme=dark".into())
        .await
        .expect("chart");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "image/svg+xml");
    let svg = response.text().await.expect("svg");
    let texts = svg_texts(&svg);
    assert!(
        texts.iter().any(|t| t == "Requests per hour by model"),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t == "gpt-4o-mini"),
        "legend: {texts:?}"
    );
    assert!(texts.iter().any(|t| t == "requests"), "y unit: {texts:?}");
    for name in ["tokens", "cost", "latency", "ttfb", "success"] {
        let response = get(format!("/api/charts/{name}.svg?range=7d"))
            .await
            .expect("chart");
        assert_eq!(response.status(), 200, "{name}");
        svg_texts(&response.text().await.expect("svg"));
    }
    let png = get("/api/charts/latency.png?width=600&height=300".into())
        .await
        .expect("png")
        .bytes()
        .await
        .expect("bytes");
    let decoder = png::Decoder::new(std::io::Cursor::new(png.to_vec()));
    let reader = decoder.read_info().expect("valid PNG");
    assert_eq!((reader.info().width, reader.info().height), (600, 300));

    let bad = get("/api/charts/requests.svg?by=day&theme=pink&range=9y".into())
        .await
        .expect("bad");
    assert_eq!(bad.status(), 422);
    let bad: Value = bad.json().await.expect("json");
    for field in ["by", "theme", "range"] {
        assert!(bad["error"]["fields"][field].is_string(), "{field}: {bad}");
    }
    let missing = get("/api/charts/pie.svg".into()).await.expect("404");
    assert_eq!(missing.status(), 404);
    let anonymous = reqwest::get(format!("{}/api/charts/requests.svg", served.base))
        .await
        .expect("401");
    assert_eq!(anonymous.status(), 401);

    // The CLI writes the same charts as files.
    let dir = tempfile::tempdir().expect("dir");
    let svg_path = dir.path().join("cost.svg");
    let png_path = dir.path().join("requests.png");
    let svg_arg = svg_path.to_string_lossy().to_string();
    let png_arg = png_path.to_string_lossy().to_string();
    served
        .env
        .ok(&["report", "--by", "provider", "--chart", &svg_arg], "");
    let texts = svg_texts(&std::fs::read_to_string(&svg_path).expect("svg file"));
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Cost per day by provider")),
        "{texts:?}"
    );
    served.env.ok(
        &[
            "report",
            "--chart",
            &png_arg,
            "--chart-of",
            "requests",
            "--dark",
        ],
        "",
    );
    let file = std::fs::File::open(&png_path).expect("png file");
    png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("valid PNG");
    let out = served.env.run(&["report", "--chart", "chart.gif"], "");
    assert_eq!(out.status.code(), Some(2));
    served.stop();
}

/// A request that failed over counts its failed attempt against the key that failed it (in the
/// report read from request rows and in the keys' rollup activity), a request refused before
/// any provider is named by its reason, and charts name keys by label with hover values.
#[tokio::test(flavor = "multi_thread")]
async fn failed_attempts_count_against_their_key_and_refusals_say_why() {
    use keygate_tests::reliability::admin;
    use reqwest::Method;

    let fake = FakeUpstream::start().await;
    let (revoked, good) = (
        "sk-fake-truth-revoked-000000001",
        "sk-fake-truth-good-00000000001",
    );
    fake.set(revoked, Behaviour::Unauthorized);
    fake.set(good, Behaviour::Ok);
    let served = setup(&fake, &[prio("revoked", revoked, 0), prio("good", good, 1)]).await;
    let answer = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(answer.status(), 200);
    let _ = answer.bytes().await;
    // The good key then rate limits (and rests); with no key left to try, the request after
    // is refused before any provider.
    fake.set(
        good,
        Behaviour::RateLimited {
            retry_after_secs: 600,
        },
    );
    for _ in 0..2 {
        let answer = post(&served, "/v1/chat/completions", &chat(false)).await;
        assert!(!answer.status().is_success(), "{}", answer.status());
        let _ = answer.bytes().await;
    }
    let rows = logged(&served, 3).await;
    let reason = rows
        .iter()
        .find(|r| r["provider"].is_null())
        .and_then(|r| r["error_class"].as_str())
        .unwrap_or_else(|| panic!("a refused row with its reason: {rows:?}"))
        .to_string();
    let (_, keys) = admin(&served, Method::GET, "/api/keys", None).await;
    let key = |label: &str| {
        keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["label"] == label)
            .cloned()
            .expect("key")
    };
    let (revoked_key, good_key) = (key("revoked"), key("good"));
    let (revoked_id, good_id) = (
        revoked_key["id"].as_str().expect("id"),
        good_key["id"].as_str().expect("id"),
    );
    // The keys' activity comes from the rollups, which count the attempts as well.
    assert_eq!(
        revoked_key["activity_7d"],
        json!({ "requests": 0, "failed": 1 })
    );
    assert_eq!(
        good_key["activity_7d"],
        json!({ "requests": 2, "failed": 1 })
    );

    // The report of the current hour is read from the request rows.
    let (_, usage) = admin(&served, Method::GET, "/api/usage?by=key", None).await;
    let row = |group: &str| {
        usage["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["group"] == group)
            .cloned()
            .unwrap_or_else(|| panic!("no {group} row: {usage}"))
    };
    let failed_over = row(revoked_id);
    assert_eq!(
        (
            &failed_over["label"],
            &failed_over["requests"],
            &failed_over["failed_attempts"]
        ),
        (&json!("revoked"), &json!(0), &json!(1)),
        "{usage}"
    );
    let served_it = row(good_id);
    assert_eq!(
        (
            &served_it["requests"],
            &served_it["errors"],
            &served_it["failed_attempts"]
        ),
        (&json!(2), &json!(1), &json!(1)),
        "{usage}"
    );
    let refusal = row(&format!("refused: {reason}"));
    assert_eq!(refusal["requests"], 1, "{usage}");
    assert!(
        !usage.to_string().contains("(none)"),
        "no group is left unnamed: {usage}"
    );

    // The chart's legend and hover values use labels; the values are the drawn ones.
    let (status, chart) = admin(
        &served,
        Method::GET,
        "/api/charts/requests.json?by=key&width=800&height=300",
        None,
    )
    .await;
    assert_eq!(status, 200, "{chart}");
    let names: Vec<&str> = chart["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"good"), "{names:?}");
    let plot = &chart["plot"];
    assert_eq!(
        plot["bucket_x"].as_array().map(Vec::len),
        chart["buckets"].as_array().map(Vec::len)
    );
    let (left, width) = (
        plot["left"].as_i64().expect("left"),
        plot["width"].as_i64().expect("width"),
    );
    assert!(left > 0 && left + width <= 800, "{plot}");
    assert!(svg_texts(chart["svg"].as_str().expect("svg")).contains(&"good".to_string()));
}

/// `proxy.cost_in_answer` (off by default) tells the client what its request cost: a header
/// on a whole answer, a last comment line on a stream, both equal to the request log's cost.
#[tokio::test(flavor = "multi_thread")]
async fn the_cost_in_the_answer_is_off_by_default_and_matches_the_log_when_on() {
    use keygate_tests::reliability::admin;
    use reqwest::Method;

    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-cost-in-answer-0000001";
    fake.set(secret, Behaviour::Ok);
    let served = setup(&fake, &[prio("priced", secret, 0)]).await;
    let price = json!({ "provider": "fake", "model": "gpt-4o-mini", "input_usd": "1.50",
                        "output_usd": "6", "from": "2020-01-01" });
    let (status, body) = admin(&served, Method::PUT, "/api/models/price", Some(&price)).await;
    assert_eq!(status, 200, "{body}");
    let plain = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(plain.status(), 200);
    assert_eq!(
        header(&plain, "x-keygate-cost-micros"),
        "",
        "off by default"
    );
    let _ = plain.bytes().await;

    let on = json!({ "value": 1 });
    let (status, body) = admin(
        &served,
        Method::PUT,
        "/api/settings/proxy.cost_in_answer",
        Some(&on),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let plain = post(&served, "/v1/chat/completions", &chat(false)).await;
    let told: u64 = header(&plain, "x-keygate-cost-micros")
        .parse()
        .expect("a cost header once the setting is on");
    let id = header(&plain, "x-keygate-request-id").to_string();
    let _ = plain.bytes().await;
    let streamed = post(&served, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(
        header(&streamed, "x-keygate-cost-micros"),
        "",
        "a stream's headers come first"
    );
    let stream_id = header(&streamed, "x-keygate-request-id").to_string();
    let text = streamed.text().await.expect("stream");
    let last = text.trim_end().lines().last().unwrap_or_default();
    let streamed_cost: u64 = last
        .strip_prefix(": x-keygate-cost-micros ")
        .unwrap_or_else(|| panic!("the stream's last line is its cost: {text}"))
        .parse()
        .expect("micro-dollars");
    assert!(text.contains("data: [DONE]"), "{text}");

    let rows = logged(&served, 3).await;
    let cost_of = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .and_then(|r| r["cost_micros"].as_u64())
            .unwrap_or_else(|| panic!("no priced row {id}: {rows:?}"))
    };
    assert!(told > 0);
    assert_eq!(told, cost_of(&id));
    assert_eq!(streamed_cost, cost_of(&stream_id));
}

/// An access token is a tool or a person: its own budgets refuse it (in the schema of the
/// endpoint it calls, naming the budget) while every other token goes on being served.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_over_its_daily_budget_is_refused_in_its_protocols_schema_and_others_are_not() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-token-budget-0000000001";
    fake.set(secret, Behaviour::Ok);
    let served = setup(&fake, &[prio("only", secret, 0)]).await;
    let client = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{}{path}", served.base))
            .bearer_auth(ADMIN_TOKEN)
    };

    let bad = admin(reqwest::Method::POST, "/api/tokens")
        .json(&json!({ "name": "script", "daily_budget_usd": "-1", "daily_tokens": 9.5 }))
        .send()
        .await
        .expect("post");
    assert_eq!(
        bad.status(),
        422,
        "a fractional token count is not a budget"
    );
    let bad = admin(reqwest::Method::POST, "/api/tokens")
        .json(&json!({ "name": "script", "daily_budget_usd": "-1" }))
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 422);
    let bad: Value = bad.json().await.expect("json");
    assert!(
        bad["error"]["fields"]["daily_budget_usd"].is_string(),
        "{bad}"
    );

    // Each fake answer uses 14 tokens: the second request passes 20.
    let created = admin(reqwest::Method::POST, "/api/tokens")
        .json(&json!({ "name": "script", "daily_tokens": 20, "monthly_budget_usd": "50" }))
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["limits"]["daily_tokens"], 20);
    assert_eq!(created["limits"]["monthly_budget_usd"], "50.00");
    let capped = created["token"].as_str().expect("token").to_string();

    let as_capped = |path: &str, body: &Value| {
        client
            .post(format!("{}{path}", served.base))
            .bearer_auth(&capped)
            .json(body)
            .send()
    };
    for i in 1..=2 {
        let response = as_capped("/v1/chat/completions", &chat(i == 2))
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await;
        assert_eq!(logged(&served, i).await.len(), i);
    }
    let reached = events(&served, "budget_reached", 1).await;
    assert_eq!(reached.len(), 1, "{reached:?}");
    let message = reached[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"script\"") && message.contains("daily token budget"),
        "{message}"
    );

    // OpenAI's schema on the chat endpoint, with the budget named and a Retry-After.
    let refused = as_capped("/v1/chat/completions", &chat(false))
        .await
        .expect("request");
    assert_eq!(refused.status(), 429);
    let retry: u64 = header(&refused, "retry-after")
        .parse()
        .expect("retry-after");
    assert!((1..=86_400).contains(&retry), "{retry}");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "token_budget_exceeded", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("daily token budget") && message.contains("keygate token budget script"),
        "{message}"
    );

    // Anthropic's on the Messages endpoint, Google's on Gemini's.
    let refused = client
        .post(format!("{}/v1/messages", served.base))
        .header("x-api-key", &capped)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({ "model": "gpt-4o-mini", "max_tokens": 8,
            "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("daily token budget")),
        "{body}"
    );
    let refused = client
        .post(format!(
            "{}/v1beta/models/gemini-2.0-flash:generateContent",
            served.base
        ))
        .header("x-goog-api-key", &capped)
        .json(&json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }] }))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("daily token budget")),
        "{body}"
    );

    // Other tokens are served as before; the refusals wrote no rows.
    let other = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(other.status(), 200);
    let _ = other.bytes().await;
    assert_eq!(logged(&served, 3).await.len(), 3);

    // The token list shows where the budgets stand; the CLI too.
    let tokens = admin(reqwest::Method::GET, "/api/tokens")
        .send()
        .await
        .expect("get")
        .json::<Value>()
        .await
        .expect("json");
    let script = tokens["tokens"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "script"))
        .cloned()
        .expect("script token");
    assert_eq!(script["limits"]["daily_tokens"], 20, "{script}");
    let daily = script["budgets"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["kind"] == "daily_tokens"))
        .cloned()
        .expect("daily status");
    assert_eq!(daily["used"], 28, "{script}");
    assert_eq!(daily["percent"], 140);
    assert!(script.get("hash").is_none(), "{script}");
    let listed = served.cli_ok(&["token", "list"]);
    assert!(
        listed.contains("20 tok/day") && listed.contains("$50.00/mo"),
        "{listed}"
    );

    // A wrong budget is refused and changes nothing; raising it lets the token back in.
    let bad = admin(reqwest::Method::PUT, "/api/tokens/script/budgets")
        .json(&json!({ "daily_tokens": 1000, "daily_budget_usd": "five" }))
        .send()
        .await
        .expect("put");
    assert_eq!(bad.status(), 422);
    let missing = admin(reqwest::Method::PUT, "/api/tokens/nobody/budgets")
        .json(&json!({ "daily_tokens": 1000 }))
        .send()
        .await
        .expect("put");
    assert_eq!(missing.status(), 404);
    let raised = admin(reqwest::Method::PUT, "/api/tokens/script/budgets")
        .json(&json!({ "daily_tokens": 1000 }))
        .send()
        .await
        .expect("put");
    assert_eq!(raised.status(), 200);
    let raised: Value = raised.json().await.expect("json");
    assert_eq!(raised["limits"]["daily_tokens"], 1000, "{raised}");
    assert_eq!(
        raised["limits"]["monthly_budget_usd"],
        Value::Null,
        "a PUT replaces all budgets"
    );
    let back = as_capped("/v1/chat/completions", &chat(false))
        .await
        .expect("request");
    assert_eq!(back.status(), 200, "the raise is in force at once");
    let _ = back.bytes().await;
    let shown = served.cli_ok(&["token", "budget", "script", "--daily-budget", "2.5"]);
    assert!(
        shown.contains("daily $2.50") && shown.contains("daily tokens 1000"),
        "{shown}"
    );
    let bad = served.cli(&["token", "budget", "script", "--daily-tokens", "lots"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--daily-tokens"),
        "{bad:?}"
    );
    served.stop();
}
