//! Issue #22: a hostile client against a controller on loopback. Each test makes the
//! attack and shows it fails, beside the legitimate use.

use camplane_testkit::controller::*;
use camplane_testkit::http::{http_get, http_raw};

/// The portal and `/metrics` only publish: GET and HEAD are answered, anything else
/// is 405 at once, without reading the body the client declared (50 MB here, never sent).
#[tokio::test(flavor = "multi_thread")]
async fn the_portal_answers_get_and_head_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_embedded(dir.path());
    config.http_listen = Some("127.0.0.1:0".into());
    let h = start(config, None).await;
    let http = h.running.http_addr.unwrap();

    let (status, ctype, _) = http_get(http, "/metrics");
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    let (status, head) = http_raw(http, "HEAD", "/public/audit-checkpoint", "", b"");
    assert_eq!(status, 200, "{head}");

    for (method, path) in [
        ("POST", "/metrics"),
        ("PUT", "/public/"),
        ("DELETE", "/public/audit-checkpoint"),
        ("PATCH", "/"),
    ] {
        let (status, head) = http_raw(http, method, path, "Content-Length: 50000000\r\n", b"x");
        assert_eq!(status, 405, "{method} {path}: {head}");
        assert!(
            head.to_ascii_lowercase().contains("allow: get, head"),
            "{method} {path}: {head}"
        );
        // (http_raw gives up after 10 s: a server waiting for the 50 MB fails here.)
    }
    // The portal still serves after the refusals.
    assert_eq!(http_get(http, "/metrics").0, 200);
    // A month without its slash goes to the slash (its page's relative links
    // to log.csv and log.json resolve there).
    let (status, head) = http_raw(http, "GET", "/public/2026-10", "", b"");
    assert_eq!(status, 301, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("location: /public/2026-10/"),
        "{head}"
    );
}

/// The portal needs no sign-in, so anyone may open connections to it: at most
/// `http_max_connections` are open at once (one more is closed as it arrives,
/// counted), and one that sends no request headers gives its place back after
/// the header-read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_portal_connections_hold_at_most_http_max_connections() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_embedded(dir.path());
    config.http_listen = Some("127.0.0.1:0".into());
    config.http_max_connections = 3;
    let h = start(config, None).await;
    let http = h.running.http_addr.unwrap();
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(http).await.unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut over = tokio::net::TcpStream::connect(http).await.unwrap();
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), over.read(&mut b))
        .await
        .expect("the connection over the limit is closed at once");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert_eq!(
        h.running
            .controller
            .metrics
            .work_cancelled_of("http_connection_refused"),
        1
    );
    // The silent ones are closed after the header-read timeout; the portal
    // serves again.
    let t = std::time::Instant::now();
    for mut s in silent {
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), s.read(&mut b))
            .await
            .expect("closed within 20 s");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
    assert!(
        t.elapsed() >= std::time::Duration::from_secs(9),
        "{:?}",
        t.elapsed()
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let status = tokio::task::spawn_blocking(move || http_get(http, "/metrics").0)
        .await
        .unwrap();
    assert_eq!(status, 200);
}

