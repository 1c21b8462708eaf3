//! Any controller answers for every site, with real parts: three controllers
//! (TLS) on a three-member etcd and three agents spread across them, each
//! holding its own plate reads. A search through each controller reaches every
//! site; a crop, an export and a playback through a controller that does not
//! hold the agent come back whole. The controller holding the depot's agent dies in the middle
//! of a search: the search returns the other sites' reads once each and names
//! the depot, within the search's time; the agent reconnects to another
//! controller and a repeated search answers fully. Each search leaves exactly one
//! audit entry, written by the controller the user spoke to.

use camplane_agent::alpr::store::NewRead;
use camplane_agent::control::Session;
use camplane_agent::Supervisor;
use camplane_proto::v1 as pb;
use camplane_testkit::{agent, controller as ctl, servers};
use jiff::{SignedDuration, Timestamp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

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
const SITE_NAMES: [&str; 3] = ["city-hall", "depot", "airport"];

/// Copies one direction; while `cut`, neither reads nor writes.
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

async fn search(ch: &tonic::transport::Channel, token: &str, now: Timestamp) -> pb::SearchResponse {
    pb::alpr_client::AlprClient::new(ch.clone())
        .search(ctl::req(
            token,
            pb::SearchRequest {
                plate: "ABC1234".into(),
                case_number: "26-04711".into(),
                purpose: "stolen_vehicle".into(),
                from: (now - SignedDuration::from_hours(24 * 30)).to_string(),
                to: (now + SignedDuration::from_hours(1)).to_string(),
                sites: vec![],
                timeout_ms: 3000,
                for_agency: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

fn sites_of(r: &pb::SearchResponse) -> Vec<String> {
    let reads: Vec<serde_json::Value> = serde_json::from_slice(&r.reads_json).unwrap();
    let mut s: Vec<String> = reads
        .iter()
        .map(|x| x["site"].as_str().unwrap().to_string())
        .collect();
    s.sort();
    s
}

/// The presence records: agent -> (controller, address).
async fn presence(h: &ctl::Harness) -> std::collections::HashMap<String, (String, String)> {
    let l = h.running.controller.store.list("presence/").await.unwrap();
    l.kvs
        .iter()
        .map(|kv| {
            let v: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
            (
                v["agent"].as_str().unwrap().to_string(),
                (
                    v["controller"].as_str().unwrap().to_string(),
                    v["address"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_controller_answers_for_every_site() {
    let etcd = servers::EtcdCluster::start(3);
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ctl::ADMIN_PW);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    // The depot's controller (1) is reached by the others through a relay the test holds.
    let ports: Vec<u16> = (0..3).map(|_| servers::free_port()).collect();
    let cut = Arc::new(AtomicBool::new(false));
    let relay_port = servers::relay(ports[1], cut.clone()).await;
    let mut hs = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut c = ctl::config_etcd(&etcd.endpoints()[i], "/route");
        c.store.etcd.as_mut().unwrap().endpoints = etcd.endpoints();
        c.listen = format!("127.0.0.1:{port}");
        c.tls.ca_cert_file = Some(ca.clone());
        if i == 1 {
            c.cluster.advertise = Some(format!("127.0.0.1:{relay_port}"));
        }
        hs.push(ctl::start(c, None).await);
    }
    let h0 = &hs[0];
    ctl::apply(h0, &h0.admin, ctl::CITY).await.unwrap();
    ctl::apply(h0, &h0.admin, SITES).await.unwrap();
    let now = Timestamp::now();

    // Agent i holds its session with controller i (and fails over to i + 1).
    let mut agents: Vec<(Arc<Session>, Arc<Supervisor>, CancellationToken)> = Vec::new();
    for (i, site) in SITE_NAMES.iter().enumerate() {
        let token = agent::enroll_token(h0, site).await;
        let adir = dir.path().join(site);
        let mut acfg = agent::config(ports[i], &ca, &adir, &token.token);
        acfg.controllers = vec![
            format!("https://127.0.0.1:{}", ports[i]),
            format!("https://127.0.0.1:{}", ports[(i + 1) % 3]),
        ];
        let sup = agent::supervisor(&adir);
        let cam = format!(
            "kind: Camera\nname: lpr-{i}\nspec:\n  site: {site}\n  department: police\n  kind: fixed\n  purpose: alpr\n  location: {{lat: 42.5006, lon: -90.6646}}\n  streams: {{main: \"rtsp://127.0.0.1:8554/lpr-{i}\"}}\n  agent: {site}-gw\n"
        );
        ctl::apply(h0, &h0.admin, &cam).await.unwrap();
        let t = now - SignedDuration::from_hours(24 * (i as i64 + 1));
        sup.reads()
            .append(read(&format!("lpr-{i}"), "ABC1234", t), None)
            .unwrap();
        agents.push((
            Session::new(acfg, sup.clone()).unwrap(),
            sup,
            CancellationToken::new(),
        ));
    }
    // cam-1 is city hall's gateway's (a camera's video is asked of its own agent).
    ctl::apply(
        h0,
        &h0.admin,
        &ctl::CITY.replace(
            "  placement_request: req-1",
            "  placement_request: req-1\n  agent: city-hall-gw",
        ),
    )
    .await
    .unwrap();
    // The depot's read with its crop; city hall's segments of cam-1.
    let jpeg: Vec<u8> = b"\xff\xd8\xff\xe0 a plate crop \xff\xd9".to_vec();
    let depot_read = agents[1]
        .1
        .reads()
        .append(
            read("lpr-1", "XYZ9876", now - SignedDuration::from_hours(2)),
            Some(&jpeg),
        )
        .unwrap();
    let t0 = now - SignedDuration::from_hours(3);
    let mut names = Vec::new();
    {
        let idx = agents[0].1.index();
        let mut idx = idx.lock().unwrap();
        let cam_dir = idx.camera_dir("cam-1");
        std::fs::create_dir_all(&cam_dir).unwrap();
        for (i, size) in [70_000usize, 2_500_000].into_iter().enumerate() {
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
    for (s, _, stop) in &agents {
        tokio::spawn(s.clone().run(stop.clone()));
    }
    // Each agent's presence record names the controller it connected to.
    let t = Instant::now();
    loop {
        let p = presence(h0).await;
        let mut holders: Vec<&String> = p.values().map(|(c, _)| c).collect();
        holders.sort();
        holders.dedup();
        if p.len() == 3 && holders.len() == 3 {
            assert_eq!(p["depot-gw"].1, format!("127.0.0.1:{relay_port}"));
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "presence: {p:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let op = ctl::qualified_user(h0, "op", "alpr_operator", "police").await;
    // A search through each controller reaches every site.
    for h in &hs {
        let r = search(&h.channel, &op, now).await;
        assert_eq!(
            r.answered,
            vec!["airport-gw", "city-hall-gw", "depot-gw"],
            "{:?}",
            r.unreachable
        );
        assert!(r.unreachable.is_empty());
        assert_eq!(sites_of(&r), vec!["airport", "city-hall", "depot"]);
    }
    // A crop through a controller that does not hold the depot's agent.
    let c = pb::recordings_client::RecordingsClient::new(h0.channel.clone())
        .crop(ctl::req(
            &op,
            pb::CropRequest {
                read_id: depot_read.id.clone(),
                case_number: "26-04711".into(),
                sites: vec![],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.jpeg, jpeg);
    assert_eq!(c.agent, "depot-gw");
    // An export through a controller that does not hold city hall's agent:
    // every file, its bytes in parts of at most 1 MiB, and a signed manifest.
    let chief = ctl::qualified_user(h0, "chief", "chief", "police").await;
    let mut s = pb::recordings_client::RecordingsClient::new(hs[2].channel.clone())
        .export(ctl::req(
            &chief,
            pb::ExportRequest {
                camera: "cam-1".into(),
                from: (t0 - SignedDuration::from_mins(5)).to_string(),
                to: (t0 + SignedDuration::from_hours(1)).to_string(),
                case_number: "26-04711".into(),
                out_dir: "/evidence/26-04711".into(),
                recipient: "A. Jones, Dubuque County Attorney".into(),
                masked: false,
                police_use: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let (mut files, mut bytes, mut manifest) = (Vec::new(), 0usize, false);
    while let Some(m) = s.message().await.unwrap() {
        match m.part {
            Some(pb::export_chunk::Part::File(f)) => files.push(f.name),
            Some(pb::export_chunk::Part::Data(d)) => bytes += d.len(),
            Some(pb::export_chunk::Part::ManifestJson(_)) => manifest = true,
            Some(pb::export_chunk::Part::RecordsRequestJson(_)) | None => {}
        }
    }
    assert_eq!(files, names);
    assert_eq!(bytes, 70_000 + 2_500_000);
    assert!(manifest);

    // A playback through a controller that does not hold city hall's agent: the
    // agent remuxes two real 2 s TS segments (an hour before the export's) into
    // fragmented MP4 and the chunks come back through the holder.
    let p0 = t0 - SignedDuration::from_hours(1);
    {
        let idx = agents[0].1.index();
        let mut idx = idx.lock().unwrap();
        let cam_dir = idx.camera_dir("cam-1");
        for i in 0..2i64 {
            let start = p0 + SignedDuration::from_secs(2 * i);
            let nonce = 0x200 + i as u32;
            let path = cam_dir.join(camplane_agent::index::segment_file_name(
                start.as_millisecond(),
                nonce,
            ));
            let ok = std::process::Command::new("ffmpeg")
                .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
                .arg("testsrc=size=160x120:rate=25:duration=2")
                .args(["-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "25"])
                .args(["-f", "mpegts"])
                .arg(&path)
                .status()
                .expect("ffmpeg on PATH")
                .success();
            assert!(ok);
            let (n, sha) = camplane_agent::record::hash_file(&path).unwrap();
            let end = start + SignedDuration::from_secs(2);
            idx.append(
                "cam-1",
                start.as_millisecond(),
                end.as_millisecond(),
                n,
                nonce,
                sha,
            )
            .unwrap();
        }
    }
    let mut s = pb::viewing_client::ViewingClient::new(hs[2].channel.clone())
        .playback(ctl::req(
            &chief,
            pb::PlaybackRequest {
                camera: "cam-1".into(),
                from: p0.to_string(),
                to: (p0 + SignedDuration::from_secs(4)).to_string(),
                reason: "route test".into(),
                unmasked: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut mp4 = Vec::new();
    while let Some(m) = s.message().await.unwrap() {
        mp4.extend_from_slice(&m.data);
    }
    assert!(mp4.windows(4).any(|w| w == b"moof"), "no fragments");
    assert!(mp4.windows(4).any(|w| w == b"avc1"));

    // The depot's controller dies while a search through controller 0 waits for it.
    cut.store(true, Ordering::SeqCst);
    let t = Instant::now();
    let searching = {
        let (ch, op) = (h0.channel.clone(), op.clone());
        tokio::spawn(async move { search(&ch, &op, now).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    hs[1].cancel.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cut.store(false, Ordering::SeqCst);
    let r = searching.await.unwrap();
    eprintln!("partial answer after {:?}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "bounded by the search's time"
    );
    assert_eq!(r.answered, vec!["airport-gw", "city-hall-gw"]);
    assert_eq!(r.unreachable.len(), 1, "{:?}", r.unreachable);
    assert_eq!(r.unreachable[0].agent, "depot-gw");
    assert_eq!(sites_of(&r), vec!["airport", "city-hall"], "nothing twice");

    // The depot's agent reconnects to controller 2; a repeated search answers fully.
    let t = Instant::now();
    loop {
        let p = presence(h0).await;
        if p.get("depot-gw")
            .is_some_and(|(_, a)| *a == format!("127.0.0.1:{}", ports[2]))
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the depot's agent reconnected: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for h in [&hs[0], &hs[2]] {
        let r = search(&h.channel, &op, now).await;
        assert_eq!(
            r.answered,
            vec!["airport-gw", "city-hall-gw", "depot-gw"],
            "{:?}",
            r.unreachable
        );
        assert_eq!(sites_of(&r), vec!["airport", "city-hall", "depot"]);
    }
    // One audit entry per search (3 + 1 + 2), each by the controller spoken to.
    let searches = ctl::audit_log(h0)
        .await
        .into_iter()
        .filter(|e| e["action"] == "alpr.search")
        .count();
    assert_eq!(searches, 6);
    for (_, _, stop) in &agents {
        stop.cancel();
    }
}

/// The `Peer` service is for controllers only: a user's token without a
/// certificate and an agent's certificate are refused; a controller peer
/// certificate from the same CA is let in (and told the agent is not held here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_service_is_for_controllers_only() {
    let dir = tempfile::tempdir().unwrap();
    let h = ctl::start(ctl::config_embedded(&dir.path().join("store")), None).await;
    let pki = camplane_controller::pki::Pki::load_or_create(
        &h.running.controller.store,
        "Testville",
        Timestamp::now(),
    )
    .await
    .unwrap();
    let admin = h.admin.clone();
    let ask = |ch: tonic::transport::Channel| {
        let admin = admin.clone();
        async move {
            pb::peer_client::PeerClient::new(ch)
                .ask(ctl::req(
                    &admin,
                    pb::PeerQuery {
                        agent: "city-hall-gw".into(),
                        kind: camplane_proto::kinds::QueryKind::Reads.as_str().into(),
                        json: b"{}".to_vec(),
                        timeout_ms: 1000,
                        traceparent: String::new(),
                    },
                ))
                .await
                .map(|_| ())
        }
    };
    let port = h.running.addr.port();
    let e = ask(h.channel.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    let (key, csr) = camplane_controller::pki::agent_key_and_csr("x").unwrap();
    let (cert, _, _) = pki
        .sign_agent(&csr, "city-hall-gw", Timestamp::now(), 30)
        .unwrap();
    let agent_ch = ctl::tls_channel(port, &h.running.ca_pem, Some((&cert, &key))).await;
    let e = ask(agent_ch).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    // A controller peer certificate from the same CA, but of no running
    // controller (never registered, or its controller stopped): refused.
    let (cert, key) = pki
        .controller_peer_identity("c-test", Timestamp::now())
        .unwrap();
    let peer_ch = ctl::tls_channel(port, &h.running.ca_pem, Some((&cert, &key))).await;
    let e = ask(peer_ch.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("not a running controller's"), "{e:?}");
    // Registered as a running controller's: let in (and told the agent is not
    // held here); its registration gone, refused again.
    let store = &h.running.controller.store;
    let key_of = format!(
        "{}{}",
        camplane_controller::alpr::route::PEERS,
        camplane_controller::pki::pem_serial(&cert).unwrap()
    );
    store
        .txn(
            vec![],
            vec![camplane_controller::store::Op::Put(
                key_of.clone(),
                b"{}".to_vec(),
            )],
        )
        .await
        .unwrap();
    let e = ask(peer_ch.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    store
        .txn(vec![], vec![camplane_controller::store::Op::Delete(key_of)])
        .await
        .unwrap();
    let e = ask(peer_ch).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    // The controller's own certificate is registered while it runs.
    let peers = store
        .list(camplane_controller::alpr::route::PEERS)
        .await
        .unwrap();
    assert_eq!(peers.kvs.len(), 1, "this controller's own peer certificate");
}
