//! Recording access and exports, and plate crops.
//!
//! Recordings stay on the site gateways. Who may view them: viewers of the
//! installing department (the camera's `department`), the police (the chief;
//! viewers of the police department), and users the chief authorized for a
//! camera or a department until a time ([`RecordingAuthorization`], under
//! `recording-access/{id}`). Who may copy them (export): the chief, and users
//! the chief authorized to copy. The rule is [`access::decide`]. Everyone must
//! have acknowledged the current policy.
//!
//! An export is checked (the right to copy, case number, the recipient, range
//! of at most [`MAX_EXPORT_HOURS`]), its audit entry is written, and only then
//! are bytes pulled from the camera's
//! agent, one chunk of at most 1 MiB at a time over the control stream, so
//! memory stays bounded whatever the size. The controller checks every file's
//! bytes against the hash the agent's index recorded when the segment was
//! written, and ends with a manifest signed with its CA key
//! ([`sign_manifest`]); [`verify_export`] (in `camplane-export`, shared with the
//! CLI) checks a copy offline against the CA certificate.

use crate::alpr::search::Hub;
use crate::core::audit::Draft;
use crate::core::auth::{self, Actor, Operation};
use crate::core::store::{Compare, Op};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::{Error, Result};
use camplane_config::model::{
    AgentSpec, CameraSpec, CameraStatus, Kind, PrivacyMask, SegmentInfo, SegmentsQuery,
};
use camplane_proto::kinds::QueryKind;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub mod access;
pub mod fees;

pub use access::{Right, POLICE_DEPARTMENT};
pub use camplane_export::{
    check_recipient, resolve_path, verify_export, ExportProblem, MANIFEST, SIGNATURE_ALGORITHM,
};

/// Key prefix of the chief's authorizations.
pub const AUTHORIZATIONS: &str = "recording-access/";
/// Longest time range one export may cover.
pub const MAX_EXPORT_HOURS: i64 = 24;
/// How long the controller waits for one answer of an agent.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The chief's authorization of one user for a camera's or a department's recordings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingAuthorization {
    /// Id (`ra-{ms}-{hex}`).
    pub id: String,
    /// Who it is for.
    pub user: String,
    /// That user's immutable id when it was made: a user deleted and created
    /// again under the same name is another person, and does not inherit it.
    /// (Made before ids were kept: matched by name alone.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// What it allows: to view (the default: records from before copy rights
    /// have none), or to copy.
    #[serde(default, skip_serializing_if = "Right::is_view")]
    pub right: Right,
    /// This camera's recordings, or
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// every camera of this department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Ends then.
    pub until: Timestamp,
    /// Why.
    pub reason: String,
    /// The chief who authorized it.
    pub authorized_by: String,
    /// When.
    pub authorized_at: Timestamp,
}

/// An export as asked.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Camera.
    pub camera: String,
    /// From (RFC 3339).
    pub from: String,
    /// To (RFC 3339).
    pub to: String,
    /// Case number.
    pub case_number: String,
    /// Where the CLI says it writes: recorded in the audit entry, checked
    /// against nothing (the controller cannot see the client's disk).
    pub out_dir: String,
    /// Who receives the copy: `NAME, AGENCY`.
    pub recipient: String,
    /// Re-encoded at the agent with the camera's privacy masks.
    pub masked: bool,
    /// The police's own use (a case's evidence, the prosecutor): no fee
    /// ([`fees::charged`]). Otherwise the recipient is outside and the copy's
    /// fee is recorded.
    pub police_use: bool,
}

/// The copy that fulfils a released records request (`oversight::records`
/// checked the request's stage and the step's role): always masked, its fee
/// from the camera's department's schedule.
#[derive(Debug, Clone)]
pub struct ReleaseExport {
    /// The records request's id.
    pub request: String,
    /// The camera it covers.
    pub camera: String,
    /// Its range.
    pub from: Timestamp,
    /// Its range's end.
    pub until: Timestamp,
    /// Where the CLI says it writes (recorded only).
    pub out_dir: String,
}

/// A checked and audited export: what to pull from which agent.
#[derive(Debug, Clone)]
pub struct ExportPlan {
    /// The camera's agent.
    pub agent: String,
    /// Its site.
    pub site: String,
    /// Camera.
    pub camera: String,
    /// The camera's department.
    pub department: String,
    /// From.
    pub from: Timestamp,
    /// Until.
    pub until: Timestamp,
    /// Case number.
    pub case_number: String,
    /// Who receives the copy.
    pub recipient: String,
    /// Who asked.
    pub requester: String,
    /// When.
    pub at: Timestamp,
    /// The audit entry written before any byte left.
    pub audit_seq: u64,
    /// Segments overlapping the range, oldest first, as the agent's index has them.
    pub segments: Vec<SegmentInfo>,
    /// A masked export: the camera's privacy masks, burned in at the agent.
    pub masks: Vec<PrivacyMask>,
    /// The records request it fulfils, if any.
    pub records_request: Option<String>,
    /// Its fee (copies for someone outside the police); `None`: the police's
    /// own use, no fee.
    pub fee: Option<fees::Fee>,
}

/// One gateway's answer to "which of this camera's segments do you keep in
/// this range" ([`Controller::segments_on_gateways`]).
#[derive(Debug)]
pub(crate) struct GatewaySegments {
    /// The gateway's agent.
    pub agent: String,
    /// Its site.
    pub site: String,
    /// Its segments, or why it did not say.
    pub answer: Result<Vec<SegmentInfo>>,
}

