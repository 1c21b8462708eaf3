//! The domain model shared by the controller, the CLI and the agent, in the city's
//! words. Objects are `{kind, name, spec, status}`: users write `spec`, the
//! controller owns `status`, and re-applying what `get -o yaml` printed changes
//! nothing because `status` is never taken from a manifest.
//!
//! Unknown fields are refused by the loaders (`manifest::parse`, `Spec::from_json`),
//! which collect every one of them at once rather than stopping at the first.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The policy's categories A-D, ALPR readers and criminal-investigation cameras.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Category A.
    PropertyProtection,
    /// Category B.
    PersonalSafety,
    /// Category C.
    ExtendedResponsibility,
    /// Category D.
    AssistDepartments,
    /// Automated license plate reader.
    Alpr,
    /// Covert or overt camera for a criminal investigation.
    CriminalInvestigation,
}

impl Purpose {
    /// The policy's category letter, where there is one.
    pub fn category(self) -> Option<char> {
        match self {
            Purpose::PropertyProtection => Some('A'),
            Purpose::PersonalSafety => Some('B'),
            Purpose::ExtendedResponsibility => Some('C'),
            Purpose::AssistDepartments => Some('D'),
            _ => None,
        }
    }
}

/// How a camera is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraKind {
    /// Permanently mounted.
    Fixed,
    /// Moves (vehicle-mounted readers, trailers).
    Mobile,
    /// Installed for a special event, with an end time.
    Temporary,
}

/// Indoor or outdoor mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mount {
    /// Outdoors.
    #[default]
    Outdoor,
    /// Indoors: a room is then required.
    Indoor,
}

/// The room of an indoor camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Room {
    /// Prohibited unless criminal investigation.
    Bathroom,
    /// Prohibited unless criminal investigation.
    LockerRoom,
    /// Prohibited unless criminal investigation.
    Office,
    /// Prohibited unless criminal investigation.
    ConferenceRoom,
    /// Any other room (lobbies, hallways...).
    Other,
}

impl Room {
    /// Rooms where cameras are prohibited unless for a criminal investigation
    /// (policy 5.05: bathrooms, locker rooms, offices, conference rooms).
    pub fn is_prohibited(self) -> bool {
        !matches!(self, Room::Other)
    }
}

/// Life-cycle state of a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Registered, placement not approved yet.
    #[default]
    Proposed,
    /// Its placement request was approved by the City Manager.
    Approved,
    /// Recording (config pushed to its agent).
    Active,
    /// Taken out of service for now.
    Suspended,
    /// Permanently out of service.
    Retired,
}

/// A point on the ground.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Latitude in degrees, -90..=90.
    pub lat: f64,
    /// Longitude in degrees, -180..=180.
    pub lon: f64,
}

/// Where a camera looks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// Clockwise from north, any number (taken modulo 360).
    pub heading_deg: f64,
    /// Field of view in (0, 360].
    pub fov_deg: f64,
    /// Range in metres, > 0.
    pub range_m: f64,
}

/// The special-event window of a temporary camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecialEvent {
    /// Name of the event.
    pub event: String,
    /// Start (RFC 3339).
    pub from: Timestamp,
    /// End (RFC 3339), after `from`.
    pub until: Timestamp,
}

/// Video streams of a camera.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Streams {
    /// Main (high resolution) stream, e.g. `rtsp://10.1.2.3/main`.
    pub main: String,
    /// Sub stream, for ALPR sampling or low-bandwidth view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

/// `url` without its user name and password, if it has any
/// (`rtsp://user:pass@host/p` → `rtsp://host/p`).
pub fn url_without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://{}{path}", &authority[at + 1..]),
        None => url.to_string(),
    }
}

/// Whether `url` carries a user name or password.
pub fn url_has_credentials(url: &str) -> bool {
    url_without_credentials(url) != url
}

fn default_true() -> bool {
    true
}
fn default_retention() -> u32 {
    30
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// The most a recording or ALPR read is kept without a legal hold (policy 5.05).
pub const MAX_RETENTION_DAYS: u32 = 30;

/// A site: a building or pole cluster with a gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteSpec {
    /// Street address.
    #[serde(default)]
    pub address: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// A city department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentSpec {
    /// Full name.
    #[serde(default)]
    pub display_name: String,
}

