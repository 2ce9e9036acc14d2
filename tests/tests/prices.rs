//! Prices for every model through the real engine: a models.dev-style catalog imported from a
//! file or a URL applies from its effective date as newer built-ins while the user's own
//! prices still win, bad catalogs change nothing, an OpenRouter-style model list with prices
//! fills the catalog at sync, and a model served without a price is told once.

use std::time::Duration;

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{admin_get, chat, events, logged, post, prio, setup_kind};
use keygate_tests::served::Served;
use serde_json::{Value, json};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/models-dev-api.json");

/// Sends one chat request and answers the cost the request log holds for it.
async fn cost_of_next(served: &Served, model: &str, seen: &mut usize) -> Value {
    let mut body = chat(false);
    body["model"] = json!(model);
    let response = post(served, "/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let _ = response.bytes().await;
    *seen += 1;
    logged(served, *seen).await[0]["cost_micros"].clone()
}

/// Serves `body` at `http://127.0.0.1:PORT/api.json` (anything else: 404).
async fn serve_file(body: String) -> String {
    let app = axum::Router::new().route(
        "/api.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_price_catalog_applies_from_its_date_and_the_users_own_prices_still_win() {
    if keygate_tests::skip_on_postgres(
        "a_price_catalog_applies_from_its_date_and_the_users_own_prices_still_win",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-prices-catalog-0000001";
    fake.set(secret, Behaviour::Ok);
    let served = setup_kind(
        "openai",
        "openai",
        &fake.base_url(),
        &[prio("k", secret, 0)],
    )
    .await;
    let mut seen = 0;
    // Each fake answer is 11 prompt tokens (2 of them cached) and 3 completion tokens. Built
    // in, gpt-4o-mini costs $0.15 / $0.60 ($0.075 cached) per 1M: 3.3 micro-dollars.
    assert_eq!(cost_of_next(&served, "gpt-4o-mini", &mut seen).await, 3);
    let before = admin_get(&served, "/api/models").await;
    assert!(
        before["prices"]["last_import"].is_null(),
        "{}",
        before["prices"]
    );
    assert_eq!(before["prices"]["builtin_as_of"], "2025-10-01");

    // Bad catalogs are refused and change nothing.
    let dir = tempfile::tempdir().expect("dir");
    let not_json = dir.path().join("broken.json");
    std::fs::write(&not_json, "{ not json").expect("write");
    let out = served.cli(&[
        "model",
        "prices",
        "refresh",
        "--from",
        &not_json.to_string_lossy(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not JSON"),
        "{out:?}"
    );
    let empty = dir.path().join("empty.json");
    std::fs::write(
        &empty,
        r#"{"openai": {"models": {"x": {"name": "no cost"}}}}"#,
    )
    .expect("write");
    let out = served.cli(&[
        "model",
        "prices",
        "refresh",
        "--from",
        &empty.to_string_lossy(),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no model with a cost"),
        "{out:?}"
    );
    let missing = served.cli(&[
        "model",
        "prices",
        "refresh",
        "--from",
        "/nonexistent/api.json",
    ]);
    assert!(!missing.status.success());
    let bad_date = served.cli(&[
        "model",
        "prices",
        "refresh",
        "--from",
        FIXTURE,
        "--effective",
        "someday",
    ]);
    assert!(
        String::from_utf8_lossy(&bad_date.stderr).contains("--effective"),
        "{bad_date:?}"
    );
    assert!(admin_get(&served, "/api/models").await["prices"]["last_import"].is_null());

    // A catalog in effect from a later date: nothing changes yet.
    let later = served.cli_ok(&[
        "model",
        "prices",
        "refresh",
        "--from",
        FIXTURE,
        "--effective",
        "2099-01-01",
    ]);
    assert!(
        later.contains("Imported 3 prices for 3 providers"),
        "{later}"
    );
    assert_eq!(
        cost_of_next(&served, "gpt-4o-mini", &mut seen).await,
        3,
        "not before its date"
    );

    // In effect now: $1 in, $2 out, $0.50 cached per 1M; of the 11 prompt tokens 2 are
    // cached: 9 + 1 + 6 = 16 micro-dollars.
    let now = served.cli_ok(&["model", "prices", "refresh", "--from", FIXTURE]);
    assert!(now.contains("models-dev-api.json"), "{now}");
    assert_eq!(cost_of_next(&served, "gpt-4o-mini", &mut seen).await, 16);
    let models = admin_get(&served, "/api/models?provider=openai").await;
    assert_eq!(
        models["prices"]["last_import"]["source"], "models-dev-api.json",
        "{}",
        models["prices"]
    );
    assert_eq!(models["prices"]["last_import"]["models"], 3);
    let mini = models["models"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["model"] == "gpt-4o-mini"))
        .cloned()
        .expect("gpt-4o-mini listed");
    assert_eq!(mini["input_usd"], "1.000000", "{mini}");
    assert!(
        mini["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("models-dev-api.json, from")),
        "{mini}"
    );
    let listed = served.cli_ok(&["model", "list", "--provider", "gemini"]);
    assert!(
        listed.contains("last import") && listed.contains("models-dev-api.json (3 models)"),
        "{listed}"
    );
    assert!(listed.contains("gemini-2.5-pro"), "{listed}");

    // The user's own price wins over the catalog: 14 × $5 per 1M = 70.
    served.cli_ok(&[
        "model",
        "price",
        "gpt-4o-mini",
        "--provider",
        "openai",
        "--input",
        "5",
        "--output",
        "5",
    ]);
    assert_eq!(cost_of_next(&served, "gpt-4o-mini", &mut seen).await, 70);

    // From a URL too; a URL that is not there changes nothing.
    let mut catalog: Value =
        serde_json::from_str(&std::fs::read_to_string(FIXTURE).expect("fixture")).expect("json");
    catalog["openai"]["models"]["gpt-4o"] = json!({ "cost": { "input": 2.0, "output": 8.0 } });
    let base = serve_file(catalog.to_string()).await;
    let gone = served.cli(&[
        "model",
        "prices",
        "refresh",
        "--from",
        &format!("{base}/nothing.json"),
    ]);
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("HTTP 404"),
        "{gone:?}"
    );
    let url = format!("{base}/api.json");
    let fetched = served.cli_ok(&["--json", "model", "prices", "refresh", "--from", &url]);
    let fetched: Value = serde_json::from_str(&fetched).expect("json");
    assert_eq!(fetched["models"], 4, "{fetched}");
    let models = admin_get(&served, "/api/models").await;
    assert_eq!(models["prices"]["last_import"]["source"], url.as_str());
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_openrouter_model_list_with_prices_fills_the_catalog() {
    if keygate_tests::skip_on_postgres(
        "an_openrouter_model_list_with_prices_fills_the_catalog",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    fake.list_prices();
    let secret = "sk-fake-prices-openrouter-0001";
    fake.set(secret, Behaviour::Ok);
    let served = setup_kind(
        "openrouter",
        "openai",
        &fake.base_url(),
        &[prio("or", secret, 0)],
    )
    .await;
    let mut seen = 0;
    assert!(
        cost_of_next(&served, "fake-model-a", &mut seen)
            .await
            .is_null(),
        "no price before the sync"
    );

    let synced = served.cli_ok(&["--json", "model", "sync", "--provider", "openrouter"]);
    let synced: Value = serde_json::from_str(&synced).expect("json");
    assert_eq!(synced["unpriced"], json!([]), "{synced}");
    let models = admin_get(&served, "/api/models?provider=openrouter").await;
    let a = models["models"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["model"] == "fake-model-a"))
        .cloned()
        .expect("listed");
    assert_eq!(
        (a["input_usd"].as_str(), a["output_usd"].as_str()),
        (Some("1.000000"), Some("2.000000")),
        "{a}"
    );
    assert!(
        a["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("openrouter model list")),
        "{a}"
    );
    assert_eq!(
        models["prices"]["last_import"]["source"],
        "openrouter model list"
    );
    // $1 / $2 per 1M: 11 + 6 = 17 micro-dollars, from the next request on.
    assert_eq!(cost_of_next(&served, "fake-model-a", &mut seen).await, 17);
    assert_eq!(
        cost_of_next(&served, "fake-model-b", &mut seen).await,
        0,
        "free is priced at 0"
    );
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_served_without_a_price_is_told_once() {
    if keygate_tests::skip_on_postgres(
        "a_model_served_without_a_price_is_told_once",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-prices-unpriced-000001";
    fake.set(secret, Behaviour::Ok);
    let served = setup_kind(
        "mylab",
        "openai",
        &fake.base_url(),
        &[prio("lab", secret, 0)],
    )
    .await;
    let mut seen = 0;
    for _ in 0..3 {
        assert!(
            cost_of_next(&served, "lab-model-7b", &mut seen)
                .await
                .is_null()
        );
    }
    let told = events(&served, "model_unpriced", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let told_after: Vec<Value> = admin_get(&served, "/api/events/recent").await["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["kind"] == "model_unpriced")
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told_after.len(), 1, "once, not per request: {told_after:?}");
    let message = told[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"lab-model-7b\"")
            && message.contains("keygate model price lab-model-7b --provider mylab"),
        "{message}"
    );
    assert_eq!(told[0]["provider"], "mylab");

    // The Usage page's banner lists it, with what it served.
    let unpriced = admin_get(&served, "/api/models/unpriced").await;
    assert_eq!(
        unpriced["models"],
        json!([{ "provider": "mylab", "model": "lab-model-7b", "requests": 3, "tokens": 42 }]),
        "{unpriced}"
    );
    let bad = admin_get(&served, "/api/models/unpriced?from=someday").await;
    assert!(bad["error"]["fields"]["from"].is_string(), "{bad}");

    // Once priced, its usage has a cost, and the banner has nothing to say.
    let price = [
        "model",
        "price",
        "lab-model-7b",
        "--provider",
        "mylab",
        "--input",
        "1",
        "--output",
        "1",
    ];
    served.cli_ok(&price);
    assert_eq!(cost_of_next(&served, "lab-model-7b", &mut seen).await, 14);
    let unpriced = admin_get(&served, "/api/models/unpriced").await;
    assert_eq!(unpriced["models"], json!([]), "{unpriced}");
    served.stop();
}
