//! Camera credentials, set apart from the camera spec and encrypted at rest.
//!
//! `camplane camera credentials set` stores a camera's user name and password
//! under `meta/camera-credentials/NAME`, sealed with ChaCha20-Poly1305 (`ring`)
//! under a 256-bit key and bound to the camera's name (the AEAD's associated
//! data), so a record copied onto another camera does not open.
//!
//! Where the key lives: with `auth.camera_secrets_key_file` set, in that file
//! (0600), apart from the store, so a store backup alone opens no credential;
//! the store keeps only the key's fingerprint (`meta/camera-secrets-key-id`),
//! and a controller started with another key, or without its file, refuses to
//! start instead of sealing with a second key. Unset, the key is created once
//! per store under `meta/camera-secrets-key` (a leaked record, log line or audit
//! entry still reveals nothing). A key kept in the store is moved into the file
//! when the setting is added. The credentials are opened only to build the
//! stream address that goes to the camera's own agent over its mutual-TLS
//! stream; `get`, the audit log, logs and metrics never see them.

use crate::core::store::{Compare, DynStore, Op};
use crate::{Error, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The sealing key's store key.
pub const KEY: &str = "meta/camera-secrets-key";
/// The fingerprint of a key kept in a file: which key the records were sealed with.
pub const KEY_ID: &str = "meta/camera-secrets-key-id";
/// The config key naming the key file.
pub const KEY_FILE_SETTING: &str = "auth.camera_secrets_key_file";
/// Prefix of the sealed credential records (one per camera).
pub const CREDENTIALS: &str = "meta/camera-credentials/";

/// The longest user name or password a camera takes (characters).
pub const MAX_LEN: usize = 256;

/// A camera's user name and password. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraCredentials {
    /// The camera's user name.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for CameraCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CameraCredentials { .. }")
    }
}

impl CameraCredentials {
    /// Checks the values: present, bounded, printable.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [("--user", &self.username), ("password", &self.password)] {
            if v.is_empty() || v.chars().count() > MAX_LEN || v.chars().any(char::is_control) {
                return Err(Error::InvalidArgument(format!(
                    "camera credentials: {what} must be 1..={MAX_LEN} printable characters"
                )));
            }
        }
        Ok(())
    }
}

/// The stream address `url` with `c` in it (percent-encoded), for the agent.
pub fn with_credentials(url: &str, c: &CameraCredentials) -> String {
    let plain = camplane_config::model::url_without_credentials(url);
    let Some((scheme, rest)) = plain.split_once("://") else {
        return plain;
    };
    format!(
        "{scheme}://{}:{}@{rest}",
        percent(&c.username),
        percent(&c.password)
    )
}

/// RFC 3986 userinfo encoding: unreserved characters stay, the rest is `%XX`.
fn percent(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn decode(what: &str, v: &[u8]) -> Result<Vec<u8>> {
    let bytes = B64
        .decode(v)
        .map_err(|_| Error::Corrupt(format!("{what}: not a base64 256-bit key")))?;
    if bytes.len() != 32 {
        return Err(Error::Corrupt(format!("{what}: not a base64 256-bit key")));
    }
    Ok(bytes)
}

/// A key's fingerprint: what the store keeps when the key is in a file (it
/// names the key without revealing it).
fn key_id(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"camplane camera-secrets key id\0");
    h.update(bytes);
    hex::encode(&h.finalize()[..16])
}

/// Writes a new key file, owner-only, never over an existing one.
fn write_new_key_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let shown = path.display();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| {
                Error::io(
                    format!("{KEY_FILE_SETTING}: creating {}", parent.display()),
                    e,
                )
            })?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(format!("{KEY_FILE_SETTING}: creating {shown}"), e))?;
    f.write_all(format!("{}\n", B64.encode(bytes)).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(format!("{KEY_FILE_SETTING}: writing {shown}"), e))
}

/// The sealing key.
pub struct SecretBox {
    key: LessSafeKey,
}

impl SecretBox {
    fn from_bytes(bytes: &[u8]) -> Result<SecretBox> {
        if bytes.len() != 32 {
            return Err(Error::Corrupt(format!("{KEY}: not a 256-bit key")));
        }
        let k = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .map_err(|_| Error::Corrupt(format!("{KEY}: not a 256-bit key")))?;
        Ok(SecretBox {
            key: LessSafeKey::new(k),
        })
    }

