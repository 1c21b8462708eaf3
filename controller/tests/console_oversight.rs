//! The console's oversight pages (issue 20) over HTTPS: the city clerk records
//! a complaint, the chief decides it in the page and the clerk records the
//! appeal, each through the same operations as `camplane complaint`; a form
//! without its CSRF token is refused; a viewer has no such page; the records
//! requests page flags one past its deadline; the maintenance page lists
//! cameras whose test is overdue.

use camplane_proto::v1 as pb;
use camplane_testkit::console::ConsoleClient;
use camplane_testkit::controller::*;

async fn signed_in(h: &Harness, name: &str, roles: &[&str]) -> ConsoleClient {
    user(h, name, roles, "police").await;
    let mut c = ConsoleClient::new(h.running.console_addr.unwrap(), &h.running.ca_pem);
    let a = c.login(name, &user_password(name)).await;
    assert_eq!(a.status, 303, "{name} signs in: {}", a.body);
    c
}

fn nav(body: &str) -> Vec<&str> {
    body.split("<nav")
        .nth(1)
        .unwrap_or("")
        .split("</nav>")
        .next()
        .unwrap_or("")
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn complaints_records_and_maintenance_in_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_embedded(dir.path());
    cfg.console_listen = Some("127.0.0.1:0".into());
    let h = start(cfg, None).await;
    apply(&h, &h.admin, CITY).await.unwrap();

    let mut clerk = signed_in(&h, "o-clerk", &["city_clerk"]).await;
    let a = clerk.get("/console/complaints").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let links = nav(&a.body);
    assert!(
        links.contains(&"/console/complaints") && links.contains(&"/console/records"),
        "{links:?}"
    );
    assert!(a.body.contains("No complaints") && a.body.contains("Record a complaint"));
    let csrf = a.csrf();
    // Without the CSRF token: refused.
    let a = clerk
        .post("/console/complaints", &[("from", "J. Roe"), ("about", "x")])
        .await;
    assert_eq!(a.status, 403);
    // Bad input is the wing's refusal, in the page.
    let a = clerk
        .post(
            "/console/complaints",
            &[
                ("csrf", &csrf),
                ("from", "J. Roe"),
                ("about", "x"),
                ("camera", "nope"),
            ],
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("--camera"), "{}", a.body);
    let a = clerk
        .post(
            "/console/complaints",
            &[
                ("csrf", &csrf),
                ("from", "J. Roe, 555-0100"),
                ("about", "The camera looks into my window"),
                ("camera", "cam-1"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let id = a
        .header("location")
        .split("filed=")
        .nth(1)
        .unwrap()
        .to_string();
    assert!(id.starts_with("cp-"), "{id}");
    // The clerk may not decide: no decide form for them.
    let a = clerk.get("/console/complaints").await;
    assert!(
        a.body.contains(&id) && !a.body.contains("value=\"decide\""),
        "{}",
        a.body
    );

    // The chief decides in the page.
    let mut chief = signed_in(&h, "o-chief", &["chief"]).await;
    let a = chief.get("/console/complaints").await;
    assert!(a.body.contains("value=\"decide\""), "{}", a.body);
    let csrf = a.csrf();
    let path = format!("/console/complaints/{id}");
    let a = chief
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("action", "decide"),
                ("outcome", "not_followed"),
                ("finding", "The view was not masked"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    // Decided: deciding again is out of order, shown in the page.
    let a = chief
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("action", "decide"),
                ("outcome", "followed"),
                ("finding", "again"),
            ],
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    // The clerk records the appeal.
    let a = clerk.get("/console/complaints").await;
    assert!(
        a.body.contains("Record an appeal") && a.body.contains("not followed"),
        "{}",
        a.body
    );
    let csrf = a.csrf();
    let a = clerk
        .post(&path, &[("csrf", &csrf), ("action", "appeal")])
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let a = clerk.get("/console/complaints").await;
    assert!(
        a.body.contains("waiting for the City Manager"),
        "{}",
        a.body
    );

    // A viewer: no such pages.
    let mut viewer = signed_in(&h, "o-viewer", &["viewer"]).await;
    let a = viewer.get("/console/complaints").await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = viewer.get("/console/records").await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(!nav(&a.body).contains(&"/console/complaints"));

    // A records request received long ago is past its deadline and flagged.
    let pio = user(&h, "o-pio", &["pio"], "").await;
    pb::records_requests_client::RecordsRequestsClient::new(h.channel.clone())
        .open(req(
            &pio,
            pb::RecordsOpenRequest {
                requester: "R. Smith".into(),
                received: "2026-01-05".into(),
                describe: "Video of the crash".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let a = clerk.get("/console/records").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("R. Smith") && a.body.contains("<strong>overdue</strong>"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains("past their statutory deadline"),
        "{}",
        a.body
    );
    assert!(
        !a.body.contains("value=\"review\""),
        "the clerk takes no step: {}",
        a.body
    );
    let id = a
        .body
        .split("<td>rr-")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .map(|s| format!("rr-{s}"))
        .expect("the request's id in the page");
    let path = format!("/console/records/{id}");
    // The PIO takes it up; the attorney advises; the PIO decides.
    let mut pio_c = ConsoleClient::new(h.running.console_addr.unwrap(), &h.running.ca_pem);
    assert_eq!(
        pio_c.login("o-pio", &user_password("o-pio")).await.status,
        303
    );
    let a = pio_c.get("/console/records").await;
    assert!(a.body.contains("value=\"review\""), "{}", a.body);
    let csrf = a.csrf();
    // Out of order: a decision before the attorney's advice.
    let a = pio_c
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("action", "decide"),
                ("decision", "deny"),
                ("text", "x"),
            ],
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    let a = pio_c
        .post(&path, &[("csrf", &csrf), ("action", "review")])
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let mut atty = signed_in(&h, "o-atty", &["city_attorney"]).await;
    let a = atty.get("/console/records").await;
    assert!(a.body.contains("value=\"advise\""), "{}", a.body);
    let csrf_a = a.csrf();
    let a = atty
        .post(
            &path,
            &[
                ("csrf", &csrf_a),
                ("action", "advise"),
                ("text", "deny: an open investigation"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let a = pio_c
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("action", "decide"),
                ("decision", "deny"),
                ("text", "open investigation"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let a = pio_c.get("/console/records?done=1").await;
    assert!(
        a.body.contains("denied") && !a.body.contains("<strong>overdue</strong>"),
        "{}",
        a.body
    );

    // Compliance: a police manager's own month with its fee schedule; another
    // department is refused.
    let mut mgr = signed_in(&h, "o-mgr", &["dept_manager"]).await;
    let a = mgr.get("/console/compliance").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("cam-1") && a.body.contains("Open complaints"),
        "{}",
        a.body
    );
    assert!(a.body.contains("carry no fee"), "{}", a.body);
    apply(
        &h,
        &h.admin,
        "kind: FeeSchedule\nname: police\nspec:\n  base_cents: 2500\n  per_minute_cents: 150\n",
    )
    .await
    .unwrap();
    let a = mgr.get("/console/compliance").await;
    assert!(
        a.body.contains("USD 25.00 per copy") && a.body.contains("USD 1.50 per minute"),
        "{}",
        a.body
    );
    let a = mgr.get("/console/compliance?department=parks").await;
    assert_eq!(a.status, 403, "{}", a.body);

    // The maintenance page: the chief sees the overdue list (the city's camera
    // has never passed a test).
    let a = chief.get("/console/maintenance").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Overdue tests"), "{}", a.body);
    h.cancel.cancel();
}
