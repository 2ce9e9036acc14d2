//! Provider balances per key: fetched with key tests and by the background checker (at most
//! hourly), never on the request path, from the endpoints in `keygate_core::balance`; saved
//! with the key's low-balance threshold applied, so that a crossing raises one `balance_low`
//! event and a zero balance shows the key yellow ("out of credit soon") before it fails.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::HeaderMap;
use keygate_core::balance::{
    LowBalance, NOT_AVAILABLE, balance_endpoint, balance_url, read_balance,
};
use keygate_core::events::EventKind;
use keygate_store::{BalanceRow, Store, StoreError};

use crate::events::Event;
use crate::proxy::catalog::{LiveKey, LiveProvider};
use crate::proxy::state::{ProxyState, WriteOp};
use crate::proxy::upstream::native_headers;

/// How long a balance request may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A balance fetched for a key, ready for [`record`].
#[derive(Debug, Clone)]
pub struct Fetched {
    pub row: BalanceRow,
    /// The endpoint did not answer a balance (an error, or another shape); a known amount
    /// is kept.
    pub failed: bool,
    pub key_label: String,
    pub provider: String,
    /// The key's low-balance threshold, as the user wrote it.
    pub threshold: Option<String>,
}

/// Whether a saved balance puts the key at "out of credit soon".
pub fn out_of_credit(balance: Option<&BalanceRow>) -> bool {
    balance.is_some_and(|b| b.available && b.amount.is_some_and(|a| a <= 0.0))
}

/// Asks `provider` for `key`'s balance. A provider without a balance endpoint is answered
/// without a request. Every note is scrubbed of the key's secret.
pub async fn fetch(
    client: &reqwest::Client,
    provider: &LiveProvider,
    key: &LiveKey,
    threshold: Option<String>,
) -> Fetched {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut fetched = Fetched {
        row: BalanceRow {
            key_id: key.id.clone(),
            available: false,
            amount: None,
            currency: None,
            checked_at: now,
            note: NOT_AVAILABLE.to_string(),
            low: false,
        },
        failed: false,
        key_label: key.label.clone(),
        provider: provider.name.clone(),
        threshold,
    };
    let Some(endpoint) = balance_endpoint(&provider.name, &provider.base_url) else {
        return fetched;
    };
    fetched.row.available = true;
    let answer = client
        .get(balance_url(&provider.base_url, endpoint))
        .headers(native_headers(&HeaderMap::new(), provider, key))
        .timeout(TIMEOUT)
        .send()
        .await;
    let outcome = match answer {
        Err(e) => Err(format!(
            "the balance endpoint could not be reached ({})",
            if e.is_timeout() {
                "timed out"
            } else {
                "no connection"
            }
        )),
        Ok(response) => {
            let status = response.status();
            let body = response.bytes().await.unwrap_or_default();
            if status.is_success() {
                serde_json::from_slice(&body)
                    .map_err(|_| "the balance endpoint did not answer JSON".to_string())
                    .and_then(|json| {
                        read_balance(endpoint.shape, &provider.base_url, &json)
                            .map_err(|e| format!("the balance answer was not understood: {e}"))
                    })
            } else {
                Err(match status.as_u16() {
                    401 | 403 => format!(
                        "the balance endpoint refused the key (HTTP {})",
                        status.as_u16()
                    ),
                    404 => "the balance endpoint was not found (HTTP 404): this account or region may not publish it".to_string(),
                    s => format!("the balance endpoint answered HTTP {s}"),
                })
            }
        }
    };
    match outcome {
        Ok(reading) => {
            fetched.row.amount = reading.amount;
            fetched.row.currency = Some(reading.currency);
            fetched.row.note = key.redactor.scrub_for_storage(&reading.note);
        }
        Err(why) => {
            fetched.failed = true;
            fetched.row.note = key.redactor.scrub_for_storage(&why);
        }
    }
    fetched
}

/// Fetches `key`'s balance for the running engine and hands it to the writer, which saves it
/// and shows on the key what it means (`WriteOp::Balance`); answers the balance as fetched.
pub async fn refresh_live(
    proxy: &ProxyState,
    provider: &LiveProvider,
    key: &Arc<LiveKey>,
    threshold: Option<String>,
) -> BalanceRow {
    let fetched = fetch(&proxy.client, provider, key, threshold).await;
    let row = fetched.row.clone();
    let _ = proxy
        .writer_tx
        .send(WriteOp::Balance(Box::new(fetched), key.clone()));
    row
}