/// A department's fee schedule for reproducing City video (`kind:
/// FeeSchedule`, named after its department). Policy 5.05: "Individual City
/// departments will establish ... fee schedules for reproduction of City
/// video." The fee of one copy is
/// `base_cents + per_minute_cents × minutes + per_file_cents × files`: a base
/// for handling the request, the minutes of video (what takes staff time to
/// review and mask) and the files (what takes media and transfer), the three
/// things a records clerk counts; all amounts are whole cents, so no rounding
/// of money ever happens. Checked on apply: each amount is 0..=
/// [`MAX_FEE_CENTS`], the currency three capital letters (ISO 4217).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeScheduleSpec {
    /// ISO 4217 code of the amounts (default `USD`).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Charged once per copy (cents).
    #[serde(default)]
    pub base_cents: i64,
    /// Charged per minute of video, a started minute counting whole (cents).
    #[serde(default)]
    pub per_minute_cents: i64,
    /// Charged per file in the copy (cents).
    #[serde(default)]
    pub per_file_cents: i64,
}

/// The currency of a fee schedule that names none.
pub const DEFAULT_CURRENCY: &str = "USD";
/// The largest amount of a fee schedule, in cents ($10,000: anything above is
/// a typo, not a fee).
pub const MAX_FEE_CENTS: i64 = 1_000_000;

fn default_currency() -> String {
    DEFAULT_CURRENCY.to_string()
}

/// A camera, as Information Services registers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraSpec {
    /// The site it belongs to.
    pub site: String,
    /// The installing department.
    pub department: String,
    /// Fixed, mobile or temporary.
    pub kind: CameraKind,
    /// Policy category or use.
    pub purpose: Purpose,
    /// Indoor or outdoor.
    #[serde(default)]
    pub mount: Mount,
    /// Room, required indoors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<Room>,
    /// Where it is (a mobile camera: its base).
    pub location: LatLon,
    /// Where it looks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<View>,
    /// Covert cameras are for criminal investigations only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub covert: bool,
    /// Kept out of public pages from the day it is marked (an ALPR reader:
    /// needs `confidential_reason` and `confidential_basis`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub confidential: bool,
    /// Why it is confidential, in words (with `confidential`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidential_reason: Option<String>,
    /// The ground for it: one of the controller's `publog.confidential_bases`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidential_basis: Option<String>,
    /// Video streams.
    pub streams: Streams,
    /// Record video.
    #[serde(default = "default_true")]
    pub recording: bool,
    /// Days to keep recordings, at most 30.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    /// Run ALPR on its frames.
    #[serde(default, skip_serializing_if = "is_false")]
    pub alpr: bool,
    /// Frames read per second on this camera when `alpr` is on, in (0, 30]
    /// ([`ALPR_FPS_MAX`]); none: its agent's `alpr_fps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpr_fps: Option<f64>,
    /// The placement request that approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_request: Option<String>,
    /// The special-event window of a temporary camera.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_event: Option<SpecialEvent>,
    /// The agent (site gateway) that records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Parts of the picture burned black for every viewer (live, playback,
    /// masked exports) at the agent; recordings keep the original.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privacy_masks: Vec<PrivacyMask>,
}

/// Most frames per second ALPR reads on one camera (the camera spec's and the
/// agent's `alpr_fps`): 30, the frame rate of the cameras the city buys; reading
/// more often than frames arrive reads the same frame twice.
pub const ALPR_FPS_MAX: f64 = 30.0;

/// The problem of an `alpr_fps` value at `path`, if any: it must be in (0, 30].
pub fn alpr_fps_problem(path: &str, fps: f64) -> Option<(String, String)> {
    (!(fps > 0.0 && fps <= ALPR_FPS_MAX)).then(|| {
        (
            path.to_string(),
            format!("must be in (0, {ALPR_FPS_MAX}] frames per second, got {fps}"),
        )
    })
}

/// Most privacy masks one camera has.
pub const MAX_PRIVACY_MASKS: usize = 16;
/// Most points one privacy mask's polygon has.
pub const MAX_MASK_POINTS: usize = 64;

/// A privacy mask: a polygon of the picture, in coordinates normalised to
/// 0..1 (`[x, y]`, x from the left edge, y from the top), filled solid black.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyMask {
    /// Its name (unique on the camera), e.g. `window-12-main`.
    pub name: String,
    /// At least 3 points, each inside the frame.
    pub polygon: Vec<[f64; 2]>,
}

