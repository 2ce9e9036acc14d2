//! The proxy's limits and timeouts, and the settings a user may change
//! (`keygate settings set NAME VALUE`), read when the engine starts.

use std::time::Duration;

/// Limits and timeouts of the proxy.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub max_attempts: usize,
    /// The whole request, all attempts included, until the response starts.
    pub total_deadline: Duration,
    pub connect_timeout: Duration,
    /// From sending the request to the upstream's response headers.
    pub first_byte_timeout: Duration,
    /// From the upstream's response headers to a stream's first content-bearing event.
    pub first_token_timeout: Duration,
    /// The longest silence inside a stream (SSE) once it started.
    pub stream_stall: Duration,
    /// The longest silence inside a whole (JSON) answer's body, and the longest wait for a
    /// request's body.
    pub idle_timeout: Duration,
    /// While a provider's circuit is open, one request is let through this often.
    pub breaker_probe: Duration,
    pub body_limit: usize,
    /// When every key that could serve a request is cooling down (429), wait up to this long
    /// for the first one to cool instead of failing. Zero: fail at once.
    pub max_wait: Duration,
    /// Keep a client conversation (a session id) on the key that served it while that key is
    /// healthy, so provider-side prompt caches keep working.
    pub sticky_sessions: bool,
    /// Tell the client what its request cost: `x-keygate-cost-micros` on a whole answer, a
    /// final `: x-keygate-cost-micros N` comment line on a stream.
    pub cost_in_answer: bool,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            total_deadline: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(30),
            first_token_timeout: Duration::from_secs(15),
            stream_stall: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            breaker_probe: Duration::from_secs(10),
            body_limit: 32 * 1024 * 1024,
            max_wait: Duration::from_millis(3000),
            sticky_sessions: true,
            cost_in_answer: false,
        }
    }
}

/// The proxy settings a user may change (`keygate settings set NAME VALUE`), stored in the
/// settings table and put in force when saved (see `applies_live`): name, what it means, and
/// its default.
pub const SETTINGS: [(&str, &str, u64); 13] = [
    (
        "proxy.max_attempts",
        "attempts per request, across keys and tiers",
        3,
    ),
    (
        "proxy.deadline_seconds",
        "total time for all attempts of a request",
        120,
    ),
    (
        "proxy.max_wait_ms",
        "wait up to this long for a cooling key of the asked-for model instead of a lower tier or failing (0 = never wait)",
        3000,
    ),
    (
        "proxy.first_byte_timeout_seconds",
        "longest wait for a provider's answer to start; then the next provider is tried",
        30,
    ),
    (
        "proxy.first_token_timeout_seconds",
        "longest wait for a stream's first content once its headers arrived; then the next provider is tried",
        15,
    ),
    (
        "proxy.stream_stall_seconds",
        "longest silence inside a stream once it started",
        30,
    ),
    (
        "proxy.breaker_probe_seconds",
        "while a provider's circuit is open, one request is let through this often",
        10,
    ),
    (
        "proxy.sticky_sessions",
        "keep a session on its key while healthy (1 = on, 0 = off)",
        1,
    ),
    (
        "proxy.cost_in_answer",
        "tell clients what each request cost: an x-keygate-cost-micros header, or a last comment line in a stream (1 = on, 0 = off)",
        0,
    ),
    ("proxy.body_limit_mib", "largest request body accepted", 32),
    (
        "proxy.idle_timeout_seconds",
        "longest silence inside an upstream answer; longest wait for a request's body",
        120,
    ),
    (
        "retention.request_days",
        "days request-log rows are kept (older ones are pruned hourly)",
        90,
    ),
    (
        "retention.rollup_days",
        "days hourly usage rollups (reports, charts) are kept; 0 = forever",
        730,
    ),
];

/// Whether a change to the setting is in force for the next request. The circuit breakers'
/// probe interval is fixed when the engine starts; the others are read per request (the
/// retention ones at each hourly prune).
pub fn applies_live(name: &str) -> bool {
    name != "proxy.breaker_probe_seconds"
}

/// Checks a value for one of [`SETTINGS`]; the error names the allowed range.
pub fn validate_setting(name: &str, value: u64) -> Result<(), String> {
    let range = match name {
        "proxy.max_attempts" => 1..=10,
        "proxy.deadline_seconds" => 1..=3600,
        "proxy.max_wait_ms" => 0..=600_000,
        "proxy.first_byte_timeout_seconds" => 1..=600,
        "proxy.first_token_timeout_seconds" => 1..=600,
        "proxy.stream_stall_seconds" => 1..=3600,
        "proxy.breaker_probe_seconds" => 1..=600,
        "proxy.sticky_sessions" | "proxy.cost_in_answer" => 0..=1,
        "proxy.body_limit_mib" => 1..=1024,
        "proxy.idle_timeout_seconds" => 1..=3600,
        "retention.request_days" => 1..=3650,
        // Budgets start from a month of rollups, so less than 32 days would forget spend.
        "retention.rollup_days" if value == 0 => return Ok(()),
        "retention.rollup_days" => 32..=36_500,
        _ => {
            let known: Vec<&str> = SETTINGS.iter().map(|(n, _, _)| *n).collect();
            return Err(format!(
                "unknown setting {name:?}; known: {}",
                known.join(", ")
            ));
        }
    };
    if range.contains(&value) {
        Ok(())
    } else {
        let forever = if name == "retention.rollup_days" {
            " (or 0 to keep them forever)"
        } else {
            ""
        };
        Err(format!(
            "{name} must be between {} and {}{forever}, not {value}",
            range.start(),
            range.end()
        ))
    }
}

impl ProxySettings {
    /// The defaults, overridden by what the user stored.
    pub fn load(store: &keygate_store::Store) -> Self {
        let mut settings = Self::default();
        let get = |name: &str| {
            store
                .get_setting::<u64>(name)
                .ok()
                .flatten()
                .filter(|v| validate_setting(name, *v).is_ok())
        };
        if let Some(v) = get("proxy.max_attempts") {
            settings.max_attempts = usize::try_from(v).unwrap_or(settings.max_attempts);
        }
        if let Some(v) = get("proxy.deadline_seconds") {
            settings.total_deadline = Duration::from_secs(v);
        }
        if let Some(v) = get("proxy.max_wait_ms") {
            settings.max_wait = Duration::from_millis(v);
        }
        if let Some(v) = get("proxy.sticky_sessions") {
            settings.sticky_sessions = v == 1;
        }
        if let Some(v) = get("proxy.cost_in_answer") {
            settings.cost_in_answer = v == 1;
        }
        if let Some(v) = get("proxy.body_limit_mib") {
            settings.body_limit = usize::try_from(v * 1024 * 1024).unwrap_or(settings.body_limit);
        }
        if let Some(v) = get("proxy.idle_timeout_seconds") {
            settings.idle_timeout = Duration::from_secs(v);
        }
        if let Some(v) = get("proxy.first_byte_timeout_seconds") {
            settings.first_byte_timeout = Duration::from_secs(v);
        }
        if let Some(v) = get("proxy.first_token_timeout_seconds") {
            settings.first_token_timeout = Duration::from_secs(v);
        }
        if let Some(v) = get("proxy.stream_stall_seconds") {
            settings.stream_stall = Duration::from_secs(v);
        }
        if let Some(v) = get("proxy.breaker_probe_seconds") {
            settings.breaker_probe = Duration::from_secs(v);
        }
        settings
    }
}
