//! Helpers the reliability suite shares: admin calls, the keyring's own listing of a test
//! service, and the end-of-test sweep that no secret reached a file, a log or a response.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::TestEnv;
use crate::served::{ADMIN_TOKEN, Served};

/// An admin call (`/api/…` with the admin token); returns the status and the body as JSON
/// (`Value::Null` when it is not JSON), after checking the answer against the OpenAPI document.
pub async fn admin(
    served: &Served,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let method_name = method.to_string();
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", served.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("admin request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("admin body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    crate::contract::check_answer(&method_name, path, status, &body);
    (status, body)
}

/// `GET /api/keys` as a list.
pub async fn keys(served: &Served) -> Vec<Value> {
    let (status, body) = admin(served, reqwest::Method::GET, "/api/keys", None).await;
    assert_eq!(status, 200, "{body}");
    match body {
        Value::Array(list) => list,
        other => other["keys"].as_array().cloned().unwrap_or_default(),
    }
}

/// Polls `GET /api/logs` until it holds at least `count` rows (the writer is asynchronous).
pub async fn wait_for_logged(served: &Served, count: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let (_, body) = admin(served, reqwest::Method::GET, "/api/logs?limit=1000", None).await;
        let seen = body["requests"].as_array().map_or(0, Vec::len);
        if seen >= count || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The accounts (key ids, `admin-token`) the keyring holds under this world's service, read
/// with `secret-tool`, independently of KeyGate's own code.
pub fn keyring_accounts(env: &TestEnv) -> Vec<String> {
    let out = std::process::Command::new("secret-tool")
        .args(["search", "--all", "service", &env.service])
        .output()
        .expect("secret-tool (libsecret-tools) is installed by make test");
    let listing =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut accounts: Vec<String> = listing
        .lines()
        .filter_map(|l| l.trim().strip_prefix("attribute.username = "))
        .map(str::to_string)
        .collect();
    accounts.sort();
    accounts
}

/// Asserts that no secret appears in any file under `KEYGATE_HOME` (database, WAL, shm),
/// in the engine's log, or in anything the test captured from responses.
pub fn assert_no_secret_anywhere<'a>(
    env: &TestEnv,
    log: &str,
    captured: &str,
    secrets: impl IntoIterator<Item = &'a str>,
) {
    let mut leaks = Vec::new();
    for secret in secrets {
        for file in env.files_containing(secret) {
            leaks.push(format!("{secret} in {}", file.display()));
        }
        if log.contains(secret) {
            leaks.push(format!("{secret} in the engine log"));
        }
        if captured.contains(secret) {
            leaks.push(format!("{secret} in a response"));
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

/// Asserts the engine log records no panic.
pub fn assert_no_panic(log: &str) {
    assert!(!log.contains("panicked"), "the engine panicked:\n{log}");
}
