//! A case-numbered ALPR search across three sites with real parts: a controller
//! (embedded store, TLS) and three agents that enrolled with one-time tokens,
//! each holding its own plate reads. One agent is down: the search returns the
//! reads of the other two, names the third as unreachable, and leaves exactly one
//! audit entry with the case number, purpose and result count. Refusals (no
//! training, prohibited purpose, bad case number, reversed or years-long range)
//! are audited too and return nothing. A partial-plate pattern waits for a
//! supervisor's approval, then runs once across the sites.

use camplane_agent::alpr::store::NewRead;
use camplane_agent::control::Session;
use camplane_agent::Supervisor;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl};
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::Code;

const SITES: &str = r#"
---
kind: Site
name: depot
spec: {address: 925 Kerper Blvd, lat: 42.5150, lon: -90.6560}
---
kind: Site
name: airport
spec: {address: 11000 Airport Rd, lat: 42.4020, lon: -90.7090}
"#;

struct Agent {
    session: Arc<Session>,
    sup: Arc<Supervisor>,
    stop: CancellationToken,
}

async fn agent(h: &ctl::Harness, dir: &std::path::Path, site: &str, ca: &std::path::Path) -> Agent {
    let token = agent::enroll_token(h, site).await;
    let adir = dir.join(site);
    let acfg = agent::config(h.running.addr.port(), ca, &adir, &token.token);
    let sup = agent::supervisor(&adir);
    let session = Session::new(acfg, sup.clone()).unwrap();
    Agent {
        session,
        sup,
        stop: CancellationToken::new(),
    }
}

fn read(camera: &str, plate: &str, t: Timestamp) -> NewRead {
    NewRead {
        camera: camera.into(),
        plate: plate.into(),
        confidence: 0.9,
        time: t,
        first: t,
        last: t,
        frames: 3,
        bbox: [10, 20, 200, 60],
        location: None,
    }
}

async fn search(
    h: &ctl::Harness,
    token: &str,
    plate: &str,
    case: &str,
    purpose: &str,
    from: &str,
    to: &str,
) -> Result<pb::SearchResponse, tonic::Status> {
    Ok(pb::alpr_client::AlprClient::new(h.channel.clone())
        .search(ctl::req(
            token,
            pb::SearchRequest {
                plate: plate.into(),
                case_number: case.into(),
                purpose: purpose.into(),
                from: from.into(),
                to: to.into(),
                sites: vec![],
                timeout_ms: 3000,
                for_agency: String::new(),
            },
        ))
        .await?
        .into_inner())
}