    /// Loads the key from where the config keeps it (see the module doc).
    pub async fn load(store: &DynStore, key_file: Option<&Path>) -> Result<SecretBox> {
        match key_file {
            None => {
                if store.get(KEY).await?.is_none() && store.get(KEY_ID).await?.is_some() {
                    return Err(Error::FailedPrecondition(format!(
                        "this store's camera credentials key is kept in a file: set {KEY_FILE_SETTING} to it"
                    )));
                }
                SecretBox::load_or_create(store).await
            }
            Some(path) => SecretBox::load_from_file(store, path).await,
        }
    }

    /// Loads the key from the store, creating it on a new store (one replica wins).
    pub async fn load_or_create(store: &DynStore) -> Result<SecretBox> {
        if let Some(kv) = store.get(KEY).await? {
            return SecretBox::from_bytes(&decode(KEY, &kv.value)?);
        }
        let fresh: [u8; 32] = rand::random();
        let out = store
            .compare_and_swap(KEY, 0, B64.encode(fresh).into_bytes())
            .await?;
        if out.succeeded {
            return SecretBox::from_bytes(&fresh);
        }
        let kv = store
            .get(KEY)
            .await?
            .ok_or_else(|| Error::Internal("camera secrets key vanished".into()))?;
        SecretBox::from_bytes(&decode(KEY, &kv.value)?)
    }

    /// The key kept in `path`: read it, or move the store's key into it, or
    /// create it on a new store; the store's fingerprint must name it.
    async fn load_from_file(store: &DynStore, path: &Path) -> Result<SecretBox> {
        let shown = path.display();
        let in_store = store.get(KEY).await?;
        let bytes = match std::fs::read(path) {
            Ok(text) => decode(&shown.to_string(), text.trim_ascii())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match &in_store {
                // Moving an earlier version's key out of the store.
                Some(kv) => {
                    let bytes = decode(KEY, &kv.value)?;
                    write_new_key_file(path, &bytes)?;
                    bytes
                }
                None if store.get(KEY_ID).await?.is_some() => {
                    return Err(Error::FailedPrecondition(format!(
                        "{KEY_FILE_SETTING}: {shown} is missing, and this store's camera credentials were sealed with the key kept there: copy it from another controller of this store or from its backup"
                    )))
                }
                None => {
                    let fresh: [u8; 32] = rand::random();
                    write_new_key_file(path, &fresh)?;
                    let out = store
                        .compare_and_swap(KEY_ID, 0, key_id(&fresh).into_bytes())
                        .await?;
                    if !out.succeeded {
                        // Another controller made a key first: ours was never used.
                        let _ = std::fs::remove_file(path);
                        return Err(Error::FailedPrecondition(format!(
                            "{KEY_FILE_SETTING}: another controller of this store created its key first: copy its {shown} here"
                        )));
                    }
                    return SecretBox::from_bytes(&fresh);
                }
            },
            Err(e) => return Err(Error::io(format!("{KEY_FILE_SETTING}: reading {shown}"), e)),
        };
        let id = key_id(&bytes);
        if let Some(kv) = &in_store {
            if decode(KEY, &kv.value)? != bytes {
                return Err(Error::FailedPrecondition(format!(
                    "{KEY_FILE_SETTING}: {shown} is not the key this store's camera credentials were sealed with (kept in the store under {KEY})"
                )));
            }
            // The move: the store keeps the fingerprint, and the key only in the file.
            let ops = vec![
                Op::Put(KEY_ID.into(), id.clone().into_bytes()),
                Op::Delete(KEY.into()),
            ];
            store
                .txn(vec![Compare::ModRevision(KEY.into(), kv.mod_revision)], ops)
                .await?;
            tracing::info!(file = %shown, "camera credentials key moved out of the store");
        }
        match store.get(KEY_ID).await? {
            Some(kv) if kv.value.as_ref() != id.as_bytes() => Err(Error::FailedPrecondition(format!(
                "{KEY_FILE_SETTING}: {shown} is not the key this store's camera credentials were sealed with"
            ))),
            Some(_) => SecretBox::from_bytes(&bytes),
            None => {
                store
                    .compare_and_swap(KEY_ID, 0, id.clone().into_bytes())
                    .await?;
                match store.get(KEY_ID).await? {
                    Some(kv) if kv.value.as_ref() == id.as_bytes() => SecretBox::from_bytes(&bytes),
                    _ => Err(Error::FailedPrecondition(format!(
                        "{KEY_FILE_SETTING}: {shown} is not the key another controller of this store registered"
                    ))),
                }
            }
        }
    }

