//! Why a translation failed, and errors written in each protocol's own shape so the proxy can
//! hand them to a client that only understands that protocol.

use serde_json::{Value, json};

/// A translation that could not be done faithfully. Display is the message a client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The client's request is malformed or asks for something the other protocol cannot express.
    /// `path` names the field, e.g. `messages[2].content[0]`.
    #[error("{path}: {reason}")]
    InvalidRequest { path: String, reason: String },
    /// A non-streaming upstream response did not have the shape its protocol promises.
    #[error("upstream response {path}: {reason}")]
    InvalidResponse { path: String, reason: String },
    /// An upstream stream event could not be parsed or made no sense at that point.
    #[error("upstream stream: {0}")]
    MalformedStream(String),
    /// The upstream reported an error itself; type and message are kept verbatim so the caller
    /// can forward them instead of inventing its own.
    #[error("upstream error ({error_type}): {message}")]
    Upstream { error_type: String, message: String },
    /// The upstream stream ended before its terminal event, so the answer may be truncated.
    #[error("upstream stream ended before {expected}")]
    StreamIncomplete { expected: &'static str },
}

impl TranslateError {
    pub(crate) fn request(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidRequest {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn response(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidResponse {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// True when the client's request is at fault: answer 400 and don't count it against the
    /// key or the upstream.
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::InvalidRequest { .. })
    }

    /// The Anthropic `error.type` to report this under; upstream errors keep their own type.
    pub fn anthropic_error_type(&self) -> &str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request_error",
            Self::Upstream { error_type, .. } => error_type,
            _ => "api_error",
        }
    }

    /// The upstream's own message for [`TranslateError::Upstream`], our Display otherwise.
    pub fn client_message(&self) -> String {
        match self {
            Self::Upstream { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// Builds an [`TranslateError::Upstream`] from an `error` object of either protocol
/// (`{"type","message"}` from Anthropic, `{"message","type","code"}` from OpenAI-style servers).
pub(crate) fn upstream_error_from(error: &Value) -> TranslateError {
    let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_owned);
    let error_type = text("type")
        .or_else(|| text("code"))
        .unwrap_or_else(|| "api_error".to_owned());
    let message = text("message").unwrap_or_else(|| error.to_string());
    TranslateError::Upstream {
        error_type,
        message,
    }
}

/// `{"type":"error","error":{"type":..,"message":..}}`, the body Anthropic clients expect.
pub fn anthropic_error_body(error_type: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": error_type, "message": message}})
}

/// The Anthropic error type Anthropic itself uses for an HTTP status.
pub fn anthropic_error_type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        // 400 itself, and other 4xx (405, 409, 422, ...): still the request's fault, which is
        // what Anthropic clients key their retry decisions on.
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// An Anthropic mid-stream error frame: `event: error\ndata: {...}\n\n`.
pub fn anthropic_sse_error_event(error_type: &str, message: &str) -> Vec<u8> {
    format!(
        "event: error\ndata: {}\n\n",
        anthropic_error_body(error_type, message)
    )
    .into_bytes()
}

/// An OpenAI-style mid-stream error chunk: `data: {"error":{...}}\n\n`. OpenAI has no standard
/// for this; this is the shape OpenAI-compatible servers and SDKs recognise.
pub fn chat_sse_error_chunk(message: &str) -> Vec<u8> {
    let body = json!({"error": {"message": message, "type": "upstream_error"}});
    format!("data: {body}\n\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_error_names_the_field() {
        let err = TranslateError::request(
            "messages[2].content[0]",
            "tool_result refers to unknown tool_use_id \"toolu_x\"",
        );
        assert_eq!(
            err.to_string(),
            "messages[2].content[0]: tool_result refers to unknown tool_use_id \"toolu_x\""
        );
        assert!(err.is_client_error());
        assert_eq!(err.anthropic_error_type(), "invalid_request_error");
    }

    #[test]
    fn upstream_error_keeps_type_and_message_for_forwarding() {
        let err =
            upstream_error_from(&json!({"type": "overloaded_error", "message": "Overloaded"}));
        assert_eq!(err.anthropic_error_type(), "overloaded_error");
        assert_eq!(err.client_message(), "Overloaded");
        assert!(!err.is_client_error());
        let openai =
            upstream_error_from(&json!({"message": "slow down", "code": "rate_limit_exceeded"}));
        assert_eq!(
            openai,
            TranslateError::Upstream {
                error_type: "rate_limit_exceeded".into(),
                message: "slow down".into()
            }
        );
    }

    #[test]
    fn anthropic_error_body_has_anthropic_shape() {
        assert_eq!(
            anthropic_error_body("rate_limit_error", "slow down"),
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
        );
    }

    #[test]
    fn status_codes_map_to_anthropic_error_types() {
        let cases = [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (422, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (529, "overloaded_error"),
        ];
        for (status, expected) in cases {
            assert_eq!(
                anthropic_error_type_for_status(status),
                expected,
                "status {status}"
            );
        }
    }

    #[test]
    fn sse_error_frames_are_complete_events() {
        let frame =
            String::from_utf8(anthropic_sse_error_event("api_error", "boom")).unwrap_or_default();
        let data = frame
            .strip_prefix("event: error\ndata: ")
            .and_then(|rest| rest.strip_suffix("\n\n"));
        let parsed: Value = serde_json::from_str(data.unwrap_or_default()).unwrap_or_default();
        assert_eq!(parsed, anthropic_error_body("api_error", "boom"));

        let chunk = String::from_utf8(chat_sse_error_chunk("line1\nline2")).unwrap_or_default();
        let data = chunk
            .strip_prefix("data: ")
            .and_then(|rest| rest.strip_suffix("\n\n"));
        assert!(
            !data.unwrap_or_default().contains('\n'),
            "a raw newline would split the data line"
        );
        let parsed: Value = serde_json::from_str(data.unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            parsed,
            json!({"error": {"message": "line1\nline2", "type": "upstream_error"}})
        );
    }
}
