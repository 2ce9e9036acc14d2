//! Cross-cutting request checks, applied once as layers: the Host-header guard against DNS
//! rebinding, and the admin-token check for `/api`.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::{ApiError, AppState};

/// Only `127.0.0.1:PORT`, `localhost:PORT` and `[::1]:PORT` may address the engine: a web page
/// that rebinds its own hostname to 127.0.0.1 still sends its own name and is refused.
pub async fn host_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if is_own_host(host, state.port()) => next.run(request).await,
        _ => ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_host",
            "this KeyGate only answers requests addressed to 127.0.0.1 or localhost on its own port",
        )
        .into_response(),
    }
}

fn is_own_host(host: &str, port: u16) -> bool {
    let Some((name, host_port)) = host.rsplit_once(':') else {
        return false;
    };
    host_port.parse::<u16>().is_ok_and(|p| p == port)
        && ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|own| name.eq_ignore_ascii_case(own))
}

/// `/api` requires `Authorization: Bearer <admin token>`, and refuses requests a browser
/// sends on behalf of another site (an `Origin` that is not the engine's own): the UI is
/// served from the engine itself, so its requests are same-origin or carry no `Origin`.
pub async fn admin_auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(ORIGIN) {
        let own = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://"))
            .is_some_and(|host| is_own_host(host, state.port()));
        if !own {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "foreign_origin",
                "the admin API answers only the KeyGate UI served by this engine",
            )
            .into_response();
        }
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if state.is_admin_token(token) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::is_own_host;

    #[test]
    fn only_loopback_names_on_our_port_pass_the_host_guard() {
        assert!(is_own_host("127.0.0.1:5397", 5397));
        assert!(is_own_host("localhost:5397", 5397));
        assert!(is_own_host("LOCALHOST:5397", 5397));
        assert!(is_own_host("[::1]:5397", 5397));
        assert!(!is_own_host("127.0.0.1:5398", 5397));
        assert!(!is_own_host("evil.example:5397", 5397));
        assert!(!is_own_host("127.0.0.1", 5397));
        assert!(!is_own_host("127.0.0.1.evil.example:5397", 5397));
    }
}
