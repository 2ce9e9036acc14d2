//! The accept loop. `axum::serve` sets no timers, so a client that opens connections and
//! never sends a byte, or never finishes its request headers (slowloris), would hold them, and
//! their file descriptors, for good. Here every accepted connection first waits in a small
//! lobby ([`crate::connections`]) until its first bytes tell HTTP/1 from HTTP/2, for at most
//! [`FIRST_BYTES_TIMEOUT`]; a full lobby closes its oldest occupant, so silent connections can
//! never keep the next real client out. Then the connection takes a slot (capped per peer and
//! in total) and hyper serves it with its header-read timeout. Shutdown stops accepting, lets
//! in-flight requests finish (up to the drain timeout) and closes idle keep-alive connections.
//!
//! The protocol is sniffed here, with `MSG_PEEK`, rather than by hyper-util's auto builder: its
//! sniffing read has no timer, which is how 4,100 silent connections locked the engine out.
//! Peeking consumes nothing, so hyper gets the socket itself (no rewind buffer on every read).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::connections::{Full, Lobby, LobbyTicket, Slots};

/// How long a new connection may take to send the bytes that name its protocol (the HTTP/2
/// preface, or anything else for HTTP/1). Real clients send their request at once.
pub const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// The kernel's queue of connections not yet accepted. Binders use the standard library's 128,
/// and a burst past the queue has its SYNs dropped: each such client waits a second for its
/// retry, however quickly the engine then accepts. The kernel caps this at `somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;
/// Connections waiting for their first bytes; when full, the oldest of them is closed. Well
/// below the usual 1024 open files, so a flood of them cannot exhaust the engine's descriptors.
pub const LOBBY_CAPACITY: usize = 512;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 4096;
/// Connections served at once for one peer address. Every local client is 127.0.0.1, so
/// this is sized for a batch job with hundreds of requests in flight (an eval harness, the
/// durability test's 300) while one address still gets only a quarter of the engine.
pub const MAX_CONNECTIONS_PER_PEER: usize = 1024;
/// An idle HTTP/2 connection is pinged this often and closed when a ping goes unanswered
/// as long: HTTP/2 has no header-read timeout to end a peer that went silent.
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(20);

/// The longest pause between two looks at a connection that sent part of the HTTP/2 preface.
const MAX_PEEK_PAUSE: Duration = Duration::from_millis(200);

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves `app` on `listener` until `shutdown` resolves, then drains for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
    drain: Duration,
) -> std::io::Result<()> {
    // Listening again only changes the queue's length.
    if let Err(err) = socket2::SockRef::from(&listener).listen(LISTEN_BACKLOG) {
        tracing::debug!("cannot widen the accept queue: {err}");
    }
    let protocols = Arc::new(Protocols::new());
    let lobby = Lobby::new(LOBBY_CAPACITY);
    let slots = Slots::new(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER);
    let graceful = GracefulShutdown::new();
    let _ticker = AbortOnDrop(tokio::spawn(keep_a_timer_pending()));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: free one held by a connection that has
                // sent nothing yet (quietly: that is the flood's doing), or back off instead of
                // spinning.
                let pause = if lobby.evict_oldest() {
                    tracing::debug!("accept error: {err}; closed the oldest silent connection");
                    5
                } else {
                    tracing::warn!("accept error: {err}");
                    100
                };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                continue;
            }
        };
        let crowded = lobby.is_full();
        let connection = Connection {
            stream,
            peer,
            ticket: lobby.enter(),
            // Taken now: a watcher made after shutdown began would never hear of it.
            watcher: graceful.watcher(),
        };
        tokio::spawn(connection.serve(protocols.clone(), slots.clone(), app.clone()));
        if crowded {
            // A flood keeps the lobby full, and each newcomer closes its oldest occupant. The
            // connections accepted before this one get to read their first bytes first, so
            // one that is talking is not closed to make room for yet another silent one.
            tokio::task::yield_now().await;
        }
    }
    drop(listener);
    lobby.close();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain) => {
            tracing::warn!("requests still in flight after {drain:?}; stopping anyway");
        }
    }
    Ok(())
}

