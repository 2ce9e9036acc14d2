//! Everything the proxy needs at run time, shared by every request and background task: the
//! catalog (swapped atomically), live registries, clients, settings and the writer's channel.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use keygate_core::breaker::BreakerConfig;
use keygate_core::health::{HealthReason, HealthState};
use keygate_store::{HealthUpdate, RequestRow};
use tokio::sync::{broadcast, mpsc};

use super::catalog::{self, Catalog, Clock};
use super::registry::Registry;
use super::settings::ProxySettings;
use super::writer_status::WriterStatus;
use super::{sticky, upstream, upstream_client};
use crate::events::{BUS_CAPACITY, Event};
use crate::health::config::CheckerConfig;

/// What the request path hands to the background writer.
pub enum WriteOp {
    Health(HealthUpdate),
    /// An event for the events table.
    Event(keygate_store::NewEvent),
    /// A health check or key test for the key's history.
    Check(keygate_store::CheckRow),
    /// A finished request.
    Request(Box<Finished>),
    /// Write the batch being gathered now, then answer: everything sent before is stored.
    Flush(tokio::sync::oneshot::Sender<()>),
    /// A balance the checker fetched, for the key whose live state shows it.
    Balance(Box<crate::balance::Fetched>, Arc<catalog::LiveKey>),
}

/// A finished request for the writer.
pub struct Finished {
    pub row: RequestRow,
    /// A non-streamed answer whose usage the writer reads, off the request path.
    pub body: Option<Bytes>,
    /// The key that served it: the tokens count against its limits, the cost and tokens
    /// against its budgets.
    pub key: Option<Arc<catalog::LiveKey>>,
    /// The caller's token: the cost and tokens count against its budgets.
    pub token: Arc<catalog::LiveToken>,
}

/// Everything the proxy needs at run time.
pub struct ProxyState {
    catalog: ArcSwap<Catalog>,
    /// Held while a catalog is built and installed (see `rebuild_catalog`).
    catalog_rebuild: std::sync::Mutex<()>,
    pub registry: Registry,
    pub clock: Clock,
    pub client: reqwest::Client,
    /// The client for proxied requests (reqwest's layers cost too much on the request path).
    pub upstream: upstream_client::UpstreamClient,
    /// Read per request (`settings()`), replaced whole when a setting changes: live, lock-free.
    settings: ArcSwap<ProxySettings>,
    pub writer_tx: mpsc::UnboundedSender<WriteOp>,
    /// What the writer holds, lost and last failed on (`/api/health`).
    pub writer: Arc<WriterStatus>,
    pub models: ModelCache,
    pub sessions: sticky::Sessions,
    pub events: tokio::sync::broadcast::Sender<Event>,
    /// Flips to true when the engine starts shutting down (long-lived streams end on it).
    stopping: tokio::sync::watch::Sender<bool>,
    /// The health checker's configuration; changing it wakes the checker.
    pub health_config: tokio::sync::watch::Sender<CheckerConfig>,
}

impl ProxyState {
    pub fn new(
        settings: ProxySettings,
        writer_tx: mpsc::UnboundedSender<WriteOp>,
    ) -> reqwest::Result<Self> {
        let tls = upstream::tls_config();
        let client = upstream::client_with_tls(settings.connect_timeout, tls.clone())?;
        Ok(Self {
            catalog: ArcSwap::from_pointee(Catalog::default()),
            catalog_rebuild: std::sync::Mutex::new(()),
            registry: Registry::with_breaker(BreakerConfig::probing_every(
                u64::try_from(settings.breaker_probe.as_millis()).unwrap_or(u64::MAX),
            )),
            clock: Clock::new(),
            upstream: upstream_client::UpstreamClient::new(
                settings.connect_timeout,
                tls,
                client.clone(),
            ),
            client,
            settings: ArcSwap::from_pointee(settings),
            writer_tx,
            writer: Arc::default(),
            models: ModelCache::default(),
            sessions: sticky::Sessions::default(),
            events: tokio::sync::broadcast::channel(BUS_CAPACITY).0,
            stopping: tokio::sync::watch::channel(false).0,
            health_config: tokio::sync::watch::channel(CheckerConfig::default()).0,
        })
    }

    /// The proxy settings in force (one atomic load; hold the `Arc` for a request).
    pub fn settings(&self) -> Arc<ProxySettings> {
        self.settings.load_full()
    }

    /// Puts new settings in force for the next request. The circuit breakers' probe interval
    /// stays as the engine started with it (`applies_live`).
    pub fn replace_settings(&self, settings: ProxySettings) {
        self.settings.store(Arc::new(settings));
    }

    /// Tells long-lived tasks and streams (checker, event streams) that the engine is stopping.
    pub fn begin_stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Waits (at most a second) until everything queued for the store so far is written: for
    /// admin actions that answer with what they saved (a key test), not for the request path.
    pub async fn flush_writes(&self) {
        let (ack, written) = tokio::sync::oneshot::channel();
        if self.writer_tx.send(WriteOp::Flush(ack)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), written).await;
        }
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// Builds the catalog from `store` and installs it. Rebuilds take turns: the writer's
    /// background reload can race an admin change's own reload, and a build that read the
    /// store before the change must not be installed after the one that read it after (it
    /// would bring back, after the change was acknowledged, what the change removed).
    pub fn rebuild_catalog(
        &self,
        store: &keygate_store::Store,
        vault: &keygate_vault::Vault,
    ) -> Result<(), keygate_store::StoreError> {
        let _turn = self
            .catalog_rebuild
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let catalog = self.registry.build(store, vault, self.clock.now_ms())?;
        self.catalog.store(Arc::new(catalog));
        Ok(())
    }
}

impl ProxyState {
    /// Publishes an event to subscribers and queues it for the events table.
    pub fn emit(&self, event: Event) {
        let row = event.row();
        let _ = self.events.send(event);
        let _ = self.writer_tx.send(WriteOp::Event(row));
    }

    /// Announces a key's change of health, if `before` and `after` differ.
    pub fn announce_change(
        &self,
        key: &catalog::LiveKey,
        provider: &str,
        before: (HealthState, Option<HealthReason>),
        after: (HealthState, Option<HealthReason>),
    ) {
        if before != after {
            self.emit(Event::key_state(
                &key.id, &key.label, provider, before, after,
            ));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// `(model id, owner)`.
pub type ModelEntry = (String, String);

/// The last `/v1/models` listing of the providers, and when it was made.
#[derive(Default)]
pub struct ModelCache {
    entries: std::sync::Mutex<Option<(std::time::Instant, Vec<ModelEntry>)>>,
}

impl ModelCache {
    /// The listing, if it is younger than `max_age`.
    pub fn fresh(&self, max_age: Duration) -> Option<Vec<ModelEntry>> {
        let cached = self.entries.lock().ok()?;
        cached
            .as_ref()
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, entries)| entries.clone())
    }

    pub fn put(&self, entries: Vec<ModelEntry>) {
        if let Ok(mut cache) = self.entries.lock() {
            *cache = Some((std::time::Instant::now(), entries));
        }
    }
}
