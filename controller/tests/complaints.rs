//! Complaints and appeals (issue 20) against a real controller on both stores:
//! the whole path from filing to the Council's final decision, every wrong
//! role and out-of-order step refused and audited, the complainant's name kept
//! out of the audit log and the public log, and every record still there
//! after a restart.

use camplane_proto::v1 as pb;
use camplane_testkit::controller::{self as ctl, audit_log, req, user, Harness};
use camplane_testkit::servers::EtcdServer;
use tonic::Code;

const FROM: &str = "Jane Roe, 555-0100";

fn client(h: &Harness) -> pb::complaints_client::ComplaintsClient<tonic::transport::Channel> {
    pb::complaints_client::ComplaintsClient::new(h.channel.clone())
}

async fn decide(
    h: &Harness,
    who: &str,
    id: &str,
    outcome: pb::ComplaintOutcome,
    as_role: &str,
) -> Result<serde_json::Value, tonic::Status> {
    client(h)
        .decide(req(
            who,
            pb::ComplaintDecision {
                id: id.into(),
                outcome: outcome as i32,
                finding: "The camera's field of view was checked on site.".into(),
                as_role: as_role.into(),
            },
        ))
        .await
        .map(|r| serde_json::from_slice(&r.into_inner().json).unwrap())
}

async fn appeal(h: &Harness, who: &str, id: &str) -> Result<serde_json::Value, tonic::Status> {
    client(h)
        .appeal(req(who, pb::ComplaintId { id: id.into() }))
        .await
        .map(|r| serde_json::from_slice(&r.into_inner().json).unwrap())
}

fn stage(v: &serde_json::Value) -> String {
    format!(
        "{}:{}",
        v["stage"]["stage"].as_str().unwrap(),
        v["stage"]["level"].as_str().unwrap()
    )
}

struct People {
    chief: String,
    cm: String,
    clerk: String,
    auditor: String,
    viewer: String,
}

async fn people(h: &Harness) -> People {
    People {
        chief: user(h, "cp-chief", &["chief"], "police").await,
        cm: user(h, "cp-cm", &["city_manager"], "").await,
        clerk: user(h, "cp-clerk", &["city_clerk"], "").await,
        auditor: user(h, "cp-auditor", &["auditor"], "").await,
        viewer: user(h, "cp-viewer", &["viewer"], "police").await,
    }
}

