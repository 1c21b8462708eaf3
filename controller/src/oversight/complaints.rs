//! Complaints as stored: who recorded what, each decision with its finding,
//! each appeal; and the month's counts the public log shows (no names, no
//! text). The rule of who may take which step when: [`complaint_machine`].
//!
//! Keys: `oversight/complaints/{id}` hold [`Complaint`] JSON, read from the
//! store itself (not the cache). Every step is a compare-and-swap committed in
//! one transaction with its audit entry. The complainant's name is kept in the
//! record only: audit entries name the complaint by id.

use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::object::Refusal;
use crate::core::{AuditAction, Controller, KeyChange, KeyStep};
use crate::oversight::complaint_machine::{self, Action, Level, Outcome, Stage};
use crate::{Error, Result};
use camplane_config::model::Kind;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Prefix of complaints.
pub const COMPLAINTS: &str = "oversight/complaints/";
/// Longest complainant name or contact (characters).
pub const MAX_FROM: usize = 200;
/// Longest complaint or finding text (characters).
pub const MAX_TEXT: usize = 4000;
/// Complaints in one page of a list.
pub const PAGE: usize = 100;

/// What was done on a complaint after it was filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A level decided.
    Decide,
    /// The last decision was appealed to `level`.
    Appeal,
}

/// One step after filing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplaintStep {
    /// Decision or appeal.
    pub step: StepKind,
    /// The level that decided, or that the appeal went to.
    pub level: Level,
    /// A decision's finding: whether the policy was followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// A decision's written finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    /// Who recorded it.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// A complaint about the use of the camera systems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Complaint {
    /// `cp-{yyyymmdd}-{random}`.
    pub id: String,
    /// Who complained (personal: never published, never in the audit log).
    pub from: String,
    /// What the complaint says.
    pub about: String,
    /// The camera it is about, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// When the city received it.
    pub received_at: Timestamp,
    /// Who recorded it.
    pub filed_by: String,
    /// When.
    pub filed_at: Timestamp,
    /// Where it stands.
    pub stage: Stage,
    /// Decisions and appeals, oldest first.
    #[serde(default)]
    pub steps: Vec<ComplaintStep>,
}

/// What `complaint file` records.
#[derive(Debug, Clone, Default)]
pub struct NewComplaint {
    /// The complainant.
    pub from: String,
    /// What it says.
    pub about: String,
    /// The camera it is about (empty: none).
    pub camera: String,
    /// When it was received: RFC 3339 or `YYYY-MM-DD` (the city's day); empty: now.
    pub received: String,
}

/// A month's complaints as the public log counts them: no names, no text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintCounts {
    /// Complaints received in the month.
    pub received: u64,
    /// Decisions made in the month (at any level).
    pub decided: u64,
    /// Appeals made in the month.
    pub appealed: u64,
    /// Of the month's decisions: the policy was followed.
    pub followed: u64,
    /// Of the month's decisions: the policy was not followed.
    pub not_followed: u64,
}

impl ComplaintCounts {
    /// Counts what happened to `complaints` in `[start, end)`.
    pub fn of(complaints: &[Complaint], start: Timestamp, end: Timestamp) -> ComplaintCounts {
        let within = |t: Timestamp| start <= t && t < end;
        let mut c = ComplaintCounts::default();
        for cp in complaints {
            if within(cp.received_at) {
                c.received += 1;
            }
            for s in cp.steps.iter().filter(|s| within(s.at)) {
                match (s.step, s.outcome) {
                    (StepKind::Appeal, _) => c.appealed += 1,
                    (StepKind::Decide, o) => {
                        c.decided += 1;
                        match o {
                            Some(Outcome::Followed) => c.followed += 1,
                            Some(Outcome::NotFollowed) => c.not_followed += 1,
                            None => {}
                        }
                    }
                }
            }
        }
        c
    }
}

/// The store key of a complaint.
fn key(id: &str) -> String {
    format!("{COMPLAINTS}{id}")
}

