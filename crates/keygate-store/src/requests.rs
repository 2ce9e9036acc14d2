use crate::sql::{Arg, Owned, params};
use keygate_core::bounds::{MAX_TEXT_BYTES, clip, saturate};
use serde::{Deserialize, Serialize};

use crate::columns::json_column;
use crate::{HealthUpdate, Store, StoreError};

/// One try of a proxied request against one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptLog {
    pub provider: String,
    pub key_id: String,
    pub key_label: String,
    pub status: Option<u16>,
    pub class: String,
    pub latency_ms: u64,
}

/// One proxied request, as the request log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestRow {
    pub id: String,
    pub at: String,
    pub token: Option<String>,
    pub endpoint: String,
    pub model_requested: String,
    pub model_served: Option<String>,
    pub provider: Option<String>,
    pub key_id: Option<String>,
    pub status: u16,
    pub error_class: Option<String>,
    pub attempts: Vec<AttemptLog>,
    pub latency_ms: u64,
    pub ttfb_ms: Option<u64>,
    pub stream: bool,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    /// Micro-dollars, from the usage and the model's price (None when either is unknown).
    pub cost_micros: Option<u64>,
}

impl RequestRow {
    /// Whether the caller did not get a complete answer: an error status, or a 200 whose
    /// stream broke mid-way (`error_class` set).
    pub fn failed(&self) -> bool {
        !(200..300).contains(&self.status) || self.error_class.is_some()
    }
}

