//! The controller's config file (`camplane-controller --config FILE`).

use crate::{from_yaml_strict, locate, Error, Problem, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The default of `console_max_connections`.
pub const DEFAULT_CONSOLE_CONNECTIONS: usize = 1024;
/// The largest `console_max_connections` (a descriptor each, and the usual
/// per-process limit is far below).
pub const MAX_CONSOLE_CONNECTIONS: usize = 65_536;

fn default_console_max_connections() -> usize {
    DEFAULT_CONSOLE_CONNECTIONS
}

fn is_default_console_max_connections(n: &usize) -> bool {
    *n == DEFAULT_CONSOLE_CONNECTIONS
}

/// The whole controller config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerConfig {
    /// The city's settings.
    pub city: CitySettings,
    /// gRPC listen address.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where state is kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// Sign-in settings.
    #[serde(default)]
    pub auth: AuthConfig,
    /// TLS for users and agents (agents always use mutual TLS).
    #[serde(default)]
    pub tls: TlsSettings,
    /// Plain-HTTP listen address of the public transparency portal (`/public/`,
    /// read-only, no sign-in), e.g. `127.0.0.1:7180`; none serves no portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_listen: Option<String>,
    /// HTTPS listen address of the operator console (`/console/`: sign-in,
    /// cameras, placement requests), e.g. `127.0.0.1:7443`; none serves no
    /// console. Served with the gRPC listener's certificate, so TLS must be on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_listen: Option<String>,
    /// Most console connections open at once (TLS handshakes included); one
    /// more is closed as it arrives. A client that opens connections and sends
    /// nothing then holds at most these, not every descriptor the controller
    /// has (its gRPC door, agents and store share them). A city's operators
    /// hold a few each (pages, a live view, the alert stream).
    #[serde(
        default = "default_console_max_connections",
        skip_serializing_if = "is_default_console_max_connections"
    )]
    pub console_max_connections: usize,
    /// Most connections to the public portal (`http_listen`) open at once, as
    /// `console_max_connections` for the console: the portal needs no sign-in.
    #[serde(
        default = "default_console_max_connections",
        skip_serializing_if = "is_default_console_max_connections"
    )]
    pub http_max_connections: usize,
    /// ALPR governance settings (verified agencies).
    #[serde(default, skip_serializing_if = "AlprSettings::is_empty")]
    pub alpr: AlprSettings,
    /// Recording export settings (none left: see [`ExportSettings`]).
    #[serde(default, skip_serializing_if = "ExportSettings::is_empty")]
    pub exports: ExportSettings,
    /// How an approved placement binds the camera that is installed.
    #[serde(default, skip_serializing_if = "PlacementSettings::is_default")]
    pub placement: PlacementSettings,
    /// Bounds on hotlist uploads.
    #[serde(default, skip_serializing_if = "HotlistSettings::is_default")]
    pub hotlists: HotlistSettings,
    /// The public log's settings (the grounds for keeping a reader confidential).
    #[serde(default, skip_serializing_if = "PublogSettings::is_default")]
    pub publog: PublogSettings,
    /// How the other controllers (on etcd) reach this one.
    #[serde(default, skip_serializing_if = "ClusterSettings::is_default")]
    pub cluster: ClusterSettings,
    /// External requests to release records (policy 5.05: the Public
    /// Information Officer reviews them, with the City Attorney's advice).
    #[serde(default, skip_serializing_if = "RecordsSettings::is_default")]
    pub records: RecordsSettings,
    /// Maintenance and testing of the cameras (policy 5.05: the department
    /// using a camera maintains and tests it).
    #[serde(default, skip_serializing_if = "MaintenanceSettings::is_default")]
    pub maintenance: MaintenanceSettings,
}

// ---------- several controllers ----------

/// How the other controllers reach this one: a query for an agent whose session
/// this controller holds is forwarded here, to the `Peer` service on the gRPC
/// listener (mutual TLS with controller peer certificates; with TLS off no
/// query is forwarded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// `host:port` the other controllers dial for this one's `listen`, e.g.
    /// `10.0.0.21:7100`. Peers check the certificate found there against the
    /// first of their `tls.server_names` (the same list on every controller).
    /// Default: the listen address as bound (right for a routable address,
    /// not for `0.0.0.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
}

impl ClusterSettings {
    fn is_default(&self) -> bool {
        self == &ClusterSettings::default()
    }
}