    /// Seals `plain` bound to `what` (the associated data): nonce ‖
    /// ciphertext ‖ tag. For other secrets than cameras' (the checkpoint key).
    pub fn seal_bytes(&self, what: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut data = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(what.as_bytes()),
                &mut data,
            )
            .map_err(|_| Error::Internal(format!("sealing {what} failed")))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Opens what [`SecretBox::seal_bytes`] sealed bound to `what`.
    pub fn open_bytes(&self, what: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let bad = || Error::Corrupt(format!("{what}: does not open with this store's key"));
        if sealed.len() < NONCE_LEN {
            return Err(bad());
        }
        let (n, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(n).map_err(|_| bad())?;
        let mut buf = ct.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(what.as_bytes()), &mut buf)
            .map_err(|_| bad())?;
        Ok(plain.to_vec())
    }

    /// Seals `c` for camera `camera`: nonce ‖ ciphertext ‖ tag, bound to the
    /// camera's name.
    pub fn seal(&self, camera: &str, c: &CameraCredentials) -> Result<Vec<u8>> {
        self.seal_bytes(camera, &serde_json::to_vec(c)?)
    }

    /// Opens credentials sealed for camera `camera`.
    pub fn open(&self, camera: &str, sealed: &[u8]) -> Result<CameraCredentials> {
        let bad = || {
            Error::Corrupt(format!(
                "{CREDENTIALS}{camera}: does not open with this store's key (set the credentials again)"
            ))
        };
        let plain = self.open_bytes(camera, sealed).map_err(|_| bad())?;
        serde_json::from_slice(&plain).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> CameraCredentials {
        CameraCredentials {
            username: "svc viewer".into(),
            password: "p@ss:w/rd%".into(),
        }
    }

    #[test]
    fn sealed_credentials_open_only_for_their_camera_and_key() {
        let b = SecretBox::from_bytes(&[7u8; 32]).unwrap();
        let sealed = b.seal("cam-1", &creds()).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("p@ss"));
        assert_eq!(b.open("cam-1", &sealed).unwrap(), creds());
        // Copied onto another camera, or under another key, or flipped: refused.
        assert!(b.open("cam-2", &sealed).is_err());
        let other = SecretBox::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open("cam-1", &sealed).is_err());
        let mut bad = sealed.clone();
        bad[NONCE_LEN + 1] ^= 1;
        assert!(b.open("cam-1", &bad).is_err());
        assert!(b.open("cam-1", &sealed[..4]).is_err());
        // Two seals of the same credentials differ (fresh nonce).
        assert_ne!(b.seal("cam-1", &creds()).unwrap(), sealed);
    }

    #[test]
    fn the_agent_gets_an_encoded_address_and_debug_shows_nothing() {
        let u = with_credentials("rtsp://old:x@10.0.0.5:554/main", &creds());
        assert_eq!(
            u,
            "rtsp://svc%20viewer:p%40ss%3Aw%2Frd%25@10.0.0.5:554/main"
        );
        assert_eq!(
            camplane_config::model::url_without_credentials(&u),
            "rtsp://10.0.0.5:554/main"
        );
        assert_eq!(format!("{:?}", creds()), "CameraCredentials { .. }");
        assert!(creds().validate().is_ok());
        let empty = CameraCredentials {
            username: "u".into(),
            password: String::new(),
        };
        assert!(empty.validate().is_err());
        let nul = CameraCredentials {
            username: "u\0".into(),
            password: "x".into(),
        };
        assert!(nul.validate().is_err());
    }
}

/// The sealing key, loaded once per process (at start, by the server).
#[derive(Default)]
pub struct CameraSecrets(tokio::sync::OnceCell<std::sync::Arc<SecretBox>>);

impl CameraSecrets {
    /// The key if it has been loaded.
    pub fn loaded(&self) -> Option<std::sync::Arc<SecretBox>> {
        self.0.get().cloned()
    }
}

