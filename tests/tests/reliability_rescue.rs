//! Stream rescue (issue 18): a stream that breaks off or stalls after its text began used to
//! end with a clean `stream_broken` error although a healthy fallback was configured; the
//! caller lost the answer. Now the fallback continues it and the continuation is spliced into
//! the same client stream: one well-formed stream with the whole answer, one terminal event,
//! the first answer's ids, usage adding both attempts, both attempts in the log.
//!
//! Each case runs on a route of its own, `rN` → `pN` (the broken primary) then `fN` (the
//! fallback), all in one engine. The fake answers a continuation request as a perfect model
//! would: with what follows the partial answer it carries.

use std::time::{Duration, Instant};

use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream, LONG_PIECES, long_answer};
use keygate_tests::proxy_client::sse_events;
use keygate_tests::reliability::{admin, assert_no_panic, wait_for_logged};
use keygate_tests::served::{Served, key};
use serde_json::{Value, json};

/// `proxy.stream_stall_seconds` of the engine under test.
const STALL: u64 = 1;

/// The client's protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Client {
    Chat,
    Messages,
    Responses,
}

struct Case {
    client: Client,
    /// (kind, model, behaviour) of the primary and the fallback.
    primary: (&'static str, &'static str, Behaviour),
    fallback: (&'static str, &'static str, Behaviour),
    /// The chat request names a tool.
    tools: bool,
}

const fn case(
    client: Client,
    primary: (&'static str, &'static str, Behaviour),
    fallback: (&'static str, &'static str, Behaviour),
) -> Case {
    Case {
        client,
        primary,
        fallback,
        tools: false,
    }
}

const CUT: Behaviour = Behaviour::LongCutAfter(40);
const GPT: &str = "gpt-4o-mini";
/// Takes a prefill (`keygate_core::models::continuation`).
const CLAUDE_PREFILL: &str = "claude-3-7-sonnet-20250219";
/// Takes a prefill by the catalog; the fake refuses it (`RejectsPrefill`), as a provider
/// whose model changed would.
const CLAUDE_REFUSING: &str = "claude-sonnet-4-5";

fn cases() -> Vec<Case> {
    vec![
        // 0: chat, cut after 40 of 60 pieces, continued by instruction on an OpenAI model.
        case(
            Client::Chat,
            ("openai", GPT, CUT),
            ("openai", "gpt-4o", Behaviour::Long),
        ),
        // 1: chat, silent after 20 pieces: rescued within the stall limit + 2 s.
        case(
            Client::Chat,
            ("openai", GPT, Behaviour::LongStallAfter(20)),
            ("openai", "gpt-4o", Behaviour::Long),
        ),
        // 2: Messages, continued by prefill on an older Claude model.
        case(
            Client::Messages,
            ("anthropic", CLAUDE_PREFILL, CUT),
            ("anthropic", CLAUDE_PREFILL, Behaviour::Long),
        ),
        // 3: Messages, the fallback refuses the prefill: asked again by instruction, and the
        //    refusal never reaches the client.
        case(
            Client::Messages,
            ("anthropic", CLAUDE_PREFILL, CUT),
            ("anthropic", CLAUDE_REFUSING, Behaviour::RejectsPrefill),
        ),
        // 4: Responses, continued by instruction.
        case(
            Client::Responses,
            ("openai", GPT, CUT),
            ("openai", "gpt-4o", Behaviour::Long),
        ),
        // 5: Messages client, continued by an OpenAI-kind fallback through translation.
        case(
            Client::Messages,
            ("anthropic", CLAUDE_PREFILL, CUT),
            ("openai", "gpt-4o", Behaviour::Long),
        ),
        // 6: chat client, continued by an Anthropic fallback (a prefill, translated).
        case(
            Client::Chat,
            ("openai", GPT, CUT),
            ("anthropic", CLAUDE_PREFILL, Behaviour::Long),
        ),
        // 7: Messages, Anthropic's mid-stream `overloaded_error` after 30 pieces: held back
        //    from the client, and the answer continued by the fallback.
        case(
            Client::Messages,
            ("anthropic", CLAUDE_PREFILL, Behaviour::LongErrorAfter(30)),
            ("anthropic", CLAUDE_PREFILL, Behaviour::Long),
        ),
        // 8: a tool call in flight is not continued: a clean stream_broken, the fallback
        //    never asked.
        Case {
            tools: true,
            ..case(
                Client::Chat,
                ("openai", GPT, Behaviour::CutAfter(2)),
                ("openai", "gpt-4o", Behaviour::Ok),
            )
        },
    ]
}

fn secret(role: &str, case: usize) -> String {
    format!("sk-fake-rescue-{role}{case}-SECRET000000000000")
}

fn base_url(fake: &FakeUpstream, kind: &str) -> String {
    match kind {
        "anthropic" => format!("http://{}", fake.addr),
        _ => fake.base_url(),
    }
}

