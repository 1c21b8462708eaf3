//! The governance commands through the real `camplane` binary against a real
//! controller (in this process: see common/mod.rs): a pattern search exits 4 with the approval's id, a
//! supervisor lists and approves it, the operator runs it once; a query for an
//! agency off the verified list is refused; alerts verification refuses an
//! unknown alert; the monthly report lands in --out.

mod common;

use camplane_testkit::controller::{start_example_controller, EXAMPLE_CITY_MANAGER_PW};
use common::{cli, text};
use std::path::PathBuf;
use std::process::Output;

struct Env {
    dir: PathBuf,
    server: String,
    ca: PathBuf,
}

impl Env {
    fn cli(&self, home: &str, args: &[&str], stdin: Option<&str>) -> Output {
        cli(&self.dir.join(home), &self.server, &self.ca, args, stdin)
    }

    fn login(&self, user: &str, pw: &str) {
        let o = self.cli(user, &["login", "-u", user, "--password-stdin"], Some(pw));
        assert!(o.status.success(), "{}", text(&o));
    }
}

#[test]
fn approvals_alerts_and_reports_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start_example_controller(dir.path(), "gov-admin-password");
    let env = Env {
        dir: dir.path().to_path_buf(),
        server: ctl.server.clone(),
        ca: ctl.ca.clone(),
    };
    env.login("admin", "gov-admin-password\n");
    for (name, role) in [
        ("op", "alpr_operator"),
        ("sup", "supervisor"),
        ("aud", "auditor"),
    ] {
        let o = env.cli(
            "admin",
            &[
                "user",
                "add",
                name,
                "--role",
                role,
                "--department",
                "police",
                "--password-stdin",
            ],
            Some(&format!("{name}-one-time-123")),
        );
        if role == "auditor" {
            // A governing role: exit 4, the pending grant's id on the last
            // line; the city manager confirms it.
            assert_eq!(o.status.code(), Some(4), "{}", text(&o));
            let out = String::from_utf8_lossy(&o.stdout).to_string();
            let id = out.lines().last().unwrap().trim().to_string();
            assert!(id.starts_with("rg-"), "{}", text(&o));
            env.login("city-manager", EXAMPLE_CITY_MANAGER_PW);
            let o = env.cli("city-manager", &["user", "grants", "list"], None);
            assert!(o.status.success() && text(&o).contains(&id), "{}", text(&o));
            let o = env.cli("city-manager", &["user", "grants", "confirm", &id], None);
            assert!(o.status.success(), "{}", text(&o));
        } else {
            assert!(o.status.success(), "{}", text(&o));
        }
        // The one-time password the admin set is changed first.
        env.login(name, &format!("{name}-one-time-123"));
        let o = env.cli(
            name,
            &["passwd", "--password-stdin"],
            Some(&format!("{name}-one-time-123\n{name}-password-123\n")),
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    let qualified = dir.path().join("op.yaml");
    std::fs::write(
        &qualified,
        "kind: User\nname: op\nspec:\n  department: police\n  roles: [alpr_operator]\n  trained_at: 2026-01-05T00:00:00Z\n  certified_until: 2099-01-01T00:00:00Z\n---\nkind: User\nname: sup\nspec:\n  department: police\n  roles: [supervisor]\n  trained_at: 2026-01-05T00:00:00Z\n  certified_until: 2099-01-01T00:00:00Z\n",
    )
    .unwrap();
    let o = env.cli("admin", &["apply", "-f", qualified.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", text(&o));
    // The supervisor sees plates and patterns in the approvals queue: ALPR
    // data, under the policy acknowledged too.
    let o = env.cli(
        "sup",
        &["policy", "acknowledge", "--password-stdin"],
        Some("sup-password-123\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    // The operator acknowledges the policy themselves: shown its version and
    // SHA-256, giving their own password again.
    let o = env.cli(
        "op",
        &["policy", "acknowledge", "--password-stdin"],
        Some("op-password-123\n"),
    );
    assert!(
        o.status.success()
            && text(&o).contains("AP-5.05-2023-08-07")
            && text(&o).contains("SHA-256"),
        "{}",
        text(&o)
    );

    // A pattern waits: exit 4, the id on stdout.
    let o = env.cli(
        "op",
        &[
            "search",
            "plate",
            "AB?12*",
            "--case",
            "26-04711",
            "--purpose",
            "stolen_vehicle",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(id.starts_with("aq-"), "{}", text(&o));
    assert!(text(&o).contains("supervisor"), "{}", text(&o));
    // A verified agency waits too; an unknown one is refused (exit 1).
    let o = env.cli(
        "op",
        &[
            "search",
            "plate",
            "ABC1234",
            "--case",
            "26-04711",
            "--purpose",
            "warrant",
            "--for-agency",
            "Dubuque County Sheriff",
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["pending_approval"].as_str().unwrap().starts_with("aq-"));
    let o = env.cli(
        "op",
        &[
            "search",
            "plate",
            "ABC1234",
            "--case",
            "26-04711",
            "--purpose",
            "warrant",
            "--for-agency",
            "Elsewhere PD",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("PermissionDenied"), "{}", text(&o));

    // The supervisor sees both and approves the pattern; a reason is required.
    let o = env.cli("sup", &["approvals", "list", "-o", "json"], None);
    assert!(o.status.success(), "{}", text(&o));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list.len(), 2);
    let o = env.cli("sup", &["approvals", "list"], None);
    assert!(
        text(&o).contains(&id) && text(&o).contains("AB?12*"),
        "{}",
        text(&o)
    );
    let o = env.cli("sup", &["approvals", "approve", &id], None);
    assert!(!o.status.success(), "--reason is required: {}", text(&o));
    let o = env.cli(
        "op",
        &["approvals", "approve", &id, "--reason", "mine"],
        None,
    );
    assert!(text(&o).contains("PermissionDenied"), "{}", text(&o));
    let o = env.cli(
        "sup",
        &["approvals", "approve", &id, "--reason", "witness saw AB?12"],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("approved by sup"), "{}", text(&o));
    let o = env.cli(
        "sup",
        &["approvals", "reject", &id, "--reason", "oops"],
        None,
    );
    assert!(text(&o).contains("FailedPrecondition"), "{}", text(&o));

    // The operator runs it once (no agents here: no reads, every site answered).
    let o = env.cli("op", &["search", "run", &id], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("query q-"), "{}", text(&o));
    let o = env.cli("op", &["search", "run", &id], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("runs once"), "{}", text(&o));

    // Alert steps name what is wrong.
    let o = env.cli(
        "op",
        &[
            "alerts",
            "verify",
            "nope",
            "--visual",
            "confirmed",
            "--state-check",
            "confirmed",
        ],
        None,
    );
    assert!(text(&o).contains("NotFound"), "{}", text(&o));
    let o = env.cli("op", &["alerts", "act", "nope", "--case", "26-1"], None);
    assert!(text(&o).contains("InvalidArgument"), "{}", text(&o));

    // The monthly report lands in --out; the auditor may, the operator may not.
    let month = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("America/Chicago").unwrap())
        .strftime("%Y-%m")
        .to_string();
    let out = dir.path().join("report");
    let o = env.cli(
        "op",
        &[
            "audit",
            "report",
            "--month",
            &month,
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(text(&o).contains("PermissionDenied"), "{}", text(&o));
    assert!(!out.exists());
    let o = env.cli(
        "aud",
        &[
            "audit",
            "report",
            "--month",
            &month,
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    assert!(
        html.contains("alpr.approval.approve") && html.contains("Dubuque"),
        "{html}"
    );
    assert!(csv.starts_with("section,row,column,value\n"), "{csv}");
    assert!(csv.contains("queries_per_user,1,user,op"), "{csv}");
    // (A new directory: the report's files are never written over.)
    let bad = dir.path().join("report-bad-month");
    let o = env.cli(
        "aud",
        &[
            "audit",
            "report",
            "--month",
            "2026-13",
            "--out",
            bad.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("YYYY-MM"), "{}", text(&o));
}

/// A custom (case) hotlist through the CLI: without its case, purpose and
/// expiry it is refused naming the flag; with them it waits (exit 4, the
/// approval's id on the last line); the loader cannot approve it, another
/// supervisor does, and `hotlist list` shows it with its expiry.
#[test]
fn a_custom_hotlist_waits_for_another_supervisor() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start_example_controller(dir.path(), "gov-admin-password");
    let env = Env {
        dir: dir.path().to_path_buf(),
        server: ctl.server.clone(),
        ca: ctl.ca.clone(),
    };
    env.login("admin", "gov-admin-password\n");
    for name in ["sgt", "lt"] {
        let o = env.cli(
            "admin",
            &[
                "user",
                "add",
                name,
                "--role",
                "supervisor",
                "--department",
                "police",
                "--password-stdin",
            ],
            Some(&format!("{name}-password-123")),
        );
        assert!(o.status.success(), "{}", text(&o));
        env.login(name, &format!("{name}-password-123"));
        // The admin's password is one-time: each supervisor chooses their own.
        let o = env.cli(
            name,
            &["passwd", "--password-stdin"],
            Some(&format!("{name}-password-123\n{name}-own-password-123\n")),
        );
        assert!(o.status.success(), "{}", text(&o));
        // Case lists and their approvals are ALPR data: trained, certified,
        // the policy acknowledged.
        let yaml = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &yaml,
            format!("kind: User\nname: {name}\nspec:\n  department: police\n  roles: [supervisor]\n  trained_at: 2026-01-05T00:00:00Z\n  certified_until: 2099-01-01T00:00:00Z\n"),
        )
        .unwrap();
        let o = env.cli("admin", &["apply", "-f", yaml.to_str().unwrap()], None);
        assert!(o.status.success(), "{}", text(&o));
        let o = env.cli(
            name,
            &["policy", "acknowledge", "--password-stdin"],
            Some(&format!("{name}-own-password-123\n")),
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    let csv = dir.path().join("case.csv");
    std::fs::write(&csv, "plate,state,reason\nINV1,IA,seen at the burglary\n").unwrap();
    let csv = csv.to_str().unwrap();
    let load = [
        "hotlist",
        "load",
        "--source",
        "CUSTOM",
        "--category",
        "investigative",
    ];
    let o = env.cli("sgt", &[&load[..], &[csv]].concat(), None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--case"), "{}", text(&o));

    let expires = (jiff::Timestamp::now() + std::time::Duration::from_secs(10 * 86_400))
        .strftime("%Y-%m-%d")
        .to_string();
    let bound = [
        "--case",
        "26-04711",
        "--purpose",
        "burglary",
        "--expires",
        &expires,
        csv,
    ];
    let o = env.cli("sgt", &[&load[..], &bound[..]].concat(), None);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let id = stdout.lines().last().unwrap().trim().to_string();
    assert!(id.starts_with("ah-"), "{}", text(&o));
    assert!(text(&o).contains("approval"), "{}", text(&o));

    let o = env.cli(
        "sgt",
        &["approvals", "approve", &id, "--reason", "mine"],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("PermissionDenied"), "{}", text(&o));
    let o = env.cli("lt", &["approvals", "list"], None);
    assert!(text(&o).contains(&id), "{}", text(&o));
    let o = env.cli(
        "lt",
        &["approvals", "approve", &id, "--reason", "case open"],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = env.cli("lt", &["hotlist", "list"], None);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("custom.investigative.26-04711"), "{out}");
    assert!(out.contains(&format!("{expires}T23:59:59Z")), "{out}");
}