/// Which gateway's answer covers the most of `from..until` (the first of
/// equals: the camera's own gateway before those it left); none when no
/// gateway keeps any of it.
pub(crate) fn best_gateway(
    answers: &[GatewaySegments],
    from: Timestamp,
    until: Timestamp,
) -> Option<usize> {
    let covered = |segments: &[SegmentInfo]| -> i64 {
        segments
            .iter()
            .map(|s| {
                let (a, b) = (s.start.max(from), s.end.min(until));
                if a < b {
                    b.duration_since(a).as_millis().max(1) as i64
                } else {
                    // A segment the gateway lists for the range, however short.
                    1
                }
            })
            .sum()
    };
    let mut best: Option<(usize, i64)> = None;
    for (i, g) in answers.iter().enumerate() {
        let Ok(segments) = &g.answer else { continue };
        if segments.is_empty() {
            continue;
        }
        let c = covered(segments);
        if best.is_none_or(|(_, b)| c > b) {
            best = Some((i, c));
        }
    }
    best.map(|(i, _)| i)
}

fn shown(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl Controller {
    /// The agent that records `camera` (its `spec.agent`) and that agent's site:
    /// the one agent asked for the camera's video (segments, playback, live).
    /// A site may have several gateways; asking another one would send the
    /// query, and the viewer's name, to an agent that never recorded the camera,
    /// and let it answer for a camera that is not its own.
    pub(crate) fn camera_agent(&self, camera: &str, cam: &CameraSpec) -> Result<(String, String)> {
        let agent = cam.agent.as_deref().ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "camera {camera} has no agent (spec.agent): no gateway records it"
            ))
        })?;
        let o = self.load(Kind::Agent, agent).map_err(|_| {
            Error::FailedPrecondition(format!(
                "camera {camera}'s agent {agent:?} is not registered"
            ))
        })?;
        let spec: AgentSpec = o.spec_as()?;
        Ok((agent.to_string(), spec.site))
    }

    /// The immutable id of the user named `name` now (the cache, fed by each
    /// request's identity read); none when there is no such user.
    pub(crate) fn user_id_of(&self, name: &str) -> Option<String> {
        self.load(Kind::User, name)
            .ok()
            .and_then(|u| auth::user_id_of(&u.status).map(str::to_string))
    }

    async fn refuse_recordings(
        &self,
        actor: &Actor,
        action: AuditAction,
        name: &str,
        details: serde_json::Value,
        e: Error,
    ) -> Error {
        let mut d = Draft::new(&actor.username, action, "Recording", &shown(name, 60));
        d.result = match e {
            Error::PermissionDenied(_) => format!("denied: {e}"),
            _ => format!("refused: {e}"),
        };
        d.details = details;
        if let Err(ae) = self.audit.record(d).await {
            return ae;
        }
        e
    }

    /// The chief authorizes `user` to view (or, with `right` copy, to copy)
    /// `camera`'s (or `department`'s) recordings until `until`, with a reason;
    /// audited `recordings.authorize` (`recordings.authorize_copy`).
    #[allow(clippy::too_many_arguments)]
    pub async fn authorize_recordings(
        &self,
        actor: &Actor,
        user: &str,
        camera: &str,
        department: &str,
        until: &str,
        reason: &str,
        right: Right,
    ) -> Result<RecordingAuthorization> {
        let action = match right {
            Right::View => AuditAction::RecordingsAuthorize,
            Right::Copy => AuditAction::RecordingsAuthorizeCopy,
        };
        self.require(actor, Operation::AuthorizeRecordings, action)
            .await?;
        let details = serde_json::json!({
            "user": shown(user, 60), "camera": shown(camera, 60),
            "department": shown(department, 60), "until": shown(until, 40),
            "reason": shown(reason, 200),
        });
        let now = self.now();
        let mut user_id = None;
        let checked = (|| -> Result<Timestamp> {
            user_id = self.user_id_of(user);
            if self.load(Kind::User, user).is_err() {
                return Err(Error::NotFound(format!("user {:?}", shown(user, 60))));
            }
            match (camera.is_empty(), department.is_empty()) {
                (true, true) | (false, false) => {
                    return Err(Error::InvalidArgument(
                        "name either --camera or --department".into(),
                    ))
                }
                (false, true) => {
                    self.load(Kind::Camera, camera)?;
                }
                (true, false) => {
                    self.load(Kind::Department, department)?;
                }
            }
            let t: Timestamp = until.parse().map_err(|_| {
                Error::InvalidArgument("until: an RFC 3339 time, e.g. 2026-12-01T00:00:00Z".into())
            })?;
            if t <= now {
                return Err(Error::InvalidArgument(
                    "until: must be in the future".into(),
                ));
            }
            if reason.trim().is_empty()
                || reason.len() > 1000
                || (right == Right::Copy && reason.chars().any(char::is_control))
            {
                return Err(Error::InvalidArgument(
                    "reason: 1-1000 characters are required".into(),
                ));
            }
            Ok(t)
        })();
        let until = match checked {
            Ok(t) => t,
            Err(e) => {
                return Err(self
                    .refuse_recordings(actor, action, user, details, e)
                    .await)
            }
        };
        let a = RecordingAuthorization {
            id: format!(
                "ra-{}-{}",
                now.as_millisecond(),
                hex::encode(rand::random::<[u8; 4]>())
            ),
            user: user.to_string(),
            user_id,
            right,
            camera: (!camera.is_empty()).then(|| camera.to_string()),
            department: (!department.is_empty()).then(|| department.to_string()),
            until,
            reason: reason.to_string(),
            authorized_by: actor.username.clone(),
            authorized_at: now,
        };
        let key = format!("{AUTHORIZATIONS}{}", a.id);
        let mut d = Draft::new(&actor.username, action, "RecordingAuthorization", &a.id);
        d.details = details;
        d.after = Some(json(&a));
        match self
            .audit
            .commit(
                vec![Compare::ModRevision(key.clone(), 0)],
                vec![Op::Put(key, serde_json::to_vec(&a)?)],
                d,
            )
            .await?
        {
            Some(_) => Ok(a),
            None => Err(Error::Conflict(
                "authorization id collision; try again".into(),
            )),
        }
    }

    /// Whether `actor` has `right` over `camera`'s recordings now (the rule:
    /// [`access::decide`]); returns the camera and on what basis (for the
    /// audit entry).
    pub async fn check_recording_access(
        &self,
        actor: &Actor,
        camera: &str,
        right: Right,
    ) -> Result<(CameraSpec, String)> {
        if !Operation::ViewRecordings.allows(actor) {
            return Err(Error::PermissionDenied(
                "viewing recordings needs the viewer or chief role".into(),
            ));
        }
        let cam: CameraSpec = self
            .load(Kind::Camera, camera)
            .map_err(|_| Error::NotFound(format!("camera {:?}", shown(camera, 60))))?
            .spec_as()?;
        self.check_policy_acknowledged(actor).await?;
        // The actor's id as the identity read found it (that read fed the cache).
        let my_id = self.user_id_of(&actor.username);
        let l = self.store.list(AUTHORIZATIONS).await?;
        let auths: Vec<RecordingAuthorization> = l
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .filter(|a: &RecordingAuthorization| {
                a.user == actor.username
                    && (a.user_id.is_none() || a.user_id.as_deref() == my_id.as_deref())
            })
            .collect();
        let grants: Vec<access::Grant<'_>> = auths
            .iter()
            .map(|a| access::Grant {
                id: &a.id,
                user: &a.user,
                camera: a.camera.as_deref(),
                department: a.department.as_deref(),
                right: a.right,
                until: a.until,
                by: &a.authorized_by,
            })
            .collect();
        let camera_ref = access::Camera {
            name: camera,
            department: &cam.department,
        };
        let basis = access::decide(right, actor, camera_ref, &grants, self.now())?;
        Ok((cam, basis))
    }

    /// Whether `actor` acknowledged the policy version in force (before any
    /// recording is seen or copied). The user record is read from the cache,
    /// and again from the store before a refusal: an acknowledgement made
    /// through another controller a moment ago counts here at once.
    async fn check_policy_acknowledged(&self, actor: &Actor) -> Result<()> {
        let policy = self.policy_version_in_force();
        self.check_user_fresh(&actor.username, |obj| {
            let Some(obj) = obj else {
                return Err(Error::PermissionDenied(format!(
                    "no user record for {}",
                    actor.username
                )));
            };
            if crate::core::auth::acknowledged_policy(&obj.status) != Some(policy.as_str()) {
                return Err(Error::PermissionDenied(format!(
                    "{} has not acknowledged policy version {policy} (`camplane policy acknowledge`)",
                    actor.username
                )));
            }
            Ok(())
        })
        .await
    }

    /// The fee of a copy of `minutes` of `department`'s video in `files`
    /// files, by its schedule (none: no fee).
    pub fn fee_for(&self, department: &str, minutes: u64, files: u64) -> Result<fees::Fee> {
        let schedule = match self.load(Kind::FeeSchedule, department) {
            Ok(o) => Some(o.spec_as::<camplane_config::model::FeeScheduleSpec>()?),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(fees::Fee::charge(department, schedule, minutes, files))
    }

    /// The gateways that may keep `camera`'s recordings, each with its site:
    /// its agent (`spec.agent`) first, then the gateways it left
    /// (`status.former_agents`, the latest first), where its older recordings
    /// stay until they age out; gateways no longer registered are left out.
    /// Only these are ever asked for its recorded video.
    pub(crate) fn recording_gateways(
        &self,
        camera: &str,
        cam: &CameraSpec,
    ) -> Result<Vec<(String, String)>> {
        let st: CameraStatus = self
            .load(Kind::Camera, camera)
            .map(|o| o.status_as())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + st.former_agents.len());
        match self.camera_agent(camera, cam) {
            Ok(a) => out.push(a),
            Err(e) if st.former_agents.is_empty() => return Err(e),
            Err(_) => {}
        }
        for agent in st.former_agents.iter().rev() {
            if out.iter().any(|(a, _)| a == agent) {
                continue;
            }
            if let Some(spec) = self
                .load(Kind::Agent, agent)
                .ok()
                .and_then(|o| o.spec_as::<AgentSpec>().ok())
            {
                out.push((agent.clone(), spec.site));
            }
        }
        if out.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "camera {camera} has no agent (spec.agent), and the gateways it left are no longer registered"
            )));
        }
        Ok(out)
    }

    /// Asks every gateway that may keep `camera`'s recordings
    /// ([`Controller::recording_gateways`]) at once for its segments
    /// overlapping `from..until`: each gateway's answer, or why none, in that
    /// order.
    pub(crate) async fn segments_on_gateways(
        &self,
        hub: &Hub,
        camera: &str,
        cam: &CameraSpec,
        from: Timestamp,
        until: Timestamp,
        timeout: Duration,
    ) -> Result<Vec<GatewaySegments>> {
        let q = serde_json::to_vec(&SegmentsQuery {
            camera: camera.to_string(),
            from,
            until,
        })?;
        let asked = self
            .recording_gateways(camera, cam)?
            .into_iter()
            .map(|(agent, site)| {
                let q = q.clone();
                async move {
                    let answer = hub
                        .ask(&agent, QueryKind::Segments, q, timeout)
                        .await
                        .and_then(|a| {
                            serde_json::from_slice::<Vec<SegmentInfo>>(&a.json).map_err(|e| {
                                Error::Agent(format!("agent {agent}: unreadable answer: {e}"))
                            })
                        });
                    GatewaySegments {
                        agent,
                        site,
                        answer,
                    }
                }
            });
        Ok(futures::future::join_all(asked).await)
    }

    /// The gateway that keeps the most of `camera`'s video in `from..until`
    /// ([`best_gateway`]), and its segments there: what an export copies and
    /// a playback plays. A range recorded partly before a move is served from
    /// one gateway, the one with more of it.
    pub(crate) async fn segments_for(
        &self,
        hub: &Hub,
        camera: &str,
        cam: &CameraSpec,
        from: Timestamp,
        until: Timestamp,
        timeout: Duration,
    ) -> Result<(String, String, Vec<SegmentInfo>)> {
        let mut answers = self
            .segments_on_gateways(hub, camera, cam, from, until, timeout)
            .await?;
        match best_gateway(&answers, from, until) {
            Some(i) => {
                let g = answers.swap_remove(i);
                let segments = g.answer?;
                Ok((g.agent, g.site, segments))
            }
            None => match answers.into_iter().next().map(|g| g.answer) {
                // Its own gateway could not say: that is the reason given.
                Some(Err(e)) => Err(e),
                _ => Err(Error::NotFound(format!(
                    "camera {camera} has no recording between {from} and {until}"
                ))),
            },
        }
    }

    /// Plans the masked copy that fulfils a released records request (the
    /// request's stage and the step's role were checked by the caller): the
    /// Public Information Officer must have acknowledged the policy, the camera
    /// must have privacy masks (a release outside the police is masked), the
    /// range at most [`MAX_EXPORT_HOURS`]. Audited `recordings.export` with the
    /// request's id, its fee and `masked: true` before any byte leaves;
    /// refusals audited too. The recipient recorded is the request (its
    /// requester's name stays in the request, out of the audit log).
    pub async fn plan_release(
        &self,
        hub: &Hub,
        actor: &Actor,
        r: &ReleaseExport,
    ) -> Result<ExportPlan> {
        let recipient = format!("Requester of {}, public records request", r.request);
        let details = serde_json::json!({
            "camera": shown(&r.camera, 60), "records_request": r.request,
            "from": r.from, "until": r.until, "out_dir": shown(&r.out_dir, 200),
            "recipient": recipient, "masked": true,
        });
        let checked = async {
            self.check_policy_acknowledged(actor).await?;
            let cam: CameraSpec = self
                .load(Kind::Camera, &r.camera)
                .map_err(|_| Error::NotFound(format!("camera {:?}", shown(&r.camera, 60))))?
                .spec_as()?;
            // A plate reader's images are ALPR data, "not open for the public
            // view" (the ALPR program); a covert camera's video is a criminal
            // investigation's. Neither is released to the public: the request
            // is denied instead.
            if cam.alpr || cam.covert {
                return Err(Error::FailedPrecondition(format!(
                    "camera {} {}: its recordings are not released to the public; deny the request",
                    r.camera,
                    if cam.alpr {
                        "reads plates (ALPR data is not open for the public view)"
                    } else {
                        "is covert (used for a criminal investigation)"
                    }
                )));
            }
            if cam.privacy_masks.is_empty() {
                return Err(Error::FailedPrecondition(format!(
                    "camera {} has no privacy masks (spec.privacy_masks): a release outside the police is masked; its department draws them first",
                    r.camera
                )));
            }
            if r.until.duration_since(r.from) > SignedDuration::from_hours(MAX_EXPORT_HOURS) {
                return Err(Error::FailedPrecondition(format!(
                    "the request covers more than {MAX_EXPORT_HOURS} hours, more than one export copies"
                )));
            }
            let (agent, site, segments) = self
                .segments_for(hub, &r.camera, &cam, r.from, r.until, AGENT_TIMEOUT)
                .await?;
            let spans: Vec<(Timestamp, Timestamp)> =
                segments.iter().map(|s| (s.start, s.end)).collect();
            let fee = self.fee_for(
                &cam.department,
                fees::video_minutes(&spans, r.from, r.until),
                segments.len() as u64,
            )?;
            Ok((cam, agent, site, segments, fee))
        }
        .await;
        let (cam, agent, site, segments, fee) = match checked {
            Ok(x) => x,
            Err(e) => {
                return Err(self
                    .refuse_recordings(actor, AuditAction::RecordingsExport, &r.camera, details, e)
                    .await)
            }
        };
        let at = self.now();
        let mut d = Draft::new(
            &actor.username,
            AuditAction::RecordingsExport,
            "Recording",
            &r.camera,
        );
        d.details = serde_json::json!({
            "camera": r.camera, "department": cam.department, "site": site, "agent": agent,
            "case_number": r.request, "records_request": r.request, "recipient": recipient,
            "from": r.from, "until": r.until, "out_dir": shown(&r.out_dir, 1024),
            "basis": format!("records request {} released", r.request),
            "files": segments.len(),
            "bytes": segments.iter().map(|s| s.size).sum::<u64>(),
            "sha256": segments.iter().map(|s| s.sha256.clone()).collect::<Vec<_>>(),
            "masked": true,
            "masks": cam.privacy_masks.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
            "fee": fee,
        });
        let c = self.audit.record(d).await?;
        Ok(ExportPlan {
            agent,
            site,
            camera: r.camera.clone(),
            department: cam.department,
            from: r.from,
            until: r.until,
            case_number: r.request.clone(),
            recipient,
            requester: actor.username.clone(),
            at,
            audit_seq: c.seq,
            segments,
            masks: cam.privacy_masks,
            records_request: Some(r.request.clone()),
            fee: Some(fee),
        })
    }

    /// Checks an export and writes its audit entry (before anything is
    /// returned); refusals are audited too. The caller streams the plan.
    /// Unless it is the police's own use, its fee is recorded.
    pub async fn plan_export(
        &self,
        hub: &Hub,
        actor: &Actor,
        req: &ExportRequest,
    ) -> Result<ExportPlan> {
        let details = serde_json::json!({
            "camera": shown(&req.camera, 60),
            "case_number": shown(&req.case_number, 64),
            "from": shown(&req.from, 40), "to": shown(&req.to, 40),
            "out_dir": shown(&req.out_dir, 200),
            "recipient": shown(&req.recipient, camplane_export::MAX_RECIPIENT).escape_default().to_string(),
            "masked": req.masked,
            "police_use": req.police_use,
        });
        let refuse = |e: Error| {
            self.refuse_recordings(
                actor,
                AuditAction::RecordingsExport,
                &req.camera,
                details.clone(),
                e,
            )
        };
        let checked = async {
            let (cam, basis) = self
                .check_recording_access(actor, &req.camera, Right::Copy)
                .await?;
            self.check_case_number(&req.case_number, "an export")?;
            check_recipient(&req.recipient).map_err(Error::InvalidArgument)?;
            let charged = fees::charged(req.police_use, actor)?;
            if req.masked && cam.privacy_masks.is_empty() {
                return Err(Error::FailedPrecondition(format!(
                    "masked: camera {} has no privacy masks (spec.privacy_masks); export it without --masked",
                    req.camera
                )));
            }
            let from: Timestamp = req.from.parse().map_err(|_| {
                Error::InvalidArgument("from: an RFC 3339 time, e.g. 2026-11-01T00:00:00Z".into())
            })?;
            let until: Timestamp = req.to.parse().map_err(|_| {
                Error::InvalidArgument("to: an RFC 3339 time, e.g. 2026-11-01T06:00:00Z".into())
            })?;
            if from >= until {
                return Err(Error::InvalidArgument(format!(
                    "from: {from} is not before to: {until}"
                )));
            }
            if until.duration_since(from) > SignedDuration::from_hours(MAX_EXPORT_HOURS) {
                return Err(Error::InvalidArgument(format!(
                    "from/to: one export covers at most {MAX_EXPORT_HOURS} hours; export longer periods in parts"
                )));
            }
            // Recorded as the client declared it; what the client writes where is
            // its own (exports.allowed_dir was removed: ALLOWED_DIR_REMOVED).
            let out = shown(&req.out_dir, 1024);
            let (agent, site, segments) = self
                .segments_for(hub, &req.camera, &cam, from, until, AGENT_TIMEOUT)
                .await?;
            // A copy for someone outside the police is charged by the camera's
            // department's schedule; the police's own copies are not.
            let fee = if !charged {
                None
            } else {
                let spans: Vec<(Timestamp, Timestamp)> =
                    segments.iter().map(|s| (s.start, s.end)).collect();
                Some(self.fee_for(
                    &cam.department,
                    fees::video_minutes(&spans, from, until),
                    segments.len() as u64,
                )?)
            };
            Ok((cam, basis, from, until, out, agent, site, segments, fee))
        }
        .await;
        let (cam, basis, from, until, out, agent, site, segments, fee) = match checked {
            Ok(x) => x,
            Err(e) => return Err(refuse(e).await),
        };
        let at = self.now();
        let mut d = Draft::new(
            &actor.username,
            AuditAction::RecordingsExport,
            "Recording",
            &req.camera,
        );
        d.details = serde_json::json!({
            "camera": req.camera, "department": cam.department, "site": site, "agent": agent,
            "case_number": req.case_number, "recipient": req.recipient, "from": from, "until": until,
            "out_dir": out, "basis": basis, "files": segments.len(),
            "bytes": segments.iter().map(|s| s.size).sum::<u64>(),
            "sha256": segments.iter().map(|s| s.sha256.clone()).collect::<Vec<_>>(),
            "masked": req.masked,
            "masks": if req.masked { cam.privacy_masks.iter().map(|m| m.name.clone()).collect::<Vec<_>>() } else { vec![] },
            "police_use": req.police_use,
            "fee": fee,
        });
        let c = self.audit.record(d).await?;
        Ok(ExportPlan {
            agent,
            site,
            camera: req.camera.clone(),
            department: cam.department,
            from,
            until,
            case_number: req.case_number.clone(),
            recipient: req.recipient.clone(),
            requester: actor.username.clone(),
            at,
            audit_seq: c.seq,
            segments,
            masks: if req.masked {
                cam.privacy_masks
            } else {
                Vec::new()
            },
            records_request: None,
            fee,
        })
    }

    /// One read's JPEG crop for a case (ALPR operators, same checks as a
    /// search): audited `alpr.crop` with the case number before it is returned.
    /// Returns (jpeg, agent, camera).
    pub async fn fetch_crop(
        &self,
        hub: &Hub,
        actor: &Actor,
        read_id: &str,
        case_number: &str,
        sites: &[String],
    ) -> Result<(Vec<u8>, String, String)> {
        let details = serde_json::json!({
            "read_id": shown(read_id, 40), "case_number": shown(case_number, 64), "sites": sites,
        });
        let refuse = |e: Error| async {
            let mut d = Draft::new(
                &actor.username,
                AuditAction::AlprCrop,
                "AlprRead",
                &shown(read_id, 40),
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
            self.check_operator(actor).await?;
            self.check_case_number(case_number, "a crop fetch")?;
            let ok_id = read_id.len() <= 40
                && read_id.split_once('-').is_some_and(|(ms, rest)| {
                    !ms.is_empty()
                        && ms.bytes().all(|b| b.is_ascii_digit())
                        && !rest.is_empty()
                        && rest
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
                });
            if !ok_id {
                return Err(Error::InvalidArgument(
                    "read_id: a read's id as a search returns it (e.g. 1780000000000-ABC1234)"
                        .into(),
                ));
            }
            self.agents_for(sites)
        }
        .await;
        let agents = match checked {
            Ok(a) => a,
            Err(e) => return Err(refuse(e).await),
        };
        let q = serde_json::to_vec(&camplane_config::model::CropQuery {
            read_id: read_id.to_string(),
        })?;
        let asks = agents.iter().map(|(agent, _)| {
            let q = q.clone();
            async move {
                (
                    agent.clone(),
                    hub.ask(agent, QueryKind::Crop, q, AGENT_TIMEOUT).await,
                )
            }
        });
        let answers = futures::future::join_all(asks).await;
        let mut found = None;
        let mut problems = Vec::new();
        for (agent, a) in answers {
            match a {
                Ok(a) if !a.data.is_empty() => {
                    let camera = serde_json::from_slice::<serde_json::Value>(&a.json)
                        .ok()
                        .and_then(|v| v["camera"].as_str().map(String::from))
                        .unwrap_or_default();
                    // An agent speaks only for its own cameras: a crop it names
                    // another's camera for is not evidence of anything.
                    let own = self
                        .load(Kind::Camera, &camera)
                        .ok()
                        .and_then(|o| o.spec_as::<CameraSpec>().ok())
                        .is_some_and(|c| c.agent.as_deref() == Some(agent.as_str()));
                    if !own {
                        let mut d = Draft::new(
                            &format!("agent:{agent}"),
                            AuditAction::AgentReportRefused,
                            "Agent",
                            &agent,
                        );
                        d.result = "refused: a crop of a camera not assigned to this agent".into();
                        d.details =
                            serde_json::json!({"kind": "crop", "cameras": [shown(&camera, 60)]});
                        self.audit.record(d).await?;
                        problems.push(format!(
                            "agent {agent} answered for a camera that is not its own"
                        ));
                        continue;
                    }
                    found = Some((a.data, agent, camera));
                    break;
                }
                Ok(_) => {}
                Err(e) if e.to_string().ends_with(": not found") => {}
                Err(e) => problems.push(e.to_string()),
            }
        }
        let Some((jpeg, agent, camera)) = found else {
            let msg = if problems.is_empty() {
                "no site holds that read (or it has no crop)".to_string()
            } else {
                format!(
                    "not found on the sites that answered; {}",
                    problems.join("; ")
                )
            };
            return Err(refuse(Error::NotFound(msg)).await);
        };
        let mut d = Draft::new(&actor.username, AuditAction::AlprCrop, "AlprRead", read_id);
        d.details = serde_json::json!({
            "read_id": read_id, "case_number": case_number, "agent": agent, "camera": camera,
            "bytes": jpeg.len(), "sha256": hex::encode(Sha256::digest(&jpeg)),
        });
        self.audit.record(d).await?;
        Ok((jpeg, agent, camera))
    }
}

