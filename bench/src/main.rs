//! `make bench`: how much KeyGate adds on top of an upstream, measured on loopback.
//!
//! Starts the fake upstream and a release `keygate serve`, then drives both with the same
//! requests — directly and through KeyGate — at concurrency 1, 16 and 64, for JSON answers
//! and for streams (time to first byte). Each scenario runs several rounds with the targets
//! interleaved within a round, and reports medians (added latency: the median of each round's
//! own difference), since this machine is shared and noisy. A third scenario (`msg-ttfb`)
//! streams through translation: KeyGate gets an Anthropic Messages request and serves it from
//! the OpenAI-style fake, while the direct and floor targets get the same stream in chat form.
//! Prints a table and writes `bench/results/latest.json`.
//!
//! For scale it also measures two floors: a do-nothing TCP relay process between the client
//! and the upstream (column `relay+`), and a minimal HTTP proxy built from hyper's server and
//! pooled client (column `hyper+`: parses and forwards, nothing else), i.e. what any extra
//! loopback hop through another
//! process costs on this machine before a single HTTP byte is parsed.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::served::{Served, key};
use serde_json::{Value, json};

const SECRET: &str = "sk-bench-0000000000000000000000001";
const RUNS: usize = 7;
/// Direct, the two floors, KeyGate.
const TARGETS: usize = 4;
const REQUESTS_PER_RUN: usize = 2000;
const WARMUP: usize = 200;

/// `KEYGATE_BENCH_REQUESTS` shrinks the runs (e.g. to profile KeyGate under valgrind).
fn requests_per_run() -> usize {
    std::env::var("KEYGATE_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(REQUESTS_PER_RUN)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Stream,
    /// A stream whose client speaks Anthropic Messages to KeyGate, served by the OpenAI-style
    /// fake (translated both ways); the other targets get the same stream in chat form.
    Translated,
}

struct Target {
    url: String,
    auth: String,
    /// Where this target takes a Messages request (`Kind::Translated`); `None` for the
    /// targets that cannot translate, which get the chat request.
    messages_url: Option<String>,
}

/// One run's numbers, in microseconds.
#[derive(Debug, Clone, Copy)]
struct Run {
    p50_us: f64,
    p99_us: f64,
    rps: f64,
    /// Requests sent in this scenario, warm-up and every run included.
    sent: usize,
}

/// The floor: a process that only copies bytes between the client and the upstream (no HTTP
/// parsing at all) — what one extra loopback hop through another process costs here.
/// Run as `keygate-bench --relay-to ADDR`; prints `relay PORT` when listening.
async fn relay(upstream: String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind relay");
    let port = listener.local_addr().expect("addr").port();
    println!("relay {port}");
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let _ = inbound.set_nodelay(true);
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// The second floor: the least an HTTP proxy in Rust does — hyper's server reads the request,
/// hyper's pooled client forwards it, the answer streams back. No routing, no keys, no log.
/// Run as `keygate-bench --hyper-to ADDR`; prints `relay PORT` when listening.
async fn hyper_proxy(upstream: String) {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind hyper proxy");
    println!("relay {}", listener.local_addr().expect("addr").port());
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<_, Full<hyper::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        let _ = inbound.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let (client, upstream) = (client.clone(), upstream.clone());
                    async move {
                        let (mut parts, body) = request.into_parts();
                        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                        parts.uri = format!("http://{upstream}{path}")
                            .parse()
                            .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
                        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
                        client
                            .request(hyper::Request::from_parts(parts, Full::new(body)))
                            .await
                            .map_err(|e| e.to_string())
                    }
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(inbound), service)
                .await;
        });
    }
}

