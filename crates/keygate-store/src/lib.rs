//! KeyGate's SQLite store: `$KEYGATE_HOME/keygate.db` in WAL mode with foreign keys on.
//!
//! Holds providers, keys (metadata and fingerprint only), key health, local access tokens
//! (SHA-256 hashes only), settings and events. Opening a store migrates it forward; a
//! database written by a newer KeyGate is refused rather than guessed at.
//!
//! This crate must never store a secret: no column holds an API key or a token in clear.

mod balances;
mod columns;
mod db;
mod error;
mod events;
mod health;
mod keys;
mod migrations;
mod pg_migrations;
mod prices;
mod providers;
mod requests;
mod rollups;
mod routes;
mod settings;
mod sql;
#[cfg(test)]
mod testing;
mod tokens;
mod usage;

pub use balances::BalanceRow;
pub use db::{DB_FILE_NAME, Store, StoreLocation, redact_url};
pub use error::StoreError;
pub use events::{CHECKS_KEPT_PER_KEY, CheckRow, EVENTS_KEPT, Event, NewEvent};
pub use health::HealthUpdate;
pub use keys::{KeyEdit, KeyHealthRow, KeyRow, NewKey};
pub use migrations::SCHEMA_VERSION;
pub use pg_migrations::PG_SCHEMA_VERSION;
pub use prices::{CatalogPrice, PriceImport, PriceRow, SyncedModel};
pub use providers::{NewProvider, ProviderEdit, ProviderRemoval, ProviderRow};
pub use requests::{AttemptLog, LogCursor, Outcome, RequestFilter, RequestPage, RequestRow};
pub use rollups::{Bucket, LatencyMetric, LatencyPoint, SeriesPoint, bucket_of, bucket_value};
pub use routes::{RouteRow, RouteTier};
pub use sql::DbError;
pub use tokens::{NewToken, TokenRow};
pub use usage::{GroupBy, KeyActivity, Metrics, Percentiles, UsageRow};
