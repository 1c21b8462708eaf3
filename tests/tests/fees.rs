//! Fee schedules and the fulfilment of records requests with real parts: a
//! controller (embedded store, TLS), a GStreamer RTSP camera with a privacy
//! mask, an agent recording it, and the real CLI.
//!
//! `camplane apply -f` of a `FeeSchedule`: by the police department's manager
//! it is applied; by the chief (wrong role), the parks manager (another
//! department) it is denied and audited; negative, too large, fractional
//! amounts, a bad currency, an unknown field or a department that does not
//! exist are refused, naming the field.
//!
//! A records request for the camera's recordings goes open → review → advise;
//! `records-request fulfil ID --out DIR` before the release is refused and
//! audited, as is the attorney's try and `fulfil ID` without `--out`. After
//! `decide --release`, `fulfil ID --out DIR` writes a masked copy (the
//! manifest names the request and the fee, `export verify` passes), and the
//! request is fulfilled with the fee of the police schedule and the SHA-256
//! of the manifest written, its hold released; all audited, the requester's
//! name nowhere in the audit log. A second fulfilment is refused.
//!
//! `recordings export --recipient` (someone outside) records the fee in its
//! audit entry and signed manifest; `--police-use` (the chief's, the police's
//! own copy) has none, and someone outside the police claiming it (a parks
//! viewer the chief authorized to copy) is denied, audited, and charged.

mod common;

use camplane_agent::control::Session;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl, servers};
use common::*;
use jiff::{SignedDuration, Timestamp};
use sha2::Digest;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn result_starts(e: &serde_json::Value, with: &str) -> bool {
    e["result"].as_str().is_some_and(|r| r.starts_with(with))
}

const POLICE_FEES: &str = "kind: FeeSchedule\nname: police\nspec:\n  currency: USD\n  base_cents: 1500\n  per_minute_cents: 250\n  per_file_cents: 75\n";

