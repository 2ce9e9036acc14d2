//! Bad input (issue 11): property tests over the pure parsers (import files, the SSE
//! translators) and, over real sockets, random request bodies, oversized headers and bodies,
//! and slowloris clients. Case counts are kept small so the file runs in seconds.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use keygate_core::import::{parse_csv, parse_toml};
use keygate_core::translate::{ChatStreamToMessages, MessagesStreamToChat};
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{chat, post, setup_with_settings};
use keygate_tests::reliability::{assert_no_panic, assert_no_secret_anywhere};
use keygate_tests::served::key;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

const MARKER: &str = "sk-PROPSECRET";

fn no_env(_: &str) -> Option<String> {
    None
}

/// Cells that may break a CSV row: quotes, separators, new lines, unicode, numbers.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{0,12}",
        "[0-9.-]{0,6}",
        r#"[ a-z",;\n\r'é${}]{0,10}"#,
        Just("openai".to_string()),
        Just("${HOME}".to_string()),
        Just("env:VAR".to_string()),
    ]
}

/// Cells that keep a row's columns where they are (no separators, quotes or line ends), so
/// the secret stays in the secret column. A row that lost a field can move a secret into
/// another column, whose error then quotes it (issue 11 finding).
fn plain_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{0,12}",
        "[0-9.-]{0,6}",
        "[ a-z'é${}]{0,10}",
        Just("openai".to_string()),
        Just("${HOME}".to_string()),
        Just("env:VAR".to_string()),
    ]
}

fn lines_in(text: &str) -> usize {
    text.lines().count().max(1) + 1
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(256) })]

    #[test]
    fn csv_import_never_panics_and_errors_name_a_line(text in "\\PC{0,200}") {
        if let Err(errors) = parse_csv("keys.csv", &text, &no_env) {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(e.line >= 1 && e.line <= lines_in(&text), "{e} in {text:?}");
                let prefix = format!("keys.csv:{}:", e.line);
                prop_assert!(e.to_string().starts_with(&prefix), "{e}");
            }
        }
    }

    #[test]
    fn csv_rows_with_junk_never_quote_the_secret(
        header in proptest::sample::subsequence(keygate_core::import::CSV_COLUMNS.to_vec(), 1..6),
        rows in proptest::collection::vec((proptest::collection::vec(plain_cell(), 0..7), r#"[a-z" ,;\\]{0,8}"#), 0..5),
    ) {
        let mut columns: Vec<&str> = header.clone();
        if !columns.contains(&"secret") {
            columns.push("secret");
        }
        let secret_at = columns.iter().position(|c| *c == "secret").unwrap_or(0);
        let mut text = columns.join(",") + "\n";
        for (cells, junk) in &rows {
            let mut cells = cells.clone();
            cells.resize(columns.len(), String::new());
            cells[secret_at] = format!("{MARKER}{junk}");
            text.push_str(&cells.join(","));
            text.push('\n');
        }
        if let Err(errors) = parse_csv("keys.csv", &text, &no_env) {
            for e in errors {
                prop_assert!(e.line >= 1 && e.line <= lines_in(&text), "{e} in {text:?}");
                prop_assert!(!e.message.contains(MARKER), "{e} quotes the secret of {text:?}");
            }
        }
    }

    #[test]
    fn toml_import_never_panics_and_never_quotes_the_secret(
        provider in cell(),
        junk in r#"[a-z"\\ \n'=\[\]{}é]{0,10}"#,
        priority in "[0-9a-z\"-]{0,4}",
        extra in prop_oneof![Just(String::new()), Just("secret_env = \"X\"\n".to_string()), Just("nope = 1\n".to_string()), Just("[[key]]\n".to_string())],
    ) {
        let text = format!(
            "[[key]]\nprovider = \"{provider}\"\nsecret = \"{MARKER}{junk}\"\npriority = {priority}\n{extra}"
        );
        if let Err(errors) = parse_toml("keys.toml", &text, &no_env) {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(e.line >= 1 && e.line <= lines_in(&text), "{e} in {text:?}");
                prop_assert!(!e.message.contains(MARKER), "{e} quotes the secret of {text:?}");
            }
        }
    }

    #[test]
    fn toml_garbage_never_panics(text in "\\PC{0,200}") {
        if let Err(errors) = parse_toml("keys.toml", &text, &no_env) {
            for e in errors {
                prop_assert!(e.line >= 1 && e.line <= lines_in(&text), "{e} in {text:?}");
            }
        }
    }
}

