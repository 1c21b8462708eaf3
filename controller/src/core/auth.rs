//! Users, passwords, sessions and the authorization table.
//!
//! Passwords are stored only as argon2id hashes (salted, slow). A login creates a
//! session record under `sessions/` keyed by the SHA-256 of a random bearer token,
//! so every controller replica accepts it, logout revokes it, and a stolen store
//! dump holds no usable token. Roles are read from the user's current record on
//! every call, so a revoked role takes effect at once.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use camplane_config::model::Role;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Key prefix of password hashes.
pub const PASSWORDS: &str = "meta/passwords/";
/// Key prefix of sessions.
pub const SESSIONS: &str = "sessions/";

/// A signed-in caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// User name (`system` for the controller itself).
    pub username: String,
    /// Roles held now.
    pub roles: Vec<Role>,
    /// Department.
    pub department: String,
}

impl Actor {
    /// The controller acting on its own (special-event expiry, flags).
    pub fn system() -> Actor {
        Actor {
            username: "system".into(),
            roles: vec![Role::Admin],
            department: String::new(),
        }
    }
    /// Whether the actor holds `r`.
    pub fn has(&self, r: Role) -> bool {
        self.roles.contains(&r)
    }
}

/// A stored session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Whose (the name at sign-in, for messages and the audit log).
    pub username: String,
    /// The user's immutable id at sign-in: the session belongs to it, not to the
    /// name, so a deleted user re-created under the same name is not signed in.
    /// Sessions stored before ids existed have none and are refused.
    #[serde(default)]
    pub user_id: String,
    /// Created.
    pub created_at: Timestamp,
    /// Expires.
    pub expires_at: Timestamp,
    /// The generation of the password record it was opened with
    /// ([`PasswordRecord::generation`]): once the password is changed or reset,
    /// the session is refused ([`outlived_password`]), however many sessions the
    /// change itself deleted. Empty on sessions stored before generations: those
    /// are refused when they began before the password was last set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password_generation: String,
}

