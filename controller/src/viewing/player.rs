//! What the console's browser player reads from the wing: a camera's recorded
//! ranges for its timeline (the agent's segments, under the same right to
//! view as a playback), and a playback as a stream of fMP4 chunks pulled one
//! at a time (the next chunk is asked for only when the viewer took the last,
//! so a viewer holds the controller to one chunk in flight).

use crate::alpr::search::Hub;
use crate::core::auth::Actor;
use crate::core::Controller;
use crate::recordings::Right;
use crate::viewing::{ViewingSession, AGENT_TIMEOUT};
use crate::{Error, Result};
use camplane_config::model::{PlaybackQuery, PrivacyMask, SegmentInfo};
use camplane_proto::kinds::QueryKind;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// How long the timeline waits for the agent's segment list (a page should
/// not hang on an offline site).
pub const TIMELINE_AGENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Gaps shorter than this between two segments are drawn as one range.
pub const JOIN_GAP: SignedDuration = SignedDuration::from_secs(2);

/// A stream of a session's byte chunks, as the console's pump takes them.
pub type Chunks = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Vec<u8>>> + Send>>;

/// Segments merged into the ranges a timeline draws: sorted by start, with
/// overlapping ones and those less than [`JOIN_GAP`] apart joined.
pub fn merge_ranges(segments: &[SegmentInfo]) -> Vec<(Timestamp, Timestamp)> {
    let mut v: Vec<(Timestamp, Timestamp)> = segments
        .iter()
        .filter(|s| s.start < s.end)
        .map(|s| (s.start, s.end))
        .collect();
    v.sort();
    let mut out: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1.saturating_add(JOIN_GAP).unwrap_or(last.1) => {
                last.1 = last.1.max(e)
            }
            _ => out.push((s, e)),
        }
    }
    out
}

impl Controller {
    /// Whether `actor` may watch `camera`'s video, and if not why (the rule
    /// of a playback: [`Controller::check_recording_access`] with the right
    /// to view). Nothing is written: the playback itself is checked and
    /// audited again when it starts.
    pub async fn may_view(&self, actor: &Actor, camera: &str) -> Result<String> {
        self.check_recording_access(actor, camera, Right::View)
            .await
            .map(|(_, basis)| basis)
    }

    /// `camera`'s recorded ranges between `from` and `until`, from its agent
    /// and the gateways it left (the query kind `segments`), for those who may
    /// watch it.
    pub async fn recorded_ranges(
        &self,
        hub: &Hub,
        actor: &Actor,
        camera: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(Timestamp, Timestamp)>> {
        let (cam, _) = self
            .check_recording_access(actor, camera, Right::View)
            .await?;
        // Its own gateway and those it left: every range any of them keeps.
        let answers = self
            .segments_on_gateways(hub, camera, &cam, from, until, TIMELINE_AGENT_TIMEOUT)
            .await?;
        let mut segments = Vec::new();
        let mut own_error = None;
        for (i, g) in answers.into_iter().enumerate() {
            match g.answer {
                Ok(s) => segments.extend(s),
                Err(e) if i == 0 => own_error = Some(e),
                Err(_) => {}
            }
        }
        if let (true, Some(e)) = (segments.is_empty(), own_error) {
            return Err(e);
        }
        Ok(merge_ranges(&segments)
            .into_iter()
            .map(|(s, e)| (s.max(from), e.min(until)))
            .filter(|(s, e)| s < e)
            .collect())
    }
}

/// A started playback's fMP4 chunks from its agent, each asked for when the
/// previous one was taken (the same queries as [`Controller::pump_playback`]);
/// the stream ends with the range; `masks` (from `start_playback`) are burned
/// in at the agent. Whoever stops early closes the agent's remux with
/// [`Controller::close_playback`].
pub fn playback_chunks(
    hub: Arc<Hub>,
    ctl: Arc<Controller>,
    access: super::AccessWatch,
    s: &ViewingSession,
    masks: &[PrivacyMask],
) -> Result<Chunks> {
    let (Some(from), Some(until)) = (s.from, s.until) else {
        return Err(Error::InvalidArgument("not a playback session".into()));
    };
    let q = PlaybackQuery {
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
    let agent = s.agent.clone();
    Ok(Box::pin(futures::stream::try_unfold(
        (hub, agent, q, ctl, access),
        |(hub, agent, mut q, ctl, mut access)| async move {
            access.check(&ctl).await?;
            let a = hub
                .ask(
                    &agent,
                    QueryKind::Playback,
                    serde_json::to_vec(&q)?,
                    AGENT_TIMEOUT,
                )
                .await?;
            if a.data.is_empty() {
                return Ok(None);
            }
            q.chunk += 1;
            Ok::<_, Error>(Some((a.data, (hub, agent, q, ctl, access))))
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: &str, end: &str) -> SegmentInfo {
        SegmentInfo {
            seq: 0,
            name: String::new(),
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            size: 0,
            sha256: String::new(),
            prev_sha256: String::new(),
        }
    }

    #[test]
    fn segments_merge_into_ranges_across_small_gaps_only() {
        let r = merge_ranges(&[
            seg("2026-11-01T00:00:04Z", "2026-11-01T00:00:06Z"),
            seg("2026-11-01T00:00:00Z", "2026-11-01T00:00:02Z"),
            seg("2026-11-01T00:00:02.5Z", "2026-11-01T00:00:04Z"),
            seg("2026-11-01T00:01:00Z", "2026-11-01T00:01:02Z"),
            // Empty and backwards segments are left out.
            seg("2026-11-01T00:02:00Z", "2026-11-01T00:02:00Z"),
            seg("2026-11-01T00:03:00Z", "2026-11-01T00:02:00Z"),
        ]);
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            r,
            vec![
                (t("2026-11-01T00:00:00Z"), t("2026-11-01T00:00:06Z")),
                (t("2026-11-01T00:01:00Z"), t("2026-11-01T00:01:02Z")),
            ]
        );
        assert!(merge_ranges(&[]).is_empty());
    }
}
