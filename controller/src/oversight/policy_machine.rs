//! The annual review of the camera policy, as a pure function. Policy 5.05:
//! "This policy shall be reviewed by the Police Department, Engineering,
//! Information Services, the City Attorney's Office and the City Manager on an
//! annual basis."
//!
//! ```text
//! (none) --propose V--> open --signoff (each of the five parties, any order)--> ...
//!        --the fifth signoff--> in force (the version users must acknowledge,
//!                               until a later version takes effect)
//! ```
//!
//! Who signs for a party is the role that holds it (the chief for the police,
//! an engineer for Engineering, an admin for Information Services, the City
//! Attorney, the City Manager). One person signs once per version, whatever
//! roles they hold: five parties need five people. One review is open at a
//! time. A review is due 12 months after the last one took effect.
//!
//! No store, no clock: the wing calls [`propose`] and [`signoff`] on what it
//! read and stamps the result with its own time. Every refusal carries its
//! audit entry.

use crate::core::audit::AuditAction;
use crate::core::auth::{Actor, Operation};
use crate::core::object::{check, Refusal};
use crate::Error;
use camplane_config::model::Role;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The months after which the policy's review is due (policy 5.05: "on an
/// annual basis").
pub const REVIEW_MONTHS: i64 = 12;

/// A party whose signoff the review needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The Police Department (the chief signs).
    Police,
    /// Engineering (an engineer signs).
    Engineering,
    /// Information Services (an admin signs).
    InformationServices,
    /// The City Attorney's Office.
    CityAttorney,
    /// The City Manager.
    CityManager,
}

impl Party {
    /// Every party, in the policy's order.
    pub const ALL: [Party; 5] = [
        Party::Police,
        Party::Engineering,
        Party::InformationServices,
        Party::CityAttorney,
        Party::CityManager,
    ];

    /// The name on the CLI (`policy signoff V --as NAME`) and in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Police => "police",
            Party::Engineering => "engineering",
            Party::InformationServices => "information_services",
            Party::CityAttorney => "city_attorney",
            Party::CityManager => "city_manager",
        }
    }

    /// The party a name (or the role that signs for it) stands for.
    pub fn parse(s: &str) -> Option<Party> {
        match s {
            "police" | "chief" => Some(Party::Police),
            "engineering" | "engineer" => Some(Party::Engineering),
            "information_services" | "is" | "admin" => Some(Party::InformationServices),
            "city_attorney" => Some(Party::CityAttorney),
            "city_manager" => Some(Party::CityManager),
            _ => None,
        }
    }

    /// The role that signs for the party.
    pub fn role(self) -> Role {
        match self {
            Party::Police => Role::Chief,
            Party::Engineering => Role::Engineer,
            Party::InformationServices => Role::Admin,
            Party::CityAttorney => Role::CityAttorney,
            Party::CityManager => Role::CityManager,
        }
    }
}

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStage {
    /// Waiting for signoffs.
    Open,
    /// Every party signed: the version took effect (it may since have been
    /// followed by a newer one).
    InForce,
}

/// One party's signoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signoff {
    /// Who signed.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// What the rule needs to know of a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewState<'a> {
    /// The version under review.
    pub version: &'a str,
    /// Where it stands.
    pub stage: ReviewStage,
    /// The signoffs so far.
    pub signoffs: &'a BTreeMap<Party, Signoff>,
}

/// What a permitted signoff records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignTransition {
    /// The party signed for.
    pub party: Party,
    /// Whether it was the last one: the version takes effect.
    pub takes_effect: bool,
}

