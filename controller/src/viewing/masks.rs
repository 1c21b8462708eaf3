//! Privacy masks and their lifting. A camera's `privacy_masks` are burned in
//! at its agent for every viewer; only the chief may lift them, for one user
//! and one camera, for at most [`MAX_LIFT_MINUTES`], with a reason, audited
//! (`mask.lift`). While the lift is current (the injected clock) that user may
//! ask for the original (`--unmasked`); otherwise the ask is refused and the
//! refusal audited with the view (`view.start`).
//!
//! A lift is kept under `viewing/mask-lifts/{camera}/{user}` (the latest one
//! for the pair; the audit log keeps them all). The rules are pure functions
//! here ([`check_lift`], [`lift_current`], [`check_unmasked`], [`view_masks`],
//! which live view and playback both ask) with their tests
//! beside them; the store code loads, asks them and writes.

use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::store::Op;
use crate::core::{AuditAction, Controller};
use crate::{Error, Result};
use camplane_config::model::{CameraSpec, Kind, PrivacyMask};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Key prefix of the lifts.
pub const LIFTS: &str = "viewing/mask-lifts/";
/// The longest lift.
pub const MAX_LIFT_MINUTES: u32 = 60;
/// The longest reason kept.
pub const MAX_LIFT_REASON: usize = 500;

/// A lift of a camera's privacy masks for one user, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskLift {
    /// Who may view unmasked.
    pub user: String,
    /// That user's immutable id when the lift was made: a user deleted and
    /// created again under the same name is someone else, and does not inherit
    /// it. (Made before ids were kept: matched by name alone.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The camera.
    pub camera: String,
    /// Why, as the chief wrote it.
    pub reason: String,
    /// The chief who lifted them.
    pub lifted_by: String,
    /// When.
    pub lifted_at: Timestamp,
    /// Until when (exclusive): `lifted_at` plus the minutes given.
    pub expires_at: Timestamp,
}

impl MaskLift {
    /// Its store key.
    pub fn key(&self) -> String {
        lift_key(&self.camera, &self.user)
    }
}

/// The key of `user`'s lift on `camera`.
pub fn lift_key(camera: &str, user: &str) -> String {
    format!("{LIFTS}{camera}/{user}")
}

/// A lift as asked (`camplane masks lift`).
#[derive(Debug, Clone, Default)]
pub struct LiftRequest {
    /// Who may view unmasked.
    pub user: String,
    /// The camera.
    pub camera: String,
    /// For how long, 1..=60.
    pub minutes: u32,
    /// Why (required).
    pub reason: String,
}

/// The rule of a lift: the chief only, 1 to [`MAX_LIFT_MINUTES`] minutes, a
/// reason of at most [`MAX_LIFT_REASON`] characters without control characters.
pub fn check_lift(actor: &Actor, req: &LiftRequest) -> Result<()> {
    if !Operation::LiftPrivacyMasks.allows(actor) {
        return Err(Error::PermissionDenied(
            "mask.lift needs the role chief: only the chief lifts privacy masks".into(),
        ));
    }
    if req.minutes == 0 || req.minutes > MAX_LIFT_MINUTES {
        return Err(Error::InvalidArgument(format!(
            "minutes: a lift lasts 1 to {MAX_LIFT_MINUTES} minutes, got {}",
            req.minutes
        )));
    }
    if req.reason.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "reason: a lift needs a reason (--reason TEXT)".into(),
        ));
    }
    if req.reason.chars().count() > MAX_LIFT_REASON || req.reason.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "reason: at most {MAX_LIFT_REASON} characters, no control characters"
        )));
    }
    Ok(())
}

/// Whether `lift` lets `user` view `camera` unmasked at `now`.
pub fn lift_current(lift: &MaskLift, user: &str, camera: &str, now: Timestamp) -> bool {
    lift.user == user && lift.camera == camera && lift.lifted_at <= now && now < lift.expires_at
}

/// The rule of an unmasked view: `user` needs a current lift on `camera`.
pub fn check_unmasked(
    lift: Option<&MaskLift>,
    user: &str,
    camera: &str,
    now: Timestamp,
) -> Result<()> {
    match lift {
        Some(l) if lift_current(l, user, camera, now) => Ok(()),
        Some(l) if l.user == user && l.camera == camera && now >= l.expires_at => {
            Err(Error::PermissionDenied(format!(
                "unmasked: the lift of camera {camera}'s privacy masks for {user} expired at {}; ask the chief for a new one (`camplane masks lift`)",
                l.expires_at
            )))
        }
        _ => Err(Error::PermissionDenied(format!(
            "unmasked: camera {camera}'s privacy masks are lifted for a user only by the chief (`camplane masks lift --user {user} --camera {camera} --minutes M --reason TEXT`)"
        ))),
    }
}

