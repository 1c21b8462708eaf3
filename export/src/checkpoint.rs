//! Checkpoints of the audit chain: a C2SP signed note (<https://c2sp.org/signed-note>)
//! whose body is in the tlog-checkpoint format (<https://c2sp.org/tlog-checkpoint>):
//!
//! ```text
//! <origin>
//! <size>
//! <base64 head hash>
//!
//! — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>
//! ```
//!
//! "size" is the number of audit entries (the head's seq) and the hash is the
//! chain's head hash (the hash of entry `size`). The controller makes them (the
//! leader, hourly); anyone who kept one can later check that the chain still has
//! that entry at that place ([`open`]). Pure functions only: the controller and
//! the `camplane` CLI share them.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};

/// The signed-note signature type byte of Ed25519 keys.
const ED25519_TYPE: u8 = 0x01;
/// The prefix of a signature line (an em dash and a space).
const SIG_PREFIX: &str = "\u{2014} ";

/// What a checkpoint says: the chain had `size` entries, the last one hashing to `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Names the log (the city's controller's audit log).
    pub origin: String,
    /// Entries in the chain (the head's seq).
    pub size: u64,
    /// The head's hash (SHA-256; all zeros for the empty chain).
    pub hash: [u8; 32],
}

/// Why a note could not be read or did not verify. Format problems name the
/// line (counted from 1) where they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The text is not a well-formed checkpoint note.
    #[error("line {line}: {message}")]
    Format {
        /// The line, from 1.
        line: usize,
        /// What is wrong there.
        message: String,
    },
    /// No signature line names the expected key (by name and key id).
    #[error("no signature by key {name} (key id {key_id}): {found}")]
    WrongKey {
        /// The expected key's name.
        name: String,
        /// The expected key's id, hex.
        key_id: String,
        /// What signature lines there were.
        found: String,
    },
    /// A signature by the expected key does not verify over the body.
    #[error("line {line}: the signature by {name} does not verify: the checkpoint was altered or signed by another key")]
    BadSignature {
        /// The signature's line, from 1.
        line: usize,
        /// The key's name.
        name: String,
    },
    /// The key itself is unusable.
    #[error("key: {0}")]
    Key(String),
}

fn format_err(line: usize, message: impl Into<String>) -> NoteError {
    NoteError::Format {
        line,
        message: message.into(),
    }
}

/// A signed-note key name: non-empty, no spaces, no `+`.
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '+') {
        return Err(NoteError::Key(format!(
            "key name {name:?} must be non-empty, without spaces or '+'"
        )));
    }
    Ok(())
}

/// The signed-note key id: the first 4 bytes of SHA-256(name || LF || 0x01 || key).
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519_TYPE]);
    h.update(public_key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A public key that checks notes: its name and its 32-byte Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    /// The key's name (the checkpoint's origin, by camplane's choice).
    pub name: String,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
}

impl Verifier {
    /// A verifier from a name and a public key of 32 bytes.
    pub fn new(name: &str, public_key: &[u8]) -> Result<Verifier, NoteError> {
        check_name(name)?;
        let public_key: [u8; 32] = public_key.try_into().map_err(|_| {
            NoteError::Key(format!(
                "an Ed25519 public key has 32 bytes, not {}",
                public_key.len()
            ))
        })?;
        Ok(Verifier {
            name: name.to_string(),
            public_key,
        })
    }

    /// The key id (hex), as signature lines carry it.
    pub fn key_id_hex(&self) -> String {
        hex::encode(key_id(&self.name, &self.public_key))
    }

    /// The key in the signed-note verifier key form: `name+keyid+base64(0x01 || key)`.
    pub fn vkey(&self) -> String {
        let mut k = vec![ED25519_TYPE];
        k.extend_from_slice(&self.public_key);
        format!("{}+{}+{}", self.name, self.key_id_hex(), B64.encode(k))
    }
}

/// A private key that signs notes: its name and an Ed25519 key pair.
pub struct Signer {
    name: String,
    pair: Ed25519KeyPair,
}

