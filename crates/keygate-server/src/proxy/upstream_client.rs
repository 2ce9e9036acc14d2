//! The HTTP client for proxied requests: hyper's pooled client over rustls, driven directly.
//! reqwest (kept for probes, model lists and a system proxy) costs ~20 µs of CPU per request
//! on top of it — URL re-parsing, header merging, extra boxing — which is a large share of
//! what KeyGate adds to a request on loopback (see docs/PERFORMANCE.md).
//!
//! When the environment names an HTTP proxy (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, any
//! case), proxied requests go through reqwest instead, which honours it (and `NO_PROXY`).

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http_body_util::{BodyExt, BodyStream, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::upstream::{POOL_IDLE_TIMEOUT, USER_AGENT};

/// An error while reading an upstream body.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    Timeout,
    Connect,
}

type Direct = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct UpstreamClient {
    /// `None` when a system proxy is configured: then every request goes through `fallback`.
    direct: Option<Direct>,
    fallback: reqwest::Client,
}

impl UpstreamClient {
    /// `fallback` is the engine's reqwest client (it carries any system proxy settings); `tls`
    /// the engine's TLS configuration, without ALPN.
    pub fn new(
        connect_timeout: Duration,
        tls: rustls::ClientConfig,
        fallback: reqwest::Client,
    ) -> Self {
        let direct = (!system_proxy_configured()).then(|| direct_client(connect_timeout, tls));
        Self { direct, fallback }
    }

    /// Sends a request; resolves when the answer's head arrives. The caller bounds the wait.
    pub async fn send(
        &self,
        method: Method,
        uri: &Uri,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, SendFailure> {
        let Some(direct) = &self.direct else {
            return self.send_fallback(method, uri, headers, body).await;
        };
        if !headers.contains_key(http::header::USER_AGENT) {
            headers.insert(
                http::header::USER_AGENT,
                HeaderValue::from_static(USER_AGENT),
            );
        }
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;
        match direct.request(request).await {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                Ok(UpstreamResponse {
                    status: parts.status,
                    headers: parts.headers,
                    body: Body::Direct(body),
                })
            }
            Err(err) if is_timeout(&err) => Err(SendFailure::Timeout),
            Err(_) => Err(SendFailure::Connect),
        }
    }

    async fn send_fallback(
        &self,
        method: Method,
        uri: &Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, SendFailure> {
        let response = self
            .fallback
            .request(method, uri.to_string())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    SendFailure::Timeout
                } else {
                    SendFailure::Connect
                }
            })?;
        Ok(UpstreamResponse {
            status: response.status(),
            headers: response.headers().clone(),
            body: Body::Fallback(response),
        })
    }
}

/// An upstream answer whose head has arrived; the body is read as it comes.
pub struct UpstreamResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
}

enum Body {
    Direct(hyper::body::Incoming),
    Fallback(reqwest::Response),
}

impl UpstreamResponse {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, moved out (an empty map is left): for a caller that reads the body next
    /// and needs the headers after it, without cloning them.
    pub fn take_headers(&mut self) -> HeaderMap {
        std::mem::take(&mut self.headers)
    }

    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, BodyError> {
        match self.body {
            Body::Direct(body) => Ok(body.collect().await?.to_bytes()),
            Body::Fallback(response) => Ok(response.bytes().await?),
        }
    }

    /// The body's data as it arrives (trailers are dropped).
    pub fn bytes_stream(self) -> BoxStream<'static, Result<Bytes, BodyError>> {
        match self.body {
            Body::Direct(body) => BodyStream::new(body)
                .filter_map(|frame| async move {
                    match frame {
                        Ok(frame) => frame.into_data().ok().map(Ok),
                        Err(err) => Some(Err(BodyError::from(err))),
                    }
                })
                .boxed(),
            Body::Fallback(response) => response
                .bytes_stream()
                .map(|chunk| chunk.map_err(BodyError::from))
                .boxed(),
        }
    }
}

fn direct_client(connect_timeout: Duration, tls: rustls::ClientConfig) -> Direct {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https)
}

/// Whether the environment names an HTTP proxy reqwest would use.
fn system_proxy_configured() -> bool {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

fn is_timeout(err: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = e.source();
    }
    false
}
