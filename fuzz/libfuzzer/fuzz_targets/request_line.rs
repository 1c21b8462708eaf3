#![no_main]
//! libFuzzer on the `request_line` door (see camplane-fuzz's targets).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(t) = camplane_fuzz::target("request_line") {
        let _ = (t.run)(data);
    }
});
