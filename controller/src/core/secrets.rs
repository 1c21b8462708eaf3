//! Camera credentials, set apart from the camera spec and encrypted at rest.
//!
//! `camplane camera credentials set` stores a camera's user name and password
//! under `meta/camera-credentials/NAME`, sealed with ChaCha20-Poly1305 (`ring`)
//! under a 256-bit key and bound to the camera's name (the AEAD's associated
//! data), so a record copied onto another camera does not open. The key is
//! created once per store under `meta/camera-secrets-key`: a leaked credential
//! record, log line or audit entry reveals nothing, but whoever holds a whole
//! store backup holds the key too (keeping the key in a file apart is the next
//! step, noted in ARCHITECTURE.md). The credentials are opened only to build the
//! stream address that goes to the camera's own agent over its mutual-TLS
//! stream; `get`, the audit log, logs and metrics never see them.

use crate::core::store::DynStore;
use crate::{Error, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use serde::{Deserialize, Serialize};

/// The sealing key's store key.
pub const KEY: &str = "meta/camera-secrets-key";
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

/// The sealing key.
pub struct SecretBox {
    key: LessSafeKey,
}

impl SecretBox {
    fn from_bytes(bytes: &[u8]) -> Result<SecretBox> {
        let k = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .map_err(|_| Error::Corrupt(format!("{KEY}: not a 256-bit key")))?;
        Ok(SecretBox {
            key: LessSafeKey::new(k),
        })
    }

    /// Loads the key from the store, creating it on a new store (one replica wins).
    pub async fn load_or_create(store: &DynStore) -> Result<SecretBox> {
        let decode = |v: &[u8]| {
            B64.decode(v)
                .map_err(|e| Error::Corrupt(format!("{KEY}: {e}")))
        };
        if let Some(kv) = store.get(KEY).await? {
            return SecretBox::from_bytes(&decode(&kv.value)?);
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
        SecretBox::from_bytes(&decode(&kv.value)?)
    }

    /// Seals `c` for camera `camera`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, camera: &str, c: &CameraCredentials) -> Result<Vec<u8>> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut data = serde_json::to_vec(c)?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(camera.as_bytes()),
                &mut data,
            )
            .map_err(|_| Error::Internal("sealing camera credentials failed".into()))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Opens credentials sealed for camera `camera`.
    pub fn open(&self, camera: &str, sealed: &[u8]) -> Result<CameraCredentials> {
        let bad = || {
            Error::Corrupt(format!(
                "{CREDENTIALS}{camera}: does not open with this store's key (set the credentials again)"
            ))
        };
        if sealed.len() < NONCE_LEN {
            return Err(bad());
        }
        let (n, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(n).map_err(|_| bad())?;
        let mut buf = ct.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(camera.as_bytes()), &mut buf)
            .map_err(|_| bad())?;
        serde_json::from_slice(plain).map_err(|_| bad())
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
                    SecretBox::load_or_create(&self.store).await?,
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