impl Store {
    /// Saves request rows and health updates together, in one transaction (the batch writer).
    pub fn write_batch(
        &mut self,
        requests: &[RequestRow],
        health: &[HealthUpdate],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO requests (id, at, token, endpoint, model_requested, model_served, provider, key_id, \
                 status, error_class, attempts, latency_ms, ttfb_ms, stream, prompt_tokens, completion_tokens, cached_tokens, cost_micros) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
                 ON CONFLICT DO NOTHING",
            )?;
            let mut rollup = crate::rollups::RollupBatch::default();
            for r in requests {
                let attempts = serde_json::to_string(&r.attempts)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // The last line of defence against what the proxy let through: texts are
                // clipped and numbers saturated, so no row can grow the log without bound or
                // fail the whole batch (`u64` over `i64::MAX` is an error in SQLite).
                fn text(t: &Option<String>) -> Option<&str> {
                    t.as_deref().map(clip)
                }
                let number = |n: Option<u64>| n.map(saturate);
                let inserted = stmt.execute(params![
                    clip(&r.id),
                    clip(&r.at),
                    text(&r.token),
                    clip(&r.endpoint),
                    clip(&r.model_requested),
                    text(&r.model_served),
                    text(&r.provider),
                    text(&r.key_id),
                    r.status,
                    text(&r.error_class),
                    attempts,
                    saturate(r.latency_ms),
                    number(r.ttfb_ms),
                    r.stream,
                    number(r.prompt_tokens),
                    number(r.completion_tokens),
                    number(r.cached_tokens),
                    number(r.cost_micros)
                ])?;
                // A row already saved (same id) must not count twice in the rollups.
                if inserted == 1 {
                    rollup.add(r);
                }
            }
            rollup.write(&tx)?;
            // Each token's and each key's newest use in this batch (a token revoked or a key
            // deleted meanwhile has no row to update).
            for (sql, of) in [
                (
                    "UPDATE access_tokens SET last_used_at = ?2 \
                     WHERE name = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                    (|r: &RequestRow| r.token.as_deref()) as fn(&RequestRow) -> Option<&str>,
                ),
                (
                    "UPDATE key_health SET last_used_at = ?2 \
                     WHERE key_id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                    |r: &RequestRow| r.key_id.as_deref(),
                ),
            ] {
                let mut stamp = tx.prepare(sql)?;
                for (name, at) in newest_use(requests, of) {
                    stamp.execute(params![name, at])?;
                }
            }
        }
        crate::health::apply_health_tx(&tx, health)?;
        tx.commit()?;
        Ok(())
    }

    /// The newest requests first. Texts come back clipped (rows saved before the store
    /// clipped them may hold megabytes), so a page of rows stays small.
    pub fn recent_requests(&self, limit: u32) -> Result<Vec<RequestRow>, StoreError> {
        Ok(self.find_requests(&RequestFilter::default(), limit)?.rows)
    }

    /// One page of the request log, newest first, for a filter. Paging is by keyset: a page
    /// ends with a cursor naming its last row, and the next page starts after it, so a page
    /// costs the same however deep it is and rows written meanwhile do not shift it.
    pub fn find_requests(
        &self,
        filter: &RequestFilter,
        limit: u32,
    ) -> Result<RequestPage, StoreError> {
        let mut clauses: Vec<&str> = Vec::new();
        let mut values: Vec<Owned> = Vec::new();
        let text = |v: &str| Owned::Text(v.to_string());
        if let Some(cursor) = &filter.before {
            clauses.push("(at < ? OR (at = ? AND rowid < ?))");
            values.extend([text(&cursor.at), text(&cursor.at), cursor.rowid.into()]);
        }
        if let Some(from) = &filter.from {
            clauses.push("at >= ?");
            values.push(text(from));
        }
        if let Some(to) = &filter.to {
            clauses.push("at < ?");
            values.push(text(to));
        }
        match filter.outcome {
            Some(Outcome::Succeeded) => {
                clauses.push("status BETWEEN 200 AND 299 AND error_class IS NULL");
            }
            Some(Outcome::Failed) => {
                clauses.push("(status NOT BETWEEN 200 AND 299 OR error_class IS NOT NULL)");
            }
            Some(Outcome::Status(code)) => {
                clauses.push("status = ?");
                values.push(i64::from(code).into());
            }
            None => {}
        }
        for (column, wanted) in [
            ("provider", &filter.provider),
            ("key_id", &filter.key_id),
            ("token", &filter.token),
        ] {
            if let Some(wanted) = wanted {
                clauses.push(match column {
                    "provider" => "provider = ?",
                    "key_id" => "key_id = ?",
                    _ => "token = ?",
                });
                values.push(text(wanted));
            }
        }
        if let Some(model) = &filter.model {
            clauses.push("(model_requested = ? OR model_served = ?)");
            values.extend([text(model), text(model)]);
        }
        if let Some(words) = &filter.search {
            // Every word somewhere in the row's texts (attempts hold the key labels).
            for word in words.split_whitespace().take(8) {
                clauses.push(if self.conn.is_postgres() {
                    "strpos(lower(id || ' ' || endpoint || ' ' || model_requested || ' ' || \
                     coalesce(model_served, '') || ' ' || coalesce(token, '') || ' ' || \
                     coalesce(provider, '') || ' ' || coalesce(key_id, '') || ' ' || status || ' ' || \
                     coalesce(error_class, '') || ' ' || attempts), lower(?)) > 0"
                } else {
                    "instr(lower(id || ' ' || endpoint || ' ' || model_requested || ' ' || \
                     coalesce(model_served, '') || ' ' || coalesce(token, '') || ' ' || \
                     coalesce(provider, '') || ' ' || coalesce(key_id, '') || ' ' || status || ' ' || \
                     coalesce(error_class, '') || ' ' || attempts), lower(?)) > 0"
                });
                values.push(text(word));
            }
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        // One row more than asked says whether another page follows.
        values.push((i64::from(limit) + 1).into());
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, at, substr(token, 1, {n}), substr(endpoint, 1, {n}), substr(model_requested, 1, {n}), \
             substr(model_served, 1, {n}), provider, key_id, status, substr(error_class, 1, {n}), \
             attempts, latency_ms, ttfb_ms, stream, prompt_tokens, completion_tokens, cached_tokens, cost_micros, rowid \
             FROM requests {filter_sql} ORDER BY at DESC, rowid DESC LIMIT ?",
            n = MAX_TEXT_BYTES
        ))?;
        let values: Vec<&dyn Arg> = values.iter().map(|v| v as &dyn Arg).collect();
        let rows = stmt.query_map(values.as_slice(), |r| {
            Ok((
                RequestRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    token: r.get(2)?,
                    endpoint: r.get(3)?,
                    model_requested: r.get(4)?,
                    model_served: r.get(5)?,
                    provider: r.get(6)?,
                    key_id: r.get(7)?,
                    status: r.get(8)?,
                    error_class: r.get(9)?,
                    attempts: json_column(r, 10)?,
                    latency_ms: r.get(11)?,
                    ttfb_ms: r.get(12)?,
                    stream: r.get(13)?,
                    prompt_tokens: r.get(14)?,
                    completion_tokens: r.get(15)?,
                    cached_tokens: r.get(16)?,
                    cost_micros: r.get(17)?,
                },
                r.get::<i64>(18)?,
            ))
        })?;
        let mut rows: Vec<(RequestRow, i64)> = rows.collect::<Result<_, _>>()?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = more
            .then(|| rows.last())
            .flatten()
            .map(|(row, rowid)| LogCursor {
                at: row.at.clone(),
                rowid: *rowid,
            });
        Ok(RequestPage {
            rows: rows.into_iter().map(|(row, _)| row).collect(),
            next,
        })
    }
}

