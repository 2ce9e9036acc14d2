//! Versioned schema migrations, tracked in `PRAGMA user_version`. Each entry upgrades the
//! schema from its index to the next version; entries are never edited once released.

use rusqlite::Connection;

use crate::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: providers, keys, key health, access tokens, settings, events.
    r#"
    CREATE TABLE providers (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        kind        TEXT NOT NULL,
        base_url    TEXT NOT NULL,
        headers     TEXT NOT NULL DEFAULT '{}',
        priority    INTEGER NOT NULL DEFAULT 0,
        enabled     INTEGER NOT NULL DEFAULT 1,
        is_default  INTEGER NOT NULL DEFAULT 0,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE keys (
        id                  TEXT PRIMARY KEY,
        provider_id         INTEGER NOT NULL REFERENCES providers(id) ON DELETE RESTRICT,
        label               TEXT NOT NULL,
        fingerprint         TEXT NOT NULL,
        secret_ref          TEXT NOT NULL,
        tags                TEXT NOT NULL DEFAULT '[]',
        priority            INTEGER NOT NULL DEFAULT 0,
        weight              INTEGER NOT NULL DEFAULT 1,
        rpm                 INTEGER,
        tpm                 INTEGER,
        rpd                 INTEGER,
        daily_budget_micros INTEGER,
        enabled             INTEGER NOT NULL DEFAULT 1,
        created_at          TEXT NOT NULL,
        updated_at          TEXT NOT NULL
    );
    CREATE INDEX keys_provider ON keys(provider_id);
    CREATE TABLE key_health (
        key_id                TEXT PRIMARY KEY REFERENCES keys(id) ON DELETE CASCADE,
        state                 TEXT NOT NULL DEFAULT 'unknown',
        reason                TEXT,
        consecutive_errors    INTEGER NOT NULL DEFAULT 0,
        consecutive_successes INTEGER NOT NULL DEFAULT 0,
        last_error            TEXT,
        last_status           INTEGER,
        last_checked_at       TEXT,
        last_success_at       TEXT,
        next_retry_at         TEXT,
        cooldown_until        TEXT
    );
    CREATE TABLE access_tokens (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        hash        TEXT NOT NULL UNIQUE,
        hint        TEXT NOT NULL,
        models      TEXT NOT NULL DEFAULT '[]',
        expires_at  TEXT,
        created_at  TEXT NOT NULL,
        last_used_at TEXT
    );
    CREATE TABLE settings (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE events (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        kind     TEXT NOT NULL,
        key_id   TEXT,
        provider TEXT,
        message  TEXT NOT NULL
    );
    CREATE INDEX events_at ON events(at);
    "#,
    // 2: routes (alias -> tiers) and the request log.
    r#"
    CREATE TABLE routes (
        alias      TEXT PRIMARY KEY,
        tiers      TEXT NOT NULL,
        strategy   TEXT NOT NULL DEFAULT 'priority',
        created_at TEXT NOT NULL
    );
    CREATE TABLE requests (
        id                TEXT PRIMARY KEY,
        at                TEXT NOT NULL,
        token             TEXT,
        endpoint          TEXT NOT NULL,
        model_requested   TEXT NOT NULL,
        model_served      TEXT,
        provider          TEXT,
        key_id            TEXT,
        status            INTEGER NOT NULL,
        error_class       TEXT,
        attempts          TEXT NOT NULL DEFAULT '[]',
        latency_ms        INTEGER NOT NULL,
        ttfb_ms           INTEGER,
        stream            INTEGER NOT NULL DEFAULT 0,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        cached_tokens     INTEGER
    );
    CREATE INDEX requests_at ON requests(at);
    "#,
    // 3: the history of health checks and key tests, per key.
    r#"
    CREATE TABLE health_checks (
        id         INTEGER PRIMARY KEY,
        key_id     TEXT NOT NULL,
        at         TEXT NOT NULL,
        class      TEXT NOT NULL,
        status     INTEGER,
        latency_ms INTEGER NOT NULL,
        hint       TEXT NOT NULL
    );
    CREATE INDEX health_checks_key ON health_checks(key_id, id);
    "#,
    // 4: an optional expiry time per key (RFC 3339).
    r#"
    ALTER TABLE keys ADD COLUMN expires_at TEXT;
    "#,
    // 5: each request's cost in micro-dollars, when its model has a price.
    r#"
    ALTER TABLE requests ADD COLUMN cost_micros INTEGER;
    "#,
    // 6: prices set by the user, each from a date on.
    r#"
    CREATE TABLE prices (
        provider       TEXT NOT NULL,
        model          TEXT NOT NULL,
        effective_from TEXT NOT NULL,
        input_micros   INTEGER NOT NULL,
        output_micros  INTEGER NOT NULL,
        cached_micros  INTEGER NOT NULL,
        PRIMARY KEY (provider, model, effective_from)
    );
    "#,
    // 7: hourly rollups of the request log (kept forever; request rows are pruned), and
    //    hourly latency histograms. Empty provider/key/token means "none".
    r#"
    CREATE TABLE usage_hourly (
        hour              TEXT NOT NULL,
        provider          TEXT NOT NULL,
        model             TEXT NOT NULL,
        key_id            TEXT NOT NULL,
        token             TEXT NOT NULL,
        requests          INTEGER NOT NULL,
        errors            INTEGER NOT NULL,
        prompt_tokens     INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cached_tokens     INTEGER NOT NULL,
        cost_micros       INTEGER NOT NULL,
        unpriced          INTEGER NOT NULL,
        latency_ms_sum    INTEGER NOT NULL,
        PRIMARY KEY (hour, provider, model, key_id, token)
    ) WITHOUT ROWID;
    CREATE INDEX usage_hourly_key ON usage_hourly(key_id, hour);
    CREATE TABLE latency_hourly (
        hour   TEXT NOT NULL,
        metric INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        count  INTEGER NOT NULL,
        PRIMARY KEY (hour, metric, bucket)
    ) WITHOUT ROWID;
    INSERT INTO usage_hourly
    SELECT substr(at, 1, 13), COALESCE(provider, ''), COALESCE(model_served, model_requested),
           COALESCE(key_id, ''), COALESCE(token, ''), COUNT(*),
           SUM(CASE WHEN status BETWEEN 200 AND 299 AND error_class IS NULL THEN 0 ELSE 1 END),
           COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),
           COALESCE(SUM(cached_tokens), 0), COALESCE(SUM(cost_micros), 0),
           SUM(CASE WHEN cost_micros IS NULL THEN 1 ELSE 0 END), SUM(latency_ms)
    FROM requests GROUP BY 1, 2, 3, 4, 5;
    "#,
    // 8: monthly spend and daily/monthly token budgets per key.
    r#"
    ALTER TABLE keys ADD COLUMN monthly_budget_micros INTEGER;
    ALTER TABLE keys ADD COLUMN daily_token_budget INTEGER;
    ALTER TABLE keys ADD COLUMN monthly_token_budget INTEGER;
    "#,
    // 9: the models each provider listed at its last `keygate model sync`.
    r#"
    CREATE TABLE provider_models (
        provider  TEXT NOT NULL,
        model     TEXT NOT NULL,
        synced_at TEXT NOT NULL,
        PRIMARY KEY (provider, model)
    ) WITHOUT ROWID;
    "#,
    // 10: keyring entries being written for keys whose rows are not committed yet, so a crash
    //     between the two leaves a trace that start-up reconcile can clean.
    r#"
    CREATE TABLE pending_secrets (
        key_id TEXT PRIMARY KEY,
        at     TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 11: events keep what the live stream says of them (a key's label, its new and previous
    //     state and why), so the activity feed reads fields, not its own message text.
    r#"
    ALTER TABLE events ADD COLUMN key_label TEXT;
    ALTER TABLE events ADD COLUMN state TEXT;
    ALTER TABLE events ADD COLUMN previous TEXT;
    ALTER TABLE events ADD COLUMN reason TEXT;
    "#,
    // 12: when each key last served a request (written by the batch writer, like tokens').
    r#"
    ALTER TABLE key_health ADD COLUMN last_used_at TEXT;
    "#,
    // 13: the rollups count attempts that failed against the key that failed them
    // (`failed_attempts`, also for keys that served nothing), and keep why a request no
    // provider answered was refused (`refusal`, the error class; '' when a provider answered),
    // so reports name it instead of "(none)". Hours rolled up before this count 0 failed
    // attempts and read their refusals as "refused: unknown".
    r#"
    CREATE TABLE usage_hourly_13 (
        hour              TEXT NOT NULL,
        provider          TEXT NOT NULL,
        model             TEXT NOT NULL,
        key_id            TEXT NOT NULL,
        token             TEXT NOT NULL,
        refusal           TEXT NOT NULL,
        requests          INTEGER NOT NULL,
        errors            INTEGER NOT NULL,
        failed_attempts   INTEGER NOT NULL,
        prompt_tokens     INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cached_tokens     INTEGER NOT NULL,
        cost_micros       INTEGER NOT NULL,
        unpriced          INTEGER NOT NULL,
        latency_ms_sum    INTEGER NOT NULL,
        PRIMARY KEY (hour, provider, model, key_id, token, refusal)
    ) WITHOUT ROWID;
    INSERT INTO usage_hourly_13
    SELECT hour, provider, model, key_id, token, CASE WHEN provider = '' THEN 'unknown' ELSE '' END,
           requests, errors, 0, prompt_tokens, completion_tokens, cached_tokens, cost_micros,
           unpriced, latency_ms_sum
    FROM usage_hourly;
    DROP TABLE usage_hourly;
    ALTER TABLE usage_hourly_13 RENAME TO usage_hourly;
    CREATE INDEX usage_hourly_key ON usage_hourly(key_id, hour);
    "#,
    // 14: budgets per access token (the token is the tool or the person); provider balances
    // per key, with the key's low-balance threshold.
    r#"
    ALTER TABLE access_tokens ADD COLUMN daily_budget_micros INTEGER;
    ALTER TABLE access_tokens ADD COLUMN monthly_budget_micros INTEGER;
    ALTER TABLE access_tokens ADD COLUMN daily_token_budget INTEGER;
    ALTER TABLE access_tokens ADD COLUMN monthly_token_budget INTEGER;
    ALTER TABLE keys ADD COLUMN low_balance TEXT;
    CREATE TABLE key_balances (
        key_id     TEXT PRIMARY KEY REFERENCES keys(id) ON DELETE CASCADE,
        available  INTEGER NOT NULL,
        amount     REAL,
        currency   TEXT,
        checked_at TEXT NOT NULL,
        note       TEXT NOT NULL,
        low        INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX usage_hourly_token ON usage_hourly(token, hour);
    "#,
    // 15: prices from a public catalog (models.dev) and from providers' model lists, as newer
    // built-ins with effective dates, and when each import ran.
    r#"
    CREATE TABLE catalog_prices (
        provider       TEXT NOT NULL,
        model          TEXT NOT NULL,
        effective_from TEXT NOT NULL,
        input_micros   INTEGER NOT NULL,
        output_micros  INTEGER NOT NULL,
        cached_micros  INTEGER NOT NULL,
        source         TEXT NOT NULL,
        PRIMARY KEY (provider, model, effective_from)
    );
    CREATE TABLE price_imports (
        id             INTEGER PRIMARY KEY,
        source         TEXT NOT NULL,
        imported_at    TEXT NOT NULL,
        effective_from TEXT NOT NULL,
        models         INTEGER NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`SCHEMA_VERSION`], one transaction per step, so a crash mid-way
/// leaves the database at the last completed version.
pub(crate) fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if now > index as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
