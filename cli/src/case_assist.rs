//! `case-assist add`: an assist of plate reads to a case, counted by offence in
//! the public log.

use crate::call::{call, Client};
use crate::output::{field, text};
use anyhow::Result;
use camplane_proto::v1 as pb;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum CaseAssistCmd {
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

/// Runs a `case-assist` command.
pub async fn run(c: &Client, cc: CaseAssistCmd) -> Result<i32> {
    let CaseAssistCmd::Add {
        case_number,
        offense,
        arrests,
        date,
    } = cc;
    let o = call(
        pb::public_log_client::PublicLogClient::new(c.channel.clone()).add_case_assist(c.req(
            pb::CaseAssistRequest {
                case_number,
                offense,
                arrests,
                date: date.unwrap_or_default(),
            },
        )?),
    )
    .await?;
    let v: serde_json::Value = serde_json::from_slice(&o.json)?;
    println!(
        "case assist recorded: {} on {} ({} arrests)",
        text(field(&v, &["offense"])),
        text(field(&v, &["date"])),
        text(field(&v, &["arrests"]))
    );
    Ok(0)
}
