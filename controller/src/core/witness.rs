//! The audit log's witness: the controller's Ed25519 checkpoint key and the
//! checkpoints the leader signs with it. A plain hash chain can be rewritten and
//! recomputed by anyone who can write the store; a checkpoint someone kept
//! (from `/public/audit-checkpoint` or a month's public log) pins the chain's
//! head at that size, so a later rewrite no longer matches it. The note format
//! is `camplane_export::checkpoint`, shared with the CLI.
//!
//! The key is created on a new store and kept in it (`meta/checkpoint-key`) like
//! the CA (`core/pki.rs`), so every replica signs with the same key. The latest
//! checkpoint is kept at `checkpoints/latest`, and each month's last one at
//! `checkpoints/months/{YYYY-MM}` (city time zone).

use crate::core::audit::{Draft, GENESIS};
use crate::core::secrets::{SecretBox, KEY_FILE_SETTING};
use crate::core::store::{Compare, DynStore, Op};
use crate::core::{AuditAction, Controller};
use crate::{Error, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use camplane_export::checkpoint::{self, Checkpoint, Signer, Verifier};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Store key of the checkpoint key.
pub const KEY: &str = "meta/checkpoint-key";
/// Store key of the latest checkpoint.
pub const LATEST: &str = "checkpoints/latest";
/// Prefix of each month's last checkpoint.
pub const MONTHS: &str = "checkpoints/months/";

/// The checkpoint key: its name (the origin) and the PKCS#8 key.
#[derive(Clone)]
pub struct WitnessKey {
    /// The origin and key name, fixed when the key is made (so renaming the
    /// city does not orphan earlier checkpoints).
    pub origin: String,
    /// The Ed25519 key, PKCS#8, base64.
    pkcs8: String,
}

/// The checkpoint key as stored: in the clear, or, where the controller keeps
/// its secrets key in a file (`auth.camera_secrets_key_file`), sealed with
/// that key, so that whoever holds the store (a backup, an etcd snapshot)
/// cannot sign a checkpoint of a chain they rewrote.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs8: Option<String>,
    /// The PKCS#8 key sealed ([`SecretBox::seal_bytes`], bound to [`KEY`]), base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
}

impl StoredKey {
    fn of(k: &WitnessKey, sealer: Option<&SecretBox>) -> Result<StoredKey> {
        Ok(match sealer {
            Some(b) => StoredKey {
                origin: k.origin.clone(),
                pkcs8: None,
                sealed: Some(B64.encode(b.seal_bytes(KEY, k.pkcs8.as_bytes())?)),
            },
            None => StoredKey {
                origin: k.origin.clone(),
                pkcs8: Some(k.pkcs8.clone()),
                sealed: None,
            },
        })
    }

    fn key(self, sealer: Option<&SecretBox>) -> Result<WitnessKey> {
        let pkcs8 = match (self.pkcs8, self.sealed, sealer) {
            (Some(p), _, _) => p,
            (None, Some(s), Some(b)) => {
                let plain = b.open_bytes(KEY, &B64.decode(s).map_err(key_err)?)?;
                String::from_utf8(plain).map_err(key_err)?
            }
            (None, Some(_), None) => {
                return Err(Error::FailedPrecondition(format!(
                    "{KEY} is sealed with the key in {KEY_FILE_SETTING}: set it"
                )))
            }
            (None, None, _) => return Err(key_err("neither a key nor a sealed one")),
        };
        Ok(WitnessKey {
            origin: self.origin,
            pkcs8,
        })
    }
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// The signed note, as served.
    pub note: String,
    /// Its size (entries).
    pub size: u64,
    /// When it was signed (the injected clock).
    pub signed_at: Timestamp,
}

fn key_err(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("checkpoint key: {e}"))
}

