//! The controller's own certificate authority. Created at first start and kept in
//! the store (`meta/ca`), so every replica serves and verifies with the same CA. It
//! signs the controller's server certificate and, at enrolment, each agent's key:
//! the agent sends a certificate signing request, so its private key never leaves
//! the gateway. An agent's identity is its certificate's common name.

use crate::core::store::DynStore;
use crate::{Error, Result};
use jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use serde::{Deserialize, Serialize};

/// Store key of the CA.
pub const CA_KEY: &str = "meta/ca";

/// The CA: its certificate and key, PEM.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pki {
    /// CA certificate.
    pub ca_cert_pem: String,
    ca_key_pem: String,
}

fn pki_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

fn offset(t: Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.as_second())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A new random serial number, hex.
fn serial() -> (SerialNumber, String) {
    let mut b: [u8; 16] = rand::random();
    // Positive and with a non-zero first byte: DER drops leading zero bytes, and
    // the serial read back from a peer's certificate must equal the one stored.
    b[0] = (b[0] & 0x7f).max(1);
    (SerialNumber::from_slice(&b), hex::encode(b))
}

/// Two hex serials are the same number (leading zero bytes aside).
pub fn same_serial(a: &str, b: &str) -> bool {
    let t = |s: &str| {
        let mut s = s.trim_start_matches('0').to_ascii_lowercase();
        if s.len() % 2 == 1 {
            s.insert(0, '0');
        }
        s
    };
    !a.is_empty() && t(a) == t(b)
}

impl Pki {
    /// Loads the CA from the store, creating it at first start (one replica wins).
    pub async fn load_or_create(store: &DynStore, city: &str, now: Timestamp) -> Result<Pki> {
        if let Some(kv) = store.get(CA_KEY).await? {
            return Ok(serde_json::from_slice(&kv.value)?);
        }
        let key = KeyPair::generate().map_err(|e| pki_err("CA key", e))?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("camplane CA ({city})"));
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.not_before = offset(now) - time::Duration::hours(1);
        p.not_after = offset(now) + time::Duration::days(3650);
        p.serial_number = Some(serial().0);
        let cert = p
            .self_signed(&key)
            .map_err(|e| pki_err("CA certificate", e))?;
        let pki = Pki {
            ca_cert_pem: cert.pem(),
            ca_key_pem: key.serialize_pem(),
        };
        let out = store
            .compare_and_swap(CA_KEY, 0, serde_json::to_vec(&pki)?)
            .await?;
        if out.succeeded {
            return Ok(pki);
        }
        // Another replica created it first: use theirs.
        let kv = store
            .get(CA_KEY)
            .await?
            .ok_or_else(|| Error::Internal("CA vanished".into()))?;
        Ok(serde_json::from_slice(&kv.value)?)
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>> {
        let key = KeyPair::from_pem(&self.ca_key_pem).map_err(|e| pki_err("CA key", e))?;
        Issuer::from_ca_cert_pem(&self.ca_cert_pem, key).map_err(|e| pki_err("CA certificate", e))
    }

    /// A server certificate for the controller, valid for `names` (DNS names or IPs).
    pub fn server_identity(&self, names: &[String], now: Timestamp) -> Result<(String, String)> {
        let key = KeyPair::generate().map_err(|e| pki_err("server key", e))?;
        let mut p =
            CertificateParams::new(names.to_vec()).map_err(|e| pki_err("server names", e))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "camplane-controller");
        p.distinguished_name = dn;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.not_before = offset(now) - time::Duration::hours(1);
        p.not_after = offset(now) + time::Duration::days(90);
        p.serial_number = Some(serial().0);
        let cert = p
            .signed_by(&key, &self.issuer()?)
            .map_err(|e| pki_err("server certificate", e))?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Signs an agent's certificate request; the certificate names the agent
    /// whatever the request asked for. Returns (PEM, serial hex, expiry).
    pub fn sign_agent(
        &self,
        csr_pem: &str,
        agent: &str,
        now: Timestamp,
        days: i64,
    ) -> Result<(String, String, Timestamp)> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| Error::InvalidArgument(format!("certificate signing request: {e}")))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, agent);
        csr.params.distinguished_name = dn;
        csr.params.subject_alt_names = vec![];
        csr.params.is_ca = IsCa::ExplicitNoCa;
        csr.params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        csr.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let expires = now
            .checked_add(jiff::SignedDuration::from_hours(24 * days))
            .unwrap_or(now);
        csr.params.not_before = offset(now) - time::Duration::minutes(5);
        csr.params.not_after = offset(expires);
        let (sn, hexsn) = serial();
        csr.params.serial_number = Some(sn);
        let cert = csr
            .signed_by(&self.issuer()?)
            .map_err(|e| pki_err("agent certificate", e))?;
        Ok((cert.pem(), hexsn, expires))
    }
}

/// The organizational unit of a controller peer certificate: agent
/// certificates never carry one (their subject is replaced by the agent's name).
pub const CONTROLLER_PEER_OU: &str = "camplane-controller-peer";

