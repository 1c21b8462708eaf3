#![no_main]
//! libFuzzer on the `agent_wire` door (see camplane-fuzz's targets).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(t) = camplane_fuzz::target("agent_wire") {
        let _ = (t.run)(data);
    }
});
