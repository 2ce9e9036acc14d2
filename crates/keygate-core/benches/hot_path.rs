//! Micro-benchmarks of the pure pieces on (or near) the request path: key selection,
//! failure classification, and reading usage out of SSE streams while translating them.
//! `cargo bench -p keygate-core` prints nanoseconds per operation (median of 5 batches); no
//! framework, so nothing extra is built for it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use keygate_core::failure::{UpstreamOutcome, classify};
use keygate_core::redact::{Redactor, mentions_error};
use keygate_core::select::{Candidate, Strategy, try_order};
use keygate_core::translate::{ChatStreamToMessages, MessagesStreamToChat};

/// Runs `op` in 5 batches of `n` and prints the median time per call.
fn bench(name: &str, n: u32, mut op: impl FnMut()) {
    let mut batches: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..n {
                op();
            }
            started.elapsed() / n
        })
        .collect();
    batches.sort();
    println!("{name:<52} {:>9.0} ns/op", batches[2].as_nanos() as f64);
}

fn candidates(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            priority: (i % 3) as i64,
            weight: 1 + (i % 4) as u32,
            available: i % 7 != 3,
            uses: (i * 37) as u64,
            latency_us: 200 + (i * 13) as u64,
            cost: 0,
            headroom: (i % 2 == 0).then_some(100 + i as u64),
        })
        .collect()
}

fn chat_stream() -> Vec<u8> {
    let mut text = String::new();
    for word in ["Hello", " there", ", how", " can", " I", " help", "?"] {
        text.push_str(&format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}}}}]}}\n\n"
        ));
    }
    text.push_str("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    text.push_str("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}\n\n");
    text.push_str("data: [DONE]\n\n");
    text.into_bytes()
}

fn messages_stream() -> Vec<u8> {
    let mut text = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":11,\"output_tokens\":1,\"cache_read_input_tokens\":2}}}\n\n\
         event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    );
    for word in ["Hello", " there", ", how", " can", " I", " help", "?"] {
        text.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{word}\"}}}}\n\n"
        ));
    }
    text.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
         event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n\
         event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    text.into_bytes()
}

fn main() {
    // Redaction: what a successful stream pays per chunk (one byte search), and what an
    // error body pays (the scan for the provider's secrets).
    let content = chat_stream();
    bench(
        "redact: mentions_error on a whole content stream",
        100_000,
        || {
            black_box(mentions_error(black_box(&content)));
        },
    );
    let redactor = Redactor::new([
        "sk-proj-Q7vXn2Lm9KpR4tWz8YbC3dFg6HjS1aE5uN0oIq",
        "sk-proj-Zr8Tq3Wm6Np1Ks9Lx4Vc7Bd2Gf5Hj0YuE6iOa",
    ]);
    let error = br#"{"error":{"message":"Incorrect API key provided: sk-proj-Q7vXn2Lm9KpR4tWz8YbC3dFg6HjS1aE5uN0oIq. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    bench(
        "redact: an OpenAI 401 body with the key in it",
        20_000,
        || {
            black_box(redactor.redact_bytes(black_box(error)));
        },
    );

    for (label, n) in [("key selection, 4 keys", 4), ("key selection, 64 keys", 64)] {
        let keys = candidates(n);
        for strategy in [
            Strategy::Priority,
            Strategy::Weighted,
            Strategy::LowestLatency,
        ] {
            let mut rotation = 0usize;
            bench(&format!("{label}, {strategy}"), 200_000, || {
                rotation += 1;
                black_box(try_order(strategy, black_box(&keys), rotation, 0x9e37_79b9));
            });
        }
    }
    let outcomes = [
        UpstreamOutcome::Answered {
            status: 200,
            error_code: None,
            retry_after: None,
        },
        UpstreamOutcome::Answered {
            status: 429,
            error_code: Some("rate_limit_exceeded".into()),
            retry_after: Some(Duration::from_secs(3)),
        },
        UpstreamOutcome::Answered {
            status: 401,
            error_code: Some("invalid_api_key".into()),
            retry_after: None,
        },
        UpstreamOutcome::Timeout,
    ];
    bench("classification (4 outcomes)", 500_000, || {
        for outcome in &outcomes {
            black_box(classify(black_box(outcome)));
        }
    });
    let chat = chat_stream();
    bench(
        "chat SSE -> Messages, 10 events, usage read",
        20_000,
        || {
            let mut t = ChatStreamToMessages::new("m");
            black_box(t.push(black_box(&chat)).ok());
            black_box(t.finish().ok());
            black_box(t.usage());
        },
    );
    let messages = messages_stream();
    bench(
        "Messages SSE -> chat, 12 events, usage read",
        20_000,
        || {
            let mut t = MessagesStreamToChat::new("m");
            black_box(t.push(black_box(&messages)).ok());
            black_box(t.finish().ok());
            black_box(t.usage());
        },
    );
    bench("chat SSE split into 64-byte reads", 20_000, || {
        let mut t = ChatStreamToMessages::new("m");
        for piece in chat.chunks(64) {
            black_box(t.push(piece).ok());
        }
        black_box(t.finish().ok());
    });
}
