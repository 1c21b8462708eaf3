//! The `camplane` command-line client.

use anyhow::{anyhow, bail, Context, Result};
use camplane_config::manifest;
use camplane_config::model::Kind;
use camplane_proto::v1 as pb;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use tonic::transport::Channel;

#[derive(Parser)]
#[command(
    name = "camplane",
    version,
    about = "Manage a city's cameras and ALPR readers under its policy"
)]
pub struct Cli {
    /// Controller address.
    #[arg(
        long,
        global = true,
        env = "CAMPLANE_SERVER",
        default_value = "http://127.0.0.1:7100"
    )]
    server: String,
    /// CA certificate to trust for https:// servers (the controller's `tls.ca_cert_file`).
    #[arg(long, global = true, env = "CAMPLANE_CA")]
    ca: Option<PathBuf>,
    /// Bearer token (default: the one `camplane login` saved).
    #[arg(long, global = true, env = "CAMPLANE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sign in and save the token (~/.config/camplane/token).
    Login {
        /// User name.
        #[arg(short, long, default_value = "admin")]
        username: String,
        /// Read the password from standard input (else $CAMPLANE_PASSWORD).
        #[arg(long)]
        password_stdin: bool,
    },
    /// End the session.
    Logout,
    /// Who the saved token belongs to.
    Whoami,
    /// Create or update objects from YAML files (idempotent).
    Apply {
        /// Files to apply (several objects per file, separated by `---`).
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
    },
    /// Show objects.
    Get {
        /// sites, departments, cameras, requests, users.
        kind: String,
        /// One object's name.
        name: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete an object.
    Delete {
        /// Kind.
        kind: String,
        /// Name.
        name: String,
    },
    /// Placement requests and their approvals.
    #[command(subcommand)]
    Request(RequestCmd),
    /// Camera life cycle.
    #[command(subcommand)]
    Camera(CameraCmd),
    /// Users and roles.
    #[command(subcommand)]
    User(UserCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Site gateways (agents).
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Legal holds: recordings kept past retention for a case.
    #[command(subcommand)]
    Hold(HoldCmd),
    /// Placement compliance: `check` runs offline on files; `recheck` and `map`
    /// use the controller's layers and cameras.
    #[command(subcommand)]
    Placement(PlacementCmd),
    /// GIS layers kept by the controller (versioned).
    #[command(subcommand)]
    Gis(GisCmd),
    /// Placement rules kept by the controller (versioned).
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Hotlists the agents match every plate read against.
    #[command(subcommand)]
    Hotlist(HotlistCmd),
    /// Hotlist alerts raised by the agents.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Case-numbered searches of the plate reads kept on the sites.
    #[command(subcommand)]
    Search(SearchCmd),
    // ---------- governance ----------
    /// ALPR queries waiting for a supervisor's approval (patterns, other agencies).
    #[command(subcommand)]
    Approvals(ApprovalsCmd),
    // ---------- end governance ----------
    // ---------- governance2 ----------
    /// Recordings: the chief's authorizations, case-numbered exports.
    #[command(subcommand)]
    Recordings(RecordingsCmd),
    /// Exported recordings, checked offline.
    #[command(subcommand)]
    Export(ExportCmd),
    // ---------- end governance2 ----------
    // ---- public log ----
    /// The monthly public log of plate reader use.
    #[command(subcommand)]
    Publog(PublogCmd),
    /// Assists to cases, counted by offence in the public log (never the case number).
    #[command(subcommand)]
    CaseAssist(CaseAssistCmd),
}

// ---- public log ----
#[derive(Subcommand)]
enum PublogCmd {
    /// Write a month's index.html, log.csv and log.json into DIR (a month that is
    /// over in the city's time zone). The same data gives the same bytes.
    Generate {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum CaseAssistCmd {
    /// Record that plate reads assisted a case.
    Add {
        /// Case number (the city's format).
        #[arg(long = "case")]
        case_number: String,
        /// Offence, a short code such as vehicle_theft or homicide.
        #[arg(long)]
        offense: String,
        /// Arrests the reads assisted.
        #[arg(long, default_value_t = 0)]
        arrests: u32,
        /// The day of the assist (YYYY-MM-DD, city time; default today).
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Subcommand)]
enum SearchCmd {
    /// Reads of one plate across the sites (ALPR operators: training, certification
    /// and the current policy acknowledged). Exit 3: some site did not answer.
    /// A pattern (`AB?12*`) or a query for another agency is not run: it waits
    /// for a supervisor's approval; its id is printed and the exit code is 4.
    Plate {
        /// The plate (spaces and dashes ignored).
        plate: String,
        /// Case number (the city's format).
        #[arg(long = "case")]
        case_number: String,
        /// stolen_vehicle, stolen_plate, warrant, missing_person, amber_alert,
        /// protection_order, criminal_investigation or homeland_security.
        #[arg(long)]
        purpose: String,
        /// From (RFC 3339; default 30 days before --to).
        #[arg(long)]
        from: Option<String>,
        /// To (RFC 3339; default now).
        #[arg(long)]
        to: Option<String>,
        /// Only these sites (repeat or comma-separate).
        #[arg(long = "site", value_delimiter = ',')]
        sites: Vec<String>,
        /// How long to wait for the sites, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u32,
        /// Output format (table or json).
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Made for another agency (on the city's verified list); needs approval.
        #[arg(long)]
        for_agency: Option<String>,
    },
    // ---------- governance ----------
    /// Run a query a supervisor approved (once; the operator who asked).
    Run {
        /// The approval's id (printed when the query was asked).
        id: String,
        /// How long to wait for the sites, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u32,
        /// Output format (table or json).
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    // ---------- end governance ----------
    // ---------- governance2 ----------
    /// Fetch one read's JPEG crop from its site (ALPR operators, with a case
    /// number; audited before it is returned).
    Crop {
        /// The read's id, as `search plate -o json` shows it.
        read_id: String,
        /// Case number (the city's format).
        #[arg(long = "case")]
        case_number: String,
        /// The file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Only ask these sites (repeat or comma-separate).
        #[arg(long = "site", value_delimiter = ',')]
        sites: Vec<String>,
    },
    // ---------- end governance2 ----------
}

// ---------- governance2: recordings ----------

#[derive(Subcommand)]
enum RecordingsCmd {
    /// The chief lets a user view and copy a camera's (or a department's)
    /// recordings until a time (audited).
    Authorize {
        /// The user.
        #[arg(long)]
        user: String,
        /// One camera ...
        #[arg(
            long,
            conflicts_with = "department",
            required_unless_present = "department"
        )]
        camera: Option<String>,
        /// ... or every camera of a department.
        #[arg(long)]
        department: Option<String>,
        /// When the authorization ends (RFC 3339).
        #[arg(long)]
        until: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Copy a camera's segments overlapping FROM..TO (at most 24 hours) into a
    /// new or empty directory, with a manifest signed by the controller
    /// (the installing department's viewers, the police, people the chief
    /// authorized; audited with the case number before anything is sent).
    Export {
        /// The camera.
        #[arg(long)]
        camera: String,
        /// From (RFC 3339).
        #[arg(long)]
        from: String,
        /// To (RFC 3339).
        #[arg(long)]
        to: String,
        /// Case number (the city's format).
        #[arg(long = "case")]
        case_number: String,
        /// A new or empty directory (the controller may restrict where: exports.allowed_dir).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ExportCmd {
    /// Check an export offline: the manifest's signature against the
    /// controller's CA certificate (--ca or $CAMPLANE_CA), every file against
    /// its SHA-256, the segments' chain. Exit 1 naming the first file that fails.
    Verify {
        /// The export directory.
        dir: PathBuf,
    },
}

/// `export verify`: offline.
fn export_verify(dir: &std::path::Path, ca: Option<&PathBuf>) -> Result<i32> {
    let ca = ca.ok_or_else(|| {
        anyhow!("export verify needs the controller's CA certificate: --ca FILE (or $CAMPLANE_CA)")
    })?;
    let pem =
        std::fs::read_to_string(ca).with_context(|| format!("reading --ca {}", ca.display()))?;
    match crate::recordings::verify_export(dir, &pem) {
        Ok(n) => {
            println!(
                "{}: manifest signature, {n} files and their chain verified",
                dir.display()
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("export verify failed: {e}");
            Ok(1)
        }
    }
}

/// `recordings export`: streams the files into a new or empty directory.
async fn recordings_export(
    c: &Client,
    ca: Option<&PathBuf>,
    camera: String,
    from: String,
    to: String,
    case_number: String,
    out: PathBuf,
) -> Result<i32> {
    use std::io::Write;
    let abs = if out.is_absolute() {
        out.clone()
    } else {
        std::env::current_dir()?.join(&out)
    };
    let resolved = crate::recordings::resolve_path(&abs);
    if resolved.exists() {
        let mut rd = std::fs::read_dir(&resolved)
            .with_context(|| format!("--out {}: not a directory", resolved.display()))?;
        if rd.next().is_some() {
            bail!(
                "--out {}: must be a new or empty directory",
                resolved.display()
            );
        }
    }
    let mut stream = pb::recordings_client::RecordingsClient::new(c.channel.clone())
        .export(c.req(pb::ExportRequest {
            camera,
            from,
            to,
            case_number,
            out_dir: resolved.display().to_string(),
        })?)
        .await
        .map_err(status)?
        .into_inner();
    std::fs::create_dir_all(&resolved)
        .with_context(|| format!("creating {}", resolved.display()))?;
    let mut current: Option<(String, std::fs::File)> = None;
    let mut files = 0usize;
    let mut bytes = 0u64;
    let mut manifest = false;
    loop {
        let msg = match stream.message().await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                eprintln!(
                    "export failed: {}; {} is incomplete",
                    e.message(),
                    resolved.display()
                );
                return Ok(1);
            }
        };
        match msg.part {
            Some(pb::export_chunk::Part::File(f)) => {
                if f.name.is_empty() || f.name.contains(['/', '\\']) || f.name.starts_with('.') {
                    bail!("the controller sent a file name that is not a plain name");
                }
                let p = resolved.join(&f.name);
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&p)
                    .with_context(|| format!("creating {}", p.display()))?;
                current = Some((f.name, file));
                files += 1;
            }
            Some(pb::export_chunk::Part::Data(d)) => {
                let (name, f) = current
                    .as_mut()
                    .ok_or_else(|| anyhow!("the controller sent bytes before a file"))?;
                f.write_all(&d).with_context(|| format!("writing {name}"))?;
                bytes += d.len() as u64;
            }
            Some(pb::export_chunk::Part::ManifestJson(m)) => {
                let p = resolved.join(crate::recordings::MANIFEST);
                std::fs::write(&p, m).with_context(|| format!("writing {}", p.display()))?;
                manifest = true;
            }
            None => {}
        }
    }
    if let Some((name, f)) = current {
        f.sync_all().with_context(|| format!("writing {name}"))?;
    }
    if !manifest {
        eprintln!(
            "export failed: no manifest came; {} is incomplete",
            resolved.display()
        );
        return Ok(1);
    }
    println!(
        "{}: {files} files, {bytes} bytes, manifest.json signed by the controller",
        resolved.display()
    );
    if ca.is_some() {
        return export_verify(&resolved, ca);
    }
    Ok(0)
}

// ---------- end governance2: recordings ----------

// ---------- governance: approvals ----------

/// Exit code of a query that waits for a supervisor's approval.
pub const EXIT_PENDING_APPROVAL: i32 = 4;

#[derive(Subcommand)]
enum ApprovalsCmd {
    /// Queries waiting for approval (supervisors).
    List {
        /// Also decided and used ones.
        #[arg(long)]
        all: bool,
        /// Output format (table or json).
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Approve a query (supervisors; not your own).
    Approve {
        /// Approval id.
        id: String,
        /// Why (required).
        #[arg(long, required = true)]
        reason: String,
    },
    /// Reject a query (supervisors; not your own).
    Reject {
        /// Approval id.
        id: String,
        /// Why (required).
        #[arg(long, required = true)]
        reason: String,
    },
}

async fn approvals(c: &Client, ac: ApprovalsCmd) -> Result<i32> {
    let mut client = pb::alpr_approvals_client::AlprApprovalsClient::new(c.channel.clone());
    match ac {
        ApprovalsCmd::List { all, output } => {
            let r = client
                .list(c.req(pb::AlprApprovalsRequest { all })?)
                .await
                .map_err(status)?
                .into_inner();
            let list: Vec<Value> = r
                .objects
                .iter()
                .map(|o| serde_json::from_slice(&o.json))
                .collect::<Result<_, _>>()?;
            if output == Output::Table {
                let mut rows = vec![[
                    "ID",
                    "STATE",
                    "REQUESTED",
                    "BY",
                    "PLATE",
                    "CASE",
                    "PURPOSE",
                    "AGENCY",
                    "WHY",
                ]
                .map(String::from)
                .to_vec()];
                for a in &list {
                    let why: Vec<String> = a["reasons"]
                        .as_array()
                        .map(|v| v.iter().map(text).collect())
                        .unwrap_or_default();
                    rows.push(vec![
                        text(field(a, &["id"])),
                        text(field(a, &["state"])),
                        text(field(a, &["requested_at"])),
                        text(field(a, &["requested_by"])),
                        text(field(a, &["plate"])),
                        text(field(a, &["case_number"])),
                        text(field(a, &["purpose"])),
                        text(field(a, &["for_agency"])),
                        why.join("; "),
                    ]);
                }
                print_table(rows);
            } else {
                println!("{}", serde_json::to_string_pretty(&list)?);
            }
        }
        ApprovalsCmd::Approve { id, reason } => decide(c, &mut client, id, true, reason).await?,
        ApprovalsCmd::Reject { id, reason } => decide(c, &mut client, id, false, reason).await?,
    }
    Ok(0)
}

async fn decide(
    c: &Client,
    client: &mut pb::alpr_approvals_client::AlprApprovalsClient<Channel>,
    id: String,
    approve: bool,
    reason: String,
) -> Result<()> {
    let r = client
        .decide(c.req(pb::AlprApprovalDecision {
            id,
            approve,
            reason,
        })?)
        .await
        .map_err(status)?
        .into_inner();
    let a: Value = serde_json::from_slice(&r.json)?;
    println!(
        "{} {} by {}",
        text(field(&a, &["id"])),
        text(field(&a, &["state"])),
        text(field(&a, &["decided_by"]))
    );
    Ok(())
}

async fn review_alert(c: &Client, r: pb::AlertReviewRequest) -> Result<()> {
    let o = pb::alert_review_client::AlertReviewClient::new(c.channel.clone())
        .review(c.req(r)?)
        .await
        .map_err(status)?
        .into_inner();
    let a: Value = serde_json::from_slice(&o.json)?;
    println!(
        "alert {} {}{}",
        text(field(&a, &["id"])),
        text(field(&a, &["status"])),
        a["case_number"]
            .as_str()
            .map(|c| format!(" (case {c})"))
            .unwrap_or_default()
    );
    Ok(())
}

// ---------- end governance: approvals ----------

#[derive(Subcommand)]
enum HotlistCmd {
    /// Load a CSV file as a new version of the list of one source and category;
    /// agents receive the change within seconds. Rows that cannot be used are
    /// listed with their line numbers and the rest is loaded (exit 2); a file
    /// with no usable row changes nothing (exit 1).
    Load {
        /// NCIC, STATE_DOT or CUSTOM.
        #[arg(long)]
        source: String,
        /// stolen_vehicle, stolen_plate, warrant, suspended_or_revoked_license,
        /// protection_order or investigative.
        #[arg(long)]
        category: String,
        /// Where the fields are: `plate=COL,state=COL,reason=COL,expiry=COL`, each
        /// COL a header name or a 1-based number; `state=` drops a field.
        /// Default: columns named plate, state, reason, expiry.
        #[arg(long, default_value = "")]
        columns: String,
        /// The file has no header line (give columns by number).
        #[arg(long)]
        no_header: bool,
        /// replace (the file is the whole list), add, or remove.
        #[arg(long, default_value = "replace")]
        mode: String,
        /// Name this source in the public log.
        #[arg(long, conflicts_with = "non_public")]
        public: bool,
        /// Keep this source out of the public log.
        #[arg(long)]
        non_public: bool,
        /// The CSV file.
        file: PathBuf,
    },
    /// Lists, their versions and sizes, and which sources are public.
    List,
}

#[derive(Subcommand)]
enum AlertsCmd {
    /// Stream alerts as they arrive (one line each; `-o json`: one JSON object per line).
    Watch {
        /// Also show alerts received since this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Output format (table or json).
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Stop after this many alerts.
        #[arg(long)]
        count: Option<usize>,
    },
    /// Alerts received so far.
    List {
        /// Only those received since this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Output format (table or json).
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    // ---------- governance: alert verification ----------
    /// Record the visual and state-system checks of an unverified alert (ALPR operators).
    Verify {
        /// Alert id.
        id: String,
        /// The plate in the crop is the plate read: `confirmed`.
        #[arg(long)]
        visual: String,
        /// The state system still lists the plate: `confirmed`.
        #[arg(long = "state-check")]
        state_check: String,
        /// A note.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject an alert: misread, not_on_state_system, expired_entry, duplicate or other.
    Reject {
        /// Alert id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// A note (required with `other`).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Record the action taken on a verified alert, with its case number.
    Act {
        /// Alert id.
        id: String,
        /// Case number (the city's format).
        #[arg(long = "case")]
        case_number: String,
        /// A note.
        #[arg(long, default_value = "")]
        note: String,
    },
    // ---------- end governance: alert verification ----------
}

#[derive(Subcommand)]
enum PlacementCmd {
    /// Check requests against layer files, offline (no controller, no sign-in).
    /// One JSON answer per request line. Exit 0: all answered; 2: some request
    /// line was invalid (answered by an error line); 1: a layer, the rules or the
    /// requests could not be used.
    Check(CheckCli),
    /// Re-check every approved or active camera against the controller's current
    /// layers and rules; list those now out of compliance.
    Recheck {
        /// List every checked camera, not only those out of compliance.
        #[arg(long)]
        all: bool,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Draw the controller's current layers and cameras (coloured by verdict,
    /// with view sectors) as SVG.
    Map {
        /// The SVG file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args)]
struct CheckCli {
    /// Street centerlines (GeoJSON); required, may repeat.
    #[arg(long)]
    streets: Vec<PathBuf>,
    /// City property polygons; may repeat.
    #[arg(long)]
    city_property: Vec<PathBuf>,
    /// Other public property polygons; may repeat.
    #[arg(long)]
    other_public: Vec<PathBuf>,
    /// 911 kiosk points; may repeat.
    #[arg(long)]
    kiosks: Vec<PathBuf>,
    /// Residential housing polygons; may repeat.
    #[arg(long)]
    residential: Vec<PathBuf>,
    /// Rules YAML (default: the spec's defaults).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Requests, one JSON object per line; `-` reads standard input.
    #[arg(long)]
    requests: Option<PathBuf>,
    /// One request, inline JSON.
    #[arg(long)]
    request: Option<String>,
    /// Repair closed-but-invalid polygons (each repair reported on stderr)
    /// instead of refusing their file.
    #[arg(long)]
    repair_polygons: bool,
    /// Also write an SVG map of the layers and the checked cameras.
    #[arg(long)]
    map: Option<PathBuf>,
}

#[derive(Subcommand)]
enum GisCmd {
    /// Store a new version of a layer (checked first: a bad file is refused whole,
    /// naming the file and feature).
    Load {
        /// streets, city_property, other_public, kiosks or residential.
        #[arg(long)]
        layer: String,
        /// GeoJSON files; together they make the new version.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Repair closed-but-invalid polygons (each repair is reported) instead of refusing.
        #[arg(long)]
        repair_polygons: bool,
    },
    /// Show every layer's versions and feature counts.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Store a new version of the placement rules (YAML, checked first).
    Apply {
        /// The rules file.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Yaml,
    Json,
}

#[derive(Args)]
struct Step {
    /// Request id.
    id: String,
    /// The role to act as, when you hold several that could.
    #[arg(long = "as")]
    role: Option<String>,
    /// Why.
    #[arg(short = 'm', long = "comment", default_value = "")]
    comment: String,
}

#[derive(Subcommand)]
enum RequestCmd {
    /// Submit a placement request from a YAML file (kind: PlacementRequest).
    Submit {
        /// The file.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
    /// Recommend (department manager, then Chief of Police / Information Services).
    Recommend(Step),
    /// Reject at a review step.
    Reject(Step),
    /// Approve (City Manager).
    Approve(Step),
    /// Deny (City Manager).
    Deny(Step),
    /// Override the placement verdict (not_eligible, needs_review; covert: the
    /// chief only) with a written justification, so the City Manager may approve.
    Override {
        /// Request id.
        id: String,
        /// Why the camera is needed where the rules do not allow it.
        #[arg(long, required = true)]
        justification: String,
        /// chief (law enforcement) or engineer (traffic safety), when you hold both.
        #[arg(long = "as")]
        role: Option<String>,
    },
    /// Show a request and its steps.
    Show {
        /// Request id.
        id: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Yaml)]
        output: Output,
    },
}

#[derive(Subcommand)]
enum CameraCmd {
    /// Health of every camera as their agents report it.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Active-collection windows: when each camera actually delivered video.
    Windows {
        /// Only this camera.
        #[arg(long)]
        camera: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Activate (needs an approved placement request).
    Activate(CamArgs),
    /// Suspend.
    Suspend(CamArgs),
    /// Retire for good.
    Retire(CamArgs),
}

#[derive(Args)]
struct CamArgs {
    /// Camera name.
    name: String,
    /// Why.
    #[arg(long, default_value = "")]
    reason: String,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user; prints a one-time password unless --password-stdin is given.
    Add {
        /// User name.
        name: String,
        /// Roles (repeat or comma-separate).
        #[arg(long = "role", value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Department.
        #[arg(long, default_value = "")]
        department: String,
        /// Full name.
        #[arg(long, default_value = "")]
        display_name: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Grant roles (or take them away with --revoke).
    Grant {
        /// User name.
        name: String,
        /// Roles.
        #[arg(required = true, value_delimiter = ',')]
        roles: Vec<String>,
        /// Remove instead of add.
        #[arg(long)]
        revoke: bool,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum HoldCmd {
    /// Place a hold (chief: criminal_investigation, court; City Manager: city_manager_approved).
    Create {
        /// Case number (the city's format).
        #[arg(long = "case")]
        case_number: String,
        /// Cameras (repeat or comma-separate).
        #[arg(long = "camera", value_delimiter = ',', required = true)]
        cameras: Vec<String>,
        /// Start of the held range (RFC 3339).
        #[arg(long)]
        from: String,
        /// End of the held range (RFC 3339).
        #[arg(long)]
        to: String,
        /// criminal_investigation, court or city_manager_approved.
        #[arg(long)]
        reason: String,
    },
    /// Release a hold: what it kept goes at the next retention sweep.
    Release {
        /// Hold name.
        name: String,
    },
    /// List holds.
    List,
}

#[derive(Subcommand)]
enum AgentCmd {
    /// Register a site's gateway and print its one-time enrolment token.
    Enroll {
        /// The site.
        #[arg(long)]
        site: String,
        /// The agent's name (default: SITE-gw).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List agents.
    List,
    /// Refuse an agent from now on.
    Revoke {
        /// Agent name.
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Walk the hash chain; exit 1 and name the first broken entry if any.
    Verify,
    /// Show the last entries.
    Tail {
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: u32,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    // ---------- governance: audit report ----------
    /// Write the monthly audit report (report.html, report.csv) of the audit
    /// log's entries in MONTH, in the city's time zone (auditors, admins).
    Report {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// The directory to write report.html and report.csv into.
        #[arg(long)]
        out: PathBuf,
    },
    // ---------- end governance: audit report ----------
}

fn token_path() -> PathBuf {
    let base = std::env::var_os("CAMPLANE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|p| PathBuf::from(p).join("camplane")))
        .or_else(|| std::env::var_os("HOME").map(|p| PathBuf::from(p).join(".config/camplane")))
        .unwrap_or_else(|| PathBuf::from(".camplane"));
    base.join("token")
}

struct Client {
    channel: Channel,
    token: Option<String>,
}

impl Client {
    fn req<T>(&self, msg: T) -> Result<tonic::Request<T>> {
        let mut r = tonic::Request::new(msg);
        let t = self
            .token
            .as_ref()
            .ok_or_else(|| anyhow!("not signed in: run `camplane login`"))?;
        r.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}")
                .parse()
                .map_err(|_| anyhow!("bad token"))?,
        );
        camplane_telemetry::inject(&mut r);
        Ok(r)
    }
}

fn status(e: tonic::Status) -> anyhow::Error {
    let code = format!("{:?}", e.code());
    anyhow!("{} ({code})", e.message())
}

/// Runs the CLI; returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    // Offline: no controller, no sign-in.
    if let Cmd::Placement(PlacementCmd::Check(a)) = &cli.cmd {
        return Ok(placement_check(a));
    }
    // governance2: offline too
    if let Cmd::Export(ExportCmd::Verify { dir }) = &cli.cmd {
        return export_verify(dir, cli.ca.as_ref());
    }
    let endpoint = tonic::transport::Endpoint::from_shared(cli.server.clone())
        .with_context(|| format!("--server {:?} is not a URL", cli.server))?
        .connect_timeout(std::time::Duration::from_secs(5));
    let endpoint = if cli.server.starts_with("https://") {
        let mut tls = tonic::transport::ClientTlsConfig::new();
        match &cli.ca {
            Some(p) => {
                let pem = std::fs::read_to_string(p)
                    .with_context(|| format!("reading --ca {}", p.display()))?;
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            None => {
                bail!("https:// needs the controller's CA certificate: --ca FILE (or $CAMPLANE_CA)")
            }
        }
        endpoint.tls_config(tls).context("TLS settings")?
    } else {
        endpoint
    };
    let channel = endpoint.connect_lazy();
    let token = cli.token.clone().or_else(|| {
        std::fs::read_to_string(token_path())
            .ok()
            .map(|s| s.trim().to_string())
    });
    let c = Client { channel, token };
    match cli.cmd {
        Cmd::Login {
            username,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s.trim_end_matches(['\n', '\r']).to_string()
            } else {
                std::env::var("CAMPLANE_PASSWORD").map_err(|_| anyhow!("give the password on stdin with --password-stdin, or in $CAMPLANE_PASSWORD"))?
            };
            let r = pb::auth_client::AuthClient::new(c.channel.clone())
                .login(pb::LoginRequest { username, password })
                .await
                .map_err(status)?
                .into_inner();
            let p = token_path();
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d)?;
            }
            write_private(&p, &r.token)?;
            println!(
                "signed in as {} ({}), token valid until {}",
                r.username,
                r.roles.join(", "),
                r.expires_at
            );
        }
        Cmd::Logout => {
            pb::auth_client::AuthClient::new(c.channel.clone())
                .logout(c.req(pb::Empty {})?)
                .await
                .map_err(status)?;
            let _ = std::fs::remove_file(token_path());
            println!("signed out");
        }
        Cmd::Whoami => {
            let r = pb::auth_client::AuthClient::new(c.channel.clone())
                .who_am_i(c.req(pb::Empty {})?)
                .await
                .map_err(status)?
                .into_inner();
            println!("{} ({})", r.username, r.roles.join(", "));
        }
        Cmd::Apply { files } => {
            // Read and check every file before sending anything.
            let mut objects = Vec::new();
            let mut errors = Vec::new();
            for f in &files {
                match manifest::load(f) {
                    Ok(ms) => {
                        for m in ms {
                            objects.push(pb::Object {
                                kind: m.spec.kind().as_str().into(),
                                name: m.name,
                                json: serde_json::to_vec(&m.spec.to_json())?,
                                revision: 0,
                            });
                        }
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            if !errors.is_empty() {
                eprintln!("{}", errors.join("\n"));
                eprintln!("nothing was applied");
                return Ok(1);
            }
            let source = files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(",");
            let r = pb::objects_client::ObjectsClient::new(c.channel.clone())
                .apply(c.req(pb::ApplyRequest {
                    objects,
                    source,
                    dry_run: false,
                })?)
                .await
                .map_err(|e| anyhow!("{}\nnothing was applied", status(e)))?
                .into_inner();
            for a in r.results {
                println!("{}/{} {}", a.kind.to_lowercase(), a.name, a.action);
            }
        }
        Cmd::Get { kind, name, output } => {
            let k = Kind::parse(&kind).ok_or_else(|| {
                anyhow!("unknown kind {kind:?} (sites, departments, cameras, requests, users)")
            })?;
            let r = pb::objects_client::ObjectsClient::new(c.channel.clone())
                .get(c.req(pb::GetRequest {
                    kind: k.as_str().into(),
                    name: name.clone().unwrap_or_default(),
                })?)
                .await
                .map_err(status)?
                .into_inner();
            let objs: Vec<Value> = r
                .objects
                .iter()
                .map(|o| serde_json::from_slice(&o.json))
                .collect::<Result<_, _>>()?;
            print_objects(k, &objs, output, name.is_some())?;
        }
        Cmd::Delete { kind, name } => {
            let k = Kind::parse(&kind).ok_or_else(|| anyhow!("unknown kind {kind:?}"))?;
            pb::objects_client::ObjectsClient::new(c.channel.clone())
                .delete(c.req(pb::DeleteRequest {
                    kind: k.as_str().into(),
                    name: name.clone(),
                })?)
                .await
                .map_err(status)?;
            println!("{}/{name} deleted", k.as_str().to_lowercase());
        }
        Cmd::Request(rc) => {
            let mut client = pb::approvals_client::ApprovalsClient::new(c.channel.clone());
            let (obj, out) = match rc {
                RequestCmd::Submit { file } => {
                    let ms =
                        manifest::load(&file).map_err(|e| anyhow!("{e}\nnothing was submitted"))?;
                    let [m] = ms.as_slice() else {
                        bail!("{}: give exactly one PlacementRequest", file.display())
                    };
                    if m.spec.kind() != Kind::PlacementRequest {
                        bail!(
                            "{}: kind must be PlacementRequest, not {}",
                            file.display(),
                            m.spec.kind()
                        );
                    }
                    let body = serde_json::json!({"name": m.name, "spec": m.spec.to_json()});
                    (
                        client
                            .submit(c.req(pb::SubmitRequest {
                                json: serde_json::to_vec(&body)?,
                            })?)
                            .await
                            .map_err(status)?
                            .into_inner(),
                        Output::Table,
                    )
                }
                RequestCmd::Show { id, output } => (
                    client
                        .show(c.req(pb::RequestId { id })?)
                        .await
                        .map_err(status)?
                        .into_inner(),
                    output,
                ),
                RequestCmd::Recommend(s) => {
                    (act(&mut client, &c, s, "recommend").await?, Output::Table)
                }
                RequestCmd::Reject(s) => (act(&mut client, &c, s, "reject").await?, Output::Table),
                RequestCmd::Approve(s) => {
                    (act(&mut client, &c, s, "approve").await?, Output::Table)
                }
                RequestCmd::Deny(s) => (act(&mut client, &c, s, "deny").await?, Output::Table),
                RequestCmd::Override {
                    id,
                    justification,
                    role,
                } => {
                    let s = Step {
                        id,
                        role,
                        comment: justification,
                    };
                    (act(&mut client, &c, s, "override").await?, Output::Table)
                }
            };
            let v: Value = serde_json::from_slice(&obj.json)?;
            print_objects(Kind::PlacementRequest, &[v], out, true)?;
        }
        Cmd::Camera(CameraCmd::Status { json }) => {
            let r = pb::fleet_client::FleetClient::new(c.channel.clone())
                .camera_status(c.req(pb::Empty {})?)
                .await
                .map_err(status)?
                .into_inner();
            let hs: Vec<Value> = r
                .objects
                .iter()
                .map(|o| serde_json::from_slice(&o.json))
                .collect::<Result<_, _>>()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hs)?);
            } else {
                let mut rows = vec![[
                    "AGENT",
                    "CAMERA",
                    "STATE",
                    "FPS",
                    "KB/S",
                    "RECONNECTS",
                    "LAST PACKET",
                    "REPORTED",
                    "LAST ERROR",
                ]
                .map(String::from)
                .to_vec()];
                for h in &hs {
                    let agent = text(field(h, &["agent"]));
                    let at = text(field(h, &["received_at"]));
                    for cam in field(h, &["health", "cameras"])
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                    {
                        let kbps = field(&cam, &["bytes_per_sec"])
                            .as_f64()
                            .map(|b| format!("{:.0}", b / 1000.0))
                            .unwrap_or("-".into());
                        let fps = field(&cam, &["fps"])
                            .as_f64()
                            .map(|f| format!("{f:.1}"))
                            .unwrap_or("-".into());
                        rows.push(vec![
                            agent.clone(),
                            text(field(&cam, &["id"])),
                            text(field(&cam, &["state"])),
                            fps,
                            kbps,
                            text(field(&cam, &["reconnects"])),
                            text(field(&cam, &["last_packet"])),
                            at.clone(),
                            text(field(&cam, &["last_error"])),
                        ]);
                    }
                }
                print_rows(rows);
            }
        }
        Cmd::Hold(hc) => {
            let mut client = pb::holds_client::HoldsClient::new(c.channel.clone());
            match hc {
                HoldCmd::Create {
                    case_number,
                    cameras,
                    from,
                    to,
                    reason,
                } => {
                    let spec = serde_json::json!({"case_number": case_number, "cameras": cameras, "from": from, "until": to, "reason": reason});
                    let o = client
                        .create(c.req(pb::SubmitRequest {
                            json: serde_json::to_vec(&spec)?,
                        })?)
                        .await
                        .map_err(status)?
                        .into_inner();
                    let v: Value = serde_json::from_slice(&o.json)?;
                    print_objects(Kind::LegalHold, &[v], Output::Table, true)?;
                }
                HoldCmd::Release { name } => {
                    client
                        .release(c.req(pb::HoldName { name: name.clone() })?)
                        .await
                        .map_err(status)?;
                    println!("legalhold/{name} released");
                }
                HoldCmd::List => {
                    let r = pb::objects_client::ObjectsClient::new(c.channel.clone())
                        .get(c.req(pb::GetRequest {
                            kind: "LegalHold".into(),
                            name: String::new(),
                        })?)
                        .await
                        .map_err(status)?
                        .into_inner();
                    let objs: Vec<Value> = r
                        .objects
                        .iter()
                        .map(|o| serde_json::from_slice(&o.json))
                        .collect::<Result<_, _>>()?;
                    print_objects(Kind::LegalHold, &objs, Output::Table, false)?;
                }
            }
        }
        Cmd::Hotlist(HotlistCmd::Load {
            source,
            category,
            columns,
            no_header,
            mode,
            public,
            non_public,
            file,
        }) => {
            let mut cols =
                camplane_config::hotlist::Columns::parse_spec(&columns).map_err(|e| anyhow!(e))?;
            cols.header = !no_header;
            let csv =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let r = pb::hotlists_client::HotlistsClient::new(c.channel.clone())
                .max_encoding_message_size(crate::hotlist::MAX_FILE + (1 << 20))
                .load(c.req(pb::HotlistLoadRequest {
                    source,
                    category,
                    file_name: file.display().to_string(),
                    csv,
                    columns_json: serde_json::to_string(&cols)?,
                    mode,
                    public: if public {
                        Some(true)
                    } else if non_public {
                        Some(false)
                    } else {
                        None
                    },
                })?)
                .await
                .map_err(status)?
                .into_inner();
            println!(
                "hotlist {} version {}: {} entries ({} added or changed, {} removed); source {}",
                r.list,
                r.version,
                r.entries,
                r.upserted,
                r.removed,
                if r.public { "public" } else { "non-public" }
            );
            for b in &r.bad_rows {
                eprintln!("{}:{}: {}", file.display(), b.line, b.reason);
            }
            if !r.bad_rows.is_empty() {
                eprintln!(
                    "{} row{} not loaded",
                    r.bad_rows.len(),
                    if r.bad_rows.len() == 1 { "" } else { "s" }
                );
                return Ok(2);
            }
        }
        Cmd::Hotlist(HotlistCmd::List) => {
            let r = pb::hotlists_client::HotlistsClient::new(c.channel.clone())
                .list(c.req(pb::Empty {})?)
                .await
                .map_err(status)?
                .into_inner();
            let lists: Vec<Value> = serde_json::from_slice(&r.lists_json)?;
            let sources: Vec<Value> = serde_json::from_slice(&r.sources_json)?;
            let mut rows = vec![vec![
                "LIST".to_string(),
                "VERSION".into(),
                "ENTRIES".into(),
                "LOADED".into(),
                "BY".into(),
                "PUBLIC".into(),
            ]];
            for l in &lists {
                let public = sources
                    .iter()
                    .find(|s| s["source"] == l["source"])
                    .map_or("yes", |s| if s["public"] == true { "yes" } else { "no" });
                rows.push(vec![
                    text(field(l, &["list"])),
                    text(field(l, &["version"])),
                    text(field(l, &["entries"])),
                    text(field(l, &["loaded_at"])),
                    text(field(l, &["loaded_by"])),
                    public.into(),
                ]);
            }
            print_table(rows);
        }
        Cmd::Alerts(AlertsCmd::List { since, output }) => {
            let r = pb::alerts_client::AlertsClient::new(c.channel.clone())
                .list(c.req(pb::AlertsRequest {
                    since: since.unwrap_or_default(),
                })?)
                .await
                .map_err(status)?
                .into_inner();
            let alerts: Vec<Value> = r
                .objects
                .iter()
                .map(|o| serde_json::from_slice(&o.json))
                .collect::<Result<_, _>>()?;
            if output == Output::Table {
                let mut rows = vec![alert_header()];
                rows.extend(alerts.iter().map(alert_row));
                print_table(rows);
            } else {
                for a in &alerts {
                    println!("{}", serde_json::to_string(a)?);
                }
            }
        }
        Cmd::Alerts(AlertsCmd::Watch {
            since,
            output,
            count,
        }) => {
            let mut s = pb::alerts_client::AlertsClient::new(c.channel.clone())
                .watch(c.req(pb::AlertsRequest {
                    since: since.unwrap_or_default(),
                })?)
                .await
                .map_err(status)?
                .into_inner();
            if output == Output::Table {
                eprintln!("{}", alert_header().join("  "));
            }
            let mut n = 0usize;
            while let Some(o) = s.message().await.map_err(status)? {
                let a: Value = serde_json::from_slice(&o.json)?;
                if output == Output::Table {
                    println!("{}", alert_row(&a).join("  "));
                } else {
                    println!("{}", serde_json::to_string(&a)?);
                }
                use std::io::Write;
                std::io::stdout().flush()?;
                n += 1;
                if count.is_some_and(|c| n >= c) {
                    break;
                }
            }
        }
        // ---- public log ----
        Cmd::Publog(PublogCmd::Generate { month, out }) => {
            let r = pb::public_log_client::PublicLogClient::new(c.channel.clone())
                .generate(c.req(pb::PublicLogRequest { month })?)
                .await
                .map_err(status)?
                .into_inner();
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for f in &r.files {
                // Names come from the controller: take only plain file names.
                if f.name.contains(['/', '\\']) || f.name.starts_with('.') {
                    bail!("the controller sent a file named {:?}; not written", f.name);
                }
                let path = out.join(&f.name);
                let tmp = out.join(format!(".{}.tmp", f.name));
                std::fs::write(&tmp, &f.content)
                    .and_then(|_| std::fs::rename(&tmp, &path))
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{} ({} bytes)", path.display(), f.content.len());
            }
        }
        Cmd::CaseAssist(CaseAssistCmd::Add {
            case_number,
            offense,
            arrests,
            date,
        }) => {
            let o = pb::public_log_client::PublicLogClient::new(c.channel.clone())
                .add_case_assist(c.req(pb::CaseAssistRequest {
                    case_number,
                    offense,
                    arrests,
                    date: date.unwrap_or_default(),
                })?)
                .await
                .map_err(status)?
                .into_inner();
            let v: Value = serde_json::from_slice(&o.json)?;
            println!(
                "case assist recorded: {} on {} ({} arrests)",
                text(field(&v, &["offense"])),
                text(field(&v, &["date"])),
                text(field(&v, &["arrests"]))
            );
        }
        Cmd::Search(SearchCmd::Plate {
            plate,
            case_number,
            purpose,
            from,
            to,
            sites,
            timeout_ms,
            output,
            for_agency,
        }) => {
            let r = pb::alpr_client::AlprClient::new(c.channel.clone())
                .search(c.req(pb::SearchRequest {
                    plate,
                    case_number,
                    purpose,
                    from: from.unwrap_or_default(),
                    to: to.unwrap_or_default(),
                    sites,
                    timeout_ms,
                    for_agency: for_agency.unwrap_or_default(),
                })?)
                .await
                .map_err(status)?
                .into_inner();
            if !r.pending_approval.is_empty() {
                if output == Output::Json {
                    println!(
                        "{}",
                        serde_json::json!({"pending_approval": r.pending_approval, "reasons": r.approval_reasons})
                    );
                } else {
                    println!("{}", r.pending_approval);
                    eprintln!(
                        "not run: it waits for a supervisor's approval ({}); once approved: camplane search run {}",
                        r.approval_reasons.join("; "),
                        r.pending_approval
                    );
                }
                return Ok(EXIT_PENDING_APPROVAL);
            }
            return print_search(r, output);
        }
        // ---------- governance ----------
        Cmd::Search(SearchCmd::Run {
            id,
            timeout_ms,
            output,
        }) => {
            let r = pb::alpr_approvals_client::AlprApprovalsClient::new(c.channel.clone())
                .run(c.req(pb::RunApprovedRequest { id, timeout_ms })?)
                .await
                .map_err(status)?
                .into_inner();
            return print_search(r, output);
        }
        Cmd::Approvals(ac) => return approvals(&c, ac).await,
        // ---------- governance2 ----------
        Cmd::Recordings(RecordingsCmd::Authorize {
            user,
            camera,
            department,
            until,
            reason,
        }) => {
            let o = pb::recordings_client::RecordingsClient::new(c.channel.clone())
                .authorize(c.req(pb::RecordingAuthorizeRequest {
                    user,
                    camera: camera.unwrap_or_default(),
                    department: department.unwrap_or_default(),
                    until,
                    reason,
                })?)
                .await
                .map_err(status)?
                .into_inner();
            println!("{}", o.name);
        }
        Cmd::Recordings(RecordingsCmd::Export {
            camera,
            from,
            to,
            case_number,
            out,
        }) => {
            return recordings_export(&c, cli.ca.as_ref(), camera, from, to, case_number, out).await
        }
        Cmd::Export(ExportCmd::Verify { dir }) => return export_verify(&dir, cli.ca.as_ref()),
        Cmd::Search(SearchCmd::Crop {
            read_id,
            case_number,
            out,
            sites,
        }) => {
            let r = pb::recordings_client::RecordingsClient::new(c.channel.clone())
                .crop(c.req(pb::CropRequest {
                    read_id,
                    case_number,
                    sites,
                })?)
                .await
                .map_err(status)?
                .into_inner();
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&out)
                .and_then(|mut f| std::io::Write::write_all(&mut f, &r.jpeg))
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}: {} bytes (camera {}, agent {})",
                out.display(),
                r.jpeg.len(),
                r.camera,
                r.agent
            );
        }
        // ---------- end governance2 ----------
        Cmd::Alerts(AlertsCmd::Verify {
            id,
            visual,
            state_check,
            note,
        }) => {
            review_alert(
                &c,
                pb::AlertReviewRequest {
                    id,
                    action: "verify".into(),
                    visual,
                    state_check,
                    note,
                    ..Default::default()
                },
            )
            .await?
        }
        Cmd::Alerts(AlertsCmd::Reject { id, reason, note }) => {
            review_alert(
                &c,
                pb::AlertReviewRequest {
                    id,
                    action: "reject".into(),
                    reason,
                    note,
                    ..Default::default()
                },
            )
            .await?
        }
        Cmd::Alerts(AlertsCmd::Act {
            id,
            case_number,
            note,
        }) => {
            review_alert(
                &c,
                pb::AlertReviewRequest {
                    id,
                    action: "act".into(),
                    case_number,
                    note,
                    ..Default::default()
                },
            )
            .await?
        }
        // ---------- end governance ----------
        Cmd::Camera(CameraCmd::Windows { camera, json }) => {
            let r = pb::fleet_client::FleetClient::new(c.channel.clone())
                .windows(c.req(pb::Empty {})?)
                .await
                .map_err(status)?
                .into_inner();
            let ws: Vec<Value> = r
                .objects
                .iter()
                .map(|o| serde_json::from_slice(&o.json))
                .collect::<Result<Vec<Value>, _>>()?
                .into_iter()
                .filter(|w| camera.as_deref().is_none_or(|c| w["camera"] == c))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&ws)?);
            } else {
                let mut rows = vec![["AGENT", "CAMERA", "START", "END"]
                    .map(String::from)
                    .to_vec()];
                for w in &ws {
                    rows.push(vec![
                        text(field(w, &["agent"])),
                        text(field(w, &["camera"])),
                        text(field(w, &["start"])),
                        text(field(w, &["end"])),
                    ]);
                }
                print_rows(rows);
            }
        }
        Cmd::Agent(ac) => {
            let mut client = pb::fleet_client::FleetClient::new(c.channel.clone());
            match ac {
                AgentCmd::Enroll { site, name } => {
                    let r = client
                        .create_enroll_token(c.req(pb::EnrollTokenRequest { site, agent: name })?)
                        .await
                        .map_err(status)?
                        .into_inner();
                    println!(
                        "agent/{} registered; one-time enrolment token (valid until {}):",
                        r.agent, r.expires_at
                    );
                    println!("{}", r.token);
                }
                AgentCmd::List => {
                    let r = client
                        .list_agents(c.req(pb::Empty {})?)
                        .await
                        .map_err(status)?
                        .into_inner();
                    let objs: Vec<Value> = r
                        .objects
                        .iter()
                        .map(|o| serde_json::from_slice(&o.json))
                        .collect::<Result<_, _>>()?;
                    print_objects(Kind::Agent, &objs, Output::Table, false)?;
                }
                AgentCmd::Revoke { name } => {
                    client
                        .revoke(c.req(pb::AgentName {
                            agent: name.clone(),
                        })?)
                        .await
                        .map_err(status)?;
                    println!("agent/{name} revoked");
                }
            }
        }
        Cmd::Camera(CameraCmd::Activate(a)) => transition(&c, "activate", a).await?,
        Cmd::Camera(CameraCmd::Suspend(a)) => transition(&c, "suspend", a).await?,
        Cmd::Camera(CameraCmd::Retire(a)) => transition(&c, "retire", a).await?,
        Cmd::User(uc) => {
            let mut client = pb::users_client::UsersClient::new(c.channel.clone());
            match uc {
                UserCmd::Add {
                    name,
                    roles,
                    department,
                    display_name,
                    password_stdin,
                } => {
                    let password = if password_stdin {
                        let mut s = String::new();
                        std::io::stdin().read_to_string(&mut s)?;
                        s.trim_end_matches(['\n', '\r']).to_string()
                    } else {
                        String::new()
                    };
                    let spec = serde_json::json!({"display_name": display_name, "department": department, "roles": roles});
                    let body = serde_json::json!({"name": name, "spec": spec});
                    let r = client
                        .add(c.req(pb::AddUserRequest {
                            json: serde_json::to_vec(&body)?,
                            password,
                        })?)
                        .await
                        .map_err(status)?
                        .into_inner();
                    println!("user/{name} created");
                    if !r.one_time_password.is_empty() {
                        println!("one-time password (shown once): {}", r.one_time_password);
                    }
                }
                UserCmd::Grant {
                    name,
                    roles,
                    revoke,
                } => {
                    let o = client
                        .grant(c.req(pb::GrantRequest {
                            username: name,
                            roles,
                            revoke,
                        })?)
                        .await
                        .map_err(status)?
                        .into_inner();
                    let v: Value = serde_json::from_slice(&o.json)?;
                    print_objects(Kind::User, &[v], Output::Table, true)?;
                }
                UserCmd::List => {
                    let r = client
                        .list(c.req(pb::Empty {})?)
                        .await
                        .map_err(status)?
                        .into_inner();
                    let objs: Vec<Value> = r
                        .objects
                        .iter()
                        .map(|o| serde_json::from_slice(&o.json))
                        .collect::<Result<_, _>>()?;
                    print_objects(Kind::User, &objs, Output::Table, false)?;
                }
            }
        }
        Cmd::Audit(ac) => {
            let mut client = pb::audit_client::AuditClient::new(c.channel.clone());
            match ac {
                AuditCmd::Verify => {
                    let r = client
                        .verify(c.req(pb::Empty {})?)
                        .await
                        .map_err(status)?
                        .into_inner();
                    if r.ok {
                        println!("audit log ok: {}", r.message);
                    } else {
                        println!(
                            "audit log BROKEN at entry {}: {}",
                            r.first_broken_seq, r.message
                        );
                        return Ok(1);
                    }
                }
                AuditCmd::Report { month, out } => {
                    let r = pb::audit_reports_client::AuditReportsClient::new(c.channel.clone())
                        .monthly(c.req(pb::AuditReportRequest { month })?)
                        .await
                        .map_err(status)?
                        .into_inner();
                    std::fs::create_dir_all(&out)
                        .with_context(|| format!("creating {}", out.display()))?;
                    for (name, bytes) in [("report.html", &r.html), ("report.csv", &r.csv)] {
                        let p = out.join(name);
                        std::fs::write(&p, bytes)
                            .with_context(|| format!("writing {}", p.display()))?;
                        println!("{}", p.display());
                    }
                    eprintln!("{} audit entries in the month", r.entries);
                }
                AuditCmd::Tail { limit, json } => {
                    let r = client
                        .tail(c.req(pb::TailRequest { limit })?)
                        .await
                        .map_err(status)?
                        .into_inner();
                    for e in r.entries {
                        let v: Value = serde_json::from_slice(&e.json)?;
                        if json {
                            println!("{}", serde_json::to_string(&v)?);
                        } else {
                            let s = |k: &str| {
                                v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
                            };
                            println!(
                                "{:>6}  {}  {:<14} {:<24} {}/{}  {}",
                                e.seq,
                                s("at"),
                                s("actor"),
                                s("action"),
                                s("kind"),
                                s("name"),
                                s("result")
                            );
                        }
                    }
                }
            }
        }
        Cmd::Placement(pc) => return placement_online(&c, pc).await,
        Cmd::Gis(gc) => gis(&c, gc).await?,
        Cmd::Rules(RulesCmd::Apply { file }) => {
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let r = placement_client(&c)
                .apply_rules(c.req(pb::ApplyRulesRequest {
                    file: Some(pb::LayerFile {
                        name: file.display().to_string(),
                        data,
                    }),
                })?)
                .await
                .map_err(status)?
                .into_inner();
            print_loaded(&r);
        }
    }
    Ok(0)
}

/// Prints a search's reads; exit 3 when some site did not answer.
fn print_search(r: pb::SearchResponse, output: Output) -> Result<i32> {
    let reads: Vec<Value> = serde_json::from_slice(&r.reads_json)?;
    if output == Output::Table {
        let mut rows = vec![[
            "TIME",
            "PLATE",
            "CAMERA",
            "SITE",
            "CONFIDENCE",
            "LOCATION",
            "READ",
        ]
        .map(String::from)
        .to_vec()];
        for x in &reads {
            let loc = match (x["location"]["lat"].as_f64(), x["location"]["lon"].as_f64()) {
                (Some(a), Some(b)) => format!("{a:.5},{b:.5}"),
                _ => "-".into(),
            };
            rows.push(vec![
                text(field(x, &["time"])),
                text(field(x, &["plate"])),
                text(field(x, &["camera"])),
                text(field(x, &["site"])),
                text(field(x, &["confidence"])),
                loc,
                text(field(x, &["id"])),
            ]);
        }
        print_table(rows);
        eprintln!(
            "query {}: {} reads from {} sites' agents",
            r.query_id,
            reads.len(),
            r.answered.len()
        );
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "query_id": r.query_id, "reads": reads, "answered": r.answered,
                "unreachable": r.unreachable.iter().map(|u| serde_json::json!({"agent": u.agent, "reason": u.reason})).collect::<Vec<_>>(),
            }))?
        );
    }
    if !r.unreachable.is_empty() {
        for u in &r.unreachable {
            eprintln!("did not answer: {} ({})", u.agent, u.reason);
        }
        return Ok(3);
    }
    Ok(0)
}

fn placement_check(a: &CheckCli) -> i32 {
    let args = camplane_placement::offline::CheckArgs {
        streets: a.streets.clone(),
        city_property: a.city_property.clone(),
        other_public: a.other_public.clone(),
        kiosks: a.kiosks.clone(),
        residential: a.residential.clone(),
        rules: a.rules.clone(),
        requests: a.requests.clone(),
        request: a.request.clone(),
        repair_polygons: a.repair_polygons,
        map: a.map.clone(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let code = camplane_placement::offline::run_check(&args, &mut out, &mut std::io::stderr());
    if std::io::Write::flush(&mut out).is_err() {
        return 1;
    }
    code
}

fn placement_client(c: &Client) -> pb::placement_client::PlacementClient<Channel> {
    pb::placement_client::PlacementClient::new(c.channel.clone())
        .max_decoding_message_size(crate::placement::MAX_MESSAGE)
        .max_encoding_message_size(crate::placement::MAX_MESSAGE)
}

fn print_loaded(r: &pb::LayerVersionInfo) {
    let v: Value = serde_json::from_slice(&r.json).unwrap_or(Value::Null);
    for rep in &r.repairs {
        eprintln!("repaired {rep}");
    }
    println!(
        "{} version {} stored ({} features, {} bytes, sha256 {})",
        r.layer,
        r.version,
        text(field(&v, &["features"])),
        text(field(&v, &["bytes"])),
        text(field(&v, &["sha256"]))
    );
    if !r.pruned.is_empty() {
        let p: Vec<String> = r.pruned.iter().map(|n| n.to_string()).collect();
        println!("pruned old versions no request refers to: {}", p.join(", "));
    }
}

fn alert_header() -> Vec<String> {
    [
        "RECEIVED", "SEEN", "CAMERA", "PLATE", "CATEGORY", "LIST", "REASON", "STATUS", "CASE", "ID",
    ]
    .map(String::from)
    .to_vec()
}

fn alert_row(a: &Value) -> Vec<String> {
    vec![
        text(field(a, &["received_at"])),
        text(field(a, &["time"])),
        text(field(a, &["camera"])),
        text(field(a, &["plate"])),
        text(field(a, &["category"])),
        text(field(a, &["list"])),
        text(field(a, &["entry", "reason"])),
        text(field(a, &["status"])),
        text(field(a, &["case_number"])),
        text(field(a, &["id"])),
    ]
}

fn print_table(rows: Vec<Vec<String>>) {
    let widths: Vec<usize> = (0..rows.first().map_or(0, |r| r.len()))
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

async fn gis(c: &Client, gc: GisCmd) -> Result<()> {
    match gc {
        GisCmd::Load {
            layer,
            files,
            repair_polygons,
        } => {
            let mut fs = Vec::new();
            for f in &files {
                let data = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
                fs.push(pb::LayerFile {
                    name: f.display().to_string(),
                    data,
                });
            }
            let r = placement_client(c)
                .load_layer(c.req(pb::LoadLayerRequest {
                    layer,
                    files: fs,
                    repair_polygons,
                })?)
                .await
                .map_err(status)?
                .into_inner();
            print_loaded(&r);
        }
        GisCmd::List { output } => {
            let r = placement_client(c)
                .list(c.req(pb::Empty {})?)
                .await
                .map_err(status)?
                .into_inner();
            let v: Value = serde_json::from_slice(&r.json)?;
            if let Format::Json = output {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            let mut rows = vec![[
                "LAYER",
                "VERSION",
                "CURRENT",
                "FEATURES",
                "BYTES",
                "LOADED",
                "BY",
                "REFERENCED",
                "FILES",
            ]
            .map(String::from)
            .to_vec()];
            for l in v.as_array().into_iter().flatten() {
                let versions = l["versions"].as_array().cloned().unwrap_or_default();
                if versions.is_empty() {
                    rows.push(vec![
                        text(&l["layer"]),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "(not loaded)".into(),
                    ]);
                }
                let referenced = l["referenced"].as_array().cloned().unwrap_or_default();
                for ver in versions {
                    rows.push(vec![
                        text(&l["layer"]),
                        text(&ver["version"]),
                        if ver["version"] == l["current"] {
                            "*"
                        } else {
                            ""
                        }
                        .into(),
                        text(&ver["features"]),
                        text(&ver["bytes"]),
                        text(&ver["loaded_at"]),
                        text(&ver["loaded_by"]),
                        if referenced.contains(&ver["version"]) {
                            "yes"
                        } else {
                            "no"
                        }
                        .into(),
                        text(&ver["files"]),
                    ]);
                }
            }
            print_table(rows);
        }
    }
    Ok(())
}

async fn placement_online(c: &Client, pc: PlacementCmd) -> Result<i32> {
    match pc {
        PlacementCmd::Check(a) => Ok(placement_check(&a)),
        PlacementCmd::Recheck { all, output } => {
            let r = placement_client(c)
                .recheck(c.req(pb::RecheckRequest { all })?)
                .await
                .map_err(status)?
                .into_inner();
            let v: Value = serde_json::from_slice(&r.json)?;
            if let Format::Json = output {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            let mut rows = vec![[
                "CAMERA",
                "STATE",
                "REQUEST",
                "VERDICT",
                "WAS",
                "OUT OF COMPLIANCE",
                "BASES",
                "REASONS",
                "NEAREST STREET",
            ]
            .map(String::from)
            .to_vec()];
            for cam in v["cameras"].as_array().into_iter().flatten() {
                let a = &cam["answer"];
                let nearest = match &a["nearest_street"] {
                    Value::Null => "-".to_string(),
                    n => format!(
                        "{} ({}, {} m)",
                        text(&n["name"]),
                        text(&n["class"]),
                        text(&n["distance_m"])
                    ),
                };
                rows.push(vec![
                    text(&cam["camera"]),
                    text(&cam["state"]),
                    text(&cam["request"]),
                    text(&cam["verdict"]),
                    text(&cam["was"]),
                    if cam["out_of_compliance"] == true {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                    text(&a["bases"]),
                    text(&a["reasons"]),
                    nearest,
                ]);
            }
            println!(
                "layers {}, rules {}: {} camera(s) out of compliance",
                serde_json::to_string(&v["layers"])?,
                text(&v["rules"]).replace('-', "defaults"),
                text(&v["out_of_compliance"])
            );
            if rows.len() > 1 {
                print_table(rows);
            }
            Ok(0)
        }
        PlacementCmd::Map { out } => {
            let r = placement_client(c)
                .map(c.req(pb::Empty {})?)
                .await
                .map_err(status)?
                .into_inner();
            std::fs::write(&out, r.svg.as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            println!("map written to {} ({} bytes)", out.display(), r.svg.len());
            Ok(0)
        }
    }
}

async fn act(
    client: &mut pb::approvals_client::ApprovalsClient<Channel>,
    c: &Client,
    s: Step,
    action: &str,
) -> Result<pb::Object> {
    Ok(client
        .act(c.req(pb::ActRequest {
            id: s.id,
            action: action.into(),
            role: s.role.unwrap_or_default(),
            comment: s.comment,
        })?)
        .await
        .map_err(status)?
        .into_inner())
}

async fn transition(c: &Client, action: &str, a: CamArgs) -> Result<()> {
    let o = pb::cameras_client::CamerasClient::new(c.channel.clone())
        .transition(c.req(pb::CameraAction {
            name: a.name,
            action: action.into(),
            reason: a.reason,
        })?)
        .await
        .map_err(status)?
        .into_inner();
    let v: Value = serde_json::from_slice(&o.json)?;
    print_objects(Kind::Camera, &[v], Output::Table, true)
}

fn print_rows(rows: Vec<Vec<String>>) {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

fn write_private(p: &std::path::Path, s: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(p)?;
    std::io::Write::write_all(&mut f, s.as_bytes())?;
    Ok(())
}

fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for p in path {
        cur = cur.get(p).unwrap_or(&Value::Null);
    }
    cur
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn print_objects(kind: Kind, objs: &[Value], output: Output, single: bool) -> Result<()> {
    match output {
        Output::Json => {
            let v = if single && objs.len() == 1 {
                objs[0].clone()
            } else {
                Value::Array(objs.to_vec())
            };
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Output::Yaml => {
            let items: Vec<_> = objs
                .iter()
                .map(|o| {
                    let st = field(o, &["status"]).clone();
                    (
                        kind,
                        text(field(o, &["name"])),
                        field(o, &["spec"]).clone(),
                        (!st.is_null()).then_some(st),
                    )
                })
                .collect();
            print!("{}", manifest::render_yaml(&items));
        }
        Output::Table => {
            let cols: Vec<(&str, Vec<&str>)> = match kind {
                Kind::Camera => vec![
                    ("SITE", vec!["spec", "site"]),
                    ("DEPARTMENT", vec!["spec", "department"]),
                    ("KIND", vec!["spec", "kind"]),
                    ("PURPOSE", vec!["spec", "purpose"]),
                    ("STATE", vec!["status", "state"]),
                ],
                Kind::PlacementRequest => vec![
                    ("DEPARTMENT", vec!["spec", "department"]),
                    ("KIND", vec!["spec", "kind"]),
                    ("PURPOSE", vec!["spec", "purpose"]),
                    ("STATE", vec!["status", "state"]),
                ],
                Kind::Site => vec![
                    ("ADDRESS", vec!["spec", "address"]),
                    ("LAT", vec!["spec", "lat"]),
                    ("LON", vec!["spec", "lon"]),
                ],
                Kind::Department => vec![("DISPLAY NAME", vec!["spec", "display_name"])],
                Kind::User => vec![
                    ("DEPARTMENT", vec!["spec", "department"]),
                    ("ROLES", vec!["spec", "roles"]),
                ],
                Kind::LegalHold => vec![
                    ("CASE", vec!["spec", "case_number"]),
                    ("REASON", vec!["spec", "reason"]),
                    ("CAMERAS", vec!["spec", "cameras"]),
                    ("FROM", vec!["spec", "from"]),
                    ("UNTIL", vec!["spec", "until"]),
                    ("RELEASED", vec!["status", "released_at"]),
                ],
                Kind::Agent => vec![
                    ("SITE", vec!["spec", "site"]),
                    ("CERT EXPIRES", vec!["status", "cert_expires"]),
                    ("REVOKED", vec!["status", "revoked"]),
                ],
            };
            let mut rows = vec![std::iter::once("NAME".to_string())
                .chain(cols.iter().map(|(h, _)| h.to_string()))
                .collect::<Vec<_>>()];
            for o in objs {
                rows.push(
                    std::iter::once(text(field(o, &["name"])))
                        .chain(cols.iter().map(|(_, p)| text(field(o, p))))
                        .collect(),
                );
            }
            print_rows(rows);
        }
    }
    Ok(())
}
