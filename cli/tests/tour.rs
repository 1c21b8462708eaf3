//! The `camplane` CLI tour against a real controller, as a user runs it.

mod common;

use camplane_testkit::controller::{
    examples, start_example_controller, ExampleController, EXAMPLE_CITY_MANAGER_PW,
};
use common::{cli as cli_with_ca, text};
use std::path::Path;
use std::process::Output;

/// The CLI against the tour's controller, whose CA path each call passes.
fn cli(home: &Path, ctl: &ExampleController, args: &[&str], stdin: Option<&str>) -> Output {
    cli_with_ca(home, &ctl.server, &ctl.ca, args, stdin)
}

#[test]
fn cli_tour_against_a_real_controller() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start_example_controller(dir.path(), "tour-admin-password");
    let http_port = ctl.http_port;
    let home = dir.path().join("home");
    let run = |args: &[&str]| cli(&home, &ctl, args, None);

    // Not signed in yet.
    let o = run(&["get", "cameras"]);
    assert!(
        !o.status.success() && text(&o).contains("login"),
        "{}",
        text(&o)
    );
    let o = cli(
        &home,
        &ctl,
        &["login", "--password-stdin"],
        Some("tour-admin-password\n"),
    );
    assert!(o.status.success(), "{}", text(&o));

    let city = examples().join("city.yaml");
    let o = run(&["apply", "-f", city.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("camera/ch-entrance created"),
        "{}",
        text(&o)
    );
    let o = run(&["apply", "-f", city.to_str().unwrap()]);
    assert!(
        text(&o).lines().all(|l| l.ends_with("unchanged")),
        "{}",
        text(&o)
    );

    // get -o yaml re-applies with no change.
    let o = run(&["get", "cameras", "-o", "yaml"]);
    assert!(o.status.success());
    let dumped = dir.path().join("dump.yaml");
    std::fs::write(&dumped, &o.stdout).unwrap();
    let o = run(&["apply", "-f", dumped.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).lines().all(|l| l.ends_with("unchanged")),
        "{}",
        text(&o)
    );
    let o = run(&["get", "cameras", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);

    // A file with a typo: clear error with file and line, nothing applied.
    let bad = dir.path().join("typo.yaml");
    std::fs::write(
        &bad,
        "kind: Site\nname: depot\nspec:\n  lat: 42.5\n  lon: -90.6\n  adress: 1 Main St\n",
    )
    .unwrap();
    let o = run(&["apply", "-f", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("typo.yaml:6")
            && text(&o).contains("spec.adress")
            && text(&o).contains("nothing was applied"),
        "{}",
        text(&o)
    );
    assert!(!run(&["get", "sites", "depot"]).status.success());

    // Users and the approval chain, as the people who take each step.
    for (name, role, dept) in [
        ("mgr", "dept_manager", "police"),
        ("chief", "chief", "police"),
    ] {
        let o = cli(
            &home,
            &ctl,
            &[
                "user",
                "add",
                name,
                "--role",
                role,
                "--department",
                dept,
                "--password-stdin",
            ],
            Some(&format!("{name}-one-time-123")),
        );
        if role == "chief" {
            // A governing role takes two people: exit 4 with the pending
            // grant's id on the last line; the config's first city manager
            // confirms it (the admin cannot).
            assert_eq!(o.status.code(), Some(4), "{}", text(&o));
            let id = String::from_utf8_lossy(&o.stdout)
                .lines()
                .last()
                .unwrap()
                .trim()
                .to_string();
            let o = run(&["user", "grants", "confirm", &id]);
            assert!(
                !o.status.success() && text(&o).contains("city manager"),
                "{}",
                text(&o)
            );
            let cm = dir.path().join("home-city-manager");
            let o = cli(
                &cm,
                &ctl,
                &["login", "-u", "city-manager", "--password-stdin"],
                Some(EXAMPLE_CITY_MANAGER_PW),
            );
            assert!(o.status.success(), "{}", text(&o));
            let o = cli(&cm, &ctl, &["user", "grants", "confirm", &id], None);
            assert!(o.status.success(), "{}", text(&o));
        } else {
            assert!(
                o.status.success() || text(&o).contains("already exists"),
                "{}",
                text(&o)
            );
        }
        // The admin's password is one-time: the user signs in with it and
        // chooses their own with `passwd` before anything else.
        let h = dir.path().join(format!("home-{name}"));
        let one_time = format!("{name}-one-time-123");
        let o = cli(
            &h,
            &ctl,
            &["login", "-u", name, "--password-stdin"],
            Some(&one_time),
        );
        assert!(
            o.status.success() && text(&o).contains("camplane passwd"),
            "{}",
            text(&o)
        );
        let o = cli(&h, &ctl, &["whoami"], None);
        assert!(
            !o.status.success() && text(&o).contains("one-time password"),
            "{}",
            text(&o)
        );
        let o = cli(
            &h,
            &ctl,
            &["passwd", "--password-stdin"],
            Some(&format!("{one_time}\n{name}-password-123\n")),
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    // `user grant` of a governing role only asks: exit 4, the grant's id on
    // the last line; listed; the city manager rejects it, saying why.
    let o = run(&["user", "grant", "mgr", "auditor"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let id = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    assert!(id.starts_with("rg-"), "{}", text(&o));
    let o = run(&["user", "grants", "list"]);
    assert!(o.status.success() && text(&o).contains(&id), "{}", text(&o));
    let o = cli(
        &dir.path().join("home-city-manager"),
        &ctl,
        &["user", "grants", "reject", &id, "--reason", "no audit post"],
        None,
    );
    assert!(
        o.status.success() && text(&o).contains("rejected"),
        "{}",
        text(&o)
    );
    let o = run(&["user", "grants", "list"]);
    assert!(!text(&o).contains(&id), "{}", text(&o));
    let as_user = |name: &str, args: &[&str]| {
        // "cm" is the config's first city manager.
        let (name, pw) = match name {
            "cm" => ("city-manager", EXAMPLE_CITY_MANAGER_PW.to_string()),
            n => (n, format!("{n}-password-123")),
        };
        let h = dir.path().join(format!("home-{name}"));
        let o = cli(
            &h,
            &ctl,
            &["login", "-u", name, "--password-stdin"],
            Some(&pw),
        );
        assert!(o.status.success(), "{}", text(&o));
        cli(&h, &ctl, args, None)
    };
    let o = as_user("cm", &["request", "approve", "req-ch-entrance"]);
    assert!(
        !o.status.success() && text(&o).contains("FailedPrecondition"),
        "{}",
        text(&o)
    );
    assert!(as_user(
        "mgr",
        &["request", "recommend", "req-ch-entrance", "-m", "ok"]
    )
    .status
    .success());
    assert!(
        as_user("chief", &["request", "recommend", "req-ch-entrance"])
            .status
            .success()
    );
    // No streets layer in this city: the verdict is cannot_check and approval
    // waits for the chief's (or an engineer's) written override.
    let o = as_user(
        "cm",
        &["request", "approve", "req-ch-entrance", "-m", "approved"],
    );
    assert!(
        !o.status.success() && text(&o).contains("cannot_check"),
        "{}",
        text(&o)
    );
    let o = as_user(
        "chief",
        &[
            "request",
            "override",
            "req-ch-entrance",
            "--justification",
            "no streets layer loaded yet: placement checked on site by the chief",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = as_user(
        "cm",
        &["request", "approve", "req-ch-entrance", "-m", "approved"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["camera", "activate", "ch-entrance"]);
    assert!(
        o.status.success() && text(&o).contains("active"),
        "{}",
        text(&o)
    );
    let o = run(&["request", "show", "req-ch-entrance"]);
    assert!(
        text(&o).contains("city_manager") && text(&o).contains("approved"),
        "{}",
        text(&o)
    );

    // The public log: a month that is over, generated twice, the same bytes.
    let out1 = dir.path().join("publog-1");
    let out2 = dir.path().join("publog-2");
    for out in [&out1, &out2] {
        let o = run(&[
            "publog",
            "generate",
            "--month",
            "2026-01",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    for f in ["index.html", "log.csv", "log.json"] {
        let a = std::fs::read(out1.join(f)).unwrap();
        assert!(!a.is_empty(), "{f}");
        assert_eq!(a, std::fs::read(out2.join(f)).unwrap(), "{f}");
    }
    let o = run(&["publog", "generate", "--month", "2999-01", "--out", "x"]);
    assert!(
        !o.status.success() && text(&o).contains("not over yet"),
        "{}",
        text(&o)
    );
    let o = run(&["publog", "generate", "--month", "January", "--out", "x"]);
    assert!(text(&o).contains("YYYY-MM"), "{}", text(&o));
    let o = run(&[
        "case-assist",
        "add",
        "--case",
        "26-00001",
        "--offense",
        "vehicle_theft",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("permission denied"),
        "admin does not enter case assists: {}",
        text(&o)
    );
    // The portal answers without sign-in.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http_port)).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET /public/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("Current policy"), "{page}");

    let o = run(&["audit", "verify"]);
    assert!(
        o.status.success() && text(&o).contains("chain intact"),
        "{}",
        text(&o)
    );
    // A checkpoint kept from the portal verifies; the same with its size changed does not.
    let (status, _, note) = camplane_testkit::http::http_get(
        ([127, 0, 0, 1], http_port).into(),
        "/public/audit-checkpoint",
    );
    assert_eq!(status, 200, "{note}");
    let kept = dir.path().join("checkpoint.txt");
    std::fs::write(&kept, &note).unwrap();
    let o = run(&["audit", "verify", "--checkpoint", kept.to_str().unwrap()]);
    assert!(
        o.status.success()
            && text(&o).contains("checkpoint ok")
            && text(&o).contains("key id")
            && text(&o).contains("checkpoint key: camplane."),
        "{}",
        text(&o)
    );
    let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
    let altered = note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
    std::fs::write(&kept, altered).unwrap();
    let o = run(&["audit", "verify", "--checkpoint", kept.to_str().unwrap()]);
    assert!(
        o.status.code() == Some(1)
            && text(&o).contains("REFUSED")
            && text(&o).contains("does not verify"),
        "{}",
        text(&o)
    );
    let o = run(&["audit", "tail", "-n", "3"]);
    assert_eq!(text(&o).lines().count(), 3, "{}", text(&o));
    assert!(run(&["logout"]).status.success());
    assert!(!run(&["get", "cameras"]).status.success());
}

/// What the CLI writes on the user's disk is owner-only and never written
/// through a link: the saved token (a stale 0644 file becomes 0600; a link at
/// its path is replaced, its target untouched), playback output and the audit
/// report (created new: an existing file or link is refused, naming it, and
/// left as it was).
#[test]
fn local_files_are_owner_only_and_links_are_not_followed() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let ctl = start_example_controller(dir.path(), "files-admin-password");
    let home = dir.path().join("home");
    let run = |args: &[&str]| cli(&home, &ctl, args, None);
    let login = || {
        let o = cli(
            &home,
            &ctl,
            &["login", "--password-stdin"],
            Some("files-admin-password\n"),
        );
        assert!(o.status.success(), "{}", text(&o));
    };

    // A token file left 0644 (by an older client, by hand) ends 0600.
    std::fs::create_dir_all(&home).unwrap();
    let token = home.join("token");
    std::fs::write(&token, "stale").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    login();
    assert_eq!(mode(&token), 0o600);
    assert_ne!(std::fs::read_to_string(&token).unwrap(), "stale");

    // A link at the token's path is replaced; what it pointed at is untouched.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "theirs").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_file(&token).unwrap();
    symlink(&victim, &token).unwrap();
    login();
    assert!(!std::fs::symlink_metadata(&token)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(mode(&token), 0o600);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "theirs");
    assert_eq!(mode(&victim), 0o644);
    assert!(run(&["whoami"]).status.success());

    // Playback into an existing file, or through a link: refused, named, untouched.
    let existing = dir.path().join("existing.mp4");
    std::fs::write(&existing, "keep").unwrap();
    let link = dir.path().join("link.mp4");
    symlink(&victim, &link).unwrap();
    for out in [&existing, &link] {
        let o = run(&[
            "view",
            "playback",
            "ch-entrance",
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2026-01-01T00:01:00Z",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(!o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains(out.to_str().unwrap()) && text(&o).contains("already exists"),
            "{}",
            text(&o)
        );
    }
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "theirs");

    // The audit report: written owner-only; not again over itself, nor through a link.
    let month = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("America/Chicago").unwrap())
        .strftime("%Y-%m")
        .to_string();
    let report = |out: &Path| {
        run(&[
            "audit",
            "report",
            "--month",
            &month,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let out = dir.path().join("report");
    let o = report(&out);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(mode(&out), 0o700);
    for f in ["report.html", "report.csv"] {
        assert_eq!(mode(&out.join(f)), 0o600, "{f}");
    }
    let html = std::fs::read(out.join("report.html")).unwrap();
    let o = report(&out);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("report.html") && text(&o).contains("already exists"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(out.join("report.html")).unwrap(), html);
    let linked = dir.path().join("linked");
    std::fs::create_dir(&linked).unwrap();
    symlink(&victim, linked.join("report.csv")).unwrap();
    let o = report(&linked);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("report.csv"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "theirs");
    assert!(!linked.join("report.html").exists());
}