/// Starts a floor (`--relay-to` or `--hyper-to`) as a child process; returns it with its port.
fn spawn_floor(flag: &str, upstream: &str) -> (std::process::Child, u16) {
    use std::io::BufRead;
    let exe = std::env::current_exe().expect("own path");
    let mut child = std::process::Command::new(exe)
        .args([flag, upstream])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn relay");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("relay port");
    let port = line
        .trim()
        .strip_prefix("relay ")
        .and_then(|p| p.parse().ok())
        .expect("relay prints its port");
    (child, port)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, upstream] = args.as_slice() {
        match flag.as_str() {
            "--relay-to" => relay(upstream.clone()).await,
            "--hyper-to" => hyper_proxy(upstream.clone()).await,
            _ => eprintln!("usage: keygate-bench [--relay-to ADDR | --hyper-to ADDR]"),
        }
        return;
    }
    let fake = FakeUpstream::start().await;
    fake.set(SECRET, Behaviour::Ok);
    let base_url = fake.base_url();
    let served = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let secrets = Served::provider(&env, "fake", &base_url, 0, &[key("bench", SECRET)]);
        Served::start(env, secrets)
    })
    .await
    .expect("start keygate");

    let direct = Target {
        url: format!("{}/chat/completions", fake.base_url()),
        auth: SECRET.to_string(),
        messages_url: None,
    };
    let (mut relay_child, relay_port) = spawn_floor("--relay-to", &fake.addr.to_string());
    let relayed = Target {
        url: format!("http://127.0.0.1:{relay_port}/v1/chat/completions"),
        auth: SECRET.to_string(),
        messages_url: None,
    };
    let (mut hyper_child, hyper_port) = spawn_floor("--hyper-to", &fake.addr.to_string());
    let hyper_proxied = Target {
        url: format!("http://127.0.0.1:{hyper_port}/v1/chat/completions"),
        auth: SECRET.to_string(),
        messages_url: None,
    };
    let through = Target {
        url: format!("{}/v1/chat/completions", served.base),
        auth: served.token.clone(),
        messages_url: Some(format!("{}/v1/messages", served.base)),
    };
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");

    let pid = engine_pid(&served);
    let idle_rss_kb = pid.and_then(|pid| proc_status_kb(pid, "VmRSS"));
    let mut sent_through = 0usize;
    let mut results = Vec::new();
    println!(
        "{:<8} {:>3}  {:>10} {:>10} {:>10} {:>10} {:>10}  {:>10} {:>10}  {:>10} {:>9}",
        "kind",
        "c",
        "direct p50",
        "relay+",
        "hyper+",
        "via p50",
        "added p50",
        "direct p99",
        "via p99",
        "added p99",
        "rps via/direct"
    );
    // `KEYGATE_BENCH_ONLY=json:1` runs one scenario (e.g. while profiling KeyGate).
    let only = std::env::var("KEYGATE_BENCH_ONLY").unwrap_or_default();
    for kind in [Kind::Json, Kind::Stream, Kind::Translated] {
        let levels: &[usize] = match kind {
            Kind::Translated => &[1, 16],
            _ => &[1, 16, 64],
        };
        for &concurrency in levels {
            let name = match kind {
                Kind::Json => "json",
                Kind::Stream => "sse-ttfb",
                Kind::Translated => "msg-ttfb",
            };
            if !only.is_empty() && only != format!("{name}:{concurrency}") {
                continue;
            }
            let targets = [&direct, &relayed, &hyper_proxied, &through];
            let m = measure(&client, targets, kind, concurrency).await;
            let (d, k) = (m.direct, m.through);
            sent_through += k.sent;
            println!(
                "{:<8} {:>3}  {:>8.0}us {:>8.0}us {:>8.0}us {:>8.0}us {:>8.0}us  {:>8.0}us {:>8.0}us  {:>8.0}us {:>5.0}/{:<5.0} ({:.0}%)",
                name,
                concurrency,
                d.p50_us,
                m.relay_added_p50_us,
                m.hyper_added_p50_us,
                k.p50_us,
                m.added_p50_us,
                d.p99_us,
                k.p99_us,
                m.added_p99_us,
                k.rps,
                d.rps,
                100.0 * k.rps / d.rps
            );
            results.push(json!({
                "kind": name, "concurrency": concurrency,
                "direct": { "p50_us": d.p50_us, "p99_us": d.p99_us, "rps": d.rps },
                "keygate": { "p50_us": k.p50_us, "p99_us": k.p99_us, "rps": k.rps },
                "added_p50_us": m.added_p50_us, "added_p99_us": m.added_p99_us,
                "tcp_relay_floor_added_p50_us": m.relay_added_p50_us,
                "hyper_proxy_floor_added_p50_us": m.hyper_added_p50_us,
                "throughput_ratio": k.rps / d.rps,
            }));
        }
    }
    let loaded_rss_kb = pid.and_then(|pid| proc_status_kb(pid, "VmRSS"));
    let peak_rss_kb = pid.and_then(|pid| proc_status_kb(pid, "VmHWM"));
    let (logged, lag) = wait_for_log(&served, sent_through).await;
    let cold = cold_start(&fake.base_url()).await;
    let mb = |kb: Option<u64>| kb.map_or(-1.0, |kb| kb as f64 / 1024.0);
    println!(
        "RSS: idle {:.1} MB, after load {:.1} MB, peak {:.1} MB",
        mb(idle_rss_kb),
        mb(loaded_rss_kb),
        mb(peak_rss_kb)
    );
    println!(
        "request log: {logged} of {sent_through} proxied requests saved ({} lost), all saved {:.0} ms after the last answer",
        sent_through.saturating_sub(logged),
        lag.as_secs_f64() * 1000.0
    );
    println!(
        "cold start (spawn keygate serve -> first proxied answer): {:.0} ms",
        cold.as_secs_f64() * 1000.0
    );
    let report = json!({
        "runs_per_scenario": RUNS, "requests_per_run": requests_per_run(), "results": results,
        "rss_mb": { "idle": mb(idle_rss_kb), "after_load": mb(loaded_rss_kb), "peak": mb(peak_rss_kb) },
        "request_log": { "sent": sent_through, "saved": logged, "lost": sent_through.saturating_sub(logged), "lag_ms": lag.as_secs_f64() * 1000.0 },
        "cold_start_ms": cold.as_secs_f64() * 1000.0,
    });
    // `KEYGATE_BENCH_RESULTS` writes elsewhere (a profiling run must not replace the
    // checked-in figures).
    let path = std::env::var_os("KEYGATE_BENCH_RESULTS").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("results")
                .join("latest.json")
        },
        std::path::PathBuf::from,
    );
    if let Err(err) = std::fs::write(
        &path,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    ) {
        eprintln!("could not write {}: {err}", path.display());
    } else {
        println!("wrote {}", path.display());
    }
    for child in [&mut relay_child, &mut hyper_child] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = tokio::task::spawn_blocking(move || served.stop()).await;
}

