//! The browser player of a camera page: video as fragmented MP4 over a
//! WebSocket into Media Source Extensions (the way Moonfire NVR and go2rtc
//! play), and a timeline drawn on the server.
//!
//! - `GET /console/cameras/{name}/playback.ws?from=T&to=T[&reason=]`: the
//!   same sign-in cookie as every page, an `Origin` of this site only (a
//!   cross-site or origin-less WebSocket is refused before the upgrade, as
//!   is a request without a session), then the same wing calls and [`Actor`]
//!   as the gRPC door (`start_playback`, the chunks, `close_playback`,
//!   `end_viewing`), so refusals and `view.start`/`view.end` entries are the
//!   gRPC ones. Messages: a text frame `{"session", "mime"}` once the init
//!   segment is in (its codec read from the `avcC` box), binary frames of
//!   fMP4 as they come, and a last text frame with how it ended
//!   (`completed`, `refused: …`, `failed: …`) before the close frame. The
//!   viewer closing the socket ends the session (`viewer gone`). The viewer
//!   may send `pause` and `resume` (its buffer is full, or has room again):
//!   while paused nothing more is pulled, and the source is kept open for at
//!   most [`MAX_PAUSE`] (then `paused too long`: the gateway's slot goes back).
//! - [`pump`] is generic over a stream of byte chunks and an end callback, so
//!   any source of fMP4 (a recorded range, a live camera) plugs in.
//! - The page part ([`section`]): a `<video>` the one script (`console.js`)
//!   feeds, shown only to those the rule lets watch (the others are told
//!   why), and a timeline (SVG, links: pages work without the script) of the
//!   recorded ranges, legal holds and active-collection windows; a click
//!   plays from that time (a seek is a new playback).

use super::html::{self, esc, url_part};
use super::{cookie, cross_site, status_of, Console, Signed, COOKIE};
use crate::alpr::search::Hub;
use crate::core::auth::Actor;
use crate::core::Controller;
use crate::viewing::live::LiveRequest;
use crate::viewing::player::{playback_chunks, Chunks};
use crate::viewing::PlaybackRequest;
use crate::Error;
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use futures::{Stream, StreamExt};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::fmt::Write;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The most bytes held while waiting for the end of the init segment; past
/// it the bytes go as they are, with the default codec.
pub const MAX_INIT_BYTES: usize = 4 * 1024 * 1024;

/// The longest message or frame a viewer may send (`pause`, `resume`, a
/// close frame with its reason).
pub const MAX_VIEWER_MESSAGE: usize = 128;

/// How long a viewer may leave one message untaken before the session ends.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// The codec the player is told when the init segment names none it reads
/// (H.264 Constrained Baseline 3.0).
pub const DEFAULT_MIME: &str = "video/mp4; codecs=\"avc1.42E01E\"";

/// How long one playback started from the page runs at most.
pub const PAGE_PLAYBACK: SignedDuration = SignedDuration::from_hours(1);

/// The timeline's spans, as written in the query (`span=`), and their length.
pub const SPANS: [(&str, SignedDuration); 4] = [
    ("10m", SignedDuration::from_mins(10)),
    ("1h", SignedDuration::from_hours(1)),
    ("6h", SignedDuration::from_hours(6)),
    ("24h", SignedDuration::from_hours(24)),
];

/// Clickable slots across the timeline.
const SLOTS: i64 = 120;

/// The timeline's drawing width (SVG user units).
const WIDTH: f64 = 1000.0;

// ---------- fMP4: the init segment and its codec ----------

/// The box at `at` in `buf`: (type, start of its body, end), or `None` when
/// it is not all there yet or is malformed.
fn next_box(buf: &[u8], at: usize) -> Option<([u8; 4], usize, usize)> {
    let h = buf.get(at..at.checked_add(8)?)?;
    let size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
    let typ = [h[4], h[5], h[6], h[7]];
    let (size, body) = match size {
        1 => {
            let l = buf.get(at + 8..at + 16)?;
            (u64::from_be_bytes(l.try_into().ok()?), at + 16)
        }
        // 0 (to the end of the file) never ends an init segment.
        0 => return None,
        s => (s, at + 8),
    };
    let end = at.checked_add(usize::try_from(size).ok()?)?;
    if end < body || end > buf.len() {
        return None;
    }
    Some((typ, body, end))
}

/// The child boxes of the box body `buf` of type `typ`.
fn children<'a>(buf: &'a [u8], typ: &'a [u8; 4]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut at = 0;
    std::iter::from_fn(move || loop {
        let (t, body, end) = next_box(buf, at)?;
        at = end;
        if &t == typ {
            return Some(&buf[body..end]);
        }
    })
}

/// The RFC 6381 codec of the first H.264 track in a `moov` box's body
/// (`avc1.PPCCLL` from its `avcC`).
fn avc_codec(moov: &[u8]) -> Option<String> {
    for trak in children(moov, b"trak") {
        let Some(stbl) = children(trak, b"mdia")
            .next()
            .and_then(|m| children(m, b"minf").next())
            .and_then(|m| children(m, b"stbl").next())
        else {
            continue;
        };
        let Some(stsd) = children(stbl, b"stsd").next() else {
            continue;
        };
        // Version and flags, then the entry count, then the sample entries.
        let entries = stsd.get(8..)?;
        let mut at = 0;
        while let Some((t, body, end)) = next_box(entries, at) {
            at = end;
            if &t != b"avc1" && &t != b"avc3" {
                continue;
            }
            // A visual sample entry's fixed fields take 78 bytes.
            let Some(inner) = entries.get(body + 78..end) else {
                continue;
            };
            if let Some(c) = children(inner, b"avcC").next() {
                if c.len() >= 4 {
                    let name = String::from_utf8_lossy(&t).into_owned();
                    return Some(format!("{name}.{:02x}{:02x}{:02x}", c[1], c[2], c[3]));
                }
            }
        }
    }
    None
}

