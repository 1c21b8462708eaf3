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
