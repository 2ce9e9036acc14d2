//! One failover driver for every endpoint, `/p/` pass-through included: the (tier, key)
//! candidates a request may try, in order, within its deadline and `proxy.max_attempts`. A
//! tier's keys come in `select::key_order` order, a session's key first; a provider whose
//! circuit is open is passed over. Endpoints try each candidate in their own protocol and tell
//! the driver what failed ([`Failover::failed`]), because the asked-for model is preferred:
//! - a timeout moves on to the next tier at once: another key of a silent provider would wait
//!   as long;
//! - a transient server error or reset is tried once more on the same tier (its next key, or
//!   the same key after a short jittered pause) before the next tier, and no tier gets more
//!   than [`MAX_FAULTS_PER_TIER`] such attempts in a round (never a tight loop);
//! - when a tier's keys are all cooling down after 429s and the first is free within what is
//!   left of `proxy.max_wait_ms`, the driver waits for it rather than dropping to a lower tier;
//! - when every tier is used up, it waits the same way for any cooling key and goes round again;
//! - an answer only another model can give (the request is longer than this model's context
//!   window) moves on to the first later tier whose model has a larger one
//!   ([`Failover::jump_to`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use keygate_core::failure::FailureClass;

use super::catalog::LiveKey;
use super::routing::Tier;
use super::select::{first_cool, key_order, prefer_session_key};
use super::state::ProxyState;
use super::sticky::Session;

/// Attempts on one tier that may fail with a fault of the provider's (5xx, reset, broken
/// stream) before the next tier is tried.
pub const MAX_FAULTS_PER_TIER: u32 = 2;
/// The pause before a key that just failed transiently is tried again: 200 ms plus up to
/// 300 ms of jitter, so clients retrying together do not arrive together.
const RETRY_PAUSE_MS: u64 = 200;
const RETRY_JITTER_MS: u64 = 300;

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
    progress: Progress,
}

/// How far a driver got: what a stream rescue goes on from, once the first answer's stream
/// is on its way and the driver that opened it is gone.
pub(super) struct Progress {
    attempts: usize,
    waited: Duration,
    /// The tier whose keys are being handed out, and its keys not handed out yet this round.
    tier: usize,
    keys: std::vec::IntoIter<Arc<LiveKey>>,
    /// This tier's attempts that failed with a provider fault, this round.
    faults: u32,
    /// A key of this tier to try once more after a pause (its transient failure was the
    /// tier's last key).
    again: Option<Arc<LiveKey>>,
    /// Whether this tier had its one same-key retry this round.
    retried: bool,
}

impl<'t> Failover<'t> {
    pub fn new(
        proxy: &'t ProxyState,
        tiers: &'t [Tier],
        session: Option<Session>,
        deadline: Instant,
    ) -> Self {
        let progress = Progress {
            attempts: 0,
            waited: Duration::ZERO,
            tier: 0,
            keys: Vec::new().into_iter(),
            faults: 0,
            again: None,
            retried: false,
        };
        let mut failover = Self::resume(proxy, tiers, session, deadline, progress);
        failover.enter(0);
        failover
    }

    /// A driver that goes on from `progress`, with the same tiers, session and deadline.
    pub fn resume(
        proxy: &'t ProxyState,
        tiers: &'t [Tier],
        session: Option<Session>,
        deadline: Instant,
        progress: Progress,
    ) -> Self {
        Self {
            proxy,
            tiers,
            session,
            deadline,
            progress,
        }
    }

    /// Where the driver got to, for [`Failover::resume`].
    pub fn into_progress(self) -> Progress {
        self.progress
    }