async fn serve(fake: &FakeUpstream, cases: &[Case]) -> Served {
    let providers: Vec<[(String, String, String, String); 2]> = cases
        .iter()
        .enumerate()
        .map(|(n, case)| {
            let provider = |role: &str, (kind, model, _): &(&str, &str, Behaviour)| {
                (
                    format!("{role}{n}"),
                    kind.to_string(),
                    base_url(fake, kind),
                    model.to_string(),
                )
            };
            [provider("p", &case.primary), provider("f", &case.fallback)]
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let mut secrets = Vec::new();
        for (n, pair) in providers.iter().enumerate() {
            for (priority, (name, kind, url, _)) in pair.iter().enumerate() {
                let role = &name[..1];
                secrets.extend(Served::provider_of_kind(
                    &env,
                    name,
                    kind,
                    url,
                    priority as i64,
                    &[key(name, &secret(role, n))],
                ));
            }
            let tiers: Vec<String> = pair
                .iter()
                .map(|(name, _, _, model)| format!("{name}:{model}"))
                .collect();
            env.ok(
                &["route", "add", &format!("r{n}"), "--to", &tiers.join(",")],
                "",
            );
        }
        env.ok(
            &[
                "settings",
                "set",
                "proxy.stream_stall_seconds",
                &STALL.to_string(),
            ],
            "",
        );
        Served::start(env, secrets)
    })
    .await
    .expect("setup")
}

/// The request a client of `case` sends on route `r{n}`.
fn request(n: usize, case: &Case) -> (&'static str, Value) {
    let model = format!("r{n}");
    let messages = json!([{ "role": "user", "content": "Tell me a long story" }]);
    match case.client {
        Client::Chat => {
            let mut body = json!({ "model": model, "messages": messages, "stream": true,
                "stream_options": { "include_usage": true } });
            if case.tools {
                body["tools"] = json!([{ "type": "function", "function": { "name": "weather",
                    "parameters": { "type": "object", "properties": {} } } }]);
            }
            ("/v1/chat/completions", body)
        }
        Client::Messages => (
            "/v1/messages",
            json!({ "model": model, "max_tokens": 1000, "messages": messages, "stream": true }),
        ),
        Client::Responses => (
            "/v1/responses",
            json!({ "model": model, "input": "Tell me a long story", "stream": true }),
        ),
    }
}

/// The events of an SSE body: (event name, data as JSON, or a string for `[DONE]`).
fn events(body: &str) -> Vec<(String, Value)> {
    sse_events(body)
}

struct Got {
    status: u16,
    body: String,
    took: Duration,
}

async fn ask(served: &Served, n: usize, case: &Case) -> Got {
    let started = Instant::now();
    let (path, body) = request(n, case);
    let response = reqwest::Client::new()
        .post(format!("{}{path}", served.base))
        .bearer_auth(&served.token)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("the engine answers");
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Got {
        status,
        body,
        took: started.elapsed(),
    }
}

