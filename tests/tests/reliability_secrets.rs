//! The secret sweep against an upstream that echoes the key it was sent (issue 22): OpenAI
//! answers `Incorrect API key provided: sk-…`, Anthropic `invalid x-api-key: …`, and a custom
//! server may return the key whole, cut short, upper-cased, base64 or URL-encoded. On every
//! endpoint, streamed and not, for 400/401/403/429/500 and for a 200 stream that ends in an
//! error event, no recognisable piece of any key may reach the client, the database, the
//! engine's log, a key test or a model sync.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use keygate_tests::reliability::{admin, assert_no_panic, keys};
use keygate_tests::served::{Served, key};
use keygate_tests::{TestEnv, session_available};
use serde_json::{Value, json};

const OAI_KEYS: [&str; 2] = [
    "sk-proj-Q7vXn2Lm9KpR4tWz8YbC3dFg6HjS1aE5uN0oIq",
    "sk-proj-Zr8Tq3Wm6Np1Ks9Lx4Vc7Bd2Gf5Hj0YuE6iOa",
];
const ANT_KEY: &str = "sk-ant-api03-Hf4Kd9Mq2Wx7Zc1Vb6Nl3Rt8Yp5Gs0Ej-aBcD";
const GEM_KEY: &str = "AIzaSyC4m9Xq2Lk7Vr1Bn6Ht3Wd8Zp5Gf0JsEaQ";

/// How the upstream writes the key back.
#[derive(Debug, Clone, Copy)]
enum Form {
    Exact,
    /// The first and last 8 characters, as a truncating provider shows them.
    Truncated,
    Upper,
    Base64,
    /// Every byte percent-encoded.
    UrlEncoded,
}

const FORMS: [Form; 5] = [
    Form::Exact,
    Form::Truncated,
    Form::Upper,
    Form::Base64,
    Form::UrlEncoded,
];

impl Form {
    fn write(self, secret: &str) -> String {
        match self {
            Self::Exact => secret.to_string(),
            Self::Truncated => format!("{}…{}", &secret[..8], &secret[secret.len() - 8..]),
            Self::Upper => secret.to_uppercase(),
            Self::Base64 => base64(secret.as_bytes()),
            Self::UrlEncoded => secret.bytes().map(|b| format!("%{b:02X}")).collect(),
        }
    }
}

/// What the upstream answers: an error status, or a 200 whose stream (or body) ends in an
/// error event.
#[derive(Debug, Clone, Copy)]
struct Mode {
    status: u16,
    form: Form,
}

#[derive(Default)]
struct Echo {
    mode: Mutex<Option<Mode>>,
    /// Every form of every key the upstream wrote, for the sweep.
    written: Mutex<Vec<String>>,
    hits: Mutex<usize>,
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The key the request carried, however the provider kind sends it.
fn presented_key(headers: &HeaderMap) -> String {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| get("x-api-key"))
        .or_else(|| get("x-goog-api-key"))
        .or_else(|| get("api-key"))
        .unwrap_or_default()
        .to_string()
}