/// hyper's connection builders, configured once.
struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new() -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(HTTP2_PING_INTERVAL)
            .keep_alive_timeout(HTTP2_PING_INTERVAL);
        Self { http1, http2 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// An accepted connection, still in the lobby.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    ticket: LobbyTicket,
    watcher: Watcher,
}

impl Connection {
    async fn serve(self, protocols: Arc<Protocols>, slots: Arc<Slots>, app: Router) {
        let Self {
            stream,
            peer,
            mut ticket,
            watcher,
        } = self;
        let sniffed = tokio::select! {
            sniffed = tokio::time::timeout(FIRST_BYTES_TIMEOUT, sniff(&stream)) => sniffed,
            _ = &mut ticket.evicted => return,
        };
        drop(ticket);
        // Silent for too long, closed, or broken: dropping the stream closes it.
        let Ok(Some(protocol)) = sniffed else {
            return;
        };
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                drop(watcher);
                return refuse(stream, protocol, full).await;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        let service = TowerToHyperService::new(app);
        let _ = match protocol {
            Protocol::Http1 => {
                watcher
                    .watch(protocols.http1.serve_connection(io, service))
                    .await
            }
            Protocol::Http2 => {
                watcher
                    .watch(protocols.http2.serve_connection(io, service))
                    .await
            }
        };
        drop(slot);
    }
}

/// Waits for the first bytes, without consuming them, until they are the HTTP/2 preface or
/// cannot be; `None` when the peer closed first.
async fn sniff(stream: &TcpStream) -> Option<Protocol> {
    let mut head = [0u8; H2_PREFACE.len()];
    let mut pause = Duration::from_millis(1);
    loop {
        let n = stream.peek(&mut head).await.ok()?;
        if n == 0 {
            return None;
        }
        if head[..n] != H2_PREFACE[..n] {
            return Some(Protocol::Http1);
        }
        if n == H2_PREFACE.len() {
            return Some(Protocol::Http2);
        }
        // Part of the preface (or the `P` of `POST`) and no more yet: real clients write the
        // preface or request line at once, so this is nearly always someone stalling. Peeking
        // again at once would spin (the bytes already there keep the socket readable); a
        // growing pause keeps a lobby full of stallers to a few peeks a second each.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PEEK_PAUSE);
    }
}

/// Answers a connection that got no slot and closes it: a 503 an HTTP/1 client can show
/// (in a shape OpenAI, Anthropic and admin-API clients all read), a plain close for HTTP/2.
async fn refuse(mut stream: TcpStream, protocol: Protocol, full: Full) {
    // Debug, not warn: a flood of refusals must not become a flood of log lines; the client
    // is told why.
    tracing::debug!(?full, "refused a connection: no free connection slot");
    if protocol == Protocol::Http2 {
        return;
    }
    let message = match full {
        Full::Peer => format!(
            "too many connections from one address (at most {MAX_CONNECTIONS_PER_PEER}); close some and retry"
        ),
        Full::Engine => {
            format!("the engine serves {MAX_CONNECTIONS} connections already; retry shortly")
        }
    };
    let body = serde_json::json!({
        "type": "error",
        "error": { "code": "too_many_connections", "type": "overloaded_error", "message": message },
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         x-content-type-options: nosniff\r\nretry-after: 1\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    // Read what the request sent so far: closing with unread bytes resets the connection,
    // and a reset can discard the answer before the client reads it.
    let mut sent = [0u8; 8192];
    let _ = stream.try_read(&mut sent);
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// hyper arms a header-read timer each time a connection waits for its next request, and
/// tokio wakes its I/O driver (an eventfd write, then an extra `epoll_wait`) whenever a new
/// timer is due before every timer the driver already sleeps on: while a request waits for
/// its upstream, the driver sleeps on that request's deadline, two minutes out, so the next
/// header timer woke it on every request. A timer that is always due within a second keeps
/// the driver's wake-up close and the request path quiet (costing one wake-up a second).
async fn keep_a_timer_pending() {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