impl Signer {
    /// A new random key pair in PKCS#8 (v2) form, to be stored and loaded by [`Signer::new`].
    pub fn generate_pkcs8() -> Result<Vec<u8>, NoteError> {
        Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map(|d| d.as_ref().to_vec())
            .map_err(|e| NoteError::Key(format!("generating an Ed25519 key: {e}")))
    }

    /// A signer from its name and its PKCS#8 key.
    pub fn new(name: &str, pkcs8: &[u8]) -> Result<Signer, NoteError> {
        check_name(name)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|e| NoteError::Key(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        Ok(Signer {
            name: name.to_string(),
            pair,
        })
    }

    /// The matching public key.
    pub fn verifier(&self) -> Verifier {
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(self.pair.public_key().as_ref());
        Verifier {
            name: self.name.clone(),
            public_key,
        }
    }
}

impl Checkpoint {
    /// The note's body: origin, size and hash, one a line, each ending in a newline.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.hash)
        )
    }

    /// Reads a body (everything before the blank line). Extension lines after
    /// the hash are allowed by tlog-checkpoint and ignored.
    pub fn parse_body(body: &str) -> Result<Checkpoint, NoteError> {
        let lines: Vec<&str> = body
            .strip_suffix('\n')
            .unwrap_or(body)
            .split('\n')
            .collect();
        let line = |i: usize| lines.get(i).copied();
        let origin = line(0).unwrap_or("");
        if origin.is_empty() {
            return Err(format_err(1, "the origin is empty"));
        }
        let size = line(1).ok_or_else(|| format_err(2, "the size is missing"))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(format_err(
                2,
                format!("the size {size:?} is not a decimal number"),
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| format_err(2, format!("the size {size:?} is too large")))?;
        let hash = line(2).ok_or_else(|| format_err(3, "the hash is missing"))?;
        let hash: [u8; 32] = B64
            .decode(hash)
            .map_err(|e| format_err(3, format!("the hash is not base64: {e}")))?
            .try_into()
            .map_err(|v: Vec<u8>| {
                format_err(3, format!("the hash has {} bytes, not 32", v.len()))
            })?;
        for (i, l) in lines.iter().enumerate().skip(3) {
            if l.is_empty() {
                return Err(format_err(i + 1, "an empty line inside the body"));
            }
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            hash,
        })
    }
}

/// Signs a checkpoint: the whole note text, body, blank line, signature line.
pub fn sign(cp: &Checkpoint, signer: &Signer) -> Result<String, NoteError> {
    if cp.origin.is_empty() || cp.origin.contains('\n') {
        return Err(format_err(1, "the origin must be one non-empty line"));
    }
    let body = cp.body();
    let v = signer.verifier();
    let mut sig = key_id(&v.name, &v.public_key).to_vec();
    sig.extend_from_slice(signer.pair.sign(body.as_bytes()).as_ref());
    Ok(format!(
        "{body}\n{SIG_PREFIX}{} {}\n",
        signer.name,
        B64.encode(sig)
    ))
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Its line, from 1.
    pub line: usize,
    /// The key name it gives.
    pub name: String,
    /// The key id it carries.
    pub key_id: [u8; 4],
    /// The signature proper.
    pub signature: Vec<u8>,
}