/// Whether `session` began under an older password than `record` (the user's
/// password record now, `None` when there is none): changed with `passwd` or
/// reset by an admin since. Such a session is refused, whichever controller's
/// cache listed (or missed) it when the password changed.
pub fn outlived_password(session: &Session, record: Option<&PasswordRecord>) -> bool {
    let Some(record) = record else {
        return true;
    };
    if session.password_generation.is_empty() {
        // Stored before generations: only the times can tell.
        return record.set_at.is_some_and(|t| session.created_at < t);
    }
    session.password_generation != record.generation()
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> crate::Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| crate::Error::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| crate::Error::Internal(format!("hashing: {e}")))
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A new immutable user id (`u_` and 16 hex digits), given once at creation.
pub fn new_user_id() -> String {
    format!("u_{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// The id in a user's stored `status` (`None` for a user stored before ids).
pub fn user_id_of(status: &serde_json::Value) -> Option<&str> {
    status
        .get("id")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

/// The policy version a user acknowledged themselves (`status.policy_version`,
/// written only by `camplane policy acknowledge`; a `spec.policy_version` an
/// admin once applied is not an acknowledgement).
pub fn acknowledged_policy(status: &serde_json::Value) -> Option<&str> {
    status
        .get("acknowledged_at")
        .and(status.get("policy_version"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

/// The policy a user is shown before acknowledging it (the version in force:
/// `oversight::policy_review` keeps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyText {
    /// The version in force.
    pub version: String,
    /// The SHA-256 (hex) of its text.
    pub sha256: String,
    /// Where the text is.
    pub file: String,
}

/// The SHA-256 (hex) of the policy text, as `policy acknowledge` shows it.
pub fn policy_sha256(text: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text))
}

/// The longest user name.
pub const MAX_USER_NAME: usize = 64;

/// Whether `name` is a valid user name: 1 to [`MAX_USER_NAME`] characters of
/// `[a-z0-9._-]`, starting with a letter or digit.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USER_NAME
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// Why a user name is refused, for error messages.
pub const USER_NAME_RULE: &str =
    "at most 64 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit";

/// A user name as a failed sign-in's audit entry stores it: at most
/// [`MAX_USER_NAME`] characters, anything but printable ASCII (and the
/// backslash) written `\xNN` per byte, and `…[cut]` when it was longer, so a
/// client can neither grow the log nor forge rows in what an auditor reads.
pub fn escaped_user_name(raw: &str) -> String {
    let mut out = String::new();
    for b in raw.bytes() {
        let piece = if (0x20..0x7f).contains(&b) && b != b'\\' {
            (b as char).to_string()
        } else {
            format!("\\x{b:02x}")
        };
        if out.len() + piece.len() > MAX_USER_NAME {
            out.push_str("…[cut]");
            return out;
        }
        out.push_str(&piece);
    }
    out
}

/// A stored password: `meta/passwords/{user}` holds it as JSON. A hash stored
/// before one-time passwords existed (the bare argon2 string) reads as a
/// password the user chose.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordRecord {
    /// The argon2id hash.
    pub hash: String,
    /// Set by an administrator (or generated): usable only to change it with
    /// `camplane passwd`, and only until [`ONE_TIME_TTL`] after `set_at`.
    #[serde(default)]
    pub one_time: bool,
    /// When it was set (absent on hashes stored before this record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_at: Option<Timestamp>,
}

/// How long a one-time password can be used to sign in.
pub const ONE_TIME_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(72);

impl PasswordRecord {
    /// A new record for `password` (hashed here).
    pub fn new(password: &str, one_time: bool, now: Timestamp) -> crate::Result<PasswordRecord> {
        Ok(PasswordRecord {
            hash: hash_password(password)?,
            one_time,
            set_at: Some(now),
        })
    }

    /// Reads a stored record, or a bare hash stored before records existed.
    pub fn parse(bytes: &[u8]) -> PasswordRecord {
        serde_json::from_slice(bytes).unwrap_or_else(|_| PasswordRecord {
            hash: String::from_utf8_lossy(bytes).into_owned(),
            one_time: false,
            set_at: None,
        })
    }

    /// Which password this is, for the sessions opened with it
    /// ([`Session::password_generation`]): a digest of its salted hash, so every
    /// password set (even the same one again, even at the same instant) has its
    /// own, and nothing about the password can be read from it.
    pub fn generation(&self) -> String {
        let d = Sha256::digest(format!("camplane password generation\0{}", self.hash));
        hex::encode(&d[..12])
    }

    /// Whether it is a one-time password past its 72 hours at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.one_time
            && self
                .set_at
                .and_then(|t| t.checked_add(ONE_TIME_TTL).ok())
                .is_none_or(|end| end <= now)
    }
}

/// The error of every RPC but `passwd` and `logout` while the caller's password
/// is one-time.
pub const CHANGE_ONE_TIME: &str = "change your one-time password with `camplane passwd`";

/// The common passwords refused whatever their case (NIST SP 800-63B 3.1.1.2);
/// generated by `common-passwords.py` beside it (see its header).
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

/// Why `password` is refused as a new password (NIST SP 800-63B: at least 12
/// characters, not one character repeated, not blank, not a common password,
/// not the city's or the product's name with digits or symbols), or `None`.
pub fn weak_password(password: &str, city: &str) -> Option<String> {
    let n = password.chars().count();
    if password.trim().is_empty() {
        return Some("a password cannot be empty or only spaces".into());
    }
    if n < MIN_PASSWORD {
        return Some(format!(
            "a password needs at least {MIN_PASSWORD} characters (got {n})"
        ));
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Some("a password cannot be one character repeated".into());
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS
        .lines()
        .any(|l| !l.starts_with('#') && l == lower)
    {
        return Some("that password is on the list of common passwords; choose another".into());
    }
    // Context words (the city, the product) with only digits or punctuation around.
    let core: String = lower.chars().filter(|c| c.is_alphabetic()).collect();
    let city: String = city
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphabetic())
        .collect();
    if !core.is_empty() && (core == city || core == "camplane") {
        return Some(
            "a password cannot be the city's or the product's name with digits or symbols".into(),
        );
    }
    None
}

/// A new random bearer token.
pub fn new_token() -> String {
    format!("cpt_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// A random password for one-time use (20 characters, no look-alikes).
/// Generated passwords are one-time: whoever saw it printed must not keep it.
pub fn new_password() -> String {
    const A: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20)
        .map(|_| A[rand::random::<usize>() % A.len()] as char)
        .collect()
}

/// The session key of a token (its hash: the store never holds tokens).
pub fn session_key(token: &str) -> String {
    // Every API request makes one: written in place, one allocation.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut k = String::with_capacity(SESSIONS.len() + 64);
    k.push_str(SESSIONS);
    for b in Sha256::digest(token.as_bytes()) {
        k.push(char::from(HEX[usize::from(b >> 4)]));
        k.push(char::from(HEX[usize::from(b & 15)]));
    }
    k
}

/// Operations that need a role, as the governance spec assigns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Read sites, departments, cameras, requests.
    ReadObjects,
    /// Read users.
    ReadUsers,
    /// Register or change sites, departments, cameras; delete objects.
    WriteRegistry,
    /// Add users, grant roles.
    ManageUsers,
    /// Submit a placement request.
    SubmitRequest,
    /// The department manager's review step.
    DeptReview,
    /// The Chief of Police / Information Services review step.
    ChiefOrIsReview,
    /// The City Manager's decision.
    CityManagerDecision,
    /// Activate, suspend, retire cameras.
    CameraLifecycle,
    /// Read and verify the audit log.
    ReadAudit,
    /// Place or release holds for criminal investigations and court proceedings.
    HoldForCase,
    /// Place or release holds for other bona fide uses.
    HoldCityManager,
    /// Load GIS layers, apply placement rules, recheck cameras against them.
    ManagePlacement,
    /// Override a placement verdict with a written justification: law
    /// enforcement (the chief) or traffic safety (an engineer).
    PlacementOverride,
    /// Render the placement map (every camera's location, covert ones too).
    ViewPlacementMap,
    /// Load hotlists and set whether a source is public.
    ManageHotlists,
    /// See which hotlists exist (names, versions, counts; not their plates).
    ReadHotlists,
    /// Receive hotlist alerts (plates, places, times).
    ReceiveAlerts,
    /// Search plate reads (with a case number and purpose; training and
    /// certification are checked too).
    SearchAlpr,
    /// Generate a month's public log on demand (it is published by itself too).
    GeneratePublicLog,
    /// Enter an assist to a case for the public log's totals.
    RecordCaseAssist,
    // ---------- governance ----------
    /// Approve or reject ALPR queries outside the state-system rules (patterns,
    /// queries for other agencies); never one's own.
    ApproveAlprQuery,
    /// Record an alert's visual and state-system checks, reject it, or record
    /// the action taken on it (with its case number).
    VerifyAlerts,
    /// View or copy (export) recordings: of the installing department's cameras,
    /// any camera for the police, or as the chief authorized.
    ViewRecordings,
    /// Authorize a user to view and copy a camera's or a department's recordings.
    AuthorizeRecordings,
    // ---------- oversight ----------
    /// Record a complaint about the use of the camera systems.
    FileComplaint,
    /// Read complaints (they name the complainant).
    ReadComplaints,
    /// The Chief of Police's decision on a complaint.
    DecideComplaint,
    /// The City Manager's decision on an appeal of the chief's.
    DecideComplaintAppeal,
    /// Record the City Council's decision on an appeal (the city clerk).
    RecordCouncilDecision,
    /// Record that a complaint's decision is appealed.
    RecordAppeal,
    /// Record an external request to release records.
    OpenRecordsRequest,
    /// Read records requests (they name the requester).
    ReadRecordsRequests,
    /// Propose a new version of the camera policy for its annual review.
    ProposePolicy,
    /// Sign a proposed policy version off for one of the five parties.
    SignOffPolicy,
    /// A department's compliance report (auditors; a manager for their own).
    ReadComplianceReport,
    /// The Public Information Officer's steps on a records request: review,
    /// decide (after the City Attorney's advice), fulfil.
    ReviewRecordsRequest,
    /// The City Attorney's advice on a records request.
    AdviseRecordsRequest,
    /// List who watches which camera now and who watched before.
    ReadViewingSessions,
    /// Lift a camera's privacy masks for one user, for at most an hour.
    LiftPrivacyMasks,
    /// Record a camera's maintenance or test (its own department's managers
    /// and engineers, or Information Services: see
    /// `oversight::maintenance_machine`).
    LogMaintenance,
    /// Read maintenance records and the overdue-test list.
    ReadMaintenance,
    /// Keep the list of authorized maintenance vendors (the chief).
    ManageMaintenanceVendors,
    /// Apply a department's fee schedule for copies of its video (its own
    /// department's manager: checked in `registry::objects`; or an admin).
    SetFeeSchedule,
    /// Keep an ALPR reader's locations from the public list, or show them again:
    /// the Police Department's determination (policy 5.05: "unless the agency
    /// determines that the data is confidential"), applied as the camera's
    /// `confidential` fields. The chief changes only those fields of a camera.
    MarkReaderConfidential,
}

impl Operation {
    /// Every operation (the authorization test walks them all).
    pub const ALL: [Operation; 45] = [
        Operation::ReadObjects,
        Operation::ReadUsers,
        Operation::WriteRegistry,
        Operation::ManageUsers,
        Operation::SubmitRequest,
        Operation::DeptReview,
        Operation::ChiefOrIsReview,
        Operation::CityManagerDecision,
        Operation::CameraLifecycle,
        Operation::ReadAudit,
        Operation::HoldForCase,
        Operation::HoldCityManager,
        Operation::ManagePlacement,
        Operation::PlacementOverride,
        Operation::ViewPlacementMap,
        Operation::ManageHotlists,
        Operation::ReadHotlists,
        Operation::ReceiveAlerts,
        Operation::SearchAlpr,
        Operation::ApproveAlprQuery,
        Operation::VerifyAlerts,
        Operation::GeneratePublicLog,
        Operation::RecordCaseAssist,
        Operation::ViewRecordings,
        Operation::AuthorizeRecordings,
        Operation::FileComplaint,
        Operation::ReadComplaints,
        Operation::DecideComplaint,
        Operation::DecideComplaintAppeal,
        Operation::RecordCouncilDecision,
        Operation::RecordAppeal,
        Operation::OpenRecordsRequest,
        Operation::ReadRecordsRequests,
        Operation::ReviewRecordsRequest,
        Operation::AdviseRecordsRequest,
        Operation::ReadViewingSessions,
        Operation::LiftPrivacyMasks,
        Operation::LogMaintenance,
        Operation::ReadMaintenance,
        Operation::ManageMaintenanceVendors,
        Operation::ProposePolicy,
        Operation::SignOffPolicy,
        Operation::ReadComplianceReport,
        Operation::SetFeeSchedule,
        Operation::MarkReaderConfidential,
    ];

    /// The roles that may perform the operation.
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Operation::ReadObjects => &[
                Admin,
                Engineer,
                DeptManager,
                Chief,
                CityManager,
                AlprOperator,
                Supervisor,
                Auditor,
                Viewer,
            ],
            Operation::ReadUsers => &[Admin, Auditor],
            Operation::WriteRegistry | Operation::ManageUsers | Operation::CameraLifecycle => {
                &[Admin]
            }
            Operation::SubmitRequest => &[DeptManager, Admin],
            Operation::DeptReview => &[DeptManager],
            Operation::ChiefOrIsReview => &[Chief, Admin],
            Operation::CityManagerDecision => &[CityManager],
            Operation::ReadAudit => &[Auditor, Admin],
            Operation::HoldForCase => &[Chief],
            Operation::HoldCityManager => &[CityManager],
            Operation::ManagePlacement => &[Engineer, Admin],
            Operation::PlacementOverride => &[Chief, Engineer],
            Operation::ViewPlacementMap => &[Engineer, Admin, Chief, CityManager],
            Operation::ManageHotlists => &[Supervisor, Chief],
            Operation::ReadHotlists => &[AlprOperator, Supervisor, Chief, Auditor, Admin],
            Operation::ReceiveAlerts => &[AlprOperator, Supervisor, Chief],
            Operation::SearchAlpr => &[AlprOperator],
            Operation::GeneratePublicLog => &[Admin, Auditor, Chief, CityManager],
            Operation::RecordCaseAssist => &[AlprOperator, Supervisor, Chief],
            Operation::ApproveAlprQuery => &[Supervisor],
            Operation::VerifyAlerts => &[AlprOperator],
            Operation::ViewRecordings => &[Viewer, Chief],
            Operation::AuthorizeRecordings => &[Chief],
            // Complaints reach the police, the City Manager's office or the
            // clerk; each records what it receives.
            Operation::FileComplaint => &[Chief, CityManager, CityClerk],
            Operation::ReadComplaints => &[Chief, CityManager, CityClerk, Auditor],
            Operation::DecideComplaint => &[Chief],
            Operation::DecideComplaintAppeal => &[CityManager],
            Operation::RecordCouncilDecision => &[CityClerk],
            Operation::RecordAppeal => &[CityManager, CityClerk],
            // Requests for records reach the Public Information Officer or the
            // clerk; the PIO reviews and decides, the City Attorney advises.
            Operation::OpenRecordsRequest => &[Pio, CityClerk],
            Operation::ReadRecordsRequests => &[Pio, CityAttorney, CityClerk, Auditor],
            Operation::ReviewRecordsRequest => &[Pio],
            Operation::AdviseRecordsRequest => &[CityAttorney],
            Operation::ReadViewingSessions => &[Admin, Auditor, Chief],
            // "This policy shall be reviewed by the Police Department,
            // Engineering, Information Services, the City Attorney's Office and
            // the City Manager": each may propose; each signs for its own party.
            Operation::ProposePolicy | Operation::SignOffPolicy => {
                &[Chief, Engineer, Admin, CityAttorney, CityManager]
            }
            // "Department Managers are responsible for making sure that the
            // provisions of this AP are adhered to"; auditors check them all.
            Operation::ReadComplianceReport => &[DeptManager, Auditor],
            // The issue: "given by the chief, for at most 60 minutes".
            Operation::LiftPrivacyMasks => &[Chief],
            // "Maintenance and testing will be the responsibility of the
            // department utilizing the camera system": its manager and its
            // engineers (the department is checked too), or Information
            // Services. The chief keeps the vendor list, as the ALPR section asks.
            Operation::LogMaintenance => &[Admin, DeptManager, Engineer],
            Operation::ReadMaintenance => {
                &[Admin, DeptManager, Engineer, Chief, CityManager, Auditor]
            }
            Operation::ManageMaintenanceVendors => &[Chief],
            // "Individual City departments will establish ... fee schedules for
            // reproduction of City video": each department's manager, for their
            // own department; Information Services (admin) for any.
            Operation::SetFeeSchedule => &[DeptManager, Admin],
            Operation::MarkReaderConfidential => &[Chief],
        }
    }

    /// Whether `actor` may perform it.
    pub fn allows(self, actor: &Actor) -> bool {
        self.roles().iter().any(|r| actor.has(*r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_key_is_the_tokens_sha256_in_lower_hex() {
        for token in ["", "abc", "a-long-bearer-token-0123456789"] {
            assert_eq!(
                session_key(token),
                format!(
                    "{SESSIONS}{}",
                    hex::encode(Sha256::digest(token.as_bytes()))
                )
            );
        }
    }

    #[test]
    fn a_session_outlives_no_password_change() {
        let t0 = Timestamp::UNIX_EPOCH;
        let first = PasswordRecord::new("first-password-1", false, t0).unwrap();
        // The same password set again at the same instant is another generation.
        let again = PasswordRecord::new("first-password-1", false, t0).unwrap();
        assert_ne!(first.generation(), again.generation());
        assert_eq!(
            first.generation(),
            PasswordRecord::parse(&serde_json::to_vec(&first).unwrap()).generation()
        );
        let session = |generation: &str, created_at: Timestamp| Session {
            username: "ana".into(),
            user_id: "u_0123456789abcdef".into(),
            created_at,
            expires_at: created_at + jiff::SignedDuration::from_hours(1),
            password_generation: generation.into(),
        };
        let s = session(&first.generation(), t0);
        assert!(!outlived_password(&s, Some(&first)));
        assert!(outlived_password(&s, Some(&again)));
        assert!(
            outlived_password(&s, None),
            "no password record, no session"
        );
        // A session stored before generations: by the times.
        let later = t0 + jiff::SignedDuration::from_secs(1);
        let changed = PasswordRecord::new("second-password-2", false, later).unwrap();
        assert!(outlived_password(&session("", t0), Some(&changed)));
        assert!(!outlived_password(&session("", later), Some(&changed)));
        let bare = PasswordRecord::parse(b"$argon2id$bare-hash");
        assert!(!outlived_password(&session("", t0), Some(&bare)));
    }

    #[test]
    fn user_names_are_bounded_and_plain() {
        for ok in [
            "admin",
            "op",
            "ana.maric",
            "j_doe-2",
            "0day",
            &"a".repeat(64),
        ] {
            assert!(valid_user_name(ok), "{ok}");
        }
        for bad in [
            "",
            &"a".repeat(65),
            "Admin",
            "-x",
            ".x",
            "a b",
            "a\nadmin",
            "ana\u{1b}[31m",
            "é",
            "a/b",
        ] {
            assert!(!valid_user_name(bad), "{bad:?}");
        }
    }

    /// What a failed sign-in's audit entry stores: short, printable, marked when cut.
    #[test]
    fn failed_names_are_stored_bounded_and_escaped() {
        assert_eq!(escaped_user_name("ana"), "ana");
        assert_eq!(
            escaped_user_name("x\nadmin audit.cleared ok\u{1b}[0m"),
            "x\\x0aadmin audit.cleared ok\\x1b[0m"
        );
        assert_eq!(escaped_user_name("a\\b"), "a\\x5cb");
        let huge = "n".repeat(4_000_000);
        let e = escaped_user_name(&huge);
        assert!(e.ends_with("…[cut]"), "{e}");
        assert!(e.chars().count() <= MAX_USER_NAME + 6);
        assert!(!e.chars().any(|c| c.is_control()));
        assert_eq!(escaped_user_name(&"a".repeat(64)), "a".repeat(64));
        assert!(escaped_user_name("\u{0}\u{0}").starts_with("\\x00"));
    }

    #[test]
    fn passwords_follow_nist() {
        for weak in [
            "",
            "            ",
            " \t  \n        ",
            "short-pw1",
            "aaaaaaaaaaaaaaaa",
            "password1234",
            "PassWord1234",
            "123456789012",
            "qwertyuiop123",
            "Dubuque2026!!",
            "camplane12345",
        ] {
            assert!(weak_password(weak, "Dubuque").is_some(), "{weak:?}");
        }
        for strong in [
            "op-password-123",
            "correct horse battery staple",
            "test-admin-password-1",
            "Xk3!vq9Lm2#p",
        ] {
            assert_eq!(weak_password(strong, "Dubuque"), None, "{strong}");
        }
        // The shipped list: lower case, 12 characters or more, no duplicates.
        let lines: Vec<&str> = COMMON_PASSWORDS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect();
        assert!(lines.len() > 2000);
        let set: std::collections::HashSet<_> = lines.iter().collect();
        assert_eq!(set.len(), lines.len());
        assert!(lines
            .iter()
            .all(|l| l.chars().count() >= MIN_PASSWORD && l.to_lowercase() == *l));
    }

    #[test]
    fn one_time_passwords_expire_after_72_hours() {
        let t0 = Timestamp::UNIX_EPOCH;
        let mut r = PasswordRecord {
            hash: String::new(),
            one_time: true,
            set_at: Some(t0),
        };
        let h = |n| t0 + jiff::SignedDuration::from_hours(n);
        assert!(!r.expired(h(71)));
        assert!(r.expired(h(72)));
        r.one_time = false;
        assert!(!r.expired(h(1000)));
        // A bare hash stored before records: the user's own, never expiring.
        let legacy = PasswordRecord::parse(b"$argon2id$v=19$m=19456,t=2,p=1$abc$def");
        assert!(!legacy.one_time && legacy.hash.starts_with("$argon2id"));
    }
}
