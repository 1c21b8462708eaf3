//! `alerts`: hotlist alerts raised by the agents, and their review
//! (verify, reject, act).

use crate::call::{call, status, Client};
use crate::output::{field, header, print_table, text, values, Output};
use anyhow::Result;
use camplane_proto::v1 as pb;
use clap::Subcommand;
use serde_json::Value;

#[derive(Subcommand)]
pub(crate) enum AlertsCmd {
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
}

/// Runs an `alerts` command.
pub async fn run(c: &Client, ac: AlertsCmd) -> Result<i32> {
    match ac {
        AlertsCmd::List { since, output } => {
            // Follow the server's pages to the end.
            let mut alerts = Vec::new();
            let mut after = String::new();
            loop {
                let r = call(
                    pb::alerts_client::AlertsClient::new(c.channel.clone()).list(c.req(
                        pb::AlertsRequest {
                            since: since.clone().unwrap_or_default(),
                            after: after.clone(),
                        },
                    )?),
                )
                .await?;
                alerts.extend(values(&r.objects)?);
                if r.next_after.is_empty() || r.next_after <= after {
                    break;
                }
                after = r.next_after;
            }
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
        AlertsCmd::Watch {
            since,
            output,
            count,
        } => {
            let mut s = call(
                pb::alerts_client::AlertsClient::new(c.channel.clone()).watch(c.req(
                    pb::AlertsRequest {
                        since: since.unwrap_or_default(),
                        ..Default::default()
                    },
                )?),
            )
            .await?;
            if output == Output::Table {
                eprintln!("{}", alert_header().join("  "));
            }
            let mut n = 0usize;
            while let Some(o) = s.message().await.map_err(status)? {
                let a: Value = serde_json::from_slice(&o.json)?;
                if output == Output::Table {
                    println!("{}", crate::output::clean(&alert_row(&a).join("  ")));
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
        AlertsCmd::Verify {
            id,
            visual,
            state_check,
            note,
        } => {
            review(
                c,
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
        AlertsCmd::Reject { id, reason, note } => {
            review(
                c,
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
        AlertsCmd::Act {
            id,
            case_number,
            note,
        } => {
            review(
                c,
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
    }
    Ok(0)
}

async fn review(c: &Client, r: pb::AlertReviewRequest) -> Result<()> {
    let o =
        call(pb::alert_review_client::AlertReviewClient::new(c.channel.clone()).review(c.req(r)?))
            .await?;
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

fn alert_header() -> Vec<String> {
    header([
        "RECEIVED", "SEEN", "CAMERA", "PLATE", "CATEGORY", "LIST", "REASON", "STATUS", "CASE", "ID",
    ])
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