/// A reply never exceeds the client's limit: `audit tail` comes in pages (the
/// server caps a page at 1000 entries and about 1 MiB), and walking the pages
/// gives the whole chain in order, nothing skipped or repeated.
#[tokio::test(flavor = "multi_thread")]
async fn audit_tail_comes_in_pages() {
    use camplane_proto::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    for i in 0..5 {
        let y = format!("kind: Department\nname: d{i}\nspec:\n  display_name: D {i}\n");
        apply(&h, &h.admin, &y).await.unwrap();
    }
    let all = audit_log(&h).await;
    let mut client = pb::audit_client::AuditClient::new(h.channel.clone());
    let mut seen = Vec::new();
    let mut before = 0;
    loop {
        let page = client
            .tail(req(
                &h.admin,
                pb::TailRequest {
                    limit: 2,
                    before_seq: before,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= 2);
        seen.splice(0..0, page.entries.iter().map(|e| e.seq));
        before = page.next_before;
        if before == 0 {
            break;
        }
    }
    let want: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seen, want);
    assert_eq!(want, (1..=want.len() as u64).collect::<Vec<_>>());
}

/// A sign-in is a name and a password: a request over 64 KiB is refused on its
/// length prefix, before it is read or anything is written; a normal one works.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_sign_in_is_refused_unread() {
    use camplane_proto::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let before = audit_log(&h).await.len();
    let mut auth = pb::auth_client::AuthClient::new(h.channel.clone());
    let e = auth
        .login(pb::LoginRequest {
            username: "u".repeat(1 << 20),
            password: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e}");
    assert!(e.message().contains("message length too large"), "{e}");
    assert_eq!(audit_log(&h).await.len(), before, "nothing was written");
    // The legitimate sign-in still works.
    user(&h, "clerk", &["viewer"], "police").await;
}

/// Free text has limits: a 3 MB display name, a NUL in it, or a 3 MB `source`
/// sent straight over gRPC (no CLI to check first) are refused, naming the
/// field, and nothing is written; the store and the audit log do not grow.
#[tokio::test(flavor = "multi_thread")]
async fn free_text_is_bounded_and_printable() {
    use camplane_proto::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let before = audit_log(&h).await.len();
    let send = |display: String, source: String| {
        let ch = h.channel.clone();
        let admin = h.admin.clone();
        async move {
            let spec = serde_json::json!({ "display_name": display });
            pb::objects_client::ObjectsClient::new(ch)
                .apply(req(
                    &admin,
                    pb::ApplyRequest {
                        objects: vec![pb::Object {
                            kind: "Department".into(),
                            name: "police".into(),
                            json: serde_json::to_vec(&spec).unwrap(),
                            revision: 0,
                        }],
                        source,
                        dry_run: false,
                    },
                ))
                .await
        }
    };
    let e = send("x".repeat(3 << 20), "d.yaml".into())
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");
    assert!(
        e.message().contains("spec.display_name"),
        "{}",
        &e.message()[..200.min(e.message().len())]
    );
    let e = send("Pol\u{0}ice".into(), "d.yaml".into())
        .await
        .unwrap_err();
    assert!(e.message().contains("control character U+0000"), "{e}");
    let e = send("Police".into(), "s".repeat(3 << 20))
        .await
        .unwrap_err();
    assert!(
        e.message().contains("source: at most 512"),
        "{}",
        &e.message()[..200.min(e.message().len())]
    );
    let e = send(
        "Police".into(),
        "d.yaml\n   1 admin audit.cleared ok".into(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(audit_log(&h).await.len(), before, "nothing was written");
    // The legitimate apply works.
    send("Police".into(), "d.yaml".into()).await.unwrap();
}

/// A raw HTTP/2 gRPC call that declares a `len`-byte message, sends `sent` bytes
/// of it and never finishes: the answer's grpc-status, if one comes within `wait`.
async fn unfinished_call(
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
    len: u32,
    sent: usize,
    wait: std::time::Duration,
) -> Option<String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let mut b = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let (resp, mut body) = client.send_request(b.body(()).unwrap(), false).unwrap();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.resize(5 + sent, b'x');
    body.send_data(bytes::Bytes::from(frame), false).unwrap();
    let resp = tokio::time::timeout(wait, resp).await.ok()?.unwrap();
    // A refusal before the body comes as a trailers-only answer: status in the headers.
    let status = resp
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string());
    drop(body);
    status
}

/// A hotlist upload is large: the caller is signed in before its body is read.
/// Without a token (or with a made-up one) the answer is Unauthenticated while
/// the client is still "sending" 60 MB; a signed-in caller's call goes on to be
/// read (no answer while the body is unfinished).
#[tokio::test(flavor = "multi_thread")]
async fn a_large_upload_is_refused_before_its_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_embedded(dir.path());
    // Plain HTTP/2 on loopback keeps the raw client small; TLS changes nothing here.
    config.tls.enabled = false;
    let h = start(config, None).await;
    let addr = h.running.addr;
    let path = "/camplane.v1.Hotlists/Load";
    let unauthenticated = Some("16".to_string());
    let long = std::time::Duration::from_secs(10);
    assert_eq!(
        unfinished_call(addr, path, None, 60 << 20, 1000, long).await,
        unauthenticated
    );
    assert_eq!(
        unfinished_call(addr, path, Some("cpt_made_up"), 60 << 20, 1000, long).await,
        unauthenticated
    );
    // Signed in: the server waits for the rest of the message (no answer yet).
    let short = std::time::Duration::from_secs(2);
    assert_eq!(
        unfinished_call(addr, path, Some(&h.admin), 1000, 10, short).await,
        None
    );
}

