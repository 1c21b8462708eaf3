//! What every wing stands on: the controller handle, typed object access with
//! its one read-modify-write helper, the store and its watch-fed cache, the audit
//! log, the clock, roles and sessions, the CA, leadership, counters and errors.

pub mod action;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod csv;
pub mod error;
pub mod events;
pub mod http1;
pub mod leader;
pub mod metrics;
pub mod object;
pub mod page;
pub mod pki;
pub mod sealed;
pub mod secrets;
pub mod store;
pub mod witness;

#[cfg(test)]
pub(crate) mod testing;

pub use action::AuditAction;
pub use object::{Change, KeyChange, KeyStep, KeyWrite, Refusal, Step, StoredObject};

use crate::Result;
use audit::AuditLog;
use cache::Cache;
use camplane_config::controller::ControllerConfig;
use clock::DynClock;
use jiff::Timestamp;
use std::any::{Any, TypeId};
use std::collections::HashMap;
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
    /// What wings keep for the process's life (see [`Controller::wing`]).
    wings: std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// Counters for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// The server's shutdown token: blocking work (placement) stops when it
    /// is cancelled, so a shutdown never waits on it.
    pub shutdown: CancellationToken,
}

impl Controller {
    /// Builds a controller over a store and starts its cache.
    pub async fn new(
        config: ControllerConfig,
        store: DynStore,
        clock: DynClock,
        cancel: CancellationToken,
    ) -> Result<Arc<Controller>> {
        let cache = Cache::start(store.clone(), cancel.clone()).await?;
        let audit = AuditLog::new(store.clone(), cache.clone(), clock.clone());
        Ok(Arc::new(Controller {
            store,
            cache,
            clock,
            audit,
            config,
            locks: Default::default(),
            wings: Default::default(),
            metrics: Default::default(),
            shutdown: cancel,
        }))
    }

    /// The state a wing keeps in this process for its life (the placement
    /// engine's built layers, the query hub of connected agents): one value per
    /// type, made on first use. Core holds it without naming any wing's type.
    pub fn wing<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut m = self.wings.lock().unwrap_or_else(|p| p.into_inner());
        let any = m
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()))
            .clone();
        // Keyed by its own type id, so the cast holds.
        any.downcast::<T>()
            .unwrap_or_else(|_| unreachable!("wing state keyed by its type"))
    }

    /// The time now, by the injected clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
