//! Live view: a camera now, through the controller, to any number of viewers.
//!
//! For the console (and any door), with the signed-in [`Actor`]:
//!
//! ```ignore
//! // Checked (the recordings rule, Right::View, policy acknowledged), stored
//! // and audited `view.start` before any byte; refusals audited too.
//! let mut view: LiveView = ctl.start_live(&actor, &token, &LiveRequest {
//!     camera, reason, unmasked: false, seconds: 0 /* until dropped */ }).await?;
//! while let Some(chunk) = view.next().await {      // Option<Result<bytes::Bytes>>
//!     let bytes = chunk?;  // the init segment first, then fMP4 fragments from a keyframe
//!     // send to the browser (MSE SourceBuffer.appendBuffer)
//! }
//! view.end("viewer gone").await;  // or drop it: the end is recorded either way
//! ```
//!
//! `next` gives `None` once `seconds` of video were sent (`completed`) and
//! `Some(Err(..))` when the stream ended for another reason (the agent or its
//! camera gone, the controller shutting down, an unmasked view's lift expired
//! ([`LIFT_EXPIRED`]), the camera's privacy masks changed ([`MASKS_CHANGED`]):
//! the reason is the error's text);
//! both write `view.end` (duration, bytes, masked, outcome) before returning.
//! Dropping a [`LiveView`] that has not ended records `viewer gone`.
//!
//! **Media path.** Video never travels in the control stream: the controller
//! asks the agent to open a stream with a small control query (`live_open`),
//! and the agent sends it on its own client-streaming call, `Fleet.Media`
//! (mutual TLS), which the controller ends when the last viewer leaves.
//!
//! **The relay** ([`Relay`], a wing): viewers of one camera (and masking) share
//! one [`Feed`], one stream from the agent. The feed keeps the init segment and
//! the fragments since the last keyframe, so a viewer who joins starts at a
//! keyframe at once. Each viewer has a bounded queue ([`VIEWER_QUEUE`]
//! fragments); a viewer whose queue is full misses fragments until the next
//! keyframe (it skips ahead) and never slows the agent or the others. When the
//! last viewer leaves the feed stops and its agent stream closes.
//!
//! **Any controller.** When another controller holds the agent (its presence
//! record), the feed's source is that controller's relay, joined over the
//! `Peer.Live` call (mutual TLS between controllers); the holder shares its
//! one agent stream with its own viewers and its peers.

use crate::alpr::search::Hub;
use crate::core::audit::Draft;
use crate::core::auth::Actor;
use crate::core::store::{Compare, Op};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::recordings::Right;
use crate::viewing::{ViewMode, ViewingSession, MAX_REASON};
use crate::{Error, Result};
use camplane_config::model::{LiveOpenQuery, PrivacyMask};
use camplane_proto::kinds::QueryKind;
use camplane_proto::v1 as pb;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Fragments queued towards one viewer before it skips to the next keyframe.
pub const VIEWER_QUEUE: usize = 64;
/// Most bytes of the kept GOP of a feed.
pub const MAX_GOP_BYTES: usize = 16 << 20;
/// How long the agent has to open its media call after `live_open`.
pub const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a running view compares its masks with the camera's.
pub const MASKS_RECHECK: Duration = Duration::from_secs(1);
/// How often a running view checks again that its viewer may still see the
/// camera: the session not signed out or expired, the user not disabled, the
/// role and the chief's authorization still held. A live view has no end of its
/// own, so a right withdrawn must end it (within this long).
pub const ACCESS_RECHECK: Duration = Duration::from_secs(5);
/// The outcome of a view ended because its viewer's right ended (the reason
/// follows).
pub const ACCESS_WITHDRAWN: &str = "ended: access withdrawn";

/// A live view as asked.
#[derive(Debug, Clone, Default)]
pub struct LiveRequest {
    /// Camera.
    pub camera: String,
    /// Why (optional, kept).
    pub reason: String,
    /// Without the camera's privacy masks (needs a lift).
    pub unmasked: bool,
    /// Stop after this much video (0: until the viewer goes).
    pub seconds: u32,
}

