//! Every example in config/examples must load: controller configs validate, and
//! manifests parse with no problem.

use camplane_config::controller::ControllerConfig;
use camplane_config::manifest;

#[test]
fn every_example_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".yaml") {
            continue;
        }
        if name.starts_with("controller-") {
            ControllerConfig::load(&p).unwrap_or_else(|e| panic!("{e}"));
        } else if name.starts_with("agent") {
            camplane_config::agent::AgentConfig::load(&p).unwrap_or_else(|e| panic!("{e}"));
        } else if name.starts_with("rules") {
            continue; // checked by the placement crate
        } else {
            let ms = manifest::load(&p).unwrap_or_else(|e| panic!("{e}"));
            assert!(!ms.is_empty(), "{name} is empty");
        }
        n += 1;
    }
    assert!(n >= 3);
}
