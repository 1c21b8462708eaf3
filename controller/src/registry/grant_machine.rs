//! Role grants as a pure function: Information Services (the admin role) grants
//! and revokes roles, and a user's roles are kept as a sorted set. Policy 5.05:
//! access is "limited to authorized personnel", so who holds which role is
//! changed by one role and audited.
//!
//! Governing roles (admin, chief, city manager, auditor) take two people: the
//! admin's grant is only a request ([`RoleGrant`], pending) that the city
//! manager confirms or rejects ([`decide`]); a grant of `city_manager` is
//! confirmed by a second admin. The asker never decides their own request.
//!
//! No store, no clock: the store code loads the user, calls [`next`] and
//! applies the [`Transition`].

use crate::core::audit::{AuditAction, Draft};
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use camplane_config::model::{Kind, Role, UserSpec};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The roles that govern the others: granted only in two steps (a pending
/// grant, then a second person's confirmation). The city clerk (who records
/// the Council's final decisions on complaints), the Public Information
/// Officer and the City Attorney (who decide and advise on releasing records)
/// govern too: one administrator alone must not be able to make them.
pub const GOVERNING: [Role; 7] = [
    Role::Admin,
    Role::Chief,
    Role::CityManager,
    Role::Auditor,
    Role::CityClerk,
    Role::Pio,
    Role::CityAttorney,
];

/// Whether `role` is granted only in two steps.
pub fn is_governing(role: Role) -> bool {
    GOVERNING.contains(&role)
}

/// Who confirms (or rejects) a pending grant of `role`: the city manager; a
/// grant of `city_manager` itself, a second admin.
pub fn decider(role: Role) -> Role {
    if role == Role::CityManager {
        Role::Admin
    } else {
        Role::CityManager
    }
}

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
    /// Governing roles asked for but not yet held: each becomes a pending
    /// [`RoleGrant`] (empty for a revoke).
    pub pending: Vec<Role>,
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
    let mut pending = Vec::new();
    match action {
        Action::Grant(add) => {
            for r in add {
                if roles.contains(r) || pending.contains(r) {
                    continue;
                }
                if is_governing(*r) {
                    pending.push(*r);
                } else {
                    roles.push(*r);
                }
            }
        }
        Action::Revoke(remove) => roles.retain(|x| !remove.contains(x)),
    }
    roles.sort();
    pending.sort();
    Ok(Transition {
        roles,
        pending,
        audit: action.audit_action(),
    })
}

/// Where a governing grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// Asked for by an admin; waiting for the second person.
    Pending,
    /// Confirmed: the user holds the role.
    Confirmed,
    /// Rejected, with a reason.
    Rejected,
}

/// A governing role asked for by an admin (stored under `grants/{id}`): the
/// user (by name and immutable id, so a user deleted meanwhile is not granted
/// under a new identity), the role, who asked and who decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleGrant {
    /// `rg-` and 16 hex digits.
    pub id: String,
    /// The user the role is for.
    pub user: String,
    /// That user's immutable id when the grant was asked for.
    pub user_id: String,
    /// The governing role.
    pub role: Role,
    /// The admin who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: Timestamp,
    /// Where it stands.
    pub state: GrantState,
    /// Who confirmed or rejected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The most characters of a rejection's reason.
pub const MAX_REASON: usize = 500;

/// A decision on a pending grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// The role is granted.
    Confirm,
    /// The role is not granted, for this reason.
    Reject(&'a str),
}

impl Decision<'_> {
    /// The audit action of the decision (refusals are recorded under it too).
    pub fn audit_action(self) -> AuditAction {
        match self {
            Decision::Confirm => AuditAction::UserGrantConfirm,
            Decision::Reject(_) => AuditAction::UserGrantReject,
        }
    }
}

