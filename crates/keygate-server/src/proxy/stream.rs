//! The relay, for every answer whose body goes to the client as it arrives — SSE native or
//! translated, and `/p/` pass-through bodies: each piece goes out as it arrives (through the
//! [`Shaper`]), and when the body ends the attempt is classified and logged. A stream that breaks off or stalls
//! (`proxy.stream_stall_seconds`) after its text began is rescued when it can be (`rescue`):
//! the next candidate continues the answer and its events are spliced into the same client
//! stream (`splice`). Otherwise, or when no candidate can, the client gets an error event of
//! its protocol after what it had — never a truncated stream presented as a success.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::Response;
use bytes::BytesMut;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use keygate_core::failure::{FailureClass, UpstreamOutcome, classify};
use keygate_core::translate::TranslateError;

use super::answer::answer;
use super::catalog::{LiveKey, LiveProvider};
use super::commit::Opened;
use super::ledger::{Ledger, Settled};
use super::outcome::{Attempted, record};
use super::redacted;
use super::relay::Usage;
use super::rescue::Rescue;
use super::shaper::Shaper;
use super::splice::{Splicer, Transcript};
use super::upstream::response_headers;
use super::upstream_client::BodyError;
use crate::AppState;

/// The most of a stream kept for a rescue to read: a longer answer is not rescued.
const MAX_TRANSCRIPT_BYTES: usize = 4 << 20;

/// A streamed attempt still being relayed: settled once, when its stream ends or breaks —
/// classified and recorded against the key, its ledger finished with the usage seen.
pub(super) struct StreamAttempt {
    pub state: AppState,
    pub provider: Arc<LiveProvider>,
    pub key: Arc<LiveKey>,
    pub started: Instant,
    /// The status the client got.
    pub status: u16,
    /// Taken when the request is settled.
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
            status: 200,
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

    /// Classifies this attempt and records it against its key and in the ledger, which stays
    /// open (a rescue adds to it).
    fn conclude(&mut self, outcome: &UpstreamOutcome, error: Option<String>) -> FailureClass {
        let decision = classify(outcome);
        let took = self.started.elapsed();
        let attempt = Attempted {
            decision: &decision,
            status: Some(self.status),
            error,
            took,
        };
        record(self.state.proxy(), &self.provider, &self.key, attempt);
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.settle_last(decision.class, took);
        }
        decision.class
    }

    /// Finishes the request's row: it ended with `class` (of its last attempt), with the
    /// usage the relay saw, or a whole answer for the writer to read it from.
    fn finish(&mut self, class: FailureClass, usage: Option<Usage>, body: Option<Bytes>) {
        if let Some(ledger) = self.ledger.take() {
            let success = class == FailureClass::Success;
            ledger.finish(
                self.state.proxy(),
                Settled {
                    status: self.status,
                    error_class: (!success).then_some(class.as_str()),
                    ttfb: self.ttfb,
                    usage,
                    body: body.filter(|_| success),
                },
            );
        }
    }
}

/// How an upstream stream went wrong.
struct Broken {
    /// A translation error, or the upstream's own error event.
    error: Option<TranslateError>,
    /// What happened, for the client's error event.
    what: String,
    /// Went silent (rather than breaking): the provider's fault, like a timeout.
    stalled: bool,
    /// The rest the shaper made of the stream, sent before the error event when not rescued.
    rest: Bytes,
}

struct Relay {
    attempt: StreamAttempt,
    upstream: BoxStream<'static, Result<Bytes, BodyError>>,
    shaper: Shaper,
    stall: Duration,
    rescue: Option<Rescue>,
    /// What the client was sent, for a rescue to read; dropped past `MAX_TRANSCRIPT_BYTES`.
    sent: Option<BytesMut>,
    /// A rescued stream's continuation is rewritten to fit the stream the client has.
    splicer: Option<Splicer>,
    /// The tokens of earlier attempts of a rescued stream.
    carried: Usage,
    /// The characters of text the earlier attempts gave.
    carried_chars: usize,
    /// Settled at its terminal event and reading the upstream's last bytes (`[DONE]`, the end
    /// of the body, so its connection goes back to the pool) before the client's stream ends.
    draining: bool,
    /// What the request cost, as the stream's last line (`proxy.cost_in_answer`).
    cost_line: Option<Bytes>,
}

impl Drop for Relay {
    /// A client that hangs up before its stream's terminal event still gets a row, with what
    /// the relay saw so far: otherwise its tokens would be missing from usage and budgets.
    /// The key is not blamed: nothing was wrong with the upstream.
    fn drop(&mut self) {
        if let Some(ledger) = self.attempt.ledger.take() {
            ledger.finish(
                self.attempt.state.proxy(),
                Settled {
                    status: CLIENT_CLOSED,
                    error_class: Some("client_closed"),
                    ttfb: self.attempt.ttfb,
                    usage: self.usage(),
                    body: None,
                },
            );
        }
    }
}

/// The status logged for a stream the client closed before its end (nginx's convention).
const CLIENT_CLOSED: u16 = 499;