/// Splits a note into its checkpoint, the signed body text and its signatures,
/// without checking any signature.
pub fn parse(note: &str) -> Result<(Checkpoint, String, Vec<NoteSignature>), NoteError> {
    let total = note.split('\n').count();
    if !note.ends_with('\n') {
        return Err(format_err(total, "the note does not end with a newline"));
    }
    if note.contains('\r') {
        let at = note.split('\n').position(|l| l.contains('\r')).unwrap_or(0);
        return Err(format_err(at + 1, "a carriage return (CRLF line ends?)"));
    }
    // The signatures follow the last blank line.
    let Some(split) = note.rfind("\n\n") else {
        return Err(format_err(
            total - 1,
            "no blank line between the checkpoint and its signatures",
        ));
    };
    let body = &note[..split + 1];
    let cp = Checkpoint::parse_body(body)?;
    let first_sig_line = body.split('\n').count() + 1;
    let mut sigs = Vec::new();
    let sig_text = &note[split + 2..];
    if sig_text.is_empty() {
        return Err(format_err(total, "the note has no signature line"));
    }
    for (i, l) in sig_text
        .strip_suffix('\n')
        .unwrap_or(sig_text)
        .split('\n')
        .enumerate()
    {
        let n = first_sig_line + i;
        let rest = l.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            format_err(
                n,
                "a signature line must begin with an em dash and a space (\"— \")",
            )
        })?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| format_err(n, "a signature line is \"— <key name> <base64>\""))?;
        if name.is_empty() || b64.contains(' ') {
            return Err(format_err(
                n,
                "a signature line is \"— <key name> <base64>\"",
            ));
        }
        let raw = B64
            .decode(b64)
            .map_err(|e| format_err(n, format!("the signature is not base64: {e}")))?;
        if raw.len() < 5 {
            return Err(format_err(n, "the signature is shorter than a key id"));
        }
        sigs.push(NoteSignature {
            line: n,
            name: name.to_string(),
            key_id: [raw[0], raw[1], raw[2], raw[3]],
            signature: raw[4..].to_vec(),
        });
    }
    if sigs.is_empty() {
        return Err(format_err(total, "the note has no signature line"));
    }
    Ok((cp, body.to_string(), sigs))
}

/// Reads a note and checks its signature by `key`; returns the checkpoint.
/// Signatures by other keys are ignored, as signed-note says; one by `key` must verify.
pub fn open(note: &str, key: &Verifier) -> Result<Checkpoint, NoteError> {
    let (cp, body, sigs) = parse(note)?;
    let id = key_id(&key.name, &key.public_key);
    let Some(sig) = sigs.iter().find(|s| s.name == key.name && s.key_id == id) else {
        return Err(NoteError::WrongKey {
            name: key.name.clone(),
            key_id: hex::encode(id),
            found: sigs
                .iter()
                .map(|s| format!("line {}: {} {}", s.line, s.name, hex::encode(s.key_id)))
                .collect::<Vec<_>>()
                .join("; "),
        });
    };
    UnparsedPublicKey::new(&ED25519, key.public_key)
        .verify(body.as_bytes(), &sig.signature)
        .map_err(|_| NoteError::BadSignature {
            line: sig.line,
            name: key.name.clone(),
        })?;
    Ok(cp)
}

/// Why a saved checkpoint does not match the controller's chain now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointProblem {
    /// The note is malformed or its signature is not the controller's key's.
    #[error("{0}")]
    Note(#[from] NoteError),
    /// The checkpoint names another log.
    #[error("the checkpoint is of {found:?}, this controller's audit log is {expected:?}")]
    Origin {
        /// The checkpoint's origin.
        found: String,
        /// The controller's.
        expected: String,
    },
    /// The chain has no entry at the checkpoint's size.
    #[error(
        "the checkpoint has {size} entries but the chain has {head} now: entries were removed"
    )]
    Missing {
        /// The checkpoint's size.
        size: u64,
        /// The chain's length now.
        head: u64,
    },
    /// The chain's entry at that size hashes differently: history was rewritten.
    #[error("entry {size} differs: the checkpoint's head hash is {saved} but the chain's entry {size} hashes to {chain}: the audit log was rewritten since the checkpoint was signed")]
    HashDiffers {
        /// The size (the entry's seq).
        size: u64,
        /// The checkpoint's hash, hex.
        saved: String,
        /// The chain's, hex.
        chain: String,
    },
}

