//! What operators install: the systemd units pass `systemd-analyze verify` and are
//! hardened (own user, read-only system, only their state writable); the
//! Kubernetes manifests describe three controllers on a three-member etcd, and
//! the controller config they carry passes the controller's own validation.

use camplane_config::controller::ControllerConfig;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

#[test]
fn systemd_units_verify_and_are_hardened() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    assert!(
        analyze.is_file(),
        "install systemd: apt-get install -y systemd"
    );
    let dir = tempfile::tempdir().unwrap();
    for (unit, bin, writable) in [
        (
            "camplane-controller.service",
            "camplane-controller",
            // Its store, and the camera credentials key kept apart from it.
            "/var/lib/camplane/controller /var/lib/camplane/keys",
        ),
        (
            "camplane-agent.service",
            "camplane-agent",
            "/var/lib/camplane/agent",
        ),
    ] {
        let text = std::fs::read_to_string(root().join("deploy/systemd").join(unit)).unwrap();
        for want in [
            "User=camplane",
            "ProtectSystem=strict",
            "ProtectHome=true",
            "NoNewPrivileges=true",
            "PrivateTmp=true",
            "CapabilityBoundingSet=\n",
            &format!("ReadWritePaths={writable}\n"),
        ] {
            assert!(text.contains(want), "{unit} lacks {want:?}");
        }
        // Verify against the binaries built here (the unit names /usr/local/bin).
        let built = bin_dir().join(bin);
        assert!(
            built.is_file(),
            "{} is not built: cargo build --bins",
            built.display()
        );
        let local = text.replace(
            &format!("/usr/local/bin/{bin}"),
            &built.display().to_string(),
        );
        let path = dir.path().join(unit);
        std::fs::write(&path, local).unwrap();
        let o = Command::new(analyze)
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let relevant: Vec<&str> = err.lines().filter(|l| l.contains(unit)).collect();
        assert!(
            o.status.success() && relevant.is_empty(),
            "systemd-analyze verify {unit}: {err}"
        );
    }
}

fn docs(file: &str) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(root().join("deploy/k8s").join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

fn find<'a>(docs: &'a [serde_yaml::Value], kind: &str, name: &str) -> &'a serde_yaml::Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} missing"))
}

#[test]
fn kubernetes_manifests_run_three_controllers_on_three_etcd_members() {
    let etcd = docs("etcd.yaml");
    let ctl = docs("controller.yaml");
    let ss = find(&etcd, "StatefulSet", "camplane-etcd");
    assert_eq!(ss["spec"]["replicas"], 3);
    let args: Vec<String> = ss["spec"]["template"]["spec"]["containers"][0]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let cluster = args
        .iter()
        .find_map(|a| a.strip_prefix("--initial-cluster="))
        .unwrap();
    assert_eq!(cluster.split(',').count(), 3, "{cluster}");
    assert_eq!(
        find(&etcd, "PodDisruptionBudget", "camplane-etcd")["spec"]["minAvailable"],
        2,
        "etcd keeps quorum through voluntary disruptions"
    );
    let dep = find(&ctl, "Deployment", "camplane-controller");
    assert_eq!(dep["spec"]["replicas"], 3);
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    // The config the pods run passes the controller's validation, and names
    // every etcd member.
    let cm = find(&ctl, "ConfigMap", "camplane-controller");
    let text = cm["data"]["controller.yaml"].as_str().unwrap();
    let cfg = ControllerConfig::parse("controller.yaml (ConfigMap)", text)
        .unwrap_or_else(|e| panic!("{e}"));
    let e = cfg.store.etcd.expect("an etcd store");
    assert_eq!(e.endpoints.len(), 3);
    for (i, ep) in e.endpoints.iter().enumerate() {
        assert!(
            ep.contains(&format!("camplane-etcd-{i}.camplane-etcd")),
            "{ep}"
        );
    }
    assert!(cfg.http_listen.is_some(), "portal and /metrics served");
    // Each pod advertises its own IP to the other controllers (the config
    // cannot know it): `--advertise $(POD_IP):PORT`, POD_IP from the downward
    // API, the port the config listens on.
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = args
        .iter()
        .position(|a| *a == "--advertise")
        .expect("--advertise");
    let port = cfg.listen.rsplit_once(':').unwrap().1;
    assert_eq!(args[at + 1], format!("$(POD_IP):{port}"));
    let pod_ip = c["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "POD_IP")
        .expect("POD_IP in the env");
    assert_eq!(pod_ip["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP");
    ControllerConfig::parse("controller.yaml (ConfigMap)", text)
        .unwrap()
        .override_advertise(&args[at + 1].replace("$(POD_IP)", "10.244.1.7"))
        .unwrap();
    let svc = find(&ctl, "Service", "camplane-controller");
    let ports: Vec<i64> = svc["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, vec![7100, 7180]);
}
