//! Fuzzing the doors: every decoder of bytes from outside the process, run
//! on mutated inputs for a set time.
//!
//! cargo-fuzz and libFuzzer are not available to this build (no network, and
//! the registry here holds neither `libfuzzer-sys` nor `arbitrary`), so this
//! crate carries its own small engine: a corpus started from committed
//! examples, byte-level and dictionary mutations, splicing, and one piece of
//! feedback, the outcome's class (see [`targets::outcome`]): an input that
//! ends in a kind of result not seen before joins the corpus. It is blind to
//! code coverage; the targets keep libFuzzer's shape so that they move under
//! cargo-fuzz unchanged when it can be installed. A panic is a finding: the
//! input is written out and the run fails.

pub mod targets;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::time::{Duration, Instant};
pub use targets::{Target, TARGETS};

/// The longest input the mutator makes (bytes): past the doors' own limits
/// only in what the mutations can reach in a run, which is the point.
pub const MAX_INPUT: usize = 64 * 1024;
/// An input taking longer than this is reported as slow (not interrupted).
pub const SLOW: Duration = Duration::from_secs(2);

/// What one run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs run.
    pub execs: u64,
    /// Distinct outcome classes seen.
    pub classes: usize,
    /// Corpus size at the end.
    pub corpus: usize,
    /// The inputs this run added to the corpus (what a next run starts from).
    pub learned: Vec<Vec<u8>>,
    /// Inputs that panicked (the panic message, the input).
    pub crashes: Vec<(String, Vec<u8>)>,
    /// The slowest input's time.
    pub slowest: Duration,
    /// Inputs slower than [`SLOW`].
    pub slow: Vec<Vec<u8>>,
}

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Runs `t` for `time` from its seeds plus `extra` corpus inputs, seeded by `seed`.
pub fn fuzz(t: &Target, time: Duration, seed: u64, extra: Vec<Vec<u8>>) -> Report {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut corpus: Vec<Vec<u8>> = (t.seeds)();
    corpus.extend(extra);
    let mut seen: HashSet<String> = HashSet::new();
    let mut report = Report::default();
    let start = Instant::now();
    // Quiet panics: they are collected, not printed for every input.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let run = |input: &[u8], report: &mut Report, seen: &mut HashSet<String>| -> bool {
        let t0 = Instant::now();
        let out = std::panic::catch_unwind(|| (t.run)(input));
        let took = t0.elapsed();
        report.execs += 1;
        report.slowest = report.slowest.max(took);
        if took > SLOW && report.slow.len() < 8 {
            report.slow.push(input.to_vec());
        }
        match out {
            Ok(class) => seen.insert(class),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                if report.crashes.len() < 16 {
                    report.crashes.push((msg, input.to_vec()));
                }
                false
            }
        }
    };
    for c in corpus.clone() {
        run(&c, &mut report, &mut seen);
    }
    let given = corpus.len();
    while start.elapsed() < time {
        let base = &corpus[rng.gen_range(0..corpus.len())];
        let other = &corpus[rng.gen_range(0..corpus.len())];
        let input = mutate(base, other, t.dictionary, &mut rng);
        if run(&input, &mut report, &mut seen) && corpus.len() < 4096 {
            corpus.push(input);
        }
    }
    std::panic::set_hook(hook);
    report.classes = seen.len();
    report.corpus = corpus.len();
    report.learned = corpus.split_off(given.min(corpus.len()));
    report
}

/// One to eight stacked mutations of `base`.
pub fn mutate(base: &[u8], other: &[u8], dict: &[&str], rng: &mut impl Rng) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..rng.gen_range(1..=8) {
        let len = v.len();
        match rng.gen_range(0..9) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] = *[0u8, 0x7f, 0x80, 0xff, b'"', b'\\', b'\n', b'-', b'9']
                    .get(rng.gen_range(0..9))
                    .unwrap_or(&0);
            }
            2 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = (a + rng.gen_range(1..=32)).min(len);
                v.drain(a..b);
            }
            3 if len > 0 => {
                // Repeat a chunk (deep nesting, long fields).
                let a = rng.gen_range(0..len);
                let b = (a + rng.gen_range(1..=64)).min(len);
                let chunk = v[a..b].to_vec();
                let times = rng.gen_range(1..=64);
                for _ in 0..times {
                    v.splice(a..a, chunk.iter().copied());
                }
            }
            4 | 5 if !dict.is_empty() => {
                let tok = dict[rng.gen_range(0..dict.len())].as_bytes();
                let at = rng.gen_range(0..=len);
                v.splice(at..at, tok.iter().copied());
            }
            6 if !other.is_empty() => {
                // Splice: our head, the other's tail.
                let a = rng.gen_range(0..=len);
                let b = rng.gen_range(0..other.len());
                v.truncate(a);
                v.extend_from_slice(&other[b..]);
            }
            7 if len > 0 => {
                let i = rng.gen_range(0..len);
                v.insert(i, rng.gen());
            }
            _ if len > 1 => {
                let i = rng.gen_range(0..len);
                v.truncate(i.max(1));
            }
            _ => v.push(rng.gen()),
        }
        v.truncate(MAX_INPUT);
    }
    v
}

/// A name for a finding: the target and the input's SHA-256 prefix.
pub fn finding_name(t: &Target, input: &[u8]) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(input);
    format!("{}-{}", t.name, hex::encode(&h[..8]))
}