/// An OpenAI stream with text (multi-byte characters included), a tool call in pieces, the
/// finish chunk, usage and `[DONE]`.
fn openai_stream() -> String {
    let chunk = |delta: Value, finish: Value| {
        let body = json!({ "id": "chatcmpl-p", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
        format!("data: {body}\n\n")
    };
    let mut s = chunk(json!({ "role": "assistant", "content": "" }), Value::Null);
    s += &chunk(json!({ "content": "Grüße — ☀️ " }), Value::Null);
    s += &chunk(json!({ "content": "你好" }), Value::Null);
    s += &chunk(
        json!({ "tool_calls": [{ "index": 0, "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "" } }] }),
        Value::Null,
    );
    for piece in ["{\"city\":", " \"Pa", "ris\"}"] {
        s += &chunk(
            json!({ "tool_calls": [{ "index": 0, "function": { "arguments": piece } }] }),
            Value::Null,
        );
    }
    s += &chunk(json!({}), json!("tool_calls"));
    let usage = json!({ "id": "chatcmpl-p", "object": "chat.completion.chunk", "model": "m", "choices": [],
        "usage": { "prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13 } });
    s + &format!(": keep-alive comment\n\ndata: {usage}\n\ndata: [DONE]\n\n")
}

/// An Anthropic stream with CRLF line ends: text, a tool_use block in pieces, usage.
fn anthropic_stream() -> String {
    let frame = |data: Value| {
        format!(
            "event: {}\ndata: {data}\n\n",
            data["type"].as_str().unwrap_or_default()
        )
    };
    let mut s = frame(
        json!({ "type": "message_start", "message": { "id": "msg_p", "type": "message", "role": "assistant",
        "model": "claude", "content": [], "stop_reason": null, "usage": { "input_tokens": 9, "output_tokens": 1,
        "cache_read_input_tokens": 3 } } }),
    );
    s += "event: ping\ndata: {\"type\": \"ping\"}\n\n";
    s += &frame(
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
    );
    for text in ["Grüße — ", "☀️ 你好"] {
        s += &frame(
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text } }),
        );
    }
    s += &frame(json!({ "type": "content_block_stop", "index": 0 }));
    s += &frame(
        json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "tool_use", "id": "toolu_p", "name": "weather", "input": {} } }),
    );
    for piece in ["{\"city\":", " \"Pa", "ris\"}"] {
        s += &frame(
            json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": piece } }),
        );
    }
    s += &frame(json!({ "type": "content_block_stop", "index": 1 }));
    s += &frame(
        json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use" }, "usage": { "output_tokens": 4 } }),
    );
    s += &frame(json!({ "type": "message_stop" }));
    s.replace('\n', "\r\n")
}

/// Everything a translator emits for `bytes` fed in pieces cut at `cuts`, then `finish`;
/// an error ends the run (its text is part of the result, so errors must agree too).
fn translate<T>(
    mut translator: T,
    push: fn(&mut T, &[u8]) -> Result<Vec<u8>, keygate_core::translate::TranslateError>,
    finish: fn(&mut T) -> Result<Vec<u8>, keygate_core::translate::TranslateError>,
    bytes: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, Option<String>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        match push(&mut translator, &bytes[from..cut]) {
            Ok(o) => out.extend(o),
            Err(e) => return (out, Some(e.to_string())),
        }
        from = cut;
    }
    match finish(&mut translator) {
        Ok(o) => out.extend(o),
        Err(e) => return (out, Some(e.to_string())),
    }
    (out, None)
}

fn chat_to_messages(bytes: &[u8], cuts: &[usize]) -> (Vec<u8>, Option<String>) {
    translate(
        ChatStreamToMessages::new("m"),
        ChatStreamToMessages::push,
        ChatStreamToMessages::finish,
        bytes,
        cuts,
    )
}

fn messages_to_chat(bytes: &[u8], cuts: &[usize]) -> (Vec<u8>, Option<String>) {
    translate(
        MessagesStreamToChat::new("m"),
        MessagesStreamToChat::push,
        MessagesStreamToChat::finish,
        bytes,
        cuts,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(200) })]

    #[test]
    fn an_openai_stream_cut_anywhere_translates_the_same(cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        let bytes = openai_stream();
        let whole = chat_to_messages(bytes.as_bytes(), &[]);
        prop_assert!(whole.1.is_none(), "{:?}", whole.1);
        prop_assert_eq!(chat_to_messages(bytes.as_bytes(), &cuts), whole);
    }

    #[test]
    fn an_anthropic_stream_cut_anywhere_translates_the_same(cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        let bytes = anthropic_stream();
        let whole = messages_to_chat(bytes.as_bytes(), &[]);
        prop_assert!(whole.1.is_none(), "{:?}", whole.1);
        prop_assert_eq!(messages_to_chat(bytes.as_bytes(), &cuts), whole);
    }

    #[test]
    fn garbage_streams_never_panic_the_translators(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        chat_to_messages(&bytes, &cuts);
        messages_to_chat(&bytes, &cuts);
    }

    #[test]
    fn damaged_streams_never_panic_the_translators(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        for mut bytes in [openai_stream().into_bytes(), anthropic_stream().into_bytes()] {
            let len = bytes.len();
            for (at, byte) in &flips {
                bytes[at % len] = *byte;
            }
            chat_to_messages(&bytes, &cuts);
            messages_to_chat(&bytes, &cuts);
        }
    }
}

