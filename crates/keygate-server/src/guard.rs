//! Cross-cutting request checks, applied once as layers: the Host-header guard against DNS
//! rebinding, and the admin-token check for `/api`.

use std::future::{Ready, ready};
use std::task::{Context, Poll};

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use http::StatusCode;
use tower::{Layer, Service};

use crate::{ApiError, AppState};

/// Only `127.0.0.1:PORT`, `localhost:PORT` and `[::1]:PORT` may address the engine: a web page
/// that rebinds its own hostname to 127.0.0.1 still sends its own name and is refused.
/// A plain tower layer rather than `middleware::from_fn`: it runs before every request, and
/// this way costs no boxed future, service clone or state clone per request.
#[derive(Debug, Clone, Copy)]
pub struct HostGuard {
    pub port: u16,
}

impl<S> Layer<S> for HostGuard {
    type Service = HostGuarded<S>;

    fn layer(&self, inner: S) -> HostGuarded<S> {
        HostGuarded {
            inner,
            port: self.port,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HostGuarded<S> {
    inner: S,
    port: u16,
}

impl<S, B> Service<http::Request<B>> for HostGuarded<S>
where
    S: Service<http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        if host.is_some_and(|host| is_own_host(host, self.port)) {
            return Either::Right(self.inner.call(request));
        }
        Either::Left(ready(Ok(ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_host",
            "this KeyGate only answers requests addressed to 127.0.0.1 or localhost on its own port",
        )
        .into_response())))
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
