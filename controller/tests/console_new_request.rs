//! The console's new placement request form (issue 18): its placement verdict
//! is shown before it is sent (nothing stored by the preview), sending submits
//! it as `camplane request submit` does, and only those who submit requests
//! get the form.

use camplane_testkit::console::ConsoleClient;
use camplane_testkit::controller::*;

async fn signed_in(h: &Harness, name: &str, roles: &[&str]) -> ConsoleClient {
    user(h, name, roles, "police").await;
    let mut c = ConsoleClient::new(h.running.console_addr.unwrap(), &h.running.ca_pem);
    let a = c.login(name, &user_password(name)).await;
    assert_eq!(a.status, 303, "{name} signs in: {}", a.body);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_shows_its_verdict_before_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_embedded(dir.path());
    cfg.console_listen = Some("127.0.0.1:0".into());
    let h = start(cfg, None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let requests = |h: &Harness| {
        h.running
            .controller
            .list(camplane_config::model::Kind::PlacementRequest)
            .unwrap()
            .len()
    };
    let before = requests(&h);

    let mut viewer = signed_in(&h, "n-viewer", &["viewer"]).await;
    assert_eq!(viewer.get("/console/requests/new").await.status, 403);

    let mut mgr = signed_in(&h, "n-mgr", &["dept_manager"]).await;
    let a = mgr.get("/console/requests").await;
    assert!(a.body.contains("/console/requests/new"), "{}", a.body);
    let a = mgr.get("/console/requests/new").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("value=\"police\""),
        "the manager's department filled in"
    );
    let csrf = a.csrf();
    let fields = |action: &'static str, csrf: &str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", csrf.to_string()),
            ("lat", "42.5006".into()),
            ("lon", "-90.6646".into()),
            ("purpose", "property_protection".into()),
            ("kind", "fixed".into()),
            ("mount", "outdoor".into()),
            ("department", "police".into()),
            ("justification", "break-ins at the back door".into()),
            ("funding_source", "general fund".into()),
            ("do", action.into()),
        ]
    };
    // Preview: the verdict in the page, nothing stored.
    let f = fields("preview", &csrf);
    let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = mgr.post("/console/requests/new", &refs).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("Placement verdict before sending"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains("cannot_check") && a.body.contains("no streets layer"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains("break-ins at the back door"),
        "the form keeps what was typed"
    );
    assert_eq!(requests(&h), before, "a preview stores nothing");

    // Without its CSRF token: refused.
    let f = fields("submit", "nope");
    let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(mgr.post("/console/requests/new", &refs).await.status, 403);
    // Missing words: the form again, saying which.
    let mut f = fields("submit", &csrf);
    f.retain(|(k, _)| *k != "justification");
    let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = mgr.post("/console/requests/new", &refs).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(requests(&h), before);

    // Sent: submitted by the manager, and their page shows it.
    let f = fields("submit", &csrf);
    let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = mgr.post("/console/requests/new", &refs).await;
    assert_eq!(a.status, 303, "{}", a.body);
    let to = a.header("location").to_string();
    assert!(to.starts_with("/console/requests/req-"), "{to}");
    assert_eq!(requests(&h), before + 1);
    let a = mgr.get(&to).await;
    assert!(a.body.contains("submitted by n-mgr"), "{}", a.body);
    h.cancel.cancel();
}
