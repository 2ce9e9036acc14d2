//! The model catalog through the real engine and CLI: `keygate model sync` pulls a provider's
//! model list through a key and flags models without a price; prices set through the API apply.

use keygate_tests::fake_upstream::{Behaviour, FAKE_MODELS, FakeUpstream};
use keygate_tests::proxy_client::{prio, setup};
use keygate_tests::served::{ADMIN_TOKEN, Served};
use serde_json::{Value, json};

async fn admin(
    served: &Served,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    keygate_tests::reliability::admin(served, method, path, body.as_ref()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn model_sync_lists_a_providers_models_and_flags_the_unpriced() {
    if keygate_tests::skip_on_postgres(
        "model_sync_lists_a_providers_models_and_flags_the_unpriced",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    let (revoked, good) = (
        "sk-fake-sync-revoked-00000001",
        "sk-fake-sync-good-0000000001",
    );
    fake.set(revoked, Behaviour::Unauthorized);
    fake.set(good, Behaviour::Ok);
    let served = setup(&fake, &[prio("revoked", revoked, 0), prio("good", good, 1)]).await;

    // The CLI asks the running engine (admin token from the environment); the engine tries
    // the keys in order: the revoked one fails, the next one lists the models.
    let run = |args: &[&str]| {
        served
            .env
            .keygate()
            .args(args)
            .env("KEYGATE_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .expect("run")
    };
    let synced = run(&["model", "sync", "--provider", "fake"]);
    let out = String::from_utf8_lossy(&synced.stdout).to_string();
    assert!(
        synced.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&synced.stderr)
    );
    assert!(
        out.contains("2 models listed (through key \"good\")"),
        "{out}"
    );
    for model in FAKE_MODELS {
        assert!(out.contains(&format!("no price: {model}")), "{out}");
    }
    let bad = served
        .env
        .run(&["model", "sync", "--provider", "nowhere"], "");
    assert_ne!(bad.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nowhere"));

    // A price set through the API applies to the synced model; bad fields are named.
    let (status, body) = admin(
        &served,
        reqwest::Method::PUT,
        "/api/models/price",
        Some(json!({ "provider": "fake", "model": "fake-model-a", "input_usd": "cheap", "output_usd": "2", "from": "someday" })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["fields"]["input_usd"].is_string(), "{body}");
    assert!(body["error"]["fields"]["from"].is_string(), "{body}");
    let (status, body) = admin(
        &served,
        reqwest::Method::PUT,
        "/api/models/price",
        Some(json!({ "provider": "fake", "model": "fake-model-a", "input_usd": "1.5", "output_usd": "2" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["price"]["input_micros"], 1_500_000);

    let (status, body) = admin(
        &served,
        reqwest::Method::GET,
        "/api/models?provider=fake",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let models = body["models"].as_array().cloned().unwrap_or_default();
    let find = |name: &str| {
        models
            .iter()
            .find(|m| m["model"] == name)
            .cloned()
            .expect(name)
    };
    let a = find("fake-model-a");
    assert_eq!(
        (a["priced"].clone(), a["synced"].clone()),
        (json!(true), json!(true)),
        "{a}"
    );
    assert_eq!(a["input_usd"], "1.500000");
    let b = find("fake-model-b");
    assert_eq!(
        (b["priced"].clone(), b["source"].clone()),
        (json!(false), json!("no price")),
        "{b}"
    );
    let (_, all) = admin(&served, reqwest::Method::GET, "/api/models", None).await;
    let gpt = all["models"]
        .as_array()
        .and_then(|m| {
            m.iter()
                .find(|m| m["provider"] == "openai" && m["model"] == "gpt-4o")
                .cloned()
        })
        .expect("built-in gpt-4o");
    assert_eq!(gpt["context_window"], 128_000);
    assert_eq!(gpt["vision"], true);

    // The engine syncs too, through its live keys.
    let (status, body) = admin(
        &served,
        reqwest::Method::POST,
        "/api/models/sync",
        Some(json!({ "provider": "fake" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["unpriced"], json!(["fake-model-b"]));
    let (status, _) = admin(
        &served,
        reqwest::Method::POST,
        "/api/models/sync",
        Some(json!({ "provider": "nowhere" })),
    )
    .await;
    assert_eq!(status, 404);
    let log = served.stop();
    for secret in [revoked, good] {
        assert!(!out.contains(secret) && !log.contains(secret));
    }
}

/// `keygate model list | head`: a reader that closes the pipe early is not an error of the
/// command (it panicked on EPIPE before).
#[test]
fn a_listing_into_a_closed_pipe_ends_quietly() {
    let env = keygate_tests::TestEnv::new();
    let mut child = env
        .keygate()
        .args(["model", "list"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn keygate");
    // Closed before the command writes its first line: its first write meets EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}
