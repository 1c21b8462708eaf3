//! Who may view and who may copy a camera's recordings, as a pure function.
//! Policy 5.05: video is seen only by the installing department's authorized
//! people or those the chief authorizes, and copies are made only by people
//! the chief authorized. So viewing and copying are two rights:
//!
//! - **view**: the chief; viewers of the installing department; the police;
//!   anyone with a chief's authorization (to view or to copy) for the camera
//!   or its department, until it ends;
//! - **copy** (an export): the chief; anyone with a chief's authorization *to
//!   copy* for the camera or its department, until it ends. The right to view
//!   never implies the right to copy.
//!
//! No store, no clock: the caller passes the authorizations and the time, and
//! audits the refusal.

use crate::core::auth::Actor;
use crate::Error;
use camplane_config::model::Role;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The department whose viewers may view every camera's recordings.
pub const POLICE_DEPARTMENT: &str = "police";

/// A right over a camera's recordings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Right {
    /// Watch them.
    #[default]
    View,
    /// Copy them out of the system (export).
    Copy,
}

impl Right {
    /// Whether this is the default (an authorization stored before copy
    /// rights existed has no `right` and is a view authorization).
    pub fn is_view(&self) -> bool {
        *self == Right::View
    }
}

/// One chief's authorization as the rule needs it.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    /// Its id (named in the basis).
    pub id: &'a str,
    /// The user it is for.
    pub user: &'a str,
    /// One camera, or
    pub camera: Option<&'a str>,
    /// every camera of one department.
    pub department: Option<&'a str>,
    /// The right it gives.
    pub right: Right,
    /// It ends then.
    pub until: Timestamp,
    /// The chief who gave it.
    pub by: &'a str,
}

/// The camera as the rule needs it.
#[derive(Debug, Clone, Copy)]
pub struct Camera<'a> {
    /// Its name.
    pub name: &'a str,
    /// The installing department.
    pub department: &'a str,
}

/// The rule: on what basis `actor` has `right` over `camera`'s recordings at
/// `now`, or `PermissionDenied` saying who has it. (Role and policy
/// acknowledgement are checked before.)
pub fn decide(
    right: Right,
    actor: &Actor,
    camera: Camera<'_>,
    grants: &[Grant<'_>],
    now: Timestamp,
) -> Result<String, Error> {
    if actor.has(Role::Chief) {
        return Ok("chief".into());
    }
    if right == Right::View {
        if !actor.department.is_empty() && actor.department == camera.department {
            return Ok("installing department".into());
        }
        if actor.department == POLICE_DEPARTMENT {
            return Ok("police".into());
        }
    }
    let granted = grants.iter().find(|g| {
        g.user == actor.username
            && g.until > now
            // A copy authorization lets its holder see what it copies; a view
            // authorization never lets anyone copy.
            && (g.right == Right::Copy || right == Right::View)
            && (g.camera == Some(camera.name) || g.department == Some(camera.department))
    });
    match (granted, right) {
        (Some(g), Right::View) => Ok(format!("authorized by {} ({})", g.by, g.id)),
        (Some(g), Right::Copy) => Ok(format!("copy authorized by {} ({})", g.by, g.id)),
        (None, Right::View) => Err(Error::PermissionDenied(format!(
            "recordings of camera {} are for its department ({}), the police and people the chief authorized",
            camera.name, camera.department
        ))),
        (None, Right::Copy) => Err(Error::PermissionDenied(format!(
            "copying camera {}'s recordings needs the chief's authorization to copy (camplane recordings authorize --copy); the right to view does not include copying",
            camera.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn actor(name: &str, roles: &[Role], dept: &str) -> Actor {
        Actor {
            username: name.into(),
            roles: roles.to_vec(),
            department: dept.into(),
        }
    }

    const CAM: Camera<'static> = Camera {
        name: "cam-1",
        department: "public-works",
    };

    fn grant(user: &'static str, right: Right, camera: bool) -> Grant<'static> {
        Grant {
            id: "ra-1",
            user,
            camera: camera.then_some("cam-1"),
            department: (!camera).then_some("public-works"),
            right,
            until: t("2026-12-01T00:00:00Z"),
            by: "chief",
        }
    }

    const NOW: &str = "2026-11-01T00:00:00Z";

    /// Every kind of person against both rights, with and without each grant.
    #[test]
    fn view_never_implies_copy() {
        let now = t(NOW);
        let people = [
            ("chief", actor("c", &[Role::Chief], "police")),
            ("dept viewer", actor("u", &[Role::Viewer], "public-works")),
            ("police viewer", actor("u", &[Role::Viewer], "police")),
            ("other viewer", actor("u", &[Role::Viewer], "parks")),
        ];
        let grants = [
            ("none", vec![]),
            ("view/camera", vec![grant("u", Right::View, true)]),
            ("view/department", vec![grant("u", Right::View, false)]),
            ("copy/camera", vec![grant("u", Right::Copy, true)]),
            ("copy/department", vec![grant("u", Right::Copy, false)]),
            ("copy for someone else", vec![grant("x", Right::Copy, true)]),
        ];
        for (who, a) in &people {
            for (g, gs) in &grants {
                let view = decide(Right::View, a, CAM, gs, now).is_ok();
                let copy = decide(Right::Copy, a, CAM, gs, now).is_ok();
                let chief = *who == "chief";
                let own_grant = g.starts_with("copy/") || g.starts_with("view/");
                let want_view =
                    chief || *who == "dept viewer" || *who == "police viewer" || own_grant;
                let want_copy = chief || g.starts_with("copy/");
                assert_eq!(view, want_view, "{who} with {g}: view");
                assert_eq!(copy, want_copy, "{who} with {g}: copy");
            }
        }
    }

    #[test]
    fn grants_end_and_name_their_basis() {
        let u = actor("u", &[Role::Viewer], "parks");
        let g = [grant("u", Right::Copy, true)];
        assert_eq!(
            decide(Right::Copy, &u, CAM, &g, t(NOW)).unwrap(),
            "copy authorized by chief (ra-1)"
        );
        // At its end, and for another camera: refused, naming the way to get it.
        let e = decide(Right::Copy, &u, CAM, &g, t("2026-12-01T00:00:00Z")).unwrap_err();
        assert!(e.to_string().contains("authorize --copy"), "{e}");
        let other = Camera {
            name: "cam-2",
            department: "parks-and-rec",
        };
        assert!(decide(Right::Copy, &u, other, &g, t(NOW)).is_err());
        // The chief copies without an authorization.
        let c = actor("c", &[Role::Chief], "police");
        assert_eq!(decide(Right::Copy, &c, CAM, &[], t(NOW)).unwrap(), "chief");
    }

    #[test]
    fn rights_read_back_as_stored() {
        assert_eq!(serde_json::to_value(Right::Copy).unwrap(), "copy");
        assert_eq!(
            serde_json::from_value::<Right>("view".into()).unwrap(),
            Right::View
        );
    }
}
