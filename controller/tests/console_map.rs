//! The console's map, audit and users pages, and the public portal's reader
//! map (issue 18), from outside: over HTTPS, each page through the same
//! operation as its gRPC call (refusals, audit entries, the reader's view of
//! covert cameras); then in a real headless Chromium: the map's cameras are
//! links to their pages, and a viewer reaches none of these pages.

use camplane_controller::publog;
use camplane_proto::v1 as pb;
use camplane_testkit::console::{Browser, ConsoleClient};
use camplane_testkit::controller::*;
use serde_json::json;

/// Cameras besides the city's `cam-1`: one covert (its whereabouts for the
/// chief, admins and auditors only), one of parks, one retired-to-be.
const FLEET: &str = r#"
kind: Camera
name: cam-covert
spec:
  site: city-hall
  department: police
  kind: fixed
  purpose: criminal_investigation
  covert: true
  location: {lat: 42.5123, lon: -90.6777}
  streams: {main: "rtsp://127.0.0.1:8554/covert"}
---
kind: Camera
name: cam-park
spec:
  site: city-hall
  department: parks
  kind: fixed
  purpose: personal_safety
  location: {lat: 42.5031, lon: -90.6602}
  streams: {main: "rtsp://127.0.0.1:8554/park"}
---
kind: Camera
name: cam-gate
spec:
  site: city-hall
  department: police
  kind: fixed
  purpose: property_protection
  location: {lat: 42.4988, lon: -90.6691}
  streams: {main: "rtsp://127.0.0.1:8554/gate"}
"#;

async fn start_console() -> (Harness, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_embedded(dir.path());
    cfg.console_listen = Some("127.0.0.1:0".into());
    let h = start(cfg, None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    apply(&h, &h.admin, FLEET).await.unwrap();
    (h, dir)
}

fn client(h: &Harness) -> ConsoleClient {
    ConsoleClient::new(
        h.running.console_addr.expect("console_listen serves"),
        &h.running.ca_pem,
    )
}

fn admin_password(h: &Harness) -> String {
    h.running
        .initial_password
        .clone()
        .unwrap_or(ADMIN_PW.into())
}

/// A client signed in as `name` (a user added with [`user`]).
async fn signed_in(h: &Harness, name: &str, roles: &[&str]) -> ConsoleClient {
    user(h, name, roles, "police").await;
    let mut c = client(h);
    let a = c.login(name, &user_password(name)).await;
    assert_eq!(a.status, 303, "{name} signs in: {}", a.body);
    c
}

/// Loads a small synthetic streets layer: one collector street past `cam-1`.
async fn load_streets(h: &Harness) {
    let streets = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"highway": "tertiary", "name": "Test Street"},
         "geometry": {"type": "LineString", "coordinates": [[-90.6700, 42.5006], [-90.6600, 42.5006]]}},
        {"type": "Feature", "properties": {"highway": "residential"},
         "geometry": {"type": "LineString", "coordinates": [[-90.6650, 42.4980], [-90.6650, 42.5040]]}}
    ]});
    pb::placement_client::PlacementClient::new(h.channel.clone())
        .load_layer(req(
            &h.admin,
            tokio_stream::iter(pb::LayerUpload::messages(
                "streets",
                false,
                vec![(
                    "streets.geojson".into(),
                    serde_json::to_vec(&streets).unwrap(),
                )],
            )),
        ))
        .await
        .unwrap();
}

