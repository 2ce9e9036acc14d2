//! CLI changes are in force in a running engine when the command returns (issue 22, item 5).
//! `keygate key disable` used to write the database and leave the engine to notice within its
//! next look at the store (a 500 ms poll): the next request was still served by the disabled
//! key, and `key reset` never reached the engine's live state at all. Now every command that
//! changes what the proxy does asks the engine to take the change before it returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::header;
use keygate_tests::reliability::{assert_no_panic, keys};
use keygate_tests::served::{Served, key};
use serde_json::{Value, json};

const K1: &str = "cli-k1";
const K2: &str = "cli-k2";
const OTHER: &str = "cli-other";
const THIRD: &str = "cli-third";
const THIRD_VAR: &str = "KG_TEST_SECRET_CLI_THIRD";

fn secret(label: &str) -> String {
    format!("sk-fake-cli-{label}-SECRET000000000000")
}

/// An engine on `fake` with provider `fake` (K1 preferred over K2) and provider `other`; the
/// engine also knows the secret of a key (`cli-third`) a test adds later through the CLI.
async fn serve(fake: &FakeUpstream) -> (Served, HashMap<String, String>) {
    for label in [K1, K2, OTHER, THIRD] {
        fake.set(&secret(label), Behaviour::Ok);
    }
    let base_url = fake.base_url();
    let served = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let (s1, s2, so) = (secret(K1), secret(K2), secret(OTHER));
        let mut k1 = key(K1, &s1);
        k1.priority = 0;
        let mut k2 = key(K2, &s2);
        k2.priority = 1;
        let mut secrets = Served::provider(&env, "fake", &base_url, 0, &[k1, k2]);
        secrets.extend(Served::provider(
            &env,
            "other",
            &base_url,
            1,
            &[key(OTHER, &so)],
        ));
        let third = secret(THIRD);
        Served::start_with_env(env, secrets, &[(THIRD_VAR, third.as_str())])
    })
    .await
    .expect("setup");
    let ids = key_ids(&served).await;
    (served, ids)
}

