//! Role grants as a pure function: Information Services (the admin role) grants
//! and revokes roles, and a user's roles are kept as a sorted set. Policy 5.05:
//! access is "limited to authorized personnel", so who holds which role is
//! changed by one role and audited.
//!
//! No store, no clock: the store code loads the user, calls [`next`] and
//! applies the [`Transition`].

use crate::core::audit::{AuditAction, Draft};
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use camplane_config::model::{Kind, Role, UserSpec};

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

/// The rule: the change `action` by `actor` of user `target` holding `state`,
/// or why not. Separation of duties: nobody changes their own roles.
pub fn next(
    target: &str,
    state: &[Role],
    action: Action,
    actor: &Actor,
) -> Result<Transition, Refusal> {
    check(actor, Operation::ManageUsers, REFUSED)?;
    if actor.username == target {
        let msg = format!("{target} cannot change their own roles; another administrator does");
        return Err(Refusal::denied(
            actor,
            action.audit_action(),
            "User",
            target,
            msg,
        ));
    }
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

/// The roles somebody must always hold: without an admin nobody can add users
/// or grant roles again, and without a city manager no request is decided.
pub const KEPT_ROLES: [Role; 2] = [Role::Admin, Role::CityManager];

/// The rule that keeps [`KEPT_ROLES`] held: `target` goes from holding `before`
/// to `after` (empty when deleted; a disabled user holds nothing), and
/// `others(role)` says how many other enabled users hold `role`. Refused (and
/// audited as `action`) when the target is the last holder of a kept role.
pub fn check_last_holder(
    target: &str,
    before: &[Role],
    after: &[Role],
    others: impl Fn(Role) -> usize,
    action: AuditAction,
    actor: &Actor,
) -> Result<(), Refusal> {
    for role in KEPT_ROLES {
        if before.contains(&role) && !after.contains(&role) && others(role) == 0 {
            let msg = format!(
                "{target} is the last {role}: grant {role} to someone else first (nothing could recover a city without one)"
            );
            let mut d = Draft::new(&actor.username, action, "User", target);
            d.result = format!("denied: {msg}");
            return Err(Refusal {
                error: Error::FailedPrecondition(msg),
                audit: Some(Box::new(d)),
            });
        }
    }
    Ok(())
}

/// The roles `spec` holds in effect (none when disabled).
pub fn effective_roles(spec: &UserSpec) -> &[Role] {
    if spec.disabled {
        &[]
    } else {
        &spec.roles
    }
}

/// The rule for an edit of a user record through `apply`: nobody changes their
/// own roles, department, training, certification, policy acknowledgement or
/// disabled flag (only the display name is theirs to change), and the refusal
/// names every field they tried.
pub fn check_user_edit(
    target: &str,
    old: &UserSpec,
    new: &UserSpec,
    actor: &Actor,
) -> Result<(), Refusal> {
    if actor.username != target {
        return Ok(());
    }
    let mut changed = Vec::new();
    if old.roles != new.roles {
        changed.push("roles");
    }
    if old.department != new.department {
        changed.push("department");
    }
    if old.trained_at != new.trained_at {
        changed.push("trained_at");
    }
    if old.certified_until != new.certified_until {
        changed.push("certified_until");
    }
    if old.policy_version != new.policy_version {
        changed.push("policy_version");
    }
    if old.disabled != new.disabled {
        changed.push("disabled");
    }
    if changed.is_empty() {
        return Ok(());
    }
    let msg = format!(
        "{target} cannot change their own {}; another administrator does",
        changed.join(", ")
    );
    Err(Refusal::denied(
        actor,
        AuditAction::ApplyKind(Kind::User),
        "User",
        target,
        msg,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    /// The last admin and the last city manager can be neither demoted nor
    /// deleted (nor disabled); with another holder, they can.
    #[test]
    fn the_last_admin_and_city_manager_stay() {
        let admin = actor(&[Admin]);
        for role in KEPT_ROLES {
            for after in [vec![], vec![Viewer]] {
                let e = check_last_holder(
                    "x",
                    &[role, Viewer],
                    &after,
                    |_| 0,
                    AuditAction::Delete,
                    &admin,
                )
                .unwrap_err();
                assert!(
                    matches!(e.error, Error::FailedPrecondition(_)),
                    "{:?}",
                    e.error
                );
                assert!(e.error.to_string().contains(&format!("last {role}")));
                let d = e.audit.unwrap();
                assert_eq!(d.action, AuditAction::Delete);
                assert!(d.result.starts_with("denied: "));
            }
            // Someone else holds it: the legitimate change goes through.
            assert!(
                check_last_holder("x", &[role], &[], |_| 1, AuditAction::Delete, &admin).is_ok()
            );
            // Keeping the role is always fine.
            assert!(check_last_holder(
                "x",
                &[role],
                &[role],
                |_| 0,
                AuditAction::UserRevoke,
                &admin
            )
            .is_ok());
        }
        // Other roles are not kept.
        assert!(check_last_holder("x", &[Chief], &[], |_| 0, AuditAction::Delete, &admin).is_ok());
        let mut spec = UserSpec {
            display_name: String::new(),
            department: String::new(),
            roles: vec![Admin],
            trained_at: None,
            certified_until: None,
            policy_version: None,
            disabled: false,
        };
        assert_eq!(effective_roles(&spec), &[Admin]);
        spec.disabled = true;
        assert!(effective_roles(&spec).is_empty());
    }

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
                let got = next("v", &held, action, &actor(&[r]));
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
            assert!(next("v", &held, action, &actor(&[])).is_err());
        }
    }

    #[test]
    fn roles_stay_a_sorted_set() {
        let admin = actor(&[Admin]);
        let t = next(
            "v",
            &[Viewer, Chief],
            Action::Grant(&[Chief, Auditor, Admin]),
            &admin,
        )
        .unwrap();
        assert_eq!(t.roles, vec![Admin, Chief, Auditor, Viewer]);
        assert_eq!(t.audit, AuditAction::UserGrant);
        let t = next("v", &t.roles, Action::Revoke(&[Chief, Supervisor]), &admin).unwrap();
        assert_eq!(t.roles, vec![Admin, Auditor, Viewer]);
        assert_eq!(t.audit, AuditAction::UserRevoke);
        // Granting what is held, revoking what is not: the same set, still recorded.
        let t = next("v", &[Viewer], Action::Revoke(&[Chief]), &admin).unwrap();
        assert_eq!(t.roles, vec![Viewer]);
    }

    /// Nobody changes their own roles, not even an admin granting itself chief;
    /// the refusal is audited.
    #[test]
    fn nobody_changes_their_own_roles() {
        let admin = actor(&[Admin]);
        for action in [Action::Grant(&[Chief]), Action::Revoke(&[Admin])] {
            let e = next("u", &[Admin], action, &admin).unwrap_err();
            assert!(
                matches!(e.error, Error::PermissionDenied(_)),
                "{:?}",
                e.error
            );
            assert!(e.error.to_string().contains("their own roles"));
            assert_eq!(e.audit.unwrap().action, action.audit_action());
        }
        assert!(next("v", &[Admin], Action::Grant(&[Chief]), &admin).is_ok());
    }

    /// An admin editing its own record may change its display name only.
    #[test]
    fn nobody_edits_their_own_training_or_certification() {
        let admin = actor(&[Admin]);
        let old = UserSpec {
            display_name: "U".into(),
            department: "is".into(),
            roles: vec![Admin],
            trained_at: None,
            certified_until: None,
            policy_version: None,
            disabled: false,
        };
        let mut new = old.clone();
        new.display_name = "U. Name".into();
        assert!(check_user_edit("u", &old, &new, &admin).is_ok());
        new.trained_at = Some(jiff::Timestamp::UNIX_EPOCH);
        new.certified_until = Some(jiff::Timestamp::UNIX_EPOCH);
        new.policy_version = Some("5.05".into());
        new.roles.push(Chief);
        let e = check_user_edit("u", &old, &new, &admin).unwrap_err();
        let msg = e.error.to_string();
        for f in ["roles", "trained_at", "certified_until", "policy_version"] {
            assert!(msg.contains(f), "{msg}");
        }
        assert_eq!(e.audit.unwrap().action, AuditAction::ApplyKind(Kind::User));
        // The same edit of someone else's record is the admin's job.
        assert!(check_user_edit("v", &old, &new, &admin).is_ok());
    }
}
