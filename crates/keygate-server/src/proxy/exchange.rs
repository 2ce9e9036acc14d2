//! The proxy's attempt loop, for every endpoint: pick tiers and keys, try them with failover
//! (breaker, deadline, stickiness, waiting for a cooling key, the ledger), and answer — streams
//! byte-for-byte as they arrive. Each tier is spoken to in its own protocol: natively when it
//! matches the client's (bytes pass untouched unless a field must change, usage read on the
//! way), else through `keygate_core::translate` — so a route may mix kinds and failover may
//! cross protocols. Translation happens only for a tier that needs it, once per request.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use keygate_core::failure::{FailureClass, RequestAction, UpstreamOutcome, is_context_overflow};
use keygate_core::translate::{Protocol, translate_response};
use serde_json::Value;

use super::admit::Admitted;
use super::answer::{COST, answer};
use super::anthropic_error::translated_error_body;
use super::attempt::{Tried, answered, conclude, send};
use super::auth::ProxyRequest;
use super::catalog::LiveProvider;
use super::commit::{NoContent, first_content};
use super::failover::{Candidate, Failover};
use super::final_error::final_error;
use super::ledger::{Ledger, Settled};
pub use super::legs::Inbound;
use super::legs::{Bodies, Leg, leg, leg_headers};
use super::openai_error::ProxyError;
use super::redacted;
use super::relay::Usage;
use super::rescue::Rescue;
use super::routing::Tier;
use super::sticky::key_tag;
use super::stream::{FirstStream, stream_response};
use super::upstream::{response_headers, with_query};
use crate::AppState;

/// A whole upstream answer of a translated leg, in the client's protocol. `model` is the
/// name the client asked for.
fn translate_answer(leg: Leg, body: &[u8], model: &str) -> Result<Bytes, String> {
    let Leg::Translated { client, tier } = leg else {
        return Ok(Bytes::copy_from_slice(body));
    };
    let json: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let now = chrono::Utc::now().timestamp();
    let translated =
        translate_response(tier, client, &json, model, now).map_err(|e| e.to_string())?;
    Ok(Bytes::from(translated.to_string()))
}

/// The context window of `model` on `provider`, from the built-in model catalog.
fn context_window(provider: &LiveProvider, model: &str) -> Option<u32> {
    keygate_core::models::spec_for(&provider.name, model).map(|spec| spec.context_window)
}

