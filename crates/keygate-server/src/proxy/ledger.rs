//! The request-log row of one proxied request, filled in as its attempts happen and handed to
//! the background writer when the answer is settled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use keygate_core::bounds::clip_in_place;
use keygate_core::failure::FailureClass;
use keygate_core::prices::cost_micros;
use keygate_store::{AttemptLog, RequestRow};

use super::catalog::{LiveKey, LiveProvider, LiveToken};
use super::relay::Usage;
use super::state::{Finished, ProxyState, WriteOp};

/// How a request ended, for its row.
#[derive(Default)]
pub struct Settled<'a> {
    pub status: u16,
    /// The failure class; `None` for a success.
    pub error_class: Option<&'a str>,
    /// Time to the first byte the client got.
    pub ttfb: Option<Duration>,
    /// A stream's usage, as the relay saw it.
    pub usage: Option<Usage>,
    /// A whole (non-streamed) answer whose usage the writer reads, off the request path.
    pub body: Option<Bytes>,
}

impl<'a> Settled<'a> {
    /// A request that ended with an error and no answer worth reading.
    pub fn failed(status: u16, class: &'a str) -> Self {
        Self {
            status,
            error_class: Some(class),
            ..Self::default()
        }
    }
}

/// What the request log will say about this request, filled in as it goes.
pub struct Ledger {
    pub row: RequestRow,
    pub started: Instant,
    /// The key of the last attempt, whose token count the writer adds once usage is known.
    last_key: Option<Arc<LiveKey>>,
    /// The caller's access token, whose budgets the cost counts against.
    token: Arc<LiveToken>,
}

impl Ledger {
    /// A new row for a request that starts now. The endpoint and model are clipped to
    /// [`keygate_core::bounds::MAX_TEXT_BYTES`] (the store clips again): callers refuse longer
    /// ones first with [`super::admit::check_client_string`], this only bounds what a caller
    /// that forgot would store.
    pub fn new(
        request_id: &str,
        token: &Arc<LiveToken>,
        mut endpoint: String,
        mut model: String,
        stream: bool,
    ) -> Self {
        clip_in_place(&mut endpoint);
        clip_in_place(&mut model);
        Self {
            row: RequestRow {
                id: request_id.to_string(),
                at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                token: Some(token.name.clone()),
                endpoint,
                model_requested: model,
                model_served: None,
                provider: None,
                key_id: None,
                status: 0,
                error_class: None,
                attempts: Vec::new(),
                latency_ms: 0,
                ttfb_ms: None,
                stream,
                prompt_tokens: None,
                completion_tokens: None,
                cached_tokens: None,
                cost_micros: None,
            },
            started: Instant::now(),
            last_key: None,
            token: token.clone(),
        }
    }

    pub fn attempt(
        &mut self,
        provider: &LiveProvider,
        key: &Arc<LiveKey>,
        class: FailureClass,
        status: Option<u16>,
        took: Duration,
    ) {
        self.last_key = Some(key.clone());
        self.row.attempts.push(AttemptLog {
            provider: provider.name.clone(),
            key_id: key.id.clone(),
            key_label: key.label.clone(),
            status,
            class: class.as_str().to_string(),
            latency_ms: millis(took),
        });
    }

    /// What the request costs with `usage`, in micro-dollars, priced as the writer prices its
    /// row (the model served, the price in force at the request's time); `None` when the
    /// model has no price.
    pub fn cost_of(&self, proxy: &ProxyState, provider: &str, usage: Usage) -> Option<u64> {
        let model = self.row.model_served.as_deref()?;
        let price = proxy
            .catalog()
            .prices
            .price_at(provider, model, &self.row.at)?;
        Some(cost_micros(
            price,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
        ))
    }

    /// Rewrites the last attempt once its streamed answer has ended: its class and latency.
    pub fn settle_last(&mut self, class: FailureClass, took: Duration) {
        if let Some(last) = self.row.attempts.last_mut() {
            last.class = class.as_str().to_string();
            last.latency_ms = millis(took);
        }
    }

    /// Completes the row and queues it for the writer.
    pub fn finish(mut self, proxy: &ProxyState, end: Settled<'_>) {
        let Settled {
            status,
            error_class,
            ttfb,
            usage,
            body,
        } = end;
        let served = self
            .row
            .attempts
            .last()
            .filter(|a| a.status == Some(status))
            .cloned();
        self.row.status = status;
        self.row.error_class = error_class.map(str::to_string);
        self.row.provider = served.as_ref().map(|a| a.provider.clone());
        self.row.key_id = served.as_ref().map(|a| a.key_id.clone());
        self.row.latency_ms = millis(self.started.elapsed());
        self.row.ttfb_ms = ttfb.map(millis);
        if let Some(usage) = usage {
            self.row.prompt_tokens = Some(usage.prompt_tokens);
            self.row.completion_tokens = Some(usage.completion_tokens);
            self.row.cached_tokens = Some(usage.cached_tokens);
        }
        if self.row.attempts.len() > 1 {
            announce_failover(proxy, &self.row);
        }
        let key = self.last_key.filter(|_| served.is_some());
        proxy.writer.queued();
        if proxy
            .writer_tx
            .send(WriteOp::Request(Box::new(Finished {
                row: self.row,
                body,
                key,
                token: self.token,
            })))
            .is_err()
        {
            proxy.writer.saved(1);
        }
    }
}

/// A request that needed more than one attempt, on the event bus: what failed and who served.
fn announce_failover(proxy: &ProxyState, row: &RequestRow) {
    let tried: Vec<String> = row
        .attempts
        .iter()
        .map(|a| format!("{}/{} ({})", a.provider, a.key_label, a.class))
        .collect();
    let outcome = match (&row.provider, row.error_class.as_deref()) {
        (Some(provider), None) => format!("served by {provider}"),
        _ => format!("failed with HTTP {}", row.status),
    };
    let mut event = crate::events::Event::new(
        keygate_core::events::EventKind::Failover,
        format!(
            "request {} for {}: {}; {outcome}",
            row.id,
            row.model_requested,
            tried.join(" → ")
        ),
    );
    event.provider = row.provider.clone();
    event.key_id = row.key_id.clone();
    proxy.emit(event);
}

/// A new request id (`req_` + 16 hex digits), also sent to the client: milliseconds since
/// the epoch, then a counter. Ids grow with time, so the request log's primary-key index is
/// appended to: a batch of rows dirties a few pages, where random ids dirtied about one page
/// per row (most of the writer's disk writes).
pub fn new_request_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    let n = u64::from(NEXT.fetch_add(1, Ordering::Relaxed) & 0xf_ffff);
    format!("req_{:016x}", (ms << 20) | n)
}

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