impl PrivacyMask {
    /// Its problems as (field path under `at`, message), all of them.
    pub fn problems(&self, at: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !valid_name(&self.name) {
            out.push((
                format!("{at}.name"),
                format!(
                    "{:?} is not a valid name (lower-case letters, digits, '-', '_', '.'; at most 63)",
                    self.name
                ),
            ));
        }
        if self.polygon.len() < 3 {
            out.push((
                format!("{at}.polygon"),
                format!("a mask needs at least 3 points, got {}", self.polygon.len()),
            ));
        }
        if self.polygon.len() > MAX_MASK_POINTS {
            out.push((
                format!("{at}.polygon"),
                format!(
                    "at most {MAX_MASK_POINTS} points, got {}",
                    self.polygon.len()
                ),
            ));
        }
        for (i, [x, y]) in self.polygon.iter().enumerate() {
            if !(0.0..=1.0).contains(x) || !(0.0..=1.0).contains(y) {
                out.push((
                    format!("{at}.polygon[{i}]"),
                    format!("[{x}, {y}] is outside the frame: coordinates are normalised to 0..1"),
                ));
            }
        }
        out
    }
}

/// Every problem of a camera's privacy masks (count, names, polygons), each
/// with its field path (`spec.privacy_masks[i]...`).
pub fn privacy_mask_problems(masks: &[PrivacyMask]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if masks.len() > MAX_PRIVACY_MASKS {
        out.push((
            "spec.privacy_masks".into(),
            format!(
                "at most {MAX_PRIVACY_MASKS} masks per camera, got {}",
                masks.len()
            ),
        ));
    }
    for (i, m) in masks.iter().enumerate() {
        let at = format!("spec.privacy_masks[{i}]");
        out.extend(m.problems(&at));
        if let Some(j) = masks[..i].iter().position(|o| o.name == m.name) {
            out.push((
                format!("{at}.name"),
                format!(
                    "{:?} is already the name of spec.privacy_masks[{j}]",
                    m.name
                ),
            ));
        }
    }
    out
}

/// One place a camera stood, with the dates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationRecord {
    /// Where.
    pub location: LatLon,
    /// Since when.
    pub from: Timestamp,
    /// Until when; none for the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

/// What the controller knows about a camera beyond its spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CameraStatus {
    /// Life-cycle state.
    #[serde(default)]
    pub state: CameraState,
    /// When the state last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_since: Option<Timestamp>,
    /// Why it last changed, when the controller changed it by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every location with dates, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub location_history: Vec<LocationRecord>,
    /// Set when an active camera delivered no video for 7 days (the policy forbids
    /// dummy cameras): since when it is flagged non-operational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_operational_since: Option<Timestamp>,
    /// The gateways that recorded it before its `spec.agent` changed, oldest
    /// first (at most [`MAX_FORMER_AGENTS`]): its recordings there still age
    /// out there, so its legal holds reach them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub former_agents: Vec<String>,
}

/// The most former gateways a camera's status remembers (a camera moves
/// between gateways rarely; the oldest is forgotten first).
pub const MAX_FORMER_AGENTS: usize = 8;

/// `former` after a camera moved from `from` to another gateway: `from` last,
/// once, the oldest dropped past [`MAX_FORMER_AGENTS`].
pub fn with_former_agent(mut former: Vec<String>, from: &str) -> Vec<String> {
    former.retain(|a| a != from);
    former.push(from.to_string());
    let over = former.len().saturating_sub(MAX_FORMER_AGENTS);
    former.drain(..over);
    former
}

/// A role of the governance spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Information Services.
    Admin,
    /// Placement checks, GIS layers and rules.
    Engineer,
    /// Submits and recommends placement requests for a department.
    DeptManager,
    /// Chief of Police or designee.
    Chief,
    /// Approves placement requests.
    CityManager,
    /// Queries ALPR data with a case number.
    AlprOperator,
    /// Approves ALPR queries that need approval.
    Supervisor,
    /// Reads the audit log.
    Auditor,
    /// Views video of their department's cameras.
    Viewer,
    /// The city clerk: records complaints, their appeals and the City
    /// Council's decisions on them.
    CityClerk,
    /// The Public Information Officer: reviews and decides external requests
    /// to release records.
    Pio,
    /// The City Attorney's Office: advises on requests to release records.
    CityAttorney,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 12] = [
        Role::Admin,
        Role::Engineer,
        Role::DeptManager,
        Role::Chief,
        Role::CityManager,
        Role::AlprOperator,
        Role::Supervisor,
        Role::Auditor,
        Role::Viewer,
        Role::CityClerk,
        Role::Pio,
        Role::CityAttorney,
    ];

    /// The role's name as written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Engineer => "engineer",
            Role::DeptManager => "dept_manager",
            Role::Chief => "chief",
            Role::CityManager => "city_manager",
            Role::AlprOperator => "alpr_operator",
            Role::Supervisor => "supervisor",
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
            Role::CityClerk => "city_clerk",
            Role::Pio => "pio",
            Role::CityAttorney => "city_attorney",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person who signs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSpec {
    /// Full name.
    #[serde(default)]
    pub display_name: String,
    /// Department.
    #[serde(default)]
    pub department: String,
    /// Roles held.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// When department training was completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_at: Option<Timestamp>,
    /// Until when state-system certification is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certified_until: Option<Timestamp>,
    /// The policy version acknowledged in writing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// A disabled user cannot sign in.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
}