/// JSON-ish request bodies: valid objects with odd field types, truncated JSON, arrays, huge
/// numbers, deep nesting, invalid UTF-8.
fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    let scalar = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    let value = scalar.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let field = prop_oneof![
        Just("model"),
        Just("stream"),
        Just("stream_options"),
        Just("user"),
        Just("prompt_cache_key"),
        Just("metadata"),
        Just("messages"),
        Just("x"),
    ];
    let object = proptest::collection::vec((field, value.clone()), 0..6).prop_map(|fields| {
        let mut text = String::from("{");
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            // Duplicate keys are possible on purpose.
            text.push_str(&format!("\"{name}\":{value}"));
        }
        text.push('}');
        text.into_bytes()
    });
    prop_oneof![
        4 => object.clone(),
        1 => (object, any::<usize>()).prop_map(|(b, cut)| b[..cut % (b.len() + 1)].to_vec()),
        1 => value.prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => (1usize..2000).prop_map(|depth| ("{\"model\":".to_string() + &"[".repeat(depth)).into_bytes()),
        1 => Just(b"{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":\"yes\"},\"messages\":[]}".to_vec()),
        1 => Just(b"{\"model\":\"gpt-4o-mini\",\"model\":\"x\"}".to_vec()),
        1 => Just(b"{\"model\":\"\xff\xfe\"}".to_vec()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn random_request_bodies_get_an_answer_or_a_clean_4xx_never_a_crash() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-input-prop-SECRET0000001";
    fake.set(secret, Behaviour::Ok);
    let served = setup_with_settings(&fake, &[key("prop", secret)], &[]).await;
    let mut runner = TestRunner::deterministic();
    let strategy = body_strategy();
    let bodies: Vec<Vec<u8>> = (0..150)
        .map(|_| strategy.new_tree(&mut runner).expect("body").current())
        .collect();
    let client = reqwest::Client::new();
    let mut captured = String::new();
    let mut seen = std::collections::BTreeMap::new();
    for body in &bodies {
        for path in ["/v1/chat/completions", "/v1/messages"] {
            let response = client
                .post(format!("{}{path}", served.base))
                .bearer_auth(&served.token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!("no answer for {:?}: {e}", String::from_utf8_lossy(body))
                });
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            assert!(
                status == 200 || (400..500).contains(&status),
                "{path} answered {status} for {:?}: {text}",
                String::from_utf8_lossy(body)
            );
            if status != 200 {
                let error: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("{path}: a 4xx that is not JSON: {text}"));
                assert!(error["error"]["message"].is_string(), "{error}");
            }
            *seen.entry((path, status)).or_insert(0) += 1;
            captured.push_str(&text);
        }
    }
    eprintln!("statuses: {seen:?}");
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200, "still serving");
    let (log, env) = served.stop_keeping_home();
    assert_no_panic(&log);
    assert_no_secret_anywhere(&env, &log, &captured, [secret]);
}

