//! Key selection: given a tier's keys and what is known about them right now, the order in
//! which to try them. Pure: the caller supplies the live numbers and the rotation/random seed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a tier picks among its keys (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Lower priority number first; ties rotate.
    #[default]
    Priority,
    RoundRobin,
    LeastUsed,
    Weighted,
    LowestLatency,
    LowestCost,
    /// Most remaining upstream rate limit first.
    Headroom,
}

impl Strategy {
    pub const ALL: [Strategy; 7] = [
        Self::Priority,
        Self::RoundRobin,
        Self::LeastUsed,
        Self::Weighted,
        Self::LowestLatency,
        Self::LowestCost,
        Self::Headroom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::RoundRobin => "round_robin",
            Self::LeastUsed => "least_used",
            Self::Weighted => "weighted",
            Self::LowestLatency => "lowest_latency",
            Self::LowestCost => "lowest_cost",
            Self::Headroom => "headroom",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s.replace('-', "_"))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|st| st.as_str()).collect();
                format!("unknown strategy {s:?}: use one of {}", names.join(", "))
            })
    }
}

/// One key as the selector sees it at this instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Candidate {
    pub priority: i64,
    pub weight: u32,
    /// False when the key is disabled, quarantined, cooling, or over a local limit or budget.
    pub available: bool,
    /// Requests served so far (for least_used).
    pub uses: u64,
    /// Smoothed latency in microseconds; 0 when unknown.
    pub latency_us: u64,
    /// Relative price of the tier's model on this key; lower is cheaper; equal when unknown.
    pub cost: u64,
    /// Remaining upstream requests in the current window, when the provider reported it.
    pub headroom: Option<u64>,
}

/// The indexes of the available candidates, in the order to try them. `rotation` is a counter
/// the caller increments per request (ties and round robin rotate with it); `random` is a
/// random number for the weighted draw.
pub fn try_order(
    strategy: Strategy,
    candidates: &[Candidate],
    rotation: usize,
    random: u64,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].available)
        .collect();
    if order.is_empty() {
        return order;
    }
    let n = order.len();
    order.rotate_left(rotation % n);
    let c = |i: &usize| candidates[*i];
    // Stable sorts keep the rotation as the tie-breaker.
    match strategy {
        Strategy::Priority => order.sort_by_key(|i| c(i).priority),
        Strategy::RoundRobin => {}
        Strategy::LeastUsed => order.sort_by_key(|i| c(i).uses),
        Strategy::LowestLatency => {
            // Unknown latency goes first, so every key gets measured.
            order.sort_by_key(|i| c(i).latency_us);
        }
        Strategy::LowestCost => order.sort_by_key(|i| (c(i).cost, c(i).priority)),
        Strategy::Headroom => {
            order.sort_by_key(|i| std::cmp::Reverse(c(i).headroom.unwrap_or(u64::MAX / 2)))
        }
        Strategy::Weighted => {
            let total: u64 = order.iter().map(|i| u64::from(c(i).weight.max(1))).sum();
            let mut ticket = random % total;
            let first = order
                .iter()
                .position(|i| {
                    let w = u64::from(c(i).weight.max(1));
                    if ticket < w {
                        true
                    } else {
                        ticket -= w;
                        false
                    }
                })
                .unwrap_or(0);
            let chosen = order.remove(first);
            order.sort_by_key(|i| std::cmp::Reverse(c(i).weight));
            order.insert(0, chosen);
        }
    }
    order
}

/// A route alias looks like a model name (`claude-sonnet-4`, `smart`, `team/fast`).
pub fn validate_alias(alias: &str) -> Result<(), String> {
    let valid = !alias.is_empty()
        && alias.len() <= 128
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '@' | '*'))
        // A pattern needs something literal: `*` alone would swallow every model.
        && alias.chars().any(|c| c != '*');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid alias {alias:?}: use a model-like name such as claude-sonnet-4 or smart, or a pattern such as claude-*"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(priority: i64) -> Candidate {
        Candidate {
            priority,
            weight: 1,
            available: true,
            ..Candidate::default()
        }
    }

    #[test]
    fn priority_prefers_lower_numbers_and_rotates_ties() {
        let keys = [key(1), key(0), key(0), key(2)];
        assert_eq!(try_order(Strategy::Priority, &keys, 0, 0), vec![1, 2, 0, 3]);
        assert_eq!(try_order(Strategy::Priority, &keys, 1, 0), vec![1, 2, 0, 3]);
        assert_eq!(try_order(Strategy::Priority, &keys, 2, 0), vec![2, 1, 0, 3]);
    }

    #[test]
    fn unavailable_keys_are_never_tried() {
        let mut keys = [key(0), key(0), key(0)];
        keys[1].available = false;
        for strategy in Strategy::ALL {
            let order = try_order(strategy, &keys, 5, 7);
            assert!(!order.contains(&1), "{strategy}: {order:?}");
            assert_eq!(order.len(), 2, "{strategy}");
        }
        keys.iter_mut().for_each(|k| k.available = false);
        assert!(try_order(Strategy::Priority, &keys, 0, 0).is_empty());
    }

    #[test]
    fn round_robin_rotates_through_every_key() {
        let keys = [key(0), key(5), key(9)];
        let firsts: Vec<usize> = (0..3)
            .map(|r| try_order(Strategy::RoundRobin, &keys, r, 0)[0])
            .collect();
        assert_eq!(firsts, vec![0, 1, 2]);
    }

    #[test]
    fn least_used_latency_cost_and_headroom_order_by_their_measure() {
        let mut keys = [key(0), key(0), key(0)];
        keys[0].uses = 10;
        keys[1].uses = 2;
        keys[2].uses = 5;
        assert_eq!(try_order(Strategy::LeastUsed, &keys, 0, 0), vec![1, 2, 0]);
        keys[0].latency_us = 900;
        keys[1].latency_us = 300;
        keys[2].latency_us = 0;
        assert_eq!(
            try_order(Strategy::LowestLatency, &keys, 0, 0),
            vec![2, 1, 0],
            "unknown first"
        );
        keys[0].cost = 1;
        keys[1].cost = 3;
        keys[2].cost = 2;
        assert_eq!(try_order(Strategy::LowestCost, &keys, 0, 0), vec![0, 2, 1]);
        keys[0].headroom = Some(5);
        keys[1].headroom = Some(500);
        keys[2].headroom = Some(50);
        assert_eq!(try_order(Strategy::Headroom, &keys, 0, 0), vec![1, 2, 0]);
    }

    #[test]
    fn weighted_draws_in_proportion_to_weight() {
        let mut keys = [key(0), key(0)];
        keys[0].weight = 3;
        keys[1].weight = 1;
        let firsts: Vec<usize> = (0..4)
            .map(|r| try_order(Strategy::Weighted, &keys, 0, r)[0])
            .collect();
        assert_eq!(firsts, vec![0, 0, 0, 1]);
        assert_eq!(
            try_order(Strategy::Weighted, &keys, 0, 3).len(),
            2,
            "the other key is still a fallback"
        );
    }

    #[test]
    fn strategies_parse_from_their_names() {
        for strategy in Strategy::ALL {
            assert_eq!(strategy.as_str().parse::<Strategy>(), Ok(strategy));
        }
        assert_eq!("round-robin".parse::<Strategy>(), Ok(Strategy::RoundRobin));
        assert!("fastest".parse::<Strategy>().is_err());
    }
}