/// The kind of a placement request's camera.
pub type RequestKind = CameraKind;

/// A placement request: everything the placement spec's request holds, plus the
/// paperwork of the approval chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementRequestSpec {
    /// Where.
    pub location: LatLon,
    /// Indoor or outdoor.
    #[serde(default)]
    pub mount: Mount,
    /// Room, required indoors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<Room>,
    /// Category or use.
    pub purpose: Purpose,
    /// Covert camera.
    #[serde(default, skip_serializing_if = "is_false")]
    pub covert: bool,
    /// Where it would look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<View>,
    /// Special-event window, for temporary cameras.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary: Option<SpecialEvent>,
    /// Why the camera is needed.
    pub justification: String,
    /// Who pays.
    pub funding_source: String,
    /// The requesting department.
    pub department: String,
    /// Fixed, mobile or temporary.
    pub kind: CameraKind,
    /// The camera this request covers, once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
}

/// Where a placement request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for the department manager.
    #[default]
    Submitted,
    /// The department manager recommended it; waiting for Chief of Police / IS.
    DeptRecommended,
    /// Reviewed by Chief of Police and/or Information Services; waiting for the City Manager.
    Reviewed,
    /// Approved by the City Manager.
    Approved,
    /// Denied by the City Manager.
    Denied,
    /// Rejected at a review step.
    Rejected,
}

/// One step of the approval chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalStep {
    /// recommend, reject, approve, deny, override.
    pub action: String,
    /// The role acted as.
    pub role: Role,
    /// Who.
    pub actor: String,
    /// When.
    pub at: Timestamp,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// For an override: the placement verdict it justified. It justifies that
    /// verdict only: a request checked again (a streets layer loaded since)
    /// whose verdict changed needs an override of the new one. (Overrides
    /// recorded before this was kept name none.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrode: Option<String>,
}

/// The controller's record of a placement request's progress.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PlacementRequestStatus {
    /// Where it stands.
    #[serde(default)]
    pub state: RequestState,
    /// Who submitted it.
    #[serde(default)]
    pub submitted_by: String,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<Timestamp>,
    /// Every step taken, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<ApprovalStep>,
    /// The placement verdict at submission (the placement spec's answer, as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<serde_json::Value>,
}

/// Every kind of object the controller stores and `camplane apply` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A site.
    Site,
    /// A department.
    Department,
    /// A camera.
    Camera,
    /// A placement request.
    PlacementRequest,
    /// A user.
    User,
    /// An agent (site gateway).
    Agent,
    /// A legal hold (created with `camplane hold create`, not applied).
    LegalHold,
    /// A department's fee schedule for copies of its video (named after the department).
    FeeSchedule,
}

impl Kind {
    /// Every kind, in the order objects are applied (dependencies first).
    pub const ALL: [Kind; 8] = [
        Kind::Department,
        Kind::FeeSchedule,
        Kind::Site,
        Kind::Agent,
        Kind::LegalHold,
        Kind::User,
        Kind::PlacementRequest,
        Kind::Camera,
    ];

