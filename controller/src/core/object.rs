//! Typed access to the objects under `objects/{kind}/{name}` and the one
//! read-modify-write helper, [`Controller::update`]: every change of an existing
//! object goes through it, so the per-object turn, the compare-and-swap, the
//! retries and the audit entry are written once.

use super::audit::{AuditAction, Draft};
use super::auth::{Actor, Operation};
use super::store::{Compare, KeyValue, Op};
use super::Controller;
use crate::{Error, Result};
use camplane_config::model::Kind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// An object as stored: `{kind, name, spec, status}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredObject {
    /// Kind name (`Camera`).
    pub kind: String,
    /// Name.
    pub name: String,
    /// What users declared.
    pub spec: Value,
    /// What the controller keeps.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub status: Value,
}

impl StoredObject {
    pub(crate) fn key(kind: Kind, name: &str) -> String {
        format!("{}{name}", kind.prefix())
    }
    pub(crate) fn status_as<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        serde_json::from_value(self.status.clone()).unwrap_or_default()
    }
    pub(crate) fn spec_as<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.spec.clone()).map_err(|e| {
            Error::Internal(format!(
                "stored {} {} does not parse: {e}",
                self.kind, self.name
            ))
        })
    }
}

/// A value as JSON (`null` if it does not serialise, which our types always do).
pub(crate) fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Why an update was refused: the error for the caller and, when the refusal
/// itself is audited (a denied role), the entry to record.
#[derive(Debug)]
pub struct Refusal {
    /// What the caller gets.
    pub error: Error,
    /// Recorded before the error is returned (boxed: refusals travel in `Result`s).
    pub audit: Option<Box<Draft>>,
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Refusal {
        Refusal { error, audit: None }
    }
}

impl From<serde_json::Error> for Refusal {
    fn from(e: serde_json::Error) -> Refusal {
        Error::from(e).into()
    }
}

impl Refusal {
    /// A refusal recorded in the audit log as `denied: {msg}`.
    pub fn denied(
        actor: &Actor,
        action: AuditAction,
        kind: &str,
        name: &str,
        msg: String,
    ) -> Refusal {
        let mut d = Draft::new(&actor.username, action, kind, name);
        d.result = format!("denied: {msg}");
        Refusal {
            error: Error::PermissionDenied(msg),
            audit: Some(Box::new(d)),
        }
    }

    /// A refusal that keeps its error's code (a step out of order, a gate not
    /// passed) and is recorded in the audit log as `refused: {error}`.
    pub fn refused(
        actor: &Actor,
        action: AuditAction,
        kind: &str,
        name: &str,
        error: Error,
    ) -> Refusal {
        let mut d = Draft::new(&actor.username, action, kind, name);
        d.result = format!("refused: {error}");
        Refusal {
            error,
            audit: Some(Box::new(d)),
        }
    }
}

/// What an update's closure decided about the object it was shown.
pub enum Step<T> {
    /// Nothing to write: the update returns `T`.
    Keep(T),
    /// Write this change; once it is committed the update returns `T` (boxed:
    /// a change is large, keeping is not).
    Write(Box<Change>, T),
}

/// One change of one object, committed with its audit entry.
pub struct Change {
    /// The object's new value; `None` deletes it.
    pub new: Option<StoredObject>,
    /// The audit entry (who, action, details); its before and after are filled in.
    pub draft: Draft,
    /// Whether the entry carries the object as it was.
    pub audit_before: bool,
    /// More operations for the same transaction.
    pub ops: Vec<Op>,
}

impl Change {
    /// Puts `new`, audited as `action` by `actor` with `details`.
    pub fn put(actor: &str, action: AuditAction, new: StoredObject, details: Value) -> Change {
        let mut draft = Draft::new(actor, action, &new.kind, &new.name);
        draft.details = details;
        Change {
            new: Some(new),
            draft,
            audit_before: true,
            ops: vec![],
        }
    }

    /// Deletes the object, audited as `action` by `actor`.
    pub fn delete(actor: &str, action: AuditAction, kind: Kind, name: &str) -> Change {
        Change {
            new: None,
            draft: Draft::new(actor, action, kind.as_str(), name),
            audit_before: true,
            ops: vec![],
        }
    }
}

