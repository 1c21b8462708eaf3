//! The annual policy review (issue 20) against a real controller on both
//! stores: a new version proposed, signed off by the five parties (the police,
//! Engineering, Information Services, the City Attorney, the City Manager),
//! taking effect only with the fifth signoff; every wrong role and
//! out-of-order step refused and audited; users acknowledging again before
//! they search; the portal and `/metrics` stating the last review; all of it
//! still there after a restart.

use camplane_proto::v1 as pb;
use camplane_testkit::controller::{self as ctl, audit_log, req, user, user_password, Harness};
use camplane_testkit::http::{http_get, sample, scrape};
use camplane_testkit::servers::EtcdServer;
use tonic::Code;

const NEW: &str = "AP-5.05-2027-01-15";
const TEXT: &[u8] = b"Administrative Policy 5.05, as reviewed in 2027.\n";

fn client(
    ch: &tonic::transport::Channel,
) -> pb::policy_review_client::PolicyReviewClient<tonic::transport::Channel> {
    pb::policy_review_client::PolicyReviewClient::new(ch.clone())
}

async fn signoff(h: &Harness, who: &str, party: &str) -> Result<serde_json::Value, tonic::Status> {
    client(&h.channel)
        .signoff(req(
            who,
            pb::PolicySignoffRequest {
                version: NEW.into(),
                party: party.into(),
            },
        ))
        .await
        .map(|r| serde_json::from_slice(&r.into_inner().json).unwrap())
}

async fn status(ch: &tonic::transport::Channel, who: &str) -> serde_json::Value {
    serde_json::from_slice(
        &client(ch)
            .status(req(who, pb::Empty {}))
            .await
            .unwrap()
            .into_inner()
            .json,
    )
    .unwrap()
}

