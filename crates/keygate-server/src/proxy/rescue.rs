//! Stream rescue: a stream that breaks off or stalls after its text began is continued on the
//! next candidate the failover driver gives, and the relay splices the continuation into the
//! same client stream (`splice`). The continuation request is the client's own with the
//! partial answer added, as the target model takes it (`keygate_core::models::continuation`):
//! - a prefill (older Claude models): the partial answer as the trailing assistant message,
//!   its trailing whitespace removed as Anthropic demands;
//! - a prefix (DeepSeek): the same, marked `"prefix": true`;
//! - an instruction (every other model): the partial answer as an assistant message, then a
//!   user message asking to continue exactly where it stopped.
//!
//! A prefill the target refuses (a 400) is tried again on the same key as an instruction; the
//! refusal never reaches the client. With no candidate left, the relay ends the stream with
//! the original failure, as it would without a rescue.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, Uri};
use keygate_core::failure::{FailureClass, UpstreamOutcome};
use keygate_core::models::{Continuation, continuation};
use serde_json::{Value, json};

use super::attempt::{Tried, answered, conclude, send};
use super::catalog::{LiveKey, LiveProvider};
use super::commit::{NoContent, Opened, first_content};
use super::failover::{Failover, Progress};
use super::ledger::Ledger;
use super::legs::{Bodies, Inbound, Leg, leg_headers};
use super::routing::Tier;
use super::shaper::Shaper;
use super::splice::Transcript;
use super::sticky::Session;
use crate::AppState;

/// The user message that asks a model without prefill to go on with its own partial answer.
pub const CONTINUE_INSTRUCTION: &str = "Your previous answer was cut off mid-way. Continue it exactly where it stopped: do not repeat any of it, do not add a preamble, and start with the very next characters.";

/// Everything a rescue needs once the first answer's stream is on its way: the request, the
/// tiers it may use and how far the failover driver got.
pub(super) struct Rescue {
    pub state: AppState,
    pub tiers: Vec<Tier>,
    pub legs: Vec<(Leg, Uri)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub inbound: Inbound,
    /// The model the client asked for.
    pub model: String,
    pub strip_usage: bool,
    pub session: Option<Session>,
    /// Taken while a rescue runs; `None` after the driver ran out.
    pub progress: Option<Progress>,
}

/// A continuation whose stream got as far as content.
pub(super) struct Continued {
    pub provider: Arc<LiveProvider>,
    pub key: Arc<LiveKey>,
    pub opened: Opened,
    pub shaper: Shaper,
    pub tried_at: Instant,
    /// The partial answer lost its trailing whitespace on the way (a prefill).
    pub trimmed: bool,
}

impl Rescue {
    /// Finds a candidate that continues `so_far` after `broken` failed with `class`, logging
    /// every attempt in `ledger`; `None` when no candidate could.
    pub async fn resume(
        &mut self,
        ledger: &mut Ledger,
        so_far: &Transcript,
        class: FailureClass,
        broken: &Arc<LiveKey>,
    ) -> Option<Continued> {
        let progress = self.progress.take()?;
        let client: Value = serde_json::from_slice(&self.body).ok()?;
        let proxy = self.state.proxy();
        // The request's deadline bounds the wait for an answer to start; a continuation is
        // one more such wait, however long the stream ran before it broke.
        let deadline = Instant::now() + proxy.settings().total_deadline;
        let mut failover = Failover::resume(proxy, &self.tiers, self.session, deadline, progress);
        failover.broke_off(class, broken);
        let mut continued = None;
        'candidates: while let Some(candidate) = failover.next().await {
            let (tier, key) = (candidate.tier, candidate.key.clone());
            let (leg, url) = (&self.legs[candidate.index].0, &self.legs[candidate.index].1);
            let mut style = continuation(&tier.model);
            loop {
                let Some((body, trimmed)) =
                    continuation_body(self.inbound, &client, &so_far.text, style)
                else {
                    failover.unused(&candidate);
                    break 'candidates;
                };
                let Ok(upstream_body) = Bodies::new(&body).for_tier(
                    *leg,
                    Some(&tier.model),
                    self.strip_usage && *leg == Leg::Native,
                ) else {
                    failover.unused(&candidate);
                    break 'candidates;
                };
                let headers = leg_headers(*leg, &self.headers, &tier.provider, &key);
                let tried_at = Instant::now();
                let attempt = Attempt {
                    proxy,
                    ledger: &mut *ledger,
                    provider: &tier.provider,
                    key: &key,
                    tried_at,
                };
                match attempt
                    .open(url, headers, upstream_body, *leg, self.inbound, deadline)
                    .await
                {
                    Ok(opened) => {
                        ledger.row.model_served = Some(tier.model.clone());
                        continued = Some(Continued {
                            provider: tier.provider.clone(),
                            key,
                            opened,
                            shaper: leg.shaper(self.inbound, &self.model, self.strip_usage),
                            tried_at,
                            trimmed,
                        });
                        break 'candidates;
                    }
                    // The target refused the prefill: the same key, asked by instruction.
                    Err(Refused::Request) if style != Continuation::Instruct => {
                        style = Continuation::Instruct;
                    }
                    Err(Refused::Request) => continue 'candidates,
                    Err(Refused::Fault(class)) => {
                        failover.failed(class, &key);
                        continue 'candidates;
                    }
                }
            }
        }
        self.progress = Some(failover.into_progress());
        continued
    }
}