/// Saves a fetched balance with the key's threshold applied; answers the row as saved and the
/// `balance_low` event when this reading crossed the threshold (or reached zero). A failed
/// fetch keeps the last known amount and its time, with the failure in the note.
pub fn record(store: &Store, fetched: Fetched) -> Result<(BalanceRow, Option<Event>), StoreError> {
    let mut row = fetched.row;
    let saved = store.key_balance(&row.key_id)?;
    let was_low = saved.as_ref().is_some_and(|b| b.low);
    let previous = saved.filter(|b| b.amount.is_some());
    if fetched.failed
        && let Some(previous) = previous
    {
        row = BalanceRow {
            note: format!(
                "{} (at {}); last known amount shown",
                row.note, row.checked_at
            ),
            ..previous
        };
        store.save_balance(&row)?;
        return Ok((row, None));
    }
    let threshold = fetched
        .threshold
        .as_deref()
        .and_then(|t| t.parse::<LowBalance>().ok());
    row.low = match (row.amount, threshold) {
        (Some(amount), _) if amount <= 0.0 => true,
        (Some(amount), Some(threshold)) => {
            let week_ago = (chrono::Utc::now() - chrono::Duration::days(7))
                .format("%Y-%m-%dT%H")
                .to_string();
            let (spend, _) = store.key_spend_since(&row.key_id, &week_ago)?;
            threshold.is_low(amount, row.currency.as_deref().unwrap_or("USD"), spend)
        }
        _ => false,
    };
    store.save_balance(&row)?;
    let event = (row.low && !was_low).then(|| {
        let amount = row.amount.unwrap_or(0.0);
        let currency = row.currency.as_deref().unwrap_or("");
        let why = match threshold {
            _ if amount <= 0.0 => "it is out of credit".to_string(),
            Some(LowBalance::Below(v)) => format!("under the threshold of {v:.2} {currency}"),
            Some(LowBalance::DaysLeft(d)) => {
                format!("under {d} day(s) of spend at the last 7 days' rate")
            }
            None => String::new(),
        };
        let mut event = Event::new(
            EventKind::BalanceLow,
            format!(
                "key {:?} of {} has {amount:.2} {currency} left: {why}; top it up",
                fetched.key_label, fetched.provider
            ),
        );
        event.key_id = Some(row.key_id.clone());
        event.key_label = Some(fetched.key_label.clone());
        event.provider = Some(fetched.provider.clone());
        event
    });
    Ok((row, event))
}

/// Applies a saved balance to the key's live state: zero shows it yellow.
pub fn apply(key: &LiveKey, row: &BalanceRow) {
    key.runtime
        .out_of_credit
        .store(out_of_credit(Some(row)), Ordering::Relaxed);
}

/// Fetches and saves the balances of `rows` when no engine is running: the catalog is built
/// from the store and vault here, and the `balance_low` events go to the events table.
pub async fn refresh_offline(
    store: &mut Store,
    vault: &keygate_vault::Vault,
    rows: &[keygate_store::KeyRow],
) -> Result<(), String> {
    let clock = crate::proxy::Clock::new();
    let catalog = crate::proxy::Registry::default()
        .build(store, vault, clock.now_ms())
        .map_err(|e| e.to_string())?;
    let client = crate::proxy::upstream::client(Duration::from_secs(10))
        .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
    let (_, events) = fetch_and_record(store, &catalog, &client, rows).await?;
    store
        .write_activity(&events, &[])
        .map_err(|e| e.to_string())
}

/// Fetches the balances of `rows` that `catalog` can use, concurrently, and saves them:
/// the rows as saved and the `balance_low` events for the events table.
pub async fn fetch_and_record(
    store: &Store,
    catalog: &crate::proxy::Catalog,
    client: &reqwest::Client,
    rows: &[keygate_store::KeyRow],
) -> Result<(Vec<BalanceRow>, Vec<keygate_store::NewEvent>), String> {
    let fetches = rows.iter().filter_map(|row| {
        let (provider, key) = crate::health::testable_key(catalog, row)?;
        let threshold = row.low_balance.clone();
        Some(async move { fetch(client, &provider, &key, threshold).await })
    });
    let mut saved = Vec::new();
    let mut events = Vec::new();
    for fetched in futures_util::future::join_all(fetches).await {
        let (row, event) = record(store, fetched).map_err(|e| e.to_string())?;
        saved.push(row);
        events.extend(event.map(|e| e.row()));
    }
    Ok((saved, events))
}
