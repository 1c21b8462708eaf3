//! Viewing: who watches which camera, when, and how much, with every session
//! kept and audited at its start and at its end.
//!
//! A wing of its own rather than part of `recordings`: recordings decide who
//! may see and copy a camera's video ([`Controller::check_recording_access`],
//! the rule of `recordings/access.rs`, used here as is), while viewing keeps a
//! session record with a life cycle (started, ended with duration and bytes)
//! and streams to a viewer; live view and privacy masks grow here too.
//!
//! A playback is planned like an export (same access rule with the right to
//! view, the camera's agent through the query hub, which forwards to whichever
//! controller holds it) and audited `view.start` before any byte leaves. The
//! agent remuxes the range's MPEG-TS segments into fragmented MP4 (query kind
//! `playback`, one chunk of at most 1 MiB per ask, so the controller links no
//! FFmpeg and holds one chunk per viewer). Whatever ends the session (the end
//! of the range, the viewer going away, an agent failing, a shutdown), its
//! `view.end` entry records the duration and the bytes sent.
//!
//! Sessions are kept under `viewing/sessions/{id}` (ids sort by start time),
//! at most [`MAX_KEPT`]: starting one past that deletes the oldest ended ones in
//! the same transaction (the audit log keeps them all). `camplane view
//! sessions` lists them for admins, auditors and the chief.

pub mod live;
pub mod masks;

use crate::alpr::search::Hub;
use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::store::{Compare, Op};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::recordings::Right;
use crate::{Error, Result};
use camplane_config::model::{PlaybackQuery, PrivacyMask};
use camplane_proto::kinds::QueryKind;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub mod player;

/// A running view's right to its camera, checked again while it streams (a
/// live view has no end of its own, and a playback can be paused): the
/// viewer's session is resolved again (signed out, expired, disabled, the
/// roles) and the recordings rule run again, at most every
/// [`live::ACCESS_RECHECK`]. A view whose right ended ends
/// [`live::ACCESS_WITHDRAWN`].
pub struct AccessWatch {
    token: String,
    camera: String,
    checked: std::time::Instant,
}

impl AccessWatch {
    /// Watches `token`'s right to `camera`, just checked (the view's start).
    pub fn new(token: &str, camera: &str) -> AccessWatch {
        AccessWatch {
            token: token.to_string(),
            camera: camera.to_string(),
            checked: std::time::Instant::now(),
        }
    }

    /// The right checked again when [`live::ACCESS_RECHECK`] has passed: an
    /// error (PermissionDenied or Unauthenticated, see [`is_withdrawal`]) when
    /// it ended. A store out of reach for a moment is not a refusal: checked
    /// again at the next tick.
    pub async fn check(&mut self, ctl: &Controller) -> Result<()> {
        if self.checked.elapsed() < live::ACCESS_RECHECK {
            return Ok(());
        }
        self.checked = std::time::Instant::now();
        let checked = match ctl.authenticate(&self.token).await {
            Ok(actor) => ctl
                .check_recording_access(&actor, &self.camera, Right::View)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match checked {
            Err(Error::Unavailable(e)) => {
                tracing::warn!(camera = %self.camera, error = %e, "a view's access not checked again");
                Ok(())
            }
            other => other,
        }
    }
}

/// Whether a view's stream ended because its viewer's right did (its outcome
/// is then [`live::ACCESS_WITHDRAWN`]): nothing else a stream does refuses so.
pub fn is_withdrawal(e: &Error) -> bool {
    matches!(e, Error::PermissionDenied(_) | Error::Unauthenticated(_))
}

/// Key prefix of the viewing sessions.
pub const SESSIONS: &str = "viewing/sessions/";

/// Where a running session's mark lives (`viewing/held/{id}`, the serving
/// controller's id), under that controller's lease: a session whose controller
/// died loses its mark, and the leader ends it ([`Controller::end_orphaned_sessions`]).
pub const HELD: &str = "viewing/held/";

/// When this leader first saw each running session without its mark, and
/// when it last looked.
#[derive(Default)]
struct UnmarkedSince(
    std::sync::Mutex<std::collections::HashMap<String, (jiff::Timestamp, jiff::Timestamp)>>,
);

/// How long a running session may be without its mark before the leader ends
/// it: well over a lease (`store.etcd.lease_seconds`, 10 s by default) and the
/// keeper's putting it again under a new one.
pub const ORPHAN_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

/// How a session whose controller stopped without ending it is ended.
pub const ORPHANED: &str = "ended: its controller stopped";

/// The mark's key of session `id`.
pub fn held_key(id: &str) -> String {
    format!("{HELD}{id}")
}
/// Most sessions kept in the store (the oldest ended ones go first).
pub const MAX_KEPT: usize = 1000;
/// Longest range one playback covers.
pub const MAX_PLAYBACK_HOURS: i64 = 24;
/// How long the controller waits for one chunk from the agent.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest reason kept.
pub const MAX_REASON: usize = 500;

/// What is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewMode {
    /// The camera now.
    Live,
    /// A recorded range.
    Range,
}

