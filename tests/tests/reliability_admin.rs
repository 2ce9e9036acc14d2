//! Admin edits under load (issue 11): while clients keep sending, keys are disabled, enabled
//! and deleted and a route is moved and removed through the admin API. Once a change is
//! acknowledged (HTTP 200), no request started afterwards may be served by a key that change
//! took out, or through the route's old tiers; and nothing panics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::header;
use keygate_tests::reliability::{admin, assert_no_panic, assert_no_secret_anywhere, keys};
use keygate_tests::served::{Served, key};
use reqwest::Method;
use serde_json::{Value, json};

/// One client request: when it was sent, what it asked for, who served it.
#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    /// When the answer's head arrived: the request was routed between `at` and this.
    answered: Instant,
    model: &'static str,
    status: u16,
    key: String,
    provider: String,
}

/// One acknowledged admin change: sent, acknowledged, and what it did.
#[derive(Debug, Clone)]
struct Change {
    sent: Instant,
    acked: Instant,
    what: Edit,
}

#[derive(Debug, Clone, PartialEq)]
enum Edit {
    Disable(Vec<&'static str>),
    Enable(Vec<&'static str>),
    Delete(&'static str),
    RouteTo(&'static str),
    RouteDeleted,
}

const LABELS: [&str; 4] = ["pool-a", "pool-b", "pool-c", "pool-d"];

fn secret(label: &str) -> String {
    format!("sk-fake-admin-{label}-SECRET00000000")
}

/// Requests the load sends: a plain model (any pool key) and the `smart` route.
const MODELS: [&str; 2] = ["fake/gpt-4o-mini", "smart"];

/// Which requests a change forbids while it holds.
type Rule = Box<dyn Fn(&Sent) -> bool>;

/// Every request that broke a rule, described.
/// Also returns how many requests fell inside some change's window, so a reader sees the
/// check was not vacuous.
fn violations(sent: &[Sent], changes: &[Change]) -> (Vec<String>, usize) {
    let mut found = Vec::new();
    let mut checked = 0;
    for (i, change) in changes.iter().enumerate() {
        // Until the next change that undoes this one is *sent*, this one holds: a request
        // started after the acknowledgement and answered before the undo was sent must obey
        // it (one still in flight when the undo is sent may see either).
        let undone = |undo: &dyn Fn(&Edit) -> bool| {
            changes[i + 1..]
                .iter()
                .find(|c| undo(&c.what))
                .map(|c| c.sent)
        };
        let (until, rule): (Option<Instant>, Rule) = match &change.what {
            Edit::Disable(labels) => {
                let labels = labels.clone();
                let undo_labels = labels.clone();
                (
                    undone(
                        &move |e| matches!(e, Edit::Enable(l) if l.iter().any(|x| undo_labels.contains(x))),
                    ),
                    Box::new(move |s: &Sent| labels.contains(&s.key.as_str())),
                )
            }
            Edit::Delete(label) => {
                let label = *label;
                (None, Box::new(move |s: &Sent| s.key == label))
            }
            Edit::RouteTo(provider) => {
                let provider = *provider;
                (
                    undone(&|e| matches!(e, Edit::RouteTo(_) | Edit::RouteDeleted)),
                    Box::new(move |s: &Sent| {
                        s.model == "smart" && s.status == 200 && s.provider != provider
                    }),
                )
            }
            Edit::RouteDeleted => (
                None,
                Box::new(|s: &Sent| s.model == "smart" && s.status == 200),
            ),
            Edit::Enable(_) => continue,
        };
        for s in sent {
            let after = s.at > change.acked && until.is_none_or(|u| s.answered < u);
            checked += usize::from(after);
            if after && (s.status == 200 || !s.key.is_empty()) && rule(s) {
                found.push(format!(
                    "{:?} acked at +{:?}, then a request sent at +{:?} ({}) was served by {} via {} ({})",
                    change.what,
                    change.acked.duration_since(change.sent),
                    s.at.saturating_duration_since(change.acked),
                    s.model,
                    s.key,
                    s.provider,
                    s.status
                ));
            }
        }
    }
    (found, checked)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_request_started_after_an_acknowledged_change_uses_what_it_removed() {
    let fake = FakeUpstream::start().await;
    let mut all_secrets: Vec<String> = LABELS.iter().map(|l| secret(l)).collect();
    all_secrets.push(secret("other"));
    for s in &all_secrets {
        fake.set(s, Behaviour::Ok);
    }
    let base_url = fake.base_url();
    let served = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let pool: Vec<String> = LABELS.iter().map(|l| secret(l)).collect();
        let specs: Vec<_> = LABELS.iter().zip(&pool).map(|(l, s)| key(l, s)).collect();
        let mut secrets = Served::provider(&env, "fake", &base_url, 0, &specs);
        let other = secret("other");
        secrets.extend(Served::provider(
            &env,
            "other",
            &base_url,
            1,
            &[key("other", &other)],
        ));
        env.ok(&["route", "add", "smart", "--to", "fake:tier-fake"], "");
        Served::start(env, secrets)
    })
    .await
    .expect("setup");
    let ids: std::collections::HashMap<String, String> = keys(&served)
        .await
        .iter()
        .map(|k| {
            (
                k["label"].as_str().unwrap_or_default().to_string(),
                k["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();

    let log: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (base, token) = (served.base.clone(), served.token.clone());
            let (log, stop) = (log.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let model = MODELS[i % 2];
                    let at = Instant::now();
                    let response = client
                        .post(format!("{base}/v1/chat/completions"))
                        .bearer_auth(&token)
                        .json(&json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }], "stream": i % 3 == 0 }))
                        .send()
                        .await
                        .expect("the engine keeps serving");
                    let sent = Sent {
                        at,
                        answered: Instant::now(),
                        model,
                        status: response.status().as_u16(),
                        key: header(&response, "x-keygate-key").to_string(),
                        provider: header(&response, "x-keygate-provider").to_string(),
                    };
                    let _ = response.bytes().await;
                    log.lock().expect("log").push(sent);
                }
            })
        })
        .collect();

    let id_list =
        |labels: &[&str]| -> Value { json!(labels.iter().map(|l| &ids[*l]).collect::<Vec<_>>()) };
    let mut changes = Vec::new();
    let started = Instant::now();
    let mut apply = async |what: Edit| {
        let (method, path, body) = match &what {
            Edit::Disable(l) => (
                Method::POST,
                "/api/keys/batch".to_string(),
                Some(json!({ "ids": id_list(l), "action": "disable" })),
            ),
            Edit::Enable(l) => (
                Method::POST,
                "/api/keys/batch".to_string(),
                Some(json!({ "ids": id_list(l), "action": "enable" })),
            ),
            Edit::Delete(l) => (
                Method::POST,
                "/api/keys/batch".to_string(),
                Some(json!({ "ids": id_list(&[l]), "action": "delete" })),
            ),
            Edit::RouteTo(p) => (
                Method::PUT,
                "/api/routes/smart".to_string(),
                Some(json!({ "tiers": [{ "provider": p, "model": format!("tier-{p}") }] })),
            ),
            Edit::RouteDeleted => (Method::DELETE, "/api/routes/smart".to_string(), None),
        };
        let sent = Instant::now();
        let (status, reply) = admin(&served, method, &path, body.as_ref()).await;
        assert_eq!(status, 200, "{what:?}: {reply}");
        changes.push(Change {
            sent,
            acked: Instant::now(),
            what,
        });
    };
    let pace = || tokio::time::sleep(Duration::from_millis(40));
    for round in 0..12 {
        // Back to back, no pause: a reload started for the first change must not land
        // after the second one was acknowledged.
        apply(Edit::Enable(vec!["pool-a"])).await;
        apply(Edit::Disable(vec!["pool-a"])).await;
        pace().await;
        apply(Edit::Disable(vec!["pool-b", "pool-c"])).await;
        apply(Edit::RouteTo(if round % 2 == 0 { "other" } else { "fake" })).await;
        pace().await;
        apply(Edit::Enable(vec!["pool-b", "pool-c"])).await;
        pace().await;
    }
    apply(Edit::Enable(vec!["pool-a"])).await;
    apply(Edit::Delete("pool-d")).await;
    apply(Edit::RouteDeleted).await;
    pace().await;
    pace().await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }
    let sent = log.lock().expect("log").clone();
    let served_ok = sent.iter().filter(|s| s.status == 200).count();
    eprintln!(
        "{} changes under {} requests ({served_ok} answered) in {:?}",
        changes.len(),
        sent.len(),
        started.elapsed()
    );
    let mut outcomes = std::collections::BTreeMap::new();
    for s in &sent {
        *outcomes
            .entry((s.model, s.status, s.provider.as_str()))
            .or_insert(0) += 1;
    }
    eprintln!("outcomes (model, status, provider): {outcomes:?}");
    assert!(served_ok > 100, "the load kept flowing");
    let (found, checked) = violations(&sent, &changes);
    assert!(checked > 500, "only {checked} requests fell after a change");
    let secrets: Vec<String> = served.secrets().map(str::to_string).collect();
    let (engine_log, env) = served.stop_keeping_home();
    assert!(
        found.is_empty(),
        "{} requests broke an acknowledged change:\n{}",
        found.len(),
        found.join("\n")
    );
    assert_no_panic(&engine_log);
    assert_no_secret_anywhere(&env, &engine_log, "", secrets.iter().map(String::as_str));
}
