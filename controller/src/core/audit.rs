//! The tamper-evident audit log. Every change is committed in the same store
//! transaction as the entry that describes it, so there is never a change without
//! its entry nor an entry without its change. Entries are numbered and each carries
//! the hash of the one before it; `verify` walks the chain and names the first
//! entry that was edited, removed or reordered.

pub use crate::core::action::AuditAction;
use crate::core::cache::Cache;
use crate::core::clock::DynClock;
use crate::core::sealed::{self, SealedRecord};
use crate::core::store::{Compare, DynStore, Op, Revision};
use crate::{Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Arc;

/// Key of the chain's head.
pub const HEAD: &str = "meta/audit-head";
/// Prefix of the entries.
pub const ENTRIES: &str = "audit/entries/";

/// The hash of the (empty) chain's start.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry records. `hash` covers every other field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who (user name, or `system` for the controller's own work).
    pub actor: String,
    /// The action's stored name ([`AuditAction::name`]; kept as written, so an
    /// entry from another version verifies whatever it names).
    pub action: String,
    /// The object kind, where there is one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The object name, where there is one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `ok`, or `denied: ...` / `refused: ...` for refusals.
    pub result: String,
    /// The object before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The object after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Anything else (comment, source file, case number...).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
    /// SHA-256(salt ‖ detail) of the plate texts and read ids taken out of this
    /// entry and kept apart for 30 days ([`crate::core::sealed`]); empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sealed: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// An entry before it is sealed into the chain.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Who.
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// Object kind.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// Result.
    pub result: String,
    /// Before.
    pub before: Option<Value>,
    /// After.
    pub after: Option<Value>,
    /// Details.
    pub details: Value,
    /// The sealed detail's digest (set when the entry is committed).
    pub sealed: String,
}