/// What one scenario measured: the median run of each target, and the added latency as the
/// median of per-round differences.
struct Measured {
    direct: Run,
    through: Run,
    added_p50_us: f64,
    added_p99_us: f64,
    relay_added_p50_us: f64,
    hyper_added_p50_us: f64,
}

/// Runs the scenario `RUNS` rounds against `[direct, relay, hyper, keygate]`, the targets
/// interleaved within each round, so a noisy neighbour slows all three alike; the added
/// latency is the median of the rounds' own differences (paired), not a difference of
/// medians taken minutes apart.
async fn measure(
    client: &reqwest::Client,
    targets: [&Target; TARGETS],
    kind: Kind,
    concurrency: usize,
) -> Measured {
    let mut sent = [0usize; TARGETS];
    for (i, target) in targets.iter().enumerate() {
        let warmup = WARMUP.min(requests_per_run());
        sent[i] += one_run(client, target, kind, concurrency, warmup)
            .await
            .sent;
    }
    let mut rounds: Vec<Vec<Run>> = Vec::new();
    for _ in 0..RUNS {
        let mut round = Vec::with_capacity(TARGETS);
        for target in targets {
            round.push(one_run(client, target, kind, concurrency, requests_per_run()).await);
        }
        rounds.push(round);
    }
    for round in &rounds {
        for (i, run) in round.iter().enumerate() {
            sent[i] += run.sent;
        }
    }
    let median_run = |i: usize| {
        let mut runs: Vec<Run> = rounds.iter().map(|r| r[i]).collect();
        runs.sort_by(|a, b| a.p50_us.total_cmp(&b.p50_us));
        Run {
            sent: sent[i],
            ..runs[RUNS / 2]
        }
    };
    let median_of = |f: &dyn Fn(&[Run]) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(|r| f(r)).collect();
        values.sort_by(f64::total_cmp);
        values[RUNS / 2]
    };
    Measured {
        direct: median_run(0),
        through: median_run(3),
        added_p50_us: median_of(&|r| r[3].p50_us - r[0].p50_us),
        added_p99_us: median_of(&|r| r[3].p99_us - r[0].p99_us),
        relay_added_p50_us: median_of(&|r| r[1].p50_us - r[0].p50_us),
        hyper_added_p50_us: median_of(&|r| r[2].p50_us - r[0].p50_us),
    }
}

