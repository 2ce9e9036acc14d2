//! The background writer: request rows and health updates reach the database in batches, one
//! transaction per batch, on the writer's own connection. Usage of non-streamed answers is
//! read here from the answer's bytes, so the request path never parses a response body.

use keygate_store::{HealthUpdate, RequestRow, Store};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::WriteOp;
use super::relay::Usage;

const MAX_BATCH: usize = 1024;

/// Runs until every sender is gone (the engine stopped), then returns after the last batch:
/// nothing queued is lost on a graceful shutdown.
pub fn spawn_writer(mut store: Store, mut rx: mpsc::UnboundedReceiver<WriteOp>) -> JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let mut requests: Vec<RequestRow> = Vec::new();
        let mut health: Vec<HealthUpdate> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut next = Some(first);
            while let Some(op) = next.take() {
                match op {
                    WriteOp::Health(update) => health.push(update),
                    WriteOp::Request(mut row, body) => {
                        if let Some(usage) = body.as_deref().and_then(usage_of) {
                            row.prompt_tokens = Some(usage.prompt_tokens);
                            row.completion_tokens = Some(usage.completion_tokens);
                            row.cached_tokens = Some(usage.cached_tokens);
                        }
                        requests.push(*row);
                    }
                }
                if requests.len() + health.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
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
