//! Talking to the engine running for this KEYGATE_HOME (named in `engine.json`). Commands whose
//! effect belongs to live state (key tests, model sync) go through it; commands that change
//! the store write it themselves (so they work without an engine) and then [`apply`] the
//! change to the engine, so it is in force when they return: revoking a leaked key must not
//! wait for the engine's next look at the store.

use std::time::Duration;

use keygate_server::health::EngineInfo;
use keygate_server::{ADMIN_TOKEN_ACCOUNT, ADMIN_TOKEN_ENV};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::context::Context;

/// How long a command waits for the engine to take a change: a reload is milliseconds, so
/// this only bounds a stuck engine.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The most ids `POST /api/keys/batch` takes at once.
const MAX_BATCH: usize = 500;

/// Why the engine gave no answer.
enum Unanswered {
    /// No engine runs for this home: no `engine.json`, or nothing listens on its port (the
    /// file an engine that was killed left behind).
    NotRunning,
    /// An engine runs but could not be asked (no admin token, an error, a timeout).
    Failed(String),
}

/// POSTs `body` to the engine's admin API and returns the status and the JSON answer.
async fn call(
    ctx: &Context,
    path: &str,
    body: Option<&Value>,
    timeout: Option<Duration>,
) -> Result<(StatusCode, Value), Unanswered> {
    let info = EngineInfo::read(&ctx.home).ok_or(Unanswered::NotRunning)?;
    // Without a token the request still goes out: whether anything answers tells a running
    // engine (then the missing token is the problem) from a file a killed one left behind.
    let (token, no_token) = match std::env::var(ADMIN_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
    {
        Some(token) => (Some(token), String::new()),
        None => match ctx.vault.load(ADMIN_TOKEN_ACCOUNT) {
            Ok(Some(token)) => (Some(token.expose().clone()), String::new()),
            Ok(None) => (
                None,
                format!("no admin token: set {ADMIN_TOKEN_ENV} to the engine's"),
            ),
            Err(err) => (None, format!("cannot read the admin token: {err}")),
        },
    };
    let mut request = reqwest::Client::new().post(format!("http://127.0.0.1:{}{path}", info.port));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(timeout) = timeout {
        request = request.timeout(timeout);
    }
    let response = request.send().await.map_err(|err| {
        // A connection that times out may be a connect error too: that engine is there.
        if err.is_timeout() {
            Unanswered::Failed("it did not answer in time".into())
        } else if err.is_connect() {
            Unanswered::NotRunning
        } else {
            Unanswered::Failed(err.without_url().to_string())
        }
    })?;
    if !no_token.is_empty() {
        return Err(Unanswered::Failed(no_token));
    }
    let status = response.status();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// POSTs `body` to the engine's admin API; `None` when no engine runs for this home or it
/// cannot be reached with the admin token (from the environment or the keyring).
pub async fn post(ctx: &Context, path: &str, body: &Value) -> Option<(StatusCode, Value)> {
    call(ctx, path, Some(body), None).await.ok()
}

/// What a command changed in the store, for the running engine to take up.
pub enum Change<'a> {
    /// Keys, providers, tokens, routes or prices: what the proxy's catalog is built from.
    Catalog,
    /// `key reset`: the keys' failures are forgotten in the store. Cooldowns, quarantines and
    /// error counts live in the engine's memory, so it must forget them too.
    KeysReset(&'a [String]),
}

/// Puts a change this command stored into force in the engine running for this home, and
/// waits until it is; without an engine there is nothing to do. When the engine cannot be
/// asked, a warning says so and the command still succeeds: the change is stored, and the
/// engine's own watch on the store picks it up within about a second.
pub fn apply(ctx: &Context, change: Change<'_>) {
    let outcome = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(ask(ctx, change)),
        Err(err) => Err(format!("cannot start the async runtime: {err}")),
    };
    if let Err(reason) = outcome {
        let port = EngineInfo::read(&ctx.home)
            .map_or_else(String::new, |i| format!(" on port {}", i.port));
        eprintln!(
            "warning: the running KeyGate engine{port} was not told of this change ({reason}); \
             the change is saved and takes effect there within about a second"
        );
    }
}

async fn ask(ctx: &Context, change: Change<'_>) -> Result<(), String> {
    match change {
        Change::Catalog => {
            expect_success(call(ctx, "/api/reload", None, Some(APPLY_TIMEOUT)).await)
        }
        Change::KeysReset(ids) => {
            for chunk in ids.chunks(MAX_BATCH) {
                let body = json!({ "ids": chunk, "action": "reset" });
                let answer = call(ctx, "/api/keys/batch", Some(&body), Some(APPLY_TIMEOUT)).await;
                if matches!(answer, Err(Unanswered::NotRunning)) {
                    return Ok(());
                }
                expect_success(answer)?;
            }
            Ok(())
        }
    }
}

/// `Ok` when the engine took the change or no engine runs; else why not.
fn expect_success(answer: Result<(StatusCode, Value), Unanswered>) -> Result<(), String> {
    match answer {
        Ok((status, _)) if status.is_success() => Ok(()),
        Ok((status, body)) => Err(match body["error"]["message"].as_str() {
            Some(message) => format!("it answered {status}: {message}"),
            None => format!("it answered {status}"),
        }),
        Err(Unanswered::NotRunning) => Ok(()),
        Err(Unanswered::Failed(reason)) => Err(reason),
    }
}
