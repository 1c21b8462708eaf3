#![no_main]
//! libFuzzer on the `gpsd` door (see camplane-fuzz's targets).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(t) = camplane_fuzz::target("gpsd") {
        let _ = (t.run)(data);
    }
});
