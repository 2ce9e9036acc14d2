//! Cross-cutting request checks: the Host guard against DNS rebinding, which also puts
//! `X-Content-Type-Options: nosniff` on every answer, and the admin-token check for `/api`.

use std::future::{Ready, ready};
use std::task::{Context, Poll};

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::TryFutureExt;
use futures_util::future::{Either, MapOk};
use http::StatusCode;
use tower::{Layer, Service};

use crate::{ApiError, AppState};

/// Only `127.0.0.1:PORT`, `localhost:PORT` and `[::1]:PORT` may address the engine: a web page
/// that rebinds its own hostname to 127.0.0.1 still sends its own name and is refused.
/// Every answer, its own refusal included, gets `X-Content-Type-Options: nosniff`, so a browser
/// never runs an error body or an upstream's answer as something else than its declared type.
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
    type Future =
        Either<Ready<Result<Response, S::Error>>, MapOk<S::Future, fn(Response) -> Response>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if is_addressed_to_us(request.headers(), request.uri(), self.port) {
            return Either::Right(self.inner.call(request).map_ok(add_nosniff as fn(_) -> _));
        }
        Either::Left(ready(Ok(add_nosniff(
            ApiError::new(
                StatusCode::FORBIDDEN,
                "bad_host",
                "this KeyGate only answers requests addressed to 127.0.0.1 or localhost on its own port",
            )
            .into_response(),
        ))))
    }
}

/// Every name a request carries must be ours: exactly one `Host` header, and the URI's
/// authority when there is one (an absolute-form HTTP/1 target, HTTP/2's `:authority`); when
/// both are present they must agree, so no layer can read one while the guard checked the
/// other.
fn is_addressed_to_us(headers: &HeaderMap, uri: &Uri, port: u16) -> bool {
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return false;
    }
    let host = match host.map(HeaderValue::to_str) {
        Some(Ok(host)) => Some(host),
        Some(Err(_)) => return false,
        None => None,
    };
    match (host, uri.authority().map(|a| a.as_str())) {
        (Some(host), Some(authority)) => {
            is_own_host(host, port) && host.eq_ignore_ascii_case(authority)
        }
        (Some(name), None) | (None, Some(name)) => is_own_host(name, port),
        (None, None) => false,
    }
}

/// `name:port` exactly: one of our loopback names, and our port as 1 to 5 ASCII digits (no
/// sign: `u16::from_str` alone takes `+5397`).
fn is_own_host(host: &str, port: u16) -> bool {
    let Some((name, digits)) = host.rsplit_once(':') else {
        return false;
    };
    (1..=5).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.parse::<u16>().is_ok_and(|p| p == port)
        && ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|own| name.eq_ignore_ascii_case(own))
}

fn add_nosniff(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
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
    if let Some(token) = presented {
        return if state.is_admin_token(token) {
            next.run(request).await
        } else {
            ApiError::unauthorized().into_response()
        };
    }
    // No token: the browser's session cookie, if it has a live one.
    let session = crate::sessions::from_headers(request.headers(), state.port());
    if session.is_some_and(|id| state.sessions().touch(&id)) {
        let safe = matches!(*request.method(), Method::GET | Method::HEAD);
        if !safe && !request.headers().contains_key(crate::sessions::CSRF_HEADER) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "a change signed in by the session cookie needs the X-KeyGate-CSRF header, which the KeyGate UI sends",
            )
            .into_response();
        }
        return next.run(request).await;
    }
    ApiError::unauthorized().into_response()
}

#[cfg(test)]
mod tests {
    use super::{is_addressed_to_us, is_own_host};
    use axum::http::{HeaderMap, HeaderValue, Uri};

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

    #[test]
    fn a_port_with_a_sign_or_junk_fails_the_host_guard() {
        for host in [
            "127.0.0.1:+5397",
            "127.0.0.1:-5397",
            "127.0.0.1: 5397",
            "127.0.0.1:5397 ",
            "127.0.0.1:005397",
            "127.0.0.1:",
            "user@127.0.0.1:5397",
            "127.0.0.1:5397:5397",
        ] {
            assert!(!is_own_host(host, 5397), "{host}");
        }
    }

    fn hosts(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("host", HeaderValue::from_str(value).expect("header"));
        }
        headers
    }

    #[test]
    fn every_name_a_request_carries_must_be_ours_and_agree() {
        let own = "127.0.0.1:5397";
        let origin_form: Uri = "/api/keys".parse().expect("uri");
        let absolute =
            |host: &str| -> Uri { format!("http://{host}/api/keys").parse().expect("uri") };
        assert!(is_addressed_to_us(&hosts(&[own]), &origin_form, 5397));
        assert!(is_addressed_to_us(&hosts(&[own]), &absolute(own), 5397));
        assert!(
            is_addressed_to_us(&hosts(&[]), &absolute(own), 5397),
            "HTTP/2 without host"
        );
        assert!(
            !is_addressed_to_us(&hosts(&[]), &origin_form, 5397),
            "no name at all"
        );
        assert!(!is_addressed_to_us(
            &hosts(&[own, "evil:5397"]),
            &origin_form,
            5397
        ));
        assert!(!is_addressed_to_us(&hosts(&[own, own]), &origin_form, 5397));
        assert!(!is_addressed_to_us(&hosts(&[own]), &absolute("evil"), 5397));
        assert!(!is_addressed_to_us(
            &hosts(&[own]),
            &absolute("evil:5397"),
            5397
        ));
        assert!(!is_addressed_to_us(
            &hosts(&["evil:5397"]),
            &absolute(own),
            5397
        ));
        assert!(
            !is_addressed_to_us(&hosts(&["localhost:5397"]), &absolute(own), 5397),
            "both ours, but they disagree"
        );
    }
}
