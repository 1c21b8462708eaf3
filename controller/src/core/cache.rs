//! A watch-fed copy of the hot part of the store (objects, sessions, the audit
//! head), like a kube-rs reflector: list, then watch from the list's revision,
//! relist when history is compacted. Reads are served from memory; the
//! controller's own writes are applied at once (write-through), and other
//! controllers' writes arrive through the watch, so replicas see each other's
//! changes within milliseconds without polling.

use crate::core::store::{DynStore, KeyValue, Revision, WatchEvent};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Key prefixes the cache mirrors.
pub const CACHED: [&str; 3] = ["objects/", "meta/", "sessions/"];

/// Keys whose changes can change what an agent must run or hold: cameras,
/// agents, legal holds, hotlists and camera credentials. Agent sessions wake only for these (not for
/// every audit entry or sign-in), so a fleet of thousands stays quiet.
pub const FLEET: [&str; 5] = [
    "objects/cameras/",
    "objects/agents/",
    "objects/holds/",
    "meta/hotlists/",
    crate::core::secrets::CREDENTIALS,
];

#[derive(Default)]
struct Inner {
    map: BTreeMap<String, KeyValue>,
    /// Deleted keys and when, so a late watch event cannot resurrect them.
    tombstones: BTreeMap<String, Revision>,
}

/// The cache.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<RwLock<Inner>>,
    rev: Arc<tokio::sync::watch::Sender<Revision>>,
    fleet_rev: Arc<tokio::sync::watch::Sender<Revision>>,
}

impl Cache {
    /// Loads the cache and keeps it current until `cancel` fires.
    pub async fn start(store: DynStore, cancel: CancellationToken) -> crate::Result<Cache> {
        let (tx, _) = tokio::sync::watch::channel(0);
        let (ftx, _) = tokio::sync::watch::channel(0);
        let cache = Cache {
            inner: Arc::default(),
            rev: Arc::new(tx),
            fleet_rev: Arc::new(ftx),
        };
        let mut streams = Vec::new();
        for p in CACHED {
            let l = store.list(p).await?;
            {
                let mut g = cache.write();
                for kv in l.kvs {
                    g.map.insert(kv.key.clone(), kv);
                }
            }
            streams.push((p, l.revision));
        }
        for (prefix, rev) in streams {
            let c = cache.clone();
            let store = store.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move { c.follow(store, prefix, rev, cancel).await });
        }
        Ok(cache)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    async fn follow(
        &self,
        store: DynStore,
        prefix: &'static str,
        mut rev: Revision,
        cancel: CancellationToken,
    ) {
        loop {
            let mut w = tokio::select! {
                _ = cancel.cancelled() => return,
                w = store.watch(prefix, rev + 1) => match w {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!(error = %e, prefix, "cache watch failed; relisting");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        rev = self.relist(&store, prefix).await.unwrap_or(rev);
                        continue;
                    }
                }
            };
            loop {
                let ev = tokio::select! {
                    _ = cancel.cancelled() => return,
                    ev = w.next() => ev,
                };
                match ev {
                    Some(Ok(e)) => {
                        rev = e.revision();
                        self.apply_event(e);
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, prefix, "cache watch lost history; relisting");
                        rev = self.relist(&store, prefix).await.unwrap_or(rev);
                        break;
                    }
                    None => break,
                }
            }
        }
    }

    async fn relist(&self, store: &DynStore, prefix: &str) -> Option<Revision> {
        let l = store.list(prefix).await.ok()?;
        let mut g = self.write();
        let stale: Vec<String> = g
            .map
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            g.map.remove(&k);
        }
        for kv in l.kvs {
            g.map.insert(kv.key.clone(), kv);
        }
        drop(g);
        // Whatever changed meanwhile is in the map now: wake everyone.
        let r = l.revision;
        self.rev
            .send_if_modified(|c| std::mem::replace(c, r.max(*c)) < r);
        self.fleet_rev
            .send_if_modified(|c| std::mem::replace(c, r.max(*c)) < r);
        Some(l.revision)
    }

    fn apply_event(&self, e: WatchEvent) {
        let r = e.revision();
        let fleet = FLEET.iter().any(|p| e.key().starts_with(p));
        {
            let mut g = self.write();
            match e {
                WatchEvent::Put(kv) => {
                    let newer = g
                        .map
                        .get(&kv.key)
                        .is_none_or(|old| old.mod_revision < kv.mod_revision)
                        && g.tombstones
                            .get(&kv.key)
                            .is_none_or(|t| *t < kv.mod_revision);
                    if newer {
                        g.tombstones.remove(&kv.key);
                        g.map.insert(kv.key.clone(), kv);
                    }
                }
                WatchEvent::Delete { key, revision } => {
                    if g.map
                        .get(&key)
                        .is_some_and(|old| old.mod_revision < revision)
                    {
                        g.map.remove(&key);
                    }
                    g.tombstones.insert(key, revision);
                    if g.tombstones.len() > 10_000 {
                        let min = r - 100_000;
                        g.tombstones.retain(|_, v| *v > min);
                    }
                }
            }
        }
        let bump = |cur: &mut Revision| {
            if r > *cur {
                *cur = r;
                true
            } else {
                false
            }
        };
        self.rev.send_if_modified(bump);
        if fleet {
            self.fleet_rev.send_if_modified(bump);
        }
    }

    /// Records the controller's own committed write at once.
    pub fn note_put(
        &self,
        key: &str,
        value: Vec<u8>,
        create_revision: Revision,
        revision: Revision,
    ) {
        self.apply_event(WatchEvent::Put(KeyValue {
            key: key.to_string(),
            value: Arc::new(value),
            create_revision,
            mod_revision: revision,
        }));
    }

    /// Records the controller's own committed delete at once.
    pub fn note_delete(&self, key: &str, revision: Revision) {
        self.apply_event(WatchEvent::Delete {
            key: key.to_string(),
            revision,
        });
    }

    /// One key.
    pub fn get(&self, key: &str) -> Option<KeyValue> {
        self.read().map.get(key).cloned()
    }

    /// Every key under a prefix, sorted.
    pub fn list(&self, prefix: &str) -> Vec<KeyValue> {
        self.read()
            .map
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// How many keys are under a prefix and the newest mod revision among them:
    /// changes whenever a key there is written or deleted.
    pub fn prefix_stamp(&self, prefix: &str) -> (usize, Revision) {
        self.read()
            .map
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .fold((0, 0), |(n, r), (_, v)| (n + 1, r.max(v.mod_revision)))
    }

    /// A receiver that changes whenever the cache does.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Revision> {
        self.rev.subscribe()
    }

    /// A receiver that changes whenever a [`FLEET`] key does.
    pub fn subscribe_fleet(&self) -> tokio::sync::watch::Receiver<Revision> {
        self.fleet_rev.subscribe()
    }

    /// The revision of the last [`FLEET`] change seen.
    pub fn fleet_revision(&self) -> Revision {
        *self.fleet_rev.borrow()
    }

    /// Waits until the cache has seen revision `r` (or the timeout passes).
    pub async fn wait_for(&self, r: Revision, timeout: Duration) -> bool {
        let mut rx = self.rev.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|cur| *cur >= r))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}
