//! `compliance report`: a department's month: its cameras and their states,
//! overdue tests and non-operational cameras, what its users did with video
//! and plate reads, and open complaints about its cameras.

use crate::call::{call, Client};
use crate::output::{clean, field, header, print_table, text};
use anyhow::Result;
use camplane_proto::v1 as pb;
use clap::Subcommand;
use serde_json::Value;

#[derive(Subcommand)]
pub(crate) enum ComplianceCmd {
    /// The report of one department and month (auditors; a department
    /// manager for their own department).
    Report {
        /// The department.
        #[arg(long)]
        department: String,
        /// The month, YYYY-MM (the city's time zone).
        #[arg(long)]
        month: String,
        /// Output the report as one JSON document.
        #[arg(long)]
        json: bool,
    },
}

fn rows(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Runs a `compliance` command.
pub async fn run(c: &Client, cc: ComplianceCmd) -> Result<i32> {
    let ComplianceCmd::Report {
        department,
        month,
        json,
    } = cc;
    let mut client = pb::compliance_client::ComplianceClient::new(c.channel.clone());
    let o = call(client.report(c.req(pb::ComplianceReportRequest { department, month })?)).await?;
    let v: Value = serde_json::from_slice(&o.json)?;
    if json {
        println!("{v}");
        return Ok(0);
    }
    println!(
        "compliance report: department {}, {} ({} to {})",
        clean(&text(&v["department"])),
        clean(&text(&v["month"])),
        text(&v["from"]),
        text(&v["until"])
    );
    println!("\ncameras:");
    let mut t = vec![header([
        "CAMERA",
        "STATE",
        "SINCE",
        "NON-OPERATIONAL SINCE",
    ])];
    for cam in rows(&v["cameras"]) {
        t.push(vec![
            text(field(cam, &["camera"])),
            text(field(cam, &["state"])),
            text(field(cam, &["state_since"])),
            text(field(cam, &["non_operational_since"])),
        ]);
    }
    print_table(t);
    println!(
        "\noverdue tests or non-operational ({}):",
        rows(&v["overdue"]).len()
    );
    for o in rows(&v["overdue"]) {
        let reasons: Vec<String> = rows(&o["reasons"])
            .iter()
            .map(|r| r.get("reason").map(text).unwrap_or_else(|| r.to_string()))
            .collect();
        println!(
            "  {}: {}",
            clean(&text(&o["camera"])),
            clean(&reasons.join(", "))
        );
    }
    println!("\naccess by the department's users:");
    let mut t = vec![header(["USER", "VIEWS", "EXPORTS", "SEARCHES", "REFUSALS"])];
    for a in rows(&v["activity"]) {
        t.push(
            ["user", "views", "exports", "searches", "refusals"]
                .iter()
                .map(|k| text(&a[*k]))
                .collect(),
        );
    }
    print_table(t);
    let f = &v["fee_schedule"];
    if f.is_object() {
        let amount = |k: &str| {
            let c = f[k].as_i64().unwrap_or(0);
            format!("{}.{:02}", c / 100, (c % 100).abs())
        };
        println!(
            "\nfee schedule: {} {} per copy, {} per minute, {} per file",
            clean(&text(&f["currency"])),
            amount("base_cents"),
            amount("per_minute_cents"),
            amount("per_file_cents")
        );
    } else {
        println!("\nfee schedule: none (copies carry no fee)");
    }
    println!(
        "\nopen complaints about its cameras ({}):",
        rows(&v["open_complaints"]).len()
    );
    for cp in rows(&v["open_complaints"]) {
        println!(
            "  {} ({}): {}, received {}",
            clean(&text(&cp["id"])),
            clean(&text(&cp["camera"])),
            clean(&text(&cp["stage"])),
            text(&cp["received_at"])
        );
    }
    Ok(0)
}
