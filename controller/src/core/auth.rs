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
    /// Whose.
    pub username: String,
    /// Created.
    pub created_at: Timestamp,
    /// Expires.
    pub expires_at: Timestamp,
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

/// A new random bearer token.
pub fn new_token() -> String {
    format!("cpt_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// A random password for one-time use (20 characters, no look-alikes).
pub fn new_password() -> String {
    const A: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20)
        .map(|_| A[rand::random::<usize>() % A.len()] as char)
        .collect()
}

/// The session key of a token (its hash: the store never holds tokens).
pub fn session_key(token: &str) -> String {
    format!(
        "{SESSIONS}{}",
        hex::encode(Sha256::digest(token.as_bytes()))
    )
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
}

impl Operation {
    /// Every operation (the authorization test walks them all).
    pub const ALL: [Operation; 25] = [
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
        }
    }

    /// Whether `actor` may perform it.
    pub fn allows(self, actor: &Actor) -> bool {
        self.roles().iter().any(|r| actor.has(*r))
    }
}
