//! Sealed details: plate texts, read ids and crop ids are ALPR data, kept 30
//! days, not forever in the audit log.
//!
//! When an entry is committed, every value under a key named `plate`,
//! `read_id` or `crop_id` (in its details, before and after), and the name of
//! an `AlprRead` or `Alert` entry, is taken out and replaced by the word `sealed`. What was
//! taken out (JSON Pointer → value) is stored apart under
//! `audit/sealed/<digest>` with a random 128-bit salt, and the chained entry
//! holds only the digest, SHA-256(salt ‖ detail). The leader erases details
//! older than 30 days unless a legal hold covers one of their cameras. The
//! chain still verifies after erasure (the digest is what was hashed); a detail
//! that is present must match its digest, so one cannot be changed unnoticed.
//! Readers (`audit tail`, the monthly report) see details put back while they
//! exist, and `erased` after.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Prefix of the sealed details.
pub const SEALED: &str = "audit/sealed/";
/// Keys whose values are sealed wherever they appear.
pub const SEALED_KEYS: [&str; 3] = ["plate", "read_id", "crop_id"];
/// Entry kinds whose name holds a plate: a read id (`{ms}-{PLATE}`), and an
/// alert's id (made from the read id of the read that matched).
pub const SEALED_NAME_KINDS: [&str; 2] = ["AlprRead", "Alert"];
/// What a sealed value reads as in the chained entry.
pub const PLACEHOLDER: &str = "sealed";
/// What a sealed value reads as once its detail was erased.
pub const ERASED: &str = "erased";
/// How long details are kept (policy: ALPR data 30 days).
pub const KEEP_DAYS: i64 = 30;

/// A sealed detail as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedRecord {
    /// Hex of the 128-bit salt.
    pub salt: String,
    /// When the entry was committed (what erasure counts from).
    pub at: jiff::Timestamp,
    /// Cameras the entry concerns (a legal hold on one keeps the detail).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cameras: Vec<String>,
    /// JSON Pointer (into the entry) → the value taken out.
    pub fields: serde_json::Map<String, Value>,
}

impl SealedRecord {
    /// SHA-256(salt ‖ fields as JSON), hex: what the chained entry holds.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(hex::decode(&self.salt).unwrap_or_default());
        h.update(serde_json::to_vec(&self.fields).unwrap_or_default());
        hex::encode(h.finalize())
    }
}

