//! Every target runs on its seeds (and on a few hostile shapes) without a
//! panic, and has a libFuzzer binary. The fuzzing itself: `deploy/fuzz.sh`.

#[test]
fn every_target_runs_its_seeds_and_has_a_libfuzzer_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("libfuzzer/fuzz_targets");
    for t in camplane_fuzz::TARGETS {
        let seeds = (t.seeds)();
        assert!(!seeds.is_empty(), "{}: no seeds", t.name);
        let mut outcomes = std::collections::HashSet::new();
        for s in &seeds {
            outcomes.insert((t.run)(s));
        }
        for hostile in [
            &b""[..],
            b"\0",
            &[0xff; 70_000][..],
            "{".repeat(10_000).as_bytes(),
        ] {
            outcomes.insert((t.run)(hostile));
        }
        assert!(
            outcomes.len() > 1,
            "{}: every input ends alike: {outcomes:?}",
            t.name
        );
        let bin = dir.join(format!("{}.rs", t.name));
        let text =
            std::fs::read_to_string(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        assert!(
            text.contains(&format!("target(\"{}\")", t.name)),
            "{}",
            bin.display()
        );
        let dict = camplane_fuzz::dictionary(t);
        assert_eq!(dict.lines().count(), t.dictionary.len());
    }
}

/// The export target's seeds are a real export that verifies, and damaged
/// copies of it that are refused; names that leave the directory are refused
/// even in a manifest signed by the CA.
#[test]
fn the_export_target_verifies_its_seed_and_refuses_escapes() {
    let t = camplane_fuzz::target("export").expect("the export target");
    let seeds = (t.seeds)();
    let outcomes: Vec<String> = seeds.iter().map(|s| (t.run)(s)).collect();
    assert_eq!(outcomes[..3], ["ok", "ok", "ok"], "{outcomes:?}");
    assert!(outcomes[3].contains("not the recorded"), "{outcomes:?}");
    assert!(outcomes[4].contains("missing"), "{outcomes:?}");
    assert_eq!(outcomes[5], "ok", "an export of no files");
    for name in [
        "../manifest.json",
        "/etc/hostname",
        "",
        ".",
        "..",
        "a\\b",
        "a\0b",
    ] {
        let manifest = serde_json::json!({
            "format": "camplane-export/1",
            "files": [{"seq": 1, "name": name, "start": "2026-11-01T00:00:00Z",
                "end": "2026-11-01T00:01:00Z", "size": 0,
                "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "prev_sha256": "0".repeat(64)}],
        });
        let input = camplane_fuzz::targets::export_input(1, manifest.to_string().as_bytes(), &[]);
        let outcome = (t.run)(&input);
        assert!(outcome.contains("plain name"), "{name:?}: {outcome}");
    }
}

/// Regression: a signed manifest whose sequence numbers reach `u64::MAX` made
/// the chain check overflow (a panic with overflow checks on); it is refused.
#[test]
fn a_sequence_number_at_the_end_of_u64_is_refused_cleanly() {
    let t = camplane_fuzz::target("export").expect("the export target");
    let file = |seq: u64, name: &str| {
        serde_json::json!({"seq": seq, "name": name, "start": "2026-11-01T00:00:00Z",
            "end": "2026-11-01T00:01:00Z", "size": 0,
            "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "prev_sha256": "0".repeat(64)})
    };
    let manifest = serde_json::json!({
        "format": "camplane-export/1",
        "files": [file(u64::MAX, "a"), file(0, "b")],
    });
    let input = camplane_fuzz::targets::export_input(
        1,
        manifest.to_string().as_bytes(),
        &[("a", b""), ("b", b"")],
    );
    assert_eq!((t.run)(&input), "chain broken out sequence");
}

/// Inputs libFuzzer found a panic with, each run again: none may panic now.
#[test]
fn past_findings_run_without_a_panic() {
    // 2026-12-04, `layer`: a hole crossing its shell, a repaired city-property layer
    // (first byte 246: kind 1, repair); `geo`'s sweep asserted on it.
    let layer = [
        &[246u8][..],
        br#"{"type":"FeatureCollection","features":[{"type":"Feature","pr0]],[ies":{},"geometry":{"type":"MultiPolygon","coordinates":[[[[-0,0],[5.001,1e-300001,0.001],[0,0.301],[0,0]],[[0.0002,0.0002],[0.0088,5.0003],[0.0004,0.0004],[0.0002,0.0002]]]]}}]}"#,
    ]
    .concat();
    let t = camplane_fuzz::TARGETS
        .iter()
        .find(|t| t.name == "layer")
        .unwrap();
    assert!(!(t.run)(&layer).is_empty());
}