/// Where the init segment (everything up to the end of `moov`) at the start
/// of `buf` ends, and its video codec; `None` while it is not all in `buf`.
pub fn init_segment(buf: &[u8]) -> Option<(usize, Option<String>)> {
    let mut at = 0;
    while let Some((t, body, end)) = next_box(buf, at) {
        if &t == b"moov" {
            return Some((end, avc_codec(&buf[body..end])));
        }
        at = end;
    }
    None
}

/// The `type` of a SourceBuffer for `codec`.
pub fn mime_of(codec: Option<&str>) -> String {
    match codec {
        Some(c) => format!("video/mp4; codecs=\"{c}\""),
        None => DEFAULT_MIME.into(),
    }
}

// ---------- the pump ----------

/// How a pumped session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The source ended.
    Completed,
    /// The viewer closed the socket (or it broke).
    ViewerGone,
    /// The viewer left a message untaken for [`SEND_TIMEOUT`].
    ViewerStalled,
    /// The controller is shutting down.
    Shutdown,
    /// The source failed: the error for the record, the words for the viewer.
    Failed(String, String),
    /// The viewer kept the range paused for [`MAX_PAUSE`]: its source was given back.
    PausedTooLong,
    /// The viewer's right to the camera ended while it played (signed out, a
    /// role or an authorization withdrawn): the reason.
    Withdrawn(String),
}

impl Ended {
    /// The outcome as recorded (`view.end`).
    pub fn outcome(&self) -> String {
        match self {
            Ended::Completed => "completed".into(),
            Ended::ViewerGone => "viewer gone".into(),
            Ended::ViewerStalled => "viewer stalled".into(),
            Ended::Shutdown => "controller shutting down".into(),
            Ended::Failed(e, _) => format!("failed: {e}"),
            Ended::PausedTooLong => "paused too long".into(),
            Ended::Withdrawn(e) => format!("{}: {e}", crate::viewing::live::ACCESS_WITHDRAWN),
        }
    }

    /// What the viewer is told (nothing when they are gone).
    fn told(&self) -> Option<(u16, String)> {
        match self {
            Ended::Completed => Some((1000, "completed".into())),
            Ended::ViewerGone | Ended::ViewerStalled => None,
            Ended::Shutdown => Some((1001, "controller shutting down".into())),
            Ended::Failed(_, shown) => Some((1011, format!("failed: {shown}"))),
            Ended::Withdrawn(e) => Some((1008, format!("access withdrawn: {e}"))),
            Ended::PausedTooLong => Some((
                1000,
                format!(
                    "paused too long: after {} minutes paused the recording was given back \
                     to its gateway; open the range again to go on",
                    MAX_PAUSE.as_secs() / 60
                ),
            )),
        }
    }
}

/// `s` cut to at most `n` bytes on a character boundary.
fn cut(s: &str, n: usize) -> &str {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Sends a last text frame and the close frame (best effort, bounded in time).
async fn say_goodbye(socket: &mut WebSocket, code: u16, text: &str) {
    let bye = async {
        socket.send(Message::Text(text.into())).await?;
        socket
            .send(Message::Close(Some(CloseFrame {
                code,
                // A close frame's reason is at most 123 bytes.
                reason: cut(text, 123).into(),
            })))
            .await
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), bye).await;
}

/// What the viewer sent.
enum Heard {
    Gone,
    Pause,
    Resume,
    Other,
}

fn heard(m: Option<Result<Message, axum::Error>>) -> Heard {
    match m {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Heard::Gone,
        Some(Ok(Message::Text(t))) if t.as_str() == "pause" => Heard::Pause,
        Some(Ok(Message::Text(t))) if t.as_str() == "resume" => Heard::Resume,
        Some(Ok(_)) => Heard::Other,
    }
}

/// Sends one message, ending on a viewer gone or stalled, or a shutdown.
async fn send(
    socket: &mut WebSocket,
    m: Message,
    shutdown: &CancellationToken,
) -> Result<(), Ended> {
    tokio::select! {
        r = tokio::time::timeout(SEND_TIMEOUT, socket.send(m)) => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ended::ViewerGone),
            Err(_) => Err(Ended::ViewerStalled),
        },
        () = shutdown.cancelled() => Err(Ended::Shutdown),
    }
}

/// How often a paused viewer's source is kept open (`keep`): a third of the
/// agent's idle end of a playback nobody asks for.
const KEEP_EVERY: std::time::Duration =
    std::time::Duration::from_secs(camplane_config::model::PLAYBACK_IDLE.as_secs() / 3);

/// The longest a viewer may keep a recorded range paused. While paused, the range
/// holds one of its gateway's playback slots (`camplane_agent::playback::MAX_SESSIONS`,
/// 8 per gateway) because the controller keeps its source open; past this the session
/// ends (`paused too long`) and the slot goes back. A product choice, not a measured
/// figure: long enough for a phone call, short enough that a forgotten tab, or a viewer
/// pausing on purpose, cannot keep a gateway's slots from other investigators for hours.
/// A client that streams slowly instead still holds its slot; the gateway bounds that
/// per viewer (`camplane_agent::playback::MAX_PER_VIEWER`, 3 of the 8, by the
/// `viewer` the controller names in each playback query).
pub const MAX_PAUSE: Duration = Duration::from_secs(10 * 60);

/// A viewer's pause as the pump keeps it: since when the range has been paused,
/// without a `resume` between. Repeating `pause` does not restart the clock.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Pause {
    since: Option<tokio::time::Instant>,
}

impl Pause {
    /// The viewer said `pause`.
    fn start(&mut self, now: tokio::time::Instant) {
        self.since.get_or_insert(now);
    }

    /// The viewer said `resume`.
    fn end(&mut self) {
        self.since = None;
    }

    fn paused(&self) -> bool {
        self.since.is_some()
    }

    /// At a keep, `now`: whether the source is kept open (else the session ends).
    fn keeps(&self, now: tokio::time::Instant) -> bool {
        self.since
            .is_some_and(|s| now.saturating_duration_since(s) < MAX_PAUSE)
    }
}

