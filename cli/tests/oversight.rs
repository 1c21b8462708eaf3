//! Complaints and appeals through the real `camplane` binary against a real
//! controller (in this process: see common/mod.rs): the city clerk files one
//! (its id on the last line), the chief decides, an appeal goes to the City
//! Manager and then to the Council, whose decision the clerk records; each
//! wrong step is refused with a message that says why.

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
    fn cli(&self, home: &str, args: &[&str]) -> Output {
        cli(&self.dir.join(home), &self.server, &self.ca, args, None)
    }

    fn cli_in(&self, home: &str, args: &[&str], stdin: &str) -> Output {
        cli(
            &self.dir.join(home),
            &self.server,
            &self.ca,
            args,
            Some(stdin),
        )
    }

    fn ok(&self, home: &str, args: &[&str]) -> String {
        let o = self.cli(home, args);
        assert!(o.status.success(), "camplane {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    fn refused(&self, home: &str, args: &[&str], why: &str) {
        let o = self.cli(home, args);
        assert!(
            !o.status.success() && text(&o).contains(why),
            "camplane {args:?} should be refused with {why:?}: {}",
            text(&o)
        );
    }

    fn login(&self, user: &str, pw: &str) {
        let o = self.cli_in(user, &["login", "-u", user, "--password-stdin"], pw);
        assert!(o.status.success(), "{}", text(&o));
    }

    /// Adds a user; a governing role waits for the City Manager's confirmation.
    fn add(&self, name: &str, role: &str) {
        self.add_in(name, role, "")
    }

    /// [`Env::add`] in a department.
    fn add_in(&self, name: &str, role: &str, department: &str) {
        let o = self.cli_in(
            "admin",
            &[
                "user",
                "add",
                name,
                "--role",
                role,
                "--department",
                department,
                "--password-stdin",
            ],
            &format!("{name}-one-time-123"),
        );
        if o.status.code() == Some(4) {
            let out = String::from_utf8_lossy(&o.stdout).to_string();
            let id = out.lines().last().unwrap().trim().to_string();
            self.ok("city-manager", &["user", "grants", "confirm", &id]);
        } else {
            assert!(o.status.success(), "{}", text(&o));
        }
        self.login(name, &format!("{name}-one-time-123"));
        let o = self.cli_in(
            name,
            &["passwd", "--password-stdin"],
            &format!("{name}-one-time-123\n{name}-password-123\n"),
        );
        assert!(o.status.success(), "{}", text(&o));
    }
}

