//! External requests to release records (issue 20) against a real controller on
//! both stores: the Public Information Officer decides only after the City
//! Attorney advised; each wrong role and out-of-order step is refused and
//! audited; a request covering recordings holds them (a legal hold nobody can
//! release by hand) until it closes; deadlines come from the config and
//! overdue requests are listed; everything is still there after a restart.

use camplane_proto::v1 as pb;
use camplane_testkit::controller::{self as ctl, apply, audit_log, req, user, Harness, CITY};
use camplane_testkit::servers::EtcdServer;
use tonic::Code;

use pb::RecordsStepKind::*;

fn client(
    h: &Harness,
) -> pb::records_requests_client::RecordsRequestsClient<tonic::transport::Channel> {
    pb::records_requests_client::RecordsRequestsClient::new(h.channel.clone())
}

async fn step(
    h: &Harness,
    who: &str,
    id: &str,
    kind: pb::RecordsStepKind,
    text: &str,
) -> Result<serde_json::Value, tonic::Status> {
    client(h)
        .step(req(
            who,
            pb::RecordsStepRequest {
                id: id.into(),
                step: kind as i32,
                text: text.into(),
                as_role: String::new(),
            },
        ))
        .await
        .map(|r| serde_json::from_slice(&r.into_inner().json).unwrap())
}

async fn open(
    h: &Harness,
    who: &str,
    received: &str,
    camera: bool,
) -> Result<serde_json::Value, tonic::Status> {
    let (camera, from, to) = if camera {
        ("cam-1", "2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z")
    } else {
        ("", "", "")
    };
    client(h)
        .open(req(
            who,
            pb::RecordsOpenRequest {
                requester: "Dubuque Telegraph Herald, R. Smith".into(),
                received: received.into(),
                describe: "Video of the crash at 5th and Main".into(),
                camera: camera.into(),
                from: from.into(),
                to: to.into(),
            },
        ))
        .await
        .map(|r| serde_json::from_slice(&r.into_inner().json).unwrap())
}

fn hold_released(h: &Harness, name: &str) -> Option<bool> {
    h.running
        .controller
        .list(camplane_config::model::Kind::LegalHold)
        .unwrap()
        .into_iter()
        .find(|(o, _)| o.name == name)
        .map(|(o, _)| !o.status["released_at"].is_null())
}

