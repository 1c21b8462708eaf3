//! Role grants as a pure function: Information Services (the admin role) grants
//! and revokes roles, and a user's roles are kept as a sorted set. Policy 5.05:
//! access is "limited to authorized personnel", so who holds which role is
//! changed by one role and audited.
//!
//! No store, no clock: the store code loads the user, calls [`next`] and
//! applies the [`Transition`].

use crate::core::audit::AuditAction;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use camplane_config::model::Role;

/// A change of a user's roles (the wire says grant or revoke with a flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Add these roles.
    Grant(&'a [Role]),
    /// Remove these roles.
    Revoke(&'a [Role]),
}

impl Action<'_> {
    /// The audit action of the change.
    pub fn audit_action(self) -> AuditAction {
        match self {
            Action::Grant(_) => AuditAction::UserGrant,
            Action::Revoke(_) => AuditAction::UserRevoke,
        }
    }
}

/// The audit action a refused grant or revoke is recorded under (the role
/// check has always named both `user.grant`).
pub const REFUSED: AuditAction = AuditAction::UserGrant;

/// What a permitted change records: the user's roles after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The roles held after the change, sorted.
    pub roles: Vec<Role>,
    /// The audit action recorded with it.
    pub audit: AuditAction,
}

/// The rule: the change `action` by `actor` of a user holding `state`, or why not.
pub fn next(state: &[Role], action: Action, actor: &Actor) -> Result<Transition, Refusal> {
    check(actor, Operation::ManageUsers, REFUSED)?;
    let mut roles = state.to_vec();
    match action {
        Action::Grant(add) => {
            for r in add {
                if !roles.contains(r) {
                    roles.push(*r);
                }
            }
        }
        Action::Revoke(remove) => roles.retain(|x| !remove.contains(x)),
    }
    roles.sort();
    Ok(Transition {
        roles,
        audit: action.audit_action(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use Role::*;

    fn actor(roles: &[Role]) -> Actor {
        Actor {
            username: "u".into(),
            roles: roles.to_vec(),
            department: "is".into(),
        }
    }

    /// Every action x role: only the admin changes roles, and the refusal is
    /// audited under `user.grant` naming the role that may.
    #[test]
    fn every_role_for_every_step() {
        let held = [Viewer];
        for action in [Action::Grant(&[Chief]), Action::Revoke(&[Viewer])] {
            for r in Role::ALL {
                let got = next(&held, action, &actor(&[r]));
                if r == Admin {
                    assert_eq!(got.unwrap().audit, action.audit_action());
                } else {
                    let e = got.unwrap_err();
                    assert_eq!(
                        e.error.to_string(),
                        Error::PermissionDenied("user.grant needs one of the roles admin".into())
                            .to_string(),
                        "{action:?} by {r}"
                    );
                    assert_eq!(e.audit.unwrap().action, REFUSED);
                }
            }
            assert!(next(&held, action, &actor(&[])).is_err());
        }
    }

    #[test]
    fn roles_stay_a_sorted_set() {
        let admin = actor(&[Admin]);
        let t = next(
            &[Viewer, Chief],
            Action::Grant(&[Chief, Auditor, Admin]),
            &admin,
        )
        .unwrap();
        assert_eq!(t.roles, vec![Admin, Chief, Auditor, Viewer]);
        assert_eq!(t.audit, AuditAction::UserGrant);
        let t = next(&t.roles, Action::Revoke(&[Chief, Supervisor]), &admin).unwrap();
        assert_eq!(t.roles, vec![Admin, Auditor, Viewer]);
        assert_eq!(t.audit, AuditAction::UserRevoke);
        // Granting what is held, revoking what is not: the same set, still recorded.
        let t = next(&[Viewer], Action::Revoke(&[Chief]), &admin).unwrap();
        assert_eq!(t.roles, vec![Viewer]);
    }
}
