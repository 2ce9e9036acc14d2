//! Session stickiness: the same client conversation goes to the same key while that key is
//! healthy, so provider-side prompt caches keep paying off. A fixed table of atomics (no lock,
//! no allocation on the request path): a session hashes to a slot holding the session's tag
//! and the key that last served it. Collisions only cost stickiness, never correctness.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, HeaderName};

/// The headers a client may name its session with, in the order they are read. Constants,
/// since a `&str` name is parsed and validated on every lookup.
pub const SESSION_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("x-keygate-session"),
    HeaderName::from_static("x-session-id"),
];

const SLOTS: usize = 4096;

pub struct Sessions {
    slots: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

/// A session as the table sees it: which slot, and the tag that must match there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    slot: usize,
    tag: u32,
}

impl Sessions {
    /// The session a request belongs to, if the client names one: the `x-session-id` or
    /// `x-keygate-session` header, else the id from the body (`prompt_cache_key`, `user`,
    /// Anthropic's `metadata.user_id`). Scoped to the caller's access token.
    pub fn of(&self, token: &str, headers: &HeaderMap, body_id: Option<&str>) -> Option<Session> {
        let from_header = SESSION_HEADERS
            .iter()
            .find_map(|name| headers.get(name)?.to_str().ok())
            .filter(|v| !v.is_empty());
        let id = from_header.or(body_id.filter(|v| !v.is_empty()))?;
        let mut hasher = self.hasher.build_hasher();
        token.hash(&mut hasher);
        id.hash(&mut hasher);
        let hash = hasher.finish();
        Some(Session {
            slot: (hash as usize) % SLOTS,
            // Never zero, so an empty slot matches no session.
            tag: ((hash >> 32) as u32) | 1,
        })
    }

    /// The key (by [`key_tag`]) that last served this session, if remembered.
    pub fn key_of(&self, session: Session) -> Option<u32> {
        let value = self.slots[session.slot].load(Ordering::Relaxed);
        ((value >> 32) as u32 == session.tag).then_some(value as u32)
    }

    pub fn remember(&self, session: Session, key_tag: u32) {
        let value = (u64::from(session.tag) << 32) | u64::from(key_tag);
        self.slots[session.slot].store(value, Ordering::Relaxed);
    }
}

/// A key's tag in the table: a hash of its id.
pub fn key_tag(key_id: &str) -> u32 {
    let mut hasher = std::hash::DefaultHasher::new();
    key_id.hash(&mut hasher);
    hasher.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_come_from_headers_or_body_and_are_scoped_to_the_token() {
        let sessions = Sessions::default();
        let mut headers = HeaderMap::new();
        assert_eq!(sessions.of("t", &headers, None), None);
        assert_eq!(sessions.of("t", &headers, Some("")), None);
        let by_body = sessions.of("t", &headers, Some("conv-1"));
        assert!(by_body.is_some());
        assert_ne!(
            by_body,
            sessions.of("other-token", &headers, Some("conv-1"))
        );
        headers.insert("x-session-id", "conv-1".parse().expect("header"));
        assert_eq!(sessions.of("t", &headers, Some("zzz")), by_body);
    }

    #[test]
    fn a_remembered_key_is_found_only_by_its_own_session() {
        let sessions = Sessions::default();
        let headers = HeaderMap::new();
        let a = sessions.of("t", &headers, Some("a")).expect("a");
        assert_eq!(sessions.key_of(a), None);
        sessions.remember(a, key_tag("k_1"));
        assert_eq!(sessions.key_of(a), Some(key_tag("k_1")));
        let other = Session {
            slot: a.slot,
            tag: a.tag ^ 2,
        };
        assert_eq!(
            sessions.key_of(other),
            None,
            "a colliding session does not match"
        );
    }
}
