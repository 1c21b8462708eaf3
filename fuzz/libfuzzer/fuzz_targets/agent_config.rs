#![no_main]
//! libFuzzer on the `agent_config` door (see camplane-fuzz's targets).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(t) = camplane_fuzz::target("agent_config") {
        let _ = (t.run)(data);
    }
});