impl Controller {
    /// Takes this process's turn on a store key (see `locks`).
    pub(crate) async fn lock_key(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let key = key.to_string();
        let m = {
            let mut g = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            if g.len() > 4096 {
                g.retain(|_, w| w.strong_count() > 0);
            }
            match g.get(&key).and_then(|w| w.upgrade()) {
                Some(m) => m,
                None => {
                    let m = Arc::new(tokio::sync::Mutex::new(()));
                    g.insert(key, Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
    }

    /// Refuses (and audits the refusal) unless the actor may perform `op`.
    pub async fn require(&self, actor: &Actor, op: Operation, what: AuditAction) -> Result<()> {
        match check(actor, op, what) {
            Ok(()) => Ok(()),
            Err(r) => Err(self.record_refusal(r).await),
        }
    }

    /// Records a refusal's audit entry, if it has one; returns its error.
    pub(crate) async fn record_refusal(&self, r: Refusal) -> Error {
        if let Some(d) = r.audit {
            if let Err(e) = self.audit.record(*d).await {
                return e;
            }
        }
        r.error
    }

    pub(crate) fn load(&self, kind: Kind, name: &str) -> Result<StoredObject> {
        let kv = self
            .cache
            .get(&StoredObject::key(kind, name))
            .ok_or_else(|| Error::NotFound(format!("{kind} {name:?}")))?;
        Ok(serde_json::from_slice(&kv.value)?)
    }

    /// Re-reads a key from the store itself (after a compare failed on a stale cache),
    /// noting it in the cache.
    pub(crate) async fn refresh(&self, key: &str) -> Result<Option<KeyValue>> {
        let kv = self.store.get(key).await?;
        if let Some(kv) = &kv {
            self.cache
                .note_put(key, kv.value.to_vec(), kv.create_revision, kv.mod_revision)
        }
        Ok(kv)
    }

    /// Reads keys from the store itself, at one revision (one round trip on etcd),
    /// noting what it found in the cache: for what must not be taken from a cache
    /// that may lag (who a caller is).
    pub(crate) async fn read_fresh(&self, keys: &[&str]) -> Result<Vec<Option<KeyValue>>> {
        let kvs = self.store.get_many(keys).await?;
        for kv in kvs.iter().flatten() {
            let held = self.cache.get(&kv.key).map(|c| c.mod_revision);
            if held.is_some_and(|r| r >= kv.mod_revision) {
                // Already current (the common case): no write lock taken.
                continue;
            }
            self.cache.note_put(
                &kv.key,
                kv.value.to_vec(),
                kv.create_revision,
                kv.mod_revision,
            );
        }
        Ok(kvs)
    }

    /// Checks a user's record with `check`, first from the cache. A refusal
    /// (`PermissionDenied`) is checked once more against the store itself before it
    /// stands: an acknowledgement, training or certification written through another
    /// controller a moment ago may not have reached this one's cache yet, and a user
    /// who qualifies must not be refused for it. `check` gets `None` when there is
    /// no record.
    pub(crate) async fn check_user_fresh<T>(
        &self,
        username: &str,
        check: impl Fn(Option<&StoredObject>) -> Result<T>,
    ) -> Result<T> {
        let cached = self.load(Kind::User, username).ok();
        match check(cached.as_ref()) {
            Err(Error::PermissionDenied(_)) => {}
            decided => return decided,
        }
        let fresh = match self
            .refresh(&StoredObject::key(Kind::User, username))
            .await?
        {
            Some(kv) => serde_json::from_slice::<StoredObject>(&kv.value).ok(),
            None => None,
        };
        check(fresh.as_ref())
    }

    /// A key from the cache or, when the cache lacks it, from the store itself: what
    /// another replica wrote a moment ago may not have reached this one's cache yet
    /// (its watch lags, or is moving to another etcd member), and "not found" must
    /// not be said of something that exists.
    pub(crate) async fn read_through(&self, key: &str) -> Result<Option<KeyValue>> {
        match self.cache.get(key) {
            Some(kv) => Ok(Some(kv)),
            None => self.refresh(key).await,
        }
    }

    /// Lists the objects of a kind.
    pub fn list(&self, kind: Kind) -> Result<Vec<(StoredObject, i64)>> {
        self.cache
            .list(kind.prefix())
            .into_iter()
            .map(|kv| Ok((serde_json::from_slice(&kv.value)?, kv.mod_revision)))
            .collect()
    }

    /// Writes `new` over whatever is at its key (compare on `prev_rev`), with an
    /// audit entry. `Ok(false)` when the compare failed. For one-shot passes over
    /// a listing (the reconciler's), where a lost race is left to the next pass.
    pub(crate) async fn write(
        &self,
        actor: &Actor,
        action: AuditAction,
        before: Option<&StoredObject>,
        new: &StoredObject,
        prev_rev: i64,
        details: Value,
    ) -> Result<bool> {
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == new.kind)
            .ok_or_else(|| Error::Internal("kind".into()))?;
        let key = StoredObject::key(kind, &new.name);
        let mut d = Draft::new(&actor.username, action, &new.kind, &new.name);
        d.before = before.map(json);
        d.after = Some(json(new));
        d.details = details;
        let done = self
            .audit
            .commit(
                vec![Compare::ModRevision(key.clone(), prev_rev)],
                vec![Op::Put(key.clone(), serde_json::to_vec(new)?)],
                d,
            )
            .await?;
        if done.is_none() {
            self.refresh(&key).await?;
        }
        Ok(done.is_some())
    }

    /// The one read-modify-write of an object: takes this process's turn on it,
    /// shows `f` the object as cached (`None`: absent), and commits what `f`
    /// returns by compare-and-swap on the object's revision, with its audit entry
    /// in the same transaction. A lost race re-reads the object from the store and
    /// asks `f` again (so `f` must decide from what it is shown). A refusal is
    /// audited when it carries an entry, then returned as its error.
    pub async fn update<T>(
        &self,
        kind: Kind,
        name: &str,
        mut f: impl FnMut(Option<&StoredObject>) -> std::result::Result<Step<T>, Refusal>,
    ) -> Result<T> {
        let key = StoredObject::key(kind, name);
        let r = self
            .update_key(&key, |kv| object_step(kv, f(parse(kv)?.as_ref())?))
            .await;
        match r {
            Err(Error::Conflict(_)) => Err(Error::Conflict(format!(
                "{kind} {name:?} kept changing; try again"
            ))),
            r => r,
        }
    }

    /// [`Controller::update`] of an object together with other keys (an
    /// append-only record kept beside it, such as a reader's history): every
    /// attempt reads the object and `also` from the store itself, `f` decides
    /// from all of them, and the commit compares every one.
    pub async fn update_with<T>(
        &self,
        kind: Kind,
        name: &str,
        also: &[&str],
        mut f: impl FnMut(
            Option<&StoredObject>,
            &[Option<KeyValue>],
        ) -> std::result::Result<Step<T>, Refusal>,
    ) -> Result<T> {
        let key = StoredObject::key(kind, name);
        let mut keys = vec![key.as_str()];
        keys.extend_from_slice(also);
        let r = self
            .update_keys(&keys, |kvs| {
                let kv = kvs[0].as_ref();
                object_step(kv, f(parse(kv)?.as_ref(), &kvs[1..])?)
            })
            .await;
        match r {
            Err(Error::Conflict(_)) => Err(Error::Conflict(format!(
                "{kind} {name:?} kept changing; try again"
            ))),
            r => r,
        }
    }

    /// [`Controller::update`] for a store key that holds a record other than a
    /// registry object (the GIS version pointers): the same turn, compare-and-swap,
    /// retries and audit entry. Values too large for one transaction go in
    /// [`KeyChange::staged`]: written first, and deleted again when the attempt
    /// loses its compare.
    pub async fn update_key<T>(
        &self,
        key: &str,
        mut f: impl FnMut(Option<&KeyValue>) -> std::result::Result<KeyStep<T>, Refusal>,
    ) -> Result<T> {
        self.update_from(&[key], true, |kvs| f(kvs[0].as_ref()))
            .await
    }

    /// [`Controller::update_key`] for a key the cache does not mirror (alerts,
    /// ALPR approvals): every attempt reads the key from the store itself.
    pub async fn update_stored_key<T>(
        &self,
        key: &str,
        mut f: impl FnMut(Option<&KeyValue>) -> std::result::Result<KeyStep<T>, Refusal>,
    ) -> Result<T> {
        self.update_from(&[key], false, |kvs| f(kvs[0].as_ref()))
            .await
    }

    /// The read-modify-write of a record that spans several keys (a hotlist's
    /// pointer and its entries; a public-log month and its "changed since" mark;
    /// an enrolment token and its agent): every attempt reads all of `keys` from
    /// the store, `f` decides from all of them, and the commit compares every
    /// one, so a change of any key meanwhile makes the attempt lose and `f` is
    /// asked again. [`KeyChange::value`] is the first key's; the others are
    /// written by [`KeyChange::ops`].
    pub async fn update_keys<T>(
        &self,
        keys: &[&str],
        f: impl FnMut(&[Option<KeyValue>]) -> std::result::Result<KeyStep<T>, Refusal>,
    ) -> Result<T> {
        self.update_from(keys, false, f).await
    }

    async fn update_from<T>(
        &self,
        keys: &[&str],
        cached: bool,
        mut f: impl FnMut(&[Option<KeyValue>]) -> std::result::Result<KeyStep<T>, Refusal>,
    ) -> Result<T> {
        let Some(first) = keys.first() else {
            return Err(Error::Internal("an update names no key".into()));
        };
        // Turns are taken in key order, so two updates over overlapping keys
        // cannot each hold one the other waits for.
        let mut order: Vec<&str> = keys.to_vec();
        order.sort_unstable();
        order.dedup();
        let mut turns = Vec::with_capacity(order.len());
        for k in order {
            turns.push(self.lock_key(k).await);
        }
        for _ in 0..16 {
            let mut old = Vec::with_capacity(keys.len());
            for k in keys {
                old.push(if cached {
                    self.cache.get(k)
                } else {
                    self.store.get(k).await?
                });
            }
            let (change, out) = match f(&old) {
                Ok(KeyStep::Keep(out)) => return Ok(out),
                Ok(KeyStep::Write(change, out)) => (*change, out),
                Err(r) => return Err(self.record_refusal(r).await),
            };
            let KeyChange {
                value,
                draft,
                mut ops,
                staged,
            } = change;
            let staged_keys: Vec<String> = staged
                .iter()
                .filter_map(|op| match op {
                    Op::Put(k, _) => Some(k.clone()),
                    Op::Delete(_) => None,
                })
                .collect();
            if !staged.is_empty() {
                self.store.txn(vec![], staged).await?;
            }
            match value {
                KeyWrite::Put(v) => ops.insert(0, Op::Put(first.to_string(), v)),
                KeyWrite::Delete => ops.insert(0, Op::Delete(first.to_string())),
                KeyWrite::Leave => {}
            }
            let compare = keys
                .iter()
                .zip(&old)
                .map(|(k, kv)| {
                    Compare::ModRevision(k.to_string(), kv.as_ref().map_or(0, |kv| kv.mod_revision))
                })
                .collect();
            if self.audit.commit(compare, ops, draft).await?.is_some() {
                return Ok(out);
            }
            // Another writer won: what this attempt staged is nobody's.
            if !staged_keys.is_empty() {
                let undo = staged_keys.into_iter().map(Op::Delete).collect();
                self.store.txn(vec![], undo).await?;
            }
            if cached {
                for k in keys {
                    self.refresh(k).await?;
                }
            }
        }
        Err(Error::Conflict(format!("{first} kept changing; try again")))
    }
}

/// The stored object at a key, if any.
fn parse(kv: Option<&KeyValue>) -> std::result::Result<Option<StoredObject>, Refusal> {
    Ok(kv.map(|kv| serde_json::from_slice(&kv.value)).transpose()?)
}

/// An object's step as the change of its key: the audit entry gets the object
/// as it was (when the change asks) and as it becomes.
fn object_step<T>(
    kv: Option<&KeyValue>,
    step: Step<T>,
) -> std::result::Result<KeyStep<T>, Refusal> {
    let (change, out) = match step {
        Step::Keep(out) => return Ok(KeyStep::Keep(out)),
        Step::Write(change, out) => (*change, out),
    };
    let Change {
        new,
        mut draft,
        audit_before,
        ops,
    } = change;
    if audit_before {
        draft.before = parse(kv)?.as_ref().map(json);
    }
    draft.after = new.as_ref().map(json);
    let value = match &new {
        Some(n) => KeyWrite::Put(serde_json::to_vec(n)?),
        None => KeyWrite::Delete,
    };
    let change = KeyChange {
        value,
        draft,
        ops,
        staged: vec![],
    };
    Ok(KeyStep::Write(Box::new(change), out))
}

/// What an [`Controller::update_key`] closure decided.
pub enum KeyStep<T> {
    /// Nothing to write.
    Keep(T),
    /// Write this change, then return `T`.
    Write(Box<KeyChange>, T),
}

/// What becomes of the updated key (the first, for [`Controller::update_keys`]).
pub enum KeyWrite {
    /// This value.
    Put(Vec<u8>),
    /// Deleted.
    Delete,
    /// Left as it is (only the compare and the other operations).
    Leave,
}

/// One change of one raw key, committed with its audit entry.
pub struct KeyChange {
    /// What becomes of the key.
    pub value: KeyWrite,
    /// The audit entry, before and after as the closure set them.
    pub draft: Draft,
    /// More operations for the same transaction.
    pub ops: Vec<Op>,
    /// Puts written before the transaction, each under a key no other attempt
    /// writes (they are deleted when the attempt loses).
    pub staged: Vec<Op>,
}

impl KeyChange {
    /// Puts `value` at the key, audited by `draft`.
    pub fn put(value: Vec<u8>, draft: Draft) -> KeyChange {
        KeyChange {
            value: KeyWrite::Put(value),
            draft,
            ops: vec![],
            staged: vec![],
        }
    }
}

/// The role check as a pure function: `Ok` when `actor` may perform `op`, else
/// the refusal (audited as `denied`) naming the roles that may.
pub fn check(actor: &Actor, op: Operation, what: AuditAction) -> std::result::Result<(), Refusal> {
    if op.allows(actor) {
        return Ok(());
    }
    let roles: Vec<&str> = op.roles().iter().map(|r| r.as_str()).collect();
    let msg = format!("{what} needs one of the roles {}", roles.join(", "));
    Err(Refusal::denied(actor, what, "", "", msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::store::embedded::EmbeddedStore;
    use crate::core::store::DynStore;
    use crate::core::testing::replica;

    fn number(kv: &Option<KeyValue>) -> u64 {
        kv.as_ref().map_or(0, |kv| {
            std::str::from_utf8(&kv.value).unwrap().parse().unwrap()
        })
    }

    /// Two replicas on one store (each with its own cache and turns) add one to
    /// two keys together, many times at once: no increment is lost and the two
    /// keys never part, because every attempt compares both.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn update_keys_loses_no_increment_across_replicas() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let (a, b) = (replica(store.clone()).await, replica(store.clone()).await);
        let mut tasks = Vec::new();
        for i in 0..24 {
            let ctl = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                ctl.update_keys(&["n/one", "n/two"], |kvs| {
                    let (x, y) = (number(&kvs[0]), number(&kvs[1]));
                    assert_eq!(x, y, "the two keys parted");
                    let d = Draft::new("test", AuditAction::HotlistLoad, "Test", "n");
                    let mut c = KeyChange::put((x + 1).to_string().into_bytes(), d);
                    c.ops
                        .push(Op::Put("n/two".into(), (y + 1).to_string().into_bytes()));
                    Ok(KeyStep::Write(Box::new(c), ()))
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(number(&store.get("n/one").await.unwrap()), 24);
        assert_eq!(number(&store.get("n/two").await.unwrap()), 24);
        let v = a.audit.verify().await.unwrap();
        assert_eq!(
            (v.first_broken, v.entries),
            (None, 24),
            "{}: one entry per committed change",
            v.message
        );
    }

    /// A change of the second key between the read and the commit makes the
    /// attempt lose; the closure is asked again and sees the new value.
    #[tokio::test]
    async fn update_keys_asks_again_when_another_key_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let ctl = replica(store.clone()).await;
        let mut seen = Vec::new();
        let out = ctl
            .update_keys(&["m/a", "m/b"], |kvs| {
                seen.push(number(&kvs[1]));
                if seen.len() == 1 {
                    // Another writer moves the second key while this one decides.
                    let s = store.clone();
                    std::thread::spawn(move || {
                        tokio::runtime::Runtime::new()
                            .unwrap()
                            .block_on(s.put("m/b", b"7".to_vec()))
                            .unwrap();
                    })
                    .join()
                    .unwrap();
                }
                let d = Draft::new("test", AuditAction::HotlistLoad, "Test", "m");
                let mut c = KeyChange::put(b"1".to_vec(), d);
                c.value = KeyWrite::Leave;
                Ok(KeyStep::Write(Box::new(c), number(&kvs[1])))
            })
            .await
            .unwrap();
        assert_eq!(seen, vec![0, 7]);
        assert_eq!(out, 7);
        assert!(
            store.get("m/a").await.unwrap().is_none(),
            "Leave writes nothing"
        );
    }
}