/// The newest `at` per name that `of` gives a request (a token, a key).
fn newest_use(
    requests: &[RequestRow],
    of: fn(&RequestRow) -> Option<&str>,
) -> std::collections::BTreeMap<&str, &str> {
    let mut newest = std::collections::BTreeMap::new();
    for r in requests {
        if let Some(name) = of(r) {
            let at = newest.entry(name).or_insert(r.at.as_str());
            if r.at.as_str() > *at {
                *at = r.at.as_str();
            }
        }
    }
    newest
}

/// Which requests a log page holds; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only rows older than this one (the previous page's last).
    pub before: Option<LogCursor>,
    /// Stored-form times (`2026-11-01T10:00:00.000Z`): from inclusive, to exclusive.
    pub from: Option<String>,
    pub to: Option<String>,
    pub outcome: Option<Outcome>,
    pub provider: Option<String>,
    pub key_id: Option<String>,
    pub token: Option<String>,
    /// Requested or served.
    pub model: Option<String>,
    /// Words that must all appear in the row's texts (case-insensitive).
    pub search: Option<String>,
}

/// How a request ended, for the log filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A complete 2xx answer.
    Succeeded,
    /// An error status, or a 2xx whose stream broke.
    Failed,
    Status(u16),
}

/// Where a log page ended: its last row's time and row number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCursor {
    pub at: String,
    pub rowid: i64,
}

impl LogCursor {
    /// The opaque text a client sends back as `before`.
    pub fn encode(&self) -> String {
        format!("{}~{}", self.at, self.rowid)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (at, rowid) = text.rsplit_once('~')?;
        let rowid = rowid.parse().ok()?;
        (!at.is_empty() && at.len() <= 40).then(|| Self {
            at: at.to_string(),
            rowid,
        })
    }
}