/// One piece of a live stream: the init segment or one fragment.
#[derive(Debug, Clone)]
pub struct Piece {
    /// fMP4 bytes.
    pub data: bytes::Bytes,
    /// The init segment.
    pub init: bool,
    /// A fragment starting with a keyframe.
    pub key: bool,
    /// Decode time from the agent stream's start, ms.
    pub time_ms: i64,
}

impl Piece {
    fn from_pb(m: pb::MediaChunk) -> Piece {
        Piece {
            data: m.data.into(),
            init: m.init,
            key: m.key,
            time_ms: m.time_ms,
        }
    }
}

struct Viewer {
    id: u64,
    tx: mpsc::Sender<Arc<Piece>>,
    need_key: bool,
}

#[derive(Default)]
struct FeedState {
    init: Option<Arc<Piece>>,
    gop: Vec<Arc<Piece>>,
    gop_bytes: usize,
    viewers: Vec<Viewer>,
    ended: Option<String>,
}

/// A joining viewer's start (the init segment and the GOP so far) and queue.
type Joined = (VecDeque<Arc<Piece>>, mpsc::Receiver<Arc<Piece>>);

/// One camera's shared stream on this controller.
pub struct Feed {
    /// The camera.
    pub camera: String,
    /// Its agent.
    pub agent: String,
    /// Masks burned in.
    pub masked: bool,
    /// The masks burned in (at the agent); none when not `masked`.
    pub masks: Vec<PrivacyMask>,
    state: Mutex<FeedState>,
    /// Cancelled when the last viewer leaves (the source stops).
    stop: CancellationToken,
    /// Cancelled when the source ended.
    done: CancellationToken,
    attached: tokio::sync::Notify,
    skipped: Arc<AtomicU64>,
}

