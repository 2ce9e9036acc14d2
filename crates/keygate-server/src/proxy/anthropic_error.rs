//! Errors for clients of the Anthropic endpoints (`/v1/messages…`), in Anthropic's schema
//! `{"type":"error","error":{"type","message"}}`, and upstream error bodies carried across
//! protocols when a request was translated, so a client only ever sees its own schema.

use axum::Json;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use keygate_core::redact::Redactor;
use keygate_core::translate::{Protocol, anthropic_error_body, anthropic_error_type_for_status};
use serde_json::{Value, json};

use super::openai_error::ProxyError;

/// True for the paths whose clients expect Anthropic's error schema.
pub fn is_anthropic_path(path: &str) -> bool {
    path == "/v1/messages" || path.starts_with("/v1/messages/")
}

/// A KeyGate error (written for OpenAI clients) as an Anthropic client expects it: same status,
/// message and `retry-after`, the error type Anthropic uses for that status.
pub fn anthropic_response(err: ProxyError) -> Response {
    let error_type = match err.kind {
        "permission_error" => "permission_error",
        "rate_limit_error" => "rate_limit_error",
        _ => anthropic_error_type_for_status(err.status.as_u16()),
    };
    let mut response = (
        err.status,
        Json(anthropic_error_body(error_type, &err.message)),
    )
        .into_response();
    err.add_headers(&mut response);
    response
}

/// An upstream's error answer in the other protocol's schema, rewritten into the client's:
/// `to_anthropic` for a Messages client served by an OpenAI-style tier, else for a chat client
/// served by an Anthropic tier. The message is scrubbed of the provider's secrets and anything
/// shaped like a key.
pub fn translated_error_body(
    client: Protocol,
    status: u16,
    body: &[u8],
    redactor: &Redactor,
) -> Bytes {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &json["error"];
    let message = error["message"].as_str().map_or_else(
        || format!("the provider answered HTTP {status}"),
        |m| redactor.scrub_for_storage(m),
    );
    let body = match client {
        Protocol::Messages => {
            anthropic_error_body(anthropic_error_type_for_status(status), &message)
        }
        Protocol::Gemini => super::gemini::google_error_body(status, &message),
        Protocol::Chat | Protocol::Responses => {
            let kind = error["type"].as_str().unwrap_or("upstream_error");
            json!({ "error": { "message": message, "type": kind, "param": null, "code": kind } })
        }
    };
    Bytes::from(body.to_string())
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn proxy_errors_keep_status_and_message_in_anthropic_shape() {
        let mut err = ProxyError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
            "slow down",
        );
        err.retry_after_secs = Some(3);
        let response = anthropic_response(err);
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "3");
        let bad = anthropic_response(ProxyError::invalid_request("x", "no"));
        assert_eq!(bad.status(), 400);
    }

    #[test]
    fn upstream_errors_cross_protocols_scrubbed() {
        let openai = br#"{"error":{"message":"bad key sk-abcdefghijklmnopqrstuvwxyz","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let out: Value = serde_json::from_slice(&translated_error_body(
            Protocol::Messages,
            400,
            openai,
            &Redactor::default(),
        ))
        .unwrap_or_default();
        assert_eq!(out["type"], "error");
        assert_eq!(out["error"]["type"], "invalid_request_error");
        assert!(!out.to_string().contains("abcdefghij"), "{out}");
        let anthropic = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}"#;
        let out: Value = serde_json::from_slice(&translated_error_body(
            Protocol::Chat,
            400,
            anthropic,
            &Redactor::default(),
        ))
        .unwrap_or_default();
        assert_eq!(out["error"]["message"], "prompt is too long");
        assert_eq!(out["error"]["type"], "invalid_request_error");
        assert!(is_anthropic_path("/v1/messages/count_tokens"));
        assert!(!is_anthropic_path("/v1/messagesx"));
    }
}