    /// The name used in manifests (`kind: Camera`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Site => "Site",
            Kind::Department => "Department",
            Kind::Camera => "Camera",
            Kind::PlacementRequest => "PlacementRequest",
            Kind::User => "User",
            Kind::Agent => "Agent",
            Kind::LegalHold => "LegalHold",
            Kind::FeeSchedule => "FeeSchedule",
        }
    }

    /// Parses a kind, case-insensitively, accepting plurals and short names as
    /// `camplane get` does (`cameras`, `camera`, `cam`, `requests`).
    pub fn parse(s: &str) -> Option<Kind> {
        let l = s.to_ascii_lowercase();
        Some(match l.as_str() {
            "site" | "sites" => Kind::Site,
            "department" | "departments" | "dept" | "depts" => Kind::Department,
            "camera" | "cameras" | "cam" | "cams" => Kind::Camera,
            "placementrequest" | "placementrequests" | "request" | "requests" | "req" => {
                Kind::PlacementRequest
            }
            "user" | "users" => Kind::User,
            "agent" | "agents" | "gateway" | "gateways" => Kind::Agent,
            "legalhold" | "legalholds" | "hold" | "holds" => Kind::LegalHold,
            "feeschedule" | "feeschedules" | "fees" | "fee" => Kind::FeeSchedule,
            _ => return None,
        })
    }

    /// The store key prefix of the kind.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Site => "objects/sites/",
            Kind::Department => "objects/departments/",
            Kind::Camera => "objects/cameras/",
            Kind::PlacementRequest => "objects/requests/",
            Kind::User => "objects/users/",
            Kind::Agent => "objects/agents/",
            Kind::LegalHold => "objects/holds/",
            Kind::FeeSchedule => "objects/fee-schedules/",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name is 1-63 characters of lower-case letters, digits, '-', '_' and '.',
/// starting with a letter or digit (it becomes a store key and a file name).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// An agent: the gateway of a site, which records its cameras.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// The site it serves.
    pub site: String,
}

/// What the controller knows about an agent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentStatus {
    /// When it enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_at: Option<Timestamp>,
    /// Serial number of its current certificate (hex).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_serial: String,
    /// When its certificate expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires: Option<Timestamp>,
    /// A revoked agent is refused.
    #[serde(default, skip_serializing_if = "is_false")]
    pub revoked: bool,
}

/// One camera as an agent must run it (derived from the controller's objects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCamera {
    /// Camera name.
    pub id: String,
    /// Main stream URL.
    pub main_url: String,
    /// Sub stream URL (the camera's `streams.sub`): the agent keeps it for live
    /// view; recording and plate reading use the main stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_url: Option<String>,
    /// Record video.
    pub recording: bool,
    /// Days to keep recordings.
    pub retention_days: u32,
    /// Run ALPR.
    pub alpr: bool,
    /// Frames read per second (the camera spec's `alpr_fps`); none: the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpr_fps: Option<f64>,
    /// Where it stands (a mobile reader: its base; reads take the GPS position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LatLon>,
    /// A mobile reader: reads are located by the gateway's GPS (gpsd).
    #[serde(default, skip_serializing_if = "is_false")]
    pub mobile: bool,
}

/// The whole desired config of one agent.
///
/// `R` is a hold's reason: the controller writes it as [`HoldReason`] (the
/// default, closed: user input naming another reason is refused); an agent
/// reads it as [`PushedHoldReason`], so that a reason a newer controller added
/// does not make the whole config unreadable (retention never reads the reason,
/// and a hold of any reason holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDesired<R = HoldReason> {
    /// The agent.
    pub agent: String,
    /// Its site.
    pub site: String,
    /// Active cameras assigned to it.
    pub cameras: Vec<AgentCamera>,
    /// Legal holds on its cameras: covered recordings are kept past retention.
    #[serde(default = "Vec::new")]
    pub holds: Vec<LegalHoldSpec<R>>,
}

// By hand: a derived Default would ask `R: Default`, and no reason is a default.
impl<R> Default for AgentDesired<R> {
    fn default() -> Self {
        AgentDesired {
            agent: String::new(),
            site: String::new(),
            cameras: Vec::new(),
            holds: Vec::new(),
        }
    }
}

/// Why a legal hold was placed (governance: who may place which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// The Chief of Police, for a criminal investigation.
    CriminalInvestigation,
    /// The Chief of Police, for a court proceeding.
    Court,
    /// The City Manager, for another bona fide use.
    CityManagerApproved,
    /// Placed by an external request to release records while it is open (its
    /// id is the hold's case number): the video cannot be erased while the
    /// request waits. It ends when the request is closed, never by hand.
    RecordsRequest,
}