/// The camera links of a map page, by name.
fn map_links(body: &str) -> Vec<String> {
    body.split("<a class=\"camera\" href=\"/console/cameras/")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_map_draws_the_cameras_each_reader_may_see() {
    let (h, _dir) = start_console().await;
    let mut admin = client(&h);
    assert_eq!(admin.login("admin", &admin_password(&h)).await.status, 303);

    // Without layers: every camera still drawn, the page says why there are no verdicts.
    let a = admin.get("/console/map").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("No streets layer is loaded"), "{}", a.body);
    let mut links = map_links(&a.body);
    links.sort();
    assert_eq!(links, ["cam-1", "cam-covert", "cam-gate", "cam-park"]);

    // With a streets layer: drawn, and cam-1 on its street is eligible.
    load_streets(&h).await;
    let a = admin.get("/console/map").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("class=\"layer-streets\""), "{}", a.body);
    assert!(
        a.body
            .contains("<title>cam-1: proposed, verdict eligible</title>"),
        "{}",
        a.body
    );
    assert_eq!(map_links(&a.body).len(), 4);
    for words in [
        "eligible",
        "needs review",
        "prohibited",
        "dashed outline",
        "collector street",
    ] {
        assert!(a.body.contains(words), "the legend says {words}");
    }
    for secret in ["rtsp://", "8554"] {
        assert!(!a.body.contains(secret), "the map shows {secret}");
    }
    // Filters as the cameras list's.
    let parks = admin.get("/console/map?category=personal_safety").await;
    assert_eq!(map_links(&parks.body), ["cam-park"]);

    // An engineer sees the map, but not where the covert camera is: not drawn,
    // and its position appears nowhere on the page.
    let mut eng = signed_in(&h, "eng-1", &["engineer"]).await;
    let a = eng.get("/console/map").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let links = map_links(&a.body);
    assert_eq!(links.len(), 3, "{links:?}");
    assert!(!links.contains(&"cam-covert".to_string()));
    assert!(!a.body.contains("cam-covert"));
    assert!(a.body.contains("1 not drawn"), "{}", a.body);
    // The gRPC door's map (`camplane placement map`) leaves it out the same way;
    // an admin's draws it.
    let grpc_map = |token: String| {
        let ch = h.channel.clone();
        async move {
            camplane_proto::v1::placement_client::PlacementClient::new(ch)
                .max_decoding_message_size(camplane_proto::limits::PLACEMENT_MAX_RESPONSE)
                .map(req(&token, camplane_proto::v1::Empty {}))
                .await
                .unwrap()
                .into_inner()
                .svg
        }
    };
    let eng_token = user(&h, "eng-2", &["engineer"], "").await;
    let svg = grpc_map(eng_token.clone()).await;
    assert!(svg.contains("cam-park") && !svg.contains("cam-covert"));
    assert!(grpc_map(h.admin.clone()).await.contains("cam-covert"));
    // Nor does `camera status` (which gateway records it names its site), nor
    // `get` (its agent).
    let fleet = fleet(&h).await;
    let health = json!({"at": "2026-11-01T00:00:00Z", "disk_free": 1, "disk_total": 2,
        "cpu_percent": null, "mem_total": 3, "mem_available": 1, "alarms": [],
        "cameras": [{"id": "cam-covert", "state": "online"}, {"id": "cam-park", "state": "online"}]});
    fleet
        .store_report(
            "city-hall-gw",
            "h-1",
            "health",
            &serde_json::to_vec(&health).unwrap(),
            1,
        )
        .await
        .unwrap();
    let status = |token: String| {
        let ch = h.channel.clone();
        async move {
            let l = camplane_proto::v1::fleet_client::FleetClient::new(ch)
                .camera_status(req(&token, camplane_proto::v1::ListRequest::default()))
                .await
                .unwrap()
                .into_inner();
            l.objects
                .iter()
                .map(|o| String::from_utf8_lossy(&o.json).to_string())
                .collect::<String>()
        }
    };
    // A report that is not an object (a broken or hostile agent) answers
    // nothing about cameras, and breaks no one's `camera status`.
    fleet
        .store_report("odd-gw", "h-2", "health", b"[]", 1)
        .await
        .unwrap();
    let seen = status(eng_token.clone()).await;
    assert!(
        seen.contains("cam-park") && !seen.contains("cam-covert"),
        "{seen}"
    );
    assert!(status(h.admin.clone()).await.contains("cam-covert"));
    let c = get_json(&h, &eng_token, "Camera", "cam-covert")
        .await
        .unwrap();
    assert!(c["spec"].get("agent").is_none(), "{c}");
    assert!(
        a.body.contains("href=\"/console/map\""),
        "in the engineer's menu"
    );

    // A viewer: not `placement map`'s reader: 403, audited, no menu entry.
    let mut v = signed_in(&h, "viewer-1", &["viewer"]).await;
    let a = v.get("/console/map").await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(!v
        .get("/console/cameras")
        .await
        .body
        .contains("/console/map"));
    assert!(audit_log(&h)
        .await
        .iter()
        .any(|e| e["action"] == "placement.map"
            && e["actor"] == "viewer-1"
            && e["result"].as_str().unwrap_or("").starts_with("denied")));
    h.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_portal_map_has_fixed_public_readers_only() {
    let (h, _dir) = start_console().await;
    let ctl = &h.running.controller;
    // Reader histories as activations and a marking write them.
    let entry = |camera: &str, seq: u64, event: &str, kind: &str, lat: f64, covert: bool| {
        let mut e = json!({"camera": camera, "seq": seq, "event": event,
            "at": "2026-09-01T12:00:00Z", "kind": kind,
            "location": {"lat": lat, "lon": -90.61}, "by": "admin"});
        if covert {
            e["covert"] = json!(true);
        }
        (
            publog::history_key(camera, seq),
            serde_json::to_vec(&e).unwrap(),
        )
    };
    let entries = [
        entry("lpr-public", 0, "activated", "fixed", 42.4111, false),
        entry("lpr-secret", 0, "activated", "fixed", 42.4222, false),
        entry("lpr-secret", 1, "confidential", "fixed", 42.4222, false),
        entry("lpr-covert", 0, "activated", "fixed", 42.4333, true),
        entry("lpr-mobile", 0, "activated", "mobile", 42.4444, false),
    ];
    ctl.store
        .txn(
            vec![],
            entries
                .into_iter()
                .map(|(k, v)| camplane_controller::store::Op::Put(k, v))
                .collect(),
        )
        .await
        .unwrap();
    let r = publog::portal::route(ctl, "/public/").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none(), "no cookies");
    let body = axum::body::to_bytes(r.into_body(), 1 << 22).await.unwrap();
    let body = String::from_utf8_lossy(&body);
    let map = body
        .split("<h2>Map of fixed reader locations</h2>")
        .nth(1)
        .and_then(|s| s.split("</svg>").next())
        .unwrap_or_else(|| panic!("a reader map: {body}"));
    assert!(map.contains("<svg"), "{map}");
    assert!(map.contains("lpr-public: 42.41110"), "{map}");
    for hidden in [
        "lpr-secret",
        "42.4222",
        "lpr-covert",
        "42.4333",
        "lpr-mobile",
        "42.4444",
    ] {
        assert!(!body.contains(hidden), "the portal shows {hidden}");
    }
    assert!(!body.contains("<script"), "no script");
    h.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_page_is_the_auditors_and_its_report_downloads() {
    let (h, _dir) = start_console().await;
    let mut v = signed_in(&h, "viewer-1", &["viewer"]).await;
    for p in ["/console/audit", "/console/audit/report?month=2026-12"] {
        let a = v.get(p).await;
        assert_eq!(a.status, 403, "{p}: {}", a.body);
    }
    let mut au = signed_in(&h, "auditor-1", &["auditor"]).await;
    let a = au.get("/console/audit").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("The chain is intact"), "{}", a.body);
    assert!(a.body.contains("auditor-1"), "the tail lists the sign-in");
    assert!(a.body.contains("for=\"f-month\""));
    assert!(
        a.body.contains("href=\"/console/audit\""),
        "in the auditor's menu"
    );
    let month = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    for (file, ctype) in [("csv", "text/csv"), ("html", "text/html")] {
        let a = au
            .get(&format!("/console/audit/report?month={month}&file={file}"))
            .await;
        assert_eq!(a.status, 200, "{file}: {}", a.body);
        assert!(a.header("content-type").starts_with(ctype));
        assert_eq!(
            a.header("content-disposition"),
            format!("attachment; filename=\"audit-report-{month}.{file}\"")
        );
        assert!(!a.body.is_empty());
    }
    let bad = au.get("/console/audit/report?month=someday").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let log = audit_log(&h).await;
    for (action, who, result) in [
        ("audit.verify", "viewer-1", "denied"),
        ("audit.report", "viewer-1", "denied"),
        ("audit.report", "auditor-1", "refused"),
    ] {
        assert!(
            log.iter().any(|e| e["action"] == action
                && e["actor"] == who
                && e["result"].as_str().unwrap_or("").starts_with(result)),
            "{action} by {who}: {result}"
        );
    }
    assert!(
        log.iter()
            .filter(|e| e["action"] == "audit.report"
                && e["actor"] == "auditor-1"
                && e["result"] == "ok")
            .count()
            >= 2,
        "each download audited"
    );
    h.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_are_the_admins_and_every_change_is_the_clis() {
    let (h, _dir) = start_console().await;
    let mut v = signed_in(&h, "viewer-1", &["viewer"]).await;
    let a = v.get("/console/users").await;
    assert_eq!(a.status, 403, "{}", a.body);
    let csrf = v.get("/console/cameras").await.csrf();
    let a = v
        .post(
            "/console/users",
            &[("csrf", &csrf), ("name", "sneaky"), ("roles", "admin")],
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);

    let mut admin = client(&h);
    assert_eq!(admin.login("admin", &admin_password(&h)).await.status, 303);
    let page = admin.get("/console/users").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("viewer-1"));
    assert!(page.body.contains("for=\"u-name\""));
    assert!(!page.body.contains("$argon2"), "no hash");
    let csrf = page.csrf();

    // CSRF: a form without the token, or with another session's, is refused and audited.
    let a = admin
        .post(
            "/console/users",
            &[("name", "no-token"), ("department", "police")],
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let vcsrf = v.get("/console/cameras").await.csrf();
    let a = admin
        .post(
            "/console/users/viewer-1",
            &[("csrf", &vcsrf), ("action", "delete"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(get_json(&h, &h.admin, "User", "no-token").await.is_err());
    assert!(get_json(&h, &h.admin, "User", "viewer-1").await.is_ok());

    // Create: the one-time password once, the entry audited as the CLI's.
    let a = admin
        .post(
            "/console/users",
            &[
                ("csrf", &csrf),
                ("name", "new-op"),
                ("display_name", "New Operator"),
                ("department", "police"),
                ("roles", "viewer"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let otp = a
        .body
        .split("<code class=\"otp\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the one-time password shown")
        .to_string();
    assert!(otp.len() >= 12, "{otp}");
    let again = admin.get("/console/users").await;
    assert!(again.body.contains("new-op"));
    assert!(!again.body.contains(&otp), "shown only once");
    let u = get_json(&h, &h.admin, "User", "new-op").await.unwrap();
    assert_eq!(u["spec"]["roles"], json!(["viewer"]));
    let log = audit_log(&h).await;
    assert!(log
        .iter()
        .any(|e| e["action"] == "user.add" && e["actor"] == "admin" && e["name"] == "new-op"));
    assert!(!serde_json::to_string(&log).unwrap().contains(&otp));

    // Grant, revoke, delete: the CLI's operations.
    let a = admin
        .post(
            "/console/users/new-op",
            &[("csrf", &csrf), ("action", "grant"), ("role", "engineer")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let u = get_json(&h, &h.admin, "User", "new-op").await.unwrap();
    assert_eq!(u["spec"]["roles"], json!(["engineer", "viewer"]));
    let a = admin
        .post(
            "/console/users/new-op",
            &[("csrf", &csrf), ("action", "revoke"), ("role", "viewer")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let u = get_json(&h, &h.admin, "User", "new-op").await.unwrap();
    assert_eq!(u["spec"]["roles"], json!(["engineer"]));
    // A governing role only asks: a pending grant, as with `camplane user grant`.
    let a = admin
        .post(
            "/console/users/new-op",
            &[("csrf", &csrf), ("action", "grant"), ("role", "chief")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Waiting for a second person"), "{}", a.body);
    let u = get_json(&h, &h.admin, "User", "new-op").await.unwrap();
    assert_eq!(u["spec"]["roles"], json!(["engineer"]));
    let a = admin
        .post(
            "/console/users/new-op",
            &[("csrf", &csrf), ("action", "delete")],
        )
        .await;
    assert_eq!(a.status, 400, "unconfirmed: {}", a.body);
    let a = admin
        .post(
            "/console/users/new-op",
            &[("csrf", &csrf), ("action", "delete"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(get_json(&h, &h.admin, "User", "new-op").await.is_err());
    let log = audit_log(&h).await;
    for action in ["user.grant", "delete"] {
        assert!(
            log.iter()
                .any(|e| e["action"] == action && e["actor"] == "admin"),
            "{action} audited"
        );
    }
    assert!(
        log.iter().any(|e| e["action"] == "user.add"
            && e["actor"] == "admin"
            && e["result"].as_str().unwrap_or("").starts_with("refused")),
        "the CSRF refusal is audited"
    );
    h.cancel.cancel();
}

async fn sign_out(b: &mut Browser) {
    b.eval("document.querySelector('form.signout button').click()")
        .await;
    b.wait_for("location.pathname === '/console/login'").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_map_in_chromium_and_a_viewer_kept_to_their_pages() {
    let (h, _dir) = start_console().await;
    load_streets(&h).await;
    user(&h, "viewer-1", &["viewer"], "police").await;
    let base = format!(
        "https://127.0.0.1:{}",
        h.running.console_addr.unwrap().port()
    );
    let out = camplane_testkit::console::screenshot_dir();
    let mut b = Browser::launch().await;

    // The admin's map: every camera an SVG link; a click lands on its page.
    b.sign_in(&base, "admin", &admin_password(&h)).await;
    b.goto(&format!("{base}/console/map")).await;
    assert_eq!(
        b.eval("document.querySelectorAll('main svg a.camera circle').length")
            .await,
        4
    );
    b.screenshot(390, &out.join("map-390.png")).await;
    b.screenshot(1280, &out.join("map-1280.png")).await;
    b.click("main svg a.camera[href='/console/cameras/cam-park'] circle")
        .await;
    b.wait_for("location.pathname === '/console/cameras/cam-park'")
        .await;
    for p in ["users", "audit"] {
        b.goto(&format!("{base}/console/{p}")).await;
        b.screenshot(1280, &out.join(format!("{p}-1280.png"))).await;
        b.screenshot(390, &out.join(format!("{p}-390.png"))).await;
        assert_eq!(
            b.eval("document.documentElement.scrollWidth <= 390").await,
            true,
            "{p} fits 390 px"
        );
    }
    sign_out(&mut b).await;

    // A viewer: none of these pages in the menu, each refused.
    b.sign_in(&base, "viewer-1", &user_password("viewer-1"))
        .await;
    let nav = b
        .eval("[...document.querySelectorAll('nav a')].map(a => a.getAttribute('href')).join(' ')")
        .await;
    for p in ["/console/map", "/console/users", "/console/audit"] {
        assert!(!nav.as_str().unwrap().contains(p), "{nav}");
        b.goto(&format!("{base}{p}")).await;
        assert_eq!(
            b.eval("document.title").await,
            "Not allowed · camplane",
            "{p}"
        );
    }
    sign_out(&mut b).await;
    for f in [
        "map-390.png",
        "map-1280.png",
        "users-1280.png",
        "audit-390.png",
    ] {
        let len = std::fs::metadata(out.join(f)).unwrap().len();
        assert!(len > 1000, "{f}: {len} bytes");
    }
    h.cancel.cancel();
}
