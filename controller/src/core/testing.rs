//! A controller on a given store, for the core's unit tests.

use super::Controller;
use crate::core::clock::SystemClock;
use crate::core::store::{
    Compare, DynStore, KeyValue, LeaseId, Listing, Op, Revision, TxnOutcome, WatchStream,
};
use camplane_config::controller::ControllerConfig;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A controller replica of a small test city on `store`.
pub(crate) async fn replica(store: DynStore) -> Arc<Controller> {
    let config = ControllerConfig::parse(
        "t.yaml",
        "city:\n  name: T\n  time_zone: America/Chicago\nlisten: 127.0.0.1:0\nstore:\n  embedded:\n    path: /x\n",
    )
    .unwrap();
    Controller::new(
        config,
        store,
        Arc::new(SystemClock),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

/// Two replicas on one fresh embedded store in `dir`, the second on [`Lagging`] (its
/// watch hears nothing from its start), with the first admin bootstrapped and signed
/// in on the first: (first, second, admin).
pub(crate) async fn lagging_pair(
    dir: &std::path::Path,
) -> (Arc<Controller>, Arc<Controller>, crate::core::auth::Actor) {
    const ADMIN_PW: &str = "a long enough admin passphrase 7";
    let store: DynStore = Arc::new(crate::core::store::embedded::EmbeddedStore::open(dir).unwrap());
    let a = replica(store.clone()).await;
    a.bootstrap_admin(Some(ADMIN_PW.into())).await.unwrap();
    let name = a.config.auth.initial_admin.clone();
    let token = a.login(&name, ADMIN_PW, None).await.unwrap().token;
    let admin = a.authenticate(&token).await.unwrap();
    let b = replica(Arc::new(Lagging(store))).await;
    (a, b, admin)
}

/// A store whose watches hear nothing: a replica on it is as far behind as a watch
/// can be (its cache keeps what it listed at start), while every read and write
/// reaches the real store underneath. What a lagging etcd watch looks like to the
/// replica, made deterministic.
pub(crate) struct Lagging(pub DynStore);

#[async_trait::async_trait]
impl crate::core::store::Store for Lagging {
    async fn get(&self, key: &str) -> crate::Result<Option<KeyValue>> {
        self.0.get(key).await
    }
    async fn get_many(&self, keys: &[&str]) -> crate::Result<Vec<Option<KeyValue>>> {
        self.0.get_many(keys).await
    }
    async fn list(&self, prefix: &str) -> crate::Result<Listing> {
        self.0.list(prefix).await
    }
    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> crate::Result<TxnOutcome> {
        self.0.txn(compares, ops).await
    }
    async fn watch(&self, _prefix: &str, _from: Revision) -> crate::Result<WatchStream> {
        Ok(Box::pin(futures::stream::pending()))
    }
    async fn revision(&self) -> crate::Result<Revision> {
        self.0.revision().await
    }
    fn backend(&self) -> &'static str {
        "lagging"
    }
    async fn lease_grant(&self, ttl_seconds: i64) -> crate::Result<LeaseId> {
        self.0.lease_grant(ttl_seconds).await
    }
    async fn lease_keep_alive(&self, lease: LeaseId) -> crate::Result<bool> {
        self.0.lease_keep_alive(lease).await
    }
    async fn lease_revoke(&self, lease: LeaseId) -> crate::Result<()> {
        self.0.lease_revoke(lease).await
    }
    async fn txn_leased(
        &self,
        compares: Vec<Compare>,
        ops: Vec<Op>,
        lease: LeaseId,
    ) -> crate::Result<TxnOutcome> {
        self.0.txn_leased(compares, ops, lease).await
    }
}
