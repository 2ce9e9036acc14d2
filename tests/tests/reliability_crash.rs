//! `kill -9` (issue 11): the engine killed mid-load and an import killed mid-way leave a
//! database that opens, rows that are whole, rollups that agree with the request log, and a
//! keyring that agrees with the key rows.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::reliability::{
    assert_no_panic, assert_no_secret_anywhere, keyring_accounts, keys, wait_for_logged,
};
use keygate_tests::served::Served;
use keygate_tests::{TestEnv, session_available};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

const ADMIN_ACCOUNT: &str = "admin-token";

/// A request row as stored: id, at, status, attempts (JSON), latency, key id, prompt and
/// completion tokens.
type RequestRow = (
    String,
    String,
    i64,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

fn open_db(env: &TestEnv) -> Connection {
    Connection::open_with_flags(
        env.home().join(keygate_store::DB_FILE_NAME),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the database after the crash")
}

fn integrity(db: &Connection) -> String {
    db.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

/// Key ids in the database, with every column a key needs present.
fn key_ids(db: &Connection) -> BTreeSet<String> {
    let mut stmt = db
        .prepare("SELECT k.id, p.name, k.label, k.fingerprint, k.secret_ref FROM keys k JOIN providers p ON p.id = k.provider_id")
        .expect("keys");
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .expect("query keys");
    rows.map(|row| {
        let (id, provider, label, fingerprint, secret_ref) = row.expect("a whole key row");
        assert!(
            !id.is_empty() && !provider.is_empty() && !label.is_empty(),
            "{id}"
        );
        assert!(!fingerprint.is_empty() && !secret_ref.is_empty(), "{id}");
        id
    })
    .collect()
}

/// Keyring accounts of key ids (the admin token, if stored, is not a key).
fn keyring_key_ids(env: &TestEnv) -> BTreeSet<String> {
    keyring_accounts(env)
        .into_iter()
        .filter(|a| a != ADMIN_ACCOUNT)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_killed_mid_load_restarts_with_whole_rows_and_matching_rollups() {
    if keygate_tests::skip_on_postgres(
        "an_engine_killed_mid_load_restarts_with_whole_rows_and_matching_rollups",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    if !session_available("an_engine_killed_mid_load_restarts_with_whole_rows_and_matching_rollups")
    {
        return;
    }
    let fake = FakeUpstream::start().await;
    let secrets: Vec<String> = (0..3)
        .map(|i| format!("sk-fake-crash-load-{i}-SECRET0000000"))
        .collect();
    for secret in &secrets {
        fake.set(secret, Behaviour::Ok);
    }
    let base_url = fake.base_url();
    let keyring_secrets = secrets.clone();
    let served = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        env.ok(
            &[
                "provider",
                "add",
                "fake",
                "--kind",
                "openai",
                "--base-url",
                &base_url,
            ],
            "",
        );
        for (i, secret) in keyring_secrets.iter().enumerate() {
            // From stdin: the secret goes to the real keyring.
            env.ok(
                &[
                    "key",
                    "add",
                    "--provider",
                    "fake",
                    "--label",
                    &format!("load-{i}"),
                ],
                secret,
            );
        }
        Served::start(env, Vec::new())
    })
    .await
    .expect("setup");

    // Clients hammer the proxy, streamed and plain, until the engine dies under them.
    let done = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..12)
        .map(|c| {
            let (base, token) = (served.base.clone(), served.token.clone());
            let (done, dead) = (done.clone(), dead.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut bodies = String::new();
                for i in 0.. {
                    if dead.load(Ordering::Relaxed) {
                        break;
                    }
                    let stream = (c + i) % 2 == 0;
                    let sent = client
                        .post(format!("{base}/v1/chat/completions"))
                        .bearer_auth(&token)
                        .json(&json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }], "stream": stream }))
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    if let Ok(text) = response.text().await {
                        bodies.push_str(&text);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
                bodies
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while done.load(Ordering::Relaxed) < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        done.load(Ordering::Relaxed) >= 300,
        "the load never got going"
    );
    let token = served.token.clone();
    let (first_log, env, _) = tokio::task::spawn_blocking(move || served.kill_hard())
        .await
        .expect("kill");
    dead.store(true, Ordering::Relaxed);
    let mut captured = String::new();
    for client in clients {
        captured.push_str(&client.await.expect("client"));
    }
    let answered = done.load(Ordering::Relaxed);

    // Before anything else touches it: the database as the crash left it.
    let (ids_before, rows_before) = {
        let db = open_db(&env);
        assert_eq!(integrity(&db), "ok");
        let count: i64 = db
            .query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
            .expect("count");
        (key_ids(&db), count)
    };
    assert_eq!(ids_before.len(), 3, "no key row lost");
    assert!(rows_before > 0, "batches written before the crash are kept");

    let served = tokio::task::spawn_blocking(move || Served::restart(env, token, Vec::new(), &[]))
        .await
        .expect("restart");
    // The restarted engine serves at once, from the same keys.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", served.base))
        .bearer_auth(&served.token)
        .json(&json!({ "model": "gpt-4o-mini", "messages": [] }))
        .send()
        .await
        .expect("request after restart");
    assert_eq!(response.status(), 200);
    captured.push_str(&response.text().await.unwrap_or_default());
    let rows_after = usize::try_from(rows_before).expect("count") + 1;
    assert!(wait_for_logged(&served, rows_after, Duration::from_secs(10)).await >= rows_after);
    for key in keys(&served).await {
        assert_ne!(
            key["health"]["reason"], "secret_missing",
            "reconcile found every secret: {key}"
        );
    }
    let (log, env) = served.stop_keeping_home();

    let db = open_db(&env);
    assert_eq!(integrity(&db), "ok");
    let ids = key_ids(&db);
    assert_eq!(ids, ids_before);
    assert_eq!(
        keyring_key_ids(&env),
        ids,
        "keyring and database agree on the keys"
    );
    // Every request row is whole: a status, a time, its attempts; answered rows have usage.
    let mut stmt = db
        .prepare("SELECT id, at, status, attempts, latency_ms, key_id, prompt_tokens, completion_tokens FROM requests")
        .expect("requests");
    let rows: Vec<RequestRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .expect("query")
        .map(|r| r.expect("a whole request row"))
        .collect();
    assert_eq!(rows.len(), rows_after);
    for (id, at, status, attempts, latency, key, prompt, completion) in &rows {
        assert!(!id.is_empty() && at.len() >= 20, "{id} {at}");
        assert!(*latency >= 0, "{id}");
        let attempts: Vec<Value> = serde_json::from_str(attempts).expect("attempts are JSON");
        if *status == 200 {
            assert!(!attempts.is_empty(), "{id}: {attempts:?}");
            assert!(
                key.as_ref().is_some_and(|k| ids.contains(k)),
                "{id}: {key:?}"
            );
            assert_eq!((*prompt, *completion), (Some(11), Some(3)), "{id}");
        }
    }
    let rolled: i64 = db
        .query_row(
            "SELECT COALESCE(SUM(requests), 0) FROM usage_hourly",
            [],
            |r| r.get(0),
        )
        .expect("rollups");
    assert_eq!(
        usize::try_from(rolled).expect("sum"),
        rows.len(),
        "the hourly rollups count every request row, no more"
    );
    let rolled_tokens: i64 = db
        .query_row(
            "SELECT COALESCE(SUM(prompt_tokens), 0) FROM usage_hourly",
            [],
            |r| r.get(0),
        )
        .expect("rollups");
    let logged_tokens: i64 = db
        .query_row(
            "SELECT COALESCE(SUM(prompt_tokens), 0) FROM requests",
            [],
            |r| r.get(0),
        )
        .expect("requests");
    assert_eq!(rolled_tokens, logged_tokens);
    eprintln!("killed after {answered} answers; {rows_before} rows survived the crash");
    assert_no_panic(&first_log);
    assert_no_panic(&log);
    assert_no_secret_anywhere(
        &env,
        &format!("{first_log}{log}"),
        &captured,
        secrets.iter().map(String::as_str),
    );
}

#[test]
fn an_import_killed_mid_way_leaves_all_keys_or_none_and_no_orphan_secrets() {
    if keygate_tests::skip_on_postgres(
        "an_import_killed_mid_way_leaves_all_keys_or_none_and_no_orphan_secrets",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    if !session_available("an_import_killed_mid_way_leaves_all_keys_or_none_and_no_orphan_secrets")
    {
        return;
    }
    let env = TestEnv::new();
    let count = 300;
    let secrets: Vec<String> = (0..count)
        .map(|i| format!("sk-import-crash-{i:03}-SECRET0000000000"))
        .collect();
    let mut csv = String::from("provider,label,secret\n");
    for (i, secret) in secrets.iter().enumerate() {
        csv.push_str(&format!("openai,bulk-{i:03},{secret}\n"));
    }
    let file = env.root().join("bulk.csv");
    std::fs::write(&file, csv).expect("write csv");
    // The database exists before the import, as it would for a user who ran keygate before.
    env.ok(&["provider", "list"], "");

    let mut child = env
        .keygate()
        .args(["import", file.to_str().expect("utf8")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn import");
    // Kill it once some secrets are in the keyring and the database has none yet.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut written = 0;
    let killed = loop {
        if child.try_wait().expect("try_wait").is_some() {
            break false;
        }
        written = keyring_key_ids(&env).len();
        if written >= 20 {
            child.kill().expect("SIGKILL import");
            break true;
        }
        assert!(Instant::now() < deadline, "the import wrote nothing");
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().expect("wait import");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        killed,
        "the import finished before it could be killed ({written} seen)"
    );

    {
        let db = open_db(&env);
        assert_eq!(integrity(&db), "ok");
        let ids = key_ids(&db);
        assert!(
            ids.is_empty() || ids.len() == count,
            "all keys or none, not {}",
            ids.len()
        );
    }
    let orphans_after_kill = keyring_key_ids(&env).len();

    // The engine starts on this home; its reconcile should leave the keyring agreeing with
    // the key rows.
    let served = Served::start(env, Vec::new());
    let (log, env) = served.stop_keeping_home();
    let db = open_db(&env);
    let ids = key_ids(&db);
    let in_keyring = keyring_key_ids(&env);
    assert!(ids.is_subset(&in_keyring), "every key row has its secret");
    let orphans: Vec<&String> = in_keyring.difference(&ids).collect();
    // Secrets written before the killed import's database transaction were noted as pending;
    // the engine's start-up reconcile removes them, so no secret outlives its row.
    assert!(
        orphans.is_empty(),
        "{} orphaned keyring entries survived the start-up reconcile ({orphans_after_kill} right after the kill, {} key rows)",
        orphans.len(),
        ids.len()
    );
    assert!(
        orphans_after_kill == 0 || log.contains("orphaned"),
        "the engine says what it cleaned: {log}"
    );
    assert_no_panic(&log);
    assert_no_secret_anywhere(
        &env,
        &format!("{log}{stderr}"),
        "",
        secrets.iter().map(String::as_str),
    );
    // Leave the shared test keyring as we found it.
    for orphan in orphans {
        let _ = keygate_vault::Vault::new(env.service.clone()).remove(orphan);
    }
}