/// `get KIND` comes in pages: 800 departments with long display names (about
/// 1.4 MB of JSON) come back whole, in name order, each once, over several
/// pages, and no reply exceeds `REPLY_PAGE_BYTES` (the client reads each with
/// that limit). A name asked for still comes alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_list_bigger_than_a_page_comes_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let n = 800;
    let long = "x".repeat(1_500);
    let yaml: String = (0..n)
        .map(|i| format!("kind: Department\nname: d{i:04}\nspec:\n  display_name: {long}\n---\n"))
        .collect();
    apply(&h, &h.admin, &yaml).await.unwrap();
    let (all, pages) = list_objects(&h, &h.admin, "departments").await.unwrap();
    let names: Vec<String> = all
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("d{i:04}")).collect();
    assert_eq!(names, want);
    let bytes: usize = all.iter().map(|o| o.to_string().len()).sum();
    assert!(
        bytes > camplane_proto::limits::REPLY_PAGE_BYTES,
        "{bytes} bytes fit one page: the test shows nothing"
    );
    assert!(pages >= 2, "{pages} pages");
    let one = get_json(&h, &h.admin, "departments", "d0007")
        .await
        .unwrap();
    assert_eq!(one["name"], "d0007");
}

/// A shutdown ends within 10 s whatever is running: here a signed-in hotlist
/// upload whose body never ends holds a call open (a graceful shutdown alone
/// would wait for it forever).
#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_with_a_call_in_flight_ends_within_10_s() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_embedded(dir.path());
    config.tls.enabled = false;
    let mut h = start(config, None).await;
    let addr = h.running.addr;
    // The connection stays open (its task holds it) with the call unfinished.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let held = tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/camplane.v1.Hotlists/Load"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {}", h.admin))
        .body(())
        .unwrap();
    let (_resp, mut body) = client.send_request(request, false).unwrap();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&1000u32.to_be_bytes());
    frame.resize(5 + 10, b'x');
    body.send_data(bytes::Bytes::from(frame), false).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let t0 = std::time::Instant::now();
    h.cancel.cancel();
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), &mut h.running.task).await;
    let took = t0.elapsed();
    assert!(r.is_ok(), "the server still ran 10 s after the shutdown");
    eprintln!("shutdown with a call in flight took {took:?}");
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    drop(body);
    held.abort();
}

/// The last city manager stays even when two admins' deletions of the only two
/// race: two tasks delete one each at once; at most one deletion succeeds, the
/// other is refused naming the rule, and a city manager is left.
#[tokio::test(flavor = "multi_thread")]
async fn two_racing_deletions_leave_a_city_manager() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    user(&h, "cm-two", &["city_manager"], "information-services").await;
    let admin2 = h.second_admin().await;
    race_two_deletions(
        (&h.channel, &h.admin, FIRST_CITY_MANAGER),
        (&h.channel, &admin2, "cm-two"),
    )
    .await;
    let (users, _) = list_objects(&h, &h.admin, "users").await.unwrap();
    assert_eq!(holds(&users, "city_manager"), 1, "{users:?}");
}

