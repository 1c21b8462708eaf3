//! Every fuzz target runs for `CAMPLANE_FUZZ_SECONDS` (default 30) in the
//! test suite, one test each (so they share the cores); any panic fails the
//! test and names the input (hex). Longer runs: `deploy/fuzz.sh MINUTES`.

use std::time::Duration;

fn seconds() -> u64 {
    std::env::var("CAMPLANE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

fn door(name: &str) {
    let t = camplane_fuzz::target(name).expect("a target of that name");
    let seed = name
        .bytes()
        .fold(0xC0FFEEu64, |h, b| h.rotate_left(5) ^ u64::from(b));
    let r = camplane_fuzz::fuzz(t, Duration::from_secs(seconds()), seed, vec![]);
    println!(
        "{name}: {} execs, {} outcome classes, corpus {}, slowest {:.1} ms",
        r.execs,
        r.classes,
        r.corpus,
        r.slowest.as_secs_f64() * 1e3
    );
    assert!(
        r.execs > 0 && r.classes > 1,
        "{name}: the engine did not run"
    );
    let found: Vec<String> = r
        .crashes
        .iter()
        .map(|(msg, input)| format!("{msg}: input {}", hex(input)))
        .collect();
    assert!(found.is_empty(), "{name} panicked:\n{}", found.join("\n"));
}

fn hex(b: &[u8]) -> String {
    b.iter().take(4096).map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_target_has_a_test() {
    let tested = [
        "layer",
        "rules",
        "request_line",
        "hotlist_csv",
        "manifest",
        "controller_config",
        "agent_config",
        "checkpoint",
        "agent_wire",
    ];
    for t in camplane_fuzz::TARGETS {
        assert!(tested.contains(&t.name), "{} has no test here", t.name);
    }
}

#[test]
fn layer() {
    door("layer")
}
#[test]
fn rules() {
    door("rules")
}
#[test]
fn request_line() {
    door("request_line")
}
#[test]
fn hotlist_csv() {
    door("hotlist_csv")
}
#[test]
fn manifest() {
    door("manifest")
}
#[test]
fn controller_config() {
    door("controller_config")
}
#[test]
fn agent_config() {
    door("agent_config")
}
#[test]
fn checkpoint() {
    door("checkpoint")
}
#[test]
fn agent_wire() {
    door("agent_wire")
}
