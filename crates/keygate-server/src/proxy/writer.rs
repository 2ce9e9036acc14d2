//! The background writer: request rows and health updates reach the database in batches, one
//! transaction per batch, on the writer's own connection. Usage of non-streamed answers is
//! read here from the answer's bytes, so the request path never parses a response body.

use std::time::{Duration, Instant};

use keygate_store::{HealthUpdate, RequestRow, Store};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::task::JoinHandle;

use super::WriteOp;
use super::relay::Usage;

const MAX_BATCH: usize = 1024;
/// How long the writer gathers after the first item of a batch: one transaction per ~50 ms
/// instead of one per request keeps SQLite's CPU cost off a busy proxy's cores.
const GATHER: Duration = Duration::from_millis(50);
const GATHER_POLL: Duration = Duration::from_millis(5);

/// Runs until every sender is gone (the engine stopped), then returns after the last batch:
/// nothing queued is lost on a graceful shutdown.
pub fn spawn_writer(mut store: Store, mut rx: mpsc::UnboundedReceiver<WriteOp>) -> JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let mut requests: Vec<RequestRow> = Vec::new();
        let mut health: Vec<HealthUpdate> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let deadline = Instant::now() + GATHER;
            let mut next = Some(first);
            loop {
                match next.take() {
                    Some(WriteOp::Health(update)) => {
                        // Only a key's latest health matters within one batch.
                        health.retain(|h| h.key_id != update.key_id);
                        health.push(update);
                    }
                    Some(WriteOp::Request(mut row, body)) => {
                        if let Some(usage) = body.as_deref().and_then(usage_of) {
                            row.prompt_tokens = Some(usage.prompt_tokens);
                            row.completion_tokens = Some(usage.completion_tokens);
                            row.cached_tokens = Some(usage.cached_tokens);
                        }
                        requests.push(*row);
                    }
                    None => {}
                }
                if requests.len() + health.len() >= MAX_BATCH {
                    break;
                }
                match rx.try_recv() {
                    Ok(op) => next = Some(op),
                    // The engine stopped: write what we have, then the loop ends.
                    Err(TryRecvError::Disconnected) => break,
                    Err(TryRecvError::Empty) if Instant::now() >= deadline => break,
                    Err(TryRecvError::Empty) => std::thread::sleep(GATHER_POLL),
                }
            }
            if let Err(err) = store.write_batch(&requests, &health) {
                tracing::warn!(
                    "could not save {} request rows and {} health updates: {err}",
                    requests.len(),
                    health.len()
                );
            }
            requests.clear();
            health.clear();
        }
    })
}

/// The `usage` object of an OpenAI-style JSON answer.
fn usage_of(body: &[u8]) -> Option<Usage> {
    let json: Value = serde_json::from_slice(body).ok()?;
    Usage::from_json(json.get("usage")?)
}