/// The same race across two controllers on one etcd: each deletion compares
/// the other holder's record in its transaction, so the second to commit loses,
/// reads again and is refused.
#[tokio::test(flavor = "multi_thread")]
async fn two_controllers_racing_deletions_leave_a_city_manager() {
    let etcd = camplane_testkit::servers::EtcdServer::start();
    std::env::set_var("CAMPLANE_TEST_NO_SUCH_VAR", ADMIN_PW);
    let a = start(config_etcd(&etcd.endpoint(), "/kept"), None).await;
    let b = start(config_etcd(&etcd.endpoint(), "/kept"), None).await;
    user(&a, "cm-two", &["city_manager"], "information-services").await;
    // Wait until b's cache has seen the holders.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let (u, _) = list_objects(&b, &a.admin, "users").await.unwrap();
        if holds(&u, "city_manager") == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    race_two_deletions(
        (&a.channel, &a.admin, FIRST_CITY_MANAGER),
        (&b.channel, &a.admin, "cm-two"),
    )
    .await;
    for h in [&a, &b] {
        let mut left = 0;
        // b may see a's deletion a moment later: the store is what counts.
        for _ in 0..50 {
            let (users, _) = list_objects(h, &a.admin, "users").await.unwrap();
            left = holds(&users, "city_manager");
            if left == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(left, 1);
    }
}

/// How many enabled users in `users` hold `role`.
fn holds(users: &[serde_json::Value], role: &str) -> usize {
    users
        .iter()
        .filter(|u| u["spec"]["disabled"].as_bool() != Some(true))
        .filter(|u| {
            u["spec"]["roles"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == role))
        })
        .count()
}

/// Deletes user `name` as `token`.
async fn delete_user(
    ch: &tonic::transport::Channel,
    token: &str,
    name: &str,
) -> Result<(), tonic::Status> {
    use camplane_proto::v1 as pb;
    pb::objects_client::ObjectsClient::new(ch.clone())
        .delete(req(
            token,
            pb::DeleteRequest {
                kind: "users".into(),
                name: name.into(),
            },
        ))
        .await
        .map(|_| ())
}

/// Starts both deletions at once; asserts at most one succeeded and any
/// refusal names the last-holder rule.
async fn race_two_deletions(
    one: (&tonic::transport::Channel, &str, &str),
    two: (&tonic::transport::Channel, &str, &str),
) {
    let go = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let spawn = |(ch, token, name): (&tonic::transport::Channel, &str, &str)| {
        let (ch, token, name, go) = (ch.clone(), token.to_string(), name.to_string(), go.clone());
        tokio::spawn(async move {
            go.wait().await;
            delete_user(&ch, &token, &name).await
        })
    };
    let (a, b) = (spawn(one), spawn(two));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(!(a.is_ok() && b.is_ok()), "both deletions went through");
    for e in [&a, &b].into_iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e}");
        assert!(e.message().contains("last city_manager"), "{e}");
    }
}