/// Checks an address other controllers are to dial (`camplane-controller
/// --advertise`): `HOST:PORT`, the host an IP address (IPv6 in brackets) or a
/// DNS name, the port 1-65535. Stricter than `cluster.advertise`'s check, so
/// an argument Kubernetes left unexpanded (`$(POD_IP):7100` with no `POD_IP`
/// in the container's env) is named as such instead of being dialed.
pub fn check_advertise(a: &str) -> std::result::Result<(), String> {
    let shape = "is not HOST:PORT (such as 10.0.0.21:7100)";
    if a.contains("$(") {
        return Err(format!(
            "{a:?} holds a variable that was not expanded: in Kubernetes, define it in the \
             container's env (POD_IP from the downward API, fieldRef status.podIP)"
        ));
    }
    let Some((host, port)) = a.rsplit_once(':') else {
        return Err(format!("{a:?} {shape}"));
    };
    if !port.parse::<u16>().is_ok_and(|p| p > 0) {
        return Err(format!("{a:?} {shape}: the port is 1-65535"));
    }
    let ip6 = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    let dns = host.len() <= 253
        && host.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !(ip6 || dns || host.parse::<std::net::Ipv4Addr>().is_ok()) {
        return Err(format!(
            "{a:?} {shape}: the host is an IP address ([...] for IPv6) or a DNS name"
        ));
    }
    Ok(())
}

// ---------- public log settings ----------

/// The one ground policy 5.05 gives for keeping the list of ALPR reader
/// locations from the public (ALPR program, "Log of use required": the list
/// "shall be accessible to the public on its website, unless the agency
/// determines that the data is confidential information as provided in Iowa
/// Code 22.7"). The default of [`PublogSettings::confidential_bases`].
pub const DEFAULT_CONFIDENTIAL_BASIS: &str = "iowa-code-22.7";

/// The longest basis code.
pub const BASIS_MAX_CHARS: usize = 48;

/// Days a records request may wait for its decision unless the config says
/// otherwise. Iowa Code chapter 22 sets no fixed number of days for answering;
/// §22.8(4)(d) allows a good-faith delay to examine whether records are
/// confidential of at most twenty calendar days, so that outer limit is the
/// default deadline. The city sets its own in `records.response_days`.
pub const DEFAULT_RESPONSE_DAYS: u32 = 20;

/// Requests to release records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsSettings {
    /// Calendar days from a request's receipt to its statutory deadline for a
    /// decision (1..=365; default [`DEFAULT_RESPONSE_DAYS`]).
    #[serde(default = "default_response_days")]
    pub response_days: u32,
}

fn default_response_days() -> u32 {
    DEFAULT_RESPONSE_DAYS
}

impl Default for RecordsSettings {
    fn default() -> Self {
        RecordsSettings {
            response_days: DEFAULT_RESPONSE_DAYS,
        }
    }
}

impl RecordsSettings {
    fn is_default(&self) -> bool {
        *self == RecordsSettings::default()
    }
}

/// Days between a camera's tests unless the config says otherwise.
pub const DEFAULT_TEST_INTERVAL_DAYS: u32 = 90;

/// Maintenance and testing of the cameras.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSettings {
    /// Days after a camera's last passed test (or its activation) before its
    /// next test is overdue (1..=3650; default [`DEFAULT_TEST_INTERVAL_DAYS`]).
    #[serde(default = "default_test_interval_days")]
    pub test_interval_days: u32,
}

fn default_test_interval_days() -> u32 {
    DEFAULT_TEST_INTERVAL_DAYS
}

impl Default for MaintenanceSettings {
    fn default() -> Self {
        MaintenanceSettings {
            test_interval_days: DEFAULT_TEST_INTERVAL_DAYS,
        }
    }
}

impl MaintenanceSettings {
    fn is_default(&self) -> bool {
        *self == MaintenanceSettings::default()
    }
}

/// The public log's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublogSettings {
    /// The codes a reader's `confidential_basis` may name: lower-case letters,
    /// digits, `.`, `_` and `-`, at most 48. Default `[iowa-code-22.7]` (see
    /// [`DEFAULT_CONFIDENTIAL_BASIS`]); a city adds the codes its attorney
    /// uses (one per subsection of Iowa Code 22.7 it relies on, say).
    #[serde(default = "default_confidential_bases")]
    pub confidential_bases: Vec<String>,
}

fn default_confidential_bases() -> Vec<String> {
    vec![DEFAULT_CONFIDENTIAL_BASIS.into()]
}

impl Default for PublogSettings {
    fn default() -> Self {
        PublogSettings {
            confidential_bases: default_confidential_bases(),
        }
    }
}

