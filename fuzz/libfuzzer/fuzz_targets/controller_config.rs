#![no_main]
//! libFuzzer on the `controller_config` door (see camplane-fuzz's targets).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(t) = camplane_fuzz::target("controller_config") {
        let _ = (t.run)(data);
    }
});