/// The session's part of the pump: until the source ends, fails, the viewer
/// goes, or `shutdown`. Counts what was sent into `sent`. While the viewer has
/// paused, `keep` runs every [`KEEP_EVERY`] (the source stays open), for at most
/// [`MAX_PAUSE`].
async fn run<S, B, K, KF>(
    socket: &mut WebSocket,
    session: &str,
    chunks: &mut S,
    shutdown: &CancellationToken,
    keep: &K,
    sent: &mut u64,
) -> Ended
where
    S: Stream<Item = crate::Result<B>> + Unpin,
    B: AsRef<[u8]> + Into<bytes::Bytes>,
    K: Fn() -> KF,
    KF: Future<Output = ()>,
{
    let mut pause = Pause::default();
    let mut keep_at = tokio::time::Instant::now();
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    loop {
        let next = tokio::select! {
            m = socket.recv() => match heard(m) {
                Heard::Gone => return Ended::ViewerGone,
                Heard::Pause => {
                    if !pause.paused() {
                        keep_at = tokio::time::Instant::now() + KEEP_EVERY;
                    }
                    pause.start(tokio::time::Instant::now());
                    continue
                }
                Heard::Resume => { pause.end(); continue }
                Heard::Other => continue,
            },
            () = tokio::time::sleep_until(keep_at), if pause.paused() => {
                if !pause.keeps(tokio::time::Instant::now()) {
                    return Ended::PausedTooLong;
                }
                keep().await;
                keep_at = tokio::time::Instant::now() + KEEP_EVERY;
                continue
            }
            c = chunks.next(), if !pause.paused() => c,
            () = shutdown.cancelled() => return Ended::Shutdown,
        };
        let chunk = match next {
            Some(Ok(c)) => c,
            Some(Err(e)) if crate::viewing::is_withdrawal(&e) => {
                return Ended::Withdrawn(e.to_string());
            }
            Some(Err(e)) => {
                let shown = status_of(&e).1;
                return Ended::Failed(e.to_string(), shown);
            }
            None => match head.take() {
                // The source ended before its init segment was whole: what
                // there is goes as it is.
                Some(h) if !h.is_empty() => {
                    let hello = serde_json::json!({"session": session, "mime": DEFAULT_MIME});
                    if let Err(e) =
                        send(socket, Message::Text(hello.to_string().into()), shutdown).await
                    {
                        return e;
                    }
                    *sent += h.len() as u64;
                    if let Err(e) = send(socket, Message::Binary(h.into()), shutdown).await {
                        return e;
                    }
                    return Ended::Completed;
                }
                _ => return Ended::Completed,
            },
        };
        let out: bytes::Bytes = match head.as_mut() {
            Some(h) => {
                h.extend_from_slice(chunk.as_ref());
                let mime = match init_segment(h) {
                    Some((_, codec)) => mime_of(codec.as_deref()),
                    None if h.len() >= MAX_INIT_BYTES => DEFAULT_MIME.into(),
                    None => continue,
                };
                let hello = serde_json::json!({"session": session, "mime": mime});
                if let Err(e) =
                    send(socket, Message::Text(hello.to_string().into()), shutdown).await
                {
                    return e;
                }
                head.take().unwrap_or_default().into()
            }
            None => chunk.into(),
        };
        *sent += out.len() as u64;
        if let Err(e) = send(socket, Message::Binary(out), shutdown).await {
            return e;
        }
    }
}

/// Pumps `chunks` (fragmented MP4 from its init segment on; `Vec<u8>` or
/// `Bytes`) to the viewer on
/// `socket`: first `{"session", "mime"}` once the init segment is in, then the
/// bytes as binary messages, one at a time (the next chunk is pulled when the
/// last was taken, nothing while the viewer says `pause`). Whatever ends it,
/// `end(outcome, bytes sent)` runs (record the end there), then the viewer,
/// if still there, gets a last text frame with how it ended and the close.
pub async fn pump<S, B, E, F, K, KF>(
    mut socket: WebSocket,
    session: &str,
    mut chunks: S,
    shutdown: CancellationToken,
    keep: K,
    end: E,
) where
    S: Stream<Item = crate::Result<B>> + Unpin,
    B: AsRef<[u8]> + Into<bytes::Bytes>,
    E: FnOnce(Ended, u64) -> F,
    F: Future<Output = ()>,
    K: Fn() -> KF,
    KF: Future<Output = ()>,
{
    let mut sent = 0;
    let ended = run(
        &mut socket,
        session,
        &mut chunks,
        &shutdown,
        &keep,
        &mut sent,
    )
    .await;
    drop(chunks);
    let told = ended.told();
    end(ended, sent).await;
    if let Some((code, text)) = told {
        say_goodbye(&mut socket, code, &text).await;
    }
}

// ---------- the door ----------

