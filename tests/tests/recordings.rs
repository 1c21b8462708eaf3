//! Recording access and exports with real parts: a controller (embedded store,
//! TLS, a manual clock) and an agent that enrolled with a one-time token and
//! holds segments of `cam-1` (police) written through its index with their real
//! hashes. Through the real CLI code (`camplane recordings export`, `camplane
//! export verify`): the installing department's viewer, who may view, is
//! refused a copy (audited) until the chief authorizes copying; the copy names
//! its recipient in the audit entry and the signed manifest, and verifies
//! offline; one flipped byte or a missing file fails naming the file; a viewer
//! of another department is refused (audited) with a view authorization and
//! until the chief authorizes a copy, and again after it ends; an export
//! without a proper recipient is refused (audited); the output directory is
//! only recorded as the client declared it; a plate crop is fetched with a case
//! number and audited.

mod common;

use camplane_agent::alpr::store::NewRead;
use camplane_agent::control::Session;
use camplane_controller::clock::ManualClock;
use camplane_controller::recordings::{verify_export, ExportProblem};
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl};
use common::{entries, Cli};
use jiff::{SignedDuration, Timestamp};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::Code;

/// Who receives the copies of this test.
const RECIPIENT: &str = "A. Jones, Dubuque County Attorney";

async fn export(
    h: &ctl::Harness,
    token: &str,
    from: &str,
    to: &str,
    case: &str,
    out: &Path,
) -> Result<(), tonic::Status> {
    export_for(h, token, from, to, case, out, RECIPIENT).await
}