#[test]
fn a_complaint_climbs_to_the_council_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start_example_controller(dir.path(), "oversight-admin-password");
    let env = Env {
        dir: dir.path().to_path_buf(),
        server: ctl.server.clone(),
        ca: ctl.ca.clone(),
    };
    env.login("admin", "oversight-admin-password\n");
    env.login("city-manager", EXAMPLE_CITY_MANAGER_PW);
    for (name, role) in [
        ("chief1", "chief"),
        ("clerk", "city_clerk"),
        ("eng", "engineer"),
    ] {
        env.add(name, role);
    }

    env.refused(
        "eng",
        &["complaint", "file", "--from", "J. Roe", "--about", "x"],
        "needs one of the roles chief, city_manager, city_clerk",
    );
    let out = env.ok(
        "clerk",
        &[
            "complaint",
            "file",
            "--from",
            "J. Roe, 555-0100",
            "--about",
            "The camera at 5th and Main looks into my window",
            "--received",
            "2026-11-20",
        ],
    );
    let id = out.lines().last().unwrap().trim().to_string();
    assert!(id.starts_with("cp-"), "the id is on the last line: {out}");

    env.refused(
        "clerk",
        &["complaint", "appeal", &id],
        "only a decision can be appealed",
    );
    env.refused(
        "city-manager",
        &[
            "complaint",
            "decide",
            &id,
            "--followed",
            "--finding",
            "ok",
            "--as",
            "city_manager",
        ],
        "out of order",
    );
    let out = env.ok(
        "chief1",
        &[
            "complaint",
            "decide",
            &id,
            "--not-followed",
            "--finding",
            "The view was not masked",
        ],
    );
    assert!(out.contains("decided: chief"), "{out}");
    let out = env.ok("clerk", &["complaint", "appeal", &id]);
    assert!(out.contains("waiting: city_manager"), "{out}");
    env.refused(
        "chief1",
        &["complaint", "decide", &id, "--followed", "--finding", "x"],
        "needs one of the roles city_manager",
    );
    env.ok(
        "city-manager",
        &[
            "complaint",
            "decide",
            &id,
            "--followed",
            "--finding",
            "Masked since",
            "--as",
            "city_manager",
        ],
    );
    env.ok("city-manager", &["complaint", "appeal", &id]);
    let out = env.ok(
        "clerk",
        &[
            "complaint",
            "decide",
            &id,
            "--followed",
            "--finding",
            "Council upheld",
            "--as",
            "city_clerk",
        ],
    );
    assert!(out.contains("decided: council"), "{out}");
    env.refused("clerk", &["complaint", "appeal", &id], "final");

    let out = env.ok("clerk", &["complaint", "list"]);
    assert!(
        out.contains(&id) && out.contains("decided: council"),
        "{out}"
    );
    let out = env.ok("clerk", &["complaint", "list", "--open"]);
    assert!(!out.contains(&id), "{out}");
    let out = env.ok("chief1", &["complaint", "show", &id]);
    assert!(
        out.contains("Council upheld") && out.contains("J. Roe"),
        "{out}"
    );
    env.refused("eng", &["complaint", "list"], "needs one of the roles");
}

#[test]
fn a_records_request_is_decided_after_the_attorneys_advice_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start_example_controller(dir.path(), "records-admin-password");
    let env = Env {
        dir: dir.path().to_path_buf(),
        server: ctl.server.clone(),
        ca: ctl.ca.clone(),
    };
    env.login("admin", "records-admin-password\n");
    env.login("city-manager", EXAMPLE_CITY_MANAGER_PW);
    for (name, role) in [("pio1", "pio"), ("atty", "city_attorney")] {
        env.add(name, role);
    }
    let out = env.ok(
        "pio1",
        &[
            "records-request",
            "open",
            "--requester",
            "R. Smith, Telegraph Herald",
            "--received",
            "2026-01-05",
            "--describe",
            "Video of the crash at 5th and Main",
        ],
    );
    assert!(
        out.contains("decision due 2026-01-25"),
        "the config's default 20 days: {out}"
    );
    let id = out.lines().last().unwrap().trim().to_string();
    assert!(id.starts_with("rr-"), "the id is on the last line: {out}");
    let out = env.ok("atty", &["records-request", "list", "--overdue"]);
    assert!(out.contains(&id), "overdue: {out}");
    env.refused(
        "pio1",
        &[
            "records-request",
            "decide",
            &id,
            "--release",
            "--reason",
            "x",
        ],
        "only after the City Attorney has advised",
    );
    env.refused(
        "pio1",
        &["records-request", "review", &id, "--as", "city_attorney"],
        "this step is the pio's",
    );
    env.ok("pio1", &["records-request", "review", &id, "--as", "pio"]);
    env.refused(
        "pio1",
        &["records-request", "advise", &id, "--advice", "x"],
        "needs one of the roles city_attorney",
    );
    env.ok(
        "atty",
        &[
            "records-request",
            "advise",
            &id,
            "--as",
            "city_attorney",
            "--advice",
            "Release",
        ],
    );
    let out = env.ok(
        "pio1",
        &[
            "records-request",
            "decide",
            &id,
            "--release",
            "--reason",
            "Public interest",
        ],
    );
    assert!(out.contains("released"), "{out}");
    let out = env.ok("pio1", &["records-request", "fulfil", &id]);
    assert!(out.contains("fulfilled"), "{out}");
    let out = env.ok("atty", &["records-request", "list", "--overdue"]);
    assert!(!out.contains(&id), "decided: not overdue: {out}");
    let out = env.ok("atty", &["records-request", "show", &id]);
    assert!(out.contains("\"stage\": \"fulfilled\""), "{out}");
}