// ---------- manifests ----------

/// The body of an export's manifest (what is signed). A masked export's
/// (`masked` the files re-encoded at the agent, in the plan's order) is format
/// 3: `files` keeps the originals' names, hashes and chain (not in the
/// directory), `masked_files` the files that are, each with its original's
/// hash, and `masks` the polygons burned in.
pub fn manifest_body(
    plan: &ExportPlan,
    masked: &[camplane_export::MaskedFile],
    ca_cert_pem: &str,
) -> serde_json::Value {
    let mut v = manifest_body_plain(plan, ca_cert_pem);
    if !plan.masks.is_empty() {
        v["format"] = camplane_export::FORMAT_MASKED.into();
        v["masked_files"] = serde_json::json!(masked);
        v["masks"] = serde_json::json!(plan.masks);
    }
    v
}

fn manifest_body_plain(plan: &ExportPlan, ca_cert_pem: &str) -> serde_json::Value {
    let mut v = serde_json::json!({
        "format": camplane_export::FORMAT,
        "camera": plan.camera,
        "department": plan.department,
        "site": plan.site,
        "agent": plan.agent,
        "from": plan.from,
        "until": plan.until,
        "case_number": plan.case_number,
        "recipient": plan.recipient,
        "requester": plan.requester,
        "exported_at": plan.at,
        "audit_seq": plan.audit_seq,
        "files": plan.segments,
        "signer": {"algorithm": SIGNATURE_ALGORITHM, "certificate": ca_cert_pem},
    });
    // Signed with the rest: the fee charged (or that none is: the police's
    // own use) and the request fulfilled.
    match &plan.fee {
        Some(f) => v["fee"] = json(f),
        None => v["police_use"] = true.into(),
    }
    if let Some(r) = &plan.records_request {
        v["records_request"] = r.as_str().into();
    }
    v
}

