//! Model scopes of access tokens hold on the model that is really served (issue 22): the
//! Azure deployment and the Gemini model in a `/p/` path, a route alias's tiers, and `/p/`
//! requests that name no model at all. Globs match `model` and `provider/model`.

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::served::{Served, key};
use keygate_tests::{TestEnv, session_available};
use serde_json::{Value, json};

fn token(env: &TestEnv, name: &str, models: &str) -> String {
    let out = env.ok(&["--json", "token", "create", name, "--models", models], "");
    serde_json::from_str::<Value>(&out).expect("token json")["token"]
        .as_str()
        .expect("token")
        .to_string()
}

async fn call(
    served: &Served,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", served.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_model_scoped_token_is_held_to_the_model_really_served() {
    if !session_available("a_model_scoped_token_is_held_to_the_model_really_served") {
        return;
    }
    let fake = FakeUpstream::start().await;
    for secret in [
        "sk-fake-scope-1",
        "azure-key-scope-1",
        "AIza-gemini-scope-1",
    ] {
        fake.set(secret, Behaviour::Ok);
    }
    let root = fake.base_url().trim_end_matches("/v1").to_string();
    let env = TestEnv::new();
    let mut secrets = Served::provider(
        &env,
        "fake",
        &fake.base_url(),
        0,
        &[key("f1", "sk-fake-scope-1")],
    );
    secrets.extend(Served::provider_of_kind(
        &env,
        "az",
        "azure",
        &root,
        0,
        &[key("a1", "azure-key-scope-1")],
    ));
    secrets.extend(Served::provider_of_kind(
        &env,
        "gem",
        "gemini",
        &format!("{root}/v1beta"),
        0,
        &[key("g1", "AIza-gemini-scope-1")],
    ));
    env.ok(
        &["route", "add", "gpt-4o-mini-fast", "--to", "fake:gpt-4o"],
        "",
    );
    env.ok(&["route", "add", "cheap", "--to", "fake:gpt-4o-mini"], "");
    let mini = token(&env, "mini-only", "gpt-4o-mini*");
    let on_fake = token(&env, "fake-only", "fake/*");
    let served = Served::start(env, secrets);
    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let gemini = json!({"contents": [{"parts": [{"text": "hi"}]}], "model": "gpt-4o-mini"});
    use reqwest::Method;

    // What the issue saw served, each with an allowed model in the body.
    for (method, path, body) in [
        (
            Method::POST,
            "/p/az/openai/deployments/gpt-4o/chat/completions",
            Some(chat("gpt-4o-mini")),
        ),
        (
            Method::POST,
            "/p/gem/models/gemini-2.5-pro:generateContent",
            Some(gemini.clone()),
        ),
        (
            Method::GET,
            "/p/fake/files",
            Some(json!({"model": "gpt-4o-mini"})),
        ),
        (
            Method::DELETE,
            "/p/fake/models/ft:gpt-4o:org::abc",
            Some(json!({"model": "gpt-4o-mini"})),
        ),
        (Method::GET, "/p/fake/models", None),
        (
            Method::POST,
            "/v1/chat/completions",
            Some(chat("gpt-4o-mini-fast")),
        ),
        (Method::POST, "/v1/chat/completions", Some(chat("gpt-4o"))),
    ] {
        let (status, body) = call(&served, &mini, method.clone(), path, body).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(body.contains("model_not_allowed"), "{body}");
        assert!(
            body.contains("gpt-4o-mini*"),
            "the 403 names the scope: {body}"
        );
    }
    let refused = fake.received().len();

    // What the scope allows, however it is named.
    for (path, body) in [
        ("/v1/chat/completions", chat("fake/gpt-4o-mini")),
        ("/v1/chat/completions", chat("cheap")),
        ("/p/fake/chat/completions", chat("gpt-4o-mini")),
        (
            "/p/az/openai/deployments/gpt-4o-mini/chat/completions",
            chat("gpt-4o-mini"),
        ),
    ] {
        let (status, text) = call(&served, &mini, Method::POST, path, Some(body)).await;
        assert_eq!(status, 200, "{path}: {text}");
    }
    // A provider-qualified glob: any model of that provider, none of another.
    let (status, text) = call(
        &served,
        &on_fake,
        Method::POST,
        "/v1/chat/completions",
        Some(chat("fake/gpt-4o")),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = call(
        &served,
        &on_fake,
        Method::POST,
        "/p/az/openai/deployments/gpt-4o/chat/completions",
        Some(chat("gpt-4o")),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(
        refused == 0,
        "refused requests must not reach the upstream ({refused} did)"
    );
    served.stop();
}
