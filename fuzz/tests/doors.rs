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