impl PublogSettings {
    fn is_default(&self) -> bool {
        *self == PublogSettings::default()
    }
}

/// Whether `code` is a well-formed basis code.
pub fn valid_basis_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= BASIS_MAX_CHARS
        && code.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

// ---------- hotlist settings ----------

/// The largest hotlist file the controller takes, streamed in chunks (bytes):
/// `camplane_proto::limits::HOTLIST_MAX_FILE`,
/// which this crate does not link; the controller's tests hold the two equal.
pub const HOTLIST_WIRE_MAX_FILE: u64 = 64 << 20;

/// Bounds on what one hotlist load may hold; a larger file is refused naming
/// the file and the limit, before its rows are checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotlistSettings {
    /// Largest file (bytes); at most the wire's 64 MiB. Default 64 MiB: a
    /// state-wide NCIC extract of a few hundred thousand plates is a few MB.
    #[serde(default = "default_hotlist_bytes")]
    pub max_file_bytes: u64,
    /// Most rows (entries) in one file. Default 1,000,000.
    #[serde(default = "default_hotlist_entries")]
    pub max_entries: u64,
}

fn default_hotlist_bytes() -> u64 {
    HOTLIST_WIRE_MAX_FILE
}
fn default_hotlist_entries() -> u64 {
    1_000_000
}

impl Default for HotlistSettings {
    fn default() -> Self {
        HotlistSettings {
            max_file_bytes: default_hotlist_bytes(),
            max_entries: default_hotlist_entries(),
        }
    }
}

impl HotlistSettings {
    fn is_default(&self) -> bool {
        *self == HotlistSettings::default()
    }
}

// ---------- placement settings ----------

/// How an approved placement request binds its camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementSettings {
    /// How far (metres) an activated or edited camera may stand from the
    /// location its request approved; farther is a relocation, which needs a
    /// new request. Default 10 m: the spread of a phone's GPS fix on a street,
    /// about the width of a lot.
    #[serde(default = "default_binding_tolerance")]
    pub binding_tolerance_m: f64,
    /// The most positions one GIS feature may have (all its rings or lines).
    /// Default 100,000: the largest feature of the real layers in
    /// `shared/data/gis` has 345 (a Vračar residential block), and a city's
    /// largest park or river outline has a few thousand; the checks are
    /// near-linear, so 100,000 costs well under a second.
    #[serde(default = "default_max_vertices")]
    pub max_vertices_per_feature: usize,
    /// The most features one layer may have (all its files together).
    /// Default 1,000,000: the largest real layer has 4,411 (Vračar's streets,
    /// a 3 km² district); a whole city is about 100 times that, with room to spare.
    #[serde(default = "default_max_features")]
    pub max_features_per_layer: usize,
    /// The most bytes one layer may have (all its files together), counted
    /// as the upload arrives. Default 256 MiB: the largest real layer is
    /// 3.2 MB (Vračar's streets), so 80 times that; it is also the message
    /// size the controller accepted before layers were uploaded in chunks.
    #[serde(default = "default_max_layer_bytes")]
    pub max_layer_bytes: u64,
}

fn default_binding_tolerance() -> f64 {
    10.0
}

fn default_max_vertices() -> usize {
    100_000
}

fn default_max_features() -> usize {
    1_000_000
}

fn default_max_layer_bytes() -> u64 {
    256 << 20
}

impl Default for PlacementSettings {
    fn default() -> Self {
        PlacementSettings {
            binding_tolerance_m: default_binding_tolerance(),
            max_vertices_per_feature: default_max_vertices(),
            max_features_per_layer: default_max_features(),
            max_layer_bytes: default_max_layer_bytes(),
        }
    }
}

impl PlacementSettings {
    fn is_default(&self) -> bool {
        *self == PlacementSettings::default()
    }
}

// ---------- export settings ----------

/// Recording export settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSettings {
    /// Removed: a config that sets it is refused with [`ALLOWED_DIR_REMOVED`].
    /// Kept as a field only so that the refusal can name the key and say why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_dir: Option<PathBuf>,
}

/// Why `exports.allowed_dir` is refused. The export's files are written by the
/// client on its own machine; the controller only saw a path the client
/// declared, so checking it controlled nothing. What controls a copy is on the
/// controller: the chief's copy authorization, the named recipient, the audit
/// entry and the signed manifest.
pub const ALLOWED_DIR_REMOVED: &str = "removed: the controller cannot see where a client writes an export, so a check of the path the client declares is not a control; copies need the chief's copy authorization (camplane recordings authorize --copy) and name their recipient, both audited and in the signed manifest; delete this key";