impl Feed {
    fn new(camera: &str, agent: &str, masks: &[PrivacyMask], skipped: Arc<AtomicU64>) -> Feed {
        Feed {
            camera: camera.into(),
            agent: agent.into(),
            masked: !masks.is_empty(),
            masks: masks.to_vec(),
            state: Mutex::default(),
            stop: CancellationToken::new(),
            done: CancellationToken::new(),
            attached: tokio::sync::Notify::new(),
            skipped,
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A piece from the source, to every viewer (never waits on one).
    pub fn push(&self, p: Piece) {
        let p = Arc::new(p);
        let mut s = self.st();
        if s.ended.is_some() {
            return;
        }
        if p.init {
            s.init = Some(p.clone());
            s.gop.clear();
            s.gop_bytes = 0;
        } else if p.key {
            s.gop.clear();
            s.gop_bytes = p.data.len();
            s.gop.push(p.clone());
        } else if !s.gop.is_empty() && s.gop_bytes + p.data.len() <= MAX_GOP_BYTES {
            s.gop_bytes += p.data.len();
            s.gop.push(p.clone());
        } else {
            s.gop.clear();
        }
        let mut skipped = 0;
        s.viewers.retain_mut(|v| {
            if v.need_key && !p.key && !p.init {
                return !v.tx.is_closed();
            }
            match v.tx.try_send(p.clone()) {
                Ok(()) => {
                    if !p.init {
                        v.need_key = false;
                    }
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    v.need_key = true;
                    skipped += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if skipped > 0 {
            self.skipped.fetch_add(skipped, Ordering::Relaxed);
        }
    }

    /// The source ended: every viewer's stream closes; they read `reason`.
    pub fn end(&self, reason: &str) {
        let mut s = self.st();
        if s.ended.is_none() {
            s.ended = Some(reason.to_string());
        }
        s.viewers.clear();
        s.gop.clear();
        drop(s);
        self.done.cancel();
        self.stop.cancel();
    }

    /// Why it ended (once it did).
    pub fn ended(&self) -> Option<String> {
        self.st().ended.clone()
    }

    fn join(&self, id: u64) -> Result<Joined> {
        let mut s = self.st();
        if let Some(r) = &s.ended {
            return Err(Error::Agent(r.clone()));
        }
        let (tx, rx) = mpsc::channel(VIEWER_QUEUE);
        let mut snap: VecDeque<Arc<Piece>> = s.init.iter().cloned().collect();
        snap.extend(s.gop.iter().cloned());
        let need_key = s.gop.is_empty();
        s.viewers.push(Viewer { id, tx, need_key });
        Ok((snap, rx))
    }

    /// Removes a viewer; true when none is left.
    fn leave(&self, id: u64) -> bool {
        let mut s = self.st();
        s.viewers.retain(|v| v.id != id && !v.tx.is_closed());
        s.viewers.is_empty()
    }
}

/// The live feeds of this controller (a wing).
#[derive(Default)]
pub struct Relay {
    feeds: Mutex<HashMap<(String, bool), Arc<Feed>>>,
    pending: Mutex<HashMap<String, Arc<Feed>>>,
    agent_streams: AtomicUsize,
    next: AtomicU64,
    skipped: Arc<AtomicU64>,
}

/// One viewer's place in a feed; leaving it (drop) may stop the feed.
pub struct Subscription {
    relay: Arc<Relay>,
    feed: Arc<Feed>,
    id: u64,
    snap: VecDeque<Arc<Piece>>,
    rx: mpsc::Receiver<Arc<Piece>>,
}

impl Subscription {
    /// The next piece; `Err(reason)` once the feed ended.
    pub async fn recv(&mut self) -> std::result::Result<Arc<Piece>, String> {
        if let Some(p) = self.snap.pop_front() {
            return Ok(p);
        }
        match self.rx.recv().await {
            Some(p) => Ok(p),
            None => Err(self
                .feed
                .ended()
                .unwrap_or_else(|| "the stream fell too far behind".into())),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Under the relay's lock, as joins are: nobody joins a feed between
        // its last viewer leaving and its stop.
        let mut g = self.relay.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if self.feed.leave(self.id) {
            let k = (self.feed.camera.clone(), self.feed.masked);
            if g.get(&k).is_some_and(|f| Arc::ptr_eq(f, &self.feed)) {
                g.remove(&k);
            }
            self.feed.stop.cancel();
        }
    }
}

impl Relay {
    /// Streams this controller receives from agents now.
    pub fn agent_streams(&self) -> usize {
        self.agent_streams.load(Ordering::Relaxed)
    }

    /// Fragments viewers missed (skipping to the next keyframe) because
    /// their queues were full, since start.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Feeds running on this controller.
    pub fn feeds(&self) -> usize {
        self.feeds.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn forget(&self, feed: &Arc<Feed>) {
        let mut g = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        let k = (feed.camera.clone(), feed.masked);
        if g.get(&k).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            g.remove(&k);
        }
    }

    /// Joins the camera's feed with `masks` burned in (none: the original),
    /// starting it (and its agent stream) for the first viewer. One feed per
    /// (camera, masked): masked viewers share one, unmasked ones another. A
    /// masked feed whose masks are not `masks` (the camera's changed since it
    /// started) is not joined: a new one with these masks takes its place
    /// for viewers from now on.
    pub fn subscribe(
        self: &Arc<Self>,
        ctl: &Arc<Controller>,
        camera: &str,
        agent: &str,
        masks: &[PrivacyMask],
    ) -> Result<Subscription> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut g = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        let k = (camera.to_string(), !masks.is_empty());
        if let Some(f) = g.get(&k).cloned() {
            if f.ended().is_none() && !f.stop.is_cancelled() && f.masks == masks {
                let (snap, rx) = f.join(id)?;
                return Ok(Subscription {
                    relay: self.clone(),
                    feed: f,
                    id,
                    snap,
                    rx,
                });
            }
        }
        let f = Arc::new(Feed::new(camera, agent, masks, self.skipped.clone()));
        let (snap, rx) = f.join(id)?;
        g.insert(k, f.clone());
        drop(g);
        let (relay, ctl, feed) = (self.clone(), ctl.clone(), f.clone());
        tokio::spawn(async move {
            let r = relay.source(&ctl, &feed).await;
            let reason = match r {
                Ok(()) => "the stream ended".to_string(),
                Err(e) => e.to_string(),
            };
            feed.end(&reason);
            relay.forget(&feed);
        });
        Ok(Subscription {
            relay: self.clone(),
            feed: f,
            id,
            snap,
            rx,
        })
    }

    /// Runs a feed's source until it ends or the last viewer left.
    async fn source(&self, ctl: &Arc<Controller>, feed: &Arc<Feed>) -> Result<()> {
        let hub = ctl.wing::<Hub>();
        let peer = match hub.route() {
            Some(route) if !hub.holds(&feed.agent) => route
                .presence(&feed.agent)
                .await
                .map_err(|e| Error::Agent(format!("agent {}: presence unknown: {e}", feed.agent)))?
                .filter(|p| p.controller != route.id)
                .map(|p| (route.clone(), p)),
            _ => None,
        };
        if let Some((route, p)) = peer {
            return self.feed_from_peer(ctl, &route, &p, feed).await;
        }
        let stream = format!("ls-{}", hex::encode(rand::random::<[u8; 8]>()));
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(stream.clone(), feed.clone());
        let q = LiveOpenQuery {
            stream: stream.clone(),
            camera: feed.camera.clone(),
            masked: feed.masked,
            masks: feed.masks.clone(),
        };
        let asked = hub
            .ask_here(
                &feed.agent,
                QueryKind::LiveOpen,
                serde_json::to_vec(&q)?,
                ATTACH_TIMEOUT,
            )
            .await;
        let attached = match asked {
            Err(e) => Err(e),
            Ok(_) => tokio::select! {
                () = feed.attached.notified() => Ok(()),
                () = feed.done.cancelled() => Ok(()),
                () = feed.stop.cancelled() => Ok(()),
                () = tokio::time::sleep(ATTACH_TIMEOUT) => Err(Error::Agent(format!(
                    "agent {}: did not open its media stream", feed.agent))),
            },
        };
        let was_pending = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&stream)
            .is_some();
        attached?;
        if !was_pending {
            // The media call runs the feed now; wait for it to end.
            feed.done.cancelled().await;
        }
        Ok(())
    }

    /// The agent's `Fleet.Media` call: the first message names a stream this
    /// controller asked `agent` for; the rest feeds it until the agent ends it
    /// (the camera's connection), the call breaks (the agent gone), the last
    /// viewer leaves or the controller shuts down.
    pub async fn attach(
        &self,
        ctl: &Controller,
        agent: &str,
        mut inbound: tonic::Streaming<pb::MediaChunk>,
    ) -> Result<String> {
        let first = tokio::time::timeout(ATTACH_TIMEOUT, inbound.message())
            .await
            .map_err(|_| Error::InvalidArgument("media: no first message".into()))?
            .map_err(|s| Error::InvalidArgument(format!("media: {}", s.message())))?
            .ok_or_else(|| Error::InvalidArgument("media: empty stream".into()))?;
        let feed = {
            let mut g = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            match g.get(&first.stream) {
                Some(f) if f.agent == agent => g.remove(&first.stream),
                _ => None,
            }
        }
        .ok_or_else(|| {
            Error::PermissionDenied(format!(
                "media: stream {:?} was not asked of agent {agent}",
                first.stream.chars().take(40).collect::<String>()
            ))
        })?;
        feed.attached.notify_one();
        self.agent_streams.fetch_add(1, Ordering::Relaxed);
        let _count = Counted(&self.agent_streams);
        // A stream may end before its first picture (a masked one whose
        // masker failed): its first message then says why.
        let early = (!first.end.is_empty()).then(|| {
            format!(
                "agent {agent}: {}",
                first.end.chars().take(200).collect::<String>()
            )
        });
        if early.is_none() {
            feed.push(Piece::from_pb(first));
        }
        let reason = if let Some(r) = early {
            r
        } else {
            loop {
                tokio::select! {
                    m = inbound.message() => match m {
                        Ok(Some(m)) if !m.end.is_empty() => {
                            break format!("agent {agent}: {}", m.end.chars().take(200).collect::<String>())
                        }
                        Ok(Some(m)) => feed.push(Piece::from_pb(m)),
                        Ok(None) => break format!("agent {agent}: its stream stopped without a reason (the agent gone?)"),
                        Err(s) => break format!("agent {agent}: the stream broke: {}", s.message()),
                    },
                    () = feed.stop.cancelled() => break "no viewers left".to_string(),
                    () = ctl.shutdown.cancelled() => break "controller shutting down".to_string(),
                }
            }
        };
        feed.end(&reason);
        self.forget(&feed);
        Ok(reason)
    }

    /// A feed whose source is the relay of the controller holding the agent.
    async fn feed_from_peer(
        &self,
        ctl: &Arc<Controller>,
        route: &crate::alpr::route::Route,
        p: &crate::alpr::route::Presence,
        feed: &Arc<Feed>,
    ) -> Result<()> {
        let agent = &feed.agent;
        let channel = route.channel(&p.address).map_err(|e| match e {
            Error::Agent(m) => Error::Agent(format!("agent {agent}: {m}")),
            e => e,
        })?;
        let mut client = pb::peer_client::PeerClient::new(channel)
            .max_decoding_message_size(camplane_proto::limits::MEDIA_MAX_MESSAGE);
        let req = pb::PeerLiveRequest {
            agent: agent.clone(),
            camera: feed.camera.clone(),
            masked: feed.masked,
        };
        let mut s = tokio::time::timeout(ATTACH_TIMEOUT, client.live(req))
            .await
            .map_err(|_| {
                Error::Agent(format!(
                    "agent {agent}: its controller {} did not answer",
                    p.controller
                ))
            })?
            .map_err(|st| {
                Error::Agent(format!(
                    "agent {agent}: through controller {}: {}",
                    p.controller,
                    st.message().chars().take(200).collect::<String>()
                ))
            })?
            .into_inner();
        loop {
            tokio::select! {
                m = s.message() => match m {
                    Ok(Some(m)) if !m.end.is_empty() => return Err(Error::Agent(m.end)),
                    Ok(Some(m)) => feed.push(Piece::from_pb(m)),
                    Ok(None) => return Err(Error::Agent(format!("agent {agent}: the stream ended"))),
                    Err(st) => return Err(Error::Agent(format!(
                        "agent {agent}: through controller {}: {}", p.controller, st.message()))),
                },
                () = feed.stop.cancelled() => return Ok(()),
                () = ctl.shutdown.cancelled() => return Err(Error::Cancelled("controller shutting down".into())),
            }
        }
    }
}

struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The outcome of an unmasked live view cut at its lift's expiry.
pub const LIFT_EXPIRED: &str = "ended: the lift expired";
/// The outcome of a view cut because the camera's privacy masks changed.
pub const MASKS_CHANGED: &str = "ended: the camera's privacy masks changed";

/// A live viewing session: its record, and the stream (see the module doc).
pub struct LiveView {
    /// The session as stored.
    pub session: ViewingSession,
    ctl: Arc<Controller>,
    sub: Option<Subscription>,
    seconds: u32,
    first_ms: Option<i64>,
    sent: u64,
    ended: bool,
    /// An unmasked view: when its lift expires (the view ends there).
    lift_ends: Option<jiff::Timestamp>,
    /// The masks burned in (none: the original).
    masks: Vec<PrivacyMask>,
    masks_checked: std::time::Instant,
    /// The viewer's right, checked again every [`ACCESS_RECHECK`].
    access: super::AccessWatch,
}

impl LiveView {
    /// Bytes handed out so far.
    pub fn bytes(&self) -> u64 {
        self.sent
    }

    /// The next chunk (the init segment first); `None` when `seconds` of
    /// video were sent; an error (its reason) when the stream ended otherwise.
    /// The session's end is recorded before either is returned.
    pub async fn next(&mut self) -> Option<Result<bytes::Bytes>> {
        if self.ended {
            return None;
        }
        let shutdown = self.ctl.shutdown.clone();
        let got = match self.sub.as_mut() {
            None => Err("the stream ended".to_string()),
            Some(sub) => tokio::select! {
                r = sub.recv() => r,
                () = shutdown.cancelled() => Err("controller shutting down".into()),
            },
        };
        match got {
            Ok(p) => {
                let ctl = self.ctl.clone();
                if let Err(e) = self.access.check(&ctl).await {
                    self.end(&format!("{ACCESS_WITHDRAWN}: {e}")).await;
                    return Some(Err(e));
                }
                // The original picture only while the lift lasts (the
                // injected clock), however long the view was asked for.
                // A view is burned in with the masks of its start: when the
                // camera's change (a mask added over a window found later),
                // a view not lifted ends, and starts again with the new ones.
                if self.lift_ends.is_none() && self.masks_checked.elapsed() >= MASKS_RECHECK {
                    self.masks_checked = std::time::Instant::now();
                    let now: Vec<PrivacyMask> = self
                        .ctl
                        .load(camplane_config::model::Kind::Camera, &self.session.camera)
                        .ok()
                        .and_then(|o| o.spec_as::<camplane_config::model::CameraSpec>().ok())
                        .map(|c| c.privacy_masks)
                        .unwrap_or_default();
                    if now != self.masks {
                        let why = format!(
                            "camera {}'s privacy masks changed since the view started; start it again",
                            self.session.camera
                        );
                        self.end(MASKS_CHANGED).await;
                        return Some(Err(Error::FailedPrecondition(why)));
                    }
                }
                if self.lift_ends.is_some_and(|t| self.ctl.now() >= t) {
                    let why = format!(
                        "the lift of camera {}'s privacy masks expired; view it masked, or ask the chief for a new lift",
                        self.session.camera
                    );
                    self.end(LIFT_EXPIRED).await;
                    return Some(Err(Error::PermissionDenied(why)));
                }
                if self.seconds > 0 && !p.init {
                    let t0 = *self.first_ms.get_or_insert(p.time_ms);
                    if p.time_ms - t0 >= i64::from(self.seconds) * 1000 {
                        self.end("completed").await;
                        return None;
                    }
                }
                self.sent += p.data.len() as u64;
                Some(Ok(p.data.clone()))
            }
            Err(reason) => {
                if reason == "controller shutting down" {
                    self.end(&reason).await;
                } else {
                    self.end(&format!("failed: {reason}")).await;
                }
                Some(Err(Error::Agent(reason)))
            }
        }
    }

    /// Ends the session now with `outcome` (`viewer gone`, ...), recorded.
    pub async fn end(&mut self, outcome: &str) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.sub = None;
        if let Err(e) = self
            .ctl
            .end_viewing(&self.session, self.sent, outcome)
            .await
        {
            tracing::error!(session = %self.session.id, error = %e, "viewing session end not audited");
        }
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        self.sub = None;
        let (ctl, s, sent) = (self.ctl.clone(), self.session.clone(), self.sent);
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(async move {
                if let Err(e) = ctl.end_viewing(&s, sent, "viewer gone").await {
                    tracing::error!(session = %s.id, error = %e, "viewing session end not audited");
                }
            });
        }
    }
}

impl Controller {
    /// Starts a live view: the recordings rule (Right::View, the current
    /// policy acknowledged), the reason, the masks; the session stored and
    /// `view.start` written in one transaction before any byte; then the
    /// camera's feed joined (started for the first viewer). Refusals are
    /// audited `view.start`.
    pub async fn start_live(
        self: &Arc<Self>,
        actor: &Actor,
        token: &str,
        req: &LiveRequest,
    ) -> Result<LiveView> {
        let shown = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let details = serde_json::json!({
            "camera": shown(&req.camera, 60), "mode": ViewMode::Live,
            "reason": shown(&req.reason, MAX_REASON).escape_default().to_string(),
            "unmasked": req.unmasked,
        });
        let checked = async {
            let (cam, basis) = self
                .check_recording_access(actor, &req.camera, Right::View)
                .await?;
            if req.reason.chars().count() > MAX_REASON || req.reason.chars().any(char::is_control) {
                return Err(Error::InvalidArgument(format!(
                    "reason: at most {MAX_REASON} characters, no control characters"
                )));
            }
            let max = camplane_proto::limits::LIVE_MAX_SECONDS;
            if req.seconds > max {
                return Err(Error::InvalidArgument(format!(
                    "seconds: at most {max} (0: until the viewer goes)"
                )));
            }
            // Masked unless the viewer holds a current lift (the rule of
            // playback too: `masks::view_masks`).
            let masking = self
                .masks_for_view(
                    &cam.privacy_masks,
                    req.unmasked,
                    &actor.username,
                    &req.camera,
                )
                .await?;
            let (agent, _site) = self.camera_agent(&req.camera, &cam)?;
            Ok((cam, basis, masking, agent))
        }
        .await;
        let (cam, basis, masking, agent) = match checked {
            Ok(x) => x,
            Err(e) => {
                let mut d = Draft::new(
                    &actor.username,
                    AuditAction::ViewStart,
                    "Camera",
                    &shown(&req.camera, 60),
                );
                d.result = match e {
                    Error::PermissionDenied(_) => format!("denied: {e}"),
                    _ => format!("refused: {e}"),
                };
                d.details = details;
                return Err(match self.audit.record(d).await {
                    Ok(_) => e,
                    Err(ae) => ae,
                });
            }
        };
        let now = self.now();
        let s = ViewingSession {
            id: format!(
                "vs-{:013}-{}",
                now.as_millisecond(),
                hex::encode(rand::random::<[u8; 4]>())
            ),
            user: actor.username.clone(),
            camera: req.camera.clone(),
            department: cam.department,
            mode: ViewMode::Live,
            from: None,
            until: None,
            reason: req.reason.clone(),
            basis,
            masked: !masking.masks.is_empty(),
            agent,
            started_at: now,
            ended_at: None,
            bytes: 0,
            outcome: None,
        };
        let mut ops = self.sessions_to_forget().await?;
        ops.push(Op::Put(s.key(), serde_json::to_vec(&s)?));
        let mut d = Draft::new(&actor.username, AuditAction::ViewStart, "Camera", &s.camera);
        d.details = serde_json::json!({
            "session": s.id, "camera": s.camera, "department": s.department, "mode": s.mode,
            "reason": s.reason, "basis": s.basis, "masked": s.masked, "agent": s.agent,
            "seconds": req.seconds,
            "masks": masking.masks.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            "unmasked": req.unmasked,
            "lift_ends": masking.lift_ends,
        });
        if self
            .audit
            .commit(vec![Compare::ModRevision(s.key(), 0)], ops, d)
            .await?
            .is_none()
        {
            return Err(Error::Conflict("session id collision; try again".into()));
        }
        self.hold_viewing(&s.id).await;
        let mut view = LiveView {
            session: s,
            ctl: self.clone(),
            sub: None,
            seconds: req.seconds,
            first_ms: None,
            sent: 0,
            ended: false,
            lift_ends: masking.lift_ends,
            masks: masking.masks.clone(),
            masks_checked: std::time::Instant::now(),
            access: super::AccessWatch::new(token, &req.camera),
        };
        match self.wing::<Relay>().subscribe(
            self,
            &view.session.camera,
            &view.session.agent,
            &masking.masks,
        ) {
            Ok(sub) => view.sub = Some(sub),
            Err(e) => {
                view.end(&format!("failed: {e}")).await;
                return Err(e);
            }
        }
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(key: bool, t: i64) -> Piece {
        Piece {
            data: bytes::Bytes::from(vec![0u8; 10]),
            init: false,
            key,
            time_ms: t,
        }
    }

    #[tokio::test]
    async fn a_joining_viewer_starts_at_the_keyframe_and_a_slow_one_skips_ahead() {
        let skipped = Arc::new(AtomicU64::new(0));
        let f = Feed::new("cam", "gw", &[], skipped.clone());
        f.push(Piece {
            data: bytes::Bytes::from_static(b"init"),
            init: true,
            key: false,
            time_ms: 0,
        });
        f.push(piece(true, 0));
        f.push(piece(false, 40));
        let (snap, mut slow) = f.join(1).unwrap();
        assert_eq!(snap.len(), 3, "init + the GOP so far");
        assert!(snap[0].init && snap[1].key);
        let (_, mut fast) = f.join(2).unwrap();
        // The slow viewer never reads; the fast one does; pushes never wait.
        for i in 0..(VIEWER_QUEUE as i64 + 10) {
            f.push(piece(false, 80 + i * 40));
            assert!(
                fast.try_recv().is_ok(),
                "the fast viewer gets every fragment"
            );
        }
        assert!(skipped.load(Ordering::Relaxed) > 0);
        let mut n = 0;
        while slow.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, VIEWER_QUEUE);
        f.push(piece(false, 100_000));
        assert!(slow.try_recv().is_err(), "skipping until a keyframe");
        f.push(piece(true, 100_040));
        assert!(slow.try_recv().unwrap().key);
        // The source ending closes every viewer's stream with the reason.
        assert!(!f.leave(1));
        f.end("agent gw: the stream broke");
        assert_eq!(fast.recv().await.unwrap().time_ms, 100_000);
        assert!(fast.recv().await.unwrap().key);
        assert!(fast.recv().await.is_none());
        assert_eq!(f.ended().unwrap(), "agent gw: the stream broke");
        assert!(f.join(3).is_err());
    }
}
