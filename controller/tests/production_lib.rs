//! The controller's production library carries no test support: no `testing`
//! module, and neither tempfile nor the test kit among its normal dependencies
//! (the harness lives in camplane-testkit, a dev-dependency of the crates that
//! test with it). Checked on the sources and the manifest, so it is cheap.

use std::path::Path;

const NOT_IN_PRODUCTION: [&str; 2] = ["tempfile", "camplane-testkit"];

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The dependency names of a manifest's `[name]` section.
fn section(manifest: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            inside = l == format!("[{name}]");
            continue;
        }
        if inside && !l.starts_with('#') {
            if let Some((k, _)) = l.split_once('=') {
                out.push(k.trim().to_string());
            }
        }
    }
    out
}

#[test]
fn the_production_lib_has_no_testing_module() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for gone in ["testing.rs", "testing"] {
        assert!(
            !src.join(gone).exists(),
            "src/{gone} is back: test support belongs in camplane-testkit (tests/kit)"
        );
    }
    let lib = read(&src.join("lib.rs"));
    for line in lib.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert!(
            !(words.contains(&"mod") && words.iter().any(|w| w.starts_with("testing"))),
            "lib.rs declares a testing module ({line}): it belongs in camplane-testkit"
        );
    }
}

#[test]
fn the_production_lib_does_not_depend_on_test_support() {
    let manifest = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    let deps = section(&manifest, "dependencies");
    assert!(
        deps.iter().any(|d| d == "camplane-proto"),
        "the [dependencies] section was not read: {deps:?}"
    );
    for d in NOT_IN_PRODUCTION {
        assert!(
            !deps.iter().any(|x| x == d),
            "camplane-controller's [dependencies] name {d}: tests take it as a dev-dependency"
        );
    }
    let dev = section(&manifest, "dev-dependencies");
    assert!(
        dev.iter().any(|d| d == "camplane-testkit"),
        "the controller's tests use the one harness, camplane-testkit: {dev:?}"
    );
}