/// `alerts list` comes in pages too: 700 stored alerts with long reasons (about
/// 1.5 MB) come back whole, in id order, over several pages, each read with a
/// client limit of `REPLY_PAGE_BYTES`; every page's read is audited.
#[tokio::test(flavor = "multi_thread")]
async fn alerts_list_comes_in_pages() {
    use camplane_config::hotlist::{AlertReport, HitCategory, HotlistEntry, HotlistSource};
    use camplane_controller::alpr::hotlist::{Alert, ALERTS};
    use camplane_proto::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    apply(&h, &h.admin, CITY).await.unwrap();
    let op = qualified_user(&h, "op", "alpr_operator", "police").await;
    let store = &h.running.controller.store;
    let now = jiff::Timestamp::now();
    let n = 700;
    // Stored as the fleet stores them (made-up plates; the reason makes them long).
    for i in 0..n {
        let a = Alert {
            id: format!("a{i:05}"),
            agent: "gw".into(),
            received_at: now,
            status: "unverified".into(),
            report: AlertReport {
                read_id: format!("r{i}"),
                camera: "cam".into(),
                plate: format!("ZZ{i:05}"),
                time: now,
                confidence: 0.9,
                location: None,
                list: "stolen".into(),
                source: HotlistSource::Ncic,
                category: HitCategory::StolenVehicle,
                list_version: 1,
                entry: HotlistEntry {
                    plate: format!("ZZ{i:05}"),
                    state: None,
                    reason: Some("r".repeat(2_000)),
                    expires: None,
                },
                matched_at: now,
            },
            steps: vec![],
            case_number: None,
        };
        store
            .put(
                &format!("{ALERTS}{}", a.id),
                serde_json::to_vec(&a).unwrap(),
            )
            .await
            .unwrap();
    }
    let mut client = pb::alerts_client::AlertsClient::new(h.channel.clone())
        .max_decoding_message_size(camplane_proto::limits::REPLY_PAGE_BYTES);
    let (mut ids, mut pages, mut after) = (Vec::new(), 0, String::new());
    loop {
        let r = client
            .list(req(
                &op,
                pb::AlertsRequest {
                    since: String::new(),
                    after: after.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        ids.extend(r.objects.iter().map(|o| o.name.clone()));
        if r.next_after.is_empty() {
            break;
        }
        after = r.next_after;
    }
    let want: Vec<String> = (0..n).map(|i| format!("a{i:05}")).collect();
    assert_eq!(ids, want);
    assert!(pages >= 2, "{pages} pages");
    let listed = audit_log(&h)
        .await
        .into_iter()
        .filter(|e| e["action"] == "alerts.list")
        .count();
    assert_eq!(listed, pages);
}

/// A hotlist request of `csv` bytes for the NCIC stolen-vehicle list.
fn ncic_upload(file_name: &str, csv: Vec<u8>) -> camplane_proto::v1::HotlistLoadRequest {
    camplane_proto::v1::HotlistLoadRequest {
        source: "NCIC".into(),
        category: "stolen_vehicle".into(),
        file_name: file_name.into(),
        csv,
        ..Default::default()
    }
}

/// A hotlist upload is streamed and held to `hotlists.max_file_bytes` as it
/// arrives: against a client that would send chunks for ever, the controller
/// refuses once the running total passes the limit (having read at most one
/// chunk more than the limit), names the limit, audits the refusal, and
/// stores nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_hotlist_upload_over_the_limit_is_refused_as_it_arrives() {
    use camplane_proto::limits::HOTLIST_CHUNK;
    use camplane_proto::v1 as pb;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_embedded(dir.path());
    let max = 3 * HOTLIST_CHUNK as u64;
    config.hotlists.max_file_bytes = max;
    let h = start(config, None).await;
    let sup = qualified_user(&h, "sup", "supervisor", "police").await;
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let header = pb::HotlistUpload::messages(ncic_upload("endless.csv", Vec::new()));
    let chunks = futures::stream::repeat_with(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        pb::HotlistUpload {
            part: Some(pb::hotlist_upload::Part::Chunk(vec![b'A'; HOTLIST_CHUNK])),
        }
    });
    use futures::StreamExt;
    let messages = futures::stream::iter(header).chain(chunks);
    let e = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        pb::hotlists_client::HotlistsClient::new(h.channel.clone()).upload(req(&sup, messages)),
    )
    .await
    .expect("refused while the client still sends")
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");
    assert!(
        e.message()
            .contains(&format!("more than hotlists.max_file_bytes ({max} bytes)")),
        "{e}"
    );
    // The server names what it had read: at most the limit and one chunk.
    let read: u64 = e
        .message()
        .split("after ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {e}"));
    assert!(read <= max + HOTLIST_CHUNK as u64, "{read} bytes read");
    eprintln!(
        "refused after {read} bytes read; the client had produced {} chunks",
        sent.load(Ordering::SeqCst)
    );
    let log = audit_log(&h).await;
    let last = log
        .iter()
        .rev()
        .find(|e| e["action"] == "hotlist.load")
        .expect("the refusal is audited");
    assert!(
        last["result"].as_str().unwrap().starts_with("refused: ")
            && last["result"]
                .as_str()
                .unwrap()
                .contains("hotlists.max_file_bytes"),
        "{last}"
    );
    assert!(h.running.controller.all_hotlists().is_empty());
    // The legitimate upload under the limit still loads.
    let r = upload_hotlist(
        &h.channel,
        &sup,
        ncic_upload("ok.csv", b"plate\nABC1234\n".to_vec()),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(r.entries, 1);
}

