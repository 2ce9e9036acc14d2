//! The client's answer with KeyGate's own headers naming who served it.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

/// The headers KeyGate adds to its answers.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-keygate-request-id");
const PROVIDER: HeaderName = HeaderName::from_static("x-keygate-provider");
/// What the request cost in micro-dollars (`proxy.cost_in_answer`; a whole answer only).
pub(super) const COST: HeaderName = HeaderName::from_static("x-keygate-cost-micros");
const KEY: HeaderName = HeaderName::from_static("x-keygate-key");
const ATTEMPTS: HeaderName = HeaderName::from_static("x-keygate-attempts");

/// The client's answer: the upstream's status and allowed headers, the body, and KeyGate's
/// own headers naming who served it.
pub(super) fn answer(
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
    provider: &str,
    key_label: &str,
    attempts: usize,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    let headers = response.headers_mut();
    for (name, value) in [
        (PROVIDER, HeaderValue::from_str(provider)),
        (KEY, HeaderValue::from_str(key_label)),
        (ATTEMPTS, Ok(HeaderValue::from(attempts))),
    ] {
        if let Ok(value) = value {
            headers.insert(name, value);
        }
    }
    response
}

/// Names the request in its answer (`x-keygate-request-id`), whatever the answer is.
pub(super) fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}