/// A plain-text answer (a refused WebSocket handshake).
fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(text.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The checks every video WebSocket passes before its upgrade: an `Origin` of
/// this site (browsers always send one with a WebSocket; another site's page
/// must not borrow the viewer's cookie), then a session (401 without).
pub(super) async fn admit(
    console: &Console,
    parts: &mut Parts,
) -> Result<(Actor, String, WebSocketUpgrade), Response<Body>> {
    if parts.headers.get(header::ORIGIN).is_none() || cross_site(&parts.headers) {
        return Err(plain(
            StatusCode::FORBIDDEN,
            "a video WebSocket from another site (or with no Origin) is refused",
        ));
    }
    let token = cookie(&parts.headers, COOKIE).unwrap_or("").to_string();
    if token.is_empty() {
        return Err(plain(StatusCode::UNAUTHORIZED, "sign in first"));
    }
    let actor = match console.ctl.authenticate(&token).await {
        Ok(a) => a,
        Err(e @ Error::Unavailable(_)) => {
            let (s, t) = status_of(&e);
            return Err(plain(s, &t));
        }
        Err(_) => return Err(plain(StatusCode::UNAUTHORIZED, "sign in first")),
    };
    match WebSocketUpgrade::from_request_parts(parts, &()).await {
        // The viewer only ever says `pause` or `resume`: anything longer than
        // a few bytes is refused by the socket before it is buffered.
        Ok(ws) => Ok((
            actor,
            token,
            ws.max_message_size(MAX_VIEWER_MESSAGE)
                .max_frame_size(MAX_VIEWER_MESSAGE),
        )),
        Err(rej) => Err(rej.into_response()),
    }
}

/// `GET /console/cameras/{name}/playback.ws?from=T&to=T[&reason=]`.
pub(super) async fn playback_ws(
    console: &Console,
    mut parts: Parts,
    camera: &str,
    query: &str,
) -> Response<Body> {
    let (actor, token, ws) = match admit(console, &mut parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = html::pairs(query);
    let req = PlaybackRequest {
        camera: camera.to_string(),
        from: html::field(&q, "from").to_string(),
        to: html::field(&q, "to").to_string(),
        reason: html::field(&q, "reason").to_string(),
        unmasked: html::field(&q, "unmasked") == "1",
    };
    let ctl = console.ctl.clone();
    ws.on_upgrade(move |socket| play(ctl, actor, token, req, socket))
}

/// One playback on an upgraded socket: started (checked, stored, audited)
/// as the gRPC door starts it, pumped, ended and audited whatever ends it.
async fn play(
    ctl: Arc<Controller>,
    actor: Actor,
    token: String,
    req: PlaybackRequest,
    mut socket: WebSocket,
) {
    let hub = ctl.wing::<Hub>();
    let started = ctl
        .start_playback(&hub, &actor, &req)
        .await
        .and_then(|(s, masks)| {
            let access = crate::viewing::AccessWatch::new(&token, &s.camera);
            playback_chunks(hub.clone(), ctl.clone(), access, &s, &masks).map(|c| (s, c))
        });
    let (session, chunks): (_, Chunks) = match started {
        Ok(x) => x,
        Err(e) => {
            say_goodbye(&mut socket, 1008, &format!("refused: {}", status_of(&e).1)).await;
            return;
        }
    };
    let shutdown = ctl.shutdown.clone();
    let id = session.id.clone();
    let (kc, kh, ks) = (ctl.clone(), hub.clone(), session.clone());
    let keep = move || {
        let (ctl, hub, s) = (kc.clone(), kh.clone(), ks.clone());
        async move { ctl.keep_playback(&hub, &s).await }
    };
    pump(socket, &id, chunks, shutdown, keep, |ended, bytes| async move {
        if ended != Ended::Completed {
            ctl.metrics.work_cancelled("playback");
            ctl.close_playback(&hub, &session).await;
        }
        if let Err(e) = ctl.end_viewing(&session, bytes, &ended.outcome()).await {
            tracing::error!(session = %session.id, error = %e, "viewing session end not audited");
        }
    })
    .await;
}

/// `GET /console/cameras/{name}/live.ws[?reason=]`: the camera now, through
/// the live wing (`Controller::start_live`, the gRPC door's call), pumped as a
/// playback is; the view's end is recorded by the wing with how it ended.
pub(super) async fn live_ws(
    console: &Console,
    mut parts: Parts,
    camera: &str,
    query: &str,
) -> Response<Body> {
    let (actor, token, ws) = match admit(console, &mut parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = html::pairs(query);
    let req = LiveRequest {
        camera: camera.to_string(),
        reason: html::field(&q, "reason").to_string(),
        unmasked: html::field(&q, "unmasked") == "1",
        seconds: 0,
    };
    let ctl = console.ctl.clone();
    ws.on_upgrade(move |socket| watch_live(ctl, actor, token, req, socket))
}

/// One live view on an upgraded socket.
async fn watch_live(
    ctl: Arc<Controller>,
    actor: Actor,
    token: String,
    req: LiveRequest,
    mut socket: WebSocket,
) {
    let view = match ctl.start_live(&actor, &token, &req).await {
        Ok(v) => v,
        Err(e) => {
            say_goodbye(&mut socket, 1008, &format!("refused: {}", status_of(&e).1)).await;
            return;
        }
    };
    let id = view.session.id.clone();
    let view = Arc::new(tokio::sync::Mutex::new(view));
    let chunks = Box::pin(futures::stream::unfold(view.clone(), |v| async move {
        let next = v.lock().await.next().await;
        next.map(|r| (r, v))
    }));
    pump(
        socket,
        &id,
        chunks,
        ctl.shutdown.clone(),
        // A live camera is never paused at its source: nothing to keep.
        || async {},
        |ended, _| async move {
            // A view that completed or failed has recorded its end already.
            view.lock().await.end(&ended.outcome()).await;
        },
    )
    .await;
}

// ---------- the page part ----------

/// A bar on the timeline: a legal hold or an active-collection window.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// CSS class (`tl-hold`, `tl-window`).
    pub class: &'static str,
    /// Its name (a hold's name; empty for windows).
    pub name: String,
    /// What its tooltip says.
    pub label: String,
    /// Start.
    pub from: Timestamp,
    /// End.
    pub until: Timestamp,
}

/// What one timeline shows.
#[derive(Debug, Clone)]
pub struct Timeline<'a> {
    /// The camera.
    pub camera: &'a str,
    /// The span's name (`1h`, …) and its end.
    pub span: &'a str,
    /// Its start.
    pub start: Timestamp,
    /// Its end.
    pub end: Timestamp,
    /// Recorded ranges (`None`: not shown to this reader).
    pub recorded: Option<&'a [(Timestamp, Timestamp)]>,
    /// Holds and windows.
    pub marks: &'a [Mark],
    /// Where playback starts now (drawn as a line).
    pub at: Option<Timestamp>,
}

/// The span named `name` (default `1h`).
pub fn span_of(name: &str) -> (&'static str, SignedDuration) {
    SPANS
        .iter()
        .find(|(n, _)| *n == name)
        .copied()
        .unwrap_or(SPANS[1])
}

/// `t` moved by `d`, held at the ends of time rather than overflowing (the
/// times come from the query string).
fn plus(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.saturating_add(d).unwrap_or(t)
}

fn hms(t: Timestamp) -> String {
    t.strftime("%H:%M:%S").to_string()
}

/// A link to the camera page playing from `at` on this timeline.
fn play_link(t: &Timeline, at: Timestamp) -> String {
    format!(
        "/console/cameras/{}?at={}&span={}&end={}#player",
        url_part(t.camera),
        url_part(&at.to_string()),
        url_part(t.span),
        url_part(&t.end.to_string())
    )
}

/// A link to this camera's timeline over `span` ending at `end`.
fn span_link(camera: &str, span: &str, end: Timestamp) -> String {
    format!(
        "/console/cameras/{}?span={}&end={}#timeline",
        url_part(camera),
        url_part(span),
        url_part(&end.to_string())
    )
}

/// The timeline as HTML: an SVG of the recorded ranges (each slot of them a
/// link that plays from there), holds and windows (links playing from their
/// start), the hours, and links to earlier, later and other spans.
pub fn timeline_html(t: &Timeline, now: Timestamp) -> String {
    let total = t.end.duration_since(t.start).as_secs_f64().max(1.0);
    let x = |at: Timestamp| -> f64 {
        (at.duration_since(t.start).as_secs_f64() / total * WIDTH).clamp(0.0, WIDTH)
    };
    let clip = |a: Timestamp, b: Timestamp| (a.max(t.start), b.min(t.end));
    let mut s = String::with_capacity(8 * 1024);
    let _ = write!(
        s,
        "<div class=\"scroll\"><svg class=\"timeline\" viewBox=\"0 0 {WIDTH} 112\" role=\"img\" aria-labelledby=\"tl-title\">\
<title id=\"tl-title\">Timeline of {} from {} to {}</title>\
<text class=\"tl-row\" x=\"2\" y=\"14\">Recorded</text><text class=\"tl-row\" x=\"2\" y=\"52\">Legal holds</text>\
<text class=\"tl-row\" x=\"2\" y=\"78\">Active windows</text>\
<rect class=\"tl-track\" x=\"0\" y=\"18\" width=\"{WIDTH}\" height=\"20\"/>",
        esc(t.camera),
        esc(&html::when(&t.start.to_string())),
        esc(&html::when(&t.end.to_string()))
    );
    if let Some(rec) = t.recorded {
        for (a, b) in rec {
            let (a, b) = clip(*a, *b);
            if a >= b {
                continue;
            }
            let _ = write!(
                s,
                "<rect class=\"tl-rec\" x=\"{:.1}\" y=\"18\" width=\"{:.1}\" height=\"20\"/>",
                x(a),
                (x(b) - x(a)).max(2.0)
            );
        }
        // Every slot with video in it plays from its first recorded moment.
        let slot = SignedDuration::from_secs_f64(total / SLOTS as f64);
        for i in 0..SLOTS {
            let from = t.start + slot * i as i32;
            let until = from + slot;
            let first = rec
                .iter()
                .filter(|(a, b)| *a < until && *b > from)
                .map(|(a, _)| (*a).max(from))
                .min();
            if let Some(at) = first {
                let _ = write!(
                    s,
                    "<a class=\"tl-slot\" href=\"{}\"><rect x=\"{:.1}\" y=\"18\" width=\"{:.1}\" height=\"20\"><title>Play from {}</title></rect></a>",
                    esc(&play_link(t, at)),
                    x(from),
                    WIDTH / SLOTS as f64,
                    esc(&html::when(&at.to_string()))
                );
            }
        }
    }
    for (row, class) in [(0, "tl-hold"), (1, "tl-window")] {
        for m in t.marks.iter().filter(|m| m.class == class) {
            let (a, b) = clip(m.from, m.until);
            if a >= b {
                continue;
            }
            let _ = write!(
                s,
                "<a class=\"{class}\" data-name=\"{}\" href=\"{}\"><rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"12\"><title>{}</title></rect></a>",
                esc(&m.name),
                esc(&play_link(t, a)),
                x(a),
                56 + row * 26,
                (x(b) - x(a)).max(2.0),
                esc(&m.label)
            );
        }
    }
    if let Some(at) = t.at.filter(|a| *a >= t.start && *a <= t.end) {
        let _ = write!(
            s,
            "<line class=\"tl-at\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"16\" y2=\"96\"/>",
            x(at)
        );
    }
    for i in 0..=4 {
        let at = t.start + SignedDuration::from_secs_f64(total * f64::from(i) / 4.0);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            "<text class=\"tl-tick\" x=\"{:.1}\" y=\"108\" text-anchor=\"{anchor}\">{}</text>",
            x(at),
            hms(at)
        );
    }
    s.push_str("</svg></div>");
    // Earlier, later, and the other spans.
    let len = t.end.duration_since(t.start);
    s.push_str("<p class=\"tl-nav\">");
    let _ = write!(
        s,
        "<a href=\"{}\">Earlier</a>",
        esc(&span_link(t.camera, t.span, plus(t.end, -len)))
    );
    if t.end < now {
        let later = plus(t.end, len).min(now);
        let _ = write!(
            s,
            " · <a href=\"{}\">Later</a>",
            esc(&span_link(t.camera, t.span, later))
        );
    }
    for (name, _) in SPANS {
        if name == t.span {
            let _ = write!(s, " · <strong>{name}</strong>");
        } else {
            let _ = write!(
                s,
                " · <a href=\"{}\">{name}</a>",
                esc(&span_link(t.camera, name, t.end))
            );
        }
    }
    s.push_str("</p>");
    s
}

