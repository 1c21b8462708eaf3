//! `search`: case-numbered searches of the plate reads kept on the sites, the
//! run of an approved query, and a read's crop.

use crate::call::{call, Client};
use crate::output::{field, header, print_table, text, Output};
use anyhow::{Context, Result};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;

/// Exit code of a query that waits for a supervisor's approval.
pub const EXIT_PENDING_APPROVAL: i32 = 4;

#[derive(Subcommand)]
pub(crate) enum SearchCmd {
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
}

/// Runs a `search` command: exit 3 when some site did not answer, 4 when the
/// query waits for approval.
pub async fn run(c: &Client, sc: SearchCmd) -> Result<i32> {
    match sc {
        SearchCmd::Plate {
            plate,
            case_number,
            purpose,
            from,
            to,
            sites,
            timeout_ms,
            output,
            for_agency,
        } => {
            let r = call(
                pb::alpr_client::AlprClient::new(c.channel.clone()).search(c.req(
                    pb::SearchRequest {
                        plate,
                        case_number,
                        purpose,
                        from: from.unwrap_or_default(),
                        to: to.unwrap_or_default(),
                        sites,
                        timeout_ms,
                        for_agency: for_agency.unwrap_or_default(),
                    },
                )?),
            )
            .await?;
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
            print_search(r, output)
        }
        SearchCmd::Run {
            id,
            timeout_ms,
            output,
        } => {
            let r = call(
                pb::alpr_approvals_client::AlprApprovalsClient::new(c.channel.clone())
                    .run(c.req(pb::RunApprovedRequest { id, timeout_ms })?),
            )
            .await?;
            print_search(r, output)
        }
        SearchCmd::Crop {
            read_id,
            case_number,
            out,
            sites,
        } => {
            let r = call(
                pb::recordings_client::RecordingsClient::new(c.channel.clone()).crop(c.req(
                    pb::CropRequest {
                        read_id,
                        case_number,
                        sites,
                    },
                )?),
            )
            .await?;
            // A plate crop is ALPR data: new, and the owner's only.
            std::io::Write::write_all(&mut crate::files::create_new_private(&out)?, &r.jpeg)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}: {} bytes (camera {}, agent {})",
                out.display(),
                r.jpeg.len(),
                r.camera,
                r.agent
            );
            Ok(0)
        }
    }
}

/// Prints a search's reads; exit 3 when some site did not answer.
fn print_search(r: pb::SearchResponse, output: Output) -> Result<i32> {
    let reads: Vec<Value> = serde_json::from_slice(&r.reads_json)?;
    if output == Output::Table {
        let mut rows = vec![header([
            "TIME",
            "PLATE",
            "CAMERA",
            "SITE",
            "CONFIDENCE",
            "LOCATION",
            "READ",
        ])];
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