/// The rule of a decision on `grant` by `actor` at `now`; `user_id` is the
/// immutable id of the user now stored under the grant's name (none when
/// deleted). The decider is the city manager (a second admin for
/// `city_manager`), never the asker, never the user the role is for; a grant is
/// decided once, and never for a user deleted (or re-created) meanwhile.
pub fn decide(
    grant: &RoleGrant,
    user_id: Option<&str>,
    decision: Decision,
    actor: &Actor,
    now: Timestamp,
) -> Result<RoleGrant, Refusal> {
    let action = decision.audit_action();
    let who = decider(grant.role);
    let deny = |msg: String| Refusal::denied(actor, action, "RoleGrant", &grant.id, msg);
    if !actor.has(who) {
        let by = if who == Role::Admin {
            "a second admin (not the one who asked)"
        } else {
            "the city manager"
        };
        return Err(deny(format!(
            "a grant of {} is decided by {by}",
            grant.role
        )));
    }
    if actor.username == grant.requested_by {
        return Err(deny(format!(
            "{} asked for this grant: a second person decides it",
            actor.username
        )));
    }
    if actor.username == grant.user {
        return Err(deny(format!(
            "{} cannot decide a grant of their own roles",
            actor.username
        )));
    }
    let refuse = |error: Error| Refusal::refused(actor, action, "RoleGrant", &grant.id, error);
    if grant.state != GrantState::Pending {
        return Err(refuse(Error::FailedPrecondition(format!(
            "grant {} was already {}",
            grant.id,
            if grant.state == GrantState::Confirmed {
                "confirmed"
            } else {
                "rejected"
            }
        ))));
    }
    if user_id != Some(grant.user_id.as_str()) {
        return Err(refuse(Error::FailedPrecondition(format!(
            "user {} was deleted after grant {} was asked for; ask again for the new user",
            grant.user, grant.id
        ))));
    }
    let mut out = grant.clone();
    out.decided_by = Some(actor.username.clone());
    out.decided_at = Some(now);
    match decision {
        Decision::Confirm => out.state = GrantState::Confirmed,
        Decision::Reject(reason) => {
            let reason = reason.trim();
            if reason.is_empty()
                || reason.chars().count() > MAX_REASON
                || reason.chars().any(char::is_control)
            {
                return Err(refuse(Error::InvalidArgument(format!(
                    "--reason: a rejection states why, in at most {MAX_REASON} printable characters"
                ))));
            }
            out.state = GrantState::Rejected;
            out.reason = Some(reason.into());
        }
    }
    Ok(out)
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
/// names every field they tried. Nor does anyone's apply give a governing role
/// (two people: [`decide`]) or set a policy acknowledgement (the user's own
/// `camplane policy acknowledge`): refused and audited, naming the command.
pub fn check_user_edit(
    target: &str,
    old: &UserSpec,
    new: &UserSpec,
    actor: &Actor,
) -> Result<(), Refusal> {
    if actor.username == target {
        check_own_record(target, old, new, actor)?;
    }
    // Nobody's apply sets anybody's acknowledgement or gives a governing role:
    // each has its own two-person or first-person command.
    let mut side_doors = Vec::new();
    let gained: Vec<&str> = new
        .roles
        .iter()
        .filter(|r| is_governing(**r) && !old.roles.contains(r))
        .map(|r| r.as_str())
        .collect();
    if !gained.is_empty() {
        side_doors.push(format!(
            "roles: {} take two people: `camplane user grant {target} ROLE`, then the city manager's `camplane user grants confirm ID`",
            gained.join(", ")
        ));
    }
    if old.policy_version != new.policy_version {
        side_doors.push(
            "policy_version: users acknowledge the policy themselves with `camplane policy acknowledge --password-stdin`".into(),
        );
    }
    if !side_doors.is_empty() {
        return Err(Refusal::denied(
            actor,
            AuditAction::ApplyKind(Kind::User),
            "User",
            target,
            format!("User {target:?}: {}", side_doors.join("; ")),
        ));
    }
    Ok(())
}

/// The self-edit half of [`check_user_edit`]: only the display name is one's own.
fn check_own_record(
    target: &str,
    old: &UserSpec,
    new: &UserSpec,
    actor: &Actor,
) -> Result<(), Refusal> {
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
            Action::Grant(&[Supervisor, Engineer, DeptManager]),
            &admin,
        )
        .unwrap();
        assert_eq!(
            t.roles,
            vec![Engineer, DeptManager, Chief, Supervisor, Viewer]
        );
        assert!(t.pending.is_empty());
        assert_eq!(t.audit, AuditAction::UserGrant);
        let t = next("v", &t.roles, Action::Revoke(&[Chief, Auditor]), &admin).unwrap();
        assert_eq!(t.roles, vec![Engineer, DeptManager, Supervisor, Viewer]);
        assert_eq!(t.audit, AuditAction::UserRevoke);
        // Granting what is held, revoking what is not: the same set, still recorded.
        let t = next("v", &[Viewer], Action::Revoke(&[Chief]), &admin).unwrap();
        assert_eq!(t.roles, vec![Viewer]);
    }

    /// Governing roles are only asked for: they wait as pending grants, the
    /// others are held at once; one held already is not asked for again.
    #[test]
    fn governing_roles_wait_for_a_second_person() {
        let admin = actor(&[Admin]);
        let t = next(
            "v",
            &[Viewer, Chief],
            Action::Grant(&[Chief, Auditor, Admin, Engineer, CityManager, Auditor]),
            &admin,
        )
        .unwrap();
        assert_eq!(t.roles, vec![Engineer, Chief, Viewer]);
        assert_eq!(t.pending, vec![Admin, CityManager, Auditor]);
        for r in Role::ALL {
            assert_eq!(
                is_governing(r),
                matches!(
                    r,
                    Admin | Chief | CityManager | Auditor | CityClerk | Pio | CityAttorney
                ),
                "{r}"
            );
        }
        assert_eq!(decider(Chief), CityManager);
        assert_eq!(decider(Admin), CityManager);
        assert_eq!(decider(Auditor), CityManager);
        assert_eq!(decider(CityManager), Admin);
    }

    fn named(name: &str, roles: &[Role]) -> Actor {
        Actor {
            username: name.into(),
            roles: roles.to_vec(),
            department: String::new(),
        }
    }

    fn grant_of(role: Role) -> RoleGrant {
        RoleGrant {
            id: "rg-1".into(),
            user: "v".into(),
            user_id: "u_1".into(),
            role,
            requested_by: "asker".into(),
            requested_at: Timestamp::UNIX_EPOCH,
            state: GrantState::Pending,
            decided_by: None,
            decided_at: None,
            reason: None,
        }
    }

    /// Every role deciding every grant: only the decider (the city manager; a
    /// second admin for `city_manager`) decides, never the asker nor the user
    /// the role is for; every refusal is audited under the decision's action.
    #[test]
    fn every_role_for_every_decision() {
        let now = Timestamp::UNIX_EPOCH;
        for role in GOVERNING {
            let g = grant_of(role);
            for decision in [Decision::Confirm, Decision::Reject("not needed")] {
                for r in Role::ALL {
                    let got = decide(&g, Some("u_1"), decision, &named("other", &[r]), now);
                    if r == decider(role) {
                        let d = got.unwrap();
                        assert_eq!(d.decided_by.as_deref(), Some("other"));
                        assert_eq!(d.decided_at, Some(now));
                        match decision {
                            Decision::Confirm => assert_eq!(d.state, GrantState::Confirmed),
                            Decision::Reject(_) => {
                                assert_eq!(d.state, GrantState::Rejected);
                                assert_eq!(d.reason.as_deref(), Some("not needed"));
                            }
                        }
                    } else {
                        let e = got.unwrap_err();
                        assert!(matches!(e.error, Error::PermissionDenied(_)), "{r} {role}");
                        let a = e.audit.unwrap();
                        assert_eq!(a.action, decision.audit_action());
                        assert!(a.result.starts_with("denied: "));
                    }
                }
                // The asker never decides their own request, even holding the role.
                let asker = named("asker", &[Admin, CityManager]);
                let e = decide(&g, Some("u_1"), decision, &asker, now).unwrap_err();
                assert!(e.error.to_string().contains("second person"), "{}", e.error);
                assert_eq!(e.audit.unwrap().action, decision.audit_action());
                // Nor does the user the role is for.
                let own = named("v", &[Admin, CityManager]);
                let e = decide(&g, Some("u_1"), decision, &own, now).unwrap_err();
                assert!(e.error.to_string().contains("their own"), "{}", e.error);
            }
        }
    }

    /// A grant is decided once, never for a user deleted or re-created
    /// meanwhile, and a rejection says why.
    #[test]
    fn a_grant_is_decided_once_for_the_user_it_named() {
        let now = Timestamp::UNIX_EPOCH;
        let cm = named("cm", &[CityManager]);
        let g = grant_of(Chief);
        let done = decide(&g, Some("u_1"), Decision::Confirm, &cm, now).unwrap();
        for again in [Decision::Confirm, Decision::Reject("late")] {
            let e = decide(&done, Some("u_1"), again, &cm, now).unwrap_err();
            assert!(matches!(e.error, Error::FailedPrecondition(_)));
            assert!(e.error.to_string().contains("already confirmed"));
            assert!(e.audit.unwrap().result.starts_with("refused: "));
        }
        for gone in [None, Some("u_2")] {
            let e = decide(&g, gone, Decision::Confirm, &cm, now).unwrap_err();
            assert!(matches!(e.error, Error::FailedPrecondition(_)));
            assert!(e.error.to_string().contains("was deleted"), "{}", e.error);
            assert_eq!(e.audit.unwrap().action, AuditAction::UserGrantConfirm);
        }
        for bad in ["", "  ", "a\nb"] {
            let e = decide(&g, Some("u_1"), Decision::Reject(bad), &cm, now).unwrap_err();
            assert!(matches!(e.error, Error::InvalidArgument(_)), "{bad:?}");
        }
        let long = "x".repeat(MAX_REASON + 1);
        assert!(decide(&g, Some("u_1"), Decision::Reject(&long), &cm, now).is_err());
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
        // Training and certification of someone else are the admin's job ...
        let mut other = old.clone();
        other.trained_at = new.trained_at;
        other.certified_until = new.certified_until;
        other.roles.push(Viewer);
        assert!(check_user_edit("v", &old, &other, &admin).is_ok());
        // ... but not their acknowledgement, nor a governing role.
        let e = check_user_edit("v", &old, &new, &admin).unwrap_err();
        let msg = e.error.to_string();
        assert!(matches!(e.error, Error::PermissionDenied(_)), "{msg}");
        assert!(
            msg.contains("policy acknowledge") && msg.contains("user grant v ROLE"),
            "{msg}"
        );
        assert_eq!(e.audit.unwrap().action, AuditAction::ApplyKind(Kind::User));
    }
}
