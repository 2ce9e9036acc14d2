//! One failover driver for every endpoint, `/p/` pass-through included: the (tier, key)
//! candidates a request may try, in order, within its deadline and `proxy.max_attempts`. A
//! tier's keys come in `select::key_order` order, a session's key first; a provider whose
//! circuit is open is passed over; when every tier is used up and some key is only cooling
//! down, the driver waits for it within `proxy.max_wait_ms` and goes round again. Endpoints
//! try each candidate in their own protocol and record what came of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::catalog::LiveKey;
use super::routing::Tier;
use super::select::{first_cool, key_order, prefer_session_key};
use super::state::ProxyState;
use super::sticky::Session;

/// One attempt the driver hands out: the breaker let it through and the key's local limiter
/// counted it.
pub(super) struct Candidate<'t> {
    /// Which of the tiers, for per-tier work an endpoint keeps (the body it built for it).
    pub index: usize,
    pub tier: &'t Tier,
    pub key: Arc<LiveKey>,
}

pub(super) struct Failover<'t> {
    proxy: &'t ProxyState,
    tiers: &'t [Tier],
    session: Option<Session>,
    deadline: Instant,
    attempts: usize,
    waited: Duration,
    /// The tier whose keys are being handed out, and its keys not handed out yet this round.
    tier: usize,
    keys: std::vec::IntoIter<Arc<LiveKey>>,
}

impl<'t> Failover<'t> {
    pub fn new(
        proxy: &'t ProxyState,
        tiers: &'t [Tier],
        session: Option<Session>,
        deadline: Instant,
    ) -> Self {
        let mut failover = Self {
            proxy,
            tiers,
            session,
            deadline,
            attempts: 0,
            waited: Duration::ZERO,
            tier: 0,
            keys: Vec::new().into_iter(),
        };
        failover.enter(0);
        failover
    }

    /// The next candidate; `None` when the request has no attempt left: `max_attempts` or the
    /// deadline used up, or no key left to try, also after waiting for a cooling one.
    pub async fn next(&mut self) -> Option<Candidate<'t>> {
        let settings = &self.proxy.settings;
        loop {
            if self.attempts >= settings.max_attempts || Instant::now() >= self.deadline {
                return None;
            }
            let Some(tier) = self.tiers.get(self.tier) else {
                // Every tier was tried this round: wait for the first key that is only cooling.
                let wait = first_cool(self.proxy, self.tiers)?;
                if self.waited + wait > settings.max_wait || Instant::now() + wait >= self.deadline
                {
                    return None;
                }
                self.waited += wait;
                tokio::time::sleep(wait).await;
                self.enter(0);
                continue;
            };
            let Some(key) = self.keys.next() else {
                self.enter(self.tier + 1);
                continue;
            };
            let now_ms = self.proxy.clock.now_ms();
            let acquired = tier
                .provider
                .runtime
                .breaker
                .lock()
                .map(|mut b| b.try_acquire(now_ms))
                .unwrap_or(true);
            if !acquired {
                self.enter(self.tier + 1);
                continue;
            }
            key.runtime.limiter.note_request(now_ms);
            self.attempts += 1;
            return Some(Candidate {
                index: self.tier,
                tier,
                key,
            });
        }
    }

    /// Attempts handed out so far.
    pub fn attempts(&self) -> usize {
        self.attempts
    }

    /// A candidate that was never sent (the client's request could not be made for its tier):
    /// gives back the breaker's trial, if it was one.
    pub fn unused(&self, candidate: &Candidate<'_>) {
        if let Ok(mut breaker) = candidate.tier.provider.runtime.breaker.lock() {
            breaker.on_neutral();
        }
    }

    fn enter(&mut self, tier: usize) {
        self.tier = tier;
        let mut keys = self
            .tiers
            .get(tier)
            .map_or_else(Vec::new, |t| key_order(self.proxy, &t.provider, t.strategy));
        if let Some(session) = self.session {
            prefer_session_key(self.proxy, session, &mut keys);
        }
        self.keys = keys.into_iter();
    }
}
