//! A streamed answer on its way to the client: bytes are relayed as each SSE event completes,
//! and when the stream ends (or breaks) the attempt is classified and logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::StreamExt;
use keygate_core::failure::{FailureClass, UpstreamOutcome, classify};

use super::answer::answer;
use super::catalog::{LiveKey, LiveProvider};
use super::commit::Opened;
use super::ledger::{Ledger, Settled};
use super::outcome::{Attempted, record};
use super::redacted;
use super::relay::{Dialect, SseRelay, Usage, broken_stream_event};
use super::upstream::response_headers;
use super::upstream_client::BodyError;
use crate::AppState;

/// A streamed attempt still being relayed: settled once, when its stream ends or breaks —
/// classified and recorded against the key, its ledger finished with the usage seen. Shared
/// by the untranslated and the translated relay.
pub(super) struct StreamAttempt {
    pub state: AppState,
    pub provider: Arc<LiveProvider>,
    pub key: Arc<LiveKey>,
    pub started: Instant,
    /// Taken when the attempt is settled.
    pub ledger: Option<Ledger>,
    pub ttfb: Option<Duration>,
}

impl StreamAttempt {
    pub fn new(
        state: AppState,
        provider: &Arc<LiveProvider>,
        key: &Arc<LiveKey>,
        started: Instant,
        ledger: Ledger,
    ) -> Self {
        Self {
            state,
            provider: provider.clone(),
            key: key.clone(),
            started,
            ledger: Some(ledger),
            ttfb: None,
        }
    }

    pub fn settled(&self) -> bool {
        self.ledger.is_none()
    }

    /// Notes the time to the first bytes sent to the client.
    pub fn sent_bytes(&mut self) {
        if self.ttfb.is_none() {
            self.ttfb = self.ledger.as_ref().map(|l| l.started.elapsed());
        }
    }

    pub fn settle(
        &mut self,
        outcome: &UpstreamOutcome,
        error: Option<String>,
        usage: Option<Usage>,
    ) {
        let decision = classify(outcome);
        let proxy = self.state.proxy();
        let took = self.started.elapsed();
        let attempt = Attempted {
            decision: &decision,
            status: Some(200),
            error,
            took,
        };
        record(proxy, &self.provider, &self.key, attempt);
        if let Some(mut ledger) = self.ledger.take() {
            ledger.settle_last(decision.class, took);
            let class =
                (decision.class != FailureClass::Success).then_some(decision.class.as_str());
            ledger.finish(
                proxy,
                Settled {
                    status: 200,
                    error_class: class,
                    ttfb: self.ttfb,
                    usage,
                    ..Settled::default()
                },
            );
        }
    }
}

pub fn stream_response(
    state: AppState,
    provider: Arc<LiveProvider>,
    key: Arc<LiveKey>,
    upstream: Opened,
    relay: SseRelay,
    started: Instant,
    ledger: Ledger,
) -> Response {
    let attempt_no = ledger.row.attempts.len();
    let status = upstream.status;
    let headers = response_headers(&upstream.headers);
    let idle = state.proxy().settings.stream_stall;
    struct Relay {
        attempt: StreamAttempt,
        upstream: futures_util::stream::BoxStream<'static, Result<Bytes, BodyError>>,
        relay: SseRelay,
        dialect: Dialect,
    }
    impl Relay {
        fn settle(&mut self, outcome: UpstreamOutcome, error: Option<String>) {
            self.attempt.settle(&outcome, error, self.relay.usage);
        }

        /// Whole events, scrubbed of the provider's secrets when one is an upstream error.
        fn scrubbed(&self, events: Bytes) -> Bytes {
            if redacted::mentions_error(&events) {
                redacted::body(&self.attempt.key.redactor, events)
            } else {
                events
            }
        }
    }
    let relay = Relay {
        attempt: StreamAttempt::new(state, &provider, &key, started, ledger),
        upstream: upstream.body(),
        dialect: relay.dialect(),
        relay,
    };
    let body = futures_util::stream::unfold(relay, move |mut r| async move {
        if r.attempt.settled() {
            return None;
        }
        loop {
            match tokio::time::timeout(idle, r.upstream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    let out = r.relay.push(&chunk);
                    if !out.is_empty() {
                        let out = r.scrubbed(out);
                        r.attempt.sent_bytes();
                        return Some((Ok::<Bytes, std::io::Error>(out), r));
                    }
                }
                Ok(None) => {
                    let rest = r.relay.finish();
                    let rest = r.scrubbed(rest);
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
                            r.attempt.provider.name, r.attempt.key.label
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
                            r.attempt.provider.name, r.attempt.key.label
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
