//! Supervisor approvals of ALPR queries outside the state-system rules: a
//! partial-plate pattern searched across sites, or a query made for another
//! (verified) agency. Such a query is not run when asked: it is stored as a
//! pending [`AlprApproval`] (audited `alpr.search.pending`), a supervisor other
//! than the requester approves or rejects it with a reason, and the requesting
//! operator then runs it exactly once (`alpr.search`, with the approval's id).
//!
//! Keys: `approvals/alpr/{id}` hold [`AlprApproval`] JSON (read from the store,
//! not the cache). Every state change is a compare-and-swap committed in one
//! transaction with its audit entry, so an approval is used once even when two
//! runs race on two controllers.

use crate::alpr::query_machine::{self, Action};
use crate::alpr::search::{CheckedSearch, FanOut, Hub, SearchOutcome, SearchRequest};
use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::store::{Compare, Op};
use crate::core::{AuditAction, Controller, KeyChange, KeyStep};
use crate::{Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Prefix of ALPR query approvals.
pub const APPROVALS: &str = "approvals/alpr/";
/// Longest decision reason accepted (characters).
pub const MAX_REASON: usize = 1000;

/// Where an approval stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waits for a supervisor.
    #[default]
    Pending,
    /// Approved; the requester may run it once.
    Approved,
    /// Rejected; it never runs.
    Rejected,
    /// Approved and run.
    Used,
}

impl ApprovalState {
    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Used => "used",
        }
    }
}

/// A query waiting for (or past) a supervisor's decision. `Default` is a pending
/// request with nothing decided yet (the times at the epoch), for constructors to
/// fill in what they ask.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlprApproval {
    /// `aq-{ms}-{random}`.
    pub id: String,
    /// Where it stands.
    pub state: ApprovalState,
    /// The operator who asked (the only one who may run it).
    pub requested_by: String,
    /// When.
    pub requested_at: Timestamp,
    /// Normalised plate or pattern.
    pub plate: String,
    /// Case number.
    pub case_number: String,
    /// Purpose.
    pub purpose: String,
    /// From.
    pub from: Timestamp,
    /// Until.
    pub until: Timestamp,
    /// Sites to ask (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<String>,
    /// The verified agency it was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_agency: Option<String>,
    /// Why it needs approval.
    pub reasons: Vec<String>,
    /// The supervisor who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_reason: Option<String>,
    /// When it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<Timestamp>,
    /// The query id of the run (in the audit log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    /// Reads the run returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<usize>,
    /// Set when the request is a custom or investigative hotlist load (ids
    /// `ah-…`) rather than a query: approving it loads the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotlist: Option<crate::alpr::case_list::HotlistLoadSummary>,
}

/// The store key of an approval.
pub(crate) fn key(id: &str) -> String {
    format!("{APPROVALS}{id}")
}

