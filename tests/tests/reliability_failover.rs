//! The failover driver prefers the model the caller asked for, and gives up on a silent or
//! dead provider fast (issue 18). Each case runs on a route of its own, `rN` → provider `pN`
//! (the asked-for tier) then `fN` (a fallback), streamed and not, all in one engine:
//! - a 500 that a second try would serve used to send the request straight to the fallback;
//!   now the same key is tried again after a short pause;
//! - a 429 with `Retry-After: 2` likewise: now it is waited out on the asked-for tier
//!   (`proxy.max_wait_ms`, 3000 by default);
//! - a provider that accepts the request and never answers held the caller for 90 s and then
//!   gave the second key of the same silent provider the rest of the deadline; now the first
//!   byte timeout (`proxy.first_byte_timeout_seconds`) moves on to the next provider at once;
//! - a stream whose headers came at once but whose first token took 20 s was passed through
//!   as is (headers sent, no failover possible); now nothing is sent before the first content
//!   and `proxy.first_token_timeout_seconds` moves on to the next provider;
//! - a primary that was down and recovers was not used again for minutes (the breaker's
//!   interval doubled); now it is probed every `proxy.breaker_probe_seconds`.

use std::time::{Duration, Instant};

use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::header;
use keygate_tests::reliability::assert_no_panic;
use keygate_tests::served::{Served, key};
use serde_json::json;

/// The first-byte timeout and breaker interval of the engine under test (seconds).
const FIRST_BYTE_TIMEOUT: u64 = 1;
const BREAKER_PROBE: u64 = 1;
const FIRST_TOKEN_TIMEOUT: u64 = 1;

fn primary_secret(case: usize, n: usize) -> String {
    format!("sk-fake-failover-p{case}-{n}-SECRET0000000000")
}

fn fallback_secret(case: usize) -> String {
    format!("sk-fake-failover-f{case}-SECRET00000000000")
}

/// An engine with, for every case, `keys` keys on `p{case}` (serving `gpt-4o-mini`) and one
/// on `f{case}` (serving `fallback_model`), routed as `r{case}`.
async fn serve(fake: &FakeUpstream, cases: &[(usize, &'static str)]) -> Served {
    let base_url = fake.base_url();
    let cases = cases.to_vec();
    tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let mut secrets = Vec::new();
        for (case, &(count, fallback_model)) in cases.iter().enumerate() {
            let labels: Vec<(String, String)> = (0..count)
                .map(|n| (format!("p{case}-{n}"), primary_secret(case, n)))
                .collect();
            let specs: Vec<_> = labels.iter().map(|(l, s)| key(l, s)).collect();
            secrets.extend(Served::provider(
                &env,
                &format!("p{case}"),
                &base_url,
                0,
                &specs,
            ));
            let (label, secret) = (format!("f{case}"), fallback_secret(case));
            secrets.extend(Served::provider(
                &env,
                &format!("f{case}"),
                &base_url,
                1,
                &[key(&label, &secret)],
            ));
            env.ok(
                &[
                    "route",
                    "add",
                    &format!("r{case}"),
                    "--to",
                    &format!("p{case}:gpt-4o-mini,f{case}:{fallback_model}"),
                ],
                "",
            );
        }
        for (name, value) in [
            ("proxy.first_byte_timeout_seconds", FIRST_BYTE_TIMEOUT),
            ("proxy.breaker_probe_seconds", BREAKER_PROBE),
            ("proxy.first_token_timeout_seconds", FIRST_TOKEN_TIMEOUT),
        ] {
            env.ok(&["settings", "set", name, &value.to_string()], "");
        }
        Served::start(env, secrets)
    })
    .await
    .expect("setup")
}

/// What a request on route `r{case}` got.
#[derive(Debug)]
struct Answer {
    status: u16,
    provider: String,
    attempts: String,
    took: Duration,
    /// The stream ended with `[DONE]`, or the plain answer had its text.
    whole: bool,
}