/// Whether `version` is a version name the controller keeps: 1 to 64 of
/// `[A-Za-z0-9._-]`.
pub fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 64
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `version` as it may be named in a message or an audit entry.
pub fn shown(version: &str) -> String {
    version
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The rule for `policy propose V`: who may open a review (one of the five
/// parties), that the version name is valid and new, and that no other review
/// is open. `known` holds every version ever proposed or in force; `open`, the
/// version of the review open now.
pub fn propose(
    actor: &Actor,
    version: &str,
    known: &[&str],
    open: Option<&str>,
) -> Result<(), Refusal> {
    let audit = AuditAction::PolicyPropose;
    let v = shown(version);
    check(actor, Operation::ProposePolicy, audit).map_err(|r| named(r, &v))?;
    let refuse = |e: Error| Refusal::refused(actor, audit, "Policy", &v, e);
    if !valid_version(version) {
        return Err(refuse(Error::InvalidArgument(format!(
            "--version {v:?}: 1 to 64 letters, digits, '.', '_' or '-'"
        ))));
    }
    if let Some(o) = open {
        return Err(refuse(Error::FailedPrecondition(format!(
            "the review of version {o} is open; it must take effect (every party signs it off) before another version is proposed"
        ))));
    }
    if known.contains(&version) {
        return Err(refuse(Error::AlreadyExists(format!(
            "policy version {v} was proposed before; a new text needs a new version"
        ))));
    }
    Ok(())
}

/// The rule for `policy signoff V [--as PARTY]`: the review exists and is
/// open, the signer holds the party's role (the party is the one their roles
/// name when `as_party` is absent), the party has not signed, and the signer
/// has not signed for another party.
pub fn signoff(
    actor: &Actor,
    version: &str,
    review: Option<ReviewState<'_>>,
    as_party: Option<Party>,
) -> Result<SignTransition, Refusal> {
    let audit = AuditAction::PolicySignoff;
    let v = shown(version);
    check(actor, Operation::SignOffPolicy, audit).map_err(|r| named(r, &v))?;
    let refuse = |e: Error| Refusal::refused(actor, audit, "Policy", &v, e);
    let party = match as_party {
        Some(p) if actor.roles.contains(&p.role()) => p,
        Some(p) => {
            return Err(Refusal::denied(
                actor,
                audit,
                "Policy",
                &v,
                format!(
                    "signing for {} needs the role {}",
                    p.as_str(),
                    p.role().as_str()
                ),
            ))
        }
        None => {
            let mine: Vec<Party> = Party::ALL
                .into_iter()
                .filter(|p| actor.roles.contains(&p.role()))
                .collect();
            match mine.as_slice() {
                [p] => *p,
                _ => {
                    let names: Vec<&str> = mine.iter().map(|p| p.as_str()).collect();
                    return Err(refuse(Error::InvalidArgument(format!(
                        "you hold the roles of several parties: say which one you sign for with --as ({})",
                        names.join(", ")
                    ))));
                }
            }
        }
    };
    let Some(r) = review else {
        return Err(refuse(Error::NotFound(format!(
            "no review of policy version {v} (`camplane policy propose FILE --version {v}` opens one)"
        ))));
    };
    match r.stage {
        ReviewStage::Open => {}
        ReviewStage::InForce => {
            return Err(refuse(Error::FailedPrecondition(format!(
                "policy version {v} has taken effect already; its review is closed"
            ))))
        }
    }
    if let Some(s) = r.signoffs.get(&party) {
        return Err(refuse(Error::FailedPrecondition(format!(
            "{} signed version {v} off already ({})",
            party.as_str(),
            s.by
        ))));
    }
    if let Some((p, _)) = r.signoffs.iter().find(|(_, s)| s.by == actor.username) {
        return Err(refuse(Error::FailedPrecondition(format!(
            "you signed version {v} off already, for {}; each party's signoff is another person's",
            p.as_str()
        ))));
    }
    let takes_effect = Party::ALL
        .iter()
        .all(|p| *p == party || r.signoffs.contains_key(p));
    Ok(SignTransition {
        party,
        takes_effect,
    })
}

/// When the next review is due: [`REVIEW_MONTHS`] after the last one (in the
/// city's calendar, `tz`); `None` when no review is on record (due now).
pub fn review_due(last_review: Option<Timestamp>, tz: &jiff::tz::TimeZone) -> Option<Timestamp> {
    let last = last_review?;
    last.to_zoned(tz.clone())
        .checked_add(REVIEW_MONTHS.months())
        .ok()
        .map(|z| z.timestamp())
}

/// Whether the review is overdue at `now`: none on record, or the last one
/// more than [`REVIEW_MONTHS`] ago.
pub fn review_overdue(
    last_review: Option<Timestamp>,
    now: Timestamp,
    tz: &jiff::tz::TimeZone,
) -> bool {
    match review_due(last_review, tz) {
        Some(due) => now > due,
        None => true,
    }
}

/// A role refusal with the version named in its audit entry.
fn named(mut r: Refusal, version: &str) -> Refusal {
    if let Some(d) = r.audit.as_mut() {
        d.kind = "Policy".into();
        d.name = version.into();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(name: &str, roles: &[Role]) -> Actor {
        Actor {
            username: name.into(),
            roles: roles.to_vec(),
            department: "police".into(),
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn open(signoffs: &BTreeMap<Party, Signoff>) -> Option<ReviewState<'_>> {
        Some(ReviewState {
            version: "2027",
            stage: ReviewStage::Open,
            signoffs,
        })
    }

    fn kind(r: &Refusal) -> (&'static str, String) {
        let d = r.audit.as_ref().expect("every refusal is audited");
        assert_eq!((d.kind.as_str(), d.name.as_str()), ("Policy", "2027"));
        let k = match r.error {
            Error::PermissionDenied(_) => "denied",
            Error::FailedPrecondition(_) => "order",
            Error::NotFound(_) => "missing",
            Error::InvalidArgument(_) => "invalid",
            Error::AlreadyExists(_) => "exists",
            _ => "other",
        };
        (k, d.result.clone())
    }

    /// The legitimate path: five people, one per party, in any order; the
    /// fifth signoff makes the version take effect.
    #[test]
    fn five_parties_sign_and_the_last_makes_it_take_effect() {
        let mut s = BTreeMap::new();
        let signers = [
            ("cm", Role::CityManager),
            ("ca", Role::CityAttorney),
            ("chief", Role::Chief),
            ("is", Role::Admin),
            ("eng", Role::Engineer),
        ];
        for (i, (name, role)) in signers.iter().enumerate() {
            let t = signoff(&actor(name, &[*role]), "2027", open(&s), None).unwrap();
            assert_eq!(t.party.role(), *role);
            assert_eq!(t.takes_effect, i == signers.len() - 1, "after {name}");
            s.insert(
                t.party,
                Signoff {
                    by: name.to_string(),
                    at: at("2027-01-01T00:00:00Z"),
                },
            );
        }
    }

    #[test]
    fn a_role_outside_the_five_may_neither_propose_nor_sign() {
        for role in [
            Role::Viewer,
            Role::Auditor,
            Role::AlprOperator,
            Role::Supervisor,
            Role::DeptManager,
            Role::Pio,
            Role::CityClerk,
        ] {
            let a = actor("x", &[role]);
            let r = propose(&a, "2027", &[], None).unwrap_err();
            assert_eq!(kind(&r).0, "denied", "{role:?}");
            let s = BTreeMap::new();
            let r = signoff(&a, "2027", open(&s), None).unwrap_err();
            assert_eq!(kind(&r).0, "denied", "{role:?}");
        }
        // The five may propose.
        for p in Party::ALL {
            propose(&actor("x", &[p.role()]), "2027", &["2026"], None).unwrap();
        }
    }

    #[test]
    fn signing_for_a_party_needs_its_role() {
        let s = BTreeMap::new();
        let r = signoff(
            &actor("eng", &[Role::Engineer]),
            "2027",
            open(&s),
            Some(Party::Police),
        )
        .unwrap_err();
        assert_eq!(kind(&r).0, "denied");
        // Several parties' roles: --as is required, and chooses.
        let both = actor("boss", &[Role::Admin, Role::Engineer]);
        let r = signoff(&both, "2027", open(&s), None).unwrap_err();
        assert_eq!(kind(&r).0, "invalid");
        let t = signoff(&both, "2027", open(&s), Some(Party::Engineering)).unwrap();
        assert_eq!(t.party, Party::Engineering);
    }

    #[test]
    fn one_person_signs_once_and_a_party_once() {
        let mut s = BTreeMap::new();
        s.insert(
            Party::Engineering,
            Signoff {
                by: "boss".into(),
                at: at("2027-01-01T00:00:00Z"),
            },
        );
        // The same person for another party.
        let both = actor("boss", &[Role::Admin, Role::Engineer]);
        let r = signoff(&both, "2027", open(&s), Some(Party::InformationServices)).unwrap_err();
        assert_eq!(kind(&r).0, "order");
        // Another engineer for the party already signed.
        let r = signoff(&actor("eng2", &[Role::Engineer]), "2027", open(&s), None).unwrap_err();
        assert_eq!(kind(&r).0, "order");
    }

    #[test]
    fn out_of_order_steps_are_refused() {
        let chief = actor("chief", &[Role::Chief]);
        // No review.
        let r = signoff(&chief, "2027", None, None).unwrap_err();
        assert_eq!(kind(&r).0, "missing");
        // A closed review.
        let s = BTreeMap::new();
        let st = ReviewState {
            version: "2027",
            stage: ReviewStage::InForce,
            signoffs: &s,
        };
        let r = signoff(&chief, "2027", Some(st), None).unwrap_err();
        assert_eq!(kind(&r).0, "order");
        // A second review while one is open; a version proposed before.
        let r = propose(&chief, "2027", &["2026"], Some("2026")).unwrap_err();
        assert_eq!(kind(&r).0, "order");
        let r = propose(&chief, "2027", &["2027"], None).unwrap_err();
        assert_eq!(kind(&r).0, "exists");
        let r = propose(&chief, "bad version", &[], None).unwrap_err();
        assert!(r.audit.unwrap().result.starts_with("refused"));
    }

    #[test]
    fn the_review_is_due_twelve_months_after_the_last() {
        let tz = jiff::tz::TimeZone::get("America/Chicago").unwrap();
        let last = at("2026-03-15T17:00:00Z");
        assert_eq!(
            review_due(Some(last), &tz),
            Some(at("2027-03-15T17:00:00Z"))
        );
        assert!(!review_overdue(Some(last), at("2027-03-15T16:59:59Z"), &tz));
        assert!(review_overdue(Some(last), at("2027-03-15T17:00:01Z"), &tz));
        // None on record: due now.
        assert!(review_overdue(None, last, &tz));
    }
}
