//! `approvals`: ALPR queries waiting for a supervisor's decision.

use crate::call::{call, Client};
use crate::output::{field, header, print_table, text, Output};
use anyhow::Result;
use camplane_proto::v1 as pb;
use clap::Subcommand;
use serde_json::Value;
use tonic::transport::Channel;

#[derive(Subcommand)]
pub(crate) enum ApprovalsCmd {
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

/// Runs an `approvals` command.
pub async fn run(c: &Client, ac: ApprovalsCmd) -> Result<i32> {
    let mut client = pb::alpr_approvals_client::AlprApprovalsClient::new(c.channel.clone());
    match ac {
        ApprovalsCmd::List { all, output } => {
            // Every page, in order.
            let mut objects = Vec::new();
            let mut after = String::new();
            loop {
                let r = call(client.list(c.req(pb::AlprApprovalsRequest {
                    all,
                    after: after.clone(),
                })?))
                .await?;
                objects.extend(r.objects);
                if r.next_after.is_empty() || r.next_after <= after {
                    break;
                }
                after = r.next_after;
            }
            let list = crate::output::values(&objects)?;
            if output == Output::Table {
                let mut rows = vec![header([
                    "ID",
                    "STATE",
                    "REQUESTED",
                    "BY",
                    "PLATE",
                    "CASE",
                    "PURPOSE",
                    "AGENCY",
                    "WHY",
                ])];
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
    let r = call(client.decide(c.req(pb::AlprApprovalDecision {
        id,
        approve,
        reason,
    })?))
    .await?;
    let a: Value = serde_json::from_slice(&r.json)?;
    println!(
        "{} {} by {}",
        text(field(&a, &["id"])),
        text(field(&a, &["state"])),
        text(field(&a, &["decided_by"]))
    );
    Ok(())
}