/// Sends raw bytes on a fresh connection and returns the status line's code (0: closed).
fn raw_status(addr: &str, request: &[u8]) -> u16 {
    raw_status_within(addr, request, Duration::from_secs(10))
}

/// Like [`raw_status`], giving up (0) after `wait` without an answer.
fn raw_status_within(addr: &str, request: &[u8], wait: Duration) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    // The server may answer and close before it read everything: that is allowed.
    let _ = stream.write_all(request);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_headers_and_bodies_get_a_clean_4xx_and_serving_goes_on() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-input-big-SECRET00000001";
    fake.set(secret, Behaviour::Ok);
    let served = setup_with_settings(
        &fake,
        &[key("big", secret)],
        &[
            ("proxy.body_limit_mib", 1),
            ("proxy.idle_timeout_seconds", 1),
        ],
    )
    .await;
    let addr = served.base.trim_start_matches("http://").to_string();
    let token = served.token.clone();
    let statuses = tokio::task::spawn_blocking(move || {
        let big_header = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\n{{}}",
            "a".repeat(1024 * 1024)
        );
        let many_headers = format!(
            "GET /api/health HTTP/1.1\r\nHost: {addr}\r\n{}\r\n",
            (0..500).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
        );
        let body = format!("{{\"model\":\"gpt-4o-mini\",\"messages\":[],\"x\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
        let big_body = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let chunked = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        let lying_length = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n{{}}"
        );
        [
            ("1 MB header", raw_status(&addr, big_header.as_bytes())),
            ("500 headers", raw_status(&addr, many_headers.as_bytes())),
            ("2 MB body", raw_status(&addr, big_body.as_bytes())),
            ("2 MB chunked body", raw_status(&addr, chunked.as_bytes())),
        ]
        .into_iter()
        .chain(std::iter::once(("100 GB content-length", lying_length)).map(|(what, request)| {
            // The body never comes: answered 408 once the idle timeout (1 s here) passes.
            (what, raw_status_within(&addr, request.as_bytes(), Duration::from_secs(5)))
        }))
        .collect::<Vec<_>>()
    })
    .await
    .expect("raw requests");
    for (what, status) in statuses {
        if what == "100 GB content-length" {
            assert_eq!(status, 408, "{what}");
            continue;
        }
        assert!(
            (400..500).contains(&status),
            "{what}: answered {status}, want a 4xx"
        );
    }
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200, "still serving");
    let (log, env) = served.stop_keeping_home();
    assert_no_panic(&log);
    assert_no_secret_anywhere(&env, &log, "", [secret]);
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_connections_do_not_slow_down_normal_requests() {
    let fake = FakeUpstream::start().await;
    let secret = "sk-fake-input-slow-SECRET0000001";
    fake.set(secret, Behaviour::Ok);
    let served = setup_with_settings(&fake, &[key("slow", secret)], &[]).await;
    let addr = served.base.trim_start_matches("http://").to_string();
    // N clients each dribble a request's headers one byte per 100 ms and never finish.
    let slow_clients = 200;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drips: Vec<_> = (0..slow_clients)
        .map(|_| {
            let (addr, stop) = (addr.clone(), stop.clone());
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut stream = tokio::net::TcpStream::connect(&addr)
                    .await
                    .expect("connect");
                let head = format!(
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nX-Pad: {}",
                    "a".repeat(10_000)
                );
                let mut sent = 0;
                for byte in head.bytes() {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    if stream.write_all(&[byte]).await.is_err() {
                        // The server closed the connection: a header timeout.
                        return (sent, true);
                    }
                    sent += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (sent, false)
            })
        })
        .collect();
    // Meanwhile normal requests stay fast.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        let response = post(&served, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(response.status(), 200);
        slowest = slowest.max(t.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut closed_by_server = 0;
    for drip in drips {
        let (_, closed) = drip.await.expect("drip");
        closed_by_server += usize::from(closed);
    }
    eprintln!(
        "slowest normal request {slowest:?} beside {slow_clients} slowloris connections; \
         {closed_by_server} of them closed by the server within 3 s"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "normal requests slowed to {slowest:?}"
    );
    let (log, env) = served.stop_keeping_home();
    assert_no_panic(&log);
    assert_no_secret_anywhere(&env, &log, "", [secret]);
}
