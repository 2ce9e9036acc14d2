//! The background health checker end to end (time scaled down with KEYGATE_HEALTH_TIME_SCALE,
//! so "every 5 minutes" is every 300 ms): keys go red and recover without any traffic or user
//! action, a configuration change applies live, and `GET /api/events` streams state changes.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::key_state;
use keygate_tests::served::{ADMIN_TOKEN, Served, key};
use serde_json::{Value, json};

async fn serve_scaled(fake: &FakeUpstream, keys: &[(&'static str, &'static str)]) -> Served {
    let base_url = fake.base_url();
    let keys = keys.to_vec();
    tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let specs: Vec<_> = keys.iter().map(|(l, s)| key(l, s)).collect();
        let secrets = Served::provider(&env, "fake", &base_url, 0, &specs);
        Served::start_with_env(
            env,
            secrets,
            &[
                ("KEYGATE_HEALTH_TIME_SCALE", "0.001"),
                ("KEYGATE_HEALTH_CHECKER", "on"),
            ],
        )
    })
    .await
    .expect("serve")
}

fn models_calls(fake: &FakeUpstream, secret: &str) -> usize {
    fake.received()
        .iter()
        .filter(|r| r.path == "/v1/models" && r.key == secret)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_key_goes_red_and_recovers_by_itself() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-hc-flaky-0000000000001";
    fake.set(secret, Behaviour::Ok);
    let served = serve_scaled(&fake, &[("flaky", secret)]).await;

    // No traffic at all: the checker alone finds the key healthy...
    let flaky = key_state(&served, "flaky", |k| k["health"]["state"] == "healthy").await;
    assert_eq!(flaky["health"]["state"], "healthy", "{flaky}");
    // ...red once the provider starts refusing it...
    fake.set(secret, Behaviour::Unauthorized);
    let flaky = key_state(&served, "flaky", |k| k["health"]["state"] == "unhealthy").await;
    assert_eq!(flaky["health"]["reason"], "auth", "{flaky}");
    // ...and green again once the provider accepts it, with nobody doing anything.
    fake.set(secret, Behaviour::Ok);
    let flaky = key_state(&served, "flaky", |k| k["health"]["state"] == "healthy").await;
    assert_eq!(flaky["health"]["state"], "healthy", "{flaky}");

    // The checks are kept as the key's history.
    let id = flaky["id"].as_str().expect("id").to_string();
    let health: Value = reqwest::Client::new()
        .get(format!("{}/api/keys/{id}/health", served.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    let classes: Vec<&str> = health["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["class"].as_str())
        .collect();
    assert!(
        classes.contains(&"auth") && classes.contains(&"success"),
        "{health}"
    );
    let stderr = served.stop();
    assert!(!stderr.contains(secret), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn checker_config_changes_apply_live_and_are_validated() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-hc-config-000000000001";
    fake.set(secret, Behaviour::Ok);
    let served = serve_scaled(&fake, &[("steady", secret)]).await;
    key_state(&served, "steady", |k| k["health"]["state"] == "healthy").await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/health-check/config", served.base);

    let config: Value = client
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        config,
        json!({ "enabled": true, "interval_minutes": 5, "max_error_count": 5, "retry_after_minutes": 1 })
    );

    // A disabled key is never probed.
    let steady = key_state(&served, "steady", |_| true).await;
    let id = steady["id"].as_str().expect("id").to_string();
    served.env.ok(&["key", "disable", &id], "");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut calls = models_calls(&fake, secret);
    // Once the engine has seen the change (one probe may already be in flight), the count stops.
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let now = models_calls(&fake, secret);
        if now == calls {
            break;
        }
        calls = now;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        models_calls(&fake, secret),
        calls,
        "a disabled key was probed (interval is 300 ms here)"
    );
    served.env.ok(&["key", "enable", &id], "");

    // Switched off: no more probes.
    let off = json!({ "enabled": false, "interval_minutes": 5, "max_error_count": 5, "retry_after_minutes": 1 });
    let response = client
        .put(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&off)
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 200);
    let before = models_calls(&fake, secret);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        models_calls(&fake, secret) <= before + 1,
        "probes went on after the checker was switched off"
    );

    // Back on with a one-minute interval (60 ms here): probes resume at once.
    let on = json!({ "enabled": true, "interval_minutes": 1, "max_error_count": 3, "retry_after_minutes": 1 });
    let response = client
        .put(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&on)
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 200);
    let resumed_from = models_calls(&fake, secret);
    let deadline = Instant::now() + Duration::from_secs(5);
    while models_calls(&fake, secret) < resumed_from + 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        models_calls(&fake, secret) >= resumed_from + 3,
        "probes did not resume"
    );

    for (bad, field) in [
        (
            json!({ "enabled": true, "interval_minutes": 0, "max_error_count": 5, "retry_after_minutes": 1 }),
            "interval_minutes",
        ),
        (
            json!({ "enabled": true, "interval_minutes": 5, "max_error_count": 0, "retry_after_minutes": 1 }),
            "max_error_count",
        ),
        (json!({ "enabled": "yes" }), "enabled"),
    ] {
        let response = client
            .put(&url)
            .bearer_auth(ADMIN_TOKEN)
            .json(&bad)
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 422, "{bad}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "invalid_config");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{body}"
        );
    }
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn event_stream_delivers_a_state_change_within_a_second() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-hc-events-000000000001";
    fake.set(secret, Behaviour::Ok);
    let served = serve_scaled(&fake, &[("watched", secret)]).await;
    let watched = key_state(&served, "watched", |k| k["health"]["state"] == "healthy").await;
    let id = watched["id"].as_str().expect("id").to_string();

    let response = reqwest::Client::new()
        .get(format!("{}/api/events", served.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("events");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    let mut stream = response.bytes_stream();

    fake.set(secret, Behaviour::Unauthorized);
    let changed_at = Instant::now();
    let forced = reqwest::Client::new()
        .post(format!("{}/api/health-check/force/{id}", served.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("force");
    assert_eq!(forced.status(), 200);

    let mut text = String::new();
    let event = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(block) = text
                .split("\n\n")
                .find(|b| b.contains("event: key_state_changed") && b.contains("unhealthy"))
            {
                return Some(block.to_string());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("no state change within a second; got {text:?}"));
    assert!(changed_at.elapsed() < Duration::from_secs(1));
    let data = event
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data line");
    let event: Value = serde_json::from_str(data).expect("json event");
    assert_eq!(event["key_id"], id);
    assert_eq!(event["state"], "unhealthy");
    assert_eq!(event["reason"], "auth");
    assert!(!data.contains(secret));
    // Stopping the engine ends the stream instead of waiting out the drain timeout.
    let started = Instant::now();
    served.stop();
    assert!(started.elapsed() < Duration::from_secs(5));
}