async fn ask(served: &Served, case: usize, stream: bool) -> Answer {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", served.base))
        .bearer_auth(&served.token)
        .json(&json!({
            "model": format!("r{case}"),
            "messages": [{ "role": "user", "content": "hi" }],
            "stream": stream,
        }))
        .send()
        .await
        .expect("the engine answers");
    let status = response.status().as_u16();
    let provider = header(&response, "x-keygate-provider").to_string();
    let attempts = header(&response, "x-keygate-attempts").to_string();
    let body = response.text().await.unwrap_or_default();
    let whole = if stream {
        body.trim_end().ends_with("data: [DONE]")
    } else {
        body.contains("Hello!")
    };
    Answer {
        status,
        provider,
        attempts,
        took: started.elapsed(),
        whole,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_asked_for_model_is_preferred_and_silent_or_dead_providers_are_left_fast() {
    let fake = FakeUpstream::start().await;
    // Cases 0–1: a 500 once; 2–3: a 429 with Retry-After 2; 4–5: two silent keys;
    // 6: a primary that is down, then recovers; 7: two keys whose streams open at once and
    // send their first token after 20 s; 8: a request too long for gpt-4o-mini, with gpt-4.1
    // (a larger context window) behind it; 9: the same with only gpt-4o (no larger) behind.
    // Even cases plain, odd ones streamed.
    const MINI: &str = "gpt-4o-mini";
    let cases = [
        (1, MINI),
        (1, MINI),
        (1, MINI),
        (1, MINI),
        (2, MINI),
        (2, MINI),
        (1, MINI),
        (2, MINI),
        (1, "gpt-4.1"),
        (1, "gpt-4o"),
    ];
    for case in 0..cases.len() {
        fake.set(&fallback_secret(case), Behaviour::Ok);
    }
    for case in [0, 1] {
        fake.set(
            &primary_secret(case, 0),
            Behaviour::ServerErrorThenOk { times: 1 },
        );
    }
    for case in [2, 3] {
        let limited = Behaviour::RateLimitedThenOk {
            times: 1,
            retry_after_secs: 2,
        };
        fake.set(&primary_secret(case, 0), limited);
    }
    for case in [4, 5] {
        for n in 0..2 {
            fake.set(
                &primary_secret(case, n),
                Behaviour::Slow(Duration::from_secs(30)),
            );
        }
    }
    fake.set(&primary_secret(6, 0), Behaviour::ServerError(500));
    for n in 0..2 {
        fake.set(
            &primary_secret(7, n),
            Behaviour::SlowFirstToken(Duration::from_secs(20)),
        );
    }
    for case in [8, 9] {
        fake.set(&primary_secret(case, 0), Behaviour::BadRequest);
    }
    let served = serve(&fake, &cases).await;

    let (retried, waited, silent, recovered, slow_token, too_long) = tokio::join!(
        async { tokio::join!(ask(&served, 0, false), ask(&served, 1, true)) },
        async { tokio::join!(ask(&served, 2, false), ask(&served, 3, true)) },
        async { tokio::join!(ask(&served, 4, false), ask(&served, 5, true)) },
        outage_then_recovery(&served, &fake),
        ask(&served, 7, true),
        async { tokio::join!(ask(&served, 8, false), ask(&served, 9, true)) },
    );
    let mut problems = Vec::new();
    for (case, got) in [(0, retried.0), (1, retried.1)] {
        if got.status != 200 || got.provider != format!("p{case}") || got.attempts != "2" {
            problems.push(format!(
                "a 500 once, case {case}: {got:?} (want p{case}, attempt 2)"
            ));
        }
        if !got.whole {
            problems.push(format!("case {case}: the answer is not whole"));
        }
    }
    for (case, got) in [(2, waited.0), (3, waited.1)] {
        let in_time = got.took >= Duration::from_millis(1800) && got.took < Duration::from_secs(3);
        if got.status != 200 || got.provider != format!("p{case}") || !in_time || !got.whole {
            problems.push(format!(
                "a 429 with Retry-After 2, case {case}: {got:?} (want p{case} after 1.8–3 s)"
            ));
        }
    }
    for (case, got) in [(4, silent.0), (5, silent.1)] {
        let in_time = got.took < Duration::from_secs(FIRST_BYTE_TIMEOUT + 2);
        if got.status != 200 || got.provider != format!("f{case}") || !in_time || !got.whole {
            problems.push(format!(
                "a silent provider, case {case}: {got:?} (want f{case} within {} s)",
                FIRST_BYTE_TIMEOUT + 2
            ));
        }
        let silent_tries = fake
            .keys_tried()
            .iter()
            .filter(|k| k.contains(&format!("-p{case}-")))
            .count();
        if silent_tries != 1 {
            problems.push(format!(
                "case {case}: the silent provider got {silent_tries} attempts (want 1)"
            ));
        }
    }
    problems.extend(recovered);
    let in_time = slow_token.took < Duration::from_secs(FIRST_TOKEN_TIMEOUT + 2);
    if slow_token.status != 200 || slow_token.provider != "f7" || !in_time || !slow_token.whole {
        problems.push(format!(
            "a first token after 20 s: {slow_token:?} (want f7 within {} s)",
            FIRST_TOKEN_TIMEOUT + 2
        ));
    }
    let slow_tries = fake
        .keys_tried()
        .iter()
        .filter(|k| k.contains("-p7-"))
        .count();
    if slow_tries != 1 {
        problems.push(format!(
            "case 7: the slow provider got {slow_tries} attempts (want 1)"
        ));
    }
    let (larger, none_larger) = too_long;
    if larger.status != 200 || larger.provider != "f8" || larger.attempts != "2" {
        problems.push(format!(
            "too long for gpt-4o-mini: {larger:?} (want f8, the larger window, on attempt 2)"
        ));
    }
    let asked_larger = fake
        .received()
        .iter()
        .any(|r| r.key == fallback_secret(8) && r.body["model"] == "gpt-4.1");
    if !asked_larger {
        problems.push("case 8: the larger tier was not asked with its own model".into());
    }
    if none_larger.status != 400 || none_larger.attempts != "1" {
        problems.push(format!(
            "too long, no larger tier: {none_larger:?} (want the provider's 400, one attempt)"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_no_panic(&served.stop());
}

/// Case 6: requests every 200 ms while the primary answers 500, then after it recovers: every
/// request is served, and the primary serves again within the breaker's interval plus 1.5 s.
async fn outage_then_recovery(served: &Served, fake: &FakeUpstream) -> Vec<String> {
    let mut problems = Vec::new();
    let outage_ends = Instant::now() + Duration::from_secs(3);
    let mut during = Vec::new();
    while Instant::now() < outage_ends {
        during.push(ask(served, 6, false).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let Some(bad) = during
        .iter()
        .find(|a| a.status != 200 || a.provider != "f6")
    {
        problems.push(format!("during the outage: {bad:?} (want f6)"));
    }
    fake.set(&primary_secret(6, 0), Behaviour::Ok);
    let recovered_at = Instant::now();
    let deadline = recovered_at + Duration::from_secs(BREAKER_PROBE) + Duration::from_millis(1500);
    loop {
        let got = ask(served, 6, false).await;
        if got.status != 200 {
            problems.push(format!("after the recovery: {got:?}"));
            break;
        }
        if got.provider == "p6" {
            eprintln!(
                "the primary serves again {:?} after its recovery",
                recovered_at.elapsed()
            );
            break;
        }
        if Instant::now() > deadline {
            problems.push(format!(
                "the primary was not used again within {:?} of its recovery",
                deadline - recovered_at
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    problems
}