async fn echo_upstream(
    axum::extract::State(echo): axum::extract::State<Arc<Echo>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let anthropic = path.contains("/v1/messages");
    let gemini = path.contains(":generateContent") || path.contains(":streamGenerateContent");
    let Some(mode) = *echo.mode.lock().expect("mode") else {
        return ok_answer(anthropic, gemini);
    };
    *echo.hits.lock().expect("hits") += 1;
    let written = mode.form.write(&presented_key(&headers));
    echo.written.lock().expect("written").push(written.clone());
    let message = format!("Incorrect API key provided: {written}. Find your key in the console.");
    let streamed = path.contains("streamGenerateContent")
        || serde_json::from_slice::<Value>(&body).is_ok_and(|b| b["stream"] == true);
    if mode.status == 200 && streamed {
        let events = if anthropic {
            format!(
                "event: message_start\ndata: {}\n\nevent: error\ndata: {}\n\n",
                json!({"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"usage":{"input_tokens":3,"output_tokens":0}}}),
                json!({"type":"error","error":{"type":"authentication_error","message":message}})
            )
        } else if path.ends_with("/responses") {
            format!(
                "event: response.created\ndata: {}\n\nevent: error\ndata: {}\n\n",
                json!({"type":"response.created","response":{"id":"r","status":"in_progress"}}),
                json!({"type":"error","code":"invalid_api_key","message":message,"param":null})
            )
        } else {
            format!(
                "data: {}\n\ndata: {}\n\n",
                json!({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}),
                json!({"error":{"message":message,"type":"invalid_request_error","code":"invalid_api_key"}})
            )
        };
        return ([("content-type", "text/event-stream")], events).into_response();
    }
    let body = if anthropic {
        json!({"type":"error","error":{"type":"authentication_error","message":format!("invalid x-api-key: {written}")}})
    } else if gemini {
        json!({"error":{"code":mode.status,"message":message,"status":"INVALID_ARGUMENT"}})
    } else {
        json!({"error":{"message":message,"type":"invalid_request_error","code":"invalid_api_key"}})
    };
    let status = StatusCode::from_u16(mode.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [("retry-after", "0")], axum::Json(body)).into_response()
}

fn ok_answer(anthropic: bool, gemini: bool) -> Response {
    let body = if anthropic {
        json!({"id":"m","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}})
    } else if gemini {
        json!({"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1}})
    } else {
        json!({"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})
    };
    axum::Json(body).into_response()
}

/// A client request of the sweep: method, path, JSON body (or none), streamed.
struct Call {
    method: reqwest::Method,
    path: &'static str,
    body: Option<Value>,
}

fn calls() -> Vec<Call> {
    let post = |path: &'static str, body: Value| Call {
        method: reqwest::Method::POST,
        path,
        body: Some(body),
    };
    let chat = |model: &str, stream: bool| json!({"model": model, "stream": stream, "messages":[{"role":"user","content":"hi"}]});
    let messages = |model: &str, stream: bool| json!({"model": model, "stream": stream, "max_tokens": 8, "messages":[{"role":"user","content":"hi"}]});
    let mut calls = Vec::new();
    for stream in [false, true] {
        calls.extend([
            post("/v1/chat/completions", chat("oai/gpt-4o-mini", stream)),
            post(
                "/v1/chat/completions",
                chat("ant/claude-sonnet-4-5", stream),
            ),
            post("/v1/messages", messages("ant/claude-sonnet-4-5", stream)),
            post("/v1/messages", messages("oai/gpt-4o-mini", stream)),
            post(
                "/v1/responses",
                json!({"model":"oai/gpt-4o-mini","stream":stream,"input":"hi"}),
            ),
            post(
                "/v1/completions",
                json!({"model":"oai/gpt-3.5-turbo-instruct","stream":stream,"prompt":"hi"}),
            ),
            post("/p/oai/chat/completions", chat("gpt-4o-mini", stream)),
            post("/p/ant/v1/messages", messages("claude-sonnet-4-5", stream)),
        ]);
    }
    calls.extend([
        post(
            "/v1/embeddings",
            json!({"model":"oai/text-embedding-3-small","input":"hi"}),
        ),
        post(
            "/v1/messages/count_tokens",
            json!({"model":"ant/claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}),
        ),
        post(
            "/p/gem/models/gemini-2.5-flash:generateContent",
            json!({"contents":[{"parts":[{"text":"hi"}]}]}),
        ),
        post(
            "/p/gem/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json!({"contents":[{"parts":[{"text":"hi"}]}]}),
        ),
        Call {
            method: reqwest::Method::GET,
            path: "/p/oai/models",
            body: None,
        },
    ]);
    calls
}

/// Finds 8-character pieces (ASCII case folded) of known forms of the keys in text.
#[derive(Default)]
struct Pieces {
    /// Each piece and the form it was cut from.
    of: std::collections::HashMap<Vec<u8>, String>,
}

impl Pieces {
    fn add(&mut self, form: &str) {
        for window in form.to_ascii_lowercase().as_bytes().windows(8) {
            if window.is_ascii() {
                self.of
                    .entry(window.to_vec())
                    .or_insert_with(|| form.to_string());
            }
        }
    }

    /// Every piece found in `text` (already lower-cased), with its form.
    fn found_in(&self, text: &[u8]) -> Vec<String> {
        let mut found: Vec<String> = text
            .windows(8)
            .filter_map(|w| {
                self.of
                    .get(w)
                    .map(|form| format!("{:?} (of {form:?})", String::from_utf8_lossy(w)))
            })
            .collect();
        found.sort();
        found.dedup();
        found
    }
}

/// The forms a stored or logged secret could take: itself and its base64 at each alignment.
fn stored_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    for offset in 0..3 {
        // The last group depends on what follows the secret; the rest is the same wherever
        // the secret sits in a longer encoded text.
        let encoded = base64(&secret.as_bytes()[offset..]);
        forms.push(encoded[..encoded.len() - 4].to_string());
    }
    forms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_echoed_key_reaches_a_client_the_database_or_the_log() {
    if !session_available("no_echoed_key_reaches_a_client_the_database_or_the_log") {
        return;
    }
    let echo = Arc::new(Echo::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = format!("http://{}", listener.local_addr().expect("addr"));
    let app = Router::new()
        .fallback(echo_upstream)
        .with_state(echo.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let env = TestEnv::new();
    let mut secrets = Served::provider(
        &env,
        "oai",
        &format!("{upstream}/v1"),
        0,
        &[key("oai-a", OAI_KEYS[0]), key("oai-b", OAI_KEYS[1])],
    );
    secrets.extend(Served::provider_of_kind(
        &env,
        "ant",
        "anthropic",
        &upstream,
        0,
        &[key("ant-a", ANT_KEY)],
    ));
    secrets.extend(Served::provider_of_kind(
        &env,
        "gem",
        "gemini",
        &format!("{upstream}/v1beta"),
        0,
        &[key("gem-a", GEM_KEY)],
    ));
    // One attempt per request: otherwise every echoed 5xx is tried once more after a pause and
    // every 429 waited out, and this sweep is about what comes back, not about failover.
    env.ok(&["settings", "set", "proxy.max_attempts", "1"], "");
    // The harness reads serve's stderr only when it stops: a chattier log level would fill
    // the pipe and stall the engine.
    let served = Served::start(env, secrets);
    let ids: Vec<Value> = keys(&served)
        .await
        .iter()
        .map(|k| k["id"].clone())
        .collect();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client");
    let mut captured = String::new();
    let mut unreached = Vec::new();
    for status in [400, 401, 403, 429, 500, 200] {
        for form in FORMS {
            for call in calls() {
                *echo.mode.lock().expect("mode") = Some(Mode { status, form });
                let hits = *echo.hits.lock().expect("hits");
                let mut request = client
                    .request(call.method.clone(), format!("{}{}", served.base, call.path))
                    .bearer_auth(&served.token);
                if let Some(body) = &call.body {
                    request = request.json(body);
                }
                let response = request
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{status} {form:?} {}: {e}", call.path));
                let head = format!("{} {:?}\n", response.status(), response.headers());
                let body = response.text().await.unwrap_or_default();
                captured.push_str(&head);
                captured.push_str(&body);
                if *echo.hits.lock().expect("hits") == hits {
                    unreached.push(format!("{status} {form:?} {}: {body}", call.path));
                }
                // Every attempt starts from healthy keys and closed breakers.
                *echo.mode.lock().expect("mode") = None;
                let (code, _) = admin(
                    &served,
                    reqwest::Method::POST,
                    "/api/keys/batch",
                    Some(&json!({"ids": ids, "action": "reset"})),
                )
                .await;
                assert_eq!(code, 200);
                for ping in [
                    "/p/oai/chat/completions",
                    "/p/ant/v1/messages",
                    "/p/gem/models/gemini-2.5-flash:generateContent",
                ] {
                    let sent = client
                        .post(format!("{}{ping}", served.base))
                        .bearer_auth(&served.token)
                        .json(&json!({"model":"m","messages":[]}))
                        .send()
                        .await;
                    let ok = match sent {
                        Ok(ok) => ok,
                        Err(e) => {
                            let log = served.stop_keeping_home().0;
                            panic!(
                                "ping {ping} after {status} {form:?} {}: {e:?}\n{log}",
                                call.path
                            )
                        }
                    };
                    assert_eq!(ok.status(), 200, "{ping}");
                }
            }
        }
    }
    assert!(
        unreached.is_empty(),
        "requests that never reached the upstream (the sweep would prove nothing):\n{}",
        unreached.join("\n")
    );
    // Key tests and model syncs report the upstream's refusal.
    *echo.mode.lock().expect("mode") = Some(Mode {
        status: 401,
        form: Form::Exact,
    });
    for id in &ids {
        let id = id.as_str().unwrap_or_default();
        let (_, report) = admin(
            &served,
            reqwest::Method::POST,
            &format!("/api/keys/{id}/test"),
            None,
        )
        .await;
        captured.push_str(&report.to_string());
    }
    let (_, sync) = admin(
        &served,
        reqwest::Method::POST,
        "/api/models/sync",
        Some(&json!({"provider":"oai"})),
    )
    .await;
    captured.push_str(&sync.to_string());
    for path in ["/api/keys", "/api/logs?limit=1000", "/api/providers/health"] {
        let (_, body) = admin(&served, reqwest::Method::GET, path, None).await;
        captured.push_str(&body.to_string());
    }
    let (log, env) = served.stop_keeping_home();
    assert_no_panic(&log);

    let captured = captured.to_ascii_lowercase();
    let mut written = Pieces::default();
    for form in echo.written.lock().expect("written").iter() {
        written.add(form);
    }
    let mut leaks: Vec<String> = written
        .found_in(captured.as_bytes())
        .into_iter()
        .map(|piece| format!("{piece} in a response"))
        .collect();
    let mut stored = Pieces::default();
    for secret in OAI_KEYS.iter().chain([&ANT_KEY, &GEM_KEY]) {
        for form in stored_forms(secret) {
            stored.add(&form);
        }
    }
    let mut files = Vec::new();
    collect_files(&env.home(), &mut files);
    files.push(("the engine log".into(), log.to_ascii_lowercase()));
    for (path, text) in &files {
        for piece in stored.found_in(text.as_bytes()) {
            leaks.push(format!("{piece} in {}", path.display()));
        }
    }
    leaks.dedup();
    assert!(
        leaks.is_empty(),
        "{} secret pieces leaked:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// Every file under `dir`, read as (lossy, lower-cased) text.
fn collect_files(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).to_ascii_lowercase()));
        }
    }
}