impl ExportSettings {
    fn is_empty(&self) -> bool {
        self.allowed_dir.is_none()
    }
}

// ---------- governance: ALPR settings ----------

/// ALPR governance settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlprSettings {
    /// Agencies ALPR data may be shared with (queries made for them still wait
    /// for a supervisor's approval); names as the agreements spell them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified_agencies: Vec<String>,
}

impl AlprSettings {
    fn is_empty(&self) -> bool {
        self.verified_agencies.is_empty()
    }
}

// ---------- end governance: ALPR settings ----------

/// TLS settings. The controller's own CA (kept in the store) signs its server
/// certificate and every agent's certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsSettings {
    /// Serve TLS (turn off only for local experiments: agents cannot enrol then).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// DNS names and IP addresses the server certificate is valid for.
    #[serde(default = "default_names")]
    pub server_names: Vec<String>,
    /// Where to write the CA certificate for users' CLIs and agents (`--ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_file: Option<PathBuf>,
    /// Days an agent certificate is valid; agents renew at two thirds of it.
    #[serde(default = "default_cert_days")]
    pub agent_cert_days: i64,
}

fn default_true() -> bool {
    true
}
fn default_names() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}
fn default_cert_days() -> i64 {
    30
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            enabled: true,
            server_names: default_names(),
            ca_cert_file: None,
            agent_cert_days: default_cert_days(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:7100".into()
}

/// The city's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CitySettings {
    /// The city's name, shown on public pages.
    pub name: String,
    /// IANA time zone, e.g. `America/Chicago`.
    pub time_zone: String,
    /// Regular expression every case number must match.
    #[serde(default = "default_case_format")]
    pub case_number_format: String,
    /// The version of the camera policy users must acknowledge.
    #[serde(default = "default_policy_version")]
    pub policy_version: String,
    /// The policy's text (a file): `camplane policy acknowledge` shows its
    /// SHA-256 beside the version. Unset: nobody can acknowledge the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_file: Option<PathBuf>,
}

fn default_case_format() -> String {
    r"^\d{2}-\d{5,6}$".into()
}
fn default_policy_version() -> String {
    "AP-5.05-2023-08-07".into()
}

/// Where state is kept: exactly one of the two stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreConfig {
    /// The embedded on-disk store (one machine, nothing to install).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<EmbeddedStoreConfig>,
    /// An etcd cluster (several controllers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdStoreConfig>,
}

/// The embedded on-disk store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedStoreConfig {
    /// Directory of the store's files.
    pub path: PathBuf,
}

/// An etcd cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EtcdStoreConfig {
    /// Client URLs, e.g. `http://127.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// Key prefix, so that several cities can share a cluster.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Seconds of the leader lease.
    #[serde(default = "default_lease")]
    pub lease_seconds: u64,
}

fn default_prefix() -> String {
    "/camplane".into()
}
fn default_lease() -> u64 {
    10
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            embedded: Some(EmbeddedStoreConfig {
                path: PathBuf::from("/var/lib/camplane/controller"),
            }),
            etcd: None,
        }
    }
}

/// Sign-in settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthConfig {
    /// Lifetime of a bearer token, in minutes.
    #[serde(default = "default_ttl")]
    pub token_ttl_minutes: u64,
    /// The first admin's user name.
    #[serde(default = "default_admin")]
    pub initial_admin: String,
    /// Environment variable holding the first admin's password; when unset the
    /// controller generates one and prints it once.
    #[serde(default = "default_admin_env")]
    pub initial_admin_password_env: String,
    /// The first city manager's user name, created with the first admin on a
    /// new store. Unset: a new store has no city manager, and governing grants
    /// (which the city manager confirms) stay pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_city_manager: Option<String>,
    /// Environment variable holding the first city manager's password; when
    /// unset the controller generates one (one-time) and prints it once.
    #[serde(default = "default_city_manager_env")]
    pub initial_city_manager_password_env: String,
    /// A file holding the key that seals camera credentials, kept apart from the
    /// store so that a store backup alone opens none of them. Created (0600) on
    /// first start; a key kept in the store by an earlier version is moved into
    /// it. Every controller on one store needs a copy of the same file. Unset:
    /// the key is kept in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_secrets_key_file: Option<PathBuf>,
}

