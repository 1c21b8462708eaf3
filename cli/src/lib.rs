//! The `camplane` command-line client. It speaks only gRPC to the controller
//! (one call helper, [`call`]); each noun has its own module. Offline commands
//! (`placement check`, `export verify`) use the placement and export crates.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

mod agent;
mod alerts;
mod approvals;
mod audit;
pub mod call;
mod camera;
mod case_assist;
mod complaint;
mod compliance;
mod export;
mod files;
mod gis;
mod hold;
mod hotlist;
mod login;
mod maintenance;
mod masks;
mod objects;
mod output;
mod placement;
mod policy;
mod publog;
mod recordings;
mod records;
mod request;
mod rules;
mod search;
mod user;
mod view;

pub use search::EXIT_PENDING_APPROVAL;

use output::Output;

/// The command line: the global flags and one command.
#[derive(Parser)]
#[command(
    name = "camplane",
    version,
    about = "Manage a city's cameras and ALPR readers under its policy",
    long_about = None
)]
pub struct Cli {
    /// Controller address.
    #[arg(
        long,
        global = true,
        env = "CAMPLANE_SERVER",
        default_value = "https://127.0.0.1:7100"
    )]
    server: String,
    /// Allow a plain http:// server to receive passwords and tokens (a test
    /// controller on loopback only: anyone on the path reads them).
    #[arg(long, global = true)]
    insecure_plaintext: bool,
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
    /// Change your own password (asks for the current one, then the new one).
    Passwd {
        /// Read the current and the new password from standard input, one per line.
        #[arg(long)]
        password_stdin: bool,
    },
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
        /// sites, departments, cameras, requests, users, agents, holds, feeschedules.
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
    Request(request::RequestCmd),
    /// Camera life cycle.
    #[command(subcommand)]
    Camera(camera::CameraCmd),
    /// Users and roles.
    #[command(subcommand)]
    User(user::UserCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Site gateways (agents).
    #[command(subcommand)]
    Agent(agent::AgentCmd),
    /// Legal holds: recordings kept past retention for a case.
    #[command(subcommand)]
    Hold(hold::HoldCmd),
    /// Placement compliance: `check` runs offline on files; `recheck` and `map`
    /// use the controller's layers and cameras.
    #[command(subcommand)]
    Placement(placement::PlacementCmd),
    /// GIS layers kept by the controller (versioned).
    #[command(subcommand)]
    Gis(gis::GisCmd),
    /// Placement rules kept by the controller (versioned).
    #[command(subcommand)]
    Rules(rules::RulesCmd),
    /// Hotlists the agents match every plate read against.
    #[command(subcommand)]
    Hotlist(hotlist::HotlistCmd),
    /// Hotlist alerts raised by the agents.
    #[command(subcommand)]
    Alerts(alerts::AlertsCmd),
    /// Case-numbered searches of the plate reads kept on the sites.
    #[command(subcommand)]
    Search(search::SearchCmd),
    /// ALPR queries waiting for a supervisor's approval (patterns, other agencies).
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCmd),
    /// Recordings: the chief's authorizations, case-numbered exports.
    #[command(subcommand)]
    Recordings(recordings::RecordingsCmd),
    /// Exported recordings, checked offline.
    #[command(subcommand)]
    Export(export::ExportCmd),
    /// The monthly public log of plate reader use.
    #[command(subcommand)]
    Publog(publog::PublogCmd),
    /// Assists to cases, counted by offence in the public log (never the case number).
    #[command(subcommand)]
    CaseAssist(case_assist::CaseAssistCmd),
    /// The city's policy: acknowledge it yourself.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// Complaints about the use of the cameras, the chief's decision and appeals.
    #[command(subcommand)]
    Complaint(complaint::ComplaintCmd),
    /// External requests to release records: the Public Information Officer
    /// reviews and decides after the City Attorney's advice.
    #[command(subcommand)]
    RecordsRequest(records::RecordsCmd),
    /// Maintenance and testing of the cameras, the chief's vendor list and
    /// overdue tests.
    #[command(subcommand)]
    Maintenance(maintenance::MaintenanceCmd),
    /// A department's monthly compliance report (auditors; a department
    /// manager for their own department).
    #[command(subcommand)]
    Compliance(compliance::ComplianceCmd),
    /// Watching cameras through the controller (audited), and who watches.
    #[command(subcommand)]
    View(view::ViewCmd),
    /// Privacy masks: the chief lifts a camera's masks for one user (at most
    /// 60 minutes, audited).
    #[command(subcommand)]
    Masks(masks::MasksCmd),
}

/// Runs the CLI; returns the process exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    // Offline: no controller, no sign-in.
    if let Cmd::Placement(placement::PlacementCmd::Check(a)) = &cli.cmd {
        return Ok(placement::check(a));
    }
    if let Cmd::Export(export::ExportCmd::Verify { dir }) = &cli.cmd {
        return export::verify(dir, cli.ca.as_ref());
    }
    let c = call::Client::connect(
        &cli.server,
        cli.ca.as_deref(),
        cli.token.clone(),
        cli.insecure_plaintext,
    )?;
    match cli.cmd {
        Cmd::Login {
            username,
            password_stdin,
        } => login::login(&c, username, password_stdin).await,
        Cmd::Logout => login::logout(&c).await,
        Cmd::Passwd { password_stdin } => login::passwd(&c, password_stdin).await,
        Cmd::Whoami => login::whoami(&c).await,
        Cmd::Apply { files } => objects::apply(&c, &files).await,
        Cmd::Get { kind, name, output } => objects::get(&c, &kind, name, output).await,
        Cmd::Delete { kind, name } => objects::delete(&c, &kind, &name).await,
        Cmd::Request(rc) => request::run(&c, rc).await,
        Cmd::Camera(cc) => camera::run(&c, cc).await,
        Cmd::User(uc) => user::run(&c, uc).await,
        Cmd::Audit(ac) => audit::run(&c, ac).await,
        Cmd::Agent(ac) => agent::run(&c, ac).await,
        Cmd::Hold(hc) => hold::run(&c, hc).await,
        Cmd::Placement(pc) => placement::run(&c, pc).await,
        Cmd::Gis(gc) => gis::run(&c, gc).await,
        Cmd::Rules(rc) => rules::run(&c, rc).await,
        Cmd::Hotlist(hc) => hotlist::run(&c, hc).await,
        Cmd::Alerts(ac) => alerts::run(&c, ac).await,
        Cmd::Search(sc) => search::run(&c, sc).await,
        Cmd::Approvals(ac) => approvals::run(&c, ac).await,
        Cmd::Recordings(rc) => recordings::run(&c, cli.ca.as_ref(), rc).await,
        Cmd::Export(export::ExportCmd::Verify { dir }) => export::verify(&dir, cli.ca.as_ref()),
        Cmd::Publog(pc) => publog::run(&c, pc).await,
        Cmd::CaseAssist(cc) => case_assist::run(&c, cc).await,
        Cmd::Policy(pc) => policy::run(&c, pc).await,
        Cmd::Complaint(cc) => complaint::run(&c, cc).await,
        Cmd::Maintenance(mc) => maintenance::run(&c, mc).await,
        Cmd::Compliance(cc) => compliance::run(&c, cc).await,
        Cmd::RecordsRequest(rc) => records::run(&c, cli.ca.as_ref(), rc).await,
        Cmd::View(vc) => view::run(&c, vc).await,
        Cmd::Masks(mc) => masks::run(&c, mc).await,
    }
}
