//! Which engine events deserve a desktop notification, what it says, which page a click
//! opens, and a rate limiter so a flapping key or a burst of failures never spams the desktop.
//! Pure: the clock is a parameter.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use keygate_core::events::EventKind;
use keygate_core::health::HealthState;
use keygate_server::events::Event;

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
    /// The UI route a click opens (`#/keys?state=unhealthy`).
    pub page: &'static str,
    /// What the rate limit counts per (the key, the provider or the event kind).
    pub subject: String,
}

/// The notice for an event, if it deserves one: a key turning red, a provider paused, a budget
/// at 80 % or spent.
pub fn notice_for(event: &Event) -> Option<Notice> {
    let who = event
        .key_id
        .clone()
        .or_else(|| event.provider.clone())
        .unwrap_or_else(|| event.kind.to_string());
    let (title, page) = match event.kind {
        EventKind::KeyStateChanged if event.state == Some(HealthState::Unhealthy) => {
            ("A key stopped working", "#/keys?state=unhealthy")
        }
        EventKind::ProviderPaused => ("A provider is paused", "#/providers"),
        // A budget event without a key is an access token's (the tool or person it is for).
        EventKind::BudgetAlert if event.key_id.is_none() => {
            ("A token's budget is at 80 %", "#/connect")
        }
        EventKind::BudgetReached if event.key_id.is_none() => {
            ("A token's budget is spent", "#/connect")
        }
        EventKind::BudgetAlert => ("A key's budget is at 80 %", "#/keys"),
        EventKind::BudgetReached => ("A key's budget is spent", "#/keys"),
        EventKind::BalanceLow => ("A key's balance is low", "#/keys"),
        _ => return None,
    };
    Some(Notice {
        title: title.to_string(),
        body: event.message.clone(),
        page,
        subject: format!("{}:{who}", event.kind),
    })
}

/// At most one notice per subject per `per_subject`, and at most `burst` notices per minute.
pub struct RateLimiter {
    per_subject: Duration,
    burst: usize,
    last: HashMap<String, Instant>,
    recent: VecDeque<Instant>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(Duration::from_secs(15 * 60), 4)
    }
}

impl RateLimiter {
    pub fn new(per_subject: Duration, burst: usize) -> Self {
        Self {
            per_subject,
            burst,
            last: HashMap::new(),
            recent: VecDeque::new(),
        }
    }

    /// Whether to show a notice about `subject` now; counts it when it says yes.
    pub fn allow(&mut self, subject: &str, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.burst {
            return false;
        }
        if self
            .last
            .get(subject)
            .is_some_and(|t| now.duration_since(*t) < self.per_subject)
        {
            return false;
        }
        self.last
            .retain(|_, t| now.duration_since(*t) < self.per_subject);
        self.last.insert(subject.to_string(), now);
        self.recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, key: &str, state: Option<HealthState>) -> Event {
        Event {
            key_id: Some(key.to_string()),
            state,
            ..Event::new(kind, format!("{kind} for {key}"))
        }
    }

    #[test]
    fn only_red_keys_paused_providers_budgets_and_low_balances_notify() {
        let red = notice_for(&event(
            EventKind::KeyStateChanged,
            "k1",
            Some(HealthState::Unhealthy),
        ))
        .expect("red notifies");
        assert_eq!(red.page, "#/keys?state=unhealthy");
        assert_eq!(red.body, "key_state_changed for k1");
        assert!(
            notice_for(&event(
                EventKind::KeyStateChanged,
                "k1",
                Some(HealthState::Degraded)
            ))
            .is_none()
        );
        assert!(notice_for(&event(EventKind::Failover, "k1", None)).is_none());
        assert_eq!(
            notice_for(&event(EventKind::BudgetAlert, "k1", None)).map(|n| n.page),
            Some("#/keys")
        );
        assert_eq!(
            notice_for(&event(EventKind::BalanceLow, "k1", None)).map(|n| n.title),
            Some("A key's balance is low".into())
        );
        let token = Event::new(EventKind::BudgetReached, "token \"ci\" spent".into());
        let notice = notice_for(&token).expect("a token's budget notifies");
        assert_eq!(
            (notice.title.as_str(), notice.page),
            ("A token's budget is spent", "#/connect")
        );
        let mut paused = Event::new(EventKind::ProviderPaused, "openai paused".into());
        paused.provider = Some("openai".into());
        assert_eq!(
            notice_for(&paused).map(|n| n.subject),
            Some("provider_paused:openai".into())
        );
    }

    #[test]
    fn a_flapping_key_notifies_once_per_window_and_bursts_are_capped() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(Duration::from_secs(600), 3);
        assert!(limiter.allow("red:k1", t0));
        assert!(
            !limiter.allow("red:k1", t0 + Duration::from_secs(5)),
            "same key again"
        );
        assert!(
            limiter.allow("red:k1", t0 + Duration::from_secs(601)),
            "after the window"
        );
        assert!(limiter.allow("red:k2", t0 + Duration::from_secs(602)));
        assert!(limiter.allow("red:k3", t0 + Duration::from_secs(603)));
        assert!(
            !limiter.allow("red:k4", t0 + Duration::from_secs(604)),
            "3 a minute at most"
        );
        assert!(
            limiter.allow("red:k4", t0 + Duration::from_secs(700)),
            "a minute later"
        );
    }
}
