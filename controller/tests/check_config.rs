//! The real `camplane-controller --check-config`, as a user runs it. (The
//! `camplane` CLI's tour lives with the CLI, in cli/tests/tour.rs.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The controller binary.
const CTL: &str = env!("CARGO_BIN_EXE_camplane-controller");

/// `config/examples`.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples")
}

/// A command's stdout then stderr, for assertion messages.
fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_config_reports_every_problem_with_paths() {
    let ok = Command::new(CTL)
        .arg("--check-config")
        .arg(examples().join("controller-embedded.yaml"))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "city:\n  name: X\n  time_zone: Nowhere/Land\nlisten: not-an-address\nstore:\n  etcd:\n    endpoints: [localhost:2379]\n").unwrap();
    let o = Command::new(CTL)
        .arg("--check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    for want in [
        "city.time_zone",
        "listen",
        "store.etcd.endpoints.0",
        "bad.yaml:3",
    ] {
        assert!(t.contains(want), "missing {want} in:\n{t}");
    }
    std::fs::write(&bad, "city: [unclosed\n").unwrap();
    let o = Command::new(CTL)
        .arg("--check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("bad.yaml:"), "{}", text(&o));
}

/// `--advertise` is checked before anything starts, and its error names the
/// flag (exit 2, a usage error); a good value passes with the config.
#[test]
fn the_advertise_flag_is_checked_and_named() {
    let config = examples().join("controller-embedded.yaml");
    let ok = Command::new(CTL)
        .arg("--check-config")
        .arg(&config)
        .args(["--advertise", "10.244.1.7:7100"])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    for bad in ["$(POD_IP):7100", "10.244.1.7", "a b:7100"] {
        let o = Command::new(CTL)
            .arg("--check-config")
            .arg(&config)
            .args(["--advertise", bad])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains("--advertise"), "{bad}: {}", text(&o));
    }
}
