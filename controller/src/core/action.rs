//! What an audit entry says was done, or refused: one name per action, shared by
//! every writer and by the audit report. The names are the audit log's stored
//! format (each entry's hash covers them), so they never change; a new action is a
//! new variant with a new name.

use camplane_config::model::Kind;
use std::fmt;

macro_rules! actions {
    ($($(#[$doc:meta])* $v:ident = $s:literal,)*) => {
        /// An audited action.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($(#[$doc])* $v,)*
            /// Applying objects of one kind, as the role check names it (`apply Camera`).
            ApplyKind(Kind),
        }

        impl AuditAction {
            /// Every action without a payload, in declaration order.
            pub const PLAIN: &'static [AuditAction] = &[$(AuditAction::$v,)*];

            fn plain_name(self) -> Option<&'static str> {
                match self {
                    $(AuditAction::$v => Some($s),)*
                    AuditAction::ApplyKind(_) => None,
                }
            }
        }
    };
}

actions! {
    // Objects and sessions (registry).
    /// `camplane apply`: objects written declaratively.
    Apply = "apply",
    /// Reading objects (audited only when refused).
    Get = "get",
    /// Deleting an object.
    Delete = "delete",
    /// A sign-in.
    Login = "login",
    /// A failed sign-in.
    LoginFailed = "login_failed",
    /// A sign-out.
    Logout = "logout",
    /// A new user.
    UserAdd = "user.add",
    /// A role granted.
    UserGrant = "user.grant",
    /// A role revoked.
    UserRevoke = "user.revoke",
    /// A governing role asked for: a pending grant a second person decides.
    UserGrantRequest = "user.grant.request",
    /// A pending grant confirmed (the role is held from then on).
    UserGrantConfirm = "user.grant.confirm",
    /// A pending grant rejected, with a reason.
    UserGrantReject = "user.grant.reject",
    /// A user acknowledged the city's policy themselves.
    PolicyAcknowledge = "policy.acknowledge",
    /// A new version of the policy proposed for review.
    PolicyPropose = "policy.propose",
    /// A party's signoff on a proposed version (the last one makes it take effect).
    PolicySignoff = "policy.signoff",
    /// Policy reviews read (audited when refused).
    /// A department's monthly compliance report made (refusals too).
    ComplianceReport = "compliance.report",
    /// A user name or a source address locked after repeated failed sign-ins
    /// (once per lock, not per try).
    LoginLocked = "login.locked",
    /// A user changed their own password (`camplane passwd`).
    UserPasswd = "user.passwd",
    /// An administrator set a new one-time password for a user.
    UserPasswordReset = "user.password_reset",
    /// A user stored before ids existed given its immutable id.
    UserIdentity = "user.identity",
    /// A legal hold placed.
    HoldCreate = "hold.create",
    /// A legal hold released.
    HoldRelease = "hold.release",
    // Oversight: complaints and appeals.
    /// A complaint recorded.
    ComplaintFile = "complaint.file",
    /// A decision on a complaint (the chief's, the City Manager's or the
    /// Council's as the clerk records it).
    ComplaintDecide = "complaint.decide",
    /// A complaint's decision appealed.
    ComplaintAppeal = "complaint.appeal",
    /// Complaints read (audited when refused).
    ComplaintList = "complaint.list",
    // Oversight: external requests to release records.
    /// A records request recorded (with its legal hold when it covers recordings).
    RecordsOpen = "records.open",
    /// The Public Information Officer took up a records request.
    RecordsReview = "records.review",
    /// The City Attorney's advice on a records request.
    RecordsAdvise = "records.advise",
    /// The Public Information Officer's decision: release or deny (a denial
    /// closes the request and releases its hold).
    RecordsDecide = "records.decide",
    /// A released request fulfilled (closes it and releases its hold).
    RecordsFulfil = "records.fulfil",
    /// Records requests read (audited when refused).
    RecordsList = "records.list",
    // Oversight: maintenance and testing of the cameras.
    /// A camera's maintenance or test recorded (audited when refused).
    MaintenanceLog = "maintenance.log",
    /// A vendor added to the chief's list of authorized maintenance vendors.
    MaintenanceVendorAdd = "maintenance.vendor_add",
    /// A vendor removed from that list.
    MaintenanceVendorRemove = "maintenance.vendor_remove",
    /// Maintenance records read (audited when refused).
    MaintenanceList = "maintenance.list",
    // The camera life cycle.
    /// A camera activated.
    CameraActivate = "camera.activate",
    /// A camera suspended.
    CameraSuspend = "camera.suspend",
    /// A camera retired.
    CameraRetire = "camera.retire",
    /// A camera waiting on its request, approved with it.
    CameraApproved = "camera.approved",
    /// A special-event camera whose window ended.
    CameraSpecialEventEnded = "camera.special_event_ended",
    /// A camera flagged non-operational (no video).
    CameraFlagNonOperational = "camera.flag_non_operational",
    /// A flagged camera whose video returned.
    CameraVideoReturned = "camera.video_returned",
    /// A camera's credentials set (sealed; never in the entry).
    CameraCredentialsSet = "camera.credentials_set",
    /// Reading cameras' health (audited when refused).
    CameraStatus = "camera.status",
    /// Reading cameras' active windows (audited when refused).
    CameraWindows = "camera.windows",
    // The placement request chain (approvals).
    /// A review's recommendation.
    RequestRecommend = "request.recommend",
    /// A review's rejection.
    RequestReject = "request.reject",
    /// The City Manager's approval.
    RequestApprove = "request.approve",
    /// The City Manager's denial.
    RequestDeny = "request.deny",
    /// A street-class verdict overridden.
    RequestOverride = "request.override",
    /// Placement verdicts computed again.
    PlacementRecheck = "placement.recheck",
    /// The placement map read.
    PlacementMap = "placement.map",
    /// A GIS layer loaded.
    GisLoad = "gis.load",
    /// GIS layers listed.
    GisList = "gis.list",
    /// Street-class rules applied.
    RulesApply = "rules.apply",
    // The fleet.
    /// An enrolment (audited when refused).
    AgentEnroll = "agent.enroll",
    /// An enrolment token made.
    AgentEnrollToken = "agent.enroll_token",
    /// An agent enrolled.
    AgentEnrolled = "agent.enrolled",
    /// An agent's certificate renewed.
    AgentRenewed = "agent.renewed",
    /// An agent revoked.
    AgentRevoke = "agent.revoke",
    /// A revoked agent allowed to enrol again.
    AgentReinstate = "agent.reinstate",
    /// An agent's report about a camera not assigned to it, refused.
    AgentReportRefused = "agent.report_refused",
    /// Desired config pushed to an agent.
    ConfigPush = "config.push",
    // ALPR.
    /// A hotlist loaded.
    HotlistLoad = "hotlist.load",
    /// Hotlists listed.
    HotlistList = "hotlist.list",
    /// A custom or investigative hotlist load stored to wait for a supervisor.
    HotlistLoadPending = "hotlist.load.pending",
    /// A case-bound hotlist lapsed at its expiry (its entries removed).
    HotlistLapse = "hotlist.lapse",
    /// Alerts listed.
    AlertsList = "alerts.list",
    /// Alerts watched live.
    AlertsWatch = "alerts.watch",
    /// A hotlist match raised as an alert.
    AlertRaised = "alert.raised",
    /// An alert verified against the state database.
    AlertVerify = "alert.verify",
    /// An alert rejected (a misread, an old entry).
    AlertReject = "alert.reject",
    /// Action taken on a verified alert.
    AlertAct = "alert.act",
    /// A plate-read search that ran (or was refused).
    AlprSearch = "alpr.search",
    /// A search stored to wait for a supervisor's approval.
    AlprSearchPending = "alpr.search.pending",
    /// A supervisor's approval of a search.
    AlprApprovalApprove = "alpr.approval.approve",
    /// A supervisor's refusal of a search.
    AlprApprovalReject = "alpr.approval.reject",
    /// Pending searches listed.
    AlprApprovalList = "alpr.approval.list",
    /// A plate read's image crop fetched.
    AlprCrop = "alpr.crop",
    // Recordings.
    /// Access to a camera's recordings authorised.
    RecordingsAuthorize = "recordings.authorize",
    /// The right to copy (export) a camera's recordings authorised.
    RecordingsAuthorizeCopy = "recordings.authorize_copy",
    /// Recordings exported.
    RecordingsExport = "recordings.export",
    /// An export that did not finish.
    RecordingsExportIncomplete = "recordings.export.incomplete",
    // Viewing.
    /// A viewing session started (user, camera, live or range, reason), or refused.
    ViewStart = "view.start",
    /// A viewing session ended (duration, bytes, masked).
    ViewEnd = "view.end",
    /// Viewing sessions listed (audited when refused).
    ViewSessions = "view.sessions",
    /// A camera's privacy masks lifted by the chief for one user, for at most
    /// an hour (or the lift refused).
    MaskLift = "mask.lift",
    // The public log.
    /// A month's public log generated.
    PublogGenerate = "publog.generate",
    /// A month's public log published.
    PublogPublish = "publog.publish",
    /// A case assist recorded for the public log.
    CaseAssistAdd = "case_assist.add",
    /// An ALPR reader marked confidential (with its basis and reason), or its
    /// basis or reason restated.
    ReaderConfidential = "reader.confidential",
    /// A confidential ALPR reader's marking lifted.
    ReaderPublic = "reader.public",
    /// A store from before reader histories: a reader's history written once
    /// from its camera record.
    ReaderHistoryBackfill = "reader.history_backfill",
    // The audit log.
    /// The chain verified.
    AuditVerify = "audit.verify",
    /// The log's tail read.
    AuditTail = "audit.tail",
    /// A month's audit report made.
    AuditReport = "audit.report",
    /// A checkpoint of the chain signed with the controller's checkpoint key.
    AuditCheckpoint = "audit.checkpoint",
    // Housekeeping.
    /// The controller's retention pass.
    RetentionSweep = "retention.sweep",
}

