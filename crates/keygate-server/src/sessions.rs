//! Browser sessions for the web UI. The admin token arrives once in the link's fragment; the
//! UI trades it for an `HttpOnly`, `SameSite=Strict` cookie so a new tab or a bookmark of the
//! engine's address is signed in too. The cookie is named after the engine's port (browsers
//! share cookies across ports), lives in memory only (a restarted engine signs browsers out),
//! and is stored here as its SHA-256. A state-changing request signed in by the cookie must
//! also carry `X-KeyGate-CSRF`: a header another site cannot add without a CORS preflight,
//! which the engine never grants.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header::COOKIE};
use sha2::{Digest, Sha256};

/// The header a cookie-signed request must carry when it changes something.
pub const CSRF_HEADER: &str = "x-keygate-csrf";

/// How long a session lasts without use.
const IDLE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Sessions kept at most; the one used longest ago goes first.
const MAX_SESSIONS: usize = 64;

#[derive(Default)]
pub struct Sessions {
    /// Session hash → when it was last used.
    live: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Sessions {
    /// Opens a session and returns its id (for the cookie only: it is not kept).
    pub fn open(&self) -> String {
        let bytes: [u8; 32] = rand::random();
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        live.retain(|_, used| used.elapsed() < IDLE);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, used)| **used).map(|(k, _)| *k)
        {
            live.remove(&oldest);
        }
        live.insert(hash(&id), Instant::now());
        id
    }

    /// Whether `id` is a live session; using it keeps it alive.
    pub fn touch(&self, id: &str) -> bool {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match live.get_mut(&hash(id)) {
            Some(used) if used.elapsed() < IDLE => {
                *used = Instant::now();
                true
            }
            Some(_) => {
                live.remove(&hash(id));
                false
            }
            None => false,
        }
    }

    pub fn close(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&hash(id));
    }
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// `keygate_session_5397`.
pub fn cookie_name(port: u16) -> String {
    format!("keygate_session_{port}")
}

/// The session id a request's `Cookie` headers carry for this engine, if any.
pub fn from_headers(headers: &HeaderMap, port: u16) -> Option<String> {
    let name = cookie_name(port);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that signs this browser in.
pub fn set_cookie(port: u16, id: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict",
        cookie_name(port)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that signs this browser out.
pub fn clear_cookie(port: u16) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        cookie_name(port)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_when_closed() {
        let sessions = Sessions::default();
        let id = sessions.open();
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("other=1; keygate_session_5397={id}; x=y"))
                .expect("header"),
        );
        assert_eq!(from_headers(&headers, 5397).as_deref(), Some(id.as_str()));
        assert_eq!(from_headers(&headers, 5398), None, "another engine's port");
        assert!(sessions.touch(&id));
        assert!(!sessions.touch("0000"));
        sessions.close(&id);
        assert!(!sessions.touch(&id));
        let cookie = set_cookie(5397, &id);
        let cookie = cookie.to_str().expect("ascii");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
    }

    #[test]
    fn sessions_are_capped() {
        let sessions = Sessions::default();
        let first = sessions.open();
        for _ in 0..MAX_SESSIONS {
            sessions.open();
        }
        assert!(!sessions.touch(&first), "the oldest went");
    }
}