/// The table of recorded ranges under the timeline (the newest first, at
/// most 20), each with a link that plays it from its start.
fn ranges_table(t: &Timeline, rec: &[(Timestamp, Timestamp)]) -> String {
    if rec.is_empty() {
        return "<p>No recordings in this span.</p>".into();
    }
    let mut s = String::from("<table class=\"ranges\"><thead><tr><th scope=\"col\">Recorded from</th><th scope=\"col\">Until</th><th scope=\"col\"></th></tr></thead><tbody>");
    for (a, b) in rec.iter().rev().take(20) {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td><a href=\"{}\">Play</a></td></tr>",
            esc(&html::when(&a.to_string())),
            esc(&html::when(&b.to_string())),
            esc(&play_link(t, *a))
        );
    }
    s.push_str("</tbody></table>");
    s
}

/// The holds and active-collection windows of `camera` as timeline marks.
async fn marks(console: &Console, signed: &Signed, camera: &str) -> Vec<Mark> {
    let mut out = Vec::new();
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let time = |v: &Value, k: &str| text(v, k).parse::<Timestamp>().ok();
    use camplane_config::model::Kind;
    if let Ok(holds) = console.ctl.get_all(&signed.actor, Kind::LegalHold).await {
        for (h, _) in holds {
            let mine = h.spec["cameras"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c.as_str() == Some(camera)));
            let (Some(from), Some(until)) = (time(&h.spec, "from"), time(&h.spec, "until")) else {
                continue;
            };
            if !mine {
                continue;
            }
            let released = h.status.get("released_at").is_some_and(|r| !r.is_null());
            out.push(Mark {
                class: "tl-hold",
                name: h.name.clone(),
                label: format!(
                    "Legal hold {} (case {}){}: {} to {}",
                    h.name,
                    text(&h.spec, "case_number"),
                    if released { ", released" } else { "" },
                    html::when(&from.to_string()),
                    html::when(&until.to_string())
                ),
                from,
                until,
            });
        }
    }
    if let Ok(ws) = console.fleet.windows(&signed.actor).await {
        for w in ws.iter().filter(|w| w["camera"] == camera) {
            let (Some(from), Some(until)) = (time(w, "start"), time(w, "end")) else {
                continue;
            };
            out.push(Mark {
                class: "tl-window",
                name: String::new(),
                label: format!(
                    "Active collection {} to {}",
                    html::when(&from.to_string()),
                    html::when(&until.to_string())
                ),
                from,
                until,
            });
        }
    }
    out
}