/// A hold's reason as an agent reads it from its pushed config: a reason this
/// build knows, or one it does not (a newer controller's), kept as sent. Either
/// way the hold holds: retention never reads the reason. Only the agent's
/// reading is this lenient; the controller's input stays [`HoldReason`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PushedHoldReason {
    /// A reason this build knows.
    Known(HoldReason),
    /// A reason this build does not know, as the controller sent it.
    Unknown(String),
}

impl From<HoldReason> for PushedHoldReason {
    fn from(r: HoldReason) -> Self {
        PushedHoldReason::Known(r)
    }
}

/// A legal hold: recordings and reads of these cameras in `[from, until]` are
/// kept past retention until the hold is released. `R` is its reason: see
/// [`AgentDesired`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalHoldSpec<R = HoldReason> {
    /// The case.
    pub case_number: String,
    /// The cameras.
    pub cameras: Vec<String>,
    /// Start of the held range.
    pub from: Timestamp,
    /// End of the held range, inclusive: the last instant named is kept too.
    pub until: Timestamp,
    /// Why.
    pub reason: R,
}

impl<R> LegalHoldSpec<R> {
    /// Whether this hold covers what `camera` recorded over `[start, end)`; a
    /// zero-length record (`end <= start`, e.g. a plate read) sits at `start`.
    ///
    /// The one rule for controller and agent alike. Both ends of the hold are
    /// inclusive so that a hold never loses the last instant it names: keeping
    /// one segment too many is harmless, deleting held evidence is not.
    pub fn covers(&self, camera: &str, start: Timestamp, end: Timestamp) -> bool {
        let reaches_from = if end > start {
            end > self.from
        } else {
            start >= self.from
        };
        start <= self.until && reaches_from && self.cameras.iter().any(|c| c == camera)
    }
}

impl<R: KeepsPlateData> LegalHoldSpec<R> {
    /// Whether it keeps plate data (reads, alerts, plate texts in the audit
    /// log) of `camera` at `t` past 30 days: [`HoldReason::keeps_plate_data`]
    /// and [`LegalHoldSpec::covers`].
    pub fn covers_plate_data(&self, camera: &str, t: Timestamp) -> bool {
        self.reason.keeps_plate_data() && self.covers(camera, t, t)
    }
}

/// A hold's reason, as far as plate data go.
pub trait KeepsPlateData {
    /// Whether a hold for this reason keeps plate data past 30 days.
    fn keeps_plate_data(&self) -> bool;
}

impl KeepsPlateData for HoldReason {
    fn keeps_plate_data(&self) -> bool {
        HoldReason::keeps_plate_data(*self)
    }
}

impl KeepsPlateData for PushedHoldReason {
    /// A reason this build does not know keeps them: an agent older than its
    /// controller errs on the side of the hold.
    fn keeps_plate_data(&self) -> bool {
        match self {
            PushedHoldReason::Known(r) => r.keeps_plate_data(),
            PushedHoldReason::Unknown(_) => true,
        }
    }
}

impl HoldReason {
    /// Whether a hold for this reason keeps plate data past 30 days. The ALPR
    /// program (seed, "Data collected by the ALPR system shall be retained for
    /// a period to not exceed 30 days, unless the data has been identified as
    /// part of a criminal investigation") is narrower than the video rule
    /// (policy 5.05: "criminal investigation or court proceedings … or other
    /// bona fide use"): the chief's holds (a criminal investigation, or the
    /// court proceedings of one) keep it; the City Manager's holds for other
    /// uses and records requests keep video only.
    pub fn keeps_plate_data(self) -> bool {
        match self {
            HoldReason::CriminalInvestigation | HoldReason::Court => true,
            HoldReason::CityManagerApproved | HoldReason::RecordsRequest => false,
        }
    }
}

/// Who placed and released a hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LegalHoldStatus {
    /// Who placed it.
    #[serde(default)]
    pub placed_by: String,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_at: Option<Timestamp>,
    /// Who released it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
    /// When; a released hold no longer protects anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<Timestamp>,
}

/// A search of an agent's plate reads, as the controller sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadQuery {
    /// Exact plate, or a pattern with `?` (one character) and `*` (any run).
    pub plate: String,
    /// From (inclusive).
    pub from: Timestamp,
    /// Until (exclusive).
    pub until: Timestamp,
    /// Most reads to return.
    pub limit: usize,
}

impl ReadQuery {
    /// Whether the query names a pattern rather than one plate.
    pub fn is_pattern(&self) -> bool {
        self.plate.contains(['?', '*'])
    }
}