impl Relay {
    fn usage(&self) -> Option<Usage> {
        let usage = self.shaper.usage();
        if self.carried == Usage::default() {
            return usage;
        }
        Some(add(self.carried, usage.unwrap_or_default()))
    }

    /// Whole events on their way to the client: scrubbed of the provider's secrets when one
    /// is an upstream error, fitted to the stream when it is a continuation, kept for a
    /// rescue.
    fn outgoing(&mut self, events: Bytes) -> Bytes {
        let redactor = &self.attempt.key.redactor;
        let events = match &mut self.shaper {
            // Raw chunks are not whole events: the scrubber looks across their boundaries.
            Shaper::Raw(raw) => raw.scrubber.pass(redactor, events),
            _ if redacted::mentions_error(&events) => redacted::body(redactor, events),
            _ => events,
        };
        let events = match self.splicer.as_mut() {
            Some(splicer) => splicer.push(&events),
            None => events,
        };
        if let Some(sent) = self.sent.as_mut() {
            if sent.len() + events.len() > MAX_TRANSCRIPT_BYTES {
                self.sent = None;
            } else {
                sent.extend_from_slice(&events);
            }
        }
        events
    }

    /// Ends the stream as broken, or hands it to a rescue; returns the bytes for the client
    /// (`None`: a continuation is being relayed now; an error: cut the connection).
    async fn broken(&mut self, broken: Broken) -> Option<std::io::Result<Bytes>> {
        let redactor = &self.attempt.key.redactor;
        let (error_type, detail) = match (&broken.error, self.shaper.upstream_error()) {
            (
                Some(TranslateError::Upstream {
                    error_type,
                    message,
                }),
                _,
            ) => (error_type.clone(), redactor.scrub_for_storage(message)),
            (Some(other), _) => (
                "api_error".to_string(),
                redactor.scrub_for_storage(&other.to_string()),
            ),
            (None, Some(message)) => (
                "api_error".to_string(),
                format!(
                    "the stream ended with an error event: {}",
                    redactor.scrub_for_storage(&message)
                ),
            ),
            (None, None) => ("api_error".to_string(), broken.what.clone()),
        };
        let message = format!(
            "the upstream stream from provider {:?} (key {:?}) {}: {detail}",
            self.attempt.provider.name, self.attempt.key.label, broken.what
        );
        let class = self
            .attempt
            .conclude(&UpstreamOutcome::StreamBroken, Some(detail));
        if self.rescued(class, broken.stalled).await {
            return None;
        }
        self.attempt.finish(class, self.usage(), None);
        let Some(event) = self.shaper.failed(&error_type, &message) else {
            return Some(Err(std::io::Error::other(message)));
        };
        let mut out = broken.rest.to_vec();
        out.extend_from_slice(&event);
        Some(Ok(self.outgoing(Bytes::from(out))))
    }

    /// Tries to continue the answer on another candidate after this attempt failed with
    /// `class`; true when a continuation now feeds the client's stream.
    async fn rescued(&mut self, class: FailureClass, stalled: bool) -> bool {
        let (Some(rescue), Some(sent)) = (self.rescue.as_mut(), self.sent.as_ref()) else {
            return false;
        };
        let Some(transcript) = self
            .shaper
            .dialect()
            .and_then(|dialect| Transcript::read(dialect, sent))
        else {
            return false;
        };
        let Some(ledger) = self.attempt.ledger.as_mut() else {
            return false;
        };
        // A stall is the provider's fault, like a timeout: the next provider is asked.
        let class = if stalled {
            FailureClass::Timeout
        } else {
            class
        };
        let broken_key = self.attempt.key.clone();
        let Some(next) = rescue.resume(ledger, &transcript, class, &broken_key).await else {
            return false;
        };
        // This attempt's tokens: as reported, else its text at about four characters a token.
        let chars = transcript.text.chars().count();
        let mut usage = self.shaper.usage().unwrap_or_default();
        if usage.completion_tokens == 0 {
            usage.completion_tokens = (chars.saturating_sub(self.carried_chars) as u64).div_ceil(4);
        }
        self.carried = add(self.carried, usage);
        self.carried_chars = chars;
        self.splicer = Some(Splicer::new(transcript, self.carried, next.trimmed));
        self.attempt.provider = next.provider;
        self.attempt.key = next.key;
        self.attempt.started = next.tried_at;
        self.upstream = next.opened.body();
        self.shaper = next.shaper;
        true
    }

    /// Settles a stream whose client got its terminal event: a success with the usage seen.
    fn settle_complete(&mut self) {
        let answered = UpstreamOutcome::Answered {
            status: self.attempt.status,
            error_code: None,
            retry_after: None,
        };
        let class = self.attempt.conclude(&answered, None);
        let (usage, body) = (self.usage(), self.shaper.captured());
        let proxy = self.attempt.state.proxy();
        if class == FailureClass::Success
            && self.shaper.sends_events()
            && proxy.settings().cost_in_answer
            && let (Some(usage), Some(ledger)) = (usage, self.attempt.ledger.as_ref())
            && let Some(cost) = ledger.cost_of(proxy, &self.attempt.provider.name, usage)
        {
            // A comment line: every SSE client skips it, a script can read it.
            self.cost_line = Some(Bytes::from(format!(": x-keygate-cost-micros {cost}\n\n")));
        }
        self.attempt.finish(class, usage, body);
    }