#[test]
fn maintenance_is_logged_with_a_listed_vendor_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start_example_controller(dir.path(), "maint-admin-password");
    let env = Env {
        dir: dir.path().to_path_buf(),
        server: ctl.server.clone(),
        ca: ctl.ca.clone(),
    };
    env.login("admin", "maint-admin-password\n");
    env.login("city-manager", EXAMPLE_CITY_MANAGER_PW);
    let city = camplane_testkit::controller::examples().join("city.yaml");
    env.ok("admin", &["apply", "-f", city.to_str().unwrap()]);
    for (name, role) in [("chf", "chief"), ("watcher", "viewer")] {
        env.add(name, role);
    }
    let out = env.ok("chf", &["maintenance", "vendors", "add", "Acme Video"]);
    assert!(out.contains("Acme Video"), "{out}");
    env.refused(
        "admin",
        &["maintenance", "vendors", "add", "Other Co"],
        "needs one of the roles chief",
    );
    let log = |vendor: &str| {
        vec![
            "maintenance".to_string(),
            "log".into(),
            "ch-entrance".into(),
            "--kind".into(),
            "test".into(),
            "--result".into(),
            "ok".into(),
            "--note".into(),
            "Picture checked".into(),
            "--vendor".into(),
            vendor.into(),
        ]
    };
    env.refused(
        "watcher",
        &args(&log("Acme Video")),
        "needs one of the roles",
    );
    env.refused("admin", &args(&log("Nobody")), "not on the chief's list");
    let out = env.ok("admin", &args(&log("Acme Video")));
    let id = out.lines().last().unwrap().trim();
    assert!(id.starts_with("20"), "{out}");
    let out = env.ok("admin", &["maintenance", "list", "ch-entrance"]);
    assert!(out.contains("Acme Video") && out.contains("test"), "{out}");
    let out = env.ok(
        "admin",
        &["maintenance", "overdue", "--department", "police"],
    );
    assert!(out.starts_with("CAMERA"), "{out}");
    env.refused(
        "admin",
        &[
            "maintenance",
            "log",
            "ch-entrance",
            "--kind",
            "inspection",
            "--result",
            "ok",
            "--note",
            "x",
        ],
        "inspection",
    );
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_new_policy_version_takes_effect_after_five_signoffs_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start_example_controller(dir.path(), "oversight-admin-password");
    let env = Env {
        dir: dir.path().to_path_buf(),
        server: ctl.server.clone(),
        ca: ctl.ca.clone(),
    };
    env.login("admin", "oversight-admin-password\n");
    env.login("city-manager", EXAMPLE_CITY_MANAGER_PW);
    for (name, role) in [
        ("chief1", "chief"),
        ("eng", "engineer"),
        ("attorney", "city_attorney"),
        ("clerk", "city_clerk"),
    ] {
        env.add(name, role);
    }
    let text_file = dir.path().join("policy-2027.txt");
    std::fs::write(&text_file, "Administrative Policy 5.05, reviewed 2027.\n").unwrap();
    let file = text_file.to_str().unwrap();

    env.refused(
        "clerk",
        &["policy", "propose", file, "--version", "AP-5.05-2027"],
        "needs one of the roles",
    );
    let out = env.ok(
        "chief1",
        &["policy", "propose", file, "--version", "AP-5.05-2027"],
    );
    assert_eq!(out.lines().last().unwrap().trim(), "AP-5.05-2027", "{out}");
    let out = env.ok("eng", &["policy", "signoff", "AP-5.05-2027"]);
    assert!(
        out.contains("waiting for police, information_services, city_attorney, city_manager"),
        "{out}"
    );
    env.refused(
        "eng",
        &["policy", "signoff", "AP-5.05-2027"],
        "signed version AP-5.05-2027 off already",
    );
    env.ok("chief1", &["policy", "signoff", "AP-5.05-2027"]);
    env.ok("attorney", &["policy", "signoff", "AP-5.05-2027"]);
    env.ok("admin", &["policy", "signoff", "AP-5.05-2027"]);
    let out = env.ok("city-manager", &["policy", "signoff", "AP-5.05-2027"]);
    assert!(out.contains("is in force from now"), "{out}");
    let out = env.ok("clerk", &["policy", "status"]);
    assert!(out.contains("version in force: AP-5.05-2027"), "{out}");
    assert!(!out.contains("OVERDUE"), "{out}");
    let out = env.ok("clerk", &["policy", "reviews"]);
    assert!(
        out.contains("AP-5.05-2027") && out.contains("in_force"),
        "{out}"
    );
}