impl Pki {
    /// A client certificate this controller (`id`) presents to other
    /// controllers' `Peer` service. Returns (certificate PEM, key PEM).
    pub fn controller_peer_identity(&self, id: &str, now: Timestamp) -> Result<(String, String)> {
        let key = KeyPair::generate().map_err(|e| pki_err("peer key", e))?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("controller {id}"));
        dn.push(DnType::OrganizationalUnitName, CONTROLLER_PEER_OU);
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.not_before = offset(now) - time::Duration::hours(1);
        p.not_after = offset(now) + time::Duration::days(90);
        p.serial_number = Some(serial().0);
        let cert = p
            .signed_by(&key, &self.issuer()?)
            .map_err(|e| pki_err("peer certificate", e))?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Whether a client certificate (already verified against the controller CA by
/// the TLS layer) is a controller's peer certificate, not an agent's.
pub fn is_controller_peer(der: &[u8]) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    let peer = cert
        .subject()
        .iter_organizational_unit()
        .any(|ou| ou.as_str() == Ok(CONTROLLER_PEER_OU));
    peer
}

// ---------- signing export manifests with the CA key ----------
impl Pki {
    /// Signs `msg` with the CA's key (ECDSA P-256, SHA-256, ASN.1 signature).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
        let key = KeyPair::from_pem(&self.ca_key_pem).map_err(|e| pki_err("CA key", e))?;
        let rng = ring::rand::SystemRandom::new();
        let kp =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der(), &rng)
                .map_err(|e| pki_err("CA key (expected ECDSA P-256)", e))?;
        kp.sign(&rng, msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(|e| pki_err("signing", e))
    }
}

/// The common name and serial (hex) of a peer's certificate.
pub fn peer_identity(der: &[u8]) -> Result<(String, String)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::Unauthenticated(format!("unreadable client certificate: {e}")))?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .ok_or_else(|| Error::Unauthenticated("client certificate has no common name".into()))?
        .to_string();
    let serial = hex::encode(cert.raw_serial());
    Ok((cn, serial))
}

/// When a client certificate stops being valid (its notAfter).
pub fn peer_not_after(der: &[u8]) -> Result<jiff::Timestamp> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::Unauthenticated(format!("unreadable client certificate: {e}")))?;
    jiff::Timestamp::from_second(cert.validity().not_after.timestamp())
        .map_err(|e| Error::Unauthenticated(format!("client certificate's notAfter: {e}")))
}

/// The serial (hex, as [`peer_identity`] gives it) of the first certificate in `pem`.
pub fn pem_serial(pem: &str) -> Result<String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| Error::Internal(format!("certificate PEM: {e}")))?;
    Ok(peer_identity(&p.contents)?.1)
}

/// A new key and certificate signing request for an agent (used by the agent).
pub fn agent_key_and_csr(agent_hint: &str) -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(|e| pki_err("agent key", e))?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, agent_hint);
    p.distinguished_name = dn;
    let csr = p
        .serialize_request(&key)
        .map_err(|e| pki_err("certificate request", e))?;
    Ok((
        key.serialize_pem(),
        csr.pem().map_err(|e| pki_err("certificate request", e))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_read_back_from_certificates_equal_the_stored_ones() {
        let now = Timestamp::now();
        let (key, csr) = agent_key_and_csr("x").unwrap();
        let _ = key;
        let ca = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store = crate::core::store::open(&camplane_config::controller::StoreConfig {
                    embedded: Some(camplane_config::controller::EmbeddedStoreConfig {
                        path: dir.path().to_path_buf(),
                    }),
                    etcd: None,
                })
                .await
                .unwrap();
                Pki::load_or_create(&store, "T", now).await.unwrap()
            });
        // 1 in 128 random serials began with a zero byte before: try enough to hit it.
        for _ in 0..600 {
            let (pem, stored, _) = ca.sign_agent(&csr, "ag", now, 30).unwrap();
            let der = rustls_pemfile_der(&pem);
            let (_, read) = peer_identity(&der).unwrap();
            assert!(same_serial(&stored, &read), "{stored} vs {read}");
            assert_eq!(stored, read);
        }
        assert!(same_serial("00ab", "ab") && !same_serial("", "") && !same_serial("ab", "ac"));
    }

    #[test]
    fn controller_peer_certificates_are_told_from_agents() {
        let now = Timestamp::now();
        let pki = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store = crate::core::store::open(&camplane_config::controller::StoreConfig {
                    embedded: Some(camplane_config::controller::EmbeddedStoreConfig {
                        path: dir.path().to_path_buf(),
                    }),
                    etcd: None,
                })
                .await
                .unwrap();
                Pki::load_or_create(&store, "T", now).await.unwrap()
            });
        let (cert, _) = pki.controller_peer_identity("c-1", now).unwrap();
        assert!(is_controller_peer(&rustls_pemfile_der(&cert)));
        assert_eq!(
            pem_serial(&cert).unwrap(),
            peer_identity(&rustls_pemfile_der(&cert)).unwrap().1
        );
        let (_, csr) = agent_key_and_csr("camplane-controller-peer").unwrap();
        let (agent, _, _) = pki
            .sign_agent(&csr, "camplane-controller-peer", now, 30)
            .unwrap();
        assert!(!is_controller_peer(&rustls_pemfile_der(&agent)));
    }

    fn rustls_pemfile_der(pem: &str) -> Vec<u8> {
        use base64::Engine;
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }
}