fn default_ttl() -> u64 {
    480
}
fn default_admin() -> String {
    "admin".into()
}
fn default_admin_env() -> String {
    "CAMPLANE_ADMIN_PASSWORD".into()
}
fn default_city_manager_env() -> String {
    "CAMPLANE_CITY_MANAGER_PASSWORD".into()
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_ttl_minutes: default_ttl(),
            initial_admin: default_admin(),
            initial_admin_password_env: default_admin_env(),
            initial_city_manager: None,
            initial_city_manager_password_env: default_city_manager_env(),
            camera_secrets_key_file: None,
        }
    }
}

impl ControllerConfig {
    /// Sets `cluster.advertise` from `camplane-controller --advertise`, after
    /// [`check_advertise`]; the error names the flag.
    pub fn override_advertise(&mut self, a: &str) -> std::result::Result<(), String> {
        check_advertise(a).map_err(|e| format!("--advertise: {e}"))?;
        self.cluster.advertise = Some(a.to_string());
        Ok(())
    }

    /// Parses and validates config text; every problem is reported.
    pub fn parse(file: &str, text: &str) -> Result<ControllerConfig> {
        let cfg: ControllerConfig = from_yaml_strict(file, text, 0, "").map_err(Error::Invalid)?;
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: String| {
            problems.push(Problem {
                file: file.into(),
                line: locate::line_of_path(text, path).map(|l| l + 1),
                column: None,
                path: path.into(),
                message,
            })
        };
        if cfg.city.name.trim().is_empty() {
            bad("city.name", "must not be empty".into());
        }
        if jiff::tz::TimeZone::get(&cfg.city.time_zone).is_err() {
            bad(
                "city.time_zone",
                format!("unknown time zone {:?}", cfg.city.time_zone),
            );
        }
        if let Err(e) = regex::Regex::new(&cfg.city.case_number_format) {
            bad(
                "city.case_number_format",
                format!("not a valid regular expression: {e}"),
            );
        }
        let tol = cfg.placement.binding_tolerance_m;
        if !(tol.is_finite() && tol > 0.0 && tol <= 1000.0) {
            bad(
                "placement.binding_tolerance_m",
                format!("{tol} metres: must be more than 0 and at most 1000"),
            );
        }
        let h = &cfg.hotlists;
        if h.max_file_bytes == 0 || h.max_file_bytes > HOTLIST_WIRE_MAX_FILE {
            bad(
                "hotlists.max_file_bytes",
                format!(
                    "{} bytes: must be more than 0 and at most {HOTLIST_WIRE_MAX_FILE} (the wire's limit)",
                    h.max_file_bytes
                ),
            );
        }
        if h.max_entries == 0 {
            bad("hotlists.max_entries", "must be more than 0".into());
        }
        for (path, value) in [
            (
                "placement.max_vertices_per_feature",
                cfg.placement.max_vertices_per_feature as u64,
            ),
            (
                "placement.max_features_per_layer",
                cfg.placement.max_features_per_layer as u64,
            ),
            ("placement.max_layer_bytes", cfg.placement.max_layer_bytes),
        ] {
            if value == 0 {
                bad(
                    path,
                    "must be more than 0 (0 would refuse every layer)".into(),
                );
            }
        }
        if cfg.listen.parse::<std::net::SocketAddr>().is_err() {
            bad("listen", format!("{:?} is not an address:port", cfg.listen));
        }
        if let Some(a) = &cfg.cluster.advertise {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                bad("cluster.advertise", format!("{a:?} is not a host:port"));
            }
        }
        if let Some(h) = &cfg.http_listen {
            if h.parse::<std::net::SocketAddr>().is_err() {
                bad("http_listen", format!("{h:?} is not an address:port"));
            }
        }
        if !(1..=MAX_CONSOLE_CONNECTIONS).contains(&cfg.console_max_connections) {
            bad(
                "console_max_connections",
                format!(
                    "{}: from 1 to {MAX_CONSOLE_CONNECTIONS}",
                    cfg.console_max_connections
                ),
            );
        }
        if !(1..=MAX_CONSOLE_CONNECTIONS).contains(&cfg.http_max_connections) {
            bad(
                "http_max_connections",
                format!(
                    "{}: from 1 to {MAX_CONSOLE_CONNECTIONS}",
                    cfg.http_max_connections
                ),
            );
        }
        if let Some(c) = &cfg.console_listen {
            if c.parse::<std::net::SocketAddr>().is_err() {
                bad("console_listen", format!("{c:?} is not an address:port"));
            }
            // Passwords are typed into the console: never over plain HTTP.
            if !cfg.tls.enabled {
                bad(
                    "console_listen",
                    "the console is served over TLS only (passwords are sent to it): turn tls.enabled on or remove console_listen".into(),
                );
            }
        }
        match (&cfg.store.embedded, &cfg.store.etcd) {
            (Some(_), Some(_)) => bad(
                "store",
                "name one store: `embedded` or `etcd`, not both".into(),
            ),
            (None, None) => bad("store", "name one store: `embedded` or `etcd`".into()),
            _ => {}
        }
        if let Some(e) = &cfg.store.embedded {
            if e.path.as_os_str().is_empty() {
                bad("store.embedded.path", "must not be empty".into());
            }
        }
        if let Some(EtcdStoreConfig {
            endpoints,
            prefix,
            lease_seconds,
        }) = &cfg.store.etcd
        {
            if endpoints.is_empty() {
                bad(
                    "store.etcd.endpoints",
                    "at least one endpoint is needed".into(),
                );
            }
            for (i, e) in endpoints.iter().enumerate() {
                if !(e.starts_with("http://") || e.starts_with("https://")) {
                    bad(
                        &format!("store.etcd.endpoints.{i}"),
                        format!("{e:?} must start with http:// or https://"),
                    );
                }
            }
            if !prefix.starts_with('/') {
                bad("store.etcd.prefix", "must start with '/'".into());
            }
            if !(2..=120).contains(lease_seconds) {
                bad("store.etcd.lease_seconds", "must be 2..=120".into());
            }
        }
        if cfg.tls.enabled && cfg.tls.server_names.is_empty() {
            bad("tls.server_names", "at least one name is needed".into());
        }
        if !(1..=397).contains(&cfg.tls.agent_cert_days) {
            bad("tls.agent_cert_days", "must be 1..=397".into());
        }
        if !(1..=7 * 24 * 60).contains(&cfg.auth.token_ttl_minutes) {
            bad(
                "auth.token_ttl_minutes",
                "must be 1..=10080 (a week)".into(),
            );
        }
        for (i, a) in cfg.alpr.verified_agencies.iter().enumerate() {
            if a.trim().is_empty() || a.len() > 100 || a.chars().any(char::is_control) {
                bad(
                    &format!("alpr.verified_agencies.{i}"),
                    "an agency name is 1-100 printable characters".into(),
                );
            } else if cfg.alpr.verified_agencies[..i].contains(a) {
                bad(
                    &format!("alpr.verified_agencies.{i}"),
                    format!("{a:?} is listed twice"),
                );
            }
        }
        for (i, b) in cfg.publog.confidential_bases.iter().enumerate() {
            if !valid_basis_code(b) {
                bad(
                    &format!("publog.confidential_bases.{i}"),
                    format!("{:?}: a code of lower-case letters, digits, '.', '_' and '-', at most {BASIS_MAX_CHARS}", b.chars().take(BASIS_MAX_CHARS).collect::<String>()),
                );
            } else if cfg.publog.confidential_bases[..i].contains(b) {
                bad(
                    &format!("publog.confidential_bases.{i}"),
                    format!("{b:?} is listed twice"),
                );
            }
        }
        if cfg.exports.allowed_dir.is_some() {
            bad("exports.allowed_dir", ALLOWED_DIR_REMOVED.into());
        }
        if !(1..=365).contains(&cfg.records.response_days) {
            bad(
                "records.response_days",
                "must be 1..=365 (calendar days from receipt)".into(),
            );
        }
        if !(1..=3650).contains(&cfg.maintenance.test_interval_days) {
            bad(
                "maintenance.test_interval_days",
                "must be 1..=3650 (days between a camera's tests)".into(),
            );
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// Reads and validates a config file.
    pub fn load(path: &std::path::Path) -> Result<ControllerConfig> {
        let text = crate::read_file(path)?;
        Self::parse(&path.display().to_string(), &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--advertise` takes a dialable `HOST:PORT` over the config's value, and
    /// refuses anything else naming the flag (an unexpanded `$(POD_IP)` too).
    #[test]
    fn the_advertise_flag_overrides_the_config_and_is_checked() {
        let mut c = ControllerConfig::parse("c.yaml", GOOD).unwrap();
        for good in [
            "10.0.0.21:7100",
            "[fd00::1]:7100",
            "ctl-0.camplane.svc:7100",
            "localhost:1",
        ] {
            c.override_advertise(good)
                .unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(c.cluster.advertise.as_deref(), Some(good));
        }
        for bad in [
            "$(POD_IP):7100",
            "10.0.0.21",
            ":7100",
            "10.0.0.21:0",
            "10.0.0.21:70000",
            "fd00::1:7100",
            "a b:7100",
            "-x.example:7100",
            "x..example:7100",
        ] {
            let e = c.override_advertise(bad).unwrap_err();
            assert!(e.starts_with("--advertise: "), "{bad}: {e}");
            assert_eq!(
                c.cluster.advertise.as_deref(),
                Some("localhost:1"),
                "{bad} kept"
            );
        }
        let e = c.override_advertise("$(POD_IP):7100").unwrap_err();
        assert!(
            e.contains("not expanded") && e.contains("status.podIP"),
            "{e}"
        );
    }

    const GOOD: &str = "city:\n  name: Dubuque\n  time_zone: America/Chicago\nstore:\n  embedded:\n    path: /tmp/x\n";

    #[test]
    fn good_config_with_defaults() {
        let c = ControllerConfig::parse("c.yaml", GOOD).unwrap();
        assert_eq!(c.listen, "127.0.0.1:7100");
        assert_eq!(c.auth.token_ttl_minutes, 480);
    }

    #[test]
    fn every_problem_reported() {
        let t = "city:\n  name: Dubuque\n  time_zone: Mars/Olympus\n  case_number_format: '(('\n  colour: red\nlisten: nowhere\nstore:\n  etcd:\n    endpoints: [127.0.0.1:2379]\n";
        // unknown fields come first (they stop typed parsing); fix that one and see the rest
        let e = ControllerConfig::parse("c.yaml", t).unwrap_err();
        assert_eq!(e.problems()[0].path, "city.colour");
        assert_eq!(e.problems()[0].line, Some(5));
        let t = t.replace("  colour: red\n", "");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        let paths: Vec<_> = e.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "city.time_zone",
                "city.case_number_format",
                "listen",
                "store.etcd.endpoints.0"
            ]
        );
    }

    #[test]
    fn console_connections_are_bounded() {
        let c = ControllerConfig::parse("c.yaml", GOOD).unwrap();
        assert_eq!(c.console_max_connections, DEFAULT_CONSOLE_CONNECTIONS);
        let t = format!("{GOOD}console_max_connections: 0\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        assert_eq!(e.problems()[0].path, "console_max_connections");
        assert_eq!(c.http_max_connections, DEFAULT_CONSOLE_CONNECTIONS);
        let t = format!("{GOOD}http_max_connections: 100000\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        assert_eq!(e.problems()[0].path, "http_max_connections");
    }

    #[test]
    fn the_console_needs_an_address_and_tls() {
        let t = format!("{GOOD}console_listen: 127.0.0.1:7443\n");
        let c = ControllerConfig::parse("c.yaml", &t).unwrap();
        assert_eq!(c.console_listen.as_deref(), Some("127.0.0.1:7443"));
        let t = format!("{GOOD}console_listen: nowhere\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        assert_eq!(e.problems()[0].path, "console_listen");
        // Passwords are sent to the console: never over plain HTTP.
        let t = format!("{GOOD}console_listen: 127.0.0.1:7443\ntls:\n  enabled: false\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        assert_eq!(e.problems()[0].path, "console_listen");
        assert!(e.problems()[0].message.contains("TLS"), "{e}");
        let t = format!("{GOOD}console_listen: 127.0.0.1:7443\nconsole_port: 1\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        assert_eq!(e.problems()[0].path, "console_port");
    }

    #[test]
    fn the_test_interval_is_bounded_and_its_section_strict() {
        let c = ControllerConfig::parse("c.yaml", GOOD).unwrap();
        assert_eq!(c.maintenance.test_interval_days, DEFAULT_TEST_INTERVAL_DAYS);
        let t = format!("{GOOD}maintenance:\n  test_interval_days: 30\n");
        let c = ControllerConfig::parse("c.yaml", &t).unwrap();
        assert_eq!(c.maintenance.test_interval_days, 30);
        for bad in ["0", "3651"] {
            let t = format!("{GOOD}maintenance:\n  test_interval_days: {bad}\n");
            let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
            assert_eq!(e.problems()[0].path, "maintenance.test_interval_days");
        }
        let t = format!("{GOOD}maintenance:\n  test_interval: 30\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        assert!(
            e.problems()[0].path.starts_with("maintenance")
                && e.problems()[0].message.contains("test_interval"),
            "{e}"
        );
    }

    #[test]
    fn verified_agencies() {
        let t = format!("{GOOD}alpr:\n  verified_agencies: [Iowa DCI, Dubuque County Sheriff]\n");
        let c = ControllerConfig::parse("c.yaml", &t).unwrap();
        assert_eq!(c.alpr.verified_agencies.len(), 2);
        let t = format!("{GOOD}alpr:\n  verified_agencies: [Iowa DCI]\n  shared_with: [x]\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        assert_eq!(e.problems()[0].path, "alpr.shared_with");
        let t = format!("{GOOD}alpr:\n  verified_agencies: [Iowa DCI, ' ', Iowa DCI]\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        let paths: Vec<_> = e.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["alpr.verified_agencies.1", "alpr.verified_agencies.2"]
        );
    }

    #[test]
    fn export_settings() {
        // exports.allowed_dir is refused, saying why (a client-declared path is no control).
        let t = format!("{GOOD}exports:\n  allowed_dir: /srv/exports\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        assert_eq!(e.problems()[0].path, "exports.allowed_dir");
        assert!(e.problems()[0].message.contains("not a control"), "{e}");
        let c = ControllerConfig::parse("c.yaml", GOOD).unwrap();
        assert!(c.exports.is_empty());
        let t = format!("{GOOD}exports:\n  allowed_dir: /srv/exports\n  max_hours: 48\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        assert_eq!(e.problems()[0].path, "exports.max_hours");
        let t = format!("{GOOD}listen: nowhere\nexports:\n  allowed_dir: srv/exports\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        let paths: Vec<_> = e.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["listen", "exports.allowed_dir"]);
        assert_eq!(e.problems()[1].line, Some(9));
    }

    #[test]
    fn hotlist_limits() {
        let c = ControllerConfig::parse("c.yaml", GOOD).unwrap();
        assert_eq!(c.hotlists, HotlistSettings::default());
        assert_eq!(c.hotlists.max_file_bytes, 64 << 20);
        let t = format!("{GOOD}hotlists:\n  max_file_bytes: 1000\n  max_entries: 10\n");
        let c = ControllerConfig::parse("c.yaml", &t).unwrap();
        assert_eq!(
            (c.hotlists.max_file_bytes, c.hotlists.max_entries),
            (1000, 10)
        );
        let t = format!("{GOOD}hotlists:\n  max_file_bytes: 999999999999\n  max_entries: 0\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        let paths: Vec<_> = e.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["hotlists.max_file_bytes", "hotlists.max_entries"]);
        let t = format!("{GOOD}hotlists:\n  max_rows: 5\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        assert_eq!(e.problems()[0].path, "hotlists.max_rows");
    }

    #[test]
    fn placement_limits_default_and_zero_is_refused() {
        let c = ControllerConfig::parse("c.yaml", GOOD).unwrap();
        assert_eq!(c.placement.max_vertices_per_feature, 100_000);
        assert_eq!(c.placement.max_features_per_layer, 1_000_000);
        assert_eq!(c.placement.max_layer_bytes, 256 << 20);
        let t = format!("{GOOD}placement:\n  max_vertices_per_feature: 5000\n");
        let c = ControllerConfig::parse("c.yaml", &t).unwrap();
        assert_eq!(c.placement.max_vertices_per_feature, 5000);
        // Every zero is reported at once, each on its line.
        let t = format!(
            "{GOOD}listen: nowhere\nplacement:\n  max_vertices_per_feature: 0\n  max_features_per_layer: 0\n  max_layer_bytes: 0\n"
        );
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        let paths: Vec<_> = e.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "placement.max_vertices_per_feature",
                "placement.max_features_per_layer",
                "placement.max_layer_bytes",
                "listen"
            ]
        );
        assert_eq!(e.problems()[0].line, Some(9));
        assert!(e.problems()[2].message.contains("more than 0"));
    }

    #[test]
    fn confidential_bases_default_to_the_policys_ground() {
        let c = ControllerConfig::parse("c.yaml", GOOD).unwrap();
        assert_eq!(c.publog.confidential_bases, ["iowa-code-22.7"]);
        let t =
            format!("{GOOD}publog:\n  confidential_bases: [iowa-code-22.7, iowa-code-22.7-5]\n");
        let c = ControllerConfig::parse("c.yaml", &t).unwrap();
        assert_eq!(c.publog.confidential_bases.len(), 2);
        let t = format!("{GOOD}publog:\n  confidential_bases: [Secret Stuff, a, a]\n");
        let e = ControllerConfig::parse("c.yaml", &t).unwrap_err();
        let paths: Vec<_> = e.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["publog.confidential_bases.0", "publog.confidential_bases.2"]
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = ControllerConfig::parse("c.yaml", "city: [\n").unwrap_err();
        let p = &e.problems()[0];
        assert!(p.line.is_some() && p.column.is_some());
    }
}