impl WitnessKey {
    /// Loads the key from the store, creating it on a new store (one replica
    /// wins); with `sealer` (the secrets key kept in a file), kept sealed, and
    /// a key stored in the clear by an earlier version sealed in place.
    pub async fn load_or_create(
        store: &DynStore,
        city: &str,
        sealer: Option<&SecretBox>,
    ) -> Result<WitnessKey> {
        for _ in 0..4 {
            if let Some(kv) = store.get(KEY).await? {
                let stored: StoredKey = serde_json::from_slice(&kv.value)?;
                let in_clear = stored.pkcs8.is_some();
                let k = stored.key(sealer)?;
                if in_clear && sealer.is_some() {
                    let sealed = serde_json::to_vec(&StoredKey::of(&k, sealer)?)?;
                    let out = store.compare_and_swap(KEY, kv.mod_revision, sealed).await?;
                    if !out.succeeded {
                        continue;
                    }
                    tracing::info!("checkpoint key sealed with the secrets key file");
                }
                return Ok(k);
            }
            let k = WitnessKey {
                origin: checkpoint::origin_for_city(city),
                pkcs8: B64.encode(Signer::generate_pkcs8().map_err(key_err)?),
            };
            let out = store
                .compare_and_swap(KEY, 0, serde_json::to_vec(&StoredKey::of(&k, sealer)?)?)
                .await?;
            if out.succeeded {
                return Ok(k);
            }
            // Another replica created it first: use theirs (next turn).
        }
        Err(Error::Unavailable(format!("{KEY} kept changing")))
    }

    /// The signer.
    pub fn signer(&self) -> Result<Signer> {
        let der = B64.decode(&self.pkcs8).map_err(key_err)?;
        Signer::new(&self.origin, &der).map_err(key_err)
    }

    /// The public key.
    pub fn verifier(&self) -> Result<Verifier> {
        Ok(self.signer()?.verifier())
    }
}

/// The store key of a month's last checkpoint (`YYYY-MM`).
pub fn month_key(month: &str) -> String {
    format!("{MONTHS}{month}")
}

impl Controller {
    /// The checkpoint key (made on first use on a new store).
    pub async fn witness_key(&self) -> Result<WitnessKey> {
        // Sealed only with a key kept apart from the store: one kept in the
        // store would open it for whoever holds the store.
        let sealer = match &self.config.auth.camera_secrets_key_file {
            Some(_) => Some(self.camera_secrets().await?),
            None => None,
        };
        WitnessKey::load_or_create(&self.store, &self.config.city.name, sealer.as_deref()).await
    }

    /// Signs a checkpoint of the chain's head now and stores it as the latest and
    /// as its month's (city time zone) last so far; the signing is audited
    /// (`audit.checkpoint`), so the entry after the checkpointed head records it.
    pub async fn sign_checkpoint(&self) -> Result<StoredCheckpoint> {
        let key = self.witness_key().await?;
        // The stored checkpoint before the head: a leader that lost its lead
        // (a stale head) never moves the served checkpoint back.
        let latest = self.store.get(LATEST).await?;
        let (size, hash_hex) = self.audit.head().await?;
        if let Some(kv) = &latest {
            let prev: StoredCheckpoint = serde_json::from_slice(&kv.value)?;
            if prev.size > size {
                return Ok(prev);
            }
        }
        let hash: [u8; 32] = hex::decode(&hash_hex)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| {
                Error::Internal(format!("audit head hash {hash_hex:?} is not SHA-256 hex"))
            })?;
        let cp = Checkpoint {
            origin: key.origin.clone(),
            size,
            hash,
        };
        let signer = key.signer()?;
        let note = checkpoint::sign(&cp, &signer).map_err(key_err)?;
        let now = self.now();
        let rec = StoredCheckpoint {
            note,
            size,
            signed_at: now,
        };
        let tz =
            jiff::tz::TimeZone::get(&self.config.city.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let month = now.to_zoned(tz).strftime("%Y-%m").to_string();
        let month_rev = match self.store.get(&month_key(&month)).await? {
            Some(kv) => {
                let prev: StoredCheckpoint = serde_json::from_slice(&kv.value)?;
                if prev.size > size {
                    return Ok(prev);
                }
                kv.mod_revision
            }
            None => 0,
        };
        let bytes = serde_json::to_vec(&rec)?;
        let v = signer.verifier();
        let mut d = Draft::new(
            "system",
            AuditAction::AuditCheckpoint,
            "AuditCheckpoint",
            &month,
        );
        d.details = serde_json::json!({
            "origin": cp.origin, "size": size, "hash": hash_hex,
            "key_id": v.key_id_hex(),
        });
        let compares = vec![
            Compare::ModRevision(LATEST.into(), latest.map_or(0, |kv| kv.mod_revision)),
            Compare::ModRevision(month_key(&month), month_rev),
        ];
        let committed = self
            .audit
            .commit(
                compares,
                vec![
                    Op::Put(LATEST.into(), bytes.clone()),
                    Op::Put(month_key(&month), bytes),
                ],
                d,
            )
            .await?;
        if committed.is_none() {
            // Another controller signed meanwhile: its checkpoint stands.
            return self.latest_checkpoint().await?.ok_or_else(|| {
                Error::Internal("a checkpoint was signed meanwhile, then removed".into())
            });
        }
        tracing::info!(size, "audit checkpoint signed");
        Ok(rec)
    }

