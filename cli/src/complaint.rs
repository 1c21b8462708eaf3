//! `complaint`: complaints about the use of the camera systems, the chief's
//! decision, and appeals to the City Manager and then the City Council.

use crate::call::{call, Client};
use anyhow::{bail, Result};
use camplane_proto::v1 as pb;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum ComplaintCmd {
    /// Record a complaint (chief, City Manager, city clerk); prints its id last.
    File {
        /// Who complained (kept in the record; never published).
        #[arg(long = "from")]
        from: String,
        /// What the complaint says.
        #[arg(long)]
        about: String,
        /// The camera it is about.
        #[arg(long)]
        camera: Option<String>,
        /// When it was received (RFC 3339 or YYYY-MM-DD); default now.
        #[arg(long)]
        received: Option<String>,
    },
    /// Decide whether the policy was followed: the chief first; an appeal's
    /// decision `--as city_manager`, then the Council's `--as city_clerk`.
    Decide {
        /// Complaint id.
        id: String,
        /// The policy was followed.
        #[arg(
            long,
            conflicts_with = "not_followed",
            required_unless_present = "not_followed"
        )]
        followed: bool,
        /// The policy was not followed.
        #[arg(long)]
        not_followed: bool,
        /// The written finding.
        #[arg(long)]
        finding: String,
        /// The role the decision is recorded as: chief, city_manager or city_clerk
        /// (default: the level the complaint waits for).
        #[arg(long = "as")]
        as_role: Option<String>,
    },
    /// Appeal the last decision: the chief's to the City Manager, the City
    /// Manager's to the City Council (City Manager's office, city clerk).
    Appeal {
        /// Complaint id.
        id: String,
    },
    /// List complaints (chief, City Manager, city clerk, auditors).
    List {
        /// Only those waiting for a decision.
        #[arg(long)]
        open: bool,
        /// Output as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Show one complaint with its decisions and appeals, as JSON.
    Show {
        /// Complaint id.
        id: String,
    },
}

fn parse(o: &pb::Object) -> Result<serde_json::Value> {
    Ok(serde_json::from_slice(&o.json)?)
}

/// `waiting: chief`, `decided: city_manager`.
fn stage(v: &serde_json::Value) -> String {
    let s = &v["stage"];
    format!(
        "{}: {}",
        s["stage"].as_str().unwrap_or("?"),
        s["level"].as_str().unwrap_or("?")
    )
}

/// Runs a `complaint` command.
pub async fn run(c: &Client, cc: ComplaintCmd) -> Result<i32> {
    let mut client = pb::complaints_client::ComplaintsClient::new(c.channel.clone());
    match cc {
        ComplaintCmd::File {
            from,
            about,
            camera,
            received,
        } => {
            let o = call(client.file(c.req(pb::ComplaintFileRequest {
                from,
                about,
                camera: camera.unwrap_or_default(),
                received: received.unwrap_or_default(),
            })?))
            .await?;
            let v = parse(&o)?;
            println!("complaint filed ({})", stage(&v));
            println!("{}", o.name);
        }
        ComplaintCmd::Decide {
            id,
            followed,
            not_followed,
            finding,
            as_role,
        } => {
            let outcome = match (followed, not_followed) {
                (true, false) => pb::ComplaintOutcome::Followed,
                (false, true) => pb::ComplaintOutcome::NotFollowed,
                _ => bail!("give one of --followed and --not-followed"),
            };
            let o = call(client.decide(c.req(pb::ComplaintDecision {
                id,
                outcome: outcome as i32,
                finding,
                as_role: as_role.unwrap_or_default(),
            })?))
            .await?;
            println!("complaint {} {}", o.name, stage(&parse(&o)?));
        }
        ComplaintCmd::Appeal { id } => {
            let o = call(client.appeal(c.req(pb::ComplaintId { id })?)).await?;
            println!("complaint {} appealed ({})", o.name, stage(&parse(&o)?));
        }
        ComplaintCmd::List { open, json } => {
            let mut after = String::new();
            if !json {
                println!(
                    "{:<22} {:<26} {:<20} {:<12} ABOUT",
                    "ID", "STAGE", "RECEIVED", "CAMERA"
                );
            }
            loop {
                let l = call(client.list(c.req(pb::ComplaintListRequest {
                    open,
                    after: after.clone(),
                })?))
                .await?;
                for o in &l.objects {
                    let v = parse(o)?;
                    if json {
                        println!("{}", serde_json::to_string(&v)?);
                        continue;
                    }
                    let about: String = v["about"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .take(50)
                        .collect();
                    println!(
                        "{:<22} {:<26} {:<20} {:<12} {}",
                        o.name,
                        stage(&v),
                        v["received_at"].as_str().unwrap_or(""),
                        v["camera"].as_str().unwrap_or("-"),
                        about
                    );
                }
                if l.next_after.is_empty() {
                    break;
                }
                after = l.next_after;
            }
        }
        ComplaintCmd::Show { id } => {
            let o = call(client.show(c.req(pb::ComplaintId { id })?)).await?;
            println!("{}", serde_json::to_string_pretty(&parse(&o)?)?);
        }
    }
    Ok(0)
}
