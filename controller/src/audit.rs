//! The tamper-evident audit log. Every change is committed in the same store
//! transaction as the entry that describes it, so there is never a change without
//! its entry nor an entry without its change. Entries are numbered and each carries
//! the hash of the one before it; `verify` walks the chain and names the first
//! entry that was edited, removed or reordered.

use crate::cache::Cache;
use crate::clock::DynClock;
use crate::store::{Compare, DynStore, Op, Revision};
use crate::{Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

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
    /// The action (`apply`, `login`, `login_failed`, `request.approve`, ...).
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
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// An entry before it is sealed into the chain.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
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
}

impl Draft {
    /// A draft with the essentials.
    pub fn new(actor: &str, action: &str, kind: &str, name: &str) -> Draft {
        Draft {
            actor: actor.into(),
            action: action.into(),
            kind: kind.into(),
            name: name.into(),
            result: "ok".into(),
            ..Draft::default()
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
    store: DynStore,
    cache: Cache,
    clock: DynClock,
    // Serializes this process's appends so that they do not race one another for
    // the head (other controllers are handled by compare-and-swap).
    lock: tokio::sync::Mutex<()>,
}

/// What a committed change produced.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    /// Store revision of the transaction.
    pub revision: Revision,
    /// Audit sequence number of its entry.
    pub seq: u64,
}

impl AuditLog {
    /// The log over a store.
    pub fn new(store: DynStore, cache: Cache, clock: DynClock) -> AuditLog {
        AuditLog {
            store,
            cache,
            clock,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Commits `ops` (if `compares` hold) together with the entry `draft`.
    /// Returns `Ok(None)` when one of the caller's compares failed: the caller reads
    /// again and retries. Contention on the chain's head is retried here.
    pub async fn commit(
        &self,
        compares: Vec<Compare>,
        ops: Vec<Op>,
        draft: Draft,
    ) -> Result<Option<Committed>> {
        let _g = self.lock.lock().await;
        let mut fresh = false;
        for _ in 0..64 {
            let head_kv = if fresh {
                self.store.get(HEAD).await?
            } else {
                self.cache.get(HEAD)
            };
            let (head, head_rev) = match &head_kv {
                Some(kv) => (serde_json::from_slice::<Head>(&kv.value)?, kv.mod_revision),
                None => (
                    Head {
                        seq: 0,
                        hash: GENESIS.into(),
                    },
                    0,
                ),
            };
            let mut entry = AuditEntry {
                seq: head.seq + 1,
                at: self.clock.now(),
                actor: draft.actor.clone(),
                action: draft.action.clone(),
                kind: draft.kind.clone(),
                name: draft.name.clone(),
                result: draft.result.clone(),
                before: draft.before.clone(),
                after: draft.after.clone(),
                details: draft.details.clone(),
                prev_hash: head.hash.clone(),
                hash: String::new(),
            };
            entry.hash = entry_hash(&entry);
            let new_head = serde_json::to_vec(&Head {
                seq: entry.seq,
                hash: entry.hash.clone(),
            })?;
            let mut cmp = compares.clone();
            cmp.push(Compare::ModRevision(HEAD.into(), head_rev));
            let mut all = ops.clone();
            all.push(Op::Put(entry_key(entry.seq), serde_json::to_vec(&entry)?));
            all.push(Op::Put(HEAD.into(), new_head.clone()));
            let out = self.store.txn(cmp, all).await?;
            if out.succeeded {
                for op in &ops {
                    match op {
                        Op::Put(k, v) => {
                            let created = self
                                .cache
                                .get(k)
                                .map(|kv| kv.create_revision)
                                .unwrap_or(out.revision);
                            self.cache.note_put(k, v.clone(), created, out.revision)
                        }
                        Op::Delete(k) => self.cache.note_delete(k, out.revision),
                    }
                }
                let created = head_kv.map(|kv| kv.create_revision).unwrap_or(out.revision);
                self.cache.note_put(HEAD, new_head, created, out.revision);
                return Ok(Some(Committed {
                    revision: out.revision,
                    seq: entry.seq,
                }));
            }
            // Did the head move (another controller, or a stale cache)? Then retry.
            let now = self
                .store
                .get(HEAD)
                .await?
                .map(|kv| kv.mod_revision)
                .unwrap_or(0);
            if now == head_rev && !compares.is_empty() {
                return Ok(None);
            }
            fresh = true;
        }
        Err(Error::Conflict("the audit log's head kept moving".into()))
    }

    /// Appends an entry that changes nothing else (logins, refusals, reads).
    pub async fn record(&self, draft: Draft) -> Result<Committed> {
        self.commit(vec![], vec![], draft)
            .await?
            .ok_or_else(|| Error::Internal("audit append without compares failed".into()))
    }

    /// The last `limit` entries, oldest first.
    pub async fn tail(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let head = self.store.get(HEAD).await?;
        let Some(h) = head else { return Ok(vec![]) };
        let head: Head = serde_json::from_slice(&h.value)?;
        let first = head.seq.saturating_sub(limit as u64) + 1;
        let mut out = Vec::new();
        for seq in first..=head.seq {
            if let Some(kv) = self.store.get(&entry_key(seq)).await? {
                out.push(serde_json::from_slice(&kv.value)?);
            }
        }
        Ok(out)
    }

    /// Walks the whole chain.
    pub async fn verify(&self) -> Result<Verification> {
        let entries = self.store.list(ENTRIES).await?;
        let head = match self.store.get(HEAD).await? {
            Some(kv) => serde_json::from_slice::<Head>(&kv.value)?,
            None => Head {
                seq: 0,
                hash: GENESIS.into(),
            },
        };
        Ok(verify_chain(
            entries
                .kvs
                .iter()
                .map(|kv| (kv.key.as_str(), kv.value.as_slice())),
            head.seq,
            &head.hash,
        ))
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