    /// The latest signed checkpoint, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        self.stored_checkpoint(LATEST).await
    }

    /// A month's last signed checkpoint (`YYYY-MM`), if any.
    pub async fn month_checkpoint(&self, month: &str) -> Result<Option<StoredCheckpoint>> {
        self.stored_checkpoint(&month_key(month)).await
    }

    async fn stored_checkpoint(&self, key: &str) -> Result<Option<StoredCheckpoint>> {
        match self.store.get(key).await? {
            Some(kv) => Ok(Some(serde_json::from_slice(&kv.value)?)),
            None => Ok(None),
        }
    }

    /// The entry hash (hex) the chain has at `size` now: the genesis hash for
    /// 0, `None` past the head or where the entry is missing.
    pub async fn chain_hash_at(&self, size: u64) -> Result<Option<String>> {
        if size == 0 {
            return Ok(Some(GENESIS.into()));
        }
        // Recomputed, not the stored field: an entry edited in place differs too.
        Ok(self
            .audit
            .entry(size)
            .await?
            .map(|e| crate::core::audit::entry_hash(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the secrets key kept in a file, the checkpoint key is stored
    /// sealed: the store alone signs nothing. A key an earlier version stored
    /// in the clear is sealed in place and stays the same key; without the
    /// file, the sealed one does not open.
    #[tokio::test]
    async fn the_checkpoint_key_is_sealed_when_the_secrets_key_is_kept_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = std::sync::Arc::new(
            crate::core::store::embedded::EmbeddedStore::open(&dir.path().join("s")).unwrap(),
        );
        let clear = WitnessKey::load_or_create(&store, "Testville", None)
            .await
            .unwrap();
        let raw = store.get(KEY).await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&raw.value).contains(&clear.pkcs8));
        let file = dir.path().join("secrets.key");
        let sealer = SecretBox::load(&store, Some(&file)).await.unwrap();
        let sealed = WitnessKey::load_or_create(&store, "Testville", Some(&sealer))
            .await
            .unwrap();
        assert_eq!(sealed.pkcs8, clear.pkcs8, "the same key, now sealed");
        let raw = store.get(KEY).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&raw.value).to_string();
        assert!(!text.contains(&clear.pkcs8), "{text}");
        assert!(text.contains("sealed"), "{text}");
        let again = WitnessKey::load_or_create(&store, "Testville", Some(&sealer))
            .await
            .unwrap();
        assert_eq!(
            again.verifier().unwrap().key_id_hex(),
            clear.verifier().unwrap().key_id_hex()
        );
        let e = WitnessKey::load_or_create(&store, "Testville", None)
            .await
            .err()
            .expect("sealed: needs the file");
        assert!(e.to_string().contains(KEY_FILE_SETTING), "{e}");
    }
}