/// Whether `plate` matches `pattern` (`?` one character, `*` any run); a
/// pattern without `?` or `*` matches only itself.
pub fn plate_matches(pattern: &str, plate: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), plate.as_bytes())
}

// ---------- recordings and crops asked of an agent ----------

/// The segments of one camera overlapping `[from, until)`, asked of its agent
/// (control-stream query kind `segments`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentsQuery {
    /// The camera.
    pub camera: String,
    /// From (inclusive).
    pub from: Timestamp,
    /// Until (exclusive).
    pub until: Timestamp,
}

/// One recorded segment as the agent's index knows it (hashes hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Per-camera sequence number.
    pub seq: u64,
    /// File name in the camera's directory.
    pub name: String,
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, written when the segment was closed.
    pub sha256: String,
    /// SHA-256 of the camera's previous segment (the index's chain; zeros for the first).
    pub prev_sha256: String,
}

/// Bytes of one segment (control-stream query kind `segment_chunk`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentChunkQuery {
    /// The camera.
    pub camera: String,
    /// The segment's sequence number.
    pub seq: u64,
    /// Offset of the first byte.
    pub offset: u64,
    /// Most bytes to return (the agent caps it at [`MAX_CHUNK`]).
    pub len: u64,
    /// A masked export: the bytes of the segment re-encoded at the agent with
    /// these privacy masks burned in (made when offset 0 is asked, after the
    /// original is checked against its index hash). The answer's JSON names
    /// the masked file ([`MaskedSegment`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masks: Vec<PrivacyMask>,
}

/// A segment re-encoded with privacy masks for a masked export, as the agent
/// names it in a masked `segment_chunk` answer at offset 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedSegment {
    /// The masked file's name (`{original stem}-masked.ts`).
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// The original's SHA-256 (hex), checked against the index before masking.
    pub original_sha256: String,
}

/// Most bytes one `segment_chunk` answer carries.
pub const MAX_CHUNK: u64 = 1 << 20;

/// How long an agent keeps a playback whose next chunk nobody asks for (the
/// viewer went away, the controller died); a paused viewer's controller keeps
/// it open with a `keep` ask well within it.
pub const PLAYBACK_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// The next chunk of a recorded range remuxed to fragmented MP4 (control-stream
/// query kind `playback`). The agent keeps one remux per `session`: chunk 0
/// starts it, each later chunk continues it (the last one may be asked again),
/// an empty answer ends it, and `close` stops it early.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaybackQuery {
    /// The viewing session's id (chosen by the controller).
    pub session: String,
    /// Who watches (the controller's user name): the agent lets one viewer hold
    /// only a few of its playback slots at once. Empty from a controller that
    /// predates it: then only the gateway's own cap applies.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub viewer: String,
    /// The camera.
    pub camera: String,
    /// From (inclusive; the picture starts at the keyframe at or before it).
    pub from: Timestamp,
    /// Until (exclusive).
    pub until: Timestamp,
    /// Which chunk, counted from 0.
    pub chunk: u64,
    /// Stop the remux and forget the session.
    #[serde(default)]
    pub close: bool,
    /// Only keep the session open (its viewer paused, the controller pulls
    /// nothing): the agent's idle clock starts again; no chunk is read.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep: bool,
    /// Privacy masks to burn in (decoded, filled black, encoded again with
    /// libx264); none: remuxed as recorded. The controller sends the camera's
    /// masks unless the viewer holds a current lift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masks: Vec<PrivacyMask>,
}

/// Open a live stream of a camera (control-stream query kind `live_open`).
/// The agent answers at once (or says why not: no picture now, not H.264, a
/// masked stream it cannot make), then sends the video on a separate call,
/// `Fleet.Media`, whose first message names `stream`. The controller ends the
/// stream by ending that call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveOpenQuery {
    /// The stream's id (chosen by the controller; the media call names it).
    pub stream: String,
    /// The camera.
    pub camera: String,
    /// Burn the camera's privacy masks in (`masks` then holds them).
    #[serde(default)]
    pub masked: bool,
    /// The privacy masks to burn in (decoded, filled black, encoded again
    /// with libx264), as [`PlaybackQuery::masks`]; none when not `masked`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masks: Vec<PrivacyMask>,
}

/// One read's JPEG crop (control-stream query kind `crop`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CropQuery {
    /// The read's id, as a search returned it.
    pub read_id: String,
}

