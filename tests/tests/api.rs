//! The engine's router, driven in-process with `oneshot` (no socket): health, the admin token,
//! the Host-header guard, the error shape, and that no secret reaches an API response.

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use keygate_core::key::KeyLimits;
use keygate_core::provider::ProviderKind;
use std::sync::Arc;

use keygate_server::proxy::{ProxySettings, ProxyState};
use keygate_server::{AppState, router};
use keygate_store::{NewKey, NewProvider, Store};
use keygate_vault::{Sensitive, Vault};
use serde_json::Value;
use tower::ServiceExt;

const PORT: u16 = 5397;
const ADMIN: &str = "admin-test-token-0123456789";

fn state() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("store");
    let provider = NewProvider {
        name: "openai".into(),
        kind: ProviderKind::OpenAi,
        base_url: "https://api.openai.com/v1".into(),
        headers: Default::default(),
        priority: 0,
    };
    let key = NewKey {
        id: "k_apitest001".into(),
        provider: "openai".into(),
        label: "api key".into(),
        fingerprint: "sk-…WXYZ #12345678".into(),
        secret_ref: "env:KG_API_TEST_UNSET".into(),
        tags: vec!["t".into()],
        priority: 0,
        weight: 1,
        limits: KeyLimits {
            daily_budget_micros: Some(2_500_000),
            ..KeyLimits::default()
        },
        expires_at: None,
    };
    store.insert_keys(&[provider], &[key]).expect("seed");
    let (health_tx, _health_rx) = tokio::sync::mpsc::unbounded_channel();
    let proxy =
        Arc::new(ProxyState::new(ProxySettings::default(), health_tx).expect("http client"));
    let admin = Sensitive::new(ADMIN.to_string());
    let vault = Vault::new("keygate-api-test-unused");
    let state = AppState::new(dir.path().to_path_buf(), store, vault, &admin, PORT, proxy);
    (dir, state)
}

async fn call(
    state: &AppState,
    path: &str,
    host: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::get(path).header("host", host);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    send(state, request.body(Body::empty()).expect("request")).await
}