/// A page of the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPage {
    pub rows: Vec<RequestRow>,
    /// Set when older rows match too.
    pub next: Option<LogCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, model: String) -> RequestRow {
        RequestRow {
            id: id.into(),
            at: "2026-11-01T10:00:00.000Z".into(),
            token: Some("cli".into()),
            endpoint: "/chat/completions".into(),
            model_requested: model.clone(),
            model_served: Some(model),
            provider: Some("openai".into()),
            key_id: None,
            status: 200,
            error_class: None,
            attempts: Vec::new(),
            latency_ms: 10,
            ttfb_ms: None,
            stream: false,
            prompt_tokens: Some(u64::MAX),
            completion_tokens: Some(10),
            cached_tokens: None,
            cost_micros: Some(u64::MAX),
        }
    }

    #[test]
    fn a_megabyte_model_name_and_huge_counts_are_clipped_not_a_failed_batch() {
        let db = crate::testing::fresh();
        let mut store = db.open();
        let long = "é".repeat(512 * 1024);
        store
            .write_batch(&[row("a", long), row("b", "gpt-4o".into())], &[])
            .expect("one odd row must not fail the batch");
        let rows = store.recent_requests(10).expect("rows");
        assert_eq!(rows.len(), 2);
        let odd = rows.iter().find(|r| r.id == "a").expect("a");
        assert!(odd.model_requested.len() <= MAX_TEXT_BYTES);
        assert_eq!(odd.prompt_tokens, Some(i64::MAX as u64));
        let stored: i64 = store
            .conn
            .query_row(
                "SELECT max(octet_length(model_requested)) FROM requests",
                params![],
                |r| r.get(0),
            )
            .expect("length");
        assert!(stored <= MAX_TEXT_BYTES as i64, "{stored} bytes stored");
    }

    #[test]
    fn a_batch_meets_a_busy_error_while_another_connection_holds_the_write_lock() {
        let db = crate::testing::fresh();
        let mut store = db.open();
        let other = db.open();
        // SQLite: the write lock; PostgreSQL: the log table's lock, against a lock timeout.
        other
            .conn
            .batch(if db.is_postgres() {
                "BEGIN; LOCK TABLE requests IN EXCLUSIVE MODE"
            } else {
                "BEGIN IMMEDIATE"
            })
            .expect("lock");
        store
            .set_busy_timeout(std::time::Duration::from_millis(20))
            .expect("timeout");
        let err = store
            .write_batch(&[row("a", "m".into())], &[])
            .expect_err("locked");
        assert!(err.is_busy(), "{err}");
        other.conn.batch("ROLLBACK").expect("unlock");
        store
            .write_batch(&[row("a", "m".into())], &[])
            .expect("the same batch later");
    }

    #[test]
    fn log_pages_follow_each_other_by_keyset_and_filters_combine() {
        let db = crate::testing::fresh();
        let mut store = db.open();
        let rows: Vec<RequestRow> = (0..25)
            .map(|i| {
                let mut r = row(
                    &format!("r{i:02}"),
                    if i % 2 == 0 {
                        "gpt-4o"
                    } else {
                        "deepseek-chat"
                    }
                    .into(),
                );
                // Five rows share each second, so paging must break ties by row.
                r.at = format!("2026-11-01T10:00:{:02}.000Z", i / 5);
                r.status = if i % 5 == 0 { 429 } else { 200 };
                r.token = Some(if i < 10 { "cursor" } else { "aider" }.into());
                r
            })
            .collect();
        store.write_batch(&rows, &[]).expect("write");
        let mut seen = Vec::new();
        let mut filter = RequestFilter::default();
        loop {
            let page = store.find_requests(&filter, 7).expect("page");
            seen.extend(page.rows.iter().map(|r| r.id.clone()));
            match page.next {
                Some(cursor) => {
                    let decoded = LogCursor::decode(&cursor.encode()).expect("round trip");
                    filter.before = Some(decoded);
                }
                None => break,
            }
        }
        let mut expected: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        expected.reverse();
        assert_eq!(seen, expected, "every row once, newest first");

        let failed = RequestFilter {
            outcome: Some(Outcome::Failed),
            token: Some("aider".into()),
            ..RequestFilter::default()
        };
        let page = store.find_requests(&failed, 100).expect("failed");
        assert_eq!(
            page.rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r20", "r15", "r10"]
        );
        let search = RequestFilter {
            search: Some("DEEPSEEK 429".into()),
            ..RequestFilter::default()
        };
        let page = store.find_requests(&search, 100).expect("search");
        assert_eq!(
            page.rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r15", "r05"]
        );
        let window = RequestFilter {
            from: Some("2026-11-01T10:00:01.000Z".into()),
            to: Some("2026-11-01T10:00:02.000Z".into()),
            model: Some("gpt-4o".into()),
            ..RequestFilter::default()
        };
        let page = store.find_requests(&window, 100).expect("window");
        assert_eq!(
            page.rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r08", "r06"]
        );
        assert!(LogCursor::decode("junk").is_none());
    }
}
