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
    /// The [`FLEET`] keys that changed, in the order they were applied, each with
    /// its sequence number: what lets the fleet index update only what changed.
    fleet_log: std::collections::VecDeque<(u64, String)>,
    /// Sequence number of the last [`FLEET`] change applied.
    fleet_seq: u64,
    /// The log holds every change after this sequence number (older ones were
    /// dropped, or a relist replaced keys without logging them).
    fleet_log_from: u64,
}

/// Changes the fleet log keeps; a reader further behind rebuilds from a list.
const FLEET_LOG_MAX: usize = 65_536;

impl Inner {
    fn log_fleet(&mut self, key: &str) {
        self.fleet_seq += 1;
        self.fleet_log.push_back((self.fleet_seq, key.to_string()));
        if self.fleet_log.len() > FLEET_LOG_MAX {
            if let Some((s, _)) = self.fleet_log.pop_front() {
                self.fleet_log_from = s;
            }
        }
    }
}

/// The [`FLEET`] keys changed after a sequence number (see [`Cache::fleet_changes`]).
#[derive(Debug, PartialEq)]
pub enum FleetChanges {
    /// These keys (each once, sorted), up to and including sequence `through`.
    Keys {
        /// The last change included.
        through: u64,
        /// The changed keys.
        keys: Vec<String>,
    },
    /// The log no longer reaches back that far: list everything, up to `through`.
    Relist {
        /// The last change a list now includes.
        through: u64,
    },
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
        if FLEET
            .iter()
            .any(|f| f.starts_with(prefix) || prefix.starts_with(f))
        {
            // Keys changed without a log entry each: readers behind list again.
            g.fleet_seq += 1;
            g.fleet_log.clear();
            g.fleet_log_from = g.fleet_seq;
        }
        drop(g);
        // Whatever changed meanwhile is in the map now: wake everyone.
        let r = l.revision;
        self.rev
            .send_if_modified(|c| std::mem::replace(c, r.max(*c)) < r);
        self.fleet_rev.send_modify(|c| *c = r.max(*c));
        Some(l.revision)
    }

    fn apply_event(&self, e: WatchEvent) {
        let r = e.revision();
        let fleet = FLEET.iter().any(|p| e.key().starts_with(p));
        let mut fleet_changed = false;
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
                        if fleet {
                            g.log_fleet(&kv.key);
                            fleet_changed = true;
                        }
                        g.map.insert(kv.key.clone(), kv);
                    }
                }
                WatchEvent::Delete { key, revision } => {
                    if g.map
                        .get(&key)
                        .is_some_and(|old| old.mod_revision < revision)
                    {
                        g.map.remove(&key);
                        if fleet {
                            g.log_fleet(&key);
                            fleet_changed = true;
                        }
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
        if fleet_changed {
            // Always notified, even for a change older than the newest seen (a
            // late watch event after the controller's own write-through): the
            // fleet index must still take it in.
            self.fleet_rev.send_modify(|cur| *cur = r.max(*cur));
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

    /// The keys under a prefix that sort after `prefix + after` (all when
    /// `after` is empty), in order: where a page of a list starts.
    pub fn list_after(&self, prefix: &str, after: &str) -> Vec<KeyValue> {
        use std::ops::Bound;
        let start = if after.is_empty() {
            Bound::Included(prefix.to_string())
        } else {
            Bound::Excluded(format!("{prefix}{after}"))
        };
        self.read()
            .map
            .range::<String, _>((start, Bound::Unbounded))
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

    /// Sequence number of the last [`FLEET`] change applied: equal numbers mean
    /// nothing under [`FLEET`] changed in between.
    pub fn fleet_seq(&self) -> u64 {
        self.read().fleet_seq
    }

    /// The [`FLEET`] keys changed after sequence number `after`, read in one
    /// step with the sequence number they reach.
    pub fn fleet_changes(&self, after: u64) -> FleetChanges {
        let g = self.read();
        if after < g.fleet_log_from {
            return FleetChanges::Relist {
                through: g.fleet_seq,
            };
        }
        let start = g.fleet_log.partition_point(|(s, _)| *s <= after);
        let mut keys: Vec<String> = g.fleet_log.range(start..).map(|(_, k)| k.clone()).collect();
        keys.sort();
        keys.dedup();
        FleetChanges::Keys {
            through: g.fleet_seq,
            keys,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> Cache {
        Cache {
            inner: Arc::default(),
            rev: Arc::new(tokio::sync::watch::channel(0).0),
            fleet_rev: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }

    #[test]
    fn the_fleet_log_names_each_changed_key_once() {
        let c = cache();
        let mut rx = c.subscribe_fleet();
        c.note_put("objects/cameras/a", b"1".to_vec(), 5, 5);
        c.note_put("objects/sites/s", b"1".to_vec(), 6, 6);
        c.note_put("objects/agents/g", b"1".to_vec(), 7, 7);
        c.note_put("objects/cameras/a", b"2".to_vec(), 5, 8);
        assert_eq!(c.fleet_seq(), 3, "sites are not fleet keys");
        assert_eq!(
            c.fleet_changes(0),
            FleetChanges::Keys {
                through: 3,
                keys: vec!["objects/agents/g".into(), "objects/cameras/a".into()]
            }
        );
        assert_eq!(
            c.fleet_changes(2),
            FleetChanges::Keys {
                through: 3,
                keys: vec!["objects/cameras/a".into()]
            }
        );
        // A stale event (older than what is held) changes nothing and logs nothing.
        c.note_put("objects/cameras/a", b"0".to_vec(), 5, 6);
        assert_eq!(c.fleet_seq(), 3);
        // A late change older than the newest revision seen still notifies.
        rx.borrow_and_update();
        c.note_put("objects/holds/h", b"1".to_vec(), 4, 4);
        assert!(rx.has_changed().unwrap());
        assert_eq!(c.fleet_revision(), 8);
        c.note_delete("objects/holds/h", 9);
        assert_eq!(
            c.fleet_changes(3),
            FleetChanges::Keys {
                through: 5,
                keys: vec!["objects/holds/h".into()]
            }
        );
    }

    #[test]
    fn a_reader_behind_the_log_lists_again() {
        let c = cache();
        for i in 0..(FLEET_LOG_MAX as i64 + 10) {
            c.note_put("objects/cameras/a", vec![], 1, i + 1);
        }
        let through = c.fleet_seq();
        assert_eq!(c.fleet_changes(3), FleetChanges::Relist { through });
        assert!(matches!(
            c.fleet_changes(through - 1),
            FleetChanges::Keys { .. }
        ));
    }
}