/// Why a continuation attempt did not open.
enum Refused {
    /// The request itself was refused (a 4xx that is not the key's fault).
    Request,
    /// The provider or key failed, with this class.
    Fault(FailureClass),
}

/// One continuation attempt on one key.
struct Attempt<'a> {
    proxy: &'a super::state::ProxyState,
    ledger: &'a mut Ledger,
    provider: &'a Arc<LiveProvider>,
    key: &'a Arc<LiveKey>,
    tried_at: Instant,
}

impl Attempt<'_> {
    /// Sends the continuation and reads it up to its first content; logs the attempt.
    async fn open(
        self,
        url: &Uri,
        headers: HeaderMap,
        body: Bytes,
        leg: Leg,
        inbound: Inbound,
        deadline: Instant,
    ) -> Result<Opened, Refused> {
        let settings = self.proxy.settings();
        let tried = match send(self.proxy, (Method::POST, url), headers, body, deadline).await {
            Err(outcome) => Tried::unanswered(outcome, self.tried_at.elapsed()),
            Ok(upstream) => {
                let status = upstream.status();
                self.key.runtime.note_rate_headers(upstream.headers());
                let is_sse = upstream
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|ct| ct.starts_with("text/event-stream"));
                if status.is_success() && is_sse {
                    let within = settings
                        .first_token_timeout
                        .min(deadline.saturating_duration_since(Instant::now()));
                    match first_content(upstream, leg.opening(inbound), within).await {
                        Ok(opened) => {
                            self.ledger.attempt(
                                self.provider,
                                self.key,
                                FailureClass::Success,
                                Some(status.as_u16()),
                                self.tried_at.elapsed(),
                            );
                            return Ok(opened);
                        }
                        Err(no_content) => Tried {
                            outcome: match no_content {
                                NoContent::Timeout => UpstreamOutcome::Timeout,
                                _ => UpstreamOutcome::StreamBroken,
                            },
                            status: Some(status.as_u16()),
                            error: Some(no_content.describe(within)),
                            took: self.tried_at.elapsed(),
                        },
                    }
                } else {
                    let headers = upstream.headers().clone();
                    let body = tokio::time::timeout(settings.idle_timeout, upstream.bytes())
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    // A 200 that is not a stream cannot be spliced into one.
                    let status = if status.is_success() {
                        axum::http::StatusCode::BAD_GATEWAY
                    } else {
                        status
                    };
                    let (outcome, error) = answered(status, &headers, &body);
                    Tried {
                        outcome,
                        status: Some(status.as_u16()),
                        error,
                        took: self.tried_at.elapsed(),
                    }
                }
            }
        };
        let decision = conclude(self.proxy, self.ledger, self.provider, self.key, tried);
        match decision.class {
            FailureClass::ClientError => Err(Refused::Request),
            class => Err(Refused::Fault(class)),
        }
    }
}