/// What a view burns in: the masks, and for an unmasked view the end of the
/// lift that lets it be (a live view ends there).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewMasks {
    /// The masks the agent burns in (none: the original picture).
    pub masks: Vec<PrivacyMask>,
    /// For an unmasked view of a camera with masks: when its lift expires.
    pub lift_ends: Option<Timestamp>,
}

/// The rule of every view (live and playback): the camera's `masks` are
/// burned in unless the viewer asked `unmasked` and holds a current lift
/// ([`check_unmasked`]); a camera without masks has nothing to lift.
pub fn view_masks(
    masks: &[PrivacyMask],
    unmasked: bool,
    lift: Option<&MaskLift>,
    user: &str,
    camera: &str,
    now: Timestamp,
) -> Result<ViewMasks> {
    if !unmasked || masks.is_empty() {
        return Ok(ViewMasks {
            masks: masks.to_vec(),
            lift_ends: None,
        });
    }
    check_unmasked(lift, user, camera, now)?;
    Ok(ViewMasks {
        masks: Vec::new(),
        lift_ends: lift.map(|l| l.expires_at),
    })
}

impl Controller {
    /// The masks of `user`'s view of `camera` ([`view_masks`]); the lift is
    /// read only for an unmasked view of a camera with masks.
    pub async fn masks_for_view(
        &self,
        masks: &[PrivacyMask],
        unmasked: bool,
        user: &str,
        camera: &str,
    ) -> Result<ViewMasks> {
        let lift = if unmasked && !masks.is_empty() {
            self.lift_for(camera, user).await?
        } else {
            None
        };
        view_masks(masks, unmasked, lift.as_ref(), user, camera, self.now())
    }

