//! Fuzzing the doors: every decoder of bytes from outside the process.
//!
//! [`targets`] holds each target's body (`fn(&[u8])`, libFuzzer's shape), its
//! seeds (committed examples only) and its dictionary. The libFuzzer binaries
//! are in `fuzz/libfuzzer/` (a crate of its own, built with coverage
//! instrumentation by `deploy/fuzz.sh`, which CI runs for 30 s per target);
//! this crate's tests run every target on its seeds, so a door's target keeps
//! compiling and running in the ordinary test suite.

pub mod targets;

pub use targets::{Target, TARGETS};

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// libFuzzer's dictionary format for `t`: one quoted token per line.
pub fn dictionary(t: &Target) -> String {
    let mut out = String::new();
    for tok in t.dictionary {
        out.push('"');
        for b in tok.bytes() {
            match b {
                b'"' | b'\\' => out.push_str(&format!("\\x{b:02x}")),
                0x20..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\x{b:02x}")),
            }
        }
        out.push_str("\"\n");
    }
    out
}

/// A file name for an input: the target and its SHA-256 prefix.
pub fn input_name(t: &Target, input: &[u8]) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(input);
    format!("{}-{}", t.name, hex::encode(&h[..8]))
}