    /// Whether the client's stream is over.
    fn over(&self) -> bool {
        self.attempt.settled() && !self.draining
    }

    /// The next bytes for the client; `None` when the stream is over.
    async fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        loop {
            let next = tokio::time::timeout(self.stall, self.upstream.next()).await;
            if self.draining && !matches!(next, Ok(Some(Ok(_)))) {
                // The answer was whole: what follows its terminal event cannot spoil it.
                self.draining = false;
                let rest = match next {
                    Ok(None) => self.shaper.finish().unwrap_or_default(),
                    _ => Bytes::new(),
                };
                return (!rest.is_empty()).then(|| Ok(self.outgoing(rest)));
            }
            let broken = match next {
                Ok(Some(Ok(chunk))) => match self.shaper.push(chunk) {
                    Ok(out) => {
                        if !self.attempt.settled() && self.shaper.terminal_sent() {
                            self.settle_complete();
                            self.draining = true;
                        }
                        if out.is_empty() {
                            continue;
                        }
                        return Some(Ok(self.outgoing(out)));
                    }
                    Err(_) if self.draining => continue,
                    Err(e) => Broken {
                        error: Some(e),
                        what: "could not be translated".into(),
                        stalled: false,
                        rest: Bytes::new(),
                    },
                },
                Ok(None) => match self.shaper.finish() {
                    Ok(rest) if self.shaper.completed() => {
                        self.settle_complete();
                        return (!rest.is_empty()).then(|| Ok(self.outgoing(rest)));
                    }
                    Ok(rest) => Broken {
                        error: None,
                        what: "ended before it was complete".into(),
                        stalled: false,
                        rest,
                    },
                    Err(e) => Broken {
                        error: Some(e),
                        what: "ended before it was complete".into(),
                        stalled: false,
                        rest: Bytes::new(),
                    },
                },
                Ok(Some(Err(_))) => Broken {
                    error: None,
                    what: "broke mid-way".into(),
                    stalled: false,
                    rest: Bytes::new(),
                },
                Err(_) => Broken {
                    error: None,
                    what: format!(
                        "went silent for {} s (proxy.stream_stall_seconds)",
                        self.stall.as_secs()
                    ),
                    stalled: true,
                    rest: Bytes::new(),
                },
            };
            match self.broken(broken).await {
                Some(Ok(out)) if out.is_empty() => return None,
                Some(out) => return Some(out),
                None => {}
            }
        }
    }
}

fn add(a: Usage, b: Usage) -> Usage {
    Usage {
        prompt_tokens: a.prompt_tokens + b.prompt_tokens,
        completion_tokens: a.completion_tokens + b.completion_tokens,
        cached_tokens: a.cached_tokens + b.cached_tokens,
    }
}

/// One streamed answer's first attempt: the opened upstream and its shaper, and what it was
/// tried with.
pub(super) struct FirstStream {
    pub provider: Arc<LiveProvider>,
    pub key: Arc<LiveKey>,
    pub opened: Opened,
    pub shaper: Shaper,
    pub tried_at: Instant,
}

/// Relays an answer's body to the client; `rescue`, when given, may continue it on another
/// candidate if it breaks off.
pub fn stream_response(
    state: AppState,
    first: FirstStream,
    ledger: Ledger,
    rescue: Option<Rescue>,
) -> Response {
    let FirstStream {
        provider,
        key,
        opened,
        shaper,
        tried_at,
    } = first;
    let attempt_no = ledger.row.attempts.len();
    let status = opened.status;
    let headers = response_headers(&opened.headers);
    let settings = state.proxy().settings();
    // A whole JSON answer may pause as long as the idle timeout; a stream only as long as a
    // stream may stall.
    let stall = match &shaper {
        Shaper::Raw(raw) if raw.json() => settings.idle_timeout,
        _ => settings.stream_stall,
    };
    let mut attempt = StreamAttempt::new(state, &provider, &key, tried_at, ledger);
    attempt.status = status.as_u16();
    let relay = Relay {
        attempt,
        upstream: opened.body(),
        shaper,
        stall,
        sent: rescue.as_ref().map(|_| BytesMut::new()),
        rescue,
        splicer: None,
        carried: Usage::default(),
        carried_chars: 0,
        draining: false,
        cost_line: None,
    };
    let body = futures_util::stream::unfold(relay, |mut relay| async move {
        if relay.over() {
            return relay.cost_line.take().map(|line| (Ok(line), relay));
        }
        let Some(out) = relay.next().await else {
            return relay.cost_line.take().map(|line| (Ok(line), relay));
        };
        relay.attempt.sent_bytes();
        Some((out, relay))
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
