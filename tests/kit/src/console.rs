//! The operator console from outside: an HTTPS client trusting the controller
//! CA (HTTP/1.1 over rustls, one connection per request, a cookie jar of the
//! session cookie), and a headless Chromium driven over the DevTools protocol
//! (a small CDP client on a minimal WebSocket client over tokio).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// One answer of the console.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Header lines (names lower-cased), in order.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Answer {
    /// The first value of header `name` (lower-case), empty when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The CSRF token of the first form on the page (empty when none).
    pub fn csrf(&self) -> String {
        let Some(i) = self.body.find("name=\"csrf\" value=\"") else {
            return String::new();
        };
        let rest = &self.body[i + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap_or(0)].to_string()
    }
}

/// `s` percent-encoded for a form body.
pub fn form_part(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A TLS connection to the console.
pub type ConsoleTls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// An HTTPS client of one console, keeping the session cookie it is given.
pub struct ConsoleClient {
    addr: SocketAddr,
    connector: tokio_rustls::TlsConnector,
    /// The session cookie (`camplane_session=…`), once signed in.
    pub cookie: Option<String>,
}

impl ConsoleClient {
    /// A client of the console at `addr` trusting `ca_pem` (the controller CA).
    pub fn new(addr: SocketAddr, ca_pem: &str) -> ConsoleClient {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.expect("CA PEM")).expect("CA certificate");
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        ConsoleClient {
            addr,
            connector: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
            cookie: None,
        }
    }

    /// A TLS connection to the console (trusting the controller CA), for a
    /// client of its own protocol (a WebSocket of the player).
    pub async fn connect_tls(&self) -> ConsoleTls {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("console reachable");
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        self.connector
            .connect(name, tcp)
            .await
            .expect("TLS with the controller CA")
    }

    /// The console's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one request (`extra`: more header lines, each ending `\r\n`) and
    /// reads the whole answer. A `Set-Cookie` of the session is kept (an
    /// expired one drops it).
    pub async fn send(&mut self, method: &str, path: &str, extra: &str, body: &str) -> Answer {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("console reachable");
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = self
            .connector
            .connect(name, tcp)
            .await
            .expect("TLS with the controller CA");
        let cookie = self
            .cookie
            .as_ref()
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        let ctype = if method == "POST" {
            "Content-Type: application/x-www-form-urlencoded\r\n"
        } else {
            ""
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\n{cookie}{ctype}{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr.port(),
            body.len()
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.write_all(body.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut buf)).await;
        // A server that closes without TLS close_notify still gave its answer.
        if let Ok(Err(e)) = &read {
            assert!(!buf.is_empty(), "{method} {path}: {e}");
        }
        assert!(read.is_ok(), "{method} {path}: no answer within 30 s");
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{method} {path}: no status line in {head:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        for (k, v) in &headers {
            if k == "set-cookie" && v.starts_with("camplane_session=") {
                let pair = v.split(';').next().unwrap_or("").to_string();
                self.cookie = if v.contains("Max-Age=0") {
                    None
                } else {
                    Some(pair)
                };
            }
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    /// GET `path`.
    pub async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, "", "").await
    }

    /// POST the form `fields` to `path`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", form_part(k), form_part(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send("POST", path, "", &body).await
    }

    /// Signs in through the form; the answer (303 with the cookie on success).
    pub async fn login(&mut self, user: &str, password: &str) -> Answer {
        self.post(
            "/console/login",
            &[("username", user), ("password", password)],
        )
        .await
    }
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

// ---------- headless Chromium over the DevTools protocol ----------

/// The command that installs Chromium where it is missing.
pub const INSTALL_CHROMIUM: &str = "apt-get install chromium";

/// A headless Chromium, killed when dropped, with one page attached.
pub struct Browser {
    child: std::process::Child,
    _profile: tempfile::TempDir,
    ws: WebSocket,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium_path() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("chromium is not installed: `{INSTALL_CHROMIUM}` (deploy/install-deps.sh installs it)");
}

impl Browser {
    /// Starts Chromium headless (its own profile; certificate errors ignored:
    /// the console's certificate is from the controller's own CA) and attaches
    /// to its first page.
    pub async fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(chromium_path())
            .args([
                "--headless=new",
                "--remote-debugging-port=0",
                "--ignore-certificate-errors",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting chromium: {e}; `{INSTALL_CHROMIUM}`"));
        let port_file = profile.path().join("DevToolsActivePort");
        let t = Instant::now();
        let port: u16 = loop {
            if let Ok(s) = std::fs::read_to_string(&port_file) {
                if let Some(p) = s.lines().next().and_then(|l| l.trim().parse().ok()) {
                    break p;
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "chromium wrote no DevToolsActivePort within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // The page's own WebSocket, from the target list.
        let path = loop {
            let path = devtools_targets(port).await.and_then(|v| {
                v.as_array()?
                    .iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    .and_then(|u| u.find("/devtools/").map(|i| u[i..].to_string()))
            });
            if let Some(p) = path {
                break p;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "chromium listed no page within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let ws = WebSocket::connect(port, &path).await;
        let mut b = Browser {
            child,
            _profile: profile,
            ws,
            next_id: 0,
        };
        b.call("Page.enable", serde_json::json!({})).await;
        b.call("Runtime.enable", serde_json::json!({})).await;
        b
    }

    /// Calls `method`; its result (panics on a protocol error).
    pub async fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = serde_json::json!({"id": id, "method": method, "params": params});
        self.ws.send_text(&msg.to_string()).await;
        let t = Instant::now();
        loop {
            let left = Duration::from_secs(30).saturating_sub(t.elapsed());
            let text = tokio::time::timeout(left, self.ws.recv_text())
                .await
                .unwrap_or_else(|_| panic!("CDP {method}: no answer within 30 s"));
            let v: serde_json::Value = serde_json::from_str(&text).expect("CDP JSON");
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("CDP {method}: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `js` in the page; its value (by value).
    pub async fn eval(&mut self, js: &str) -> serde_json::Value {
        let r = self
            .call(
                "Runtime.evaluate",
                serde_json::json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating {js}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `js` is true in a page that finished loading (15 s at most).
    pub async fn wait_for(&mut self, js: &str) {
        let t = Instant::now();
        let cond = format!("document.readyState === 'complete' && !!({js})");
        loop {
            let r = self
                .call(
                    "Runtime.evaluate",
                    serde_json::json!({"expression": cond, "returnByValue": true}),
                )
                .await;
            if r["result"]["value"] == true {
                return;
            }
            if t.elapsed() > Duration::from_secs(15) {
                let url = self.eval("location.href").await;
                let body = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await;
                panic!("waited 15 s for {js} at {url}: page says {body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", serde_json::json!({"url": url}))
            .await;
        let want = serde_json::to_string(url).unwrap();
        self.wait_for(&format!("location.href.startsWith({want})"))
            .await;
    }

    /// Types `text` into the focused control, as a keyboard would.
    pub async fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", serde_json::json!({"text": text}))
            .await;
    }

    /// Signs in through the console's login page at `base` (`https://host:port`)
    /// as `user` with the test password, typing as a person does, and waits
    /// for the signed-in page.
    pub async fn sign_in(&mut self, base: &str, user: &str, password: &str) {
        self.goto(&format!("{base}/console/login")).await;
        self.wait_for("document.activeElement && document.activeElement.id === 'username'")
            .await;
        self.type_text(user).await;
        self.press("Tab").await;
        self.type_text(password).await;
        self.press("Enter").await;
        self.wait_for(
            "location.pathname !== '/console/login' && !!document.querySelector('form.signout')",
        )
        .await;
    }

    /// Presses a key (`Tab`, `Enter`) on the focused element.
    pub async fn press(&mut self, key: &str) {
        let (code, vk, text) = match key {
            "Tab" => ("Tab", 9, ""),
            "Enter" => ("Enter", 13, "\r"),
            other => panic!("no key {other}"),
        };
        for kind in ["keyDown", "keyUp"] {
            let mut p = serde_json::json!({"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": vk});
            if kind == "keyDown" && !text.is_empty() {
                p["text"] = text.into();
            }
            self.call("Input.dispatchKeyEvent", p).await;
        }
    }

    /// Sets the viewport's width (a phone at 390 px, a desktop at 1280 px).
    pub async fn set_width(&mut self, width: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await;
    }

    /// Saves a full-page PNG of the page at `width` px to `path`.
    pub async fn screenshot(&mut self, width: u32, path: &Path) {
        use base64::Engine;
        self.set_width(width).await;
        let r = self
            .call(
                "Page.captureScreenshot",
                serde_json::json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

/// DevTools' target list (`/json/list`). Its HTTP server keeps the
/// connection open, so the body is read to its `Content-Length`.
async fn devtools_targets(port: u16) -> Option<serde_json::Value> {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let req = format!("GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                return serde_json::from_str(body).ok();
            }
        }
    }
}

/// A minimal WebSocket client (RFC 6455): text frames out (masked), text
/// frames in (fragments joined); enough for the DevTools protocol on loopback.
struct WebSocket {
    tcp: tokio::net::TcpStream,
}

impl WebSocket {
    async fn connect(port: u16, path: &str) -> WebSocket {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("DevTools port");
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: Y2FtcGxhbmUtY29uc29sZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = tcp.read(&mut b).await.unwrap();
            assert!(n == 1, "DevTools closed during the WebSocket handshake");
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "WebSocket refused: {head}"
        );
        WebSocket { tcp }
    }

    async fn send_text(&mut self, text: &str) {
        let data = text.as_bytes();
        let mut frame = vec![0x81u8];
        let n = data.len();
        if n < 126 {
            frame.push(0x80 | n as u8);
        } else if n < 65536 {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
        let mask: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.tcp.write_all(&frame).await.unwrap();
    }

    async fn recv_text(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.tcp.read_exact(&mut h).await.expect("DevTools frame");
            let fin = h[0] & 0x80 != 0;
            let opcode = h[0] & 0x0f;
            let masked = h[1] & 0x80 != 0;
            let mut len = (h[1] & 0x7f) as u64;
            if len == 126 {
                let mut b = [0u8; 2];
                self.tcp.read_exact(&mut b).await.unwrap();
                len = u16::from_be_bytes(b) as u64;
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.tcp.read_exact(&mut b).await.unwrap();
                len = u64::from_be_bytes(b);
            }
            let mut mask = [0u8; 4];
            if masked {
                self.tcp.read_exact(&mut mask).await.unwrap();
            }
            let mut payload = vec![0u8; len as usize];
            self.tcp.read_exact(&mut payload).await.unwrap();
            if masked {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= mask[i % 4];
                }
            }
            match opcode {
                0x8 => panic!("DevTools closed the WebSocket"),
                // Pings and pongs carry no protocol messages.
                0x9 | 0xA => continue,
                _ => message.extend_from_slice(&payload),
            }
            if fin {
                return String::from_utf8_lossy(&message).into_owned();
            }
        }
    }
}

// ---------- answers that keep coming (server-sent events) ----------

/// An answer whose body is still coming: a server-sent event stream.
pub struct Streaming {
    /// HTTP status.
    pub status: u16,
    /// Header lines (names lower-cased), in order.
    pub headers: Vec<(String, String)>,
    /// The body read so far, as sent (chunk sizes included).
    pub seen: String,
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl Streaming {
    /// The first value of header `name` (lower-case), empty when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Reads until `needle` is in the body or `within` passed (or the server
    /// ended the answer: the connection is closed after it); whether it came.
    pub async fn until(&mut self, needle: &str, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = [0u8; 4096];
        while !self.seen.contains(needle) {
            match tokio::time::timeout_at(deadline, self.tls.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => return false,
            }
        }
        true
    }
}

impl ConsoleClient {
    /// GET `path` and read only the answer's head: the body (an event
    /// stream) is read with [`Streaming::until`].
    pub async fn open(&mut self, path: &str) -> Streaming {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("console reachable");
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = self
            .connector
            .connect(name, tcp)
            .await
            .expect("TLS with the controller CA");
        let cookie = self
            .cookie
            .as_ref()
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\n{cookie}Accept: text/event-stream\r\nConnection: close\r\n\r\n",
            self.addr.port()
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let split = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let n = tokio::time::timeout(Duration::from_secs(30), tls.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("GET {path}: no answer within 30 s"))
                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
            assert!(n > 0, "GET {path}: closed before the answer's head");
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let seen = String::from_utf8_lossy(&raw[split + 4..]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("GET {path}: no status line in {head:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Streaming {
            status,
            headers,
            seen,
            tls,
        }
    }
}

impl Browser {
    /// Clicks the middle of the element `selector` finds with the mouse, as a
    /// person would (SVG links have no `click()`): scrolled into view first.
    pub async fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let at = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ))
            .await;
        let (x, y) = match (at[0].as_f64(), at[1].as_f64()) {
            (Some(x), Some(y)) => (x, y),
            _ => panic!("nothing to click at {selector}"),
        };
        for (kind, button) in [
            ("mouseMoved", "none"),
            ("mousePressed", "left"),
            ("mouseReleased", "left"),
        ] {
            self.call(
                "Input.dispatchMouseEvent",
                serde_json::json!({"type": kind, "x": x, "y": y, "button": button, "clickCount": 1}),
            )
            .await;
        }
    }
}

/// Where the console tests put their screenshots: `tmp/console-screenshots`
/// under the target directory (`CARGO_TARGET_DIR`, else the workspace's).
pub fn screenshot_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("tmp/console-screenshots")
}