async fn key_ids(served: &Served) -> HashMap<String, String> {
    keys(served)
        .await
        .iter()
        .map(|k| {
            (
                k["label"].as_str().unwrap_or_default().to_string(),
                k["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Runs a CLI command to success without holding up the runtime's other tasks.
fn cli(served: &Served, args: &[&str]) -> String {
    tokio::task::block_in_place(|| served.cli_ok(args))
}

/// One proxied chat request: its status, the label of the key that served it, its provider.
async fn ask(
    client: &reqwest::Client,
    served: &Served,
    token: &str,
    model: &str,
) -> (u16, String, String) {
    let response = client
        .post(format!("{}/v1/chat/completions", served.base))
        .bearer_auth(token)
        .json(&json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .expect("the engine answers");
    let answer = (
        response.status().as_u16(),
        header(&response, "x-keygate-key").to_string(),
        header(&response, "x-keygate-provider").to_string(),
    );
    let _ = response.bytes().await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_disabled_by_the_cli_serves_no_request_started_after_the_command_returned() {
    if keygate_tests::skip_on_postgres(
        "a_key_disabled_by_the_cli_serves_no_request_started_after_the_command_returned",
        "open in issue 23: a CLI change is not always in force in a PostgreSQL engine when the command returns",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    let (served, ids) = serve(&fake).await;
    let client = reqwest::Client::new();
    let pair = [K1, K2];

    // Idle: the very first request after each command. Every round enables one key and
    // disables the other, so both directions must be in force at once.
    let mut broken = Vec::new();
    for round in 0..100 {
        let (off, on) = (pair[round % 2], pair[(round + 1) % 2]);
        cli(&served, &["key", "enable", &ids[on]]);
        cli(&served, &["key", "disable", &ids[off]]);
        let seen = fake.received().len();
        let (status, served_by, _) = ask(&client, &served, &served.token, "fake/gpt-4o-mini").await;
        let tried: Vec<String> = fake.keys_tried().split_off(seen);
        if status != 200 || served_by != on || tried.contains(&secret(off)) {
            broken.push(format!(
                "round {round}: {off} disabled, answer {status} from {served_by:?}, upstream saw {} attempt(s) with {off}",
                tried.iter().filter(|k| **k == secret(off)).count()
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "{} of 100 idle rounds reached a key the CLI had disabled:\n{}",
        broken.len(),
        broken.join("\n")
    );

    // Under load: clients keep sending while the CLI flips the keys.
    #[derive(Clone)]
    struct Sent {
        at: Instant,
        answered: Instant,
        status: u16,
        key: String,
    }
    let log: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (base, token) = (served.base.clone(), served.token.clone());
            let (log, stop) = (log.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while !stop.load(Ordering::Relaxed) {
                    let at = Instant::now();
                    let response = client
                        .post(format!("{base}/v1/chat/completions"))
                        .bearer_auth(&token)
                        .json(&json!({ "model": "fake/gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] }))
                        .send()
                        .await
                        .expect("the engine keeps serving");
                    let sent = Sent {
                        at,
                        answered: Instant::now(),
                        status: response.status().as_u16(),
                        key: header(&response, "x-keygate-key").to_string(),
                    };
                    let _ = response.bytes().await;
                    log.lock().expect("log").push(sent);
                }
            })
        })
        .collect();
    // (label disabled, when the command returned, when the command enabling it was started)
    let mut windows: Vec<(&str, Instant, Option<Instant>)> = Vec::new();
    for round in 0..30 {
        let (off, on) = (pair[round % 2], pair[(round + 1) % 2]);
        let enabling = Instant::now();
        cli(&served, &["key", "enable", &ids[on]]);
        if let Some(window) = windows.last_mut().filter(|w| w.0 == on) {
            window.2 = Some(enabling);
        }
        cli(&served, &["key", "disable", &ids[off]]);
        windows.push((off, Instant::now(), None));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }
    let sent = log.lock().expect("log").clone();
    let mut checked = 0;
    let mut violations = Vec::new();
    for (off, returned, until) in &windows {
        for s in &sent {
            if s.at > *returned && until.is_none_or(|u| s.answered < u) {
                checked += 1;
                if s.key == *off {
                    violations.push(format!(
                        "{off} disabled, then a request sent {:?} after the command returned was served by it ({})",
                        s.at.duration_since(*returned),
                        s.status
                    ));
                }
            }
        }
    }
    eprintln!(
        "{} requests under load, {checked} started while a key was disabled",
        sent.len()
    );
    assert!(checked > 50, "only {checked} requests fell after a change");
    assert!(
        violations.is_empty(),
        "{} requests under load reached a key the CLI had disabled:\n{}",
        violations.len(),
        violations.join("\n")
    );
    let engine_log = tokio::task::block_in_place(|| served.stop());
    assert_no_panic(&engine_log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_routes_providers_limits_and_resets_from_the_cli_are_in_force_when_it_returns() {
    if keygate_tests::skip_on_postgres(
        "tokens_routes_providers_limits_and_resets_from_the_cli_are_in_force_when_it_returns",
        "open in issue 23: a CLI change is not always in force in a PostgreSQL engine when the command returns",
    ) {
        return;
    }
    let fake = FakeUpstream::start().await;
    let (served, ids) = serve(&fake).await;
    let client = reqwest::Client::new();
    let token = served.token.clone();
    let plain = "fake/gpt-4o-mini";

    // key limits: K1 served one request this minute, so `--rpm 1` takes it out at once.
    assert_eq!(ask(&client, &served, &token, plain).await.1, K1);
    cli(&served, &["key", "limits", &ids[K1], "--rpm", "1"]);
    assert_eq!(
        ask(&client, &served, &token, plain).await.1,
        K2,
        "K1 is at its new rpm limit"
    );
    cli(&served, &["key", "limits", &ids[K1], "--rpm", "none"]);
    assert_eq!(
        ask(&client, &served, &token, plain).await.1,
        K1,
        "the limit is lifted"
    );

    // key reset: a key benched for a 401 is back at once (its bench lives in the engine).
    fake.set(&secret(K1), Behaviour::Unauthorized);
    assert_eq!(
        ask(&client, &served, &token, plain).await.1,
        K2,
        "K1 failed over"
    );
    fake.set(&secret(K1), Behaviour::Ok);
    cli(&served, &["key", "reset", &ids[K1]]);
    assert_eq!(
        ask(&client, &served, &token, plain).await.1,
        K1,
        "K1 is reset"
    );

    // token create / revoke.
    let created: Value =
        serde_json::from_str(&cli(&served, &["--json", "token", "create", "extra"])).expect("json");
    let extra = created["token"].as_str().expect("token").to_string();
    assert_eq!(
        ask(&client, &served, &extra, plain).await.0,
        200,
        "a new token works at once"
    );
    cli(&served, &["token", "revoke", "extra"]);
    assert_eq!(
        ask(&client, &served, &extra, plain).await.0,
        401,
        "a revoked token is refused at once"
    );

    // route add / change / rm.
    cli(
        &served,
        &["route", "add", "smart", "--to", "other:tier-other"],
    );
    let (status, _, provider) = ask(&client, &served, &token, "smart").await;
    assert_eq!((status, provider.as_str()), (200, "other"));
    cli(
        &served,
        &["route", "add", "smart", "--to", "fake:tier-fake"],
    );
    let (status, _, provider) = ask(&client, &served, &token, "smart").await;
    assert_eq!(
        (status, provider.as_str()),
        (200, "fake"),
        "the route moved"
    );
    cli(&served, &["route", "rm", "smart"]);
    assert_ne!(
        ask(&client, &served, &token, "smart").await.0,
        200,
        "the route is gone"
    );

    // provider add + key add, then key rm + provider rm.
    cli(
        &served,
        &[
            "provider",
            "add",
            "third",
            "--kind",
            "openai",
            "--base-url",
            &fake.base_url(),
        ],
    );
    let third_secret = secret(THIRD);
    tokio::task::block_in_place(|| {
        let mut cmd = served.env.keygate();
        cmd.env("KEYGATE_ADMIN_TOKEN", keygate_tests::served::ADMIN_TOKEN)
            .env(THIRD_VAR, &third_secret)
            .args([
                "key",
                "add",
                "--provider",
                "third",
                "--label",
                THIRD,
                "--secret-env",
                THIRD_VAR,
            ]);
        let out = keygate_tests::run_with_stdin(&mut cmd, "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let (status, served_by, provider) = ask(&client, &served, &token, "third/gpt-4o-mini").await;
    assert_eq!(
        (status, served_by.as_str(), provider.as_str()),
        (200, THIRD, "third")
    );
    let third_id = key_ids(&served).await[THIRD].clone();
    cli(&served, &["key", "rm", &third_id]);
    let seen = fake.received().len();
    assert_ne!(
        ask(&client, &served, &token, "third/gpt-4o-mini").await.0,
        200,
        "its only key is gone"
    );
    assert!(!fake.keys_tried().split_off(seen).contains(&third_secret));
    cli(&served, &["provider", "rm", "third"]);

    // An engine the CLI cannot ask (no admin token): a warning, success, and the engine's own
    // watch on the store applies the change soon after.
    let out = tokio::task::block_in_place(|| served.env.run(&["key", "disable", &ids[K1]], ""));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("within about a second"),
        "{stderr}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while ask(&client, &served, &token, plain).await.1 == K1 {
        assert!(
            Instant::now() < deadline,
            "the poll never applied the change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An engine that is gone (killed, its engine.json left behind): nothing to tell, no warning.
    let (engine_log, env, _) = tokio::task::block_in_place(|| served.kill_hard());
    assert_no_panic(&engine_log);
    assert!(env.home().join("engine.json").exists());
    let out = env.run(&["key", "enable", &ids[K1]], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("warning"),
        "{stderr}"
    );
}
