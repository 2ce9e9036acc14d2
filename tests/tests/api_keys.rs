//! Adding keys through the admin API of a real engine with the real keyring: one key with its
//! secret sent once (never echoed, never on disk), field-level errors, and CSV/TOML imports
//! that preview, refuse a file with one bad row as a whole, and import a good one.

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{chat, header, post, prio, setup};
use keygate_tests::served::{ADMIN_TOKEN, Served};
use serde_json::{Value, json};

async fn admin_post(served: &Served, path: &str, body: &Value) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", served.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .expect("admin request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("text");
    let answer = serde_json::from_str(&text).unwrap_or(Value::Null);
    keygate_tests::contract::check_answer("POST", path, status, &answer);
    (status, text)
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_added_and_imported_through_the_api_go_to_the_keyring_only() {
    if keygate_tests::skip_on_postgres(
        "keys_added_and_imported_through_the_api_go_to_the_keyring_only",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    let first = "sk-fake-api-first-00000000001";
    fake.set(first, Behaviour::Unauthorized);
    let served = setup(&fake, &[prio("first", first, 0)]).await;
    let added = "sk-fake-api-added-SECRET-0001";
    fake.set(added, Behaviour::Ok);

    let (status, text) = admin_post(
        &served,
        "/api/keys",
        &json!({ "provider": "nowhere", "secret": "has space", "weight": 0, "tags": ["bad tag!"], "expires": "soon" }),
    )
    .await;
    assert_eq!(status, 422, "{text}");
    let body: Value = serde_json::from_str(&text).expect("json");
    for field in ["provider", "secret", "weight", "tags", "expires"] {
        assert!(
            body["error"]["fields"][field].is_string(),
            "{field}: {body}"
        );
    }
    assert!(!text.contains("has space"), "the secret is never echoed");
    let (status, text) = admin_post(
        &served,
        "/api/keys",
        &json!({ "provider": "fake", "secret": added, "extra": 1 }),
    )
    .await;
    assert_eq!(status, 422);
    assert!(!text.contains(added), "{text}");

    let (status, text) = admin_post(
        &served,
        "/api/keys",
        &json!({ "provider": "fake", "secret": added, "label": "from-ui", "tags": ["web"], "priority": 1 }),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    assert!(
        !text.contains(added),
        "only the fingerprint comes back: {text}"
    );
    let view: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(view["label"], "from-ui");
    assert_eq!(view["secret_ref"], "keyring");
    assert!(
        view["fingerprint"]
            .as_str()
            .is_some_and(|f| f.contains("0001"))
    );
    // The engine picks the new key up and fails over to it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        if response.status() == 200 {
            assert_eq!(header(&response, "x-keygate-key"), "from-ui");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the added key was never used"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // An import with one bad row imports nothing and names every bad line.
    let csv = "provider,label,secret,tags\nfake,good-1,sk-fake-import-000000000001,a\nnowhere,bad,sk-fake-import-000000000002,\nfake,dup,sk-fake-import-000000000001,\n";
    let (status, text) = admin_post(
        &served,
        "/api/keys/import",
        &json!({ "format": "csv", "text": csv }),
    )
    .await;
    assert_eq!(status, 422, "{text}");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert!(body["error"]["fields"]["line 3"].is_string(), "{body}");
    assert!(
        body["error"]["fields"]["line 4"]
            .as_str()
            .is_some_and(|m| m.contains("line 2")),
        "{body}"
    );
    assert!(!text.contains("sk-fake-import"), "{text}");
    let listed = served.env.ok(&["--json", "key", "list"], "");
    assert!(!listed.contains("good-1"), "nothing imported");

    let toml = "[[key]]\nprovider = \"fake\"\nlabel = \"toml-1\"\nsecret = \"sk-fake-import-000000000003\"\n[[key]]\nprovider = \"fake\"\nlabel = \"toml-2\"\nsecret = \"${HOME}\"\n";
    let (status, text) = admin_post(
        &served,
        "/api/keys/import",
        &json!({ "format": "toml", "text": toml, "dry_run": true }),
    )
    .await;
    assert_eq!(
        status, 422,
        "no environment expansion through the API: {text}"
    );
    let good = "[[key]]\nprovider = \"fake\"\nlabel = \"toml-1\"\nsecret = \"sk-fake-import-000000000003\"\n";
    let (status, text) = admin_post(
        &served,
        "/api/keys/import",
        &json!({ "format": "toml", "text": good, "dry_run": true }),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let preview: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(preview["keys"][0]["label"], "toml-1");
    assert!(
        !served
            .env
            .ok(&["--json", "key", "list"], "")
            .contains("toml-1"),
        "a preview imports nothing"
    );
    let (status, text) = admin_post(
        &served,
        "/api/keys/import",
        &json!({ "format": "toml", "text": good }),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(
        served
            .env
            .ok(&["--json", "key", "list"], "")
            .contains("toml-1")
    );

    let (log, env) = served.stop_keeping_home();
    for secret in [added, "sk-fake-import-000000000003"] {
        assert!(!log.contains(secret));
        assert!(
            env.files_containing(secret).is_empty(),
            "{secret} reached a file"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_proxy_answers_503_and_the_admin_api_keeps_working() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-paused-000000000001";
    fake.set(secret, Behaviour::Ok);
    let served = setup(&fake, &[prio("paused", secret, 0)]).await;
    let client = reqwest::Client::new();
    let set = |paused: bool| {
        client
            .put(format!("{}/api/proxy/state", served.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "paused": paused }))
            .send()
    };
    assert_eq!(set(true).await.expect("pause").status(), 200);
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "proxy_paused");
    // An Anthropic client gets the same refusal in its own schema.
    let messages = json!({ "model": "gpt-4o-mini", "max_tokens": 8,
        "messages": [{ "role": "user", "content": "hi" }] });
    let response = post(&served, "/v1/messages", &messages).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["type"], "error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("paused")),
        "{body}"
    );
    assert!(fake.keys_tried().is_empty(), "nothing went upstream");
    let health: Value = client
        .get(format!("{}/api/health", served.base))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["service"], "keygate");
    assert_eq!(set(false).await.expect("resume").status(), 200);
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    // Pausing and resuming are announced; the token's last use is recorded by the writer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let get = |path: &'static str| {
            client
                .get(format!("{}{path}", served.base))
                .bearer_auth(ADMIN_TOKEN)
                .send()
        };
        let events: Value = get("/api/events/recent")
            .await
            .expect("events")
            .json()
            .await
            .expect("json");
        let tokens: Value = get("/api/tokens")
            .await
            .expect("tokens")
            .json()
            .await
            .expect("json");
        let kinds: Vec<&str> = events["events"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["kind"].as_str()).collect())
            .unwrap_or_default();
        let used = tokens["tokens"][0]["last_used_at"].is_string();
        if (kinds.contains(&"proxy_paused") && kinds.contains(&"proxy_resumed") && used)
            || std::time::Instant::now() > deadline
        {
            assert!(
                kinds.contains(&"proxy_paused") && kinds.contains(&"proxy_resumed"),
                "{kinds:?}"
            );
            assert!(used, "{tokens}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_routes_settings_and_test_before_save_work_through_the_api() {
    let fake = FakeUpstream::start().await;
    let (saved, unsaved) = (
        "sk-fake-config-saved-00000001",
        "sk-fake-config-unsaved-000001",
    );
    fake.set(saved, Behaviour::Ok);
    fake.set(unsaved, Behaviour::Unauthorized);
    let served = setup(&fake, &[prio("saved", saved, 0)]).await;
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{}{path}", served.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    // Test before save: the refused key is reported, nothing is stored, the secret never shows.
    let (status, report) = call(
        reqwest::Method::POST,
        "/api/keys/check",
        Some(json!({ "provider": "fake", "secret": unsaved })),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["class"], "auth");
    assert!(!report.to_string().contains(unsaved));
    let (_, keys) = call(reqwest::Method::GET, "/api/keys", None).await;
    assert_eq!(
        keys["keys"].as_array().map(Vec::len),
        Some(1),
        "nothing saved"
    );

    // A token is shown once, works through the proxy, and is refused once revoked.
    let (status, created) = call(
        reqwest::Method::POST,
        "/api/tokens",
        Some(json!({ "name": "from-ui", "models": ["gpt-*"] })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("token").to_string();
    let (_, listed) = call(reqwest::Method::GET, "/api/tokens", None).await;
    assert!(
        !listed.to_string().contains(&token),
        "only a hint is listed: {listed}"
    );
    let use_token = || {
        client
            .post(format!("{}/v1/chat/completions", served.base))
            .bearer_auth(&token)
            .json(&chat(false))
            .send()
    };
    assert_eq!(use_token().await.expect("proxy").status(), 200);
    let (status, bad) = call(
        reqwest::Method::POST,
        "/api/tokens",
        Some(json!({ "name": "", "expires": "2001-01-01" })),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        bad["error"]["fields"]["name"].is_string() && bad["error"]["fields"]["expires"].is_string(),
        "{bad}"
    );
    let (status, _) = call(reqwest::Method::DELETE, "/api/tokens/from-ui", None).await;
    assert_eq!(status, 200);
    assert_eq!(use_token().await.expect("proxy").status(), 401);

    // Routes: validated, saved, listed, deleted.
    let (status, bad) = call(
        reqwest::Method::PUT,
        "/api/routes/bad%20alias",
        Some(json!({ "tiers": [], "strategy": "random-ish" })),
    )
    .await;
    assert_eq!(status, 422);
    for field in ["alias", "strategy", "tiers"] {
        assert!(bad["error"]["fields"][field].is_string(), "{field}: {bad}");
    }
    let (status, _) = call(
        reqwest::Method::PUT,
        "/api/routes/smart",
        Some(json!({ "tiers": [{ "provider": "fake", "model": "gpt-4o-mini" }], "strategy": "priority" })),
    )
    .await;
    assert_eq!(status, 200);
    let (_, routes) = call(reqwest::Method::GET, "/api/routes", None).await;
    assert_eq!(routes["routes"][0]["alias"], "smart");
    let (status, _) = call(reqwest::Method::DELETE, "/api/routes/smart", None).await;
    assert_eq!(status, 200);

    // Settings: listed with defaults, a bad value refused, a good one saved.
    let (_, settings) = call(reqwest::Method::GET, "/api/settings", None).await;
    assert!(
        settings["settings"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["name"] == "proxy.max_attempts"))
    );
    let (status, _) = call(
        reqwest::Method::PUT,
        "/api/settings/proxy.max_attempts",
        Some(json!({ "value": 99 })),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call(
        reqwest::Method::PUT,
        "/api/settings/proxy.max_attempts",
        Some(json!({ "value": 4 })),
    )
    .await;
    assert_eq!(status, 200);
    let listed = served.env.ok(&["--json", "settings", "list"], "");
    assert!(
        listed.contains("\"value\":4") || listed.contains("\"value\": 4"),
        "{listed}"
    );
    served.stop();
}

/// `PUT /api/keys/{id}` and `keygate key edit` change a key's label, tags, priority, weight and
/// enabled switch (issue 20, item 3), and the proxy follows at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_is_edited_through_the_api_and_the_cli_and_the_proxy_follows() {
    if keygate_tests::skip_on_postgres(
        "a_key_is_edited_through_the_api_and_the_cli_and_the_proxy_follows",
        "open in issue 23: a CLI change is not always in force in a PostgreSQL engine when the command returns",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    let (first, second) = ("sk-fake-edit-first-0000001", "sk-fake-edit-second-000001");
    fake.set(first, Behaviour::Ok);
    fake.set(second, Behaviour::Ok);
    let served = setup(&fake, &[prio("first", first, 0), prio("second", second, 1)]).await;
    let keys: Value =
        serde_json::from_str(&served.cli_ok(&["key", "list", "--json"])).expect("json");
    let id = |label: &str| {
        keys.as_array()
            .expect("keys")
            .iter()
            .find(|k| k["label"] == label)
            .and_then(|k| k["id"].as_str())
            .expect("id")
            .to_string()
    };
    let (first_id, second_id) = (id("first"), id("second"));
    let served_by = || async {
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(response.status(), 200);
        header(&response, "x-keygate-key").to_string()
    };
    assert_eq!(served_by().await, "first");

    let put = |id: String, body: Value| {
        let base = served.base.clone();
        async move {
            let response = reqwest::Client::new()
                .put(format!("{base}/api/keys/{id}"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
                .await
                .expect("put");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, key) = put(
        first_id.clone(),
        json!({"priority": 5, "label": " work primary ", "tags": ["team-a", "prod", " team-a"]}),
    )
    .await;
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["label"], "work primary");
    assert_eq!(key["tags"], json!(["team-a", "prod"]));
    assert_eq!(key["priority"], 5);
    assert_eq!(
        served_by().await,
        "second",
        "the lower priority now goes first"
    );

    // Bad values name their field and change nothing; an unknown key is a 404.
    let (status, error) = put(
        first_id.clone(),
        json!({"weight": 0, "tags": ["no spaces"]}),
    )
    .await;
    assert_eq!(status, 422, "{error}");
    let fields = error["error"]["fields"].to_string();
    assert!(
        fields.contains("weight") && fields.contains("tags"),
        "{error}"
    );
    let (status, _) = put(first_id.clone(), json!({"secret": "sk-new"})).await;
    assert_eq!(status, 422, "the secret is not editable");
    let (status, _) = put("k_nosuch".into(), json!({"label": "x"})).await;
    assert_eq!(status, 404);

    // The CLI: disable the second key and relabel it; the proxy goes back to the first.
    let out = served.cli_ok(&["key", "edit", &second_id, "--label", "spare", "--disable"]);
    assert!(out.contains("(spare)") && out.contains("disabled"), "{out}");
    assert_eq!(served_by().await, "work primary");
    let out = served.cli(&["key", "edit", &second_id]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "nothing to change is a usage error"
    );
    let out = served.cli(&["key", "edit", &second_id, "--weight", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--weight"),
        "{out:?}"
    );
    let keys: Value =
        serde_json::from_str(&served.cli_ok(&["key", "list", "--json"])).expect("json");
    let second = keys
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["id"] == second_id.as_str())
        .expect("second")
        .clone();
    assert_eq!(second["label"], "spare");
    assert_eq!(second["enabled"], false);
    served.stop();
}
