//! The console's ALPR pages over HTTPS, from outside: alerts (their review
//! steps, CSRF refused and audited, new alerts over server-sent events, escaped),
//! the ALPR search (a search without a case number refused by the wing, a
//! partial plate sent to the approvals queue), crops under a case number,
//! query approvals, and a viewer kept out; then, in a real headless Chromium,
//! an operator who sees an alert arrive, verifies it and acts on it with a
//! case number, and whose search without one is refused in the page.

use camplane_controller::console::CSP;
use camplane_proto::v1 as pb;
use camplane_testkit::console::{Answer, Browser, ConsoleClient};
use camplane_testkit::controller::*;
use std::time::Duration;

async fn start_console() -> (Harness, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_embedded(dir.path());
    cfg.console_listen = Some("127.0.0.1:0".into());
    let h = start(cfg, None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    (h, dir)
}

fn client(h: &Harness) -> ConsoleClient {
    ConsoleClient::new(
        h.running.console_addr.expect("console_listen serves"),
        &h.running.ca_pem,
    )
}

/// A signed-in console client of `name`.
async fn signed_in(h: &Harness, name: &str) -> ConsoleClient {
    let mut c = client(h);
    let a = c.login(name, &user_password(name)).await;
    assert_eq!(a.status, 303, "{name} signs in: {}", a.body);
    c
}

/// A qualified ALPR operator (trained, certified, policy acknowledged).
async fn operator(h: &Harness, name: &str) -> String {
    user(h, name, &["alpr_operator"], "police").await;
    qualify_operator(h, name, &["alpr_operator"], "2099-01-01T00:00:00Z").await;
    login(&h.channel, name, &user_password(name)).await.unwrap()
}

/// Raises an alert as an agent's report does (as `alert_review.rs` does);
/// `reason` is the hotlist entry's, shown with the alert. Returns its id.
async fn raise(h: &Harness, token: &str, key: &str, plate: &str, reason: &str) -> String {
    let fleet = fleet(h).await;
    let report = serde_json::json!({
        "read_id": format!("1780000000000-{plate}"), "camera": "lpr-1", "plate": plate,
        "time": "2026-06-01T12:00:00Z", "confidence": 0.93,
        "list": "ncic.stolen_vehicle", "source": "NCIC", "category": "stolen_vehicle",
        "list_version": 1, "entry": {"plate": plate, "state": "IA", "reason": reason},
        "matched_at": "2026-06-01T12:00:01Z",
    });
    assert!(fleet
        .store_report("gw", key, "alert", &serde_json::to_vec(&report).unwrap(), 1)
        .await
        .unwrap());
    alerts(h, token)
        .await
        .into_iter()
        .find(|a| a["plate"] == plate)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn alerts(h: &Harness, token: &str) -> Vec<serde_json::Value> {
    pb::alerts_client::AlertsClient::new(h.channel.clone())
        .list(req(token, pb::AlertsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .objects
        .iter()
        .map(|o| serde_json::from_slice(&o.json).unwrap())
        .collect()
}

async fn alert(h: &Harness, token: &str, id: &str) -> serde_json::Value {
    alerts(h, token)
        .await
        .into_iter()
        .find(|a| a["id"] == id)
        .unwrap()
}

/// An alert's path segment (ids hold only URL-safe characters here).
fn alert_path(id: &str) -> String {
    format!("/console/alerts/{id}")
}

fn assert_redirect(a: &Answer, to: &str, what: &str) {
    assert_eq!(a.status, 303, "{what}: {}", a.body);
    assert_eq!(a.header("location"), to, "{what}");
}

/// Whether the audit log holds an entry of `action` by `actor` whose result
/// contains `result`.
async fn audited(h: &Harness, actor: &str, action: &str, result: &str) -> bool {
    audit_log(h).await.iter().any(|e| {
        e["actor"] == actor
            && e["action"] == action
            && e["result"].as_str().unwrap_or("").contains(result)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_are_reviewed_and_streamed_as_over_grpc() {
    let (h, _dir) = start_console().await;
    let op = "op-police";
    let token = operator(&h, op).await;

    // Signed out: the event stream is a redirect like every page.
    let mut anon = client(&h);
    for p in ["/console/alerts", "/console/alerts/events"] {
        assert_redirect(&anon.get(p).await, "/console/login", p);
    }
    // The script is served like the stylesheet; the CSP lets only it run.
    let js = anon.get("/console/static/console.js").await;
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").starts_with("text/javascript"));
    assert!(js.body.contains("EventSource"));
    assert!(CSP.contains("script-src 'self'") && !CSP.contains("unsafe"));

    let mut c = signed_in(&h, op).await;
    let page = c.get("/console/alerts").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("content-security-policy"), CSP);
    assert!(page.body.contains("No unverified alerts."));
    assert!(page
        .body
        .contains("<script src=\"/console/static/console.js\"></script>"));
    for href in ["/console/alerts", "/console/search", "/console/approvals"] {
        assert!(page.body.contains(&format!("href=\"{href}\"")), "{href}");
    }

    // A page of another origin (a sibling site the cookie reaches) cannot open
    // the stream in the operator's browser.
    for extra in [
        "Origin: https://evil.example\r\n",
        "Sec-Fetch-Site: same-site\r\n",
    ] {
        let a = c.send("GET", "/console/alerts/events", extra, "").await;
        assert_eq!(a.status, 403, "{extra}: {}", a.body);
    }
    // The stream is open before the alert is raised; the alert arrives on it
    // as its card, escaped.
    let mut events = c.open("/console/alerts/events").await;
    assert_eq!(events.status, 200, "{}", events.seen);
    assert!(events
        .header("content-type")
        .starts_with("text/event-stream"));
    assert_eq!(events.header("cache-control"), "no-store");
    assert_eq!(events.header("content-security-policy"), CSP);
    let id = raise(&h, &token, "k-1", "ABC1234", "<b>stolen</b> 05/30").await;
    assert!(
        events.until("ABC1234", Duration::from_secs(15)).await,
        "the alert on the stream: {}",
        events.seen
    );
    assert!(events.until("</article>", Duration::from_secs(5)).await);
    assert!(events.seen.contains("event: alert"));
    assert!(events.seen.contains(&format!("id: {id}")));
    assert!(events.seen.contains("&lt;b&gt;stolen&lt;/b&gt;"));
    assert!(!events.seen.contains("<b>stolen"));
    assert!(events.seen.contains("value=\"verify\""));
    drop(events);
    assert!(
        audited(&h, op, "alerts.watch", "").await,
        "the stream is audited like `alerts watch`"
    );
    assert!(
        audited(&h, op, "alerts.watch", "delivered").await,
        "each alert the stream gave is audited, naming it"
    );

    // The page lists it, unverified, with verify and reject offered (not act).
    let page = c.get("/console/alerts").await;
    assert!(page.body.contains("ABC1234"));
    assert!(page.body.contains("&lt;b&gt;stolen&lt;/b&gt;"));
    assert!(page.body.contains("value=\"verify\""));
    assert!(page.body.contains("value=\"reject\""));
    assert!(!page.body.contains("value=\"act\""));
    let csrf = page.csrf();
    assert_eq!(csrf.len(), 64);

    // CSRF: without the token, or with a wrong one, 403, audited as the step.
    let both = [("visual", "confirmed"), ("state_check", "confirmed")];
    let a = c
        .post(&alert_path(&id), &[("action", "verify"), both[0], both[1]])
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let bad = "0".repeat(64);
    let a = c
        .post(
            &alert_path(&id),
            &[("action", "verify"), ("csrf", &bad), both[0], both[1]],
        )
        .await;
    assert_eq!(a.status, 403);
    assert!(audited(&h, op, "alert.verify", "CSRF").await);
    assert_eq!(alert(&h, &token, &id).await["status"], "unverified");

    // One check left unticked: the wing's refusal, in the page, audited.
    let a = c
        .post(
            &alert_path(&id),
            &[("action", "verify"), ("csrf", &csrf), both[0]],
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("both checks"), "{}", a.body);
    assert!(audited(&h, op, "alert.verify", "refused").await);

    // Both checks: verified; then acting needs the case number.
    let a = c
        .post(
            &alert_path(&id),
            &[("action", "verify"), ("csrf", &csrf), both[0], both[1]],
        )
        .await;
    assert_redirect(&a, "/console/alerts?done=verify", "verify");
    assert_eq!(alert(&h, &token, &id).await["status"], "verified");
    let page = c.get("/console/alerts?done=verify").await;
    assert!(page.body.contains("Your verify was recorded."));
    assert!(page.body.contains("value=\"act\""));
    let a = c
        .post(&alert_path(&id), &[("action", "act"), ("csrf", &csrf)])
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("needs a case number"), "{}", a.body);
    assert!(audited(&h, op, "alert.act", "refused").await);
    let a = c
        .post(
            &alert_path(&id),
            &[
                ("action", "act"),
                ("csrf", &csrf),
                ("case_number", "26-01234"),
            ],
        )
        .await;
    assert_redirect(&a, "/console/alerts?done=act", "act");
    let done = alert(&h, &token, &id).await;
    assert_eq!(done["status"], "actioned");
    assert_eq!(done["case_number"], "26-01234");
    // Out of order now: the machine's refusal.
    let a = c
        .post(
            &alert_path(&id),
            &[("action", "reject"), ("csrf", &csrf), ("reason", "misread")],
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(a.body.contains("no further step"), "{}", a.body);

    // A stream whose session signs out ends: the next alert is not sent.
    let mut events = c.open("/console/alerts/events").await;
    assert_eq!(events.status, 200);
    let mut other = client(&h);
    other.cookie = c.cookie.clone();
    let a = other.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_redirect(&a, "/console/login", "logout elsewhere");
    let t = std::time::Instant::now();
    raise(&h, &token, "k-2", "XYZ999", "stolen plate").await;
    assert!(!events.until("XYZ999", Duration::from_secs(20)).await);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the stream ended, not the test's wait: {}",
        events.seen
    );
    // Signed out, a new stream is refused at once.
    let mut c = signed_in(&h, op).await;
    let csrf = c.get("/console/alerts").await.csrf();
    let cookie = c.cookie.clone();
    let a = c.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_redirect(&a, "/console/login", "logout");
    c.cookie = cookie;
    assert_redirect(
        &c.get("/console/alerts/events").await,
        "/console/login",
        "events after sign-out",
    );

    // An open stream ends when the controller shuts down.
    let mut c = signed_in(&h, op).await;
    let mut events = c.open("/console/alerts/events").await;
    assert_eq!(events.status, 200);
    let t = std::time::Instant::now();
    h.cancel.cancel();
    assert!(!events.until("never sent", Duration::from_secs(20)).await);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the stream ended with the controller, not by the test's timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn searches_crops_and_approvals_are_the_wings() {
    let (h, _dir) = start_console().await;
    let op = "op-search";
    let token = operator(&h, op).await;
    let sup = "sup-police";
    qualified_user(&h, sup, "supervisor", "police").await;
    let viewer = "viewer-police";
    user(&h, viewer, &["viewer"], "police").await;
    let mut c = signed_in(&h, op).await;

    let form = c.get("/console/search").await;
    assert_eq!(form.status, 200, "{}", form.body);
    for l in ["for=\"s-plate\"", "for=\"s-case\"", "for=\"s-purpose\""] {
        assert!(form.body.contains(l), "{l}");
    }
    let csrf = form.csrf();

    // No case number: the wing refuses it, in the page, audited as over gRPC.
    let a = c
        .post(
            "/console/search",
            &[
                ("csrf", &csrf),
                ("plate", "ABC1234"),
                ("purpose", "stolen_vehicle"),
            ],
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("Search refused"), "{}", a.body);
    assert!(a.body.contains("needs a case number"), "{}", a.body);
    assert!(audited(&h, op, "alpr.search", "denied").await);
    // No purpose: refused too.
    let a = c
        .post(
            "/console/search",
            &[
                ("csrf", &csrf),
                ("plate", "ABC1234"),
                ("case_number", "26-01234"),
            ],
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("purpose"), "{}", a.body);
    // Without the CSRF token: 403, audited as a search.
    let a = c
        .post(
            "/console/search",
            &[
                ("plate", "ABC1234"),
                ("case_number", "26-01234"),
                ("purpose", "stolen_vehicle"),
            ],
        )
        .await;
    assert_eq!(a.status, 403);
    assert!(audited(&h, op, "alpr.search", "CSRF").await);

    // A full plate runs (no agents here: no reads).
    let a = c
        .post(
            "/console/search",
            &[
                ("csrf", &csrf),
                ("plate", "ABC1234"),
                ("case_number", "26-01234"),
                ("purpose", "stolen_vehicle"),
                ("from", "2026-11-01T00:00"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Results"), "{}", a.body);
    assert!(a.body.contains("No reads."));

    // A partial plate goes to the approvals queue, and the page says under which id.
    let a = c
        .post(
            "/console/search",
            &[
                ("csrf", &csrf),
                ("plate", "AB?12*"),
                ("case_number", "26-01234"),
                ("purpose", "stolen_vehicle"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("waits for a supervisor"), "{}", a.body);
    let at = a.body.find("approval as aq-").expect("the approval id") + "approval as ".len();
    let aq: String = a.body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    // Not approved yet: running it is the wing's refusal.
    let a = c
        .post(
            "/console/approvals",
            &[("csrf", &csrf), ("action", "run"), ("id", &aq)],
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(a.body.contains("waits for a supervisor"), "{}", a.body);

    // The supervisor sees it waiting and approves it (a reason is required).
    let mut s = signed_in(&h, sup).await;
    let page = s.get("/console/approvals").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&aq), "{}", page.body);
    assert!(page.body.contains("AB?12*"));
    let scsrf = page.csrf();
    let a = s
        .post(
            "/console/approvals",
            &[("csrf", &scsrf), ("action", "approve"), ("id", &aq)],
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("reason"), "{}", a.body);
    let a = s
        .post(
            "/console/approvals",
            &[
                ("csrf", &scsrf),
                ("action", "approve"),
                ("id", &aq),
                ("reason", "stolen car, partial plate from a witness"),
            ],
        )
        .await;
    assert_redirect(&a, "/console/approvals?done=approve", "approve");
    assert!(audited(&h, sup, "alpr.approval.approve", "").await);

    // The operator runs it once.
    let a = c
        .post(
            "/console/approvals",
            &[
                ("csrf", &csrf),
                ("action", "run"),
                ("id", &aq),
                ("case_number", "26-01234"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains(&format!("Approved query {aq} ran.")));
    let a = c
        .post(
            "/console/approvals",
            &[("csrf", &csrf), ("action", "run"), ("id", &aq)],
        )
        .await;
    assert_eq!(a.status, 409, "runs once: {}", a.body);

    // Crops: a fetch carries the session's CSRF token (a page of another site
    // could otherwise make the operator's browser fetch one, audited under
    // their name and a case number they never gave): without it, refused and
    // audited. With it, the case number is the wing's to check, and every fetch
    // is audited.
    let read = "/console/crops/1780000000000-ABC1234";
    let a = c.get(&format!("{read}?case=26-01234")).await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = c.get(&format!("{read}?case=26-01234&csrf=00ff")).await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = c.get(&format!("{read}?csrf={csrf}")).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("case number"));
    let a = c.get(&format!("{read}?case=26-01234&csrf={csrf}")).await;
    assert_eq!(a.status, 404, "no site holds it here: {}", a.body);
    let log = audit_log(&h).await;
    let crops: Vec<_> = log
        .iter()
        .filter(|e| e["actor"] == op && e["action"] == "alpr.crop")
        .collect();
    assert_eq!(crops.len(), 4, "{crops:?}");
    assert!(crops[..2]
        .iter()
        .all(|e| e["result"].as_str().unwrap().contains("CSRF")));
    assert_eq!(crops[3]["details"]["case_number"], "26-01234");
    // Their names are the read's, plate and all: sealed in the chain (and
    // erased at 30 days), never written there in the clear.
    let chained: String = h
        .running
        .controller
        .store
        .list("audit/entries/")
        .await
        .unwrap()
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.value).to_string())
        .collect();
    assert!(!chained.contains("ABC1234"), "a plate in the chain");

    // A viewer: none of these pages in the menu, each refused.
    let mut v = signed_in(&h, viewer).await;
    let cams = v.get("/console/cameras").await;
    for p in ["/console/alerts", "/console/search", "/console/approvals"] {
        assert!(!cams.body.contains(&format!("href=\"{p}\"")), "{p} listed");
        let a = v.get(p).await;
        assert_eq!(a.status, 403, "{p}: {}", a.body);
    }
    let a = v.get("/console/alerts/events").await;
    assert_eq!(a.status, 403, "{}", a.body);
    let vcsrf = cams.csrf();
    let a = v.get(&format!("{read}?case=26-01234&csrf={vcsrf}")).await;
    assert_eq!(a.status, 403);
    let a = v
        .post(
            "/console/search",
            &[
                ("csrf", &vcsrf),
                ("plate", "ABC1234"),
                ("case_number", "26-01234"),
                ("purpose", "stolen_vehicle"),
            ],
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(audited(&h, viewer, "alpr.search", "denied").await);
    assert!(audited(&h, viewer, "alerts.list", "denied").await);
    let _ = token;
    h.cancel.cancel();
}

/// The card of alert `id` on the page, as a JS expression.
fn card_js(id: &str) -> String {
    let sel = serde_json::to_string(&format!("alert-{id}")).unwrap();
    format!("document.getElementById({sel})")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_verifies_an_alert_and_is_refused_a_search_in_chromium() {
    let (h, _dir) = start_console().await;
    let op = "op-chromium";
    let token = operator(&h, op).await;
    let first = raise(&h, &token, "k-1", "ABC1234", "stolen 05/30").await;
    let base = format!(
        "https://127.0.0.1:{}",
        h.running.console_addr.unwrap().port()
    );
    let out = camplane_testkit::console::screenshot_dir();
    let mut b = Browser::launch().await;
    b.sign_in(&base, op, &user_password(op)).await;

    // The alerts page; a second alert appears on it without a reload.
    b.goto(&format!("{base}/console/alerts")).await;
    b.wait_for(&format!("!!{}", card_js(&first))).await;
    b.eval("window.__same_page = true").await;
    let second = raise(&h, &token, "k-2", "XYZ999", "stolen plate").await;
    b.wait_for(&format!(
        "!!{} && document.querySelectorAll('#alerts-new article').length === 2",
        card_js(&second)
    ))
    .await;
    assert_eq!(
        b.eval("window.__same_page === true").await,
        true,
        "no reload"
    );
    assert_eq!(
        b.eval("document.getElementById('alerts-live').textContent")
            .await,
        "New alert: XYZ999 unverified"
    );
    b.screenshot(390, &out.join("alerts-390.png")).await;
    b.screenshot(1280, &out.join("alerts-1280.png")).await;

    // Verify the first: both checks ticked, a note, sent.
    b.eval(&format!(
        "(() => {{ const f = {}.querySelector(\"form input[name='action'][value='verify']\").form; \
f.querySelector(\"input[name='visual']\").checked = true; \
f.querySelector(\"input[name='state_check']\").checked = true; \
f.querySelector('textarea').value = 'crop matches; dispatch confirmed'; \
f.querySelector('button').click(); return true; }})()",
        card_js(&first)
    ))
    .await;
    b.wait_for("location.search === '?done=verify'").await;
    assert_eq!(
        b.eval(&format!(
            "{}.querySelector('.state').textContent",
            card_js(&first)
        ))
        .await,
        "verified"
    );
    // Then act on it with the case number.
    b.eval(&format!(
        "(() => {{ const f = {}.querySelector(\"form input[name='action'][value='act']\").form; \
f.querySelector(\"input[name='case_number']\").value = '26-01234'; \
f.querySelector('button').click(); return true; }})()",
        card_js(&first)
    ))
    .await;
    b.wait_for("location.search === '?done=act'").await;
    assert_eq!(
        b.eval(&format!("{}.tagName", card_js(&first))).await,
        "TR",
        "a reviewed alert is a row of the reviewed table"
    );
    let row = b
        .eval(&format!("{}.innerText", card_js(&first)))
        .await
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        row.contains("actioned") && row.contains("26-01234"),
        "{row}"
    );
    b.set_width(390).await;
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= 390").await,
        true,
        "the alerts page fits 390 px"
    );
    b.screenshot(390, &out.join("alerts-reviewed-390.png"))
        .await;
    b.screenshot(1280, &out.join("alerts-reviewed-1280.png"))
        .await;
    let a = alert(&h, &token, &first).await;
    assert_eq!(a["status"], "actioned");
    assert_eq!(a["case_number"], "26-01234");
    assert_eq!(a["steps"][0]["by"], op);

    // A search without a case number: refused in the page, by the wing.
    b.goto(&format!("{base}/console/search")).await;
    b.eval(
        "(() => { const f = document.querySelector('form.search'); \
f.querySelector('#s-plate').value = 'ABC1234'; \
f.querySelector('#s-purpose').value = 'stolen_vehicle'; \
f.querySelector('button').click(); return true; })()",
    )
    .await;
    b.wait_for("!!document.querySelector('main p.error')").await;
    let msg = b
        .eval("document.querySelector('main p.error').textContent")
        .await;
    let msg = msg.as_str().unwrap_or("");
    assert!(
        msg.contains("Search refused") && msg.contains("case number"),
        "{msg}"
    );
    assert_eq!(
        b.eval("document.querySelector('#s-plate').value").await,
        "ABC1234",
        "the form keeps what was asked"
    );
    b.set_width(390).await;
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= 390").await,
        true,
        "the search page fits 390 px"
    );
    b.screenshot(390, &out.join("search-refused-390.png")).await;
    b.screenshot(1280, &out.join("search-refused-1280.png"))
        .await;
    assert!(audited(&h, op, "alpr.search", "denied").await);
    for f in [
        "alerts-390.png",
        "alerts-1280.png",
        "alerts-reviewed-390.png",
        "search-refused-390.png",
        "search-refused-1280.png",
    ] {
        let len = std::fs::metadata(out.join(f)).unwrap().len();
        assert!(len > 1000, "{f}: {len} bytes");
    }
    h.cancel.cancel();
}
