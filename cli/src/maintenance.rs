//! `maintenance`: maintenance and testing records of the cameras, the chief's
//! list of authorized vendors, and the cameras whose test is overdue.

use crate::call::{call, Client};
use anyhow::Result;
use camplane_proto::v1 as pb;
use clap::{Subcommand, ValueEnum};

/// What was done.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Kind {
    Test,
    Repair,
    Cleaning,
}

/// How it came out.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Outcome {
    Ok,
    Fault,
}

#[derive(Subcommand)]
pub(crate) enum MaintenanceCmd {
    /// Record a maintenance or test of a camera (its department's managers and
    /// engineers, or Information Services); prints the entry's id last.
    Log {
        /// Camera name.
        camera: String,
        /// What was done.
        #[arg(long, value_enum)]
        kind: Kind,
        /// How it came out.
        #[arg(long, value_enum)]
        result: Outcome,
        /// What was done or found.
        #[arg(long)]
        note: String,
        /// The authorized vendor who did it (on the chief's list).
        #[arg(long)]
        vendor: Option<String>,
    },
    /// A camera's maintenance records, oldest first.
    List {
        /// Camera name.
        camera: String,
        /// Output as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Active cameras whose test is overdue or that have been non-operational
    /// for 7 days, with the reason.
    Overdue {
        /// Only this department's cameras.
        #[arg(long)]
        department: Option<String>,
        /// Output as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// The chief's list of authorized maintenance vendors.
    #[command(subcommand)]
    Vendors(VendorsCmd),
}

#[derive(Subcommand)]
pub(crate) enum VendorsCmd {
    /// Add a vendor (chief).
    Add {
        /// Vendor name.
        name: String,
    },
    /// Remove a vendor (chief).
    Remove {
        /// Vendor name.
        name: String,
    },
    /// List the vendors.
    List,
}

fn parse(o: &pb::Object) -> Result<serde_json::Value> {
    Ok(serde_json::from_slice(&o.json)?)
}

/// One line of free text as a table cell.
fn cell(v: &serde_json::Value, n: usize) -> String {
    v.as_str()
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(n)
        .collect()
}

fn print_vendors(o: &pb::Object) -> Result<()> {
    for v in parse(o)?["vendors"].as_array().into_iter().flatten() {
        println!("{}", cell(v, 120));
    }
    Ok(())
}

/// Runs a `maintenance` command.
pub async fn run(c: &Client, mc: MaintenanceCmd) -> Result<i32> {
    let mut client = pb::maintenance_client::MaintenanceClient::new(c.channel.clone());
    match mc {
        MaintenanceCmd::Log {
            camera,
            kind,
            result,
            note,
            vendor,
        } => {
            let kind = match kind {
                Kind::Test => "test",
                Kind::Repair => "repair",
                Kind::Cleaning => "cleaning",
            };
            let result = match result {
                Outcome::Ok => "ok",
                Outcome::Fault => "fault",
            };
            let o = call(client.log(c.req(pb::MaintenanceLogRequest {
                camera: camera.clone(),
                kind: kind.into(),
                result: result.into(),
                note,
                vendor: vendor.unwrap_or_default(),
            })?))
            .await?;
            println!("maintenance of {camera} logged ({kind}: {result})");
            println!("{}", o.name);
        }
        MaintenanceCmd::List { camera, json } => {
            let l = call(client.list(c.req(pb::MaintenanceCamera { camera })?)).await?;
            if !json {
                println!(
                    "{:<30} {:<9} {:<6} {:<16} {:<20} NOTE",
                    "AT", "KIND", "RESULT", "BY", "VENDOR"
                );
            }
            for o in &l.objects {
                let v = parse(o)?;
                if json {
                    println!("{}", serde_json::to_string(&v)?);
                    continue;
                }
                println!(
                    "{:<30} {:<9} {:<6} {:<16} {:<20} {}",
                    cell(&v["at"], 30),
                    cell(&v["kind"], 9),
                    cell(&v["result"], 6),
                    cell(&v["by"], 16),
                    if v["vendor"].is_string() {
                        cell(&v["vendor"], 20)
                    } else {
                        "-".into()
                    },
                    cell(&v["note"], 60)
                );
            }
        }
        MaintenanceCmd::Overdue { department, json } => {
            let l = call(client.overdue(c.req(pb::MaintenanceOverdueRequest {
                department: department.unwrap_or_default(),
            })?))
            .await?;
            if !json {
                println!("{:<24} {:<16} REASON", "CAMERA", "DEPARTMENT");
            }
            for o in &l.objects {
                let v = parse(o)?;
                if json {
                    println!("{}", serde_json::to_string(&v)?);
                    continue;
                }
                for r in v["reasons"].as_array().into_iter().flatten() {
                    let why = match r["reason"].as_str().unwrap_or("") {
                        "test_overdue" => format!(
                            "test overdue since {} (last passed {})",
                            cell(&r["due"], 30),
                            cell(&r["last_test"], 30)
                        ),
                        "never_tested" => format!(
                            "no passed test since activation; due {}",
                            cell(&r["due"], 30)
                        ),
                        "non_operational" => {
                            format!("non-operational since {}", cell(&r["since"], 30))
                        }
                        other => other.to_string(),
                    };
                    println!("{:<24} {:<16} {}", o.name, cell(&v["department"], 16), why);
                }
            }
        }
        MaintenanceCmd::Vendors(VendorsCmd::Add { name }) => {
            let o = call(client.add_vendor(c.req(pb::MaintenanceVendorRequest { name })?)).await?;
            print_vendors(&o)?;
        }
        MaintenanceCmd::Vendors(VendorsCmd::Remove { name }) => {
            let o =
                call(client.remove_vendor(c.req(pb::MaintenanceVendorRequest { name })?)).await?;
            print_vendors(&o)?;
        }
        MaintenanceCmd::Vendors(VendorsCmd::List) => {
            let o = call(client.vendors(c.req(pb::Empty {})?)).await?;
            print_vendors(&o)?;
        }
    }
    Ok(0)
}
