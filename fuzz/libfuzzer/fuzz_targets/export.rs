#![no_main]
//! libFuzzer on the `export` door (see camplane-fuzz's targets).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(t) = camplane_fuzz::target("export") {
        let _ = (t.run)(data);
    }
});