#[test]
fn a_department_manager_reads_their_own_compliance_report_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start_example_controller(dir.path(), "compliance-admin-password");
    let env = Env {
        dir: dir.path().to_path_buf(),
        server: ctl.server.clone(),
        ca: ctl.ca.clone(),
    };
    env.login("admin", "compliance-admin-password\n");
    env.login("city-manager", EXAMPLE_CITY_MANAGER_PW);
    let city = camplane_testkit::controller::examples().join("city.yaml");
    env.ok("admin", &["apply", "-f", city.to_str().unwrap()]);
    for (name, role, dept) in [
        ("pmgr", "dept_manager", "police"),
        ("lmgr", "dept_manager", "leisure-services"),
        ("aud", "auditor", ""),
        ("chf", "chief", "police"),
        ("clerk", "city_clerk", ""),
        ("pview", "viewer", "police"),
    ] {
        env.add_in(name, role, dept);
    }
    // A complaint about a police camera, and a police viewer's refused request.
    let out = env.ok(
        "clerk",
        &[
            "complaint",
            "file",
            "--from",
            "J. Roe",
            "--about",
            "window",
            "--camera",
            "ch-entrance",
        ],
    );
    let complaint = out.lines().last().unwrap().trim().to_string();
    env.refused("pview", &["view", "sessions"], "needs one of the roles");

    let month = jiff::Zoned::now()
        .in_tz("America/Chicago")
        .unwrap()
        .strftime("%Y-%m")
        .to_string();
    let report = [
        "compliance",
        "report",
        "--department",
        "police",
        "--month",
        &month,
    ];
    let out = env.ok("pmgr", &report);
    assert!(
        out.contains("ch-entrance") && out.contains(&complaint),
        "{out}"
    );
    assert!(
        out.contains("pview"),
        "the viewer's refusal is counted: {out}"
    );
    assert!(!out.contains("J. Roe"), "no complainant: {out}");
    env.refused("lmgr", &report, "their own department");
    env.refused(
        "chf",
        &report,
        "needs one of the roles dept_manager, auditor",
    );
    let mut json = report.to_vec();
    json.push("--json");
    let v: serde_json::Value = serde_json::from_str(&env.ok("aud", &json)).unwrap();
    assert_eq!(v["department"], "police");
    let pview = v["activity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"] == "pview")
        .unwrap();
    assert!(pview["refusals"].as_u64().unwrap() >= 1, "{v}");
    assert!(
        v["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["camera"] != "park-playground"),
        "only the department's cameras: {v}"
    );
    env.refused(
        "aud",
        &[
            "compliance",
            "report",
            "--department",
            "police",
            "--month",
            "2026-13",
        ],
        "--month",
    );
    env.refused(
        "aud",
        &[
            "compliance",
            "report",
            "--department",
            "nope",
            "--month",
            &month,
        ],
        "no such department",
    );
}
