//! `keygate serve` and `Engine::start` over real sockets: printed URLs, start-up reconcile,
//! a busy port, and a clean stop on SIGTERM.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use keygate_server::{DEFAULT_DRAIN_TIMEOUT, Engine, EngineConfig};
use keygate_tests::TestEnv;
use keygate_tests::served::spawn_and_read_url;
use keygate_vault::{Sensitive, Vault};
use serde_json::Value;

const ADMIN: &str = "kg-admin-serve-test-000000000000";

/// Starts `keygate serve --port 0` and returns the child and the printed Web UI URL.
fn start_serve(env: &TestEnv) -> (Child, String) {
    let mut cmd = env.keygate();
    cmd.args(["serve", "--port", "0"])
        .env("KEYGATE_ADMIN_TOKEN", ADMIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn_and_read_url(&mut cmd)
}

#[test]
fn serve_prints_the_ui_url_answers_and_stops_on_sigterm() {
    let env = TestEnv::new();
    let (child, url) = start_serve(&env);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let (base, token) = url.split_once("/#token=").expect("token in fragment");
    assert_eq!(token, ADMIN);
    let http = reqwest::blocking::Client::new();
    let health: Value = http
        .get(format!("{base}/api/health"))
        .send()
        .expect("health")
        .json()
        .expect("json");
    assert_eq!(health["status"], "ok");
    let unauth = http.get(format!("{base}/api/keys")).send().expect("keys");
    assert_eq!(unauth.status(), 401);
    let keys: Value = http
        .get(format!("{base}/api/keys"))
        .bearer_auth(token)
        .send()
        .expect("keys")
        .json()
        .expect("json");
    assert!(keys["keys"].as_array().is_some_and(Vec::is_empty));

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "serve exits 0 after SIGTERM: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_busy_port_is_named_with_the_way_out() {
    let env = TestEnv::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = env
        .keygate()
        .args(["serve", "--port", &port])
        .env("KEYGATE_ADMIN_TOKEN", ADMIN)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("port {port}")) && stderr.contains("already in use"),
        "{stderr}"
    );
    assert!(stderr.contains("--port"), "{stderr}");
}

#[test]
fn exposing_the_proxy_beyond_loopback_needs_explicit_consent() {
    let env = TestEnv::new();
    let out = env
        .keygate()
        .args(["serve", "--bind", "0.0.0.0", "--port", "0"])
        .env("KEYGATE_ADMIN_TOKEN", ADMIN)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--i-know-this-exposes-keys"));
}

#[tokio::test]
async fn start_up_reconcile_marks_keys_without_a_secret_red_and_keeps_them() {
    let env = TestEnv::new();
    let added = env
        .keygate()
        .args([
            "key",
            "add",
            "--provider",
            "openai",
            "--label",
            "gone",
            "--secret-env",
            "KG_TEST_RECONCILE",
        ])
        .env("KG_TEST_RECONCILE", "sk-reconcile-ABCDEFGHIJKLMNOPQ")
        .output()
        .expect("add");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    // The engine's process does not have KG_TEST_RECONCILE set, so the secret is "missing".
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let config = EngineConfig {
        home: env.home(),
        store: env.store_location(),
        vault: Vault::new(env.service.clone()),
        admin_token: Sensitive::new(ADMIN.to_string()),
        drain_timeout: DEFAULT_DRAIN_TIMEOUT,
    };
    let engine = Engine::start(config, listener, async move {
        let _ = stop_rx.await;
    })
    .await
    .expect("start");
    let base = format!("http://{}", engine.local_addr());

    let deadline = Instant::now() + Duration::from_secs(20);
    let key = loop {
        let body: Value = tokio::task::spawn_blocking({
            let url = format!("{base}/api/keys");
            move || {
                reqwest::blocking::Client::new()
                    .get(url)
                    .bearer_auth(ADMIN)
                    .send()
                    .and_then(|r| r.json())
            }
        })
        .await
        .expect("join")
        .expect("keys");
        let key = body["keys"][0].clone();
        if key["health"]["reason"] == "secret_missing" || Instant::now() > deadline {
            break key;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(key["label"], "gone", "the row is kept");
    assert_eq!(key["health"]["state"], "unhealthy");
    assert_eq!(key["health"]["reason"], "secret_missing");
    let _ = stop_tx.send(());
    engine.wait().await.expect("clean stop");
}