    /// `camplane masks lift`: checked ([`check_lift`], the user and the camera
    /// exist, the camera has masks), stored with its expiry and audited
    /// `mask.lift` in one transaction; refusals audited `mask.lift` too.
    pub async fn lift_masks(&self, actor: &Actor, req: &LiftRequest) -> Result<MaskLift> {
        let details = serde_json::json!({
            "user": req.user.chars().take(64).collect::<String>(),
            "camera": req.camera.chars().take(64).collect::<String>(),
            "minutes": req.minutes,
            "reason": req.reason.chars().take(MAX_LIFT_REASON).collect::<String>().escape_default().to_string(),
        });
        let checked = (|| {
            check_lift(actor, req)?;
            if self.load(Kind::User, &req.user).is_err() {
                return Err(Error::NotFound(format!("user {:?}", req.user)));
            }
            let cam: CameraSpec = self.load(Kind::Camera, &req.camera)?.spec_as()?;
            if cam.privacy_masks.is_empty() {
                return Err(Error::FailedPrecondition(format!(
                    "camera {} has no privacy masks to lift",
                    req.camera
                )));
            }
            Ok(())
        })();
        if let Err(e) = checked {
            let mut d = Draft::new(
                &actor.username,
                AuditAction::MaskLift,
                "Camera",
                &req.camera.chars().take(64).collect::<String>(),
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
        let now = self.now();
        let lift = MaskLift {
            user: req.user.clone(),
            user_id: self.user_id_of(&req.user),
            camera: req.camera.clone(),
            reason: req.reason.clone(),
            lifted_by: actor.username.clone(),
            lifted_at: now,
            expires_at: now + SignedDuration::from_mins(i64::from(req.minutes)),
        };
        let mut d = Draft::new(
            &actor.username,
            AuditAction::MaskLift,
            "Camera",
            &lift.camera,
        );
        d.details = serde_json::json!({
            "user": lift.user, "camera": lift.camera, "minutes": req.minutes,
            "reason": lift.reason, "expires_at": lift.expires_at,
        });
        self.audit
            .commit(
                vec![],
                vec![Op::Put(lift.key(), serde_json::to_vec(&lift)?)],
                d,
            )
            .await?;
        Ok(lift)
    }

    /// The lift of `camera`'s masks made for the person `user` names now:
    /// one made for an earlier holder of the name does not count.
    pub async fn lift_for(&self, camera: &str, user: &str) -> Result<Option<MaskLift>> {
        let id = self.user_id_of(user);
        Ok(self
            .mask_lift(camera, user)
            .await?
            .filter(|l| l.user_id.is_none() || l.user_id == id))
    }

    /// `user`'s latest lift on `camera`, if any (read from the store), whoever
    /// held the name then: [`Controller::lift_for`] is the person's.
    pub async fn mask_lift(&self, camera: &str, user: &str) -> Result<Option<MaskLift>> {
        match self.store.get(&lift_key(camera, user)).await? {
            Some(kv) => Ok(serde_json::from_slice(&kv.value).ok()),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camplane_config::model::Role;

    fn actor(name: &str, roles: &[Role]) -> Actor {
        Actor {
            username: name.into(),
            roles: roles.to_vec(),
            department: "police".into(),
        }
    }

    fn req(minutes: u32, reason: &str) -> LiftRequest {
        LiftRequest {
            user: "v".into(),
            camera: "cam-1".into(),
            minutes,
            reason: reason.into(),
        }
    }

    #[test]
    fn only_the_chief_lifts() {
        for r in Role::ALL {
            let got = check_lift(&actor("x", &[r]), &req(30, "case 26-1"));
            if r == Role::Chief {
                assert!(got.is_ok(), "{r}");
            } else {
                assert!(
                    matches!(got, Err(Error::PermissionDenied(_))),
                    "{r}: {got:?}"
                );
            }
        }
        assert!(matches!(
            check_lift(&actor("x", &[]), &req(30, "r")),
            Err(Error::PermissionDenied(_))
        ));
    }

    #[test]
    fn a_lift_lasts_at_most_an_hour_and_needs_a_reason() {
        let chief = actor("c", &[Role::Chief]);
        assert!(check_lift(&chief, &req(1, "r")).is_ok());
        assert!(check_lift(&chief, &req(60, "r")).is_ok());
        for m in [0, 61, 600, u32::MAX] {
            let e = check_lift(&chief, &req(m, "r")).unwrap_err();
            assert!(e.to_string().contains("1 to 60 minutes"), "{m}: {e}");
        }
        for bad in ["", "   ", "a\nb", &"x".repeat(MAX_LIFT_REASON + 1)] {
            let e = check_lift(&chief, &req(10, bad)).unwrap_err();
            assert!(e.to_string().contains("reason"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_lift_is_current_for_its_user_camera_and_minutes() {
        let t0: Timestamp = "2026-11-01T10:00:00Z".parse().unwrap();
        let l = MaskLift {
            user: "v".into(),
            user_id: None,
            camera: "cam-1".into(),
            reason: "r".into(),
            lifted_by: "c".into(),
            lifted_at: t0,
            expires_at: t0 + SignedDuration::from_mins(10),
        };
        let at = |m: i64| t0 + SignedDuration::from_secs(m);
        assert!(lift_current(&l, "v", "cam-1", at(0)));
        assert!(lift_current(&l, "v", "cam-1", at(599)));
        assert!(
            !lift_current(&l, "v", "cam-1", at(600)),
            "expired at its end"
        );
        assert!(!lift_current(&l, "v", "cam-1", at(-1)), "not before it");
        assert!(!lift_current(&l, "w", "cam-1", at(5)), "another user");
        assert!(!lift_current(&l, "v", "cam-2", at(5)), "another camera");
        assert!(check_unmasked(Some(&l), "v", "cam-1", at(5)).is_ok());
        let e = check_unmasked(Some(&l), "v", "cam-1", at(600)).unwrap_err();
        assert!(matches!(e, Error::PermissionDenied(_)) && e.to_string().contains("expired"));
        let e = check_unmasked(None, "v", "cam-1", at(5)).unwrap_err();
        assert!(matches!(e, Error::PermissionDenied(_)) && e.to_string().contains("masks lift"));
        assert!(check_unmasked(Some(&l), "w", "cam-1", at(5)).is_err());
    }

    #[test]
    fn a_view_is_masked_unless_lifted_and_an_unmasked_one_ends_with_its_lift() {
        let t0: Timestamp = "2026-11-01T10:00:00Z".parse().unwrap();
        let l = MaskLift {
            user: "v".into(),
            user_id: None,
            camera: "cam-1".into(),
            reason: "r".into(),
            lifted_by: "c".into(),
            lifted_at: t0,
            expires_at: t0 + SignedDuration::from_mins(10),
        };
        let m = vec![PrivacyMask {
            name: "w".into(),
            polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]],
        }];
        let at = |s: i64| t0 + SignedDuration::from_secs(s);
        // Masked by default, lift or not.
        for lift in [None, Some(&l)] {
            let v = view_masks(&m, false, lift, "v", "cam-1", at(5)).unwrap();
            assert_eq!(v.masks, m);
            assert_eq!(v.lift_ends, None);
        }
        // Unmasked only with a current lift, until it ends.
        let v = view_masks(&m, true, Some(&l), "v", "cam-1", at(5)).unwrap();
        assert!(v.masks.is_empty());
        assert_eq!(v.lift_ends, Some(l.expires_at));
        for (lift, user, t, says) in [
            (None, "v", at(5), "masks lift"),
            (Some(&l), "v", at(600), "expired"),
            (Some(&l), "w", at(5), "masks lift"),
            (Some(&l), "v", at(-1), "masks lift"),
        ] {
            let e = view_masks(&m, true, lift, user, "cam-1", t).unwrap_err();
            assert!(
                matches!(e, Error::PermissionDenied(_)) && e.to_string().contains(says),
                "{user} {t}: {e}"
            );
        }
        // A camera without masks has nothing to lift: the original, no end.
        let v = view_masks(&[], true, None, "v", "cam-1", at(5)).unwrap();
        assert!(v.masks.is_empty() && v.lift_ends.is_none());
    }
}