/// The sections of the audit report an action's entries belong in, besides the
/// per-action counts every entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportSection {
    /// Plate-read searches: per user, per purpose, per case.
    Queries,
    /// Sign-ins.
    Logins,
    /// Approvals: the placement chain and searches waiting on a supervisor.
    Approvals,
    /// Legal holds, exports and alert reviews.
    HoldsExportsAlerts,
}

impl AuditAction {
    /// The stored name.
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        match self {
            AuditAction::ApplyKind(k) => format!("apply {}", k.as_str()).into(),
            plain => plain.plain_name().unwrap_or_default().into(),
        }
    }

    /// The action a stored name stands for; `None` for a name this build does
    /// not know (an entry written by another version is still verified and
    /// counted, it only lacks a section).
    pub fn parse(name: &str) -> Option<AuditAction> {
        if let Some(k) = name.strip_prefix("apply ") {
            return Kind::ALL
                .into_iter()
                .find(|kind| kind.as_str() == k)
                .map(AuditAction::ApplyKind);
        }
        Self::PLAIN
            .iter()
            .copied()
            .find(|a| a.plain_name() == Some(name))
    }

    /// The report sections beyond the counts (a refusal is also listed among
    /// the refusals, whatever its action).
    pub fn sections(self) -> &'static [ReportSection] {
        use AuditAction as A;
        use ReportSection as S;
        match self {
            A::AlprSearch => &[S::Queries],
            A::AlprSearchPending => &[S::Queries, S::Approvals],
            A::HotlistLoadPending => &[S::Approvals],
            A::Login | A::LoginFailed => &[S::Logins],
            A::RequestRecommend
            | A::RequestReject
            | A::RequestApprove
            | A::RequestDeny
            | A::RequestOverride
            | A::AlprApprovalApprove
            | A::AlprApprovalReject => &[S::Approvals],
            A::HoldCreate
            | A::HoldRelease
            | A::RecordingsExport
            | A::RecordingsExportIncomplete
            | A::AlertVerify
            | A::AlertReject
            | A::AlertAct => &[S::HoldsExportsAlerts],
            _ => &[],
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn all() -> Vec<AuditAction> {
        let mut v = AuditAction::PLAIN.to_vec();
        v.extend(Kind::ALL.into_iter().map(AuditAction::ApplyKind));
        v
    }

    #[test]
    fn every_name_is_unique_and_parses_back_to_its_action() {
        let mut seen = HashSet::new();
        for a in all() {
            let n = a.name();
            assert!(seen.insert(n.to_string()), "{n} named twice");
            assert_eq!(AuditAction::parse(&n), Some(a), "{n}");
        }
    }

    #[test]
    fn names_are_the_stored_format_and_do_not_change() {
        // Entries in existing logs carry these bytes; their hashes cover them.
        for (a, n) in [
            (AuditAction::Apply, "apply"),
            (AuditAction::LoginFailed, "login_failed"),
            (AuditAction::RequestApprove, "request.approve"),
            (AuditAction::AlprSearchPending, "alpr.search.pending"),
            (
                AuditAction::RecordingsExportIncomplete,
                "recordings.export.incomplete",
            ),
            (AuditAction::ApplyKind(Kind::Camera), "apply Camera"),
        ] {
            assert_eq!(a.to_string(), n);
        }
        assert_eq!(AuditAction::parse("apply Nothing"), None);
        assert_eq!(AuditAction::parse("request.aprove"), None);
    }

    #[test]
    fn exports_and_holds_reach_their_report_section() {
        // The report once matched by prefix ("export"), which no action had.
        for a in [
            AuditAction::RecordingsExport,
            AuditAction::HoldCreate,
            AuditAction::AlertAct,
        ] {
            assert!(a.sections().contains(&ReportSection::HoldsExportsAlerts));
        }
        assert!(AuditAction::AlertRaised.sections().is_empty());
        assert!(AuditAction::AlprApprovalList.sections().is_empty());
    }
}