#[cfg(test)]
mod hold_tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn hold() -> LegalHoldSpec {
        LegalHoldSpec {
            case_number: "25-01234".into(),
            cameras: vec!["c1".into()],
            from: t("2025-01-01T00:00:00Z"),
            until: t("2025-01-02T00:00:00Z"),
            reason: HoldReason::Court,
        }
    }

    /// A reason a newer controller added: the agent's reading keeps the
    /// hold (and the reason as sent); the controller's reading refuses it.
    #[test]
    fn an_unknown_reason_is_read_by_agents_and_refused_by_the_controller() {
        let json = serde_json::json!({
            "agent": "gw", "site": "hq", "cameras": [],
            "holds": [
                {"case_number": "25-01234", "cameras": ["c1"], "from": "2025-01-01T00:00:00Z",
                 "until": "2025-01-02T00:00:00Z", "reason": "something_new"},
                {"case_number": "25-01235", "cameras": ["c1"], "from": "2025-01-01T00:00:00Z",
                 "until": "2025-01-02T00:00:00Z", "reason": "court"},
            ],
        });
        let d: AgentDesired<PushedHoldReason> = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(
            d.holds[0].reason,
            PushedHoldReason::Unknown("something_new".into())
        );
        assert_eq!(d.holds[1].reason, HoldReason::Court.into());
        assert!(d.holds[0].covers("c1", t("2025-01-01T10:00:00Z"), t("2025-01-01T11:00:00Z")));
        // Written back as it came (the agent persists what it runs).
        assert_eq!(serde_json::to_value(&d).unwrap()["holds"], json["holds"]);
        // The controller's own reading stays closed.
        let e = serde_json::from_value::<AgentDesired>(json.clone()).unwrap_err();
        assert!(e.to_string().contains("something_new"), "{e}");
        let e = serde_json::from_value::<LegalHoldSpec>(json["holds"][0].clone()).unwrap_err();
        assert!(e.to_string().contains("unknown variant"), "{e}");
        // A reason that is no string at all is still refused.
        let mut bad = json;
        bad["holds"][0]["reason"] = serde_json::json!(7);
        assert!(serde_json::from_value::<AgentDesired<PushedHoldReason>>(bad).is_err());
    }

    #[test]
    fn instants_at_both_edges_are_held() {
        let h = hold();
        let at = |s: &str| h.covers("c1", t(s), t(s));
        assert!(!at("2024-12-31T23:59:59.999Z"), "just before from");
        assert!(at("2025-01-01T00:00:00Z"), "exactly at from");
        assert!(at("2025-01-01T12:00:00Z"), "inside");
        assert!(at("2025-01-02T00:00:00Z"), "exactly at until");
        assert!(!at("2025-01-02T00:00:00.001Z"), "just after until");
    }

    #[test]
    fn segments_touching_or_straddling_an_edge() {
        let h = hold();
        let seg = |a: &str, b: &str| h.covers("c1", t(a), t(b));
        // Straddling from, and ending exactly at from (its instants are all before it).
        assert!(seg("2024-12-31T23:59:00Z", "2025-01-01T00:01:00Z"));
        assert!(!seg("2024-12-31T23:59:00Z", "2025-01-01T00:00:00Z"));
        // Starting exactly at from, straddling until, starting exactly at until.
        assert!(seg("2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z"));
        assert!(seg("2025-01-01T23:59:00Z", "2025-01-02T00:01:00Z"));
        assert!(seg("2025-01-02T00:00:00Z", "2025-01-02T00:01:00Z"));
        // Starting just after until.
        assert!(!seg("2025-01-02T00:00:00.001Z", "2025-01-02T00:01:00Z"));
        // Another camera is never covered.
        assert!(!h.covers("c2", t("2025-01-01T10:00:00Z"), t("2025-01-01T10:01:00Z")));
    }
}

#[cfg(test)]
mod former_agent_tests {
    use super::*;

    #[test]
    fn former_agents_keep_the_latest_move_once_and_are_bounded() {
        let f = with_former_agent(vec![], "a");
        assert_eq!(f, ["a"]);
        let f = with_former_agent(with_former_agent(f, "b"), "a");
        assert_eq!(f, ["b", "a"], "a moved away twice: once, last");
        let mut f = f;
        for i in 0..20 {
            f = with_former_agent(f, &format!("g{i}"));
        }
        assert_eq!(f.len(), MAX_FORMER_AGENTS);
        assert_eq!(f.last().unwrap(), "g19");
    }
}