async fn export_for(
    h: &ctl::Harness,
    token: &str,
    from: &str,
    to: &str,
    case: &str,
    out: &Path,
    recipient: &str,
) -> Result<(), tonic::Status> {
    let mut s = pb::recordings_client::RecordingsClient::new(h.channel.clone())
        .export(ctl::req(
            token,
            pb::ExportRequest {
                camera: "cam-1".into(),
                from: from.into(),
                to: to.into(),
                case_number: case.into(),
                out_dir: out.display().to_string(),
                recipient: recipient.into(),
                masked: false,
                police_use: false,
            },
        ))
        .await?
        .into_inner();
    while s.message().await?.is_some() {}
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_verify_refuse_authorize_and_crop() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let ca = dir_path.join("ca.pem");
    let exports = dir_path.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let mut cfg = ctl::config_embedded(&dir_path.join("store"));
    cfg.tls.ca_cert_file = Some(ca.clone());
    let now = Timestamp::now();
    let clock = ManualClock::new(now);
    let h = ctl::start(cfg, Some(Arc::new(clock.clone()))).await;
    ctl::apply(&h, &h.admin, ctl::CITY).await.unwrap();
    let cli = Cli {
        server: format!("https://127.0.0.1:{}", h.running.addr.port()),
        ca: ca.display().to_string(),
    };

    // The city-hall gateway, holding three segments of cam-1 (one over 1 MiB,
    // so it travels in several chunks) and a read with its crop.
    let token = agent::enroll_token(&h, "city-hall").await;
    // cam-1 and the reader lpr-1 are that gateway's (a camera's video and crops
    // are asked of, and taken from, its own agent only).
    agent::city_hall_gw_cameras(&h).await;
    let adir = dir_path.join("agent");
    let acfg = agent::config(h.running.addr.port(), &ca, &adir, &token.token);
    let sup = agent::supervisor(&adir);
    let t0 = now - SignedDuration::from_hours(3);
    let mut names = Vec::new();
    {
        let idx = sup.index();
        let mut idx = idx.lock().unwrap();
        let cam_dir = idx.camera_dir("cam-1");
        std::fs::create_dir_all(&cam_dir).unwrap();
        for (i, size) in [70_000usize, 2_500_000, 5_000].into_iter().enumerate() {
            let start = t0 + SignedDuration::from_mins(10 * i as i64);
            let end = start + SignedDuration::from_mins(10);
            let nonce = 0x100 + i as u32;
            let name = camplane_agent::index::segment_file_name(start.as_millisecond(), nonce);
            let bytes: Vec<u8> = (0..size).map(|j| (j * 31 + i * 7) as u8).collect();
            let path = cam_dir.join(&name);
            std::fs::write(&path, &bytes).unwrap();
            let (n, sha) = camplane_agent::record::hash_file(&path).unwrap();
            idx.append(
                "cam-1",
                start.as_millisecond(),
                end.as_millisecond(),
                n,
                nonce,
                sha,
            )
            .unwrap();
            names.push(name);
        }
    }
    let jpeg: Vec<u8> = b"\xff\xd8\xff\xe0 a plate crop \xff\xd9".to_vec();
    let read = sup
        .reads()
        .append(
            NewRead {
                camera: "lpr-1".into(),
                plate: "ABC1234".into(),
                confidence: 0.9,
                time: now - SignedDuration::from_hours(1),
                first: now - SignedDuration::from_hours(1),
                last: now - SignedDuration::from_hours(1),
                frames: 3,
                bbox: [10, 20, 200, 60],
                location: None,
            },
            Some(&jpeg),
        )
        .unwrap();
    let session = Session::new(acfg, sup.clone()).unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(session.clone().run(stop.clone()));
    for _ in 0..100 {
        if session.persisted().is_ok_and(|p| p.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pd = ctl::qualified_user(&h, "pd-viewer", "viewer", "police").await;
    let parks = ctl::qualified_user(&h, "parks-viewer", "viewer", "parks").await;
    let chief = ctl::qualified_user(&h, "chief", "chief", "police").await;
    let noack = ctl::user(&h, "pd-new", &["viewer"], "police").await;

    let from = (t0 - SignedDuration::from_mins(5)).to_string();
    let to = (t0 + SignedDuration::from_hours(1)).to_string();

    // 0. The installing department's viewer may view, but not copy: refused,
    // audited, naming the chief's copy authorization.
    let e = export(&h, &pd, &from, &to, "26-04711", &exports.join("case-0"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("authorize --copy"), "{}", e.message());
    let e = entries(&h, "recordings.export").await;
    assert_eq!(e.len(), 1);
    assert!(e[0]["result"].as_str().unwrap().starts_with("denied"));
    // The chief authorizes the copy (audited as such).
    let copy_until = (now + SignedDuration::from_hours(2)).to_string();
    assert_eq!(
        cli.run(
            &chief,
            &[
                "recordings",
                "authorize",
                "--copy",
                "--user",
                "pd-viewer",
                "--camera",
                "cam-1",
                "--until",
                &copy_until,
                "--reason",
                "evidence for the county attorney",
            ],
        )
        .await,
        0
    );
    let a = entries(&h, "recordings.authorize_copy").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["actor"], "chief");
    assert_eq!(a[0]["result"], "ok");
    assert_eq!(a[0]["after"]["right"], "copy");

    // 1. Then the viewer exports, naming the recipient; the copy verifies.
    let out = exports.join("case-1");
    let o = out.display().to_string();
    let code = cli
        .run(
            &pd,
            &[
                "recordings",
                "export",
                "--camera",
                "cam-1",
                "--from",
                &from,
                "--to",
                &to,
                "--case",
                "26-04711",
                "--out",
                &o,
                "--recipient",
                RECIPIENT,
            ],
        )
        .await;
    assert_eq!(code, 0);
    // Evidence stays the owner's: every exported file, the manifest too.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for n in &names {
        assert!(out.join(n).exists(), "{n} exported");
        assert_eq!(mode(&out.join(n)), 0o600, "{n}");
    }
    assert_eq!(mode(&out.join("manifest.json")), 0o600);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["case_number"], "26-04711");
    assert_eq!(m["requester"], "pd-viewer");
    assert_eq!(m["camera"], "cam-1");
    assert_eq!(m["recipient"], RECIPIENT);
    assert_eq!(m["format"], "camplane-export/2");
    assert_eq!(m["files"].as_array().unwrap().len(), 3);
    assert_eq!(
        m["files"][1]["prev_sha256"], m["files"][0]["sha256"],
        "the index's chain is in the manifest"
    );
    assert!(m["signature"].as_str().is_some_and(|s| s.len() > 60));
    assert_eq!(cli.run(&pd, &["export", "verify", &o]).await, 0);
    let ca_pem = std::fs::read_to_string(&ca).unwrap();
    assert_eq!(verify_export(&out, &ca_pem), Ok(3));
    let e = entries(&h, "recordings.export").await;
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(e[1]["actor"], "pd-viewer");
    assert_eq!(e[1]["result"], "ok");
    assert_eq!(e[1]["details"]["case_number"], "26-04711");
    assert_eq!(e[1]["details"]["recipient"], RECIPIENT);
    assert!(e[1]["details"]["basis"]
        .as_str()
        .unwrap()
        .starts_with("copy authorized by chief"));
    assert_eq!(e[1]["details"]["files"], 3);
    // Every export names its recipient: none, one without an agency, or one
    // that would forge a line of the audit display, is refused and audited.
    for bad in ["", "A. Jones", "A. Jones, DA\nadmin audit.cleared ok"] {
        let e = export_for(&h, &pd, &from, &to, "26-04711", &exports.join("r"), bad)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad:?}: {e:?}");
        assert!(e.message().contains("NAME, AGENCY"), "{}", e.message());
    }
    let e = entries(&h, "recordings.export").await;
    assert_eq!(e.len(), 5, "{e:#?}");
    assert!(e[2..]
        .iter()
        .all(|x| x["result"].as_str().unwrap().starts_with("refused")));
    assert!(!e[4]["details"]["recipient"]
        .as_str()
        .unwrap()
        .contains('\n'));
    // `--out` must be new or empty.
    assert_ne!(
        cli.run(
            &pd,
            &[
                "recordings",
                "export",
                "--camera",
                "cam-1",
                "--from",
                &from,
                "--to",
                &to,
                "--case",
                "26-04711",
                "--out",
                &o,
                "--recipient",
                RECIPIENT,
            ],
        )
        .await,
        0
    );

    // 2. One flipped byte: verify fails naming that file; restored, it passes.
    let victim = out.join(&names[1]);
    let good = std::fs::read(&victim).unwrap();
    let mut bad = good.clone();
    bad[1_234_567] ^= 0x01;
    std::fs::write(&victim, &bad).unwrap();
    match verify_export(&out, &ca_pem) {
        Err(ExportProblem::Altered(name, _)) => assert_eq!(name, names[1]),
        other => panic!("flipped byte: {other:?}"),
    }
    assert_eq!(cli.run(&pd, &["export", "verify", &o]).await, 1);
    std::fs::write(&victim, &good).unwrap();
    assert_eq!(verify_export(&out, &ca_pem), Ok(3));
    // A missing file.
    std::fs::rename(out.join(&names[2]), dir_path.join("moved")).unwrap();
    assert_eq!(
        verify_export(&out, &ca_pem),
        Err(ExportProblem::Missing(names[2].clone()))
    );
    assert_eq!(cli.run(&pd, &["export", "verify", &o]).await, 1);
    std::fs::rename(dir_path.join("moved"), out.join(&names[2])).unwrap();
    // An edited manifest (another case number) fails its signature.
    let mtext = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    std::fs::write(
        out.join("manifest.json"),
        mtext.replace("26-04711", "26-04712"),
    )
    .unwrap();
    assert!(matches!(
        verify_export(&out, &ca_pem),
        Err(ExportProblem::Manifest(_))
    ));
    std::fs::write(out.join("manifest.json"), mtext).unwrap();

    // 3. A viewer of another department, and one who has not acknowledged the
    // policy: refused, audited, nothing written.
    let out2 = exports.join("case-2");
    for (who, says) in [(&parks, "authorize --copy"), (&noack, "policy")] {
        let e = export(&h, who, &from, &to, "26-04711", &out2)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        assert!(e.message().contains(says), "{}", e.message());
    }
    assert!(!out2.exists());
    let e = entries(&h, "recordings.export").await;
    assert_eq!(e.len(), 7);
    assert!(e[5..]
        .iter()
        .all(|x| x["result"].as_str().unwrap().starts_with("denied")));
    assert_eq!(e[5]["actor"], "parks-viewer");

    // 4. The chief authorizes the parks viewer to view cam-1 for ten minutes:
    // still no copy. Then to copy it for ten minutes.
    let until = (now + SignedDuration::from_mins(10)).to_string();
    // Only the chief may.
    let e = pb::recordings_client::RecordingsClient::new(h.channel.clone())
        .authorize(ctl::req(
            &pd,
            pb::RecordingAuthorizeRequest {
                user: "parks-viewer".into(),
                camera: "cam-1".into(),
                department: String::new(),
                until: until.clone(),
                reason: "assisting the case".into(),
                copy: true,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(
        cli.run(
            &chief,
            &[
                "recordings",
                "authorize",
                "--user",
                "parks-viewer",
                "--camera",
                "cam-1",
                "--until",
                &until,
                "--reason",
                "assisting the case",
            ],
        )
        .await,
        0
    );
    let a = entries(&h, "recordings.authorize").await;
    assert_eq!(a.last().unwrap()["actor"], "chief");
    assert_eq!(a.last().unwrap()["result"], "ok");
    let e = export(&h, &parks, &from, &to, "26-04711", &exports.join("case-3"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "viewing is not copying");
    assert_eq!(
        cli.run(
            &chief,
            &[
                "recordings",
                "authorize",
                "--copy",
                "--user",
                "parks-viewer",
                "--camera",
                "cam-1",
                "--until",
                &until,
                "--reason",
                "assisting the case",
            ],
        )
        .await,
        0
    );
    export(&h, &parks, &from, &to, "26-04711", &exports.join("case-3"))
        .await
        .unwrap();
    let e = entries(&h, "recordings.export").await;
    assert_eq!(e.last().unwrap()["result"], "ok");
    assert!(e.last().unwrap()["details"]["basis"]
        .as_str()
        .unwrap()
        .starts_with("copy authorized by chief"));
    // After its end time: refused again.
    clock.advance(Duration::from_secs(11 * 60));
    let e = export(&h, &parks, &from, &to, "26-04711", &exports.join("case-4"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // 5. The directory is the client's: the controller writes nothing there and
    // only records the one the client declared (exports.allowed_dir is gone).
    let elsewhere = dir_path.join("elsewhere");
    export(&h, &pd, &from, &to, "26-04711", &elsewhere)
        .await
        .unwrap();
    assert!(!elsewhere.exists());
    let e = entries(&h, "recordings.export").await;
    assert_eq!(
        e.last().unwrap()["details"]["out_dir"],
        elsewhere.display().to_string()
    );
    // Longer than 24 hours, and a bad case number: refused.
    let long_to = (t0 + SignedDuration::from_hours(25)).to_string();
    let e = export(&h, &pd, &from, &long_to, "26-04711", &exports.join("x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("24 hours"), "{}", e.message());
    let e = export(
        &h,
        &pd,
        &from,
        &to,
        "26-04711; rm -rf /",
        &exports.join("x"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(!e.message().contains("rm -rf"), "{}", e.message());
    let e = entries(&h, "recordings.export").await;
    assert_eq!(e.len(), 13, "every refusal audited: {e:#?}");

    // 6. A plate crop, with a case number, audited before it is returned.
    let op = ctl::qualified_user(&h, "op", "alpr_operator", "police").await;
    let crop_file = dir_path.join("crop.jpg");
    let cf = crop_file.display().to_string();
    assert_ne!(
        cli.run(
            &op,
            &["search", "crop", &read.id, "--case", "nope", "--out", &cf]
        )
        .await,
        0
    );
    assert!(!crop_file.exists());
    assert_eq!(
        cli.run(
            &op,
            &["search", "crop", &read.id, "--case", "26-04711", "--out", &cf]
        )
        .await,
        0
    );
    assert_eq!(std::fs::read(&crop_file).unwrap(), jpeg);
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&crop_file).unwrap().permissions()
        ) & 0o777,
        0o600
    );
    let c = entries(&h, "alpr.crop").await;
    assert_eq!(c.len(), 2, "{c:#?}");
    assert!(c[0]["result"].as_str().unwrap().starts_with("refused"));
    assert_eq!(c[1]["result"], "ok");
    assert_eq!(c[1]["actor"], "op");
    assert_eq!(c[1]["details"]["case_number"], "26-04711");
    assert_eq!(c[1]["details"]["read_id"], read.id.as_str());
    assert_eq!(c[1]["details"]["camera"], "lpr-1");
    // A viewer may not fetch crops.
    let e = pb::recordings_client::RecordingsClient::new(h.channel.clone())
        .crop(ctl::req(
            &pd,
            pb::CropRequest {
                read_id: read.id.clone(),
                case_number: "26-04711".into(),
                sites: vec![],
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // 7. A segment altered on the site after it was written: the export stops
    // with DataLoss naming the file, no manifest is signed, and the failure is
    // audited beside the export's entry.
    let seg = {
        let idx = sup.index();
        let idx = idx.lock().unwrap();
        idx.camera_dir("cam-1").join(&names[0])
    };
    let mut b = std::fs::read(&seg).unwrap();
    b[100] ^= 0xff;
    std::fs::write(&seg, &b).unwrap();
    let out5 = exports.join("case-5");
    let code = cli
        .run(
            &pd,
            &[
                "recordings",
                "export",
                "--camera",
                "cam-1",
                "--from",
                &from,
                "--to",
                &to,
                "--case",
                "26-04711",
                "--out",
                &out5.display().to_string(),
                "--recipient",
                RECIPIENT,
            ],
        )
        .await;
    assert_eq!(code, 1);
    assert!(!out5.join("manifest.json").exists());
    let e = export(&h, &pd, &from, &to, "26-04711", &exports.join("case-6"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::DataLoss, "{e:?}");
    assert!(e.message().contains(&names[0]), "{}", e.message());
    let inc = entries(&h, "recordings.export.incomplete").await;
    assert_eq!(inc.len(), 2, "{inc:#?}");
    assert_eq!(inc[0]["actor"], "pd-viewer");
    assert!(inc[0]["result"].as_str().unwrap().contains(&names[0]));

    assert!(ctl::verify(&h).await.ok, "the audit chain holds");
    stop.cancel();
    h.cancel.cancel();
}