/// The camera page's player and timeline (`query`: `at`, `span`, `end`,
/// `reason`): the player only for those the rule lets watch, the others told
/// why; the timeline for all who see the page (its recorded ranges only for
/// those who may watch).
pub(super) async fn section(
    console: &Console,
    signed: &Signed,
    camera: &str,
    query: &str,
) -> String {
    let ctl = &console.ctl;
    let now = ctl.now();
    let q = html::pairs(query);
    let (span, len) = span_of(html::field(&q, "span"));
    let end = html::field(&q, "end")
        .parse::<Timestamp>()
        .ok()
        .map(|e| e.min(now))
        .unwrap_or(now);
    let start = plus(end, -len);
    let reason: String = html::field(&q, "reason").chars().take(500).collect();
    let mut b = String::with_capacity(16 * 1024);
    b.push_str("<section id=\"player-section\"><h2 id=\"player\">Video</h2>");
    let may = ctl.may_view(&signed.actor, camera).await;
    let (recorded, note) = match &may {
        Ok(_) => {
            let hub = ctl.wing::<Hub>();
            match ctl
                .recorded_ranges(&hub, &signed.actor, camera, start, end)
                .await
            {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(status_of(&e).1)),
            }
        }
        Err(e) => (None, Some(status_of(e).1)),
    };
    let asked = html::field(&q, "at").parse::<Timestamp>().ok();
    // Without a time asked for: the last minute of the newest recording.
    let at = asked.or_else(|| {
        recorded
            .as_ref()
            .and_then(|r| r.last())
            .map(|(a, b)| plus(*b, SignedDuration::from_secs(-60)).max(*a))
    });
    let live = html::field(&q, "live") == "1";
    // The chief's current lift of this camera's masks for the viewer, if any:
    // with one, the page offers the original picture (asked with unmasked=1;
    // the WebSocket's view decides again).
    let lift = match &may {
        Ok(_) => ctl
            .lift_for(camera, &signed.actor.username)
            .await
            .ok()
            .flatten()
            .filter(|l| {
                crate::viewing::masks::lift_current(l, &signed.actor.username, camera, now)
            }),
        Err(_) => None,
    };
    let asked_unmasked = html::field(&q, "unmasked") == "1";
    let unmasked = asked_unmasked && lift.is_some();
    if asked_unmasked && lift.is_none() && may.is_ok() {
        b.push_str(&html::message(
            "error",
            "The original picture needs the chief's current lift of this camera's privacy masks for you; showing it masked.",
        ));
    }
    if let Some(l) = &lift {
        let mut other = format!("/console/cameras/{}?", url_part(camera));
        if live {
            other.push_str("live=1&");
        } else if let Some(a) = at {
            let _ = write!(other, "at={}&", url_part(&a.to_string()));
        }
        if !reason.is_empty() {
            let _ = write!(other, "reason={}&", url_part(&reason));
        }
        let (now_shown, link) = if unmasked {
            (
                "You are watching the original picture",
                "Watch with the masks",
            )
        } else {
            other.push_str("unmasked=1&");
            ("The picture is masked", "Watch the original picture")
        };
        other.pop();
        let _ = write!(
            b,
            "<p class=\"lift\">{now_shown}: the chief lifted this camera's privacy masks for you until {} ({}). \
<a class=\"{}\" href=\"{}#player\">{link}</a></p>",
            esc(&html::when(&l.expires_at.to_string())),
            esc(&l.reason),
            if unmasked { "masked" } else { "unmasked" },
            esc(&other)
        );
    }
    let unmasked_param = if unmasked { "unmasked=1" } else { "" };
    match (&may, at) {
        (Ok(basis), _) if live => {
            let mut ws = format!("/console/cameras/{}/live.ws", url_part(camera));
            let mut params: Vec<String> = Vec::new();
            if !reason.is_empty() {
                params.push(format!("reason={}", url_part(&reason)));
            }
            if unmasked {
                params.push(unmasked_param.to_string());
            }
            if !params.is_empty() {
                let _ = write!(ws, "?{}", params.join("&"));
            }
            let _ = write!(
                b,
                "<p>Live (you may watch: {}). Each viewing is logged with your name. \
<a href=\"/console/cameras/{}#player\">Recordings</a></p>\
<video id=\"player-video\" class=\"player\" controls muted playsinline data-live=\"1\" data-ws=\"{}\"></video>\
<p id=\"player-status\" class=\"note\" role=\"status\">The video plays with the console's script on.</p>\
<script src=\"/console/static/console.js\"></script>",
                esc(basis),
                url_part(camera),
                esc(&ws)
            );
        }
        (Err(_), _) => {
            let _ = write!(
                b,
                "{}",
                html::message(
                    "error",
                    &format!(
                        "You may not watch this camera: {}",
                        note.as_deref().unwrap_or("")
                    )
                )
            );
        }
        (Ok(_), None) => {
            if let Some(n) = &note {
                b.push_str(&html::message("error", n));
            }
            b.push_str("<p>Nothing recorded in this span: choose another on the timeline.</p>");
        }
        (Ok(basis), Some(at)) => {
            let to = plus(at, PAGE_PLAYBACK).min(now.max(plus(at, SignedDuration::from_secs(1))));
            let mut ws = format!(
                "/console/cameras/{}/playback.ws?from={}&to={}",
                url_part(camera),
                url_part(&at.to_string()),
                url_part(&to.to_string())
            );
            if !reason.is_empty() {
                let _ = write!(ws, "&reason={}", url_part(&reason));
            }
            if unmasked {
                let _ = write!(ws, "&{unmasked_param}");
            }
            let _ = write!(
                b,
                "<p>Playing from {} (you may watch: {}). Each viewing is logged with your name.</p>\
<video id=\"player-video\" class=\"player\" controls muted playsinline data-ws=\"{}\"></video>\
<p id=\"player-status\" class=\"note\" role=\"status\">The video plays with the console's script on.</p>\
<script src=\"/console/static/console.js\"></script>",
                esc(&html::when(&at.to_string())),
                esc(basis),
                esc(&ws)
            );
        }
    }
    if may.is_ok() && !live {
        let _ = write!(
            b,
            "<p><a href=\"/console/cameras/{}?live=1{}#player\">Watch live</a></p>",
            url_part(camera),
            if unmasked { "&unmasked=1" } else { "" }
        );
    }
    // A form to play from a given time, with a reason (works without script).
    if may.is_ok() {
        let _ = write!(
            b,
            "<form class=\"play-at\" method=\"get\" action=\"/console/cameras/{}#player\">\
<input type=\"hidden\" name=\"span\" value=\"{}\">\
<label for=\"play-at\">Play from (UTC, RFC 3339)</label><input id=\"play-at\" name=\"at\" value=\"{}\">\
<label for=\"play-reason\">Reason (logged)</label><input id=\"play-reason\" name=\"reason\" maxlength=\"500\" value=\"{}\">{}\
<button type=\"submit\">Play</button></form>",
            url_part(camera),
            esc(span),
            esc(&at.map(|a| a.to_string()).unwrap_or_default()),
            esc(&reason),
            if lift.is_some() {
                format!(
                    "<label><input type=\"checkbox\" name=\"unmasked\" value=\"1\"{}> The original picture (lifted)</label>",
                    if unmasked { " checked" } else { "" }
                )
            } else {
                String::new()
            }
        );
    }
    let marks = marks(console, signed, camera).await;
    let t = Timeline {
        camera,
        span,
        start,
        end,
        recorded: recorded.as_deref(),
        marks: &marks,
        at,
    };
    b.push_str("<h3 id=\"timeline\">Timeline</h3>");
    b.push_str(&timeline_html(&t, now));
    if let Some(rec) = &recorded {
        b.push_str(&ranges_table(&t, rec));
    }
    b.push_str("</section>");
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A paused range keeps its source for [`MAX_PAUSE`], then the session ends;
    /// a `resume` starts the count again; a viewer repeating `pause` (to look
    /// paused for a moment each time) does not.
    #[test]
    fn a_pause_keeps_the_source_for_at_most_max_pause() {
        let t0 = tokio::time::Instant::now();
        let mut p = Pause::default();
        assert!(!p.paused() && !p.keeps(t0), "not paused: nothing to keep");
        p.start(t0);
        assert!(p.paused());
        assert!(p.keeps(t0 + KEEP_EVERY));
        assert!(p.keeps(t0 + MAX_PAUSE - Duration::from_secs(1)));
        assert!(!p.keeps(t0 + MAX_PAUSE), "the pause ran out");
        // `pause` again, late in the pause: the clock does not restart.
        p.start(t0 + MAX_PAUSE - Duration::from_secs(5));
        assert!(!p.keeps(t0 + MAX_PAUSE));
        // `resume`, then `pause`: a new pause, a new count.
        p.end();
        assert!(!p.paused());
        let t1 = t0 + MAX_PAUSE;
        p.start(t1);
        assert!(p.keeps(t1 + MAX_PAUSE - Duration::from_secs(1)));
        assert!(!p.keeps(t1 + MAX_PAUSE));
    }

    /// The end is recorded as `paused too long` and the viewer is told why and
    /// what to do, in a close reason a browser accepts (a normal close).
    #[test]
    fn a_pause_that_ran_out_is_recorded_and_explained() {
        assert_eq!(Ended::PausedTooLong.outcome(), "paused too long");
        let (code, text) = Ended::PausedTooLong.told().unwrap();
        assert_eq!(code, 1000);
        assert!(
            text.starts_with("paused too long: after 10 minutes"),
            "{text}"
        );
        assert!(text.contains("open the range again"), "{text}");
    }

    fn bx(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(typ);
        v.extend_from_slice(body);
        v
    }

    /// ftyp + moov with one H.264 track whose avcC says High 3.1.
    fn init() -> Vec<u8> {
        let avcc = bx(b"avcC", &[1, 0x64, 0x00, 0x1f, 0xff, 0xe1]);
        let mut entry = vec![0u8; 78];
        entry.extend_from_slice(&avcc);
        let avc1 = bx(b"avc1", &entry);
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend_from_slice(&avc1);
        let stbl = bx(b"stbl", &bx(b"stsd", &stsd));
        let minf = bx(b"minf", &[bx(b"vmhd", &[0; 12]), stbl].concat());
        let mdia = bx(b"mdia", &[bx(b"mdhd", &[0; 24]), minf].concat());
        let trak = bx(b"trak", &[bx(b"tkhd", &[0; 84]), mdia].concat());
        let moov = bx(b"moov", &[bx(b"mvhd", &[0; 100]), trak].concat());
        [bx(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41"), moov].concat()
    }

    #[test]
    fn the_codec_comes_from_the_init_segments_avcc() {
        let i = init();
        let mut buf = i.clone();
        buf.extend_from_slice(&bx(b"moof", &[0; 16]));
        assert_eq!(
            init_segment(&buf),
            Some((i.len(), Some("avc1.64001f".to_string())))
        );
        assert_eq!(
            mime_of(Some("avc1.64001f")),
            "video/mp4; codecs=\"avc1.64001f\""
        );
        assert_eq!(mime_of(None), DEFAULT_MIME);
    }

    #[test]
    fn a_partial_or_broken_init_segment_is_not_read() {
        let i = init();
        // Not all there yet, at any cut.
        for n in 0..i.len() {
            assert_eq!(init_segment(&i[..n]), None, "cut at {n}");
        }
        // A box claiming more than there is, a zero size, a size below its header.
        assert_eq!(init_segment(&[0xff, 0xff, 0xff, 0xff, b'f', b't']), None);
        assert_eq!(init_segment(&bx(b"free", &[])[..4]), None);
        assert_eq!(init_segment(&[0, 0, 0, 0, b'm', b'o', b'o', b'v']), None);
        assert_eq!(init_segment(&[0, 0, 0, 4, b'm', b'o', b'o', b'v']), None);
        // A 64-bit size too large for memory.
        let mut big = vec![0, 0, 0, 1];
        big.extend_from_slice(b"moov");
        big.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(init_segment(&big), None);
        // A moov without a video track: the end, no codec.
        let m = bx(b"moov", &bx(b"mvhd", &[0; 100]));
        assert_eq!(init_segment(&m), Some((m.len(), None)));
        // Random bytes never panic.
        let mut seed = 7u64;
        for _ in 0..2000 {
            let n = (seed % 300) as usize;
            let v: Vec<u8> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 33) as u8
                })
                .collect();
            let _ = init_segment(&v);
            let mut w = init();
            let at = (seed as usize) % w.len();
            w[at] ^= (seed >> 7) as u8;
            let _ = init_segment(&w);
        }
    }

    #[test]
    fn close_reasons_are_cut_on_character_boundaries() {
        let s = "é".repeat(100);
        let c = cut(&s, 123);
        assert!(c.len() <= 123 && c.len() == 122);
        assert_eq!(cut("abc", 123), "abc");
    }

    #[test]
    fn the_timeline_draws_ranges_holds_and_windows_as_links() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let rec = [(t("2026-11-01T10:10:00Z"), t("2026-11-01T10:20:00Z"))];
        let marks = [
            Mark {
                class: "tl-hold",
                name: "hold-1".into(),
                label: "Legal hold hold-1 <case>".into(),
                from: t("2026-11-01T09:00:00Z"),
                until: t("2026-11-01T10:30:00Z"),
            },
            Mark {
                class: "tl-window",
                name: String::new(),
                label: "Active collection".into(),
                from: t("2026-11-01T10:40:00Z"),
                until: t("2026-11-01T10:45:00Z"),
            },
            // Outside the span: not drawn.
            Mark {
                class: "tl-window",
                name: String::new(),
                label: "old window".into(),
                from: t("2026-10-01T10:40:00Z"),
                until: t("2026-10-01T10:45:00Z"),
            },
        ];
        let tl = Timeline {
            camera: "cam 1",
            span: "1h",
            start: t("2026-11-01T10:00:00Z"),
            end: t("2026-11-01T11:00:00Z"),
            recorded: Some(&rec),
            marks: &marks,
            at: Some(t("2026-11-01T10:15:00Z")),
        };
        let h = timeline_html(&tl, t("2026-11-01T12:00:00Z"));
        // The range is a sixth of the width from a sixth in.
        assert!(
            h.contains("class=\"tl-rec\" x=\"166.7\" y=\"18\" width=\"166.7\""),
            "{h}"
        );
        // Its 20 slots (30 s each) play from their start; the first from 10:10.
        assert_eq!(h.matches("class=\"tl-slot\"").count(), 20);
        assert!(h.contains(
            "href=\"/console/cameras/cam%201?at=2026-11-01T10%3A10%3A00Z&amp;span=1h&amp;end=2026-11-01T11%3A00%3A00Z#player\""
        ));
        // The hold is clipped to the span, linked from the span's start, escaped.
        assert!(h.contains("class=\"tl-hold\" data-name=\"hold-1\""), "{h}");
        assert!(h.contains("Legal hold hold-1 &lt;case&gt;"));
        assert!(h.contains("at=2026-11-01T10%3A00%3A00Z"));
        assert_eq!(h.matches("class=\"tl-window\"").count(), 1);
        assert!(!h.contains("old window"));
        assert!(h.contains("class=\"tl-at\" x1=\"250.0\""));
        // Earlier and later (the span ends before now), and the other spans.
        assert!(h.contains(">Earlier</a>") && h.contains(">Later</a>"));
        assert!(h.contains("<strong>1h</strong>") && h.contains(">24h</a>"));
        // A reader who may not watch sees no recordings and no play slots.
        let h = timeline_html(
            &Timeline {
                recorded: None,
                ..tl.clone()
            },
            t("2026-11-01T11:00:00Z"),
        );
        assert!(!h.contains("tl-rec") && !h.contains("tl-slot") && !h.contains(">Later</a>"));
        assert!(h.contains("tl-hold"));
    }

    #[test]
    fn spans_default_to_an_hour() {
        assert_eq!(span_of("6h").0, "6h");
        assert_eq!(span_of("nonsense"), SPANS[1]);
        assert_eq!(span_of(""), SPANS[1]);
    }
}