#[tokio::test]
async fn health_needs_no_token() {
    let (_dir, state) = state();
    let (status, body) = call(&state, "/api/health", "127.0.0.1:5397", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_token() {
    let (_dir, state) = state();
    for token in [None, Some("wrong"), Some("admin-test-token-012345678")] {
        let (status, body) = call(&state, "/api/keys", "127.0.0.1:5397", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("keygate serve"))
        );
    }
    let (status, body) = call(&state, "/api/keys", "localhost:5397", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    let key = &body["keys"][0];
    assert_eq!(key["id"], "k_apitest001");
    assert_eq!(key["health"]["state"], "unknown");
    assert_eq!(key["limits"]["daily_budget_usd"], "2.50");
}

#[tokio::test]
async fn foreign_host_headers_are_refused_before_auth() {
    let (_dir, state) = state();
    for host in [
        "evil.example:5397",
        "127.0.0.1:9999",
        "127.0.0.1.nip.io:5397",
    ] {
        let (status, body) = call(&state, "/api/keys", host, Some(ADMIN)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{host}");
        assert_eq!(body["error"]["code"], "bad_host");
    }
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s_and_providers_list_counts_keys() {
    let (_dir, state) = state();
    let (status, body) = call(&state, "/api/nope", "127.0.0.1:5397", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = call(&state, "/api/providers", "127.0.0.1:5397", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["providers"][0]["key_count"], 1);
    let (status, body) = call(
        &state,
        "/api/keys/k_missing000",
        "127.0.0.1:5397",
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

async fn json_call(
    state: &AppState,
    method: http::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1:5397")
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    send(state, request.body(body).expect("request")).await
}

/// Providers CRUD: add a custom endpoint, refuse bad input field by field, edit it live (the
/// catalog follows at once), and delete with what it takes — refused while keys remain.
#[tokio::test]
async fn providers_are_added_edited_and_deleted_with_what_they_take() {
    use http::Method;
    use serde_json::json;
    let (_dir, state) = state();
    let (status, body) = json_call(
        &state,
        Method::POST,
        "/api/providers",
        Some(json!({"name": "Bad Name", "base_url": "ftp://x", "headers": {"Authorization": "Bearer sk-live-9"}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = &body["error"]["fields"];
    assert!(fields["name"].is_string(), "{body}");
    assert!(
        fields["headers.Authorization"]
            .as_str()
            .is_some_and(|m| m.contains("keyring")),
        "{body}"
    );
    assert!(
        !body.to_string().contains("sk-live-9"),
        "an error never repeats a secret: {body}"
    );

    let (status, body) = json_call(
        &state,
        Method::POST,
        "/api/providers",
        Some(
            json!({"name": "gateway", "kind": "openai", "base_url": "https://gw.example/v1/",
            "headers": {"HTTP-Referer": "https://me.example"}, "priority": 2}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["base_url"], "https://gw.example/v1");
    assert_eq!(body["header_names"], json!(["http-referer"]));
    assert_eq!(body["preset"], Value::Null);
    assert!(
        state.proxy().catalog().provider("gateway").is_some(),
        "the catalog has it at once"
    );

    let (status, body) = json_call(
        &state,
        Method::POST,
        "/api/providers",
        Some(json!({"name": "azure", "base_url": "https://me.openai.azure.com", "api_version": "2025-01-01-preview"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["kind"].as_str(), body["api_version"].as_str()),
        (Some("azure"), Some("2025-01-01-preview"))
    );
    assert_eq!(
        body["header_names"],
        json!([]),
        "the api-version is not an upstream header"
    );
    let (status, _) = json_call(
        &state,
        Method::POST,
        "/api/providers",
        Some(json!({"name": "azure", "base_url": "https://x.example"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    assert!(state.proxy().catalog().provider("openai").is_some());
    let (status, body) = json_call(
        &state,
        Method::PUT,
        "/api/providers/openai",
        Some(json!({"enabled": false, "priority": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["enabled"].as_bool(), body["priority"].as_i64()),
        (Some(false), Some(5))
    );
    assert_eq!(
        body["state"]["keys"]["disabled"], 0,
        "keys keep their own switch"
    );
    assert!(
        state.proxy().catalog().provider("openai").is_none(),
        "a disabled provider is out of the catalog at once"
    );
    let (status, body) = json_call(
        &state,
        Method::PUT,
        "/api/providers/openai",
        Some(json!({"base_url": "nope"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["base_url"].is_string(), "{body}");
    let (status, _) = json_call(
        &state,
        Method::PUT,
        "/api/providers/ghost",
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = json_call(&state, Method::PUT, "/api/routes/fast", Some(json!({"tiers": [{"provider": "openai", "model": "gpt-4o-mini"}, {"provider": "gateway", "model": "m"}]}))).await;
    assert!(status.is_success(), "{status} {body}");
    let (_, body) = json_call(&state, Method::GET, "/api/providers", None).await;
    let openai = body["providers"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == "openai"))
        .cloned()
        .expect("listed");
    assert_eq!(openai["routes"], json!(["fast"]));
    assert_eq!(openai["key_count"], 1);

    let (status, body) = json_call(&state, Method::DELETE, "/api/providers/openai", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1 key")),
        "{body}"
    );
    let (status, body) = json_call(
        &state,
        Method::DELETE,
        "/api/providers/openai?with_keys=true",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["keys_deleted"], json!(["k_apitest001"]));
    assert_eq!(body["routes_changed"], json!(["fast"]));
    let (_, body) = json_call(&state, Method::GET, "/api/keys", None).await;
    assert_eq!(body["keys"], json!([]));
    let (_, body) = json_call(&state, Method::GET, "/api/routes", None).await;
    assert_eq!(
        body["routes"][0]["tiers"],
        json!([{"provider": "gateway", "model": "m"}])
    );
    let (status, _) = json_call(&state, Method::POST, "/api/providers/ghost/test", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The link's token is traded for an HttpOnly, SameSite=Strict cookie that signs in other
/// tabs; a change under the cookie needs X-KeyGate-CSRF, so neither a cross-site form post nor
/// a `text/plain` fetch gets through (a foreign Origin is refused before that).
#[tokio::test]
async fn a_session_cookie_signs_in_new_tabs_and_refuses_cross_site_changes() {
    let (_dir, state) = state();
    let request = Request::post("/api/session")
        .header("host", "127.0.0.1:5397")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .expect("request");
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(
        set_cookie.starts_with("keygate_session_5397="),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains(ADMIN),
        "the cookie is not the admin token"
    );
    let cookie = set_cookie.split(';').next().expect("pair").to_string();

    let with_cookie = |method: http::Method, path: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1:5397")
            .header("cookie", &cookie)
    };
    // A new tab: the cookie alone reads.
    let (status, body) = send(
        &state,
        with_cookie(http::Method::GET, "/api/session")
            .body(Body::empty())
            .expect("r"),
    )
    .await;
    assert_eq!(
        (status, body["signed_in_by"].as_str()),
        (StatusCode::OK, Some("cookie"))
    );
    let (status, _) = send(
        &state,
        with_cookie(http::Method::GET, "/api/keys")
            .body(Body::empty())
            .expect("r"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A change under the cookie without the header: refused, nothing changed.
    let change = serde_json::json!({"ids": ["k_apitest001"], "action": "disable"}).to_string();
    let (status, body) = send(
        &state,
        with_cookie(http::Method::POST, "/api/keys/batch")
            .header("content-type", "application/json")
            .body(Body::from(change.clone()))
            .expect("r"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf"))
    );
    // A cross-site form post and a text/plain fetch (a browser would add the foreign Origin).
    for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
        let (status, body) = send(
            &state,
            with_cookie(http::Method::POST, "/api/keys/batch")
                .header("origin", "https://evil.example")
                .header("content-type", content_type)
                .body(Body::from(change.clone()))
                .expect("r"),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("foreign_origin")),
            "{content_type}"
        );
    }
    let (_, body) = json_call(&state, http::Method::GET, "/api/keys", None).await;
    assert_eq!(
        body["keys"][0]["enabled"], true,
        "no refused request changed anything"
    );

    // With the header (as the UI sends it) the change goes through.
    let (status, _) = send(
        &state,
        with_cookie(http::Method::POST, "/api/keys/batch")
            .header("content-type", "application/json")
            .header("x-keygate-csrf", "1")
            .body(Body::from(change))
            .expect("r"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Signed out: the cookie no longer works; a made-up one never did.
    let (status, body) = send(
        &state,
        with_cookie(http::Method::DELETE, "/api/session")
            .header("x-keygate-csrf", "1")
            .body(Body::empty())
            .expect("r"),
    )
    .await;
    assert_eq!(
        (status, body["signed_out"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, _) = send(
        &state,
        with_cookie(http::Method::GET, "/api/keys")
            .body(Body::empty())
            .expect("r"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = Request::get("/api/keys")
        .header("host", "127.0.0.1:5397")
        .header("cookie", "keygate_session_5397=00ff")
        .body(Body::empty())
        .expect("r");
    assert_eq!(send(&state, forged).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn log_filters_are_checked_field_by_field() {
    use http::Method;
    let (_dir, state) = state();
    for (query, field) in [
        ("status=maybe", "status"),
        ("before=junk", "before"),
        ("from=2026-13-01", "from"),
        ("limit=many", "limit"),
        ("color=red", "color"),
    ] {
        let (status, body) =
            json_call(&state, Method::GET, &format!("/api/logs?{query}"), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert!(
            body["error"]["fields"][field].is_string(),
            "{query}: {body}"
        );
    }
    let (status, body) = json_call(
        &state,
        Method::GET,
        "/api/logs?status=failed&provider=openai&key=k_apitest001&token=cli&model=gpt-4o&q=429&from=2026-11-01&to=2026-11-02T00:00:00Z&limit=5",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["requests"].as_array().map(Vec::len), &body["next"]),
        (Some(0), &Value::Null)
    );
}

/// Every operation in the OpenAPI document, with its path parameters filled in.
fn documented_operations() -> Vec<(http::Method, String)> {
    let document = keygate_server::openapi_document();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        let concrete = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    if part.contains("file") {
                        "requests.svg"
                    } else {
                        "x"
                    }
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("methods").keys() {
            if let Ok(method) = method.to_uppercase().parse::<http::Method>() {
                operations.push((method, concrete.clone()));
            }
        }
    }
    operations
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, Value) {
    let (method, path) = (request.method().to_string(), request.uri().to_string());
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    keygate_tests::contract::check_answer(&method, &path, status.as_u16(), &body);
    (status, body)
}

/// Every documented endpoint, not just a sample: no token → 401, a foreign Host → 403 before
/// anything else, a foreign Origin (a web page calling with a stolen token) → 403; every
/// refusal in the `{"error":{"code","message"}}` shape.
#[tokio::test]
async fn every_documented_endpoint_refuses_missing_tokens_foreign_hosts_and_origins() {
    let (_dir, state) = state();
    let operations = documented_operations();
    assert!(
        operations.len() > 30,
        "the document lists the API: {}",
        operations.len()
    );
    for (method, path) in operations {
        if path == "/api/health" {
            continue;
        }
        let request = |host: &str| {
            Request::builder()
                .method(method.clone())
                .uri(&path)
                .header("host", host)
                .header("content-type", "application/json")
        };
        let (status, body) = send(
            &state,
            request("127.0.0.1:5397")
                .body(Body::from("{}"))
                .expect("req"),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
        let (status, body) = send(
            &state,
            request("evil.example:5397")
                .header("authorization", format!("Bearer {ADMIN}"))
                .body(Body::from("{}"))
                .expect("req"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(body["error"]["code"], "bad_host");
        let (status, body) = send(
            &state,
            request("127.0.0.1:5397")
                .header("authorization", format!("Bearer {ADMIN}"))
                .header("origin", "https://evil.example")
                .body(Body::from("{}"))
                .expect("req"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "foreign_origin");
    }
    // The engine's own page may call it.
    let own = Request::get("/api/keys")
        .header("host", "127.0.0.1:5397")
        .header("origin", "http://127.0.0.1:5397")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .expect("req");
    assert_eq!(send(&state, own).await.0, StatusCode::OK);
}