/// Signs a manifest body: the result is the body with `signature` (hex, over
/// the body's compact JSON) added.
pub fn sign_manifest(pki: &crate::core::pki::Pki, body: serde_json::Value) -> Result<Vec<u8>> {
    let sig = pki.sign(&camplane_export::signed_bytes(&body)?)?;
    Ok(camplane_export::signed_manifest(body, &sig)?)
}

#[cfg(test)]
mod tests {

    fn answer(agent: &str, spans: &[(&str, &str)]) -> GatewaySegments {
        GatewaySegments {
            agent: agent.into(),
            site: "city-hall".into(),
            answer: Ok(spans
                .iter()
                .enumerate()
                .map(|(i, (a, b))| SegmentInfo {
                    seq: i as u64,
                    name: format!("{i}.ts"),
                    start: a.parse().unwrap(),
                    end: b.parse().unwrap(),
                    size: 1,
                    sha256: "ab".repeat(32),
                    prev_sha256: "00".repeat(32),
                })
                .collect()),
        }
    }

    /// A range is served by the gateway that keeps most of it; the camera's
    /// own gateway wins a tie; one that did not answer, or keeps nothing, never.
    #[test]
    fn the_gateway_keeping_most_of_a_range_serves_it() {
        let (from, until) = (
            "2026-10-01T00:00:00Z".parse().unwrap(),
            "2026-10-01T01:00:00Z".parse().unwrap(),
        );
        let offline = GatewaySegments {
            agent: "gw2".into(),
            site: "city-hall".into(),
            answer: Err(Error::Agent("agent gw2 did not answer: offline".into())),
        };
        let old = answer("gw1", &[("2026-09-30T23:00:00Z", "2026-10-01T00:40:00Z")]);
        // Its own gateway offline: the one it left serves the range.
        assert_eq!(best_gateway(&[offline, old], from, until), Some(1));
        // Own gateway keeps the last 10 minutes, the old one the first 40.
        let own = answer("gw2", &[("2026-10-01T00:50:00Z", "2026-10-01T02:00:00Z")]);
        let old = answer("gw1", &[("2026-09-30T23:00:00Z", "2026-10-01T00:40:00Z")]);
        assert_eq!(best_gateway(&[own, old], from, until), Some(1));
        // Equal: its own.
        let own = answer("gw2", &[("2026-10-01T00:00:00Z", "2026-10-01T00:30:00Z")]);
        let old = answer("gw1", &[("2026-10-01T00:30:00Z", "2026-10-01T01:00:00Z")]);
        assert_eq!(best_gateway(&[own, old], from, until), Some(0));
        // Nobody keeps any of it.
        let own = answer("gw2", &[]);
        let old = answer("gw1", &[]);
        assert_eq!(best_gateway(&[own, old], from, until), None);
    }

