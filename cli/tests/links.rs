//! The `camplane` binary links no part of the servers: no camplane-controller or
//! camplane-agent, no etcd-client, axum, argon2 or ffmpeg, and no tonic server or
//! router (tonic's `router` feature brings axum). Checked on the manifests of the
//! CLI and of every workspace crate it depends on (normal dependencies only:
//! dev-dependencies do not link into the binary), so it is cheap; the full proof
//! is `cargo tree -p camplane-cli -e normal`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FORBIDDEN: [&str; 6] = [
    "camplane-controller",
    "camplane-agent",
    "etcd-client",
    "axum",
    "argon2",
    "ffmpeg-next",
];
const SERVER_FEATURES: [&str; 3] = ["\"router\"", "\"server\"", "\"transport\""];

/// The `name = ...` lines of a manifest's `[section]`.
fn section(manifest: &str, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            inside = l == format!("[{name}]");
            continue;
        }
        if inside && !l.starts_with('#') {
            if let Some((k, _)) = l.split_once('=') {
                out.push((k.trim().to_string(), l.to_string()));
            }
        }
    }
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_cli_links_no_server_part() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workspace = read(&root.join("Cargo.toml"));
    let shared: BTreeMap<String, String> = section(&workspace, "workspace.dependencies")
        .into_iter()
        .collect();
    let tonic = &shared["tonic"];
    for f in SERVER_FEATURES {
        assert!(
            !tonic.contains(f),
            "the workspace's tonic must stay client-only (servers add {f} themselves): {tonic}"
        );
    }
    // Walk the CLI's workspace crates through their normal dependencies.
    let mut todo: Vec<(String, PathBuf)> = vec![("camplane-cli".into(), root.join("cli"))];
    let mut seen = Vec::new();
    while let Some((krate, dir)) = todo.pop() {
        if seen.contains(&krate) {
            continue;
        }
        seen.push(krate.clone());
        for (dep, line) in section(&read(&dir.join("Cargo.toml")), "dependencies") {
            assert!(
                !FORBIDDEN.contains(&dep.as_str()),
                "{krate} depends on {dep}, which the `camplane` binary must not link"
            );
            if dep == "tonic" {
                for f in SERVER_FEATURES {
                    assert!(!line.contains(f), "{krate} asks tonic for {f}: {line}");
                }
            }
            let path = shared
                .get(&dep)
                .and_then(|l| l.split_once("path = \""))
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(p, _)| root.join(p));
            if let Some(p) = path {
                todo.push((dep, p));
            }
        }
    }
    for want in ["camplane-proto", "camplane-config", "camplane-export"] {
        assert!(seen.iter().any(|s| s == want), "walked {seen:?}");
    }
}