/// Files, then takes the complaint through every level, trying each wrong
/// step on the way. Returns the complaint's id.
async fn whole_path(h: &Harness, p: &People) -> String {
    use pb::ComplaintOutcome::{Followed, NotFollowed};
    let file = |who: &str| {
        let mut c = client(h);
        let who = who.to_string();
        async move {
            c.file(req(
                &who,
                pb::ComplaintFileRequest {
                    from: FROM.into(),
                    about: "A camera on Main St looks into my window".into(),
                    camera: String::new(),
                    received: "2026-11-20".into(),
                },
            ))
            .await
        }
    };
    // Wrong role.
    let e = file(&p.viewer).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // Bad input names the field.
    let e = client(h)
        .file(req(
            &p.clerk,
            pb::ComplaintFileRequest {
                from: FROM.into(),
                about: "x".into(),
                camera: "no-such-camera".into(),
                received: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("--camera"),
        "{e:?}"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&file(&p.clerk).await.unwrap().into_inner().json).unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cp-"), "{v}");
    assert_eq!(stage(&v), "waiting:chief");

    // Out of order: an appeal before any decision; the City Manager deciding first.
    assert_eq!(
        appeal(h, &p.clerk, &id).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    let e = decide(h, &p.cm, &id, Followed, "city_manager")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    // Wrong role: the clerk cannot decide for the chief.
    let e = decide(h, &p.clerk, &id, Followed, "").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    let v = decide(h, &p.chief, &id, NotFollowed, "").await.unwrap();
    assert_eq!(stage(&v), "decided:chief");
    // Decided: a second decision needs an appeal first.
    assert_eq!(
        decide(h, &p.chief, &id, Followed, "")
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    // A viewer cannot record an appeal.
    assert_eq!(
        appeal(h, &p.viewer, &id).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        stage(&appeal(h, &p.clerk, &id).await.unwrap()),
        "waiting:city_manager"
    );
    // The chief cannot decide the appeal of their own decision.
    assert_eq!(
        decide(h, &p.chief, &id, Followed, "")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let v = decide(h, &p.cm, &id, Followed, "city_manager")
        .await
        .unwrap();
    assert_eq!(stage(&v), "decided:city_manager");
    assert_eq!(
        stage(&appeal(h, &p.cm, &id).await.unwrap()),
        "waiting:council"
    );
    // The City Manager does not record the Council's decision; the clerk does.
    assert_eq!(
        decide(h, &p.cm, &id, Followed, "")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let v = decide(h, &p.clerk, &id, Followed, "city_clerk")
        .await
        .unwrap();
    assert_eq!(stage(&v), "decided:council");
    assert_eq!(v["steps"].as_array().unwrap().len(), 5, "{v}");
    // Final.
    assert_eq!(
        appeal(h, &p.clerk, &id).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    // An id the controller never made is refused (audited) without a lookup.
    assert_eq!(
        appeal(h, &p.clerk, "../../users/admin")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    id
}

async fn listed(h: &Harness, who: &str, open: bool) -> Result<Vec<String>, tonic::Status> {
    let l = client(h)
        .list(req(
            who,
            pb::ComplaintListRequest {
                open,
                after: String::new(),
            },
        ))
        .await?
        .into_inner();
    Ok(l.objects.into_iter().map(|o| o.name).collect())
}

async fn check_audit(h: &Harness, id: &str) {
    let log = audit_log(h).await;
    let on = |action: &str, result: &str| {
        log.iter()
            .filter(|e| {
                e["action"] == action && e["result"].as_str().unwrap_or("").starts_with(result)
            })
            .count()
    };
    assert_eq!(on("complaint.file", "ok"), 1);
    assert_eq!(on("complaint.decide", "ok"), 3);
    assert_eq!(on("complaint.appeal", "ok"), 2);
    assert!(on("complaint.file", "denied") >= 1);
    assert!(
        on("complaint.decide", "denied") >= 3,
        "wrong-role decisions audited"
    );
    assert!(
        on("complaint.decide", "refused") >= 2,
        "out-of-order decisions audited"
    );
    assert!(
        on("complaint.appeal", "refused") >= 3,
        "out-of-order appeals audited"
    );
    assert!(on("complaint.list", "denied") >= 1);
    assert!(
        log.iter()
            .any(|e| e["name"] == id && e["action"] == "complaint.decide"),
        "entries name the complaint"
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains("Jane Roe"),
        "the complainant is not in the audit log"
    );
}

async fn run_on(cfg: camplane_config::controller::ControllerConfig) {
    let h = ctl::start(cfg.clone(), None).await;
    let p = people(&h).await;
    let id = whole_path(&h, &p).await;
    assert_eq!(
        listed(&h, &p.auditor, false).await.unwrap(),
        vec![id.clone()]
    );
    assert!(
        listed(&h, &p.auditor, true).await.unwrap().is_empty(),
        "decided: not open"
    );
    assert_eq!(
        listed(&h, &p.viewer, false).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    check_audit(&h, &id).await;

    // The public log of November counts it (received on 2026-11-20) and names no one.
    let files = pb::public_log_client::PublicLogClient::new(h.channel.clone())
        .generate(req(
            &h.admin,
            pb::PublicLogRequest {
                month: "2026-11".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut all = String::new();
    for f in &files.files {
        all.push_str(&String::from_utf8_lossy(&f.content));
    }
    assert!(
        all.contains("Complaints"),
        "the log has its complaints section"
    );
    assert!(
        !all.contains("Jane") && !all.contains("window"),
        "no complainant or text"
    );
    let log_json = files.files.iter().find(|f| f.name == "log.json").unwrap();
    let v: serde_json::Value = serde_json::from_slice(&log_json.content).unwrap();
    assert_eq!(v["complaints"]["received"], 1, "{}", v["complaints"]);

    // A restart keeps the complaint with every step. The auditor's session is
    // in the store too, so it signs in the new controller's reads.
    let again = ctl::restart(h, cfg).await;
    let ch = again.channel.clone();
    let v: serde_json::Value = serde_json::from_slice(
        &pb::complaints_client::ComplaintsClient::new(ch)
            .show(req(&p.auditor, pb::ComplaintId { id: id.clone() }))
            .await
            .unwrap()
            .into_inner()
            .json,
    )
    .unwrap();
    assert_eq!(stage(&v), "decided:council");
    assert_eq!(v["from"], FROM);
    assert_eq!(v["steps"].as_array().unwrap().len(), 5);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaints_climb_to_the_council_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    run_on(ctl::config_embedded(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaints_climb_to_the_council_on_etcd() {
    let etcd = EtcdServer::start();
    run_on(ctl::config_etcd(&etcd.endpoint(), "/complaints-test")).await;
}
