//! A keyring locked when the engine starts (issue 22, item 6). The engine used to show the
//! key grey "unknown", answer `503 no_key_available … (fake has no usable key)` without a word
//! about the keyring, and stay that way after the keyring was unlocked, even through a key
//! test, until it was restarted. Now the key is red `secret_unavailable` with the keyring's
//! reason, the 503 says the keyring is locked and how to unlock it, and the engine reads the
//! secret again once the keyring is unlocked (a key test reads it at once).
//!
//! Locking the login collection locks it for the whole session, so this test runs in a session
//! of its own (`KEYGATE_TEST_LOCKABLE`, see the Makefile's test-rust).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{chat, post};
use keygate_tests::reliability::{admin, assert_no_panic, keys};
use keygate_tests::served::Served;
use keygate_tests::{lock_keyring, session_available};
use reqwest::Method;
use serde_json::Value;

const SECRET: &str = "sk-fake-keyring-locked-SECRET0001";
/// The password `tests/run-in-session.sh` gives the session's keyring.
const KEYRING_PASSWORD: &str = "keygate-test";

fn is_locked(collection: &str) -> bool {
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--dest=org.freedesktop.secrets",
            "--print-reply",
            collection,
            "org.freedesktop.DBus.Properties.Get",
            "string:org.freedesktop.Secret.Collection",
            "string:Locked",
        ])
        .output()
        .expect("dbus-send");
    String::from_utf8_lossy(&out.stdout).contains("boolean true")
}

/// Unlocks the session's keyring the way a login does: a keyring daemon given the password.
fn unlock(collection: &str) {
    let mut daemon = Command::new("gnome-keyring-daemon")
        .args(["--replace", "--unlock", "--components=secrets"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon");
    {
        use std::io::Write;
        let mut stdin = daemon.stdin.take().expect("stdin");
        stdin
            .write_all(KEYRING_PASSWORD.as_bytes())
            .expect("password");
    }
    assert!(daemon.wait().expect("daemon").success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_locked(collection) {
        assert!(Instant::now() < deadline, "the keyring stayed locked");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn the_key(served: &Served) -> Value {
    keys(served).await.into_iter().next().expect("one key")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keyring_locked_at_start_turns_keys_red_and_they_recover_when_it_is_unlocked() {
    if !session_available("a_keyring_locked_at_start_turns_keys_red_and_they_recover") {
        return;
    }
    let Ok(collection) = std::env::var("KEYGATE_TEST_LOCKABLE") else {
        eprintln!("skipped: runs in the lockable keyring session of make test");
        return;
    };
    let fake = FakeUpstream::start().await;
    fake.set(SECRET, Behaviour::Ok);
    let base_url = fake.base_url();
    let locked_collection = collection.clone();
    let served = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        Served::provider(&env, "fake", &base_url, 0, &[]);
        env.ok(
            &["key", "add", "--provider", "fake", "--label", "in-keyring"],
            SECRET,
        );
        lock_keyring(&locked_collection);
        Served::start(env, Vec::new())
    })
    .await
    .expect("setup");

    // Red, with the keyring's reason and its fix.
    let key = the_key(&served).await;
    assert_eq!(key["health"]["state"], "unhealthy", "{key}");
    assert_eq!(key["health"]["reason"], "secret_unavailable", "{key}");
    let last_error = key["health"]["last_error"].as_str().unwrap_or_default();
    assert!(last_error.contains("locked"), "{key}");
    let id = key["id"].as_str().expect("id").to_string();

    // The proxy says why it has no key, and what to do.
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("keyring is locked"), "{body}");
    assert!(message.contains("unlock"), "names the fix: {body}");

    // A key test while it is still locked says so too.
    let (status, report) =
        admin(&served, Method::POST, &format!("/api/keys/{id}/test"), None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["class"], "secret_unavailable", "{report}");
    assert!(
        report["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("unlock"),
        "{report}"
    );

    // Unlocked: a key test right away reads the secret and reaches the provider.
    tokio::task::block_in_place(|| unlock(&collection));
    let unlocked_at = Instant::now();
    let (status, report) =
        admin(&served, Method::POST, &format!("/api/keys/{id}/test"), None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["class"], "success",
        "a key test reads the secret again: {report}"
    );
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(
        response.status(),
        200,
        "served once the keyring is unlocked"
    );
    let key = the_key(&served).await;
    assert_ne!(key["health"]["reason"], "secret_unavailable", "{key}");
    assert!(unlocked_at.elapsed() < Duration::from_secs(5));

    // Locked again while running (the secret is already in memory, so serving goes on), then
    // a restart with it locked, and an unlock with nobody testing: the engine notices by itself.
    tokio::task::block_in_place(|| lock_keyring(&collection));
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(
        response.status(),
        200,
        "a secret already read keeps serving"
    );
    let token = served.token.clone();
    let (log, env) = served.stop_keeping_home();
    assert_no_panic(&log);
    let served = tokio::task::spawn_blocking(move || Served::restart(env, token, Vec::new(), &[]))
        .await
        .expect("restart");
    let key = the_key(&served).await;
    assert_eq!(key["health"]["reason"], "secret_unavailable", "{key}");
    tokio::task::block_in_place(|| unlock(&collection));
    let unlocked_at = Instant::now();
    let recovered = loop {
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        if response.status() == 200 {
            break unlocked_at.elapsed();
        }
        assert!(
            unlocked_at.elapsed() < Duration::from_secs(5),
            "not serving 5 s after the unlock: {}",
            response.text().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let key = the_key(&served).await;
    assert_ne!(key["health"]["state"], "unhealthy", "{key}");
    eprintln!("serving again {recovered:?} after the unlock");
    let log = served.stop();
    assert_no_panic(&log);
    assert!(!log.contains(SECRET), "the secret reached the engine's log");
}