impl Draft {
    /// A draft with the essentials.
    pub fn new(actor: &str, action: AuditAction, kind: &str, name: &str) -> Draft {
        Draft {
            actor: actor.into(),
            action,
            kind: kind.into(),
            name: name.into(),
            result: "ok".into(),
            before: None,
            after: None,
            details: Value::Null,
            sealed: String::new(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// Computes an entry's hash over its fields (canonical JSON, `hash` left empty).
pub fn entry_hash(e: &AuditEntry) -> String {
    let mut c = e.clone();
    c.hash = String::new();
    let bytes = serde_json::to_vec(&c).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// The audit log.
pub struct AuditLog {
    core: Arc<Core>,
    tx: tokio::sync::mpsc::UnboundedSender<Pending>,
}

struct Core {
    store: DynStore,
    cache: Cache,
    clock: DynClock,
}

struct Pending {
    compares: Vec<Compare>,
    ops: Vec<Op>,
    draft: Draft,
    reply: tokio::sync::oneshot::Sender<Result<Option<Committed>>>,
}

/// What a committed change produced.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    /// Store revision of the transaction.
    pub revision: Revision,
    /// Audit sequence number of its entry.
    pub seq: u64,
}

/// Most changes committed together in one transaction.
const BATCH: usize = 64;
/// Most operations (and most compares) in one grouped transaction: etcd refuses
/// more than 128 by default (`--max-txn-ops`).
const MAX_TXN_OPS: usize = 128;

impl AuditLog {
    /// The log over a store. Its committer task ends when the log is dropped.
    pub fn new(store: DynStore, cache: Cache, clock: DynClock) -> AuditLog {
        let core = Arc::new(Core {
            store,
            cache,
            clock,
        });
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(committer(core.clone(), rx));
        AuditLog { core, tx }
    }

    /// Commits `ops` (if `compares` hold) together with the entry `draft`.
    /// Returns `Ok(None)` when one of the caller's compares failed: the caller reads
    /// again and retries. Contention on the chain's head is retried here.
    ///
    /// Changes from concurrent callers that touch different keys are committed
    /// together, several chained entries in one store transaction (group commit):
    /// the chain is one sequence, so without this every change would wait for the
    /// previous one's round trip to the store.
    pub async fn commit(
        &self,
        compares: Vec<Compare>,
        mut ops: Vec<Op>,
        mut draft: Draft,
    ) -> Result<Option<Committed>> {
        // Plate texts and read ids leave the chained entry here, for every
        // caller: they are kept apart, 30 days, under their salted digest.
        if let Some(rec) = sealed::seal(
            &draft.kind,
            &mut draft.name,
            &mut draft.details,
            &mut draft.before,
            &mut draft.after,
            self.core.clock.now(),
        ) {
            let digest = rec.digest();
            ops.push(Op::Put(
                sealed::sealed_key(&digest),
                serde_json::to_vec(&rec)?,
            ));
            draft.sealed = digest;
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Pending {
                compares,
                ops,
                draft,
                reply,
            })
            .map_err(|_| Error::Unavailable("audit committer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Unavailable("audit committer stopped".into()))?
    }

    /// Appends an entry that changes nothing else (logins, refusals, reads).
    pub async fn record(&self, draft: Draft) -> Result<Committed> {
        self.commit(vec![], vec![], draft)
            .await?
            .ok_or_else(|| Error::Internal("audit append without compares failed".into()))
    }

    /// The last `limit` entries, oldest first.
    pub async fn tail(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        Ok(self.page(limit, 0, usize::MAX).await?.0)
    }

    /// One page of the newest entries before `before` (0: from the head): at most
    /// `limit` entries and, past the first, at most `max_bytes` of their JSON.
    /// Oldest first, with the `before` of the next older page (0: none left).
    pub async fn page(
        &self,
        limit: usize,
        before: u64,
        max_bytes: usize,
    ) -> Result<(Vec<AuditEntry>, u64)> {
        let head = self.core.store.get(HEAD).await?;
        let Some(h) = head else {
            return Ok((vec![], 0));
        };
        let head: Head = serde_json::from_slice(&h.value)?;
        let last = if before == 0 {
            head.seq
        } else {
            head.seq.min(before.saturating_sub(1))
        };
        let mut out: Vec<AuditEntry> = Vec::new();
        let mut bytes = 0usize;
        let mut seq = last;
        while seq >= 1 && out.len() < limit {
            if let Some(kv) = self.core.store.get(&entry_key(seq)).await? {
                if !out.is_empty() && bytes + kv.value.len() > max_bytes {
                    break;
                }
                bytes += kv.value.len();
                out.push(serde_json::from_slice(&kv.value)?);
            }
            seq -= 1;
        }
        out.reverse();
        let out = self.unsealed(out).await?;
        let next = out.first().map_or(0, |e| e.seq);
        Ok((out, if next > 1 { next } else { 0 }))
    }

    /// The chain's head now, read from the store: (seq, hash hex); the empty
    /// chain is (0, [`GENESIS`]).
    pub async fn head(&self) -> Result<(u64, String)> {
        Ok(match self.core.store.get(HEAD).await? {
            Some(kv) => {
                let h: Head = serde_json::from_slice(&kv.value)?;
                (h.seq, h.hash)
            }
            None => (0, GENESIS.into()),
        })
    }

    /// The stored head (the genesis when the log is empty).
    async fn stored_head(&self) -> Result<Head> {
        Ok(match self.core.store.get(HEAD).await? {
            Some(kv) => serde_json::from_slice::<Head>(&kv.value)?,
            None => Head {
                seq: 0,
                hash: GENESIS.into(),
            },
        })
    }

    /// The stored entry `seq`, if there is one.
    pub async fn entry(&self, seq: u64) -> Result<Option<AuditEntry>> {
        match self.core.store.get(&entry_key(seq)).await? {
            Some(kv) => Ok(Some(serde_json::from_slice(&kv.value)?)),
            None => Ok(None),
        }
    }

    /// Walks the whole chain.
    pub async fn verify(&self) -> Result<Verification> {
        // The head first, then the entries: an entry and the head move in one
        // transaction, so the listing holds every entry up to this head, and
        // entries committed while it was read (up to the head read after it)
        // besides; those are checked at the next verify.
        let head = self.stored_head().await?;
        let entries = self.core.store.list(ENTRIES).await?;
        let after = self.stored_head().await?;
        let in_chain = usize::try_from(head.seq).unwrap_or(usize::MAX);
        let mut v = verify_chain(
            entries
                .kvs
                .iter()
                .take(in_chain)
                .map(|kv| (kv.key.as_str(), kv.value.as_slice())),
            head.seq,
            &head.hash,
        );
        if v.first_broken.is_some() {
            return Ok(v);
        }
        if entries.kvs.len() as u64 > after.seq {
            // More entries than any head ever named: not the chain's.
            v.first_broken = Some(after.seq + 1);
            v.message = format!(
                "{} entries are stored but the head names {}: entries were added outside the chain",
                entries.kvs.len(),
                after.seq
            );
            return Ok(v);
        }
        // A sealed detail still kept must be the one its entry's digest names
        // (erased ones are simply absent).
        let sealed_entries: Vec<(String, u64, Timestamp)> = entries
            .kvs
            .iter()
            .take(in_chain)
            .filter_map(|kv| serde_json::from_slice::<AuditEntry>(&kv.value).ok())
            .filter(|e| !e.sealed.is_empty())
            .map(|e| (e.sealed, e.seq, e.at))
            .collect();
        let by_digest: std::collections::HashMap<&str, u64> = sealed_entries
            .iter()
            .map(|(d, seq, _)| (d.as_str(), *seq))
            .collect();
        let kept = self.core.store.list(sealed::SEALED).await?.kvs;
        // A detail younger than its erasure (30 days, less a day for the
        // sweep's cadence and clocks) must still be there: one removed early
        // hides who searched for what.
        let present: std::collections::HashSet<&str> = kept
            .iter()
            .map(|kv| kv.key.trim_start_matches(sealed::SEALED))
            .collect();
        let young =
            self.core.clock.now() - jiff::SignedDuration::from_hours(24 * (sealed::KEEP_DAYS - 1));
        if let Some((d, seq, _)) = sealed_entries
            .iter()
            .find(|(d, _, at)| *at > young && !present.contains(d.as_str()))
        {
            return Ok(Verification {
                entries: v.entries,
                first_broken: Some(*seq),
                message: format!(
                    "the sealed detail of entry {seq} ({}{d}) is gone before its 30 days: removed by hand",
                    sealed::SEALED
                ),
            });
        }
        for kv in &kept {
            let digest = kv.key.trim_start_matches(sealed::SEALED);
            let fine = serde_json::from_slice::<SealedRecord>(&kv.value)
                .is_ok_and(|r| r.digest() == digest);
            if !fine {
                let seq = by_digest.get(digest).copied().unwrap_or(0);
                return Ok(Verification {
                    entries: v.entries,
                    first_broken: Some(seq),
                    message: format!(
                        "the sealed detail of entry {seq} ({}) was altered: it no longer matches the digest the chain holds",
                        kv.key
                    ),
                });
            }
        }
        Ok(v)
    }

    /// Every sealed detail kept now, by digest (for readers of many entries).
    pub async fn kept_details(&self) -> Result<sealed::Kept> {
        Ok(self
            .core
            .store
            .list(sealed::SEALED)
            .await?
            .kvs
            .into_iter()
            .filter_map(|kv| {
                let digest = kv.key.strip_prefix(sealed::SEALED)?.to_string();
                Some((digest, serde_json::from_slice(&kv.value).ok()?))
            })
            .collect())
    }

    /// Entries as readers see them: sealed details put back while they are
    /// kept, `erased` after.
    pub async fn unsealed(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditEntry>> {
        let mut kept = sealed::Kept::new();
        for e in &entries {
            if e.sealed.is_empty() || kept.contains_key(&e.sealed) {
                continue;
            }
            if let Some(kv) = self.core.store.get(&sealed::sealed_key(&e.sealed)).await? {
                if let Ok(r) = serde_json::from_slice::<SealedRecord>(&kv.value) {
                    kept.insert(e.sealed.clone(), r);
                }
            }
        }
        entries
            .into_iter()
            .map(|e| sealed::unseal_entry(e, &kept))
            .collect()
    }
}

/// The store key of entry `seq`.
pub fn entry_key(seq: u64) -> String {
    format!("{ENTRIES}{seq:020}")
}

/// The outcome of a chain walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Entries checked.
    pub entries: u64,
    /// The first bad entry's sequence number, if any.
    pub first_broken: Option<u64>,
    /// What is wrong, or a summary.
    pub message: String,
}

/// Checks stored entries (key, JSON) against each other and the head.
#[allow(clippy::explicit_counter_loop)] // `expect` is also read after the loop
pub fn verify_chain<'a>(
    entries: impl Iterator<Item = (&'a str, &'a [u8])>,
    head_seq: u64,
    head_hash: &str,
) -> Verification {
    let mut prev = GENESIS.to_string();
    let mut expect = 1u64;
    let mut n = 0u64;
    let bad = |seq: u64, n: u64, m: String| Verification {
        entries: n,
        first_broken: Some(seq),
        message: m,
    };
    for (key, value) in entries {
        let e: AuditEntry = match serde_json::from_slice(value) {
            Ok(e) => e,
            Err(err) => return bad(expect, n, format!("entry {key} is not readable: {err}")),
        };
        if e.seq != expect || key != entry_key(e.seq) {
            return bad(
                expect,
                n,
                format!("entry {expect} is missing (found {} at {key})", e.seq),
            );
        }
        if e.prev_hash != prev {
            return bad(
                e.seq,
                n,
                format!(
                    "entry {} does not follow entry {}: its prev_hash differs",
                    e.seq,
                    e.seq - 1
                ),
            );
        }
        if entry_hash(&e) != e.hash {
            return bad(
                e.seq,
                n,
                format!(
                    "entry {} was altered: its content does not match its hash",
                    e.seq
                ),
            );
        }
        prev = e.hash;
        expect += 1;
        n += 1;
    }
    if n != head_seq {
        return bad(
            n + 1,
            n,
            format!(
                "the chain ends at entry {n} but the head says {head_seq}: entries were removed"
            ),
        );
    }
    if prev != head_hash {
        return bad(
            n,
            n,
            format!("the last entry {n} does not match the head's hash"),
        );
    }
    Verification {
        entries: n,
        first_broken: None,
        message: format!("{n} entries, chain intact"),
    }
}

fn keys_of(p: &Pending) -> impl Iterator<Item = &str> {
    p.compares
        .iter()
        .map(|Compare::ModRevision(k, _)| k.as_str())
        .chain(p.ops.iter().map(|o| o.key()))
}

async fn committer(core: Arc<Core>, mut rx: tokio::sync::mpsc::UnboundedReceiver<Pending>) {
    let mut carry: Vec<Pending> = Vec::new();
    loop {
        if carry.is_empty() {
            match rx.recv().await {
                Some(p) => carry.push(p),
                None => return,
            }
        }
        while carry.len() < BATCH {
            match rx.try_recv() {
                Ok(p) => carry.push(p),
                Err(_) => break,
            }
        }
        // A group touches each key at most once, so combining cannot hide a lost update.
        let mut group = Vec::new();
        let mut rest = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        // The head's compare and put, then each change's own plus its entry.
        let (mut n_ops, mut n_cmps) = (1, 1);
        for p in carry.drain(..) {
            let ks: Vec<String> = keys_of(&p).map(str::to_string).collect();
            let (o, c) = (p.ops.len() + 1, p.compares.len());
            let fits = group.is_empty() || (n_ops + o <= MAX_TXN_OPS && n_cmps + c <= MAX_TXN_OPS);
            if group.len() < BATCH && fits && ks.iter().all(|k| !seen.contains(k)) {
                seen.extend(ks);
                n_ops += o;
                n_cmps += c;
                group.push(p);
            } else {
                rest.push(p);
            }
        }
        carry = rest;
        if group.len() > 1 {
            match core.commit_group(&group).await {
                Ok(Some(done)) => {
                    for (p, c) in group.into_iter().zip(done) {
                        let _ = p.reply.send(Ok(Some(c)));
                    }
                    continue;
                }
                Ok(None) => {} // someone's compare failed: one by one finds whose
                Err(e) => {
                    // Every change of the group gets the store's answer.
                    let (unavailable, msg) = match &e {
                        Error::Unavailable(m) => (true, m.clone()),
                        other => (false, other.to_string()),
                    };
                    for p in group {
                        let _ = p.reply.send(Err(if unavailable {
                            Error::Unavailable(msg.clone())
                        } else {
                            Error::Internal(msg.clone())
                        }));
                    }
                    continue;
                }
            }
        }
        for p in group {
            let r = core.commit_one(&p.compares, &p.ops, &p.draft).await;
            let _ = p.reply.send(r);
        }
    }
}

impl Core {
    fn head(&self, kv: &Option<crate::core::store::KeyValue>) -> Result<(Head, Revision)> {
        Ok(match kv {
            Some(kv) => (serde_json::from_slice::<Head>(&kv.value)?, kv.mod_revision),
            None => (
                Head {
                    seq: 0,
                    hash: GENESIS.into(),
                },
                0,
            ),
        })
    }

    fn seal(&self, draft: &Draft, seq: u64, prev_hash: &str) -> AuditEntry {
        let mut entry = AuditEntry {
            seq,
            at: self.clock.now(),
            actor: draft.actor.clone(),
            action: draft.action.to_string(),
            kind: draft.kind.clone(),
            name: draft.name.clone(),
            result: draft.result.clone(),
            before: draft.before.clone(),
            after: draft.after.clone(),
            details: draft.details.clone(),
            sealed: draft.sealed.clone(),
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        entry.hash = entry_hash(&entry);
        entry
    }

    fn note(&self, ops: &[Op], revision: Revision) {
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    let created = self
                        .cache
                        .get(k)
                        .map(|kv| kv.create_revision)
                        .unwrap_or(revision);
                    self.cache.note_put(k, v.clone(), created, revision)
                }
                Op::Delete(k) => self.cache.note_delete(k, revision),
            }
        }
    }

    /// Commits several changes in one transaction; `None` when any compare failed.
    async fn commit_group(&self, group: &[Pending]) -> Result<Option<Vec<Committed>>> {
        let head_kv = self.cache.get(HEAD);
        let (head, head_rev) = self.head(&head_kv)?;
        let mut cmp = vec![Compare::ModRevision(HEAD.into(), head_rev)];
        let mut ops = Vec::new();
        let mut prev = head.hash.clone();
        let mut seqs = Vec::new();
        for (i, p) in group.iter().enumerate() {
            let e = self.seal(&p.draft, head.seq + 1 + i as u64, &prev);
            prev = e.hash.clone();
            seqs.push(e.seq);
            cmp.extend(p.compares.iter().cloned());
            ops.extend(p.ops.iter().cloned());
            ops.push(Op::Put(entry_key(e.seq), serde_json::to_vec(&e)?));
        }
        let last = *seqs.last().unwrap_or(&head.seq);
        let new_head = serde_json::to_vec(&Head {
            seq: last,
            hash: prev,
        })?;
        ops.push(Op::Put(HEAD.into(), new_head.clone()));
        let out = self.store.txn(cmp, ops).await?;
        if !out.succeeded {
            return Ok(None);
        }
        for p in group {
            self.note(&p.ops, out.revision);
        }
        let created = head_kv.map(|kv| kv.create_revision).unwrap_or(out.revision);
        self.cache.note_put(HEAD, new_head, created, out.revision);
        Ok(Some(
            seqs.into_iter()
                .map(|seq| Committed {
                    revision: out.revision,
                    seq,
                })
                .collect(),
        ))
    }

    async fn commit_one(
        &self,
        compares: &[Compare],
        ops: &[Op],
        draft: &Draft,
    ) -> Result<Option<Committed>> {
        let mut fresh = false;
        for _ in 0..64 {
            let head_kv = if fresh {
                self.store.get(HEAD).await?
            } else {
                self.cache.get(HEAD)
            };
            let (head, head_rev) = self.head(&head_kv)?;
            let entry = self.seal(draft, head.seq + 1, &head.hash);
            let new_head = serde_json::to_vec(&Head {
                seq: entry.seq,
                hash: entry.hash.clone(),
            })?;
            let mut cmp = compares.to_vec();
            cmp.push(Compare::ModRevision(HEAD.into(), head_rev));
            let mut all = ops.to_vec();
            all.push(Op::Put(entry_key(entry.seq), serde_json::to_vec(&entry)?));
            all.push(Op::Put(HEAD.into(), new_head.clone()));
            let out = self.store.txn(cmp, all).await?;
            if out.succeeded {
                self.note(ops, out.revision);
                let created = head_kv.map(|kv| kv.create_revision).unwrap_or(out.revision);
                self.cache.note_put(HEAD, new_head, created, out.revision);
                return Ok(Some(Committed {
                    revision: out.revision,
                    seq: entry.seq,
                }));
            }
            // Did the head move (another controller, or a stale cache)? Then retry.
            let now = self.store.get(HEAD).await?;
            let now_rev = now.as_ref().map(|kv| kv.mod_revision).unwrap_or(0);
            if let Some(kv) = now {
                let created = kv.create_revision;
                self.cache
                    .note_put(HEAD, kv.value.to_vec(), created, kv.mod_revision);
            }
            if now_rev == head_rev && !compares.is_empty() {
                return Ok(None);
            }
            fresh = true;
        }
        Err(Error::Conflict("the audit log's head kept moving".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::Draft;
    use crate::core::store::embedded::EmbeddedStore;
    use crate::core::store::DynStore;
    use crate::core::testing::replica;
    use crate::core::AuditAction;
    use std::sync::Arc;

    /// Pages hold at most `limit` entries and, past the first, `max_bytes` of
    /// them; walking `before` from the head gives every entry once, in order.
    #[tokio::test]
    async fn pages_are_bounded_and_cover_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let ctl = replica(store).await;
        let base = ctl.audit.head().await.unwrap().0;
        for i in 0..40 {
            let mut d = Draft::new("test", AuditAction::HotlistLoad, "Test", &format!("n{i}"));
            d.details = serde_json::json!({ "pad": "x".repeat(1000) });
            ctl.audit.record(d).await.unwrap();
        }
        let (page, next) = ctl.audit.page(1000, 0, 10_000).await.unwrap();
        assert!((5..=9).contains(&page.len()), "{}", page.len());
        assert_eq!(page.last().unwrap().seq, base + 40);
        assert_eq!(next, page[0].seq);
        // One entry even when it alone is over the byte budget.
        assert_eq!(ctl.audit.page(1000, 0, 10).await.unwrap().0.len(), 1);
        let mut seen = Vec::new();
        let mut before = 0;
        loop {
            let (page, next) = ctl.audit.page(7, before, usize::MAX).await.unwrap();
            assert!(page.len() <= 7);
            seen.splice(0..0, page.iter().map(|e| e.seq));
            if next == 0 {
                break;
            }
            before = next;
        }
        assert_eq!(seen, (1..=base + 40).collect::<Vec<_>>());
    }
}