/// The text of a stream in `client`'s protocol, and what is wrong with its shape.
fn check_stream(client: Client, body: &str) -> (String, Vec<String>) {
    let events = events(body);
    let mut problems = Vec::new();
    let mut text = String::new();
    let count = |kind: &str| events.iter().filter(|(_, e)| e["type"] == kind).count();
    match client {
        Client::Chat => {
            let ids: std::collections::BTreeSet<String> = events
                .iter()
                .filter_map(|(_, e)| e["id"].as_str().map(str::to_string))
                .collect();
            if ids.len() != 1 {
                problems.push(format!("chunk ids {ids:?}"));
            }
            for (_, e) in &events {
                text.push_str(
                    e["choices"][0]["delta"]["content"]
                        .as_str()
                        .unwrap_or_default(),
                );
            }
            let finishes = events
                .iter()
                .filter(|(_, e)| e["choices"][0]["finish_reason"].is_string())
                .count();
            let roles = events
                .iter()
                .filter(|(_, e)| e["choices"][0]["delta"]["role"].is_string())
                .count();
            if finishes != 1 || roles > 1 {
                problems.push(format!("{finishes} finish chunks, {roles} role chunks"));
            }
            if !body.trim_end().ends_with("data: [DONE]") || body.matches("[DONE]").count() != 1 {
                problems.push("not one [DONE] at the end".into());
            }
        }
        Client::Messages => {
            for (_, e) in &events {
                if e["type"] == "content_block_delta" {
                    if e["index"] != 0 {
                        problems.push(format!("a delta for block {}", e["index"]));
                    }
                    text.push_str(e["delta"]["text"].as_str().unwrap_or_default());
                }
            }
            for kind in [
                "message_start",
                "message_stop",
                "message_delta",
                "content_block_start",
            ] {
                if count(kind) != 1 {
                    problems.push(format!("{} {kind}", count(kind)));
                }
            }
            if count("error") != 0 {
                problems.push("an error event".into());
            }
        }
        Client::Responses => {
            for (_, e) in &events {
                if e["type"] == "response.output_text.delta" {
                    text.push_str(e["delta"].as_str().unwrap_or_default());
                }
            }
            for kind in [
                "response.created",
                "response.completed",
                "response.output_item.added",
            ] {
                if count(kind) != 1 {
                    problems.push(format!("{} {kind}", count(kind)));
                }
            }
            let numbers: Vec<u64> = events
                .iter()
                .filter_map(|(_, e)| e["sequence_number"].as_u64())
                .collect();
            if numbers.windows(2).any(|w| w[1] != w[0] + 1) {
                problems.push(format!("sequence numbers {numbers:?}"));
            }
            let completed = events
                .iter()
                .find(|(_, e)| e["type"] == "response.completed")
                .map(|(_, e)| e["response"]["output"][0]["content"][0]["text"].clone());
            if completed != Some(json!(long_answer())) {
                problems.push(format!("response.completed text {completed:?}"));
            }
        }
    }
    (text, problems)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_broken_after_its_text_began_is_continued_by_the_fallback_in_one_stream() {
    let fake = FakeUpstream::start().await;
    let cases = cases();
    for (n, case) in cases.iter().enumerate() {
        fake.set(&secret("p", n), case.primary.2.clone());
        fake.set(&secret("f", n), case.fallback.2.clone());
    }
    let served = serve(&fake, &cases).await;
    let answers = futures_util::future::join_all(
        cases
            .iter()
            .enumerate()
            .map(|(n, case)| ask(&served, n, case)),
    )
    .await;
    wait_for_logged(&served, cases.len(), Duration::from_secs(10)).await;
    let (_, logs) = admin(&served, reqwest::Method::GET, "/api/logs?limit=100", None).await;
    let rows = logs["requests"].as_array().cloned().unwrap_or_default();
    let row = |n: usize| {
        rows.iter()
            .find(|r| r["model_requested"] == format!("r{n}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let received = fake.received();
    let asked = |role: &str, n: usize| {
        received
            .iter()
            .filter(|r| r.key == secret(role, n))
            .map(|r| r.body.clone())
            .collect::<Vec<_>>()
    };

    let mut report = Vec::new();
    for (n, (case, got)) in cases.iter().zip(&answers).enumerate() {
        let mut problems = Vec::new();
        if got.status != 200 {
            problems.push(format!("status {}", got.status));
        }
        let (text, shape) = check_stream(case.client, &got.body);
        let row = row(n);
        if case.tools {
            // Not continued: the tool call's stream ends with the clean error, as before.
            if !got.body.contains("stream_broken") || got.body.contains("[DONE]") {
                problems.push(format!("not a clean stream_broken: {:?}", got.body));
            }
            if !asked("f", n).is_empty() {
                problems.push("the fallback was asked to continue a tool call".into());
            }
            report.extend(problems.into_iter().map(|p| format!("case {n}: {p}")));
            continue;
        }
        problems.extend(shape);
        if text != long_answer() {
            problems.push(format!("text {text:?}"));
        }
        if ["prefill", "stream_broken", "overloaded"]
            .iter()
            .any(|word| got.body.contains(word))
        {
            problems.push(format!("a failure reached the client: {:?}", got.body));
        }
        let attempts = row["attempts"].as_array().map_or(0, Vec::len);
        let want = if n == 3 { 3 } else { 2 };
        if attempts != want || row["status"] != 200 || !row["error_class"].is_null() {
            problems.push(format!("logged {row}"));
        }
        // Both attempts' tokens: more than the continuation alone gave.
        let before = match n {
            1 => 20,
            7 => 30,
            _ => 40,
        };
        let rest = (LONG_PIECES - before) as u64;
        if row["completion_tokens"].as_u64().unwrap_or(0) <= rest {
            problems.push(format!("completion tokens {} ", row["completion_tokens"]));
        }
        if asked("p", n).len() != 1 {
            problems.push(format!(
                "the broken primary was asked {} times",
                asked("p", n).len()
            ));
        }
        let continuation = asked("f", n).last().cloned().unwrap_or(Value::Null);
        let history = match case.client {
            Client::Responses => continuation["input"].clone(),
            _ => continuation["messages"].clone(),
        };
        let last = history.as_array().and_then(|m| m.last()).cloned();
        let prefilled = last.as_ref().is_some_and(|m| m["role"] == "assistant");
        // An Anthropic model that takes a prefill gets one; every other the instruction.
        if prefilled != (case.fallback.1 == CLAUDE_PREFILL) {
            problems.push(format!("the continuation ended with {last:?}"));
        }
        if n == 1 && got.took > Duration::from_secs(STALL + 2) {
            problems.push(format!("a stall rescued after {:?}", got.took));
        }
        report.extend(problems.into_iter().map(|p| format!("case {n}: {p}")));
    }
    if let Some(usage) = events(&answers[0].body)
        .iter()
        .find_map(|(_, e)| e["usage"].as_object().cloned())
    {
        // The client's usage chunk adds the broken attempt's (estimated) tokens.
        assert!(
            usage["completion_tokens"].as_u64().unwrap_or(0) > 20,
            "{usage:?}"
        );
    } else {
        report.push("case 0: no usage chunk".into());
    }
    let log = served.stop();
    assert!(report.is_empty(), "{}", report.join("\n"));
    assert_no_panic(&log);
}
