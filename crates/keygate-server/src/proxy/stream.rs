//! A streamed answer on its way to the client: bytes are relayed as each SSE event completes,
//! and when the stream ends (or breaks) the attempt is classified and logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::StreamExt;
use keygate_core::failure::{FailureClass, UpstreamOutcome, classify};

use super::catalog::{LiveKey, LiveProvider};
use super::forward::answer;
use super::ledger::Ledger;
use super::outcome::record;
use super::relay::{Dialect, SseRelay, broken_stream_event};
use super::upstream::response_headers;
use crate::AppState;

pub fn stream_response(
    state: AppState,
    provider: Arc<LiveProvider>,
    key: Arc<LiveKey>,
    upstream: reqwest::Response,
    relay: SseRelay,
    started: Instant,
    ledger: Ledger,
) -> Response {
    let attempt_no = ledger.row.attempts.len();
    let status = upstream.status();
    let headers = response_headers(upstream.headers());
    let idle = state.proxy().settings.idle_timeout;
    struct Relay {
        state: AppState,
        provider: Arc<LiveProvider>,
        key: Arc<LiveKey>,
        upstream: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
        relay: SseRelay,
        dialect: Dialect,
        started: Instant,
        finished: bool,
        ledger: Option<Ledger>,
        ttfb: Option<Duration>,
    }
    impl Relay {
        fn settle(&mut self, outcome: UpstreamOutcome, error: Option<String>) {
            self.finished = true;
            let decision = classify(&outcome);
            let proxy = self.state.proxy();
            let took = self.started.elapsed();
            record(
                proxy,
                &self.provider,
                &self.key,
                &decision,
                Some(200),
                error,
                took,
            );
            if let Some(mut ledger) = self.ledger.take() {
                ledger.settle_last(decision.class, took);
                let class =
                    (decision.class != FailureClass::Success).then_some(decision.class.as_str());
                ledger.finish(proxy, 200, class, self.ttfb, self.relay.usage, None);
            }
        }
    }
    let relay = Relay {
        state,
        provider: provider.clone(),
        key: key.clone(),
        upstream: upstream.bytes_stream().boxed(),
        dialect: relay.dialect(),
        relay,
        started,
        finished: false,
        ledger: Some(ledger),
        ttfb: None,
    };
    let body = futures_util::stream::unfold(relay, move |mut r| async move {
        if r.finished {
            return None;
        }
        loop {
            match tokio::time::timeout(idle, r.upstream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    let out = r.relay.push(&chunk);
                    if !out.is_empty() {
                        if r.ttfb.is_none() {
                            r.ttfb = r.ledger.as_ref().map(|l| l.started.elapsed());
                        }
                        return Some((Ok::<Bytes, std::io::Error>(out), r));
                    }
                }
                Ok(None) => {
                    let rest = r.relay.finish();
                    if r.relay.done {
                        r.settle(
                            UpstreamOutcome::Answered {
                                status: 200,
                                error_code: None,
                                retry_after: None,
                            },
                            None,
                        );
                        return (!rest.is_empty()).then_some((Ok(rest), r));
                    }
                    r.settle(
                        UpstreamOutcome::StreamBroken,
                        Some("the stream ended before its terminal event".into()),
                    );
                    // The upstream's own error event already told the client what happened.
                    if r.relay.upstream_error {
                        return (!rest.is_empty()).then_some((Ok(rest), r));
                    }
                    let mut out = rest.to_vec();
                    out.extend_from_slice(&broken_stream_event(
                        r.dialect,
                        &format!(
                        "the upstream stream from provider {:?} (key {:?}) ended before it was complete",
                            r.provider.name, r.key.label
                        ),
                    ));
                    return Some((Ok(Bytes::from(out)), r));
                }
                Ok(Some(Err(_))) | Err(_) => {
                    r.settle(
                        UpstreamOutcome::StreamBroken,
                        Some("the stream broke or went silent".into()),
                    );
                    let event = broken_stream_event(
                        r.dialect,
                        &format!(
                            "the upstream stream from provider {:?} (key {:?}) broke mid-way",
                            r.provider.name, r.key.label
                        ),
                    );
                    return Some((Ok(event), r));
                }
            }
        }
    });
    answer(
        status,
        headers,
        Body::from_stream(body),
        &provider.name,
        &key.label,
        attempt_no,
    )
}