impl crate::core::Controller {
    /// The camera credentials' sealing key (loaded or created on first use).
    pub async fn camera_secrets(&self) -> Result<std::sync::Arc<SecretBox>> {
        self.wing::<CameraSecrets>()
            .0
            .get_or_try_init(|| async {
                Ok(std::sync::Arc::new(
                    SecretBox::load(
                        &self.store,
                        self.config.auth.camera_secrets_key_file.as_deref(),
                    )
                    .await?,
                ))
            })
            .await
            .cloned()
    }

    /// The stream addresses camera `name`'s agent is sent: `main` and `sub`
    /// with the camera's credentials in them when some are set (and the key
    /// is loaded). A record that does not open is logged (never its content)
    /// and the addresses go without credentials.
    pub fn agent_stream_urls(
        &self,
        name: &str,
        main: &str,
        sub: Option<&str>,
    ) -> (String, Option<String>) {
        let plain = || (main.to_string(), sub.map(str::to_string));
        let Some(kv) = self.cache.get(&format!("{CREDENTIALS}{name}")) else {
            return plain();
        };
        let Some(b) = self.wing::<CameraSecrets>().loaded() else {
            tracing::warn!(
                camera = name,
                "camera credentials are set but the key is not loaded"
            );
            return plain();
        };
        match b.open(name, &kv.value) {
            Ok(c) => (
                with_credentials(main, &c),
                sub.map(|s| with_credentials(s, &c)),
            ),
            Err(e) => {
                tracing::warn!(camera = name, error = %e, "camera credentials unusable");
                plain()
            }
        }
    }
}

#[cfg(test)]
mod key_file_tests {
    use super::*;

    fn creds() -> CameraCredentials {
        CameraCredentials {
            username: "svc".into(),
            password: "a-camera-password".into(),
        }
    }

    fn store_in(dir: &Path) -> DynStore {
        std::sync::Arc::new(crate::core::store::embedded::EmbeddedStore::open(dir).unwrap())
    }

    /// The key kept apart: created 0600 in its file with only a fingerprint in
    /// the store; the same file opens what it sealed after a restart; an
    /// earlier store's key moves into the file; a missing or foreign file, or
    /// dropping the setting, refuses to start rather than seal with a second key.
    #[tokio::test]
    async fn the_key_file_is_kept_apart_and_must_match() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir.path().join("store"));
        let file = dir.path().join("keys/camera-secrets.key");
        let a = SecretBox::load(&store, Some(&file)).await.unwrap();
        let sealed = a.seal("cam-1", &creds()).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            store.get(KEY).await.unwrap().is_none(),
            "no key in the store"
        );
        assert!(store.get(KEY_ID).await.unwrap().is_some());
        let b = SecretBox::load(&store, Some(&file)).await.unwrap();
        assert_eq!(b.open("cam-1", &sealed).unwrap(), creds());
        // Setting dropped: refused, naming the setting.
        let e = SecretBox::load(&store, None).await.err().unwrap();
        assert!(e.to_string().contains(KEY_FILE_SETTING), "{e}");
        // Another key in the file: refused; the file missing: refused.
        let other = dir.path().join("other.key");
        std::fs::write(&other, format!("{}\n", B64.encode([9u8; 32]))).unwrap();
        let e = SecretBox::load(&store, Some(&other)).await.err().unwrap();
        assert!(e.to_string().contains("not the key"), "{e}");
        let gone = dir.path().join("gone.key");
        let e = SecretBox::load(&store, Some(&gone)).await.err().unwrap();
        assert!(e.to_string().contains("is missing"), "{e}");
        assert!(!gone.exists());
        // A store whose key was kept inside (an earlier version): moved out.
        let old = store_in(&dir.path().join("old"));
        let inside = SecretBox::load(&old, None).await.unwrap();
        let sealed = inside.seal("cam-2", &creds()).unwrap();
        let moved_to = dir.path().join("moved.key");
        let moved = SecretBox::load(&old, Some(&moved_to)).await.unwrap();
        assert_eq!(moved.open("cam-2", &sealed).unwrap(), creds());
        assert!(
            old.get(KEY).await.unwrap().is_none(),
            "moved out of the store"
        );
        let again = SecretBox::load(&old, Some(&moved_to)).await.unwrap();
        assert_eq!(again.open("cam-2", &sealed).unwrap(), creds());
        // A file that is not a key is named.
        std::fs::write(&other, "not a key").unwrap();
        let e = SecretBox::load(&store, Some(&other)).await.err().unwrap();
        assert!(e.to_string().contains("other.key"), "{e}");
    }
}