/// Checks a saved checkpoint against the controller's chain now: signed by
/// `key`, of `key`'s log, and `entry_hash` (hex; `None` when the chain has no
/// such entry) is the checkpoint's head hash. `head` is the chain's length now.
pub fn check_against_chain(
    note: &str,
    key: &Verifier,
    entry_hash: Option<&str>,
    head: u64,
) -> Result<Checkpoint, CheckpointProblem> {
    let cp = open(note, key)?;
    if cp.origin != key.name {
        return Err(CheckpointProblem::Origin {
            found: cp.origin,
            expected: key.name.clone(),
        });
    }
    let Some(chain) = entry_hash else {
        return Err(CheckpointProblem::Missing {
            size: cp.size,
            head,
        });
    };
    let saved = hex::encode(cp.hash);
    if !saved.eq_ignore_ascii_case(chain) {
        return Err(CheckpointProblem::HashDiffers {
            size: cp.size,
            saved,
            chain: chain.to_string(),
        });
    }
    Ok(cp)
}

/// The origin camplane gives a city's audit log: `camplane.<city slug>/audit`.
pub fn origin_for_city(city: &str) -> String {
    let mut slug = String::new();
    for c in city.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    format!(
        "camplane.{}/audit",
        if slug.is_empty() { "city" } else { slug }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(name: &str) -> Signer {
        Signer::new(name, &Signer::generate_pkcs8().unwrap()).unwrap()
    }

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "camplane.test-city/audit".into(),
            size: 42,
            hash: [7; 32],
        }
    }

    #[test]
    fn signs_in_the_c2sp_layout_and_verifies() {
        let s = signer("camplane.test-city/audit");
        let note = sign(&cp(), &s).unwrap();
        let lines: Vec<&str> = note.split('\n').collect();
        assert_eq!(lines[0], "camplane.test-city/audit");
        assert_eq!(lines[1], "42");
        assert_eq!(lines[2], B64.encode([7u8; 32]));
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("— camplane.test-city/audit "));
        assert_eq!(lines[5], "", "ends with a newline");
        let (_, _, sigs) = parse(&note).unwrap();
        assert_eq!(sigs.len(), 1);
        assert_eq!(sigs[0].signature.len(), 64);
        assert_eq!(sigs[0].key_id, key_id(&s.name, &s.verifier().public_key));
        assert_eq!(open(&note, &s.verifier()).unwrap(), cp());
    }

    #[test]
    fn the_key_id_follows_signed_note() {
        // SHA-256("a" || 0x0A || 0x01 || 32 zero bytes), first 4 bytes.
        let mut h = Sha256::new();
        h.update(b"a\n\x01");
        h.update([0u8; 32]);
        assert_eq!(key_id("a", &[0; 32]), h.finalize()[..4]);
        let v = signer("n").verifier();
        let vkey = v.vkey();
        assert!(vkey.starts_with(&format!("n+{}+", v.key_id_hex())));
        assert_eq!(
            B64.decode(vkey.splitn(3, '+').nth(2).unwrap()).unwrap()[0],
            1
        );
    }

    #[test]
    fn a_tampered_byte_fails() {
        let s = signer("k");
        let note = sign(&cp(), &s).unwrap();
        // The size, the hash and the signature itself, each changed.
        let size = note.replacen("\n42\n", "\n43\n", 1);
        assert!(matches!(
            open(&size, &s.verifier()),
            Err(NoteError::BadSignature { line: 5, .. })
        ));
        let h = B64.encode([7u8; 32]);
        let mut other = [7u8; 32];
        other[31] = 8;
        let hash = note.replacen(&h, &B64.encode(other), 1);
        assert!(matches!(
            open(&hash, &s.verifier()),
            Err(NoteError::BadSignature { .. })
        ));
        let (_, _, sigs) = parse(&note).unwrap();
        let mut raw = sigs[0].key_id.to_vec();
        raw.extend_from_slice(&sigs[0].signature);
        raw[10] ^= 1;
        let sig_line = format!("— k {}\n", B64.encode(&raw));
        let bad = format!("{}{sig_line}", &note[..note.rfind("— ").unwrap()]);
        assert!(matches!(
            open(&bad, &s.verifier()),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn a_wrong_key_fails() {
        let s = signer("k");
        let note = sign(&cp(), &s).unwrap();
        // Same name, another key: the key id differs.
        let e = open(&note, &signer("k").verifier()).unwrap_err();
        assert!(matches!(e, NoteError::WrongKey { .. }), "{e}");
        assert!(e.to_string().contains("line 5: k "), "{e}");
        // Another key that claims the right key id: the signature fails.
        let other = signer("k");
        let forged = Verifier {
            name: "k".into(),
            public_key: other.verifier().public_key,
        };
        let id = hex::encode(key_id("k", &s.verifier().public_key));
        let mut raw = hex::decode(id).unwrap();
        raw.extend_from_slice(other.pair.sign(cp().body().as_bytes()).as_ref());
        let note2 = format!("{}\n— k {}\n", cp().body(), B64.encode(&raw));
        assert!(open(&note2, &forged).is_err());
        assert!(matches!(
            open(&note2, &s.verifier()),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn parse_errors_name_the_line() {
        let s = signer("k");
        let good = sign(&cp(), &s).unwrap();
        let line_of = |note: &str| match parse(note) {
            Err(NoteError::Format { line, message }) => (line, message),
            other => panic!("{other:?}"),
        };
        let h = B64.encode([7u8; 32]);
        assert_eq!(line_of(&good.replacen("\n42\n", "\nx42\n", 1)).0, 2);
        assert_eq!(line_of(&good.replacen("\n42\n", "\n042\n", 1)).0, 2);
        assert_eq!(line_of(&good.replacen(&h, "!!", 1)).0, 3);
        assert_eq!(line_of(&good.replacen(&h, &B64.encode([1u8; 31]), 1)).0, 3);
        assert_eq!(
            line_of(&good.replacen("camplane.test-city/audit\n", "\n", 1)).0,
            1
        );
        assert_eq!(line_of(&good.replacen("— ", "- ", 1)).0, 5);
        assert_eq!(line_of(good.trim_end_matches('\n')).0, 5);
        assert_eq!(line_of(&good.replacen("\n\n", "\n", 1)).0, 4);
        assert_eq!(line_of(&good.replace('\n', "\r\n")).0, 1);
        let (line, msg) = line_of(&format!("{}\n", cp().body()));
        assert_eq!(line, 5);
        assert!(msg.contains("signature"), "{msg}");
        // The error text carries the line.
        assert!(parse(&good.replacen("\n42\n", "\nx\n", 1))
            .unwrap_err()
            .to_string()
            .starts_with("line 2: "));
    }

    #[test]
    fn checked_against_the_chain_names_what_differs() {
        let s = signer("camplane.test-city/audit");
        let v = s.verifier();
        let note = sign(&cp(), &s).unwrap();
        let h = hex::encode([7u8; 32]);
        assert_eq!(check_against_chain(&note, &v, Some(&h), 50).unwrap(), cp());
        let e = check_against_chain(&note, &v, Some(&hex::encode([8u8; 32])), 50).unwrap_err();
        assert!(
            matches!(e, CheckpointProblem::HashDiffers { size: 42, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("entry 42 differs"), "{e}");
        let e = check_against_chain(&note, &v, None, 40).unwrap_err();
        assert!(e.to_string().contains("the chain has 40"), "{e}");
        let other = signer("camplane.test-city/audit").verifier();
        assert!(matches!(
            check_against_chain(&note, &other, Some(&h), 50),
            Err(CheckpointProblem::Note(NoteError::WrongKey { .. }))
        ));
        let elsewhere = signer("camplane.other/audit");
        let note2 = sign(&cp(), &elsewhere).unwrap();
        assert!(matches!(
            check_against_chain(&note2, &elsewhere.verifier(), Some(&h), 50),
            Err(CheckpointProblem::Origin { .. })
        ));
    }

    #[test]
    fn origins_are_slugs_of_the_city() {
        assert_eq!(origin_for_city("Test City"), "camplane.test-city/audit");
        assert_eq!(
            origin_for_city("Beograd—Vračar"),
            "camplane.beograd-vra-ar/audit"
        );
        assert_eq!(origin_for_city("  "), "camplane.city/audit");
        assert!(Signer::new(&origin_for_city("A b"), &Signer::generate_pkcs8().unwrap()).is_ok());
        assert!(Signer::new("a b", &Signer::generate_pkcs8().unwrap()).is_err());
    }
}
