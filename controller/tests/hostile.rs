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
