//! The fault matrix (issue 11): every failure the fake upstream can produce, streamed and not,
//! with and without a spare key, against one real engine. Each row says what the client gets
//! (status, body shape, which key served, attempts) and what the engine believes afterwards
//! (the failing key's health, the provider's breaker and pause). DESIGN §4's failure table,
//! over real sockets.
//!
//! Every row gets a provider of its own (`r07/…` picks provider `r07` explicitly), so rows
//! cannot disturb each other's health and they all run at once.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::header;
use keygate_tests::reliability::{
    admin, assert_no_panic, assert_no_secret_anywhere, keys, wait_for_logged,
};
use keygate_tests::served::{KeySpec, Served};
use keygate_tests::{TestEnv, session_available};
use serde_json::{Value, json};

/// What the client receives.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Body {
    /// A whole chat completion (JSON with `choices`).
    Answer,
    /// An SSE stream ending with `data: [DONE]`.
    StreamDone,
    /// An SSE stream ending with `data: [DONE]` whose text is the whole answer, `Hello!`
    /// once: a rescued stream, spliced.
    StreamWhole,
    /// An OpenAI-style error body with this `error.code`.
    Error(&'static str),
    /// The upstream's bytes, passed through untouched.
    Raw(&'static str),
}

/// Which key the `x-keygate-key` header names.
#[derive(Debug, Clone, Copy, PartialEq)]
enum By {
    Faulty,
    Spare,
    Nobody,
}

/// The failing key's health afterwards: state and reason (`None`: no reason given).
type KeyHealth = (&'static str, Option<&'static str>);

/// The provider afterwards: breaker state, and whether it is paused.
type ProviderHealth = (&'static str, bool);

struct Case {
    fault: Behaviour,
    stream: bool,
    /// A second, working key with a lower priority.
    spare: bool,
    /// How many identical requests are sent (the last one is checked).
    requests: usize,
    status: u16,
    body: Body,
    by: By,
    /// Upstream attempts before the answer's headers (`x-keygate-attempts`).
    attempts: usize,
    /// Attempts after the headers, that continued a broken stream: the request log records
    /// `attempts + rescues`.
    rescues: usize,
    key: KeyHealth,
    provider: ProviderHealth,
}

const fn case(fault: Behaviour, stream: bool, spare: bool) -> Case {
    Case {
        fault,
        stream,
        spare,
        requests: 1,
        status: 200,
        body: Body::Answer,
        by: By::Spare,
        attempts: 2,
        rescues: 0,
        key: NOT_BLAMED,
        provider: ("closed", false),
    }
}

const SLOW: Behaviour = Behaviour::Slow(Duration::from_millis(300));
/// Longer than the engine's total deadline below (`proxy.deadline_seconds` = 2).
const HUNG: Behaviour = Behaviour::Slow(Duration::from_secs(4));
const LIMITED: Behaviour = Behaviour::RateLimited {
    retry_after_secs: 40,
};
const UNHEALTHY_AUTH: KeyHealth = ("unhealthy", Some("auth"));
const UNHEALTHY_QUOTA: KeyHealth = ("unhealthy", Some("quota"));
const COOLING: KeyHealth = ("degraded", Some("rate_limited"));
const NOT_BLAMED: KeyHealth = ("unknown", None);
const HEALTHY: KeyHealth = ("healthy", None);
const BROKEN_STREAM: KeyHealth = ("degraded", Some("errors"));

/// The whole matrix. `..case(fault, stream, spare)` is "failed over to the spare, 2 attempts,
/// the faulty key not blamed, provider fine"; each row overrides what differs.
#[rustfmt::skip]
const MATRIX: &[Case] = &[
    // 401: the key is benched for auth; the spare answers. Alone: 502 naming the attempt.
    Case { key: UNHEALTHY_AUTH, ..case(Behaviour::Unauthorized, false, true) },
    Case { key: UNHEALTHY_AUTH, body: Body::StreamDone, ..case(Behaviour::Unauthorized, true, true) },
    Case { status: 502, body: Body::Error("upstream_failed"), by: By::Nobody, attempts: 1, key: UNHEALTHY_AUTH, ..case(Behaviour::Unauthorized, false, false) },
    Case { status: 502, body: Body::Error("upstream_failed"), by: By::Nobody, attempts: 1, key: UNHEALTHY_AUTH, ..case(Behaviour::Unauthorized, true, false) },
    // Out of credit: 429 insufficient_quota and 402 bench the key for quota.
    Case { key: UNHEALTHY_QUOTA, ..case(Behaviour::InsufficientQuota, false, true) },
    Case { key: UNHEALTHY_QUOTA, body: Body::StreamDone, ..case(Behaviour::InsufficientQuota, true, true) },
    Case { key: UNHEALTHY_QUOTA, ..case(Behaviour::PaymentRequired, false, true) },
    Case { key: UNHEALTHY_QUOTA, body: Body::StreamDone, ..case(Behaviour::PaymentRequired, true, true) },
    Case { status: 502, body: Body::Error("upstream_failed"), by: By::Nobody, attempts: 1, key: UNHEALTHY_QUOTA, ..case(Behaviour::PaymentRequired, false, false) },
    // 429 with reset headers: the key cools until the reset. A pool of one key cannot tell a
    // key limit from a provider limit: the key cools and the provider is not paused (the
    // pool-wide pause of two keys is in proxy_failover.rs).
    Case { key: COOLING, ..case(LIMITED, false, true) },
    Case { key: COOLING, body: Body::StreamDone, ..case(LIMITED, true, true) },
    Case { status: 429, body: Body::Error("rate_limit_exceeded"), by: By::Nobody, attempts: 1, key: COOLING, ..case(LIMITED, false, false) },
    Case { status: 429, body: Body::Error("rate_limit_exceeded"), by: By::Nobody, attempts: 1, key: COOLING, ..case(LIMITED, true, false) },
    // 5xx: the key is not blamed; the provider's breaker counts, and five in a row open it,
    // after which requests are refused at once without an attempt.
    Case { ..case(Behaviour::ServerError(500), false, true) },
    Case { body: Body::StreamDone, ..case(Behaviour::ServerError(503), true, true) },
    // With no other key, the one key is tried once more after a short pause (a 5xx may be
    // transient), then the request fails.
    Case { status: 502, body: Body::Error("upstream_failed"), by: By::Nobody, attempts: 2, ..case(Behaviour::ServerError(502), false, false) },
    Case { requests: 6, status: 503, body: Body::Error("no_key_available"), by: By::Nobody, attempts: 0, provider: ("open", false), ..case(Behaviour::ServerError(500), false, false) },
    Case { requests: 6, status: 503, body: Body::Error("no_key_available"), by: By::Nobody, attempts: 0, provider: ("open", false), ..case(Behaviour::ServerError(529), true, false) },
    // A slow first byte inside the deadline is just slow; past the total deadline it is a
    // timeout that used the whole deadline, so no failover is left: 502, key not blamed.
    Case { by: By::Faulty, attempts: 1, key: HEALTHY, ..case(SLOW, false, true) },
    Case { by: By::Faulty, attempts: 1, key: HEALTHY, body: Body::StreamDone, ..case(SLOW, true, true) },
    Case { status: 502, body: Body::Error("upstream_failed"), by: By::Nobody, attempts: 1, ..case(HUNG, false, true) },
    Case { status: 502, body: Body::Error("upstream_failed"), by: By::Nobody, attempts: 1, ..case(HUNG, true, true) },
    // A stream cut mid-way: its text so far went to the client, so the answer is continued
    // (rescued) on the spare, or on the same key after a short pause, and spliced into the
    // same stream. The headers name the first attempt; the log has both. Alone, the key that
    // continued it ends healthy. (A stream nobody can continue ends with an error event and
    // never [DONE]: proxy.rs, proxy_messages.rs, proxy_protocols.rs.)
    Case { by: By::Faulty, attempts: 1, rescues: 1, body: Body::StreamWhole, key: BROKEN_STREAM, ..case(Behaviour::CutAfter(2), true, true) },
    Case { by: By::Faulty, attempts: 1, rescues: 1, body: Body::StreamWhole, key: HEALTHY, ..case(Behaviour::CutAfter(2), true, false) },
    // A stream that ends before any content sent nothing to the client yet (the commit point
    // is the first content): it is a failed attempt like any other, tried once more on the
    // same key, then a JSON 502.
    Case { status: 502, body: Body::Error("upstream_failed"), by: By::Nobody, attempts: 2, key: BROKEN_STREAM, ..case(Behaviour::CutAfter(0), true, false) },
    // A whole answer whose stream closes without `data: [DONE]` (several OpenAI-compatible
    // servers): a success with its usage, the client gets the [DONE], nobody is blamed. It
    // used to be `stream_broken`: an error event after a complete answer and a breaker fault.
    Case { by: By::Faulty, attempts: 1, key: HEALTHY, body: Body::StreamDone, ..case(Behaviour::NoDone, true, true) },
    Case { by: By::Faulty, attempts: 1, key: HEALTHY, body: Body::StreamDone, ..case(Behaviour::NoDone, true, false) },
    Case { by: By::Faulty, attempts: 1, key: HEALTHY, ..case(Behaviour::NoDone, false, false) },
    // An event that is not JSON in the middle of a stream is passed on; the relay goes on to
    // the end, and the stream is whole.
    Case { by: By::Faulty, attempts: 1, key: HEALTHY, body: Body::StreamDone, ..case(Behaviour::MalformedEvent, true, false) },
    // The cut only exists in streams: a plain answer arrives whole.
    Case { by: By::Faulty, attempts: 1, key: HEALTHY, ..case(Behaviour::CutAfter(2), false, true) },
    // 200 with a body that is not JSON, asked for plain or streamed: passed on untouched and
    // counted as a success (issue 11 finding: the key stays healthy, the row has no usage).
    Case { by: By::Faulty, attempts: 1, body: Body::Raw("{not json"), key: HEALTHY, ..case(Behaviour::Malformed, false, true) },
    Case { by: By::Faulty, attempts: 1, body: Body::Raw("{not json"), key: HEALTHY, ..case(Behaviour::Malformed, true, true) },
    // The request's own fault: returned as is, no failover, no blame.
    Case { status: 400, body: Body::Error("context_length_exceeded"), by: By::Faulty, attempts: 1, ..case(Behaviour::BadRequest, false, true) },
    Case { status: 400, body: Body::Error("context_length_exceeded"), by: By::Faulty, attempts: 1, ..case(Behaviour::BadRequest, true, true) },
];

fn provider_name(row: usize) -> String {
    format!("r{row:02}")
}

fn faulty_secret(row: usize) -> String {
    format!("sk-fake-matrix-{row:02}-faulty-SECRET000")
}

fn spare_secret(row: usize) -> String {
    format!("sk-fake-matrix-{row:02}-spare-SECRET0000")
}

/// What one row produced, for the report.
struct Outcome {
    status: u16,
    body: String,
    key_header: String,
    attempts: String,
}

async fn run_row(served: &Served, row: usize, case: &Case) -> Outcome {
    let request = json!({
        "model": format!("{}/gpt-4o-mini", provider_name(row)),
        "messages": [{ "role": "user", "content": "hi" }],
        "stream": case.stream,
    });
    let client = reqwest::Client::new();
    let mut last = None;
    for _ in 0..case.requests {
        let response = client
            .post(format!("{}/v1/chat/completions", served.base))
            .bearer_auth(&served.token)
            .json(&request)
            .send()
            .await
            .expect("request");
        let outcome = Outcome {
            status: response.status().as_u16(),
            key_header: header(&response, "x-keygate-key").to_string(),
            attempts: header(&response, "x-keygate-attempts").to_string(),
            body: response.text().await.unwrap_or_default(),
        };
        last = Some(outcome);
    }
    last.expect("at least one request")
}

/// The problems with one row's answer (empty: as expected).
fn check_answer(row: usize, case: &Case, got: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    if got.status != case.status {
        problems.push(format!("status {} (want {})", got.status, case.status));
    }
    let want_key = match case.by {
        By::Faulty => format!("r{row:02}-faulty"),
        By::Spare => format!("r{row:02}-spare"),
        By::Nobody => String::new(),
    };
    if got.key_header != want_key {
        problems.push(format!(
            "served by {:?} (want {want_key:?})",
            got.key_header
        ));
    }
    // Every answer names its attempts, KeyGate's own error answers included.
    if got.attempts != case.attempts.to_string() {
        problems.push(format!(
            "x-keygate-attempts {} (want {})",
            got.attempts, case.attempts
        ));
    }
    let body_ok = match case.body {
        Body::Answer => serde_json::from_str::<Value>(&got.body)
            .is_ok_and(|v| v["choices"][0]["message"]["content"] == "Hello!"),
        Body::StreamDone => {
            got.body.trim_end().ends_with("data: [DONE]") && got.body.contains("\"Hel\"")
        }
        Body::StreamWhole => {
            let text: String = got
                .body
                .split("\n\n")
                .filter_map(|e| e.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .filter_map(|c| {
                    c["choices"][0]["delta"]["content"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect();
            got.body.trim_end().ends_with("data: [DONE]")
                && !got.body.contains("\"error\"")
                && text == "Hello!"
        }
        Body::Error(code) => serde_json::from_str::<Value>(&got.body)
            .is_ok_and(|v| v["error"]["code"] == code && v["error"]["message"].is_string()),
        Body::Raw(text) => got.body == text,
    };
    if !body_ok {
        problems.push(format!("body {:?} (want {:?})", got.body, case.body));
    }
    problems
}

/// The failing key's health and the provider's state, polled until they match (the health
/// writer is asynchronous) or 10 s passed; the problems left.
async fn check_state(served: &Served, row: usize, case: &Case) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut problems = Vec::new();
        let listed = keys(served).await;
        let faulty = listed
            .iter()
            .find(|k| k["label"] == format!("r{row:02}-faulty"))
            .cloned()
            .unwrap_or(Value::Null);
        let (state, reason) = case.key;
        let got_reason = faulty["health"]["reason"].as_str();
        if faulty["health"]["state"] != state || got_reason != reason {
            problems.push(format!(
                "faulty key {}/{} (want {state}/{})",
                faulty["health"]["state"],
                got_reason.unwrap_or("-"),
                reason.unwrap_or("-"),
            ));
        }
        if case.by == By::Spare {
            let spare = listed
                .iter()
                .find(|k| k["label"] == format!("r{row:02}-spare"))
                .cloned()
                .unwrap_or(Value::Null);
            if spare["health"]["state"] != "healthy" {
                problems.push(format!("spare key {}", spare["health"]));
            }
        }
        let (_, health) = admin(served, reqwest::Method::GET, "/api/providers/health", None).await;
        let provider = health["providers"]
            .as_array()
            .and_then(|list| list.iter().find(|p| p["provider"] == provider_name(row)))
            .cloned()
            .unwrap_or(Value::Null);
        let (breaker, paused) = case.provider;
        let got_paused = provider["paused_for_ms"].as_u64().unwrap_or(0) > 0;
        if provider["breaker"] != breaker || got_paused != paused {
            problems.push(format!(
                "provider breaker {} paused {got_paused} (want {breaker} paused {paused})",
                provider["breaker"]
            ));
        }
        let (_, logs) = admin(served, reqwest::Method::GET, "/api/logs?limit=1000", None).await;
        let model = format!("{}/gpt-4o-mini", provider_name(row));
        let newest = logs["requests"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["model_requested"] == model))
            .cloned()
            .unwrap_or(Value::Null);
        let logged = newest["attempts"].as_array().map(Vec::len);
        if logged != Some(case.attempts + case.rescues) {
            problems.push(format!(
                "logged attempts {logged:?} (want {})",
                case.attempts + case.rescues
            ));
        }
        if problems.is_empty() || Instant::now() > deadline {
            return problems;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_upstream_fault_streamed_or_not_ends_as_the_failure_table_says() {
    if !session_available("every_upstream_fault_streamed_or_not_ends_as_the_failure_table_says") {
        return;
    }
    let fake = FakeUpstream::start().await;
    for (row, case) in MATRIX.iter().enumerate() {
        fake.set(&faulty_secret(row), case.fault.clone());
        fake.set(&spare_secret(row), Behaviour::Ok);
    }
    let base_url = fake.base_url();
    let served = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let mut secrets = Vec::new();
        for (row, case) in MATRIX.iter().enumerate() {
            let (faulty, spare) = (faulty_secret(row), spare_secret(row));
            let (faulty_label, spare_label) =
                (format!("r{row:02}-faulty"), format!("r{row:02}-spare"));
            let mut specs = vec![KeySpec {
                label: &faulty_label,
                secret: &faulty,
                priority: 0,
                rpm: None,
                extra: &[],
            }];
            if case.spare {
                specs.push(KeySpec {
                    label: &spare_label,
                    secret: &spare,
                    priority: 1,
                    rpm: None,
                    extra: &[],
                });
            }
            secrets.extend(Served::provider(
                &env,
                &provider_name(row),
                &base_url,
                0,
                &specs,
            ));
        }
        env.ok(&["settings", "set", "proxy.deadline_seconds", "2"], "");
        Served::start(env, secrets)
    })
    .await
    .expect("setup");

    let started = Instant::now();
    let outcomes = futures_util::future::join_all(
        MATRIX
            .iter()
            .enumerate()
            .map(|(row, case)| run_row(&served, row, case)),
    )
    .await;
    let total: usize = MATRIX.iter().map(|c| c.requests).sum();
    wait_for_logged(&served, total, Duration::from_secs(10)).await;

    let mut report = String::new();
    let mut captured = String::new();
    for (row, (case, got)) in MATRIX.iter().zip(&outcomes).enumerate() {
        let mut problems = check_answer(row, case, got);
        problems.extend(check_state(&served, row, case).await);
        captured.push_str(&got.body);
        if !problems.is_empty() {
            let _ = writeln!(
                report,
                "row {row} {:?} stream={} spare={}: {}",
                case.fault,
                case.stream,
                case.spare,
                problems.join("; ")
            );
        }
    }
    eprintln!(
        "fault matrix: {} rows in {:?}",
        MATRIX.len(),
        started.elapsed()
    );
    let secrets: Vec<String> = served.secrets().map(str::to_string).collect();
    let (log, env) = served.stop_keeping_home();
    assert!(
        report.is_empty(),
        "rows that differ from the table:\n{report}"
    );
    assert_no_panic(&log);
    assert_no_secret_anywhere(&env, &log, &captured, secrets.iter().map(String::as_str));
}