/// The fee the police schedule gives a manifest's files over `from..until`:
/// minutes inside the range (a started one whole), files counted.
fn expected_fee(m: &serde_json::Value, from: Timestamp, until: Timestamp) -> (u64, u64, u64) {
    let files = m["files"].as_array().unwrap();
    let ms: i64 = files
        .iter()
        .map(|f| {
            let s: Timestamp = f["start"].as_str().unwrap().parse().unwrap();
            let e: Timestamp = f["end"].as_str().unwrap().parse().unwrap();
            let (s, e) = (s.max(from), e.min(until));
            (e.as_millisecond() - s.as_millisecond()).max(0)
        })
        .sum();
    let minutes = (ms as u64).div_ceil(60_000);
    let n = files.len() as u64;
    (minutes, n, 1500 + 250 * minutes + 75 * n)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_requests_are_fulfilled_with_a_masked_copy_and_its_fee() {
    servers::require_tools();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let port = servers::free_port();
    let _cam = servers::RtspServer::start(port, &["/cam=bars:320x240"]);
    let ca = d.join("ca.pem");
    let mut cfg = ctl::config_embedded(&d.join("store"));
    cfg.tls.ca_cert_file = Some(ca.clone());
    let h = ctl::start(cfg, None).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    let token = agent::enroll_token(&h, "city-hall").await;
    let assigned = cam1_manifest(port, "\n  privacy_masks:\n    - name: window-a\n      polygon: [[0, 0], [0.5, 0], [0.5, 0.25], [0, 0.25]]");
    let mgr = ctl::user(&h, "m-police", &["dept_manager"], "police").await;
    let parks = ctl::user(&h, "m-parks", &["dept_manager"], "parks").await;
    let chief = ctl::qualified_user(&h, "c", "chief", "police").await;
    activate_cam1(&h, &assigned, &mgr, &chief).await;
    let cli = Cli {
        server: format!("https://127.0.0.1:{}", h.running.addr.port()),
        ca: ca.display().to_string(),
    };

    // ---------- fee schedules ----------
    let fees = write(&d, "fees.yaml", POLICE_FEES);
    // Wrong role, another department's manager: denied, audited.
    assert_ne!(cli.run(&chief, &["apply", "-f", &fees]).await, 0);
    assert_ne!(cli.run(&parks, &["apply", "-f", &fees]).await, 0);
    let denied: Vec<_> = entries(&h, "apply FeeSchedule")
        .await
        .into_iter()
        .filter(|e| result_starts(e, "denied"))
        .map(|e| e["actor"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(denied, ["c", "m-parks"], "both denials audited");
    // Bad values: the CLI's own check, then the controller's (whatever the client).
    for bad in [
        POLICE_FEES.replace("1500", "-1"),
        POLICE_FEES.replace("1500", "1000001"),
        POLICE_FEES.replace("1500", "15.5"),
        POLICE_FEES.replace("USD", "dollars"),
        POLICE_FEES.replace("  per_file_cents", "  per_page_cents"),
    ] {
        let f = write(&d, "bad.yaml", &bad);
        assert_ne!(cli.run(&mgr, &["apply", "-f", &f]).await, 0, "{bad}");
    }
    let raw = |who: &str, spec: serde_json::Value, name: &str| {
        let ch = h.channel.clone();
        let who = who.to_string();
        let name = name.to_string();
        async move {
            pb::objects_client::ObjectsClient::new(ch)
                .apply(ctl::req(
                    &who,
                    pb::ApplyRequest {
                        objects: vec![pb::Object {
                            kind: "FeeSchedule".into(),
                            name,
                            json: serde_json::to_vec(&spec).unwrap(),
                            revision: 0,
                        }],
                        source: "raw.json".into(),
                        dry_run: false,
                    },
                ))
                .await
        }
    };
    let e = raw(
        &mgr,
        serde_json::json!({"currency": "usd", "base_cents": -5, "per_minute_cents": 2_000_000, "per_file_cents": 0}),
        "police",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    for says in [
        "spec.currency",
        "spec.base_cents",
        "spec.per_minute_cents",
        "not negative",
    ] {
        assert!(e.message().contains(says), "{says}: {}", e.message());
    }
    let e = raw(
        &mgr,
        serde_json::json!({"base_cents": 5, "discount": 1}),
        "police",
    )
    .await
    .unwrap_err();
    assert!(e.message().contains("discount"), "{}", e.message());
    let e = raw(&h.admin, serde_json::json!({"base_cents": 5}), "nowhere")
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("Department \"nowhere\" does not exist"),
        "{}",
        e.message()
    );
    // The department's own manager applies it.
    assert_eq!(cli.run(&mgr, &["apply", "-f", &fees]).await, 0);
    let applied = entries(&h, "apply").await;
    assert!(applied.iter().any(|e| e["actor"] == "m-police"
        && e["kind"] == "FeeSchedule"
        && e["name"] == "police"
        && e["result"] == "ok"));

    // ---------- the agent records ----------
    let adir = d.join("agent");
    let acfg = agent::config(h.running.addr.port(), &ca, &adir, &token.token);
    let sup = agent::supervisor(&adir);
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    let reporter = tokio::spawn(session.clone().run_reporter(stop.clone()));
    let runner = tokio::spawn(session.clone().run(stop.clone()));
    let recorded = wait_segments(&sup, 4, Duration::from_secs(60)).await;
    let (from, to) = (
        recorded[1].1,
        recorded[2].2 - SignedDuration::from_millis(1),
    );
    let (from_s, to_s) = (from.to_string(), to.to_string());

    // ---------- a records request ----------
    let pio = ctl::qualified_user(&h, "pio-1", "pio", "communications").await;
    let attorney = ctl::user(&h, "atty", &["city_attorney"], "").await;
    let clerk = ctl::user(&h, "clerk", &["city_clerk"], "").await;
    let requests = |id: &str| {
        let ch = h.channel.clone();
        let id = id.to_string();
        let pio = pio.clone();
        async move {
            let o = pb::records_requests_client::RecordsRequestsClient::new(ch)
                .show(ctl::req(&pio, pb::RecordsRequestId { id }))
                .await
                .unwrap()
                .into_inner();
            serde_json::from_slice::<serde_json::Value>(&o.json).unwrap()
        }
    };
    assert_eq!(
        cli.run(
            &clerk,
            &[
                "records-request",
                "open",
                "--requester",
                "Dubuque Telegraph Herald, R. Smith",
                "--describe",
                "Video of the lobby at noon",
                "--camera",
                "cam-1",
                "--from",
                &from_s,
                "--to",
                &to_s,
            ],
        )
        .await,
        0
    );
    let id = h
        .running
        .controller
        .all_records_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.describe == "Video of the lobby at noon")
        .unwrap()
        .id;
    let hold = requests(&id).await["hold"].as_str().unwrap().to_string();
    let out = d.join("release");
    let out_s = out.display().to_string();
    let fulfil_out = ["records-request", "fulfil", &id, "--out", &out_s];
    assert_eq!(
        cli.run(&pio, &["records-request", "review", &id, "--as", "pio"])
            .await,
        0
    );
    assert_eq!(
        cli.run(
            &attorney,
            &[
                "records-request",
                "advise",
                &id,
                "--as",
                "city_attorney",
                "--advice",
                "Release with the window masked"
            ]
        )
        .await,
        0
    );
    // Not released yet: refused, audited; nothing written.
    assert_ne!(cli.run(&pio, &fulfil_out).await, 0);
    assert!(!out.join("manifest.json").exists());
    // The attorney does not fulfil.
    assert_ne!(cli.run(&attorney, &fulfil_out).await, 0);
    assert_eq!(
        cli.run(
            &pio,
            &[
                "records-request",
                "decide",
                &id,
                "--release",
                "--reason",
                "Public interest; advice followed"
            ]
        )
        .await,
        0
    );
    // A request covering recordings is not closed without its copy.
    assert_ne!(cli.run(&pio, &["records-request", "fulfil", &id]).await, 0);
    assert_eq!(requests(&id).await["stage"], "released");
    let fulfils = entries(&h, "records.fulfil").await;
    assert_eq!(
        fulfils
            .iter()
            .filter(|e| result_starts(e, "refused"))
            .count(),
        2,
        "before the release, and without --out: {fulfils:?}"
    );
    assert!(fulfils
        .iter()
        .any(|e| e["actor"] == "atty" && result_starts(e, "denied")));

    // Released: the masked copy, tied to the request, with its fee.
    assert_eq!(cli.run(&pio, &fulfil_out).await, 0, "fulfil --out");
    let manifest_bytes = std::fs::read(out.join("manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(m["records_request"], id.as_str());
    assert_eq!(m["format"], "camplane-export/3", "masked");
    let masked = m["masked_files"].as_array().unwrap();
    assert!(!masked.is_empty());
    for f in masked {
        assert!(out.join(f["name"].as_str().unwrap()).exists());
    }
    for f in m["files"].as_array().unwrap() {
        assert!(
            !out.join(f["name"].as_str().unwrap()).exists(),
            "no original in a release"
        );
    }
    assert!(
        !String::from_utf8_lossy(&manifest_bytes).contains("R. Smith"),
        "the manifest names the request, not the requester"
    );
    let (minutes, files, cents) = expected_fee(&m, from, to);
    assert_eq!(m["fee"]["cents"], cents, "{}", m["fee"]);
    assert_eq!(m["fee"]["minutes"], minutes);
    assert_eq!(m["fee"]["files"], files);
    assert_eq!(m["fee"]["department"], "police");
    assert_eq!(m["fee"]["schedule"]["base_cents"], 1500);
    assert_eq!(
        cli.run(&pio, &["export", "verify", &out_s]).await,
        0,
        "export verify"
    );
    let rr = requests(&id).await;
    assert_eq!(rr["stage"], "fulfilled");
    assert_eq!(rr["fee"]["cents"], cents);
    assert_eq!(
        rr["export"]["manifest_sha256"],
        hex::encode(sha2::Sha256::digest(&manifest_bytes)),
        "the manifest written is the one recorded"
    );
    let held = h
        .running
        .controller
        .list(camplane_config::model::Kind::LegalHold)
        .unwrap()
        .into_iter()
        .find(|(o, _)| o.name == hold)
        .unwrap()
        .0;
    assert!(
        !held.status["released_at"].is_null(),
        "the hold is released"
    );
    // Audited: the copy (with the request and the fee), then the fulfilment.
    let ex = entries(&h, "recordings.export").await;
    let copy = ex
        .iter()
        .find(|e| e["result"] == "ok" && e["details"]["records_request"] == id.as_str())
        .expect("the copy's audit entry");
    assert_eq!(copy["actor"], "pio-1");
    assert_eq!(copy["details"]["masked"], true);
    assert_eq!(copy["details"]["fee"]["cents"], cents);
    let done = entries(&h, "records.fulfil").await;
    let done = done
        .iter()
        .find(|e| e["result"] == "ok")
        .expect("records.fulfil ok");
    assert_eq!(done["details"]["fee"]["cents"], cents);
    assert_eq!(
        done["details"]["manifest_sha256"],
        rr["export"]["manifest_sha256"]
    );
    assert_eq!(done["details"]["hold_released"], hold.as_str());
    assert_eq!(done["details"]["export_audit_seq"], copy["seq"]);
    // Closed: a second fulfilment is refused.
    let again = d.join("again");
    assert_ne!(
        cli.run(
            &pio,
            &[
                "records-request",
                "fulfil",
                &id,
                "--out",
                &again.display().to_string()
            ]
        )
        .await,
        0
    );

    // ---------- exports: outside recipients pay, the police's own use does not ----------
    let export = |out: &Path, recipient: &str, police_use: bool| {
        let mut a: Vec<String> = [
            "recordings",
            "export",
            "--camera",
            "cam-1",
            "--from",
            &from_s,
            "--to",
            &to_s,
            "--case",
            "26-04120",
            "--out",
            &out.display().to_string(),
            "--recipient",
            recipient,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if police_use {
            a.push("--police-use".into());
        }
        a
    };
    let run = |token: String, args: Vec<String>| {
        let cli = &cli;
        async move {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            cli.run(&token, &a).await
        }
    };
    let manifest = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
    };
    let outside = d.join("outside");
    assert_eq!(
        run(
            chief.clone(),
            export(&outside, "A. Lawyer, Smith & Jones LLP", false)
        )
        .await,
        0
    );
    let mo = manifest(&outside);
    let (_, _, cents_out) = expected_fee(&mo, from, to);
    assert_eq!(mo["fee"]["cents"], cents_out);
    assert_eq!(mo["recipient"], "A. Lawyer, Smith & Jones LLP");
    let police = d.join("police");
    assert_eq!(
        run(
            chief.clone(),
            export(&police, "Det. A. Jones, Dubuque County Attorney", true)
        )
        .await,
        0
    );
    let mp = manifest(&police);
    assert!(mp.get("fee").is_none(), "the police's own copy has no fee");
    assert_eq!(mp["police_use"], true, "and says why, signed");
    for dir in [&outside, &police] {
        assert_eq!(
            cli.run(&chief, &["export", "verify", &dir.display().to_string()])
                .await,
            0
        );
    }
    // Someone outside the police, authorized by the chief to copy, cannot
    // claim police use (denied, audited); their copy is charged.
    let vp = ctl::qualified_user(&h, "v-parks", "viewer", "parks").await;
    assert_eq!(
        cli.run(
            &chief,
            &[
                "recordings",
                "authorize",
                "--user",
                "v-parks",
                "--camera",
                "cam-1",
                "--until",
                "2099-01-01T00:00:00Z",
                "--reason",
                "copies for the parks board",
                "--copy"
            ]
        )
        .await,
        0
    );
    let parks_copy = d.join("parks");
    assert_ne!(
        run(
            vp.clone(),
            export(&parks_copy, "B. Board, Parks Board", true)
        )
        .await,
        0
    );
    assert_eq!(
        run(
            vp.clone(),
            export(&parks_copy, "B. Board, Parks Board", false)
        )
        .await,
        0
    );
    assert_eq!(manifest(&parks_copy)["fee"]["cents"], cents_out);
    let ex = entries(&h, "recordings.export").await;
    let by_chief: Vec<_> = ex
        .iter()
        .filter(|e| e["actor"] == "c" && e["result"] == "ok")
        .collect();
    assert_eq!(by_chief.len(), 2);
    assert_eq!(by_chief[0]["details"]["fee"]["cents"], cents_out);
    assert_eq!(by_chief[0]["details"]["police_use"], false);
    assert!(by_chief[1]["details"]["fee"].is_null());
    assert_eq!(by_chief[1]["details"]["police_use"], true);
    let by_parks: Vec<_> = ex.iter().filter(|e| e["actor"] == "v-parks").collect();
    assert_eq!(by_parks.len(), 2);
    assert!(
        result_starts(by_parks[0], "denied") && by_parks[0]["details"]["police_use"] == true,
        "{:?}",
        by_parks[0]
    );
    assert_eq!(by_parks[1]["details"]["fee"]["cents"], cents_out);

    // The month's audit report sums the copies and their fees per department:
    // the records copy and two charged exports, and the police's own copy
    // without a fee (the refused one is not a copy).
    let auditor = ctl::user(&h, "aud", &["auditor"], "").await;
    let at: Timestamp = copy["at"].as_str().unwrap().parse().unwrap();
    let month = at
        .in_tz("America/Chicago")
        .unwrap()
        .strftime("%Y-%m")
        .to_string();
    let report = d.join("report");
    assert_eq!(
        cli.run(
            &auditor,
            &[
                "audit",
                "report",
                "--month",
                &month,
                "--out",
                &report.display().to_string()
            ]
        )
        .await,
        0
    );
    let csv = std::fs::read_to_string(report.join("report.csv")).unwrap();
    let fees: Vec<&str> = csv.lines().filter(|l| l.starts_with("fees,")).collect();
    let cell = |row: &str, col: &str| {
        fees.iter()
            .find(|l| l.starts_with(&format!("fees,{row},{col},")))
            .map(|l| l.splitn(4, ',').nth(3).unwrap().to_string())
    };
    let charged = cents + 2 * cents_out;
    // Rows by (department, currency): the police's copy without a fee has none.
    for (row, col, want) in [
        ("1", "department", "police".to_string()),
        ("1", "copies", "1".into()),
        ("1", "police use (no fee)", "1".into()),
        ("1", "fees", "no fee".into()),
        ("2", "department", "police".into()),
        ("2", "copies", "3".into()),
        ("2", "police use (no fee)", "0".into()),
        (
            "2",
            "fees",
            format!("{}.{:02} USD", charged / 100, charged % 100),
        ),
    ] {
        assert_eq!(cell(row, col), Some(want), "{row} {col}: {fees:?}");
    }

    // Nothing about the requester in the audit log.
    let log = ctl::audit_log(&h).await;
    assert!(!serde_json::to_string(&log).unwrap().contains("R. Smith"));

    stop.cancel();
    let _ = reporter.await;
    let _ = runner.await;
    h.cancel.cancel();
}
