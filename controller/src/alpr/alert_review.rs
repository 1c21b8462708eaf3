//! Alert verification. A hotlist alert arrives `unverified`; an ALPR operator
//! records the visual check (the plate in the crop is the plate read) and the
//! state-system check (the entry is still wanted) -> `verified`, or rejects it
//! with a reason (`misread`, ...) -> `rejected`. Only a verified alert can be
//! marked `actioned`, and that step records the case number (checked like a
//! search's). Each step is appended to the alert's `steps` (who, when, what) in
//! one store transaction with its audit entry; steps out of order are refused.
//!
//! ```text
//! unverified --verify--> verified --act--> actioned
//!      \                    |
//!       `----reject----> rejected
//! ```

use crate::alpr::alert_machine::{self, Action};
use crate::alpr::hotlist::{Alert, ALERTS};
use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::Controller;
use crate::core::{KeyChange, KeyStep};
use crate::{Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Why an alert may be rejected.
pub const REJECT_REASONS: [&str; 5] = [
    "misread",
    "not_on_state_system",
    "expired_entry",
    "duplicate",
    "other",
];

/// Longest note accepted (characters).
pub const MAX_NOTE: usize = 1000;

/// One step taken on an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertStep {
    /// `verify`, `reject` or `act`.
    pub action: String,
    /// Who.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// verify: the visual check's outcome (`confirmed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visual: Option<String>,
    /// verify: the state-system check's outcome (`confirmed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_check: Option<String>,
    /// reject: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// act: the case number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
    /// A free-text note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// What an operator does to an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertAction {
    /// Record both checks.
    Verify {
        /// `confirmed`.
        visual: String,
        /// `confirmed`.
        state_check: String,
        /// Note.
        note: String,
    },
    /// Reject.
    Reject {
        /// One of [`REJECT_REASONS`].
        reason: String,
        /// Note (required for `other`).
        note: String,
    },
    /// Record the action taken, with its case number.
    Act {
        /// Case number.
        case_number: String,
        /// Note.
        note: String,
    },
}

impl AlertAction {
    /// The step it takes (the review's rule: [`alert_machine::next`]).
    pub fn kind(&self) -> Action {
        match self {
            AlertAction::Verify { .. } => Action::Verify,
            AlertAction::Reject { .. } => Action::Reject,
            AlertAction::Act { .. } => Action::Act,
        }
    }
    fn note(&self) -> &str {
        match self {
            AlertAction::Verify { note, .. }
            | AlertAction::Reject { note, .. }
            | AlertAction::Act { note, .. } => note,
        }
    }
}

fn shown(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(80).collect()
}

fn check_text(what: &str, s: &str) -> Result<()> {
    if s.chars().count() > MAX_NOTE {
        return Err(Error::InvalidArgument(format!(
            "{what} is {} characters; at most {MAX_NOTE}",
            s.chars().count()
        )));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::InvalidArgument(format!(
            "{what} contains control characters"
        )));
    }
    Ok(())
}

impl Controller {
    /// Takes one verification step on an alert (see the module docs).
    pub async fn review_alert(
        &self,
        actor: &Actor,
        id: &str,
        action: AlertAction,
    ) -> Result<Alert> {
        let audit_action = action.kind().audit_action();
        self.require(actor, Operation::VerifyAlerts, audit_action)
            .await?;
        match self.try_review(actor, id, &action).await {
            Ok(a) => Ok(a),
            Err(e) => {
                let mut d = Draft::new(&actor.username, audit_action, "Alert", &shown(id));
                d.result = match e {
                    Error::PermissionDenied(_) => format!("denied: {e}"),
                    _ => format!("refused: {e}"),
                };
                if let AlertAction::Act { case_number, .. } = &action {
                    d.details = serde_json::json!({
                        "case_number": case_number.chars().take(64).collect::<String>()
                    });
                }
                self.audit.record(d).await?;
                Err(e)
            }
        }
    }

    async fn try_review(&self, actor: &Actor, id: &str, action: &AlertAction) -> Result<Alert> {
        self.check_operator(actor).await?;
        check_text("the note", action.note())?;
        let mut step = AlertStep {
            action: action.kind().as_str().into(),
            by: actor.username.clone(),
            at: self.now(),
            visual: None,
            state_check: None,
            reason: None,
            case_number: None,
            note: action.note().trim().to_string(),
        };
        // The input first, then the state.
        match action {
            AlertAction::Verify {
                visual,
                state_check,
                ..
            } => {
                if visual != "confirmed" || state_check != "confirmed" {
                    return Err(Error::InvalidArgument(format!(
                        "an alert is verified only when both checks are `confirmed` (got --visual {:?}, --state-check {:?}); a check that failed is a rejection: `camplane alerts reject ID --reason misread|not_on_state_system`",
                        shown(visual).chars().take(20).collect::<String>(),
                        shown(state_check).chars().take(20).collect::<String>()
                    )));
                }
                step.visual = Some(visual.clone());
                step.state_check = Some(state_check.clone());
            }
            AlertAction::Reject { reason, note } => {
                if !REJECT_REASONS.contains(&reason.as_str()) {
                    return Err(Error::InvalidArgument(format!(
                        "--reason {:?} is not one of {}",
                        shown(reason).chars().take(40).collect::<String>(),
                        REJECT_REASONS.join(", ")
                    )));
                }
                if reason == "other" && note.trim().is_empty() {
                    return Err(Error::InvalidArgument(
                        "--reason other needs --note saying why".into(),
                    ));
                }
                step.reason = Some(reason.clone());
            }
            AlertAction::Act { case_number, .. } => {
                self.check_case_number(case_number, "acting on an alert")?;
                step.case_number = Some(case_number.clone());
            }
        };
        if id.is_empty() || id.len() > 200 || id.chars().any(|c| c.is_control()) {
            return Err(Error::NotFound(format!("alert {:?}", shown(id))));
        }
        let key = format!("{ALERTS}{id}");
        // A lost race reads the alert again and asks the machine again: a second
        // reviewer meanwhile makes this step out of order, and it is refused so.
        self.update_stored_key(&key, |kv| {
            let kv = kv.ok_or_else(|| Error::NotFound(format!("alert {:?}", shown(id))))?;
            let old: Alert = serde_json::from_slice(&kv.value)?;
            let state = alert_machine::State {
                id,
                status: &old.status,
            };
            let t = alert_machine::next(&state, action.kind(), actor).map_err(|r| r.error)?;
            let to = t.to.as_str();
            let mut new = old.clone();
            new.status = to.into();
            if let Some(c) = &step.case_number {
                new.case_number = Some(c.clone());
            }
            new.steps.push(step.clone());
            let mut d = Draft::new(&actor.username, t.audit, "Alert", id);
            d.details = serde_json::json!({
                "from": old.status, "to": to, "plate": old.report.plate,
                "list": old.report.list, "category": old.report.category,
                "step": step,
                "case_number": step.case_number,
            });
            let change = KeyChange::put(serde_json::to_vec(&new)?, d);
            Ok(KeyStep::Write(Box::new(change), new))
        })
        .await
    }
}
