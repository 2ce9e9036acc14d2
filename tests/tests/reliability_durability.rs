//! The request log's durability (issue 22, items 7 and 8): another process holding the
//! database past the writer's busy timeout made it drop a batch (8 of 1,500 rows lost), and
//! the hourly rollups were never pruned.

use std::time::{Duration, Instant};

use keygate_store::{DB_FILE_NAME, RequestRow};
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{chat, post, setup_with_settings};
use keygate_tests::reliability::{admin, assert_no_panic, wait_for_logged};
use keygate_tests::served::{Served, key};
use keygate_tests::{TestEnv, session_available};
use reqwest::Method;
use serde_json::Value;

/// The writer's state as the admin API reports it (`/api/logs`; `/api/health` has the same).
async fn writer(served: &Served) -> Value {
    let (status, body) = admin(served, Method::GET, "/api/logs?limit=1", None).await;
    assert_eq!(status, 200, "{body}");
    body["writer"].clone()
}

/// Polls the writer's state until `check` holds; panics with the last state after 10 s.
async fn wait_for_writer(served: &Served, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = writer(served).await;
        if check(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "the writer never got to: {state}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_locked_past_the_busy_timeout_loses_no_rows() {
    if keygate_tests::skip_on_postgres(
        "a_database_locked_past_the_busy_timeout_loses_no_rows",
        "it tests SQLite's own file and lock",
    ) {
        return;
    }
    if !session_available("a_database_locked_past_the_busy_timeout_loses_no_rows") {
        return;
    }
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-durable-locked-SECRET001";
    fake.set(secret, Behaviour::Ok);
    let served = setup_with_settings(&fake, &[key("locked", secret)], &[]).await;
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        wait_for_logged(&served, 1, Duration::from_secs(10)).await,
        1
    );

    // Another process takes the write lock, as a CLI call or a backup tool would.
    let lock = rusqlite::Connection::open(served.env.home().join(DB_FILE_NAME)).expect("open");
    lock.busy_timeout(Duration::from_secs(10)).expect("timeout");
    lock.execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    const N: u64 = 300;
    let requests: Vec<_> = (0..N)
        .map(|i| {
            let served_base = served.base.clone();
            let token = served.token.clone();
            tokio::spawn(async move {
                let stream = i % 2 == 0;
                let response = reqwest::Client::new()
                    .post(format!("{served_base}/v1/chat/completions"))
                    .bearer_auth(token)
                    .json(&chat(stream))
                    .send()
                    .await
                    .expect("request");
                let status = response.status();
                let _ = response.bytes().await;
                status
            })
        })
        .collect();
    for request in requests {
        assert_eq!(
            request.await.expect("task"),
            200,
            "answers never wait for the log"
        );
    }
    // The writer's busy timeout passed: it holds every row and keeps retrying.
    let held = wait_for_writer(&served, |w| w["retrying"] == true && w["pending_rows"] == N).await;
    assert_eq!(held["dropped_rows"], 0, "{held}");
    assert!(
        held["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("locked") || e.contains("busy")),
        "{held}"
    );
    let (_, logs) = admin(&served, Method::GET, "/api/logs?limit=1000", None).await;
    assert_eq!(
        logs["requests"].as_array().map(Vec::len),
        Some(1),
        "nothing is written while the database is held"
    );
    lock.execute_batch("ROLLBACK").expect("release the lock");

    assert_eq!(
        wait_for_logged(&served, N as usize + 1, Duration::from_secs(15)).await,
        N as usize + 1,
        "every answered request has its row once the lock is gone"
    );
    let after = wait_for_writer(&served, |w| w["retrying"] == false).await;
    assert_eq!(
        (&after["pending_rows"], &after["dropped_rows"]),
        (&0.into(), &0.into()),
        "{after}"
    );
    let log = served.stop();
    assert_no_panic(&log);
    assert_eq!(
        log.matches("they stay in memory and the writer retries")
            .count(),
        1,
        "said once per incident, not per retry:\n{log}"
    );
    assert!(
        log.contains("caught up") && log.contains("no row was lost"),
        "{log}"
    );
}

/// A request row of `at` for the rollups.
fn row(id: &str, at: chrono::DateTime<chrono::Utc>) -> RequestRow {
    RequestRow {
        id: id.into(),
        at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        token: Some("test-client".into()),
        endpoint: "/v1/chat/completions".into(),
        model_requested: "gpt-4o-mini".into(),
        model_served: Some("gpt-4o-mini".into()),
        provider: Some("fake".into()),
        key_id: None,
        status: 200,
        error_class: None,
        attempts: Vec::new(),
        latency_ms: 10,
        ttfb_ms: Some(5),
        stream: false,
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        cached_tokens: None,
        cost_micros: Some(100),
    }
}

/// The days `keygate report --by day` shows over the last 1000 days.
fn report_days(env: &TestEnv) -> Vec<String> {
    let from = (chrono::Utc::now() - chrono::Duration::days(1000))
        .format("%Y-%m-%d")
        .to_string();
    let text = env.ok(&["--json", "report", "--by", "day", "--from", &from], "");
    let report: Value = serde_json::from_str(&text).expect("report JSON");
    report["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["group"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rollups_older_than_retention_rollup_days_are_pruned() {
    if !session_available("rollups_older_than_retention_rollup_days_are_pruned") {
        return;
    }
    let env = TestEnv::new();
    let secrets = Served::provider(&env, "fake", "http://127.0.0.1:9", 0, &[]);
    let now = chrono::Utc::now();
    let old = now - chrono::Duration::days(400);
    let recent = now - chrono::Duration::days(10);
    env.store()
        .write_batch(&[row("old", old), row("recent", recent)], &[])
        .expect("rows");
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d").to_string();
    assert_eq!(report_days(&env), [day(old), day(recent)]);
    env.ok(&["settings", "set", "retention.rollup_days", "365"], "");
    let served = tokio::task::spawn_blocking(move || Served::start(env, secrets))
        .await
        .expect("serve");
    // The writer prunes when it starts, then hourly.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let days = report_days(&served.env);
        if days == [day(recent)] {
            break;
        }
        assert!(Instant::now() < deadline, "the old rollup stayed: {days:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = served.stop();
    assert_no_panic(&log);
}
