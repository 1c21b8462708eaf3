//! `hold`: legal holds, which keep recordings past retention for a case.

use crate::call::{call, Client};
use crate::output::{print_objects, Output};
use anyhow::Result;
use camplane_config::model::Kind;
use camplane_proto::v1 as pb;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum HoldCmd {
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

/// Runs a `hold` command.
pub async fn run(c: &Client, hc: HoldCmd) -> Result<i32> {
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
            let o = call(client.create(c.req(pb::SubmitRequest {
                json: serde_json::to_vec(&spec)?,
            })?))
            .await?;
            let v: serde_json::Value = serde_json::from_slice(&o.json)?;
            print_objects(Kind::LegalHold, &[v], Output::Table, true)?;
        }
        HoldCmd::Release { name } => {
            call(client.release(c.req(pb::HoldName { name: name.clone() })?)).await?;
            println!("legalhold/{name} released");
        }
        HoldCmd::List => {
            let objs = crate::objects::list(c, Kind::LegalHold, String::new()).await?;
            print_objects(Kind::LegalHold, &objs, Output::Table, false)?;
        }
    }
    Ok(0)
}