async fn search(h: &Harness, token: &str) -> Result<pb::SearchResponse, tonic::Status> {
    pb::alpr_client::AlprClient::new(h.channel.clone())
        .search(req(
            token,
            pb::SearchRequest {
                plate: "ABC123".into(),
                case_number: "26-12345".into(),
                purpose: "stolen_vehicle".into(),
                timeout_ms: 500,
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn run_on(mut cfg: camplane_config::controller::ControllerConfig) {
    cfg.http_listen = Some("127.0.0.1:0".into());
    let h = ctl::start(cfg.clone(), None).await;
    let old = h.running.controller.config.city.policy_version.clone();
    let chief = user(&h, "pr-chief", &["chief"], "police").await;
    let eng = user(&h, "pr-eng", &["engineer"], "engineering").await;
    let ca = user(&h, "pr-ca", &["city_attorney"], "").await;
    let cm = user(&h, "pr-cm", &["city_manager"], "").await;
    let both = user(&h, "pr-both", &["engineer", "admin"], "engineering").await;
    let viewer = user(&h, "pr-viewer", &["viewer"], "police").await;
    let operator = ctl::qualified_user(&h, "pr-op", "alpr_operator", "police").await;
    let http = h.running.http_addr.expect("the harness serves the portal");

    // Before any review: the config's version, no review on record (due now).
    let s = status(&h.channel, &viewer).await;
    assert_eq!(s["version"], old.as_str());
    assert_eq!(s["review_overdue"], true, "{s}");
    assert_eq!(
        sample(&scrape(http), "camplane_policy_review_overdue"),
        Some(1.0)
    );

    // A role outside the five may not propose; a bad version name is refused.
    let propose = |who: &str, version: &str| {
        let mut c = client(&h.channel);
        let (who, version) = (who.to_string(), version.to_string());
        async move {
            c.propose(req(
                &who,
                pb::PolicyProposeRequest {
                    version,
                    text: TEXT.to_vec(),
                },
            ))
            .await
        }
    };
    let e = propose(&viewer, NEW).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = propose(&chief, "2027 draft").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    // The chief opens the review; a second one while it is open is out of order.
    let v: serde_json::Value =
        serde_json::from_slice(&propose(&chief, NEW).await.unwrap().into_inner().json).unwrap();
    assert_eq!(v["stage"], "open", "{v}");
    assert!(v.get("text_base64").is_none(), "answers leave the text out");
    let e = propose(&eng, "AP-5.05-other").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // Signoffs: wrong role, wrong party, several parties without --as.
    assert_eq!(
        signoff(&h, &viewer, "").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        signoff(&h, &eng, "police").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // Two parties' roles: --as says which; one person signs once.
    assert_eq!(
        signoff(&h, &both, "").await.unwrap_err().code(),
        Code::InvalidArgument
    );
    signoff(&h, &both, "engineering").await.unwrap();
    let e = signoff(&h, &both, "information_services")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    // Engineering signed (by pr-both): another engineer is out of order.
    assert_eq!(
        signoff(&h, &eng, "").await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    signoff(&h, &chief, "").await.unwrap();
    signoff(&h, &ca, "").await.unwrap();
    let v = signoff(&h, &h.admin, "information_services").await.unwrap();
    assert_eq!(v["stage"], "open", "four of five: not in force yet: {v}");
    assert_eq!(status(&h.channel, &viewer).await["version"], old.as_str());
    // The operator acknowledged the old version: searching still works (the
    // answer may name no site; what matters is no refusal).
    search(&h, &operator).await.unwrap();

    // The fifth signoff puts it in force.
    let v = signoff(&h, &cm, "").await.unwrap();
    assert_eq!(v["stage"], "in_force", "{v}");
    let s = status(&h.channel, &viewer).await;
    assert_eq!(s["version"], NEW, "{s}");
    assert_eq!(s["review_overdue"], false, "{s}");
    assert!(
        s["last_review_at"].is_string() && s["review_due"].is_string(),
        "{s}"
    );
    assert_eq!(
        sample(&scrape(http), "camplane_policy_review_overdue"),
        Some(0.0)
    );
    let (code, _, page) = http_get(http, "/public/");
    assert_eq!(code, 200);
    assert!(
        page.contains(NEW) && page.contains("Last reviewed"),
        "{page}"
    );
    // A closed review takes no more signoffs.
    assert_eq!(
        signoff(&h, &eng, "").await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    // Every user acknowledges the new version before acting again.
    let e = search(&h, &operator).await.unwrap_err();
    assert!(
        e.code() == Code::PermissionDenied && e.message().contains(NEW),
        "{e:?}"
    );
    let info = ctl::acknowledge_policy(&h.channel, &operator, &user_password("pr-op"))
        .await
        .unwrap();
    assert_eq!(info.version, NEW);
    assert_eq!(info.sha256, hex_sha256(TEXT));
    search(&h, &operator).await.unwrap();

    // Audited: the proposal, five signoffs, the refusals.
    let log = audit_log(&h).await;
    let of = |a: &str| log.iter().filter(|e| e["action"] == a).collect::<Vec<_>>();
    let ok = |v: &Vec<&serde_json::Value>| v.iter().filter(|e| e["result"] == "ok").count();
    assert_eq!(ok(&of("policy.propose")), 1);
    assert_eq!(ok(&of("policy.signoff")), 5);
    let denied = |v: &Vec<&serde_json::Value>| {
        v.iter()
            .filter(|e| e["result"].as_str().unwrap().starts_with("denied"))
            .count()
    };
    assert!(denied(&of("policy.propose")) >= 1);
    assert!(denied(&of("policy.signoff")) >= 2);
    let refused = |v: &Vec<&serde_json::Value>| {
        v.iter()
            .filter(|e| e["result"].as_str().unwrap().starts_with("refused"))
            .count()
    };
    assert!(
        refused(&of("policy.propose")) >= 2,
        "bad name, second review"
    );
    assert!(
        refused(&of("policy.signoff")) >= 2,
        "party signed, review closed"
    );
    let last = of("policy.signoff")
        .into_iter()
        .rfind(|e| e["result"] == "ok")
        .unwrap();
    assert_eq!(last["details"]["took_effect"], true, "{last}");

    // A restart keeps the version in force and the reviews.
    let again = ctl::restart(h, cfg).await;
    let s = status(&again.channel, &viewer).await;
    assert_eq!(s["version"], NEW);
    let l = client(&again.channel)
        .reviews(req(&viewer, pb::Empty {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(l.objects.len(), 1);
    let r: serde_json::Value = serde_json::from_slice(&l.objects[0].json).unwrap();
    assert_eq!(r["signoffs"].as_object().unwrap().len(), 5, "{r}");
    again.stop().await;
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewed_policy_takes_effect_with_five_signoffs_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    run_on(ctl::config_embedded(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewed_policy_takes_effect_with_five_signoffs_on_etcd() {
    let etcd = EtcdServer::start();
    run_on(ctl::config_etcd(&etcd.endpoint(), "/policy-review-test")).await;
}

/// The console's Policy page: everyone sees the version and the overdue flag;
/// a party's signer gets a signoff button only for their own party, and the
/// button records the signoff as `policy signoff` does; a form without its
/// CSRF token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_review_and_takes_a_signoff() {
    use camplane_testkit::console::ConsoleClient;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ctl::config_embedded(dir.path());
    cfg.console_listen = Some("127.0.0.1:0".into());
    let h = ctl::start(cfg, None).await;
    let chief = user(&h, "pc-chief", &["chief"], "police").await;
    user(&h, "pc-viewer", &["viewer"], "police").await;
    let signed_in = |name: &'static str| {
        let addr = h.running.console_addr.unwrap();
        let ca = h.running.ca_pem.clone();
        async move {
            let mut c = ConsoleClient::new(addr, &ca);
            let a = c.login(name, &user_password(name)).await;
            assert_eq!(a.status, 303, "{name} signs in: {}", a.body);
            c
        }
    };
    let mut viewer = signed_in("pc-viewer").await;
    let a = viewer.get("/console/policy").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("annual review is overdue"), "{}", a.body);
    assert!(a.body.contains("No review has been proposed"), "{}", a.body);

    client(&h.channel)
        .propose(req(
            &chief,
            pb::PolicyProposeRequest {
                version: NEW.into(),
                text: TEXT.to_vec(),
            },
        ))
        .await
        .unwrap();
    let a = viewer.get("/console/policy").await;
    assert!(
        a.body.contains(NEW) && !a.body.contains("Sign off"),
        "{}",
        a.body
    );

    let mut c = signed_in("pc-chief").await;
    let a = c.get("/console/policy").await;
    assert_eq!(
        a.body.matches("Sign off</button>").count(),
        1,
        "only the police's: {}",
        a.body
    );
    let csrf = a.csrf();
    let path = format!("/console/policy/{NEW}");
    let a = c.post(&path, &[("party", "police")]).await;
    assert_eq!(a.status, 403, "no CSRF token: {}", a.body);
    let a = c.post(&path, &[("csrf", &csrf), ("party", "police")]).await;
    assert_eq!(a.status, 303, "{}", a.body);
    let a = c.get("/console/policy?signed=1").await;
    assert!(
        a.body.contains("pc-chief at") && !a.body.contains("Sign off</button>"),
        "{}",
        a.body
    );
    // A second signoff is the rule's refusal, shown in the page.
    let a = c.post(&path, &[("csrf", &csrf), ("party", "police")]).await;
    assert_eq!(a.status, 409, "{}", a.body);
    h.cancel.cancel();
}