#[allow(clippy::too_many_lines)]
pub async fn serve(
    state: &AppState,
    client: &ProxyRequest,
    inbound: Inbound,
    admitted: Admitted,
    request_id: &str,
) -> Result<Response, ProxyError> {
    let ProxyRequest {
        caller,
        headers,
        body,
        query,
    } = client;
    let Admitted {
        request,
        model,
        tiers,
    } = admitted;
    let proxy = state.proxy();
    let settings = proxy.settings();
    let stream = request.stream && inbound != Inbound::CountTokens;
    // KeyGate always wants usage, also from streams; a chat or completions client that did not
    // ask for it will not see it. Responses and Messages streams carry usage anyway.
    let strip_usage = stream
        && matches!(inbound, Inbound::Chat | Inbound::Completions)
        && request.include_usage != Some(true);
    let mut bodies = Bodies::new(body);
    let mut ledger = Ledger::new(
        request_id,
        &caller.token,
        inbound.endpoint().to_string(),
        model.clone(),
        stream,
    );
    let started = ledger.started;
    let deadline = started + settings.total_deadline;
    let session = if settings.sticky_sessions {
        proxy
            .sessions
            .of(caller.token_name(), headers, request.session.as_deref())
    } else {
        None
    };
    // Tiers that cannot serve this endpoint (count_tokens needs an Anthropic-kind provider)
    // are left out; each kept tier's leg and URL are worked out once.
    let (tiers, legs): (Vec<Tier>, Vec<(Leg, Uri)>) = tiers
        .into_iter()
        .filter_map(|tier| {
            let (leg, url) = leg(inbound, &tier.provider, &tier.model)?;
            // A tier of the client's own protocol gets its query too.
            let url = match query {
                Some(query) if leg == Leg::Native => with_query(&url, query)?,
                _ => url,
            };
            Some((tier, (leg, url)))
        })
        .unzip();
    let tried_any_provider = !tiers.is_empty();
    // The body for the tier being tried, built when the driver first reaches it.
    let mut tier_body: Option<(usize, Bytes)> = None;
    let mut failover = Failover::new(proxy, &tiers, session, deadline);
    while let Some(candidate) = failover.next().await {
        let Candidate { index, tier, .. } = candidate;
        let key = candidate.key.clone();
        let provider = &tier.provider;
        let (leg, url) = (legs[index].0, &legs[index].1);
        ledger.row.model_served = Some(tier.model.clone());
        let upstream_body = match &tier_body {
            Some((built_for, body)) if *built_for == index => body.clone(),
            _ => {
                let rename =
                    (tier.model != model || leg != Leg::Native).then_some(tier.model.as_str());
                match bodies.for_tier(leg, rename, strip_usage && leg == Leg::Native) {
                    Ok(body) => {
                        tier_body = Some((index, body.clone()));
                        body
                    }
                    Err(err) => {
                        // The client's request is at fault: nobody upstream is asked or blamed.
                        failover.unused(&candidate);
                        ledger.finish(proxy, Settled::failed(err.status.as_u16(), "client_error"));
                        return Err(err);
                    }
                }
            }
        };
        let tried_at = Instant::now();
        let mut upstream = match send(
            proxy,
            (Method::POST, url),
            leg_headers(leg, headers, provider, &key),
            upstream_body.clone(),
            deadline,
        )
        .await
        {
            Ok(upstream) => upstream,
            Err(outcome) => {
                let tried = Tried::unanswered(outcome, tried_at.elapsed());
                let decision = conclude(proxy, &mut ledger, provider, &key, tried);
                failover.failed(decision.class, &key);
                continue;
            }
        };
        let status = upstream.status();
        key.runtime.note_rate_headers(upstream.headers());
        let is_sse = upstream
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if stream && status.is_success() && is_sse {
            // Nothing goes to the client before the first content: until then a failure is
            // still a failover.
            let opening = leg.opening(inbound);
            let within = settings
                .first_token_timeout
                .min(deadline.saturating_duration_since(Instant::now()));
            let upstream = match first_content(upstream, opening, within).await {
                Ok(opened) => opened,
                Err(no_content) => {
                    let outcome = match no_content {
                        NoContent::Timeout => UpstreamOutcome::Timeout,
                        NoContent::Ended | NoContent::Error(_) => UpstreamOutcome::StreamBroken,
                    };
                    let tried = Tried {
                        outcome,
                        status: Some(status.as_u16()),
                        error: Some(no_content.describe(within)),
                        took: tried_at.elapsed(),
                    };
                    let decision = conclude(proxy, &mut ledger, provider, &key, tried);
                    failover.failed(decision.class, &key);
                    continue;
                }
            };
            ledger.attempt(
                provider,
                &key,
                FailureClass::Success,
                Some(status.as_u16()),
                tried_at.elapsed(),
            );
            if let Some(session) = session {
                proxy.sessions.remember(session, key_tag(&key.id));
            }
            let first = FirstStream {
                provider: provider.clone(),
                key,
                opened: upstream,
                shaper: leg.shaper(inbound, &model, strip_usage),
                tried_at,
            };
            // If the stream breaks off after its text began, the driver goes on from here.
            let progress = failover.into_progress();
            let rescue = Rescue {
                state: state.clone(),
                tiers,
                legs,
                headers: headers.clone(),
                body: body.clone(),
                inbound,
                model,
                strip_usage,
                session,
                progress: Some(progress),
            };
            return Ok(stream_response(state.clone(), first, ledger, Some(rescue)));
        }
        let ttfb = started.elapsed();
        let upstream_headers = upstream.take_headers();
        let body = match tokio::time::timeout(settings.idle_timeout, upstream.bytes()).await {
            Ok(Ok(body)) => body,
            Ok(Err(_)) | Err(_) => {
                let tried = Tried {
                    outcome: UpstreamOutcome::Timeout,
                    status: Some(status.as_u16()),
                    error: Some("the answer's body was not received".to_string()),
                    took: tried_at.elapsed(),
                };
                let decision = conclude(proxy, &mut ledger, provider, &key, tried);
                failover.failed(decision.class, &key);
                continue;
            }
        };
        let (mut outcome, mut error_text) = answered(status, &upstream_headers, &body);
        let mut translated = None;
        if status.is_success() && leg != Leg::Native {
            match translate_answer(leg, &body, &model) {
                Ok(body) => translated = Some(body),
                // An answer that cannot be translated is the provider's fault, like a
                // malformed one: try another key or tier.
                Err(e) => {
                    outcome = UpstreamOutcome::Answered {
                        status: 502,
                        error_code: None,
                        retry_after: None,
                    };
                    error_text = Some(format!("the answer could not be translated: {e}"));
                }
            }
        }
        let overflow = match &outcome {
            UpstreamOutcome::Answered { error_code, .. } => is_context_overflow(
                status.as_u16(),
                error_code.as_deref(),
                error_text.as_deref(),
            ),
            _ => false,
        };
        let tried = Tried {
            outcome,
            status: Some(status.as_u16()),
            error: error_text,
            took: tried_at.elapsed(),
        };
        let decision = conclude(proxy, &mut ledger, provider, &key, tried);
        if decision.request != RequestAction::Deliver {
            failover.failed(decision.class, &key);
            continue;
        }
        // Too long for this model: a later tier with a larger context window may serve it;
        // with none, the provider's own error goes back as is.
        if overflow {
            let window = context_window(provider, &tier.model);
            let larger = |t: &Tier| {
                t.model != tier.model
                    && window.is_some_and(|w| context_window(&t.provider, &t.model) > Some(w))
            };
            if failover.jump_to(larger) {
                continue;
            }
        }
        let attempts = ledger.row.attempts.len();
        let success = decision.class == FailureClass::Success;
        if success && let Some(session) = session {
            proxy.sessions.remember(session, key_tag(&key.id));
        }
        let class = (!success).then_some(decision.class.as_str());
        // Read here only when the client asked to be told; otherwise the writer reads it.
        let cost = (success && settings.cost_in_answer)
            .then(|| Usage::of_answer(&body))
            .flatten()
            .and_then(|usage| ledger.cost_of(proxy, &provider.name, usage));
        // The writer reads usage from the upstream's own answer, in either protocol.
        ledger.finish(
            proxy,
            Settled {
                status: status.as_u16(),
                error_class: class,
                ttfb: Some(ttfb),
                body: success.then(|| body.clone()),
                ..Settled::default()
            },
        );
        let mut response_headers = response_headers(&upstream_headers);
        if let Some(cost) = cost {
            response_headers.insert(COST, HeaderValue::from(cost));
        }
        let client_body = match translated {
            Some(translated) => translated,
            None if leg == Leg::Native && success && !redacted::mentions_error(&body) => body,
            None if leg == Leg::Native => redacted::body(&key.redactor, body),
            None => {
                let client = leg.client().unwrap_or(Protocol::Chat);
                translated_error_body(client, status.as_u16(), &body, &key.redactor)
            }
        };
        if leg != Leg::Native {
            response_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        return Ok(answer(
            status,
            response_headers,
            Body::from(client_body),
            &provider.name,
            &key.label,
            attempts,
        ));
    }
    let mut error = final_error(
        proxy,
        &tiers,
        &ledger.row.attempts,
        &model,
        tried_any_provider,
    );
    error.attempts = Some(ledger.row.attempts.len());
    if !tried_any_provider && inbound == Inbound::CountTokens {
        error.status = StatusCode::NOT_FOUND;
        error.message = format!(
            "{} needs an Anthropic-kind provider, and none serves {model:?}; route the model to one with `keygate route add`",
            inbound.endpoint()
        );
    }
    ledger.finish(proxy, Settled::failed(error.status.as_u16(), error.code));
    Err(error)
}