/// The caller of a streamed hotlist upload is signed in and allowed before any
/// message is read: without a token, with a made-up one, or as a viewer, the
/// answer comes while the first message is still unfinished; a supervisor's
/// upload goes on to be read. A unary `Load` now takes one chunk at most, and a
/// larger one is told to use the streaming upload.
#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_hotlist_upload_is_refused_before_any_chunk_is_read() {
    use camplane_proto::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_embedded(dir.path());
    config.tls.enabled = false;
    let h = start(config, None).await;
    let viewer = user(&h, "clerk", &["viewer"], "police").await;
    let sup = qualified_user(&h, "sup", "supervisor", "police").await;
    let addr = h.running.addr;
    let path = "/camplane.v1.Hotlists/Upload";
    let long = std::time::Duration::from_secs(10);
    for token in [None, Some("cpt_made_up")] {
        assert_eq!(
            unfinished_call(addr, path, token, 1 << 20, 1000, long).await,
            Some("16".to_string()),
            "{token:?}"
        );
    }
    let permission_denied = Some("7".to_string());
    assert_eq!(
        unfinished_call(addr, path, Some(&viewer), 1 << 20, 1000, long).await,
        permission_denied
    );
    // A supervisor's upload is read (no answer while its first message is unfinished).
    let short = std::time::Duration::from_secs(2);
    assert_eq!(
        unfinished_call(addr, path, Some(&sup), 1000, 10, short).await,
        None
    );
    // The unary door takes a small file and refuses a large one, naming the upload.
    let small = pb::hotlists_client::HotlistsClient::new(h.channel.clone())
        .load(req(
            &sup,
            ncic_upload("small.csv", b"plate\nABC1234\n".to_vec()),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(small.entries, 1);
    let e = pb::hotlists_client::HotlistsClient::new(h.channel.clone())
        .load(req(&sup, ncic_upload("big.csv", vec![b'A'; 2 << 20])))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e}");
    assert!(e.message().contains("Hotlists.Upload"), "{e}");
}

/// A client that drops its upload half-way stops the work: the controller
/// counts it in `camplane_controller_work_cancelled_total{what="hotlist"}`,
/// stores nothing, and serves the next upload. (Raw HTTP/2, so the client can
/// reset its stream as a client that goes away does.)
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_hotlist_upload_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_embedded(dir.path());
    config.tls.enabled = false;
    let h = start(config, None).await;
    let sup = qualified_user(&h, "sup", "supervisor", "police").await;
    let metrics = h.running.controller.metrics.clone();
    assert_eq!(metrics.work_cancelled_of("hotlist"), 0);
    let addr = h.running.addr;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let held = tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/camplane.v1.Hotlists/Upload"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {sup}"))
        .body(())
        .unwrap();
    let (resp, mut body) = client.send_request(request, false).unwrap();
    // HotlistUpload{header: {source: "NCIC", category: "stolen_vehicle"}}, then
    // HotlistUpload{chunk: "plate\n"}, protobuf-encoded by hand, each in its
    // gRPC frame (no compression flag, length).
    let header: Vec<u8> = [&[0x0A, 4][..], b"NCIC", &[0x12, 14], b"stolen_vehicle"].concat();
    let header = [&[0x0A, header.len() as u8][..], &header].concat();
    let chunk = [&[0x12, 6][..], b"plate\n"].concat();
    for m in [header, chunk] {
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(m.len() as u32).to_be_bytes());
        frame.extend_from_slice(&m);
        body.send_data(bytes::Bytes::from(frame), false).unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(metrics.work_cancelled_of("hotlist"), 0, "still being read");
    // The client goes away half-way.
    body.send_reset(h2::Reason::CANCEL);
    drop(resp);
    let t0 = std::time::Instant::now();
    while metrics.work_cancelled_of("hotlist") == 0 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "the dropped upload was not stopped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(metrics.work_cancelled_of("hotlist"), 1);
    assert!(h
        .running
        .controller
        .render_metrics(true)
        .await
        .contains("camplane_controller_work_cancelled_total{what=\"hotlist\"} 1"));
    assert!(h.running.controller.all_hotlists().is_empty());
    held.abort();
    upload_hotlist(
        &h.channel,
        &sup,
        ncic_upload("next.csv", b"plate\nABC1234\n".to_vec()),
    )
    .await
    .unwrap();
}