/// The client's request (in its own protocol) with the partial answer added as `style` asks,
/// and whether that answer lost trailing whitespace; `None` when the request has no
/// conversation to add it to.
fn continuation_body(
    inbound: Inbound,
    client: &Value,
    partial: &str,
    style: Continuation,
) -> Option<(Bytes, bool)> {
    let mut request = client.clone();
    let prefill = partial.trim_end();
    let (answer, trimmed) = match style {
        Continuation::Prefill => (prefill, prefill.len() != partial.len()),
        _ => (partial, false),
    };
    match inbound {
        Inbound::Chat => {
            let messages = request.get_mut("messages")?.as_array_mut()?;
            let mut assistant = json!({ "role": "assistant", "content": answer });
            if style == Continuation::Prefix {
                assistant["prefix"] = json!(true);
            }
            messages.push(assistant);
            if style == Continuation::Instruct {
                messages.push(json!({ "role": "user", "content": CONTINUE_INSTRUCTION }));
            }
        }
        Inbound::Messages => {
            let messages = request.get_mut("messages")?.as_array_mut()?;
            // A client's own prefill is part of the answer the model continues.
            let own = messages
                .last()
                .filter(|m| m["role"] == "assistant")
                .and_then(|m| m["content"].as_str())
                .map(str::to_string);
            if let Some(own) = own {
                messages.pop();
                let joined = format!("{own}{answer}");
                messages.push(json!({ "role": "assistant", "content": joined }));
            } else {
                messages.push(json!({ "role": "assistant", "content": answer }));
            }
            if style != Continuation::Prefill {
                messages.push(json!({ "role": "user", "content": CONTINUE_INSTRUCTION }));
            }
        }
        Inbound::Responses => {
            let input = match request.get("input")? {
                Value::String(text) => vec![json!({ "role": "user", "content": text })],
                Value::Array(items) => items.clone(),
                _ => return None,
            };
            let mut input = input;
            input.push(json!({ "role": "assistant", "content": partial }));
            input.push(json!({ "role": "user", "content": CONTINUE_INSTRUCTION }));
            request["input"] = Value::Array(input);
            return Some((Bytes::from(request.to_string()), false));
        }
        Inbound::Completions
        | Inbound::Embeddings
        | Inbound::CountTokens
        | Inbound::Gemini { .. } => return None,
    }
    Some((Bytes::from(request.to_string()), trimmed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(inbound: Inbound, client: &Value, style: Continuation) -> (Value, bool) {
        let (bytes, trimmed) =
            continuation_body(inbound, client, "The quick ", style).expect("a conversation");
        (serde_json::from_slice(&bytes).expect("json"), trimmed)
    }

    #[test]
    fn continuations_are_asked_for_as_each_model_takes_them() {
        let chat = json!({ "model": "m", "stream": true, "messages": [{ "role": "user", "content": "Tell me" }] });
        let (prefix, trimmed) = body(Inbound::Chat, &chat, Continuation::Prefix);
        assert_eq!(
            prefix["messages"][1],
            json!({ "role": "assistant", "content": "The quick ", "prefix": true })
        );
        assert!(!trimmed);
        let (instruct, _) = body(Inbound::Chat, &chat, Continuation::Instruct);
        assert_eq!(instruct["messages"][1]["content"], "The quick ");
        assert_eq!(instruct["messages"][2]["role"], "user");
        assert_eq!(instruct["messages"][2]["content"], CONTINUE_INSTRUCTION);

        let (prefill, trimmed) = body(Inbound::Messages, &chat, Continuation::Prefill);
        let last = prefill["messages"]
            .as_array()
            .and_then(|m| m.last())
            .cloned();
        assert_eq!(
            last,
            Some(json!({ "role": "assistant", "content": "The quick" })),
            "Anthropic refuses trailing whitespace in a prefill"
        );
        assert!(trimmed);

        let responses = json!({ "model": "m", "stream": true, "input": "Tell me" });
        let (continued, _) = body(Inbound::Responses, &responses, Continuation::Prefill);
        let input = continued["input"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            input.len(),
            3,
            "Responses always asks by instruction: {input:?}"
        );
        assert_eq!(input[1]["role"], "assistant");
        assert_eq!(input[2]["content"], CONTINUE_INSTRUCTION);
    }
}
