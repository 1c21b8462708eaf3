//! The recording export's manifest: its format, what its signature covers, and
//! the offline check of an export directory ([`verify_export`]).
//!
//! The controller signs a manifest with its CA's P-256 key; anyone holding the
//! CA certificate can check a copy. Both the controller (which signs) and the
//! `camplane` CLI (which verifies) use this crate, so the CLI needs no part of
//! the controller, and the signed bytes are defined in one place.

pub mod checkpoint;

use camplane_config::model::SegmentInfo;
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

/// The manifest's file name in an export directory.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's `format` field: version 2 names the copy's `recipient`.
pub const FORMAT: &str = "camplane-export/2";
/// The first format (no recipient): such manifests still verify.
pub const FORMAT_V1: &str = "camplane-export/1";
/// A masked export (format 2 plus `masked_files` and `masks`): the files in
/// the directory are the segments re-encoded with the camera's privacy masks;
/// `files` still names the originals with their hashes and chain (kept on the
/// site, not in the directory), and each masked file names its original's hash.
pub const FORMAT_MASKED: &str = "camplane-export/3";

/// One file of a masked export, as its manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MaskedFile {
    /// The masked file's name in the directory.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// The original segment's sequence number (its entry in `files`).
    pub original_seq: u64,
    /// The original's SHA-256 (hex), as the site's index recorded it.
    pub original_sha256: String,
}
/// Longest recipient (`NAME, AGENCY`), in characters.
pub const MAX_RECIPIENT: usize = 200;

/// Checks an export's recipient: `NAME, AGENCY`, both parts non-empty, at most
/// [`MAX_RECIPIENT`] characters, no control characters (it is printed in the
/// audit log and the manifest). The CLI checks it before asking, the controller
/// again before anything is audited as done.
pub fn check_recipient(r: &str) -> Result<(), String> {
    let shape = "recipient: \"NAME, AGENCY\" (who receives the copy)";
    if r.chars().count() > MAX_RECIPIENT {
        return Err(format!("{shape}, at most {MAX_RECIPIENT} characters"));
    }
    if r.chars().any(char::is_control) {
        return Err(format!("{shape}, without control characters"));
    }
    match r.split_once(',') {
        Some((name, agency)) if !name.trim().is_empty() && !agency.trim().is_empty() => Ok(()),
        _ => Err(format!("{shape} is required")),
    }
}
/// The signature algorithm of manifests (the CA's P-256 key).
pub const SIGNATURE_ALGORITHM: &str = "ECDSA_P256_SHA256_ASN1";

/// The bytes a manifest's signature covers: the manifest without `signature`,
/// as compact JSON. serde_json keeps object keys sorted (no `preserve_order`
/// anywhere in the workspace), so the signer and a reader of the file agree.
pub fn signed_bytes(body: &serde_json::Value) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(body)
}

/// The manifest file: the body with `signature` (hex) added, pretty-printed.
pub fn signed_manifest(body: serde_json::Value, signature: &[u8]) -> serde_json::Result<Vec<u8>> {
    let mut v = body;
    v["signature"] = hex::encode(signature).into();
    serde_json::to_vec_pretty(&v)
}

/// Checks `sig` over `msg` against the public key of a CA certificate (PEM).
pub fn verify_signature(ca_cert_pem: &str, msg: &[u8], sig: &[u8]) -> Result<(), String> {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
    let (_, pem) = x509_parser::pem::parse_x509_pem(ca_cert_pem.as_bytes())
        .map_err(|e| format!("CA certificate: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("CA certificate: {e}"))?;
    let key = cert.public_key().subject_public_key.data.to_vec();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key)
        .verify(msg, sig)
        .map_err(|_| "bad signature".to_string())
}

/// What [`verify_export`] found wrong; names the first file that fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportProblem {
    /// The manifest is missing, unreadable or its signature does not verify.
    #[error("manifest.json: {0}")]
    Manifest(String),
    /// A listed file is missing.
    #[error("{0}: missing")]
    Missing(String),
    /// A file's bytes do not match its hash (or size).
    #[error("{0}: {1}")]
    Altered(String, String),
    /// The chain of hashes is broken at this file.
    #[error("{0}: chain broken: {1}")]
    Chain(String, String),
}