async fn run_on(mut cfg: camplane_config::controller::ControllerConfig) {
    cfg.records.response_days = 10;
    let h = ctl::start(cfg.clone(), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let pio = user(&h, "rr-pio", &["pio"], "").await;
    let attorney = user(&h, "rr-attorney", &["city_attorney"], "").await;
    let clerk = user(&h, "rr-clerk", &["city_clerk"], "").await;
    let chief = user(&h, "rr-chief", &["chief"], "police").await;
    let auditor = user(&h, "rr-auditor", &["auditor"], "").await;

    // Wrong role; bad input names its field.
    assert_eq!(
        open(&h, &chief, "", true).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let e = client(&h)
        .open(req(
            &clerk,
            pb::RecordsOpenRequest {
                requester: "x".into(),
                describe: "x".into(),
                camera: "cam-1".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("--from"),
        "{e:?}"
    );
    // One request is one copy: at most 24 hours of a camera.
    let e = client(&h)
        .open(req(
            &clerk,
            pb::RecordsOpenRequest {
                requester: "x".into(),
                describe: "x".into(),
                camera: "cam-1".into(),
                from: "2026-11-01T00:00:00Z".into(),
                to: "2026-11-02T00:00:01Z".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("24 hours"),
        "{e:?}"
    );

    // A request for recordings holds them.
    let v = open(&h, &clerk, "2026-11-20", true).await.unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["stage"], "received");
    assert_eq!(
        v["due"], "2026-11-30T06:00:00Z",
        "10 days after receipt (city day start)"
    );
    let hold = v["hold"].as_str().unwrap().to_string();
    assert_eq!(
        hold_released(&h, &hold),
        Some(false),
        "the hold is in force"
    );
    // Nobody releases it by hand, not even the chief.
    let e = pb::holds_client::HoldsClient::new(h.channel.clone())
        .release(req(&chief, pb::HoldName { name: hold.clone() }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // Out of order: advice before review; a decision before advice.
    assert_eq!(
        step(&h, &attorney, &id, RecordsStepAdvise, "ok")
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        step(&h, &pio, &id, RecordsStepRelease, "ok")
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    // Wrong role: the clerk cannot review, the PIO cannot advise.
    assert_eq!(
        step(&h, &clerk, &id, RecordsStepReview, "")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        step(&h, &pio, &id, RecordsStepReview, "").await.unwrap()["stage"],
        "under_review"
    );
    assert_eq!(
        step(&h, &pio, &id, RecordsStepAdvise, "ok")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        step(&h, &pio, &id, RecordsStepRelease, "ok")
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition,
        "no decision before the City Attorney's advice"
    );
    // Advice needs its text.
    assert_eq!(
        step(&h, &attorney, &id, RecordsStepAdvise, "  ")
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let v = step(
        &h,
        &attorney,
        &id,
        RecordsStepAdvise,
        "Release with faces blurred",
    )
    .await
    .unwrap();
    assert_eq!(v["stage"], "advised");
    assert_eq!(
        step(&h, &attorney, &id, RecordsStepRelease, "x")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied,
        "the attorney advises, the PIO decides"
    );
    assert_eq!(
        step(&h, &pio, &id, RecordsStepFulfil, "")
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    let v = step(
        &h,
        &pio,
        &id,
        RecordsStepRelease,
        "Public interest; advice followed",
    )
    .await
    .unwrap();
    assert_eq!(v["stage"], "released");
    assert_eq!(
        hold_released(&h, &hold),
        Some(false),
        "still held until fulfilled"
    );
    // A covert camera's (or a plate reader's) recordings are never released
    // to the public: the copy is refused, audited, and the request stays.
    let cam1 = CITY
        .split("---\n")
        .find(|d| d.contains("name: cam-1\n"))
        .unwrap()
        .to_string();
    apply(&h, &h.admin, &format!("{cam1}  covert: true\n"))
        .await
        .unwrap();
    ctl::acknowledge_policy(&h.channel, &pio, &ctl::user_password("rr-pio"))
        .await
        .unwrap();
    let e = match pb::recordings_client::RecordingsClient::new(h.channel.clone())
        .fulfil(req(
            &pio,
            pb::RecordsFulfilRequest {
                id: id.clone(),
                out_dir: "/tmp/release".into(),
            },
        ))
        .await
    {
        Err(e) => e,
        Ok(s) => s.into_inner().message().await.unwrap_err(),
    };
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("covert"), "{e:?}");
    apply(&h, &h.admin, &cam1).await.unwrap();
    // A request covering recordings is fulfilled with their copy and its fee
    // (`fulfil ID --out DIR`, tests/tests/fees.rs), never closed without it.
    let e = step(&h, &pio, &id, RecordsStepFulfil, "")
        .await
        .unwrap_err();
    assert!(
        e.code() == Code::FailedPrecondition && e.message().contains("--out"),
        "{e:?}"
    );
    assert_eq!(
        hold_released(&h, &hold),
        Some(false),
        "still held until its copy is made"
    );
    assert_eq!(
        step(&h, &pio, &id, RecordsStepDeny, "x")
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );

    // A second request, received long ago, is overdue; a denial closes it.
    let late = open(&h, &pio, "2026-01-05", false).await.unwrap();
    let late_id = late["id"].as_str().unwrap().to_string();
    assert!(late["hold"].is_null(), "no recordings named, no hold");
    let overdue = |who: String| {
        let mut c = client(&h);
        async move {
            c.list(req(
                &who,
                pb::RecordsListRequest {
                    overdue: true,
                    ..Default::default()
                },
            ))
            .await
            .map(|l| {
                l.into_inner()
                    .objects
                    .into_iter()
                    .map(|o| o.name)
                    .collect::<Vec<_>>()
            })
        }
    };
    assert_eq!(
        overdue(auditor.clone()).await.unwrap(),
        vec![late_id.clone()]
    );
    assert_eq!(
        overdue(chief.clone()).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    step(&h, &pio, &late_id, RecordsStepReview, "")
        .await
        .unwrap();
    step(
        &h,
        &attorney,
        &late_id,
        RecordsStepAdvise,
        "Exempt under 22.7(5)",
    )
    .await
    .unwrap();
    assert_eq!(
        step(
            &h,
            &pio,
            &late_id,
            RecordsStepDeny,
            "Confidential investigative record"
        )
        .await
        .unwrap()["stage"],
        "denied"
    );
    assert!(
        overdue(auditor.clone()).await.unwrap().is_empty(),
        "a decided request is not overdue"
    );

    // A request for records other than recordings is fulfilled as it was.
    let plain = open(&h, &clerk, "", false).await.unwrap();
    let plain_id = plain["id"].as_str().unwrap().to_string();
    step(&h, &pio, &plain_id, RecordsStepReview, "")
        .await
        .unwrap();
    step(&h, &attorney, &plain_id, RecordsStepAdvise, "Release")
        .await
        .unwrap();
    step(&h, &pio, &plain_id, RecordsStepRelease, "Public record")
        .await
        .unwrap();
    let v = step(&h, &pio, &plain_id, RecordsStepFulfil, "")
        .await
        .unwrap();
    assert_eq!(v["stage"], "fulfilled");
    assert!(v["fee"].is_null(), "no copy of video, no fee");

    // Audited: every step, every refusal; the requester never.
    let log = audit_log(&h).await;
    let on = |action: &str, result: &str| {
        log.iter()
            .filter(|e| {
                e["action"] == action && e["result"].as_str().unwrap_or("").starts_with(result)
            })
            .count()
    };
    assert_eq!(on("records.open", "ok"), 3);
    assert_eq!(on("records.review", "ok"), 3);
    assert_eq!(on("records.advise", "ok"), 3);
    assert_eq!(on("records.decide", "ok"), 3);
    assert_eq!(on("records.fulfil", "ok"), 1);
    assert!(on("records.open", "denied") >= 1);
    assert!(on("records.review", "denied") >= 1);
    assert!(on("records.advise", "denied") >= 1);
    assert!(on("records.decide", "denied") >= 1);
    assert!(on("records.advise", "refused") >= 1);
    assert!(on("records.decide", "refused") >= 3);
    assert!(on("records.fulfil", "refused") >= 2);
    assert!(
        on("hold.release", "refused") >= 1,
        "the hand release was audited"
    );
    assert!(on("records.list", "denied") >= 1);
    assert!(
        !serde_json::to_string(&log).unwrap().contains("R. Smith"),
        "no requester in the audit log"
    );

    // A restart keeps the requests and the hold.
    let again = ctl::restart(h, cfg.clone()).await;
    let ch = again.channel.clone();
    let l = pb::records_requests_client::RecordsRequestsClient::new(ch)
        .list(req(&auditor, pb::RecordsListRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let stages: Vec<String> = l
        .objects
        .iter()
        .map(|o| {
            serde_json::from_slice::<serde_json::Value>(&o.json).unwrap()["stage"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut sorted = stages.clone();
    sorted.sort();
    assert_eq!(sorted, ["denied", "fulfilled", "released"]);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_requests_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    run_on(ctl::config_embedded(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_requests_on_etcd() {
    let etcd = EtcdServer::start();
    run_on(ctl::config_etcd(&etcd.endpoint(), "/records-test")).await;
}
