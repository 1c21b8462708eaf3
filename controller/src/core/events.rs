//! What the controller counts and logs, as named events (Vector's habit): each
//! event says in one place which log line it writes and which counter it moves,
//! so a counter and its log never drift apart and a grep for the event finds
//! every place it happens.

use crate::core::metrics::Metrics;
use camplane_proto::kinds::ReportKind;
use std::sync::atomic::Ordering;

/// An event the controller counts and logs.
pub trait InternalEvent {
    /// Logs it and moves its counters.
    fn emit(self, m: &Metrics);
}

/// An agent's report stored for the first time (a replay is not an event).
pub struct ReportStored<'a> {
    /// The agent.
    pub agent: &'a str,
    /// Its kind; `None` for a kind this build does not know.
    pub kind: Option<ReportKind>,
}

impl InternalEvent for ReportStored<'_> {
    fn emit(self, m: &Metrics) {
        tracing::debug!(
            agent = self.agent,
            kind = self.kind.map_or("other", ReportKind::as_str),
            "report stored"
        );
        m.report(self.kind);
    }
}

/// An agent's report about cameras not assigned to it, refused (or, for
/// health, stored without them).
pub struct ReportRefused<'a> {
    /// The agent.
    pub agent: &'a str,
    /// What it sent: a report kind (`other` for one this build does not know),
    /// or `reads` for a search answer.
    pub kind: &'static str,
    /// How many foreign cameras it named.
    pub cameras: usize,
}

impl ReportRefused<'_> {
    /// The label of a report kind as the wire names it.
    pub fn kind_label(kind: &str) -> &'static str {
        ReportKind::parse(kind).map_or("other", ReportKind::as_str)
    }
}

impl InternalEvent for ReportRefused<'_> {
    fn emit(self, m: &Metrics) {
        // The names are the agent's, not registered ones: the audit entry holds them, bounded.
        tracing::warn!(
            agent = self.agent,
            kind = self.kind,
            cameras = self.cameras,
            "report about cameras not assigned to the agent refused"
        );
        m.report_refused(self.kind);
    }
}

/// A hotlist match stored as an alert.
pub struct AlertRaised<'a> {
    /// The agent that saw it.
    pub agent: &'a str,
    /// The alert's id.
    pub id: &'a str,
    /// The hotlist that matched.
    pub list: &'a str,
}

impl InternalEvent for AlertRaised<'_> {
    fn emit(self, m: &Metrics) {
        // No plate text in the log: the alert's record and its audit entry hold it.
        tracing::info!(
            agent = self.agent,
            alert = self.id,
            list = self.list,
            "hotlist alert raised"
        );
        m.alerts.fetch_add(1, Ordering::Relaxed);
    }
}

/// A housekeeping job's run failed; it runs again at its next turn.
pub struct JobFailed<'a> {
    /// The job's name (see `housekeeping::JOBS`).
    pub job: &'static str,
    /// Why.
    pub error: &'a crate::Error,
}

impl InternalEvent for JobFailed<'_> {
    fn emit(self, m: &Metrics) {
        tracing::warn!(job = self.job, error = %self.error, "housekeeping job failed; will retry");
        m.job_failed(self.job);
    }
}

impl crate::core::Controller {
    /// Emits a named event (logs it, moves its counters).
    pub fn emit(&self, event: impl InternalEvent) {
        event.emit(&self.metrics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_move_their_counters() {
        let m = Metrics::default();
        ReportStored {
            agent: "a",
            kind: Some(ReportKind::Alert),
        }
        .emit(&m);
        ReportStored {
            agent: "a",
            kind: None,
        }
        .emit(&m);
        AlertRaised {
            agent: "a",
            id: "x",
            list: "l",
        }
        .emit(&m);
        let e = crate::Error::Internal("boom".into());
        JobFailed {
            job: "reconcile",
            error: &e,
        }
        .emit(&m);
        JobFailed {
            job: "retention",
            error: &e,
        }
        .emit(&m);
        assert_eq!(m.alerts.load(Ordering::Relaxed), 1);
        assert_eq!(m.job_failures("reconcile"), 1);
        assert_eq!(m.job_failures("retention"), 1);
        assert_eq!(m.job_failures("publish"), 0);
        assert_eq!(m.reports_of("alert"), 1);
        assert_eq!(m.reports_of("other"), 1);
    }
}