/// Checks an export directory offline: the manifest's signature against the
/// controller's CA certificate, every file byte for byte against its hash, and
/// the index's chain. Returns the number of files checked.
pub fn verify_export(dir: &Path, ca_cert_pem: &str) -> Result<usize, ExportProblem> {
    let m = |s: String| ExportProblem::Manifest(s);
    let text = std::fs::read(dir.join(MANIFEST)).map_err(|e| m(e.to_string()))?;
    let mut v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| m(e.to_string()))?;
    let sig_hex = v
        .as_object_mut()
        .and_then(|o| o.remove("signature"))
        .and_then(|s| s.as_str().map(String::from))
        .ok_or_else(|| m("no signature".into()))?;
    let sig = hex::decode(&sig_hex).map_err(|_| m("signature is not hex".into()))?;
    let body = signed_bytes(&v).map_err(|e| m(e.to_string()))?;
    verify_signature(ca_cert_pem, &body, &sig).map_err(|e| {
        m(format!(
            "signature does not verify against the CA certificate: {e}"
        ))
    })?;
    let masked_format = v["format"].as_str() == Some(FORMAT_MASKED);
    match v["format"].as_str() {
        Some(FORMAT_V1) => {}
        Some(FORMAT) | Some(FORMAT_MASKED) => {
            // Signed with the rest, so a recipient cannot be removed or changed.
            let r = v["recipient"].as_str().unwrap_or_default();
            check_recipient(r).map_err(m)?;
        }
        other => {
            return Err(m(format!(
            "unknown format {other:?} (this build reads {FORMAT_V1}, {FORMAT} and {FORMAT_MASKED})"
        )))
        }
    }
    let files: Vec<SegmentInfo> =
        serde_json::from_value(v["files"].clone()).map_err(|e| m(format!("files: {e}")))?;
    let masked: Vec<MaskedFile> = if masked_format {
        serde_json::from_value(v["masked_files"].clone())
            .map_err(|e| m(format!("masked_files: {e}")))?
    } else {
        Vec::new()
    };
    let mut prev: Option<&SegmentInfo> = None;
    for f in &files {
        // One non-empty component of this directory: an empty name would open
        // the directory itself, and a NUL cannot be in a file name.
        if f.name.is_empty() || f.name.contains(['/', '\\', '\0']) || f.name.starts_with('.') {
            return Err(m(format!("file name {:?} is not a plain name", f.name)));
        }
        if let Some(p) = prev {
            // Checked: a signed manifest may still carry any sequence number.
            if p.seq.checked_add(1) == Some(f.seq) && f.prev_sha256 != p.sha256 {
                return Err(ExportProblem::Chain(
                    f.name.clone(),
                    format!("its prev_sha256 is not the hash of {}", p.name),
                ));
            }
            if f.seq <= p.seq {
                return Err(ExportProblem::Chain(
                    f.name.clone(),
                    "out of sequence".into(),
                ));
            }
        }
        prev = Some(f);
        if masked_format {
            // The original stays on the site: its masked copy is here, naming its hash.
            let mf = masked
                .iter()
                .find(|x| x.original_seq == f.seq)
                .ok_or_else(|| m(format!("masked_files: no masked file of {}", f.name)))?;
            if mf.original_sha256 != f.sha256 {
                return Err(ExportProblem::Chain(
                    mf.name.clone(),
                    format!("its original_sha256 is not the hash of {}", f.name),
                ));
            }
            continue;
        }
        check_file(dir, &f.name, f.size, &f.sha256)?;
    }
    if masked_format {
        if masked.len() != files.len() {
            return Err(m(format!(
                "masked_files: {} files for {} originals",
                masked.len(),
                files.len()
            )));
        }
        for mf in &masked {
            check_file(dir, &mf.name, mf.size, &mf.sha256)?;
        }
        return Ok(masked.len());
    }
    Ok(files.len())
}

/// One file of the directory against its size and hash.
fn check_file(dir: &Path, name: &str, size: u64, sha256: &str) -> Result<(), ExportProblem> {
    // One non-empty component of this directory: an empty name would open
    // the directory itself, and a NUL cannot be in a file name.
    if name.is_empty() || name.contains(['/', '\\', '\0']) || name.starts_with('.') {
        return Err(ExportProblem::Manifest(format!(
            "file name {name:?} is not a plain name"
        )));
    }
    let path = dir.join(name);
    let mut file = match std::fs::File::open(&path) {
        Ok(x) => x,
        Err(_) => return Err(ExportProblem::Missing(name.to_string())),
    };
    let mut h = Sha256::new();
    let n = std::io::copy(&mut file, &mut h)
        .map_err(|e| ExportProblem::Altered(name.to_string(), e.to_string()))?;
    let got = hex::encode(h.finalize());
    if n != size {
        return Err(ExportProblem::Altered(
            name.to_string(),
            format!("{n} bytes, the manifest says {size}"),
        ));
    }
    if got != sha256 {
        return Err(ExportProblem::Altered(
            name.to_string(),
            format!("SHA-256 {got} is not the recorded {sha256}"),
        ));
    }
    Ok(())
}

/// Resolves `..`, `.` and (for the part that exists) symbolic links, without
/// needing the whole path to exist. The CLI sends the export directory resolved
/// this way, and the controller records it in the export's audit entry.
pub fn resolve_path(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    // The longest existing ancestor, canonicalized, then the rest.
    let mut existing = out.clone();
    let mut rest = Vec::new();
    while !existing.as_os_str().is_empty() {
        if let Ok(c) = existing.canonicalize() {
            let mut r = c;
            for part in rest.iter().rev() {
                r.push(part);
            }
            return r;
        }
        match existing.file_name() {
            Some(n) => rest.push(n.to_os_string()),
            None => break,
        }
        existing.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_name_a_person_and_an_agency() {
        assert!(check_recipient("Det. A. Jones, Dubuque County Attorney").is_ok());
        for bad in [
            "",
            "Jones",
            ", Agency",
            "Jones, ",
            "Jones,\nadmin audit.cleared ok, x",
            "Jones, \u{1b}[31mAgency",
        ] {
            assert!(check_recipient(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}, Agency", "n".repeat(MAX_RECIPIENT));
        assert!(check_recipient(&long).is_err());
    }

    #[test]
    fn resolve_path_handles_dots_and_links() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("exports")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("exports/up")).unwrap();
        assert_eq!(
            resolve_path(&root.join("exports/../x/y")),
            root.join("x/y"),
            "`..` resolved, missing parts kept"
        );
        assert_eq!(resolve_path(&root.join("exports/up/z")), root.join("z"));
        assert!(resolve_path(&root.join("exports/./a")).starts_with(root.join("exports")));
    }
}
