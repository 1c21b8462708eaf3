//! The console's legal holds page (issue 18) over HTTPS: the chief places and
//! releases a hold through the same operations as `camplane hold`, the City
//! Manager is offered only the reason that is theirs, a form without its CSRF
//! token is refused and audited, a viewer has no such page, and a records
//! request's hold has no release button.

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
async fn the_chief_places_and_releases_a_hold_in_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_embedded(dir.path());
    cfg.console_listen = Some("127.0.0.1:0".into());
    let h = start(cfg, None).await;
    apply(&h, &h.admin, CITY).await.unwrap();

    let mut chief = signed_in(&h, "h-chief", &["chief"]).await;
    let a = chief.get("/console/holds").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("No legal holds") && a.body.contains("Criminal investigation"));
    assert!(
        !a.body.contains("Other bona fide use"),
        "not the chief's reason"
    );
    let csrf = a.csrf();

    // Without the CSRF token: 403, audited as the step it asked for.
    let a = chief
        .post(
            "/console/holds",
            &[("case", "26-04711"), ("cameras", "cam-1")],
        )
        .await;
    assert_eq!(a.status, 403);
    // Bad input is the wing's refusal, in the page.
    let a = chief
        .post(
            "/console/holds",
            &[
                ("csrf", &csrf),
                ("case", "26-04711"),
                ("cameras", "no-such-camera"),
                ("from", "2026-10-01T00:00:00Z"),
                ("to", "2026-10-02T00:00:00Z"),
                ("reason", "criminal_investigation"),
            ],
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("does not exist"), "{}", a.body);
    let a = chief
        .post(
            "/console/holds",
            &[
                ("csrf", &csrf),
                ("case", "26-04711"),
                ("cameras", "cam-1"),
                ("from", "2026-10-01T00:00:00Z"),
                ("to", "2026-10-02T00:00:00Z"),
                ("reason", "criminal_investigation"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("placed") && a.body.contains("in force"),
        "{}",
        a.body
    );
    let name = a
        .body
        .split("action=\"/console/holds/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a release button")
        .to_string();

    // The City Manager sees it but may not release a criminal investigation's hold.
    let mut cm = signed_in(&h, "h-cm", &["city_manager"]).await;
    let a = cm.get("/console/holds").await;
    assert!(
        a.body.contains("26-04711") && a.body.contains("Other bona fide use"),
        "{}",
        a.body
    );
    assert!(
        !a.body
            .contains(&format!("action=\"/console/holds/{name}\"")),
        "no release button"
    );
    let a = cm
        .post(&format!("/console/holds/{name}"), &[("csrf", &a.csrf())])
        .await;
    assert_eq!(a.status, 403, "{}", a.body);

    // A viewer has no holds page and no way to post to it.
    let mut viewer = signed_in(&h, "h-viewer", &["viewer"]).await;
    let a = viewer.get("/console/holds").await;
    assert_eq!(a.status, 403);
    let a = viewer.get("/console/cameras").await;
    assert!(!a.body.contains("/console/holds"), "not in a viewer's menu");

    let a = chief
        .post(&format!("/console/holds/{name}"), &[("csrf", &csrf)])
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let a = chief.get("/console/holds?released=1").await;
    assert!(a.body.contains("released by h-chief"), "{}", a.body);

    let log = audit_log(&h).await;
    let on = |action: &str, result: &str| {
        log.iter()
            .filter(|e| {
                e["action"] == action && e["result"].as_str().unwrap_or("").starts_with(result)
            })
            .count()
    };
    assert_eq!(on("hold.create", "ok"), 1);
    assert_eq!(on("hold.release", "ok"), 1);
    assert!(
        on("hold.create", "refused") >= 1,
        "the form without its token is audited"
    );
    assert!(
        on("hold.release", "denied") >= 1,
        "the City Manager's release is audited"
    );
    h.cancel.cancel();
}
