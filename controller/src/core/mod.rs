//! What every wing stands on: the controller handle, typed object access with
//! its one read-modify-write helper, the store and its watch-fed cache, the audit
//! log, the clock, roles and sessions, the CA, leadership, counters and errors.

pub mod action;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod error;
pub mod leader;
pub mod metrics;
pub mod object;
pub mod pki;
pub mod store;

pub use action::AuditAction;
pub use object::{Change, Refusal, Step, StoredObject};

use crate::Result;
use audit::AuditLog;
use cache::Cache;
use camplane_config::controller::ControllerConfig;
use clock::DynClock;
use jiff::Timestamp;
use std::sync::Arc;
use store::DynStore;
use tokio_util::sync::CancellationToken;

/// The controller.
pub struct Controller {
    /// The store.
    pub store: DynStore,
    /// The watch-fed cache.
    pub cache: Cache,
    /// The clock.
    pub clock: DynClock,
    /// The audit log.
    pub audit: AuditLog,
    /// The config.
    pub config: ControllerConfig,
    /// Per-object locks: writers of one object in this process take turns
    /// instead of racing (compare-and-swap still guards across replicas).
    locks: std::sync::Mutex<
        std::collections::HashMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>,
    >,
    /// Placement layers and rules, built once per set of versions.
    pub placement: crate::approvals::placement::Engine,
    /// Agents connected to this controller (ALPR searches go out through it).
    pub hub: crate::alpr::search::Hub,
    /// Counters for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
}

impl Controller {
    /// Builds a controller over a store and starts its cache.
    pub async fn new(
        config: ControllerConfig,
        store: DynStore,
        clock: DynClock,
        cancel: CancellationToken,
    ) -> Result<Arc<Controller>> {
        let cache = Cache::start(store.clone(), cancel).await?;
        let audit = AuditLog::new(store.clone(), cache.clone(), clock.clone());
        Ok(Arc::new(Controller {
            store,
            cache,
            clock,
            audit,
            config,
            locks: Default::default(),
            placement: crate::approvals::placement::Engine::default(),
            hub: crate::alpr::search::Hub::default(),
            metrics: Default::default(),
        }))
    }

    /// The time now, by the injected clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
