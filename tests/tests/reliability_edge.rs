//! The HTTP edge of `keygate serve` under an adversarial pass (issue 22, items 4, 11, 12):
//! connections that never send a byte are closed and cannot lock clients out; one address
//! gets only its share of connections; every name a request carries passes the Host guard or
//! the request is refused; every answer says `nosniff`; and errors under `/api` and `/v1` are
//! JSON in their schema, never plain text or the UI's page.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use keygate_server::{FIRST_BYTES_TIMEOUT, LOBBY_CAPACITY, MAX_CONNECTIONS_PER_PEER};
use keygate_tests::TestEnv;
use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};
use keygate_tests::proxy_client::{chat, header, post, setup};
use keygate_tests::reliability::{admin, assert_no_panic, keys};
use keygate_tests::served::{ADMIN_TOKEN, Served, key};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "sk-fake-edge-SECRET0000000000001";

async fn served() -> (FakeUpstream, Served) {
    let fake = FakeUpstream::start().await;
    fake.set(SECRET, Behaviour::Ok);
    let served = setup(&fake, &[key("edge", SECRET)]).await;
    (fake, served)
}

fn addr_of(served: &Served) -> String {
    served.base.trim_start_matches("http://").to_string()
}

/// Sends `request` on a fresh connection and reads the whole answer (the request should say
/// `Connection: close`); `None` when none came within `within`.
async fn exchange(addr: &str, request: &[u8], within: Duration) -> Option<String> {
    let talk = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.write_all(request).await.ok()?;
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply).await;
        Some(String::from_utf8_lossy(&reply).into_owned())
    };
    tokio::time::timeout(within, talk).await.ok().flatten()
}

/// The status code of a raw HTTP/1 answer (0 when there is none).
fn status_of(reply: &str) -> u16 {
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The body of a raw HTTP/1 answer, as JSON.
fn json_body(reply: &str) -> Value {
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// How many silent connections this process may open: 5,000 (more than the engine's old
/// global cap of 4,096) when the open-files limit allows, else what it allows minus headroom
/// for the other tests of this file (the per-peer test holds MAX_CONNECTIONS_PER_PEER). Read from /proc, no libc.
fn silent_connection_budget() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        })
        .unwrap_or(1024);
    if soft >= 12_000 {
        return 5_000;
    }
    let budget = soft.saturating_sub(MAX_CONNECTIONS_PER_PEER + 200);
    eprintln!(
        "open-files limit {soft}: opening {budget} silent connections instead of 5000 \
         (with `ulimit -n` 12000 or more this reproduces the original 4,100-connection lock-out; \
         {budget} still overflows the engine's lobby of {LOBBY_CAPACITY} when above it)"
    );
    budget
}

/// `GET /api/health` on fresh connections, each of which must answer within a second.
#[derive(Default)]
struct HealthChecks {
    count: usize,
    slowest: Duration,
}