/// Whether `id` is one the controller makes; anything else is not looked up.
fn valid_id(id: &str) -> bool {
    id.len() <= 40
        && id.starts_with("cp-")
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `id` as it may be shown in a message or an audit entry.
pub(super) fn shown(id: &str) -> String {
    id.chars()
        .take(40)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Checks a free text field: present when `required`, bounded, and without
/// control characters other than line breaks.
pub(super) fn text(field: &str, v: &str, max: usize, required: bool) -> Result<String> {
    let v = v.trim();
    if required && v.is_empty() {
        return Err(Error::InvalidArgument(format!("{field} is required")));
    }
    let n = v.chars().count();
    if n > max {
        return Err(Error::InvalidArgument(format!(
            "{field} is {n} characters; at most {max}"
        )));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::InvalidArgument(format!(
            "{field} contains control characters"
        )));
    }
    Ok(v.to_string())
}

impl Controller {
    pub(super) fn city_tz_or_utc(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.config.city.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// When a complaint was received: `--received` as RFC 3339 or a day in the
    /// city's time zone (its start), never in the future; now when empty.
    pub(super) fn received_at(&self, s: &str) -> Result<Timestamp> {
        let now = self.now();
        let s = s.trim();
        if s.is_empty() {
            return Ok(now);
        }
        let t = match s.parse::<Timestamp>() {
            Ok(t) => t,
            Err(_) => s
                .parse::<jiff::civil::Date>()
                .and_then(|d| d.to_zoned(self.city_tz_or_utc()))
                .map(|z| z.timestamp())
                .map_err(|_| {
                    Error::InvalidArgument(format!(
                        "--received {:?} is neither RFC 3339 nor YYYY-MM-DD",
                        s.chars().take(40).collect::<String>()
                    ))
                })?,
        };
        if t > now {
            return Err(Error::InvalidArgument(format!(
                "--received {s} is in the future"
            )));
        }
        Ok(t)
    }

    /// `camplane complaint file`: the chief, the City Manager or the city clerk
    /// records a complaint; it then waits for the chief's decision.
    pub async fn file_complaint(&self, actor: &Actor, c: NewComplaint) -> Result<Complaint> {
        let now = self.now();
        let id = format!(
            "cp-{}-{}",
            now.to_zoned(self.city_tz_or_utc()).strftime("%Y%m%d"),
            hex::encode(rand::random::<[u8; 3]>())
        );
        let t = match complaint_machine::next(&id, Stage::New, Action::File, actor) {
            Ok(t) => t,
            Err(r) => return Err(self.record_refusal(r).await),
        };
        let from = text("--from", &c.from, MAX_FROM, true)?;
        let about = text("--about", &c.about, MAX_TEXT, true)?;
        let camera = match c.camera.trim() {
            "" => None,
            cam => {
                if cam.len() > 253 || self.load(Kind::Camera, cam).is_err() {
                    return Err(Error::InvalidArgument(format!(
                        "--camera {:?}: no such camera",
                        cam.chars().take(80).collect::<String>()
                    )));
                }
                Some(cam.to_string())
            }
        };
        let received_at = self.received_at(&c.received)?;
        let cp = Complaint {
            id: id.clone(),
            from,
            about,
            camera,
            received_at,
            filed_by: actor.username.clone(),
            filed_at: now,
            stage: t.to,
            steps: Vec::new(),
        };
        self.update_stored_key(&key(&id), |kv| {
            if kv.is_some() {
                return Err(Error::Conflict("complaint id collision; try again".into()).into());
            }
            let mut d = Draft::new(&actor.username, t.audit, "Complaint", &id);
            d.details = serde_json::json!({
                "camera": cp.camera, "received_at": cp.received_at, "stage": cp.stage,
            });
            let change = KeyChange::put(serde_json::to_vec(&cp)?, d);
            Ok(KeyStep::Write(Box::new(change), cp.clone()))
        })
        .await
    }

    /// `camplane complaint decide`: the level the complaint waits for decides
    /// whether the policy was followed, with a written finding. `as_role` is
    /// what `--as` named (empty: the waiting level).
    pub async fn decide_complaint(
        &self,
        actor: &Actor,
        id: &str,
        outcome: Outcome,
        finding: &str,
        as_role: &str,
    ) -> Result<Complaint> {
        let as_level = match as_role.trim() {
            "" => None,
            r => Some(Level::by_recorder(r).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "--as {:?}: one of chief, city_manager, city_clerk",
                    r.chars().take(40).collect::<String>()
                ))
            })?),
        };
        let finding = text("--finding", finding, MAX_TEXT, true)?;
        let action = Action::Decide { as_level };
        self.step_complaint(actor, id, action, |cp, t, now| {
            cp.steps.push(ComplaintStep {
                step: StepKind::Decide,
                level: t.level,
                outcome: Some(outcome),
                finding: Some(finding.clone()),
                by: actor.username.clone(),
                at: now,
            });
            serde_json::json!({"level": t.level, "outcome": outcome, "finding": finding})
        })
        .await
    }

    /// `camplane complaint appeal`: the last decision goes to the next level
    /// (the chief's to the City Manager, the City Manager's to the Council).
    pub async fn appeal_complaint(&self, actor: &Actor, id: &str) -> Result<Complaint> {
        self.step_complaint(actor, id, Action::Appeal, |cp, t, now| {
            cp.steps.push(ComplaintStep {
                step: StepKind::Appeal,
                level: t.level,
                outcome: None,
                finding: None,
                by: actor.username.clone(),
                at: now,
            });
            serde_json::json!({"to": t.level})
        })
        .await
    }

    /// One step after filing: the machine decides on the stored stage (read
    /// again after a lost race), `apply` records it and says what the audit
    /// entry details.
    async fn step_complaint(
        &self,
        actor: &Actor,
        id: &str,
        action: Action,
        apply: impl Fn(&mut Complaint, &complaint_machine::Transition, Timestamp) -> serde_json::Value,
    ) -> Result<Complaint> {
        let audit = action.audit_action();
        if !valid_id(id) {
            // Never looked up: the machine sees a complaint that does not
            // exist (the role is still checked first).
            let shown = shown(id);
            let r = match complaint_machine::next(&shown, Stage::New, action, actor) {
                Err(r) => r,
                Ok(_) => Refusal::refused(
                    actor,
                    audit,
                    "Complaint",
                    &shown,
                    Error::NotFound(format!("complaint {shown}")),
                ),
            };
            return Err(self.record_refusal(r).await);
        }
        let now = self.now();
        self.update_stored_key(&key(id), |kv| {
            let old: Option<Complaint> =
                kv.map(|kv| serde_json::from_slice(&kv.value)).transpose()?;
            let stage = old.as_ref().map_or(Stage::New, |c| c.stage);
            let t = complaint_machine::next(id, stage, action, actor)?;
            let Some(old) = old else {
                return Err(Error::NotFound(format!("complaint {id}")).into());
            };
            let decided_by: Vec<&str> = old
                .steps
                .iter()
                .filter(|s| s.step == StepKind::Decide)
                .map(|s| s.by.as_str())
                .collect();
            complaint_machine::check_decider(id, action, actor, &decided_by)?;
            let mut new = old.clone();
            new.stage = t.to;
            let mut d = Draft::new(&actor.username, t.audit, "Complaint", id);
            d.details = apply(&mut new, &t, now);
            d.details["stage"] = serde_json::json!(new.stage);
            let change = KeyChange::put(serde_json::to_vec(&new)?, d);
            Ok(KeyStep::Write(Box::new(change), new))
        })
        .await
    }

    /// Refuses a read of complaints to those who may not read them (audited).
    async fn may_read_complaints(&self, actor: &Actor) -> Result<()> {
        self.require(actor, Operation::ReadComplaints, AuditAction::ComplaintList)
            .await
    }

    /// `camplane complaint list`: complaints in id order after `after`, a page
    /// at a time; with `open`, only those waiting for a decision.
    pub async fn complaints(
        &self,
        actor: &Actor,
        open: bool,
        after: &str,
    ) -> Result<(Vec<Complaint>, String)> {
        self.may_read_complaints(actor).await?;
        let mut all = self.all_complaints().await?;
        all.retain(|c| {
            (after.is_empty() || c.id.as_str() > after)
                && (!open || matches!(c.stage, Stage::Waiting(_)))
        });
        let next = if all.len() > PAGE {
            all.truncate(PAGE);
            all.last().map(|c| c.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((all, next))
    }

    /// `camplane complaint show`.
    pub async fn complaint(&self, actor: &Actor, id: &str) -> Result<Complaint> {
        self.may_read_complaints(actor).await?;
        if !valid_id(id) {
            return Err(Error::NotFound(format!("complaint {}", shown(id))));
        }
        let kv = self
            .store
            .get(&key(id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("complaint {id}")))?;
        Ok(serde_json::from_slice(&kv.value)?)
    }

    /// Every complaint, in id order (an unreadable record is skipped and logged).
    pub async fn all_complaints(&self) -> Result<Vec<Complaint>> {
        let l = self.store.list(COMPLAINTS).await?;
        let mut out: Vec<Complaint> = l
            .kvs
            .iter()
            .filter_map(|kv| match serde_json::from_slice(&kv.value) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "unreadable complaint skipped");
                    None
                }
            })
            .collect();
        out.sort_by(|a: &Complaint, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn step(step: StepKind, outcome: Option<Outcome>, t: &str) -> ComplaintStep {
        ComplaintStep {
            step,
            level: Level::Chief,
            outcome,
            finding: None,
            by: "x".into(),
            at: at(t),
        }
    }

    #[test]
    fn a_month_counts_what_happened_in_it_and_names_nobody() {
        let cp = |received: &str, steps: Vec<ComplaintStep>| Complaint {
            id: "cp-1".into(),
            from: "Jane Roe, 555-0100".into(),
            about: "camera looks into my window".into(),
            camera: None,
            received_at: at(received),
            filed_by: "clerk".into(),
            filed_at: at(received),
            stage: Stage::Waiting(Level::Chief),
            steps,
        };
        let all = vec![
            cp(
                "2026-10-30T12:00:00Z",
                vec![
                    step(
                        StepKind::Decide,
                        Some(Outcome::Followed),
                        "2026-11-02T12:00:00Z",
                    ),
                    step(StepKind::Appeal, None, "2026-11-03T12:00:00Z"),
                ],
            ),
            cp(
                "2026-11-05T12:00:00Z",
                vec![step(
                    StepKind::Decide,
                    Some(Outcome::NotFollowed),
                    "2026-11-20T12:00:00Z",
                )],
            ),
            cp("2026-11-30T12:00:00Z", vec![]),
            cp("2026-12-01T00:00:00Z", vec![]),
        ];
        let c = ComplaintCounts::of(&all, at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"));
        assert_eq!(
            c,
            ComplaintCounts {
                received: 2,
                decided: 2,
                appealed: 1,
                followed: 1,
                not_followed: 1
            }
        );
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("Jane") && !json.contains("window"), "{json}");
    }

    #[test]
    fn ids_are_the_controllers_own_shape() {
        assert!(valid_id("cp-20261203-a1b2c3"));
        for bad in [
            "",
            "aq-1",
            "cp-../x",
            "CP-1",
            &format!("cp-{}", "1".repeat(40)),
        ] {
            assert!(!valid_id(bad), "{bad}");
        }
        assert_eq!(shown("cp-\u{7}x"), "cp-?x");
    }

    #[test]
    fn texts_are_required_bounded_and_plain() {
        assert_eq!(text("--about", "  a\nb ", 10, true).unwrap(), "a\nb");
        assert!(text("--about", "  ", 10, true).is_err());
        assert_eq!(text("--x", "", 10, false).unwrap(), "");
        assert!(text("--about", &"a".repeat(11), 10, true).is_err());
        assert!(text("--about", "a\u{1b}[31m", 10, true).is_err());
    }
}
