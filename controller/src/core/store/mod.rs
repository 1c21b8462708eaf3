//! Controller state behind one small async trait, with two implementations that
//! pass one conformance suite ([`conformance`]):
//!
//! - [`embedded::EmbeddedStore`]: an append-only, checksummed log on local disk
//!   (the default: one machine, nothing to install);
//! - [`etcd::EtcdStore`]: an etcd cluster (several controllers).
//!
//! The model is etcd's: every change gets a store-wide revision; keys carry their
//! create and mod revisions; a transaction applies puts and deletes only if every
//! compare holds; a watch streams changes under a prefix from any revision still in
//! history. Values of any size are accepted: the etcd store splits large ones into
//! chunks transparently (etcd refuses requests over 1.5 MiB).

pub mod conformance;
pub mod embedded;
pub mod etcd;

use crate::core::error::Result;
use async_trait::async_trait;
use futures::stream::BoxStream;
use std::sync::Arc;

/// A store-wide revision: increases by one for every committed transaction.
pub type Revision = i64;

/// A key with its value and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Arc<Vec<u8>>,
    /// Revision that created the key.
    pub create_revision: Revision,
    /// Revision of the last change.
    pub mod_revision: Revision,
}

/// A condition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key's mod revision equals this; `0` means the key must not exist.
    ModRevision(String, Revision),
}

/// A change of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set a key.
    Put(String, Vec<u8>),
    /// Remove a key (no error when absent).
    Delete(String),
}

impl Op {
    /// The key the op changes.
    pub fn key(&self) -> &str {
        match self {
            Op::Put(k, _) | Op::Delete(k) => k,
        }
    }
}

/// What a transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOutcome {
    /// Whether every compare held and the ops were applied.
    pub succeeded: bool,
    /// The store revision after the transaction (unchanged when it failed).
    pub revision: Revision,
}

/// A prefix listing at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The keys, sorted.
    pub kvs: Vec<KeyValue>,
    /// The store revision the listing was taken at: watch from `revision + 1`.
    pub revision: Revision,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A key was set.
    Put(KeyValue),
    /// A key was removed at this revision.
    Delete {
        /// The key.
        key: String,
        /// The revision of the deletion.
        revision: Revision,
    },
}

impl WatchEvent {
    /// The event's key.
    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put(kv) => &kv.key,
            WatchEvent::Delete { key, .. } => key,
        }
    }
    /// The revision the event happened at.
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Put(kv) => kv.mod_revision,
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }
}

/// A stream of changes, in revision order. It ends (after an error item) only when
/// history it needs is gone; connection losses are healed inside.
pub type WatchStream = BoxStream<'static, Result<WatchEvent>>;

/// The controller's state store.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;
    /// Reads several keys at one revision, in the order asked (`None` where a key
    /// is absent). On etcd this is one linearizable round trip: what a replica
    /// must not take from its watch-fed cache (who a caller is) is read here.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<KeyValue>>>;
    /// Lists every key under a prefix, sorted, at one revision.
    async fn list(&self, prefix: &str) -> Result<Listing>;
    /// Applies `ops` atomically if every compare holds.
    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnOutcome>;
    /// Streams every change under `prefix` from revision `from` (inclusive).
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream>;
    /// The current store revision.
    async fn revision(&self) -> Result<Revision>;
    /// A short name for logs ("embedded", "etcd").
    fn backend(&self) -> &'static str;

    /// Grants a lease that lives `ttl_seconds` unless kept alive. On etcd a
    /// lease outlives nothing but its keep-alives (a crashed controller's keys
    /// vanish within the time); the embedded store keeps leases in memory and
    /// removes every leased key when it is next opened.
    async fn lease_grant(&self, ttl_seconds: i64) -> Result<LeaseId>;
    /// Renews a lease for another time to live; `false` when it has ended.
    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<bool>;
    /// Ends a lease now, removing its keys (no error when it had ended).
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()>;
    /// [`Store::txn`], its puts bound to `lease` (values at most 1 MiB: a
    /// leased value is never chunked). A put without a lease later detaches the key.
    async fn txn_leased(
        &self,
        compares: Vec<Compare>,
        ops: Vec<Op>,
        lease: LeaseId,
    ) -> Result<TxnOutcome>;

    /// Sets a key unconditionally; returns the new revision.
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        Ok(self
            .txn(vec![], vec![Op::Put(key.into(), value)])
            .await?
            .revision)
    }

    /// Sets a key if its mod revision is `expected` (`0`: if it does not exist).
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: Vec<u8>,
    ) -> Result<TxnOutcome> {
        self.txn(
            vec![Compare::ModRevision(key.into(), expected)],
            vec![Op::Put(key.into(), value)],
        )
        .await
    }

    /// Removes a key; returns whether it existed.
    async fn delete(&self, key: &str) -> Result<bool> {
        let Some(kv) = self.get(key).await? else {
            return Ok(false);
        };
        let out = self
            .txn(
                vec![Compare::ModRevision(key.into(), kv.mod_revision)],
                vec![Op::Delete(key.into())],
            )
            .await?;
        Ok(out.succeeded)
    }
}

/// A lease's id: keys put under a lease ([`Store::txn_leased`]) vanish when it
/// ends (revoked, or not kept alive within its time to live).
pub type LeaseId = i64;

/// A shared store.
pub type DynStore = Arc<dyn Store>;

/// Opens the store a controller config names.
pub async fn open(cfg: &camplane_config::controller::StoreConfig) -> Result<DynStore> {
    if let Some(e) = &cfg.etcd {
        let s = etcd::EtcdStore::connect(&e.endpoints, &e.prefix).await?;
        return Ok(Arc::new(s));
    }
    let path = cfg
        .embedded
        .as_ref()
        .map(|e| e.path.clone())
        .ok_or_else(|| crate::Error::InvalidArgument("no store configured".into()))?;
    Ok(Arc::new(embedded::EmbeddedStore::open(&path)?))
}