impl HealthChecks {
    async fn one(&mut self, addr: &str) {
        let request =
            format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let started = Instant::now();
        let reply = exchange(addr, request.as_bytes(), Duration::from_secs(1)).await;
        assert_eq!(
            reply.as_deref().map(status_of),
            Some(200),
            "GET /api/health on a new connection got no answer within 1 s beside the silent \
             connections (check {})",
            self.count
        );
        self.slowest = self.slowest.max(started.elapsed());
        self.count += 1;
        // Paces the checks; nothing waits on it.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_connections_are_closed_and_never_lock_out_health_admin_or_the_proxy() {
    let (_fake, served) = served().await;
    let addr = addr_of(&served);
    let count = silent_connection_budget();
    // The flood: connections that never send a byte, and a few that send only the start of
    // the HTTP/2 preface (the auto builder's sniffing read waited for the rest forever).
    let flood = tokio::spawn({
        let addr = addr.clone();
        async move {
            futures_util::stream::iter(0..count)
                .map(|i| {
                    let addr = addr.clone();
                    async move {
                        let connect = TcpStream::connect(&addr);
                        let mut stream = tokio::time::timeout(Duration::from_secs(2), connect)
                            .await
                            .ok()?
                            .ok()?;
                        let at = Instant::now();
                        if i % 500 == 0 {
                            stream.write_all(b"PRI * HT").await.ok()?;
                        }
                        Some((stream, at))
                    }
                })
                .buffer_unordered(64)
                .filter_map(|opened| async move { opened })
                .collect::<Vec<_>>()
                .await
        }
    });
    // Meanwhile, a fresh connection to /api/health answers within a second.
    let mut checks = HealthChecks::default();
    while !flood.is_finished() {
        checks.one(&addr).await;
    }
    let silent = flood.await.expect("flood");
    assert!(
        silent.len() * 10 >= count * 9,
        "only {} of {count} connections could be opened",
        silent.len()
    );
    // With the flood in place, the admin API and the proxy still serve.
    assert_eq!(keys(&served).await.len(), 1);
    let response = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(response.status(), 200, "a proxied request beside the flood");
    // Every silent connection is closed by the engine: most at once (the lobby makes room),
    // the last ones within the first-bytes timeout of their connect; health answers
    // throughout.
    let opened = silent.len();
    let closing =
        futures_util::future::join_all(silent.into_iter().map(|(mut s, at)| async move {
            let deadline = at + FIRST_BYTES_TIMEOUT + Duration::from_secs(2);
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout_at(deadline.into(), s.read(&mut byte)).await;
            matches!(read, Ok(Ok(0) | Err(_)))
        }));
    tokio::pin!(closing);
    let closed = loop {
        tokio::select! {
            closed = &mut closing => break closed,
            () = checks.one(&addr) => {}
        }
    };
    let still_open = closed.iter().filter(|c| !**c).count();
    eprintln!(
        "{opened} silent connections; {} health checks, slowest {:?}; \
         {still_open} still open {FIRST_BYTES_TIMEOUT:?} (+2 s) after their connect",
        checks.count, checks.slowest
    );
    assert_eq!(still_open, 0, "silent connections the engine kept open");
    assert_no_panic(&served.stop());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_gets_at_most_its_share_of_connections_then_a_json_503() {
    let (_fake, served) = served().await;
    let addr = addr_of(&served);
    // Connections that were served once (so they hold a slot for sure) and then started a
    // request they never finish, which keeps the slot until the header timeout.
    let holders = (0..MAX_CONNECTIONS_PER_PEER).map(|_| {
        let addr = addr.clone();
        async move {
            let mut stream = TcpStream::connect(&addr).await.expect("connect");
            let once = format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            stream.write_all(once.as_bytes()).await.expect("write");
            let mut reply = Vec::new();
            while !String::from_utf8_lossy(&reply).contains("\"status\":\"ok\"") {
                let mut chunk = [0u8; 1024];
                let n = stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "closed before its first answer");
                reply.extend_from_slice(&chunk[..n]);
            }
            let stall = format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\n");
            stream.write_all(stall.as_bytes()).await.expect("write");
            stream
        }
    });
    // In waves well under the lobby (connections not yet heard from), which closes its oldest
    // when full: this test is about served connections, not silent ones.
    let mut holders_iter = holders.into_iter();
    let mut holders = Vec::with_capacity(MAX_CONNECTIONS_PER_PEER);
    loop {
        let wave: Vec<_> = holders_iter.by_ref().take(LOBBY_CAPACITY / 4).collect();
        if wave.is_empty() {
            break;
        }
        holders.extend(futures_util::future::join_all(wave).await);
    }
    let health = format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        let reply = exchange(&addr, health.as_bytes(), Duration::from_secs(2))
            .await
            .unwrap_or_default();
        if status_of(&reply) == 503 || Instant::now() > deadline {
            break reply;
        }
    };
    assert_eq!(status_of(&refused), 503, "{refused}");
    let body = json_body(&refused);
    assert_eq!(body["error"]["code"], "too_many_connections", "{refused}");
    assert!(body["error"]["message"].is_string());
    // A freed slot serves the next connection.
    holders.pop();
    let deadline = Instant::now() + Duration::from_secs(5);
    let served_again = loop {
        let reply = exchange(&addr, health.as_bytes(), Duration::from_secs(2))
            .await
            .unwrap_or_default();
        if status_of(&reply) == 200 || Instant::now() > deadline {
            break reply;
        }
    };
    assert_eq!(status_of(&served_again), 200, "{served_again}");
    drop(holders);
    assert_no_panic(&served.stop());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_name_a_request_carries_must_be_ours_or_it_is_refused() {
    let (_fake, served) = served().await;
    let addr = addr_of(&served);
    let port = addr.rsplit_once(':').expect("port").1.to_string();
    let auth = format!("Authorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n");
    let own = format!("GET /api/keys HTTP/1.1\r\nHost: {addr}\r\n{auth}");
    let refused = [
        (
            "a port with a plus sign",
            format!("GET /api/keys HTTP/1.1\r\nHost: 127.0.0.1:+{port}\r\n{auth}"),
        ),
        (
            "two Host headers, ours first",
            format!("GET /api/keys HTTP/1.1\r\nHost: {addr}\r\nHost: evil.example\r\n{auth}"),
        ),
        (
            "two Host headers, both ours",
            format!("GET /api/keys HTTP/1.1\r\nHost: {addr}\r\nHost: {addr}\r\n{auth}"),
        ),
        (
            "an absolute-form target naming another host",
            format!("GET http://evil.example/api/keys HTTP/1.1\r\nHost: {addr}\r\n{auth}"),
        ),
        (
            "an absolute-form target naming another port",
            format!("GET http://127.0.0.1:1/api/keys HTTP/1.1\r\nHost: {addr}\r\n{auth}"),
        ),
    ];
    let reply = exchange(&addr, own.as_bytes(), Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert_eq!(status_of(&reply), 200, "the control request: {reply}");
    let absolute_own = format!("GET http://{addr}/api/keys HTTP/1.1\r\nHost: {addr}\r\n{auth}");
    let reply = exchange(&addr, absolute_own.as_bytes(), Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert_eq!(status_of(&reply), 200, "absolute form, our name: {reply}");
    for (what, request) in refused {
        let reply = exchange(&addr, request.as_bytes(), Duration::from_secs(5))
            .await
            .unwrap_or_default();
        assert_eq!(status_of(&reply), 403, "{what}: {reply}");
        assert_eq!(json_body(&reply)["error"]["code"], "bad_host", "{what}");
    }
    // HTTP/2 without TLS (prior knowledge): `:authority` is checked like a Host header.
    let socket: std::net::SocketAddr = addr.parse().expect("socket address");
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("evil.example", socket)
        .build()
        .expect("h2c client");
    let get = |url: String| h2c.get(url).bearer_auth(ADMIN_TOKEN);
    let ours = get(format!("http://{addr}/api/keys")).send().await;
    let ours = ours.expect("h2c request");
    assert_eq!(ours.version(), reqwest::Version::HTTP_2);
    assert_eq!(ours.status(), 200, "h2c with our :authority");
    for (what, request) in [
        (
            ":authority evil, host ours",
            get(format!("http://evil.example:{port}/api/keys")).header("host", addr.as_str()),
        ),
        (
            ":authority evil, no host",
            get(format!("http://evil.example:{port}/api/keys")),
        ),
        (
            ":authority ours, host evil",
            get(format!("http://{addr}/api/keys")).header("host", "evil.example"),
        ),
    ] {
        let response = request.send().await.expect("h2c request");
        assert_eq!(response.status(), 403, "{what}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "bad_host", "{what}");
    }
    assert_no_panic(&served.stop());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_says_nosniff() {
    let (_fake, served) = served().await;
    let client = reqwest::Client::new();
    let proxied = post(&served, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(proxied.status(), 200);
    let api = client
        .get(format!("{}/api/keys", served.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("api");
    assert_eq!(api.status(), 200);
    let ui = client.get(&served.base).send().await.expect("ui");
    assert_eq!(ui.status(), 200);
    assert!(header(&ui, "content-type").starts_with("text/html"));
    let refused = client
        .get(format!("{}/api/health", served.base))
        .header("host", "evil.example")
        .send()
        .await
        .expect("refused");
    assert_eq!(refused.status(), 403);
    for (what, response) in [
        ("proxy", proxied),
        ("api", api),
        ("ui", ui),
        ("403", refused),
    ] {
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{what}"
        );
    }
    assert_no_panic(&served.stop());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_api_input_gets_a_json_error_that_names_the_parameter() {
    let (_fake, served) = served().await;
    // A number out of its range is a 422 naming the field, like every admin API number.
    let (status, body) = admin(&served, reqwest::Method::GET, "/api/logs?limit=-1", None).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("limit"), "{message}");
    assert!(body["error"]["fields"]["limit"].is_string(), "{body}");
    // A body that is not JSON, a method no route takes, a path no route serves.
    let response = reqwest::Client::new()
        .post(format!("{}/api/keys/batch", served.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("batch");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["error"]["code"], "invalid_json", "{body}");
    for (method, path, status, code) in [
        (
            reqwest::Method::DELETE,
            "/api/logs",
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::POST,
            "/api/health",
            405,
            "method_not_allowed",
        ),
        (reqwest::Method::GET, "/api", 404, "not_found"),
    ] {
        let (got, body) = admin(&served, method.clone(), path, None).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], code, "{method} {path}");
    }
    assert_no_panic(&served.stop());
}

#[tokio::test(flavor = "multi_thread")]
async fn unmatched_proxy_paths_are_json_404s_and_models_can_be_fetched_by_id() {
    let fake = FakeUpstream::start().await;
    fake.set(SECRET, Behaviour::Ok);
    let base_url = fake.base_url();
    let served = tokio::task::spawn_blocking(move || {
        let env = TestEnv::new();
        let secrets = Served::provider(&env, "fake", &base_url, 0, &[key("edge", SECRET)]);
        env.ok(&["route", "add", "smart", "--to", "fake:fake-model-a"], "");
        Served::start(env, secrets)
    })
    .await
    .expect("setup");
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{}{path}", served.base))
            .bearer_auth(&served.token)
    };
    for (id, owner) in [("fake-model-a", "fake"), ("smart", "keygate")] {
        let response = call(reqwest::Method::GET, &format!("/v1/models/{id}"))
            .send()
            .await
            .expect("model");
        assert_eq!(response.status(), 200, "{id}");
        let model: Value = response.json().await.expect("json");
        assert_eq!(model["id"], id);
        assert_eq!(model["object"], "model");
        assert_eq!(model["owned_by"], owner);
        assert!(model["created"].is_u64(), "{model}");
    }
    let missing = call(reqwest::Method::GET, "/v1/models/no-such-model")
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let anonymous = client
        .get(format!("{}/v1/models/fake-model-a", served.base))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(anonymous.status(), 401, "the same token auth as /v1/models");
    for (method, path, status) in [
        (reqwest::Method::GET, "/v1/nope", 404),
        (reqwest::Method::POST, "/v1/nope", 404),
        (reqwest::Method::GET, "/v1", 404),
        // A method KeyGate does not relay (generateContent on any model is served now,
        // translated for providers of other kinds).
        (
            reqwest::Method::POST,
            "/v1beta/models/x:predictLongRunning",
            404,
        ),
        (reqwest::Method::GET, "/v1/chat/completions", 405),
        (reqwest::Method::POST, "/v1/messages/nope", 404),
        // A dot made the UI's asset handler answer an empty 404.
        (reqwest::Method::GET, "/v1/files/report.json", 404),
        (reqwest::Method::GET, "/v1beta/files/report.json", 404),
        // The Gemini API takes POST only.
        (
            reqwest::Method::GET,
            "/v1beta/models/gemini-2.5-pro.json",
            405,
        ),
    ] {
        let response = call(method.clone(), path).send().await.expect("call");
        assert_eq!(response.status(), status, "{method} {path}");
        let content_type = header(&response, "content-type").to_string();
        assert!(
            content_type.starts_with("application/json"),
            "{method} {path}: {content_type}"
        );
        let body: Value = response.json().await.expect("json");
        assert!(
            body["error"]["message"].is_string(),
            "{method} {path}: {body}"
        );
        if path.starts_with("/v1/messages") {
            assert_eq!(body["type"], "error", "Anthropic's schema: {body}");
        }
    }
    // Outside the proxy's paths, a program that asks for JSON gets JSON, a browser the UI.
    let json = client
        .get(format!("{}/chat/completions", served.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("json client");
    assert_eq!(json.status(), 404);
    assert!(header(&json, "content-type").starts_with("application/json"));
    let page = client
        .get(format!("{}/chat/completions", served.base))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/json;q=0.9",
        )
        .send()
        .await
        .expect("browser");
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert_no_panic(&served.stop());
}
