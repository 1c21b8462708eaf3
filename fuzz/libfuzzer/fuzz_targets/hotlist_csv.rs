#![no_main]
//! libFuzzer on the `hotlist_csv` door (see camplane-fuzz's targets).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(t) = camplane_fuzz::target("hotlist_csv") {
        let _ = (t.run)(data);
    }
});
