//! Helpers for the proxy's end-to-end tests: set up `keygate serve` in front of a fake
//! upstream, call it like a tool would, and read back key health and the request log.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::TestEnv;
use crate::fake_upstream::FakeUpstream;
use crate::served::{ADMIN_TOKEN, KeySpec, Served};

/// A [`KeySpec`] with owned strings, to cross into a blocking task.
type OwnedSpec = (String, String, i64, Option<u32>, &'static [&'static str]);

pub async fn setup(fake: &FakeUpstream, keys: &[KeySpec<'_>]) -> Served {
    setup_kind("fake", "openai", &fake.base_url(), keys).await
}

/// Like [`setup`], with one provider `name` of `kind` at `base_url`.
pub async fn setup_kind(name: &str, kind: &str, base_url: &str, keys: &[KeySpec<'_>]) -> Served {
    setup_full(name, kind, base_url, keys, &[]).await
}

/// Like [`setup`], with settings (`keygate settings set NAME VALUE`) made before serve starts.
pub async fn setup_with_settings(
    fake: &FakeUpstream,
    keys: &[KeySpec<'_>],
    settings: &[(&str, u64)],
) -> Served {
    setup_full("fake", "openai", &fake.base_url(), keys, settings).await
}

/// Like [`setup_kind`], with settings made before serve starts.
pub async fn setup_full(
    name: &str,
    kind: &str,
    base_url: &str,
    keys: &[KeySpec<'_>],
    settings: &[(&str, u64)],
) -> Served {
    let (name, kind, base_url) = (name.to_string(), kind.to_string(), base_url.to_string());
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let keys: Vec<OwnedSpec> = keys
        .iter()
        .map(|k| {
            (
                k.label.to_string(),
                k.secret.to_string(),
                k.priority,
                k.rpm,
                k.extra,
            )
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let specs: Vec<KeySpec<'_>> = keys
            .iter()
            .map(|(l, s, p, rpm, extra)| KeySpec {
                label: l,
                secret: s,
                priority: *p,
                rpm: *rpm,
                extra,
            })
            .collect();
        let secrets = Served::provider_of_kind(&env, &name, &kind, &base_url, 0, &specs);
        for (setting, value) in &settings {
            env.ok(&["settings", "set", setting, value], "");
        }
        Served::start(env, secrets)
    })
    .await
    .expect("setup")
}

pub fn prio<'a>(label: &'a str, secret: &'a str, priority: i64) -> KeySpec<'a> {
    KeySpec {
        label,
        secret,
        priority,
        rpm: None,
        extra: &[],
    }
}

pub async fn post(served: &Served, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", served.base))
        .bearer_auth(&served.token)
        .json(body)
        .send()
        .await
        .expect("request")
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Polls `key list --json` until `check` holds for the key labelled `label` (the health writer
/// saves asynchronously), and returns that key.
pub async fn key_state(served: &Served, label: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = served.env.ok(&["--json", "key", "list"], "");
        let keys: Vec<Value> = serde_json::from_str(&list).expect("json");
        let key = keys
            .into_iter()
            .find(|k| k["label"] == label)
            .expect("key exists");
        if check(&key) || Instant::now() > deadline {
            return key;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls the request log until it holds `count` requests; returns them newest first.
pub async fn logged(served: &Served, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body: Value = reqwest::Client::new()
            .get(format!("{}/api/logs", served.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("logs")
            .json()
            .await
            .expect("json");
        let requests = body["requests"].as_array().cloned().unwrap_or_default();
        if requests.len() >= count || Instant::now() > deadline {
            return requests;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn chat(stream: bool) -> Value {
    json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }], "stream": stream })
}

/// The events of an SSE body: (event name, data as JSON; data that is not JSON, `[DONE]` say,
/// as a string).
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_default()
                .to_string();
            let data = e
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or_default();
            let data = serde_json::from_str(data).unwrap_or(Value::String(data.to_string()));
            (name, data)
        })
        .collect()
}

/// `GET path` on the admin API, as JSON.
pub async fn admin_get(served: &Served, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", served.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin request")
        .json()
        .await
        .expect("json")
}

/// The saved events of `kind`, polled until at least `count` are there (or 10 s passed).
pub async fn events(served: &Served, kind: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = admin_get(served, "/api/events/recent").await;
        let found: Vec<Value> = body["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect();
        if found.len() >= count || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