/// The legitimate upload of a file over one chunk: it arrives in several
/// chunks, loads whole, and the stored list is the file (its SHA-256 and every
/// row).
#[tokio::test(flavor = "multi_thread")]
async fn a_multi_chunk_hotlist_loads_whole() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    let sup = qualified_user(&h, "sup", "supervisor", "police").await;
    let n = 60_000;
    let csv: String = std::iter::once("plate,state,reason\n".to_string())
        .chain((0..n).map(|i| format!("Q{i:06},IA,reported stolen, report {i:08}\n")))
        .collect();
    let csv = csv.replace(", report", " report");
    assert!(
        csv.len() > 2 * camplane_proto::limits::HOTLIST_CHUNK,
        "{} bytes",
        csv.len()
    );
    let sha = hex::encode(sha2::Sha256::digest(csv.as_bytes()));
    let r = upload_hotlist(&h.channel, &sup, ncic_upload("big.csv", csv.into_bytes()))
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.bad_rows.is_empty(),
        "{:?}",
        &r.bad_rows[..3.min(r.bad_rows.len())]
    );
    assert_eq!((r.entries, r.upserted), (n, n));
    let info = h
        .running
        .controller
        .all_hotlists()
        .into_iter()
        .find(|i| i.list == r.list)
        .unwrap();
    assert_eq!(
        (info.entries as u64, info.sha256.as_str()),
        (n, sha.as_str())
    );
}

/// `Users.List` comes in pages as `get KIND` does: 4,000 users (over a page of
/// JSON) come back whole, in name order, each once, over several pages, each
/// read with a client limit of one page; an empty `after` is the first page.
/// (Adding 4,000 users through `Users.Add` would hash 4,000 passwords: the
/// records are copies of a real one, written to the store.)
#[tokio::test(flavor = "multi_thread")]
async fn users_list_comes_in_pages() {
    use camplane_controller::store::Op;
    use camplane_proto::v1 as pb;
    let dir = tempfile::tempdir().unwrap();
    let h = start(config_embedded(dir.path()), None).await;
    user(&h, "model", &["viewer"], "police").await;
    let store = &h.running.controller.store;
    let prefix = camplane_config::model::Kind::User.prefix();
    let model: serde_json::Value = serde_json::from_slice(
        &store
            .get(&format!("{prefix}model"))
            .await
            .unwrap()
            .expect("the model user's record")
            .value,
    )
    .unwrap();
    let n = 4_000;
    for part in 0..40 {
        let ops = (part * n / 40..(part + 1) * n / 40)
            .map(|i| {
                let name = format!("u{i:04}");
                let mut v = model.clone();
                v["name"] = name.clone().into();
                v["spec"]["display_name"] = "x".repeat(128).into();
                Op::Put(format!("{prefix}{name}"), serde_json::to_vec(&v).unwrap())
            })
            .collect();
        store.txn(Vec::new(), ops).await.unwrap();
    }
    // The cache follows the store's watch.
    let t0 = std::time::Instant::now();
    while h
        .running
        .controller
        .list(camplane_config::model::Kind::User)
        .unwrap()
        .len()
        < n
    {
        assert!(t0.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut client = pb::users_client::UsersClient::new(h.channel.clone())
        .max_decoding_message_size(camplane_proto::limits::REPLY_PAGE_BYTES);
    let (mut names, mut bytes, mut pages, mut after) = (Vec::new(), 0, 0, String::new());
    loop {
        let r = client
            .list(req(
                &h.admin,
                pb::ListRequest {
                    after: after.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        for o in &r.objects {
            bytes += o.json.len();
            names.push(o.name.clone());
        }
        if r.next_after.is_empty() {
            break;
        }
        assert!(r.next_after > after, "the pages move on");
        after = r.next_after;
    }
    let want: Vec<String> = (0..n).map(|i| format!("u{i:04}")).collect();
    let listed: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with('u'))
        .cloned()
        .collect();
    assert_eq!(listed, want);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, names, "in name order, each once");
    assert!(
        bytes > camplane_proto::limits::REPLY_PAGE_BYTES,
        "{bytes} bytes fit one page: the test shows nothing"
    );
    assert!(pages >= 2, "{pages} pages");
}