/// An id as the controller makes them; anything else is not looked up.
fn valid_id(id: &str) -> bool {
    id.len() <= 40
        && (id.starts_with("aq-") || id.starts_with("ah-"))
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn shown(s: &str) -> String {
    s.chars().take(40).collect()
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl Controller {
    /// Stores a checked query as a pending approval, audited `alpr.search.pending`.
    pub(crate) async fn request_alpr_approval(
        &self,
        actor: &Actor,
        req: &SearchRequest,
        c: &CheckedSearch,
        reasons: Vec<String>,
    ) -> Result<AlprApproval> {
        let now = self.now();
        let a = AlprApproval {
            id: format!(
                "aq-{}-{}",
                now.as_millisecond(),
                hex::encode(rand::random::<[u8; 4]>())
            ),
            state: ApprovalState::Pending,
            requested_by: actor.username.clone(),
            requested_at: now,
            plate: c.plate.clone(),
            case_number: req.case_number.clone(),
            purpose: req.purpose.clone(),
            from: c.from,
            until: c.until,
            sites: req.sites.clone(),
            for_agency: req.for_agency.clone(),
            reasons,
            ..AlprApproval::default()
        };
        let mut d = Draft::new(
            &actor.username,
            AuditAction::AlprSearchPending,
            "AlprApproval",
            &a.id,
        );
        d.result = "pending: needs a supervisor's approval".into();
        d.details = serde_json::json!({
            "case_number": a.case_number, "purpose": a.purpose, "plate": a.plate,
            "from": a.from, "until": a.until, "sites": a.sites,
            "for_agency": a.for_agency, "reasons": a.reasons,
        });
        d.after = Some(json(&a));
        let done = self
            .audit
            .commit(
                vec![Compare::ModRevision(key(&a.id), 0)],
                vec![Op::Put(key(&a.id), serde_json::to_vec(&a)?)],
                d,
            )
            .await?;
        match done {
            Some(_) => Ok(a),
            None => Err(Error::Conflict("approval id collision; try again".into())),
        }
    }

    /// Audits a refused approval step and returns the error.
    async fn refuse_approval(
        &self,
        actor: &Actor,
        action: AuditAction,
        id: &str,
        e: Error,
    ) -> Error {
        let mut d = Draft::new(&actor.username, action, "AlprApproval", &shown(id));
        d.result = match e {
            Error::PermissionDenied(_) => format!("denied: {e}"),
            _ => format!("refused: {e}"),
        };
        if let Err(ae) = self.audit.record(d).await {
            return ae;
        }
        e
    }

    async fn load_approval(&self, id: &str) -> Result<(AlprApproval, i64)> {
        check_id(id)?;
        let kv = self
            .store
            .get(&key(id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("ALPR approval {id}")))?;
        Ok((serde_json::from_slice(&kv.value)?, kv.mod_revision))
    }

    /// Approvals for `camplane approvals list` (supervisors): pending ones, or
    /// all with `all`, oldest first; queries and custom or investigative
    /// hotlist loads alike.
    pub async fn alpr_approvals(&self, actor: &Actor, all: bool) -> Result<Vec<AlprApproval>> {
        // Approvals name plates, patterns and cases: ALPR data.
        self.require_qualified(
            actor,
            Operation::ApproveAlprQuery,
            AuditAction::AlprApprovalList,
            "AlprApproval",
        )
        .await?;
        let l = self.store.list(APPROVALS).await?;
        let mut out: Vec<AlprApproval> = l
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice::<AlprApproval>(&kv.value).ok())
            .filter(|a| all || a.state == ApprovalState::Pending)
            .collect();
        out.sort_by(|a, b| (a.requested_at, &a.id).cmp(&(b.requested_at, &b.id)));
        Ok(out)
    }

    /// A supervisor approves or rejects a pending query, with a reason. Nobody
    /// decides on their own request; a decision is final (the rule:
    /// [`query_machine::next`]).
    pub async fn decide_alpr_query(
        &self,
        actor: &Actor,
        id: &str,
        action: Action,
        reason: &str,
    ) -> Result<AlprApproval> {
        if action == Action::Run {
            return Err(Error::InvalidArgument(
                "a decision is approve or reject".into(),
            ));
        }
        let audit = action.audit_action();
        self.require_qualified(actor, Operation::ApproveAlprQuery, audit, "AlprApproval")
            .await?;
        match self.try_decide(actor, id, action, reason).await {
            Ok(a) => Ok(a),
            Err(e) => Err(self.refuse_approval(actor, audit, id, e).await),
        }
    }

    /// Stores `new` over the approval read at `rev`, with its audit entry, in one
    /// transaction; false when it changed since (another controller decided or ran it).
    async fn replace_approval(
        &self,
        id: &str,
        rev: i64,
        new: &AlprApproval,
        audit: Draft,
    ) -> Result<bool> {
        let done = self
            .audit
            .commit(
                vec![Compare::ModRevision(key(id), rev)],
                vec![Op::Put(key(id), serde_json::to_vec(new)?)],
                audit,
            )
            .await?;
        Ok(done.is_some())
    }

    async fn try_decide(
        &self,
        actor: &Actor,
        id: &str,
        action: Action,
        reason: &str,
    ) -> Result<AlprApproval> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::InvalidArgument(
                "a decision needs --reason saying why".into(),
            ));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(Error::InvalidArgument(format!(
                "the reason is {} characters; at most {MAX_REASON}",
                reason.chars().count()
            )));
        }
        if reason.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Error::InvalidArgument(
                "the reason contains control characters".into(),
            ));
        }
        check_id(id)?;
        if id.starts_with("ah-") {
            return self.decide_case_list(actor, id, action, reason).await;
        }
        let now = self.now();
        // A lost race reads the approval again and asks the machine again: one
        // decided meanwhile is refused as decided.
        self.update_stored_key(&key(id), |kv| {
            let kv = kv.ok_or_else(|| Error::NotFound(format!("ALPR approval {id}")))?;
            let old: AlprApproval = serde_json::from_slice(&kv.value)?;
            let t = query_machine::next(&old, action, actor).map_err(|r| r.error)?;
            let mut new = old.clone();
            new.state = t.to;
            new.decided_by = Some(actor.username.clone());
            new.decided_at = Some(now);
            new.decision_reason = Some(reason.to_string());
            let mut d = Draft::new(&actor.username, t.audit, "AlprApproval", id);
            d.before = Some(json(&old));
            d.after = Some(json(&new));
            d.details = serde_json::json!({
                "reason": reason, "requested_by": old.requested_by,
                "case_number": old.case_number, "purpose": old.purpose, "plate": old.plate,
                "for_agency": old.for_agency,
            });
            let change = KeyChange::put(serde_json::to_vec(&new)?, d);
            Ok(KeyStep::Write(Box::new(change), new))
        })
        .await
    }

    /// The requesting operator runs an approved query, once. Training,
    /// certification and the policy version are checked again on the day; the
    /// approval becomes `used` in the same transaction as the query's audit
    /// entry, and nothing is returned unless that transaction committed.
    pub async fn run_approved_query(
        &self,
        hub: &Hub,
        actor: &Actor,
        id: &str,
        timeout: Duration,
    ) -> Result<SearchOutcome> {
        match self.try_run(hub, actor, id, timeout).await {
            Ok(o) => Ok(o),
            Err(e) => {
                let mut d = Draft::new(&actor.username, AuditAction::AlprSearch, "AlprQuery", "");
                d.result = format!("denied: {e}");
                d.details = serde_json::json!({ "approval": shown(id) });
                self.audit.record(d).await?;
                Err(e)
            }
        }
    }

    async fn try_run(
        &self,
        hub: &Hub,
        actor: &Actor,
        id: &str,
        timeout: Duration,
    ) -> Result<SearchOutcome> {
        self.check_operator(actor).await?;
        let _turn = self.lock_key(&key(id)).await;
        let (old, rev) = self.load_approval(id).await?;
        let t = query_machine::next(&old, Action::Run, actor).map_err(|r| r.error)?;
        // Approved for an agency then, shared only if it is verified now.
        if let Some(a) = &old.for_agency {
            self.check_verified_agency(a)?;
        }
        let FanOut {
            query_id,
            reads,
            answered,
            unreachable,
        } = self
            .fan_out(hub, &old.plate, old.from, old.until, &old.sites, timeout)
            .await?;
        let mut new = old.clone();
        new.state = t.to;
        new.used_at = Some(self.now());
        new.query_id = Some(query_id.clone());
        new.results = Some(reads.len());
        let mut d = Draft::new(&actor.username, t.audit, "AlprQuery", &query_id);
        d.details = serde_json::json!({
            "case_number": old.case_number, "purpose": old.purpose, "plate": old.plate,
            "from": old.from, "until": old.until, "sites": old.sites,
            "results": reads.len(), "answered": answered,
            "unreachable": unreachable.iter().map(|(a, _)| a).collect::<Vec<_>>(),
            "approval": id, "approved_by": old.decided_by, "for_agency": old.for_agency,
        });
        let done = self.replace_approval(id, rev, &new, d).await?;
        if !done {
            return Err(Error::FailedPrecondition(format!(
                "{id} changed while the query ran (run on another controller?); an approval runs once"
            )));
        }
        Ok(SearchOutcome {
            query_id,
            reads,
            answered,
            unreachable,
            pending_approval: None,
            approval_reasons: vec![],
        })
    }
}

/// An approval id of the shape the controller makes, or the not-found answer
/// that says what ids look like.
fn check_id(id: &str) -> Result<()> {
    if valid_id(id) {
        return Ok(());
    }
    Err(Error::NotFound(format!(
        "ALPR approval {:?} (ids look like aq-1780000000000-1a2b3c4d or ah-…)",
        shown(id)
    )))
}

/// A test approval: `id` in `state`, asked by `op` for `AB*` under case `C-1`, every
/// time the epoch and every optional part empty.
#[cfg(test)]
pub(crate) fn sample(id: &str, state: ApprovalState) -> AlprApproval {
    AlprApproval {
        id: id.into(),
        state,
        requested_by: "op".into(),
        plate: "AB*".into(),
        case_number: "C-1".into(),
        purpose: "p".into(),
        ..AlprApproval::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid_id("aq-1780000000000-1a2b3c4d"));
        assert!(valid_id("ah-1780000000000-1a2b3c4d"));
        assert!(!valid_id("aq-../../objects/users/admin"));
        assert!(!valid_id("AQ-1"));
        assert!(!valid_id(&format!("aq-{}", "1".repeat(100))));
        assert!(!valid_id(""));
    }
}