    use super::*;

    fn plan() -> ExportPlan {
        ExportPlan {
            agent: "gw".into(),
            site: "s".into(),
            camera: "cam-1".into(),
            department: "police".into(),
            from: "2026-11-01T00:00:00Z".parse().unwrap(),
            until: "2026-11-01T01:00:00Z".parse().unwrap(),
            case_number: "26-01234".into(),
            recipient: "A. Jones, County Attorney".into(),
            requester: "chief".into(),
            at: "2026-11-02T00:00:00Z".parse().unwrap(),
            audit_seq: 7,
            segments: vec![],
            masks: vec![],
            records_request: None,
            fee: None,
        }
    }

    /// The recipient is signed with the manifest; a manifest of the first
    /// format (no recipient) still verifies; a recipient changed or removed
    /// afterwards does not.
    #[test]
    fn the_recipient_is_signed_and_old_manifests_still_verify() {
        let pki = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store = crate::core::store::open(&camplane_config::controller::StoreConfig {
                    embedded: Some(camplane_config::controller::EmbeddedStoreConfig {
                        path: dir.path().to_path_buf(),
                    }),
                    etcd: None,
                })
                .await
                .unwrap();
                crate::core::pki::Pki::load_or_create(&store, "T", Timestamp::now())
                    .await
                    .unwrap()
            });
        let d = tempfile::tempdir().unwrap();
        let write = |m: &[u8]| std::fs::write(d.path().join(MANIFEST), m).unwrap();
        let body = manifest_body(&plan(), &[], &pki.ca_cert_pem);
        assert_eq!(body["format"], camplane_export::FORMAT);
        assert_eq!(body["recipient"], "A. Jones, County Attorney");
        write(&sign_manifest(&pki, body.clone()).unwrap());
        assert_eq!(verify_export(d.path(), &pki.ca_cert_pem), Ok(0));

        let mut v1 = body.clone();
        v1["format"] = camplane_export::FORMAT_V1.into();
        if let Some(o) = v1.as_object_mut() {
            o.remove("recipient");
        }
        write(&sign_manifest(&pki, v1).unwrap());
        assert_eq!(verify_export(d.path(), &pki.ca_cert_pem), Ok(0));

        // Version 2 without a recipient, even signed, is not a valid export.
        let mut none = body.clone();
        if let Some(o) = none.as_object_mut() {
            o.remove("recipient");
        }
        write(&sign_manifest(&pki, none).unwrap());
        assert!(verify_export(d.path(), &pki.ca_cert_pem).is_err());

        // A masked export (format 3): the masked files are in the directory
        // and checked byte for byte; the originals are named by hash only, and
        // a masked file must name its original's hash.
        let seg = SegmentInfo {
            seq: 4,
            name: "a.ts".into(),
            start: "2026-11-01T00:00:00Z".parse().unwrap(),
            end: "2026-11-01T00:00:02Z".parse().unwrap(),
            size: 10,
            sha256: "ab".repeat(32),
            prev_sha256: "00".repeat(32),
        };
        let bytes = b"masked bytes".to_vec();
        std::fs::write(d.path().join("a-masked.ts"), &bytes).unwrap();
        let mf = camplane_export::MaskedFile {
            name: "a-masked.ts".into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            original_seq: 4,
            original_sha256: seg.sha256.clone(),
        };
        let mut mplan = plan();
        mplan.segments = vec![seg];
        mplan.masks = vec![PrivacyMask {
            name: "w".into(),
            polygon: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
        }];
        let mbody = manifest_body(&mplan, std::slice::from_ref(&mf), &pki.ca_cert_pem);
        assert_eq!(mbody["format"], camplane_export::FORMAT_MASKED);
        write(&sign_manifest(&pki, mbody.clone()).unwrap());
        assert_eq!(verify_export(d.path(), &pki.ca_cert_pem), Ok(1));
        std::fs::write(d.path().join("a-masked.ts"), b"masked bytez").unwrap();
        assert!(matches!(
            verify_export(d.path(), &pki.ca_cert_pem),
            Err(camplane_export::ExportProblem::Altered(..))
        ));
        std::fs::write(d.path().join("a-masked.ts"), &bytes).unwrap();
        let mut other = mf.clone();
        other.original_sha256 = "cd".repeat(32);
        write(&sign_manifest(&pki, manifest_body(&mplan, &[other], &pki.ca_cert_pem)).unwrap());
        assert!(matches!(
            verify_export(d.path(), &pki.ca_cert_pem),
            Err(camplane_export::ExportProblem::Chain(..))
        ));
        write(&sign_manifest(&pki, manifest_body(&mplan, &[], &pki.ca_cert_pem)).unwrap());
        assert!(
            verify_export(d.path(), &pki.ca_cert_pem).is_err(),
            "no masked file"
        );
        std::fs::remove_file(d.path().join("a-masked.ts")).unwrap();

        // Changing the recipient after signing breaks the signature.
        let signed = sign_manifest(&pki, body).unwrap();
        let text = String::from_utf8(signed)
            .unwrap()
            .replace("A. Jones", "B. Smith");
        write(text.as_bytes());
        let e = verify_export(d.path(), &pki.ca_cert_pem).unwrap_err();
        assert!(e.to_string().contains("signature"), "{e}");

        // The fee and the records request are signed too: a copy cannot be
        // passed off as cheaper, or as another request's. The police's own
        // copy says so instead of a fee.
        let plain = manifest_body(&plan(), &[], &pki.ca_cert_pem);
        assert_eq!(plain["police_use"], true);
        assert!(plain.get("fee").is_none());
        let mut charged = plan();
        charged.fee = Some(fees::Fee::charge(
            "police",
            Some(camplane_config::model::FeeScheduleSpec {
                currency: "USD".into(),
                base_cents: 1500,
                per_minute_cents: 250,
                per_file_cents: 75,
            }),
            60,
            0,
        ));
        charged.records_request = Some("rr-20261101-abcdef".into());
        let cb = manifest_body(&charged, &[], &pki.ca_cert_pem);
        assert_eq!(cb["fee"]["cents"], 16_500);
        assert_eq!(cb["records_request"], "rr-20261101-abcdef");
        assert!(cb.get("police_use").is_none());
        let signed = String::from_utf8(sign_manifest(&pki, cb).unwrap()).unwrap();
        write(signed.as_bytes());
        assert_eq!(verify_export(d.path(), &pki.ca_cert_pem), Ok(0));
        for (from, to) in [
            ("16500", "1650"),
            ("rr-20261101-abcdef", "rr-20261101-000000"),
        ] {
            write(signed.replace(from, to).as_bytes());
            let e = verify_export(d.path(), &pki.ca_cert_pem).unwrap_err();
            assert!(e.to_string().contains("signature"), "{from}: {e}");
        }
    }
}