/// One viewing session as kept (`viewing/sessions/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewingSession {
    /// `vs-{start ms, 13 digits}-{hex}`: sorts by start.
    pub id: String,
    /// Who watches.
    pub user: String,
    /// The camera.
    pub camera: String,
    /// Its installing department.
    pub department: String,
    /// Live or a recorded range.
    pub mode: ViewMode,
    /// The range's start (playback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// The range's end (playback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// Why, as the viewer said.
    pub reason: String,
    /// On what basis the rule let them watch.
    pub basis: String,
    /// Whether the camera's privacy masks were burned in (at the agent).
    pub masked: bool,
    /// The camera's agent.
    pub agent: String,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended (absent while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Bytes sent to the viewer.
    #[serde(default)]
    pub bytes: u64,
    /// How it ended: `completed`, `viewer gone`, `controller shutting down`,
    /// `ended: its controller stopped` ([`ORPHANED`]), or `failed: ...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl ViewingSession {
    /// Its store key.
    pub fn key(&self) -> String {
        format!("{SESSIONS}{}", self.id)
    }

    /// Whether it is still running.
    pub fn active(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// A playback as asked.
#[derive(Debug, Clone, Default)]
pub struct PlaybackRequest {
    /// Camera.
    pub camera: String,
    /// From (RFC 3339).
    pub from: String,
    /// To (RFC 3339).
    pub to: String,
    /// Why (optional, kept).
    pub reason: String,
    /// The original picture, without the camera's privacy masks: only for a
    /// user holding a current lift ([`masks::check_unmasked`]).
    pub unmasked: bool,
}

fn shown(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn parse_time(what: &str, s: &str) -> Result<Timestamp> {
    s.parse().map_err(|_| {
        Error::InvalidArgument(format!(
            "{what}: an RFC 3339 time, e.g. 2026-11-01T00:00:00Z"
        ))
    })
}

impl Controller {
    /// Checks a playback (the right to view the camera's recordings, the range,
    /// the reason, that the agent holds recordings in it, and for `unmasked` a
    /// current lift of the camera's masks), stores its session and writes its
    /// `view.start` entry in one transaction, before any byte is sent.
    /// Refusals are audited `view.start` too. Returns the session and the
    /// privacy masks the agent is to burn in (the camera's, unless lifted).
    pub async fn start_playback(
        &self,
        hub: &Hub,
        actor: &Actor,
        req: &PlaybackRequest,
    ) -> Result<(ViewingSession, Vec<PrivacyMask>)> {
        let details = serde_json::json!({
            "camera": shown(&req.camera, 60), "mode": ViewMode::Range,
            "from": shown(&req.from, 40), "to": shown(&req.to, 40),
            "reason": shown(&req.reason, MAX_REASON).escape_default().to_string(),
            "unmasked": req.unmasked,
        });
        let refuse = |e: Error| async {
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
            d.details = details.clone();
            match self.audit.record(d).await {
                Ok(_) => e,
                Err(ae) => ae,
            }
        };
        let checked = async {
            let (cam, basis) = self
                .check_recording_access(actor, &req.camera, Right::View)
                .await?;
            // Masked unless the viewer holds a current lift (a camera without
            // masks has nothing to lift).
            let masks = self
                .masks_for_view(
                    &cam.privacy_masks,
                    req.unmasked,
                    &actor.username,
                    &req.camera,
                )
                .await?
                .masks;
            let from = parse_time("from", &req.from)?;
            let until = parse_time("to", &req.to)?;
            if from >= until {
                return Err(Error::InvalidArgument(format!(
                    "from: {from} is not before to: {until}"
                )));
            }
            if until.duration_since(from) > SignedDuration::from_hours(MAX_PLAYBACK_HOURS) {
                return Err(Error::InvalidArgument(format!(
                    "from/to: one playback covers at most {MAX_PLAYBACK_HOURS} hours"
                )));
            }
            if req.reason.chars().count() > MAX_REASON || req.reason.chars().any(char::is_control) {
                return Err(Error::InvalidArgument(format!(
                    "reason: at most {MAX_REASON} characters, no control characters"
                )));
            }
            // Its own gateway, or one it left that keeps the range.
            let (agent, _site, _segments) = self
                .segments_for(
                    hub,
                    &req.camera,
                    &cam,
                    from,
                    until,
                    crate::recordings::AGENT_TIMEOUT,
                )
                .await?;
            Ok((cam, basis, from, until, agent, masks))
        }
        .await;
        let (cam, basis, from, until, agent, masks) = match checked {
            Ok(x) => x,
            Err(e) => return Err(refuse(e).await),
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
            mode: ViewMode::Range,
            from: Some(from),
            until: Some(until),
            reason: req.reason.clone(),
            basis,
            masked: !masks.is_empty(),
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
            "from": from, "until": until, "reason": s.reason, "basis": s.basis,
            "masked": s.masked, "agent": s.agent,
            "masks": masks.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            "unmasked": req.unmasked,
        });
        match self
            .audit
            .commit(vec![Compare::ModRevision(s.key(), 0)], ops, d)
            .await?
        {
            Some(_) => {
                self.hold_viewing(&s.id).await;
                Ok((s, masks))
            }
            None => Err(Error::Conflict("session id collision; try again".into())),
        }
    }

    /// Deletes of the oldest ended sessions beyond [`MAX_KEPT`] (with room for one more).
    pub(crate) async fn sessions_to_forget(&self) -> Result<Vec<Op>> {
        let l = self.store.list(SESSIONS).await?;
        let over = (l.kvs.len() + 1).saturating_sub(MAX_KEPT);
        Ok(l.kvs
            .iter()
            .filter(|kv| {
                serde_json::from_slice::<ViewingSession>(&kv.value)
                    .map(|s| !s.active())
                    .unwrap_or(true)
            })
            .take(over)
            .map(|kv| Op::Delete(kv.key.clone()))
            .collect())
    }

    /// Ends a session: its record gets the end time, bytes and outcome, and
    /// `view.end` is written with the duration, in one transaction.
    pub async fn end_viewing(
        &self,
        s: &ViewingSession,
        bytes: u64,
        outcome: &str,
    ) -> Result<ViewingSession> {
        // Ended once: a second end (the orphan job and the holder racing)
        // finds it ended and writes nothing.
        for _ in 0..8 {
            let (stored, rev) = match self.store.get(&s.key()).await? {
                Some(kv) => (
                    serde_json::from_slice::<ViewingSession>(&kv.value)?,
                    kv.mod_revision,
                ),
                None => (s.clone(), 0),
            };
            if !stored.active() {
                return Ok(stored);
            }
            if let Some(ended) = self.try_end_viewing(s, bytes, outcome, rev).await? {
                return Ok(ended);
            }
        }
        Err(Error::Unavailable(format!(
            "viewing session {} kept changing while it was ended",
            s.id
        )))
    }

    /// [`Controller::end_viewing`]'s write, if the session's record is still
    /// at `rev`.
    async fn try_end_viewing(
        &self,
        s: &ViewingSession,
        bytes: u64,
        outcome: &str,
        rev: i64,
    ) -> Result<Option<ViewingSession>> {
        let now = self.now();
        let mut ended = s.clone();
        ended.ended_at = Some(now);
        ended.bytes = bytes;
        ended.outcome = Some(outcome.to_string());
        let duration_ms = now.duration_since(s.started_at).as_millis().max(0);
        let mut d = Draft::new(&s.user, AuditAction::ViewEnd, "Camera", &s.camera);
        if outcome.starts_with("failed") {
            d.result = outcome.to_string();
        }
        d.details = serde_json::json!({
            "session": s.id, "camera": s.camera, "mode": s.mode, "duration_ms": duration_ms,
            "bytes": bytes, "masked": s.masked, "outcome": outcome,
        });
        let committed = self
            .audit
            .commit(
                vec![Compare::ModRevision(ended.key(), rev)],
                vec![
                    Op::Put(ended.key(), serde_json::to_vec(&ended)?),
                    Op::Delete(held_key(&s.id)),
                ],
                d,
            )
            .await?;
        if committed.is_none() {
            return Ok(None);
        }
        if let Some(r) = self.wing::<Hub>().route() {
            r.let_go(&held_key(&s.id));
        }
        Ok(Some(ended))
    }

    /// Marks session `id` as served by this controller, under its lease.
    pub(crate) async fn hold_viewing(&self, id: &str) {
        if let Some(r) = self.wing::<Hub>().route() {
            r.hold(&held_key(id)).await;
        }
    }

    /// Ends the running sessions whose controller stopped without ending them
    /// (their mark seen gone for [`ORPHAN_GRACE`] by this leader: a mark
    /// missing for a moment, while its controller's lease is renewed or its
    /// put retried, ends nothing): each gets its end, outcome [`ORPHANED`],
    /// and its `view.end`, with the bytes last recorded. Run by the leader
    /// (housekeeping). Returns how many it ended.
    pub async fn end_orphaned_sessions(&self) -> Result<usize> {
        // Without a route no session here has a mark: nothing can be judged.
        if self.wing::<Hub>().route().is_none() {
            return Ok(0);
        }
        let now = self.now();
        let mut ended = 0;
        let unmarked = self.wing::<UnmarkedSince>();
        let mut seen = std::collections::HashSet::new();
        for kv in self.store.list(SESSIONS).await?.kvs {
            let Ok(s) = serde_json::from_slice::<ViewingSession>(&kv.value) else {
                continue;
            };
            if !s.active() {
                continue;
            }
            if self.store.get(&held_key(&s.id)).await?.is_some() {
                continue;
            }
            seen.insert(s.id.clone());
            let since = {
                let mut m = unmarked.0.lock().unwrap_or_else(|e| e.into_inner());
                let (first, last) = m.entry(s.id.clone()).or_insert((now, now));
                // Not looked at for a while (this controller lost the lead and
                // took it again): what it saw then says nothing of now.
                if now.duration_since(*last) > ORPHAN_GRACE {
                    *first = now;
                }
                *last = now;
                *first
            };
            if now.duration_since(since) < ORPHAN_GRACE {
                continue;
            }
            tracing::warn!(session = %s.id, camera = %s.camera, "viewing session without its controller: ended");
            self.end_viewing(&s, s.bytes, ORPHANED).await?;
            ended += 1;
        }
        // Marked again, or ended: forgotten.
        unmarked
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| seen.contains(id));
        Ok(ended)
    }

    /// Pulls the session's range from its agent, remuxed to fragmented MP4
    /// (with `masks` burned in there), and hands each chunk to `sink` (which
    /// returns false when the viewer is gone); counts the bytes into `sent`.
    /// Returns how it ended. Closes the agent's remux when it stops early.
    pub async fn pump_playback<F, Fut>(
        &self,
        hub: &Hub,
        s: &ViewingSession,
        masks: &[PrivacyMask],
        sent: &std::sync::atomic::AtomicU64,
        access: &mut AccessWatch,
        mut sink: F,
    ) -> std::result::Result<(), Error>
    where
        F: FnMut(Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let (Some(from), Some(until)) = (s.from, s.until) else {
            return Err(Error::InvalidArgument("not a playback session".into()));
        };
        let mut q = PlaybackQuery {
            session: s.id.clone(),
            viewer: s.user.clone(),
            camera: s.camera.clone(),
            from,
            until,
            chunk: 0,
            close: false,
            keep: false,
            masks: masks.to_vec(),
        };
        loop {
            access.check(self).await?;
            let a = hub
                .ask(
                    &s.agent,
                    QueryKind::Playback,
                    serde_json::to_vec(&q)?,
                    AGENT_TIMEOUT,
                )
                .await?;
            if a.data.is_empty() {
                return Ok(());
            }
            sent.fetch_add(a.data.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if !sink(a.data).await {
                return Err(Error::Cancelled("viewer gone".into()));
            }
            q.chunk += 1;
        }
    }

    /// Asks the agent to stop a session's remux (best effort: an agent that
    /// does not answer drops it when it has been idle a minute).
    pub async fn close_playback(&self, hub: &Hub, s: &ViewingSession) {
        playback_control(hub, s, true).await;
    }

    /// Keeps the agent's remux of a playback open while its viewer has paused
    /// (nothing is pulled): asked within [`camplane_config::model::PLAYBACK_IDLE`], it reads nothing.
    pub async fn keep_playback(&self, hub: &Hub, s: &ViewingSession) {
        playback_control(hub, s, false).await;
    }

    /// The kept sessions, newest first (only the running ones with
    /// `active_only`): admins, auditors and the chief; refusals audited
    /// `view.sessions`.
    pub async fn viewing_sessions(
        &self,
        actor: &Actor,
        active_only: bool,
    ) -> Result<Vec<ViewingSession>> {
        self.require(
            actor,
            Operation::ReadViewingSessions,
            AuditAction::ViewSessions,
        )
        .await?;
        let l = self.store.list(SESSIONS).await?;
        let mut v: Vec<ViewingSession> = l
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .filter(|s: &ViewingSession| !active_only || s.active())
            .collect();
        v.reverse();
        Ok(v)
    }
}

/// Closes (`close`) or keeps open (otherwise) a playback's remux at its agent;
/// an agent that does not answer drops it at its idle end anyway.
async fn playback_control(hub: &Hub, s: &ViewingSession, close: bool) {
    let (Some(from), Some(until)) = (s.from, s.until) else {
        return;
    };
    let q = PlaybackQuery {
        session: s.id.clone(),
        viewer: s.user.clone(),
        camera: s.camera.clone(),
        from,
        until,
        chunk: 0,
        close,
        keep: !close,
        masks: vec![],
    };
    if let Ok(json) = serde_json::to_vec(&q) {
        let _ = hub
            .ask(&s.agent, QueryKind::Playback, json, Duration::from_secs(5))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_read_back_as_stored_and_sort_by_start() {
        let s = ViewingSession {
            id: format!("vs-{:013}-00000000", 5),
            user: "u".into(),
            camera: "cam-1".into(),
            department: "police".into(),
            mode: ViewMode::Range,
            from: Some("2026-11-01T00:00:00Z".parse().unwrap()),
            until: Some("2026-11-01T00:01:00Z".parse().unwrap()),
            reason: String::new(),
            basis: "chief".into(),
            masked: false,
            agent: "gw".into(),
            started_at: "2026-11-02T00:00:00Z".parse().unwrap(),
            ended_at: None,
            bytes: 0,
            outcome: None,
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["mode"], "range");
        assert!(v.get("ended_at").is_none());
        assert_eq!(serde_json::from_value::<ViewingSession>(v).unwrap(), s);
        assert!(s.active());
        // Zero-padded start times sort as text.
        assert!(format!("vs-{:013}", 999) < format!("vs-{:013}", 1000));
    }
}