    /// The next candidate; `None` when the request has no attempt left: `max_attempts` or the
    /// deadline used up, or no key left to try, also after waiting for a cooling one.
    pub async fn next(&mut self) -> Option<Candidate<'t>> {
        loop {
            if self.progress.attempts >= self.proxy.settings().max_attempts
                || Instant::now() >= self.deadline
            {
                return None;
            }
            let Some(tier) = self.tiers.get(self.progress.tier) else {
                // Every tier was tried this round: wait for the first key that is only cooling.
                let wait = first_cool(self.proxy, self.tiers)?;
                if !self.wait(wait).await {
                    return None;
                }
                self.enter(0);
                continue;
            };
            let key = match self.progress.keys.next() {
                Some(key) => key,
                None => match self.progress.again.take() {
                    Some(key) => {
                        let jitter = rand::random::<u64>() % RETRY_JITTER_MS;
                        let pause = Duration::from_millis(RETRY_PAUSE_MS + jitter);
                        if Instant::now() + pause >= self.deadline {
                            return None;
                        }
                        tokio::time::sleep(pause).await;
                        if !key.runtime.available(self.proxy.clock.now_ms()) {
                            continue;
                        }
                        key
                    }
                    None => {
                        // The asked-for tier is only cooling: wait for it if that fits.
                        let cooling = first_cool(self.proxy, std::slice::from_ref(tier));
                        if let Some(wait) = cooling
                            && self.wait(wait).await
                        {
                            self.enter(self.progress.tier);
                        } else {
                            self.enter(self.progress.tier + 1);
                        }
                        continue;
                    }
                },
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
                self.enter(self.progress.tier + 1);
                continue;
            }
            key.runtime.limiter.note_request(now_ms);
            self.progress.attempts += 1;
            return Some(Candidate {
                index: self.progress.tier,
                tier,
                key,
            });
        }
    }

    /// Tells the driver that the last candidate (`key`) failed with `class`.
    pub fn failed(&mut self, class: FailureClass, key: &Arc<LiveKey>) {
        match class {
            FailureClass::Timeout => self.enter(self.progress.tier + 1),
            FailureClass::ServerError | FailureClass::Connect | FailureClass::StreamBroken => {
                self.progress.faults += 1;
                if self.progress.faults >= MAX_FAULTS_PER_TIER {
                    self.enter(self.progress.tier + 1);
                } else if self.progress.keys.len() == 0 && !self.progress.retried {
                    self.progress.retried = true;
                    self.progress.again = Some(key.clone());
                }
            }
            _ => {}
        }
    }

    /// Tells the driver that the stream `key` served broke off (or stalled) after its text
    /// began: a provider that fails mid-answer is left for the next tier, which continues
    /// it; with no later tier, the same tier's rules for `class` apply (another key, or the
    /// same one after a pause).
    pub fn broke_off(&mut self, class: FailureClass, key: &Arc<LiveKey>) {
        if self.progress.tier + 1 < self.tiers.len() {
            self.enter(self.progress.tier + 1);
        } else {
            self.failed(class, key);
        }
    }

    /// Moves on to the first later tier that `pick` accepts, for an answer only another model
    /// can give (a context window too small); false when there is none.
    pub fn jump_to(&mut self, pick: impl Fn(&Tier) -> bool) -> bool {
        if self.progress.attempts >= self.proxy.settings().max_attempts {
            return false;
        }
        let later = self.tiers.iter().enumerate().skip(self.progress.tier + 1);
        match later.filter(|(_, t)| pick(t)).map(|(i, _)| i).next() {
            Some(tier) => {
                self.enter(tier);
                true
            }
            None => false,
        }
    }

    /// Waits `wait` if it fits what is left of `proxy.max_wait_ms` and the deadline.
    async fn wait(&mut self, wait: Duration) -> bool {
        if self.progress.waited + wait > self.proxy.settings().max_wait
            || Instant::now() + wait >= self.deadline
        {
            return false;
        }
        self.progress.waited += wait;
        tokio::time::sleep(wait).await;
        true
    }

    /// Attempts handed out so far.
    pub fn attempts(&self) -> usize {
        self.progress.attempts
    }

    /// A candidate that was never sent (the client's request could not be made for its tier):
    /// gives back the breaker's trial, if it was one.
    pub fn unused(&self, candidate: &Candidate<'_>) {
        if let Ok(mut breaker) = candidate.tier.provider.runtime.breaker.lock() {
            breaker.on_neutral();
        }
    }

    fn enter(&mut self, tier: usize) {
        self.progress.tier = tier;
        self.progress.faults = 0;
        self.progress.again = None;
        self.progress.retried = false;
        let mut keys = self
            .tiers
            .get(tier)
            .map_or_else(Vec::new, |t| key_order(self.proxy, &t.provider, t.strategy));
        if let Some(session) = self.session {
            prefer_session_key(self.proxy, session, &mut keys);
        }
        self.progress.keys = keys.into_iter();
    }
}