async fn audit_entries(h: &ctl::Harness, action: &str) -> Vec<serde_json::Value> {
    let tail = pb::audit_client::AuditClient::new(h.channel.clone())
        .tail(ctl::req(
            &h.admin,
            pb::TailRequest {
                limit: 500,
                before_seq: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    tail.entries
        .iter()
        .map(|e| serde_json::from_slice::<serde_json::Value>(&e.json).unwrap())
        .filter(|e| e["action"] == action)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_across_three_sites_with_one_down() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut cfg = ctl::config_embedded(&dir.path().join("store"));
    cfg.tls.ca_cert_file = Some(ca.clone());
    let h = ctl::start(cfg, None).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    ctl::apply(&h, &h.admin, SITES).await.unwrap();

    let now = Timestamp::now();
    let agents = [
        agent(&h, dir.path(), "city-hall", &ca).await,
        agent(&h, dir.path(), "depot", &ca).await,
        agent(&h, dir.path(), "airport", &ca).await,
    ];
    // Each site's reader, assigned to its gateway (an agent speaks only for its own cameras).
    for (i, site) in ["city-hall", "depot", "airport"].iter().enumerate() {
        let cam = format!(
            "kind: Camera\nname: lpr-{i}\nspec:\n  site: {site}\n  department: police\n  kind: fixed\n  purpose: alpr\n  location: {{lat: 42.5006, lon: -90.6646}}\n  streams: {{main: \"rtsp://127.0.0.1:8554/lpr-{i}\"}}\n  agent: {site}-gw\n"
        );
        ctl::apply(&h, &h.admin, &cam).await.unwrap();
    }
    for (i, a) in agents.iter().enumerate() {
        let reads = a.sup.reads();
        let t = now - SignedDuration::from_hours(24 * (i as i64 + 1));
        reads
            .append(read(&format!("lpr-{i}"), "ABC1234", t), None)
            .unwrap();
        reads
            .append(read(&format!("lpr-{i}"), "OTHER99", t), None)
            .unwrap();
    }
    // The city hall's gateway also answers for the depot's reader and a made-up
    // name: those reads are left out of every search.
    for (hours_ago, cam) in [(5, "lpr-1"), (6, "=cmd|' calc'!A0")] {
        let t = now - SignedDuration::from_hours(hours_ago);
        agents[0]
            .sup
            .reads()
            .append(read(cam, "ABC1234", t), None)
            .unwrap();
    }
    // Two agents run; the airport's gateway is down (it enrolled, then stopped).
    for a in &agents {
        tokio::spawn(a.session.clone().run(a.stop.clone()));
    }
    let fleet = pb::fleet_client::FleetClient::new(h.channel.clone());
    for _ in 0..100 {
        let l = fleet
            .clone()
            .list_agents(ctl::req(&h.admin, pb::ListRequest::default()))
            .await
            .unwrap()
            .into_inner();
        if l.objects.len() == 3
            && agents
                .iter()
                .all(|a| a.session.persisted().is_ok_and(|p| p.is_some()))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agents[2].stop.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // An operator with training, certification and the policy acknowledged.
    let op = ctl::qualified_user(&h, "op", "alpr_operator", "police").await;
    let untrained = ctl::user(&h, "op2", &["alpr_operator"], "police").await;

    let to = (now + SignedDuration::from_hours(1)).to_string();
    let from = (now - SignedDuration::from_hours(24 * 30)).to_string();
    let r = search(
        &h,
        &op,
        "abc-1234",
        "26-04711",
        "stolen_vehicle",
        &from,
        &to,
    )
    .await
    .unwrap();
    let reads: Vec<serde_json::Value> = serde_json::from_slice(&r.reads_json).unwrap();
    assert_eq!(reads.len(), 2, "{reads:#?}");
    assert!(reads.iter().all(|x| x["plate"] == "ABC1234"));
    let sites: Vec<&str> = reads.iter().map(|x| x["site"].as_str().unwrap()).collect();
    assert_eq!(sites, vec!["depot", "city-hall"], "oldest first");
    assert_eq!(r.answered, vec!["city-hall-gw", "depot-gw"]);
    assert_eq!(r.unreachable.len(), 1);
    assert_eq!(r.unreachable[0].agent, "airport-gw");
    let entries = audit_entries(&h, "alpr.search").await;
    assert_eq!(entries.len(), 1, "exactly one audit entry: {entries:#?}");
    let d = &entries[0]["details"];
    assert_eq!(d["case_number"], "26-04711");
    assert_eq!(d["purpose"], "stolen_vehicle");
    assert_eq!(d["results"], 2);
    assert_eq!(entries[0]["actor"], "op");
    // The reads the city hall's gateway gave for cameras not its own: refused,
    // audited for that agent and query, counted.
    let refused = audit_entries(&h, "agent.report_refused").await;
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["actor"], "agent:city-hall-gw");
    assert_eq!(
        refused[0]["details"]["cameras"],
        serde_json::json!(["=cmd|' calc'!A0", "lpr-1"])
    );
    assert_eq!(h.running.controller.metrics.reports_refused_of("reads"), 1);

    // Refusals: each audited, nothing returned.
    let huge = "9".repeat(10_000);
    let cases = [
        (
            &op,
            "ABC1234",
            huge.as_str(),
            "stolen_vehicle",
            from.as_str(),
            to.as_str(),
            Code::InvalidArgument,
            "case number",
        ),
        (
            &untrained,
            "ABC1234",
            "26-04711",
            "stolen_vehicle",
            from.as_str(),
            to.as_str(),
            Code::PermissionDenied,
            "training",
        ),
        (
            &op,
            "ABC1234",
            "26-04711",
            "immigration_enforcement",
            &from,
            &to,
            Code::PermissionDenied,
            "prohibited",
        ),
        (
            &op,
            "ABC1234",
            "",
            "stolen_vehicle",
            &from,
            &to,
            Code::InvalidArgument,
            "case number",
        ),
        (
            &op,
            "ABC1234",
            "26-04711'; DROP TABLE reads; --",
            "stolen_vehicle",
            &from,
            &to,
            Code::InvalidArgument,
            "case number",
        ),
        (
            &op,
            "ABC1234",
            "26-04711",
            "stolen_vehicle",
            &to,
            &from,
            Code::InvalidArgument,
            "not before",
        ),
        (
            &op,
            "ABC1234",
            "26-04711",
            "stolen_vehicle",
            "2020-01-01T00:00:00Z",
            &to,
            Code::InvalidArgument,
            "more than",
        ),
        (
            &op,
            "*",
            "26-04711",
            "stolen_vehicle",
            &from,
            &to,
            Code::InvalidArgument,
            "every plate",
        ),
        (
            &h.admin,
            "ABC1234",
            "26-04711",
            "stolen_vehicle",
            &from,
            &to,
            Code::PermissionDenied,
            "alpr_operator",
        ),
    ];
    let n = cases.len();
    for (who, plate, case, purpose, f, t, code, says) in cases {
        let e = search(&h, who, plate, case, purpose, f, t)
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{plate} {case} {purpose}: {e:?}");
        assert!(e.message().contains(says), "{}", e.message());
        assert!(
            !e.message().contains("DROP TABLE") && e.message().len() < 300,
            "input is not echoed: {}",
            e.message()
        );
    }
    let entries = audit_entries(&h, "alpr.search").await;
    assert_eq!(entries.len(), 1 + n, "every refusal audited once");
    assert!(entries[1..]
        .iter()
        .all(|e| e["result"].as_str().unwrap().starts_with("denied")));

    // A pattern waits for a supervisor; once approved it runs once on the agents.
    let r = search(&h, &op, "ABC12*", "26-04711", "stolen_vehicle", &from, &to)
        .await
        .unwrap();
    assert!(!r.pending_approval.is_empty(), "{r:?}");
    let sup = ctl::qualified_user(&h, "sup", "supervisor", "police").await;
    let approvals = pb::alpr_approvals_client::AlprApprovalsClient::new(h.channel.clone());
    approvals
        .clone()
        .decide(ctl::req(
            &sup,
            pb::AlprApprovalDecision {
                id: r.pending_approval.clone(),
                approve: true,
                reason: "partial plate from a witness".into(),
            },
        ))
        .await
        .unwrap();
    let run = |id: String| {
        let mut c = approvals.clone();
        let op = op.clone();
        async move {
            c.run(ctl::req(
                &op,
                pb::RunApprovedRequest {
                    id,
                    timeout_ms: 3000,
                },
            ))
            .await
        }
    };
    let got = run(r.pending_approval.clone()).await.unwrap().into_inner();
    let reads: Vec<serde_json::Value> = serde_json::from_slice(&got.reads_json).unwrap();
    assert_eq!(reads.len(), 2, "{reads:#?}");
    assert!(reads.iter().all(|x| x["plate"] == "ABC1234"));
    assert_eq!(got.unreachable.len(), 1);
    let e = run(r.pending_approval.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "runs once: {e:?}");
    let entries = audit_entries(&h, "alpr.search").await;
    let last_ok = entries.iter().rfind(|e| e["result"] == "ok").unwrap();
    assert_eq!(last_ok["details"]["approval"], r.pending_approval.as_str());
    assert_eq!(last_ok["details"]["results"], 2);
    for a in &agents {
        a.stop.cancel();
    }
    h.cancel.cancel();
}