async fn one_run(
    client: &reqwest::Client,
    target: &Target,
    kind: Kind,
    concurrency: usize,
    total: usize,
) -> Run {
    let per_worker = total / concurrency;
    let (url, body) = match (&target.messages_url, kind) {
        (Some(url), Kind::Translated) => (
            url.clone(),
            json!({ "model": "gpt-4o-mini", "max_tokens": 64, "messages": [{ "role": "user", "content": "hi" }], "stream": true }),
        ),
        _ => (
            target.url.clone(),
            json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }], "stream": kind != Kind::Json }),
        ),
    };
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let client = client.clone();
        let body = body.clone();
        let url = url.clone();
        let auth = target.auth.clone();
        tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                samples.push(request(&client, &url, &auth, &body, kind).await);
            }
            samples
        })
    });
    let mut samples: Vec<Duration> = futures_util::future::join_all(workers)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap_or_default())
        .collect();
    let elapsed = started.elapsed();
    samples.sort();
    let pct = |p: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * p) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    Run {
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        rps: samples.len() as f64 / elapsed.as_secs_f64(),
        sent: samples.len(),
    }
}

/// Latency of a JSON answer (whole body), or time to the first body bytes of a stream (the
/// rest of the stream is read before the next request).
async fn request(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    body: &Value,
    kind: Kind,
) -> Duration {
    let started = Instant::now();
    let response = client
        .post(url)
        .bearer_auth(auth)
        .json(body)
        .send()
        .await
        .expect("request");
    assert!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    match kind {
        Kind::Json => {
            let _ = response.bytes().await.expect("body");
            started.elapsed()
        }
        Kind::Stream | Kind::Translated => {
            let mut stream = response.bytes_stream();
            let _ = stream.next().await;
            let ttfb = started.elapsed();
            while stream.next().await.is_some() {}
            ttfb
        }
    }
}

/// The engine's pid, from `KEYGATE_HOME/engine.json`.
fn engine_pid(served: &Served) -> Option<u32> {
    let text = std::fs::read_to_string(served.env.home().join("engine.json")).ok()?;
    let info: Value = serde_json::from_str(&text).ok()?;
    info["pid"].as_u64().and_then(|p| u32::try_from(p).ok())
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`).
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Waits (at most 10 s) until the request log holds `sent` rows; returns how many it holds
/// and how long that took after the last answer.
async fn wait_for_log(served: &Served, sent: usize) -> (usize, Duration) {
    let home = served.env.home();
    let started = Instant::now();
    loop {
        let home = home.clone();
        let logged = tokio::task::spawn_blocking(move || {
            let store = keygate_store::Store::open_in(&home).ok()?;
            let rows = store
                .usage_report(
                    "2000-01-01T00:00:00.000Z",
                    "2999-01-01T00:00:00.000Z",
                    keygate_store::GroupBy::Day,
                )
                .ok()?;
            Some(rows.iter().map(|r| r.requests).sum::<u64>() as usize)
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
        if logged >= sent || started.elapsed() > Duration::from_secs(10) {
            return (logged, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// From spawning `keygate serve` (a fresh home with one key) to its first proxied answer.
async fn cold_start(upstream: &str) -> Duration {
    let upstream = upstream.to_string();
    tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let secrets = Served::provider(&env, "fake", &upstream, 0, &[key("cold", SECRET)]);
        let created = env.ok(&["--json", "token", "create", "cold"], "");
        let token = serde_json::from_str::<Value>(&created).expect("token json")["token"]
            .as_str()
            .expect("token")
            .to_string();
        let mut cmd = env.keygate();
        cmd.args(["serve", "--port", "0"])
            .env("KEYGATE_ADMIN_TOKEN", keygate_tests::served::ADMIN_TOKEN)
            .env("KEYGATE_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        for (var, secret) in &secrets {
            cmd.env(var, secret);
        }
        let client = reqwest::blocking::Client::new();
        let body =
            json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
        let started = Instant::now();
        let (mut child, url) = keygate_tests::served::spawn_and_read_url(&mut cmd);
        let base = url.split("/#token=").next().unwrap_or_default().to_string();
        let took = loop {
            let ok = client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ok || started.elapsed() > Duration::from_secs(10) {
                break started.elapsed();
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        took
    })
    .await
    .unwrap_or_default()
}