/// The store key of a sealed detail.
pub fn sealed_key(digest: &str) -> String {
    format!("{SEALED}{digest}")
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

fn take(v: &mut Value, path: &str, out: &mut serde_json::Map<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let p = format!("{path}/{}", escape(k));
                if SEALED_KEYS.contains(&k.as_str()) && !x.is_null() {
                    out.insert(p, std::mem::replace(x, Value::String(PLACEHOLDER.into())));
                } else {
                    take(x, &p, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                take(x, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn cameras_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("camera", Value::String(c)) => out.push(c.clone()),
                    ("cameras", Value::Array(a)) => {
                        out.extend(a.iter().filter_map(|c| c.as_str().map(str::to_string)))
                    }
                    _ => cameras_in(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| cameras_in(x, out)),
        _ => {}
    }
}

/// Takes the sealed values out of an entry's parts; the record to store apart,
/// or `None` when there was nothing to seal.
pub fn seal(
    kind: &str,
    name: &mut String,
    details: &mut Value,
    before: &mut Option<Value>,
    after: &mut Option<Value>,
    at: jiff::Timestamp,
) -> Option<SealedRecord> {
    let mut fields = serde_json::Map::new();
    if SEALED_NAME_KINDS.contains(&kind) && !name.is_empty() && name != PLACEHOLDER {
        fields.insert(
            "/name".into(),
            Value::String(std::mem::replace(name, PLACEHOLDER.into())),
        );
    }
    take(details, "/details", &mut fields);
    if let Some(b) = before {
        take(b, "/before", &mut fields);
    }
    if let Some(a) = after {
        take(a, "/after", &mut fields);
    }
    if fields.is_empty() {
        return None;
    }
    let mut cameras = Vec::new();
    for v in [Some(&*details), before.as_ref(), after.as_ref()]
        .into_iter()
        .flatten()
    {
        cameras_in(v, &mut cameras);
    }
    if kind == "Camera" || kind == "Recording" {
        cameras.push(name.clone());
    }
    cameras.sort();
    cameras.dedup();
    Some(SealedRecord {
        salt: hex::encode(rand::random::<[u8; 16]>()),
        at,
        cameras,
        fields,
    })
}

/// Puts a record's values back into an entry (as JSON); with no record (erased),
/// each placeholder of the entry's digest reads `erased`.
pub fn unseal(entry: &mut Value, record: Option<&SealedRecord>) {
    match record {
        Some(r) => {
            for (p, v) in &r.fields {
                if let Some(slot) = entry.pointer_mut(p) {
                    *slot = v.clone();
                }
            }
        }
        None => mark_erased(entry),
    }
}

fn mark_erased(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "hash" || k == "prev_hash" || k == "sealed" {
                    continue;
                }
                if x.as_str() == Some(PLACEHOLDER) {
                    *x = Value::String(ERASED.into());
                } else {
                    mark_erased(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mark_erased),
        _ => {}
    }
}

/// The sealed details kept now, by digest.
pub type Kept = std::collections::HashMap<String, SealedRecord>;

/// An entry as readers see it: its sealed details put back from `kept`, or
/// `erased` when they are gone.
pub fn unseal_entry(
    e: crate::core::audit::AuditEntry,
    kept: &Kept,
) -> crate::Result<crate::core::audit::AuditEntry> {
    if e.sealed.is_empty() {
        return Ok(e);
    }
    let mut v = serde_json::to_value(&e)?;
    unseal(&mut v, kept.get(&e.sealed));
    Ok(serde_json::from_value(v)?)
}

/// Whether a detail may be erased at `now`: older than [`KEEP_DAYS`] and none
/// of its cameras under a legal hold at the detail's time (`held(camera, at)`).
pub fn erasable(
    r: &SealedRecord,
    now: jiff::Timestamp,
    held: impl Fn(&str, jiff::Timestamp) -> bool,
) -> bool {
    let old = now.duration_since(r.at).as_secs() > KEEP_DAYS * 86_400;
    old && !r.cameras.iter().any(|c| held(c, r.at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at() -> jiff::Timestamp {
        "2026-10-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn plates_and_read_ids_are_taken_out_and_put_back() {
        let mut name = "r-123".to_string();
        let mut details = json!({"plate": "ABC1234", "case_number": "26-1", "camera": "ch-lpr",
            "reads": [{"read_id": "r-9", "plate": "XYZ9"}]});
        let mut after = Some(json!({"report": {"plate": "ABC1234"}}));
        let r = seal(
            "AlprRead",
            &mut name,
            &mut details,
            &mut None,
            &mut after,
            at(),
        )
        .unwrap();
        let entry = json!({"name": name, "details": details, "after": after, "hash": "h"});
        let text = entry.to_string();
        for secret in ["ABC1234", "XYZ9", "r-9", "r-123"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(entry["details"]["case_number"], "26-1");
        assert_eq!(r.cameras, ["ch-lpr"]);
        assert_eq!(r.digest().len(), 64);
        let mut back = entry.clone();
        unseal(&mut back, Some(&r));
        assert_eq!(back["details"]["plate"], "ABC1234");
        assert_eq!(back["details"]["reads"][0]["read_id"], "r-9");
        assert_eq!(back["after"]["report"]["plate"], "ABC1234");
        assert_eq!(back["name"], "r-123");
        let mut gone = entry.clone();
        unseal(&mut gone, None);
        assert_eq!(gone["details"]["plate"], ERASED);
        assert_eq!(gone["name"], ERASED);
        assert_eq!(gone["details"]["case_number"], "26-1");
        // Nothing to seal: no record.
        let mut d = json!({"case_number": "26-1"});
        assert!(seal(
            "AlprQuery",
            &mut String::new(),
            &mut d,
            &mut None,
            &mut None,
            at()
        )
        .is_none());
    }

    #[test]
    fn salted_digests_differ_and_changes_show() {
        let mk = || {
            let mut d = json!({"plate": "ABC1234"});
            seal(
                "AlprQuery",
                &mut String::new(),
                &mut d,
                &mut None,
                &mut None,
                at(),
            )
            .unwrap()
        };
        let (a, b) = (mk(), mk());
        assert_ne!(
            a.digest(),
            b.digest(),
            "the salt makes a guessed plate unprovable"
        );
        let mut c = a.clone();
        c.fields.insert("/details/plate".into(), json!("ABC1235"));
        assert_ne!(c.digest(), a.digest());
    }

    #[test]
    fn details_are_erased_after_30_days_unless_held() {
        let mut d = json!({"plate": "ABC1234", "camera": "ch-lpr"});
        let r = seal(
            "AlprQuery",
            &mut String::new(),
            &mut d,
            &mut None,
            &mut None,
            at(),
        )
        .unwrap();
        let day = |n: i64| at() + jiff::SignedDuration::from_hours(24 * n);
        let none = |_: &str, _| false;
        assert!(!erasable(&r, day(30), none));
        assert!(erasable(&r, day(31), none));
        assert!(!erasable(&r, day(31), |c: &str, _| c == "ch-lpr"));
        assert!(erasable(&r, day(31), |c: &str, _| c == "other"));
    }
}
