//! `masks`: the chief lifts a camera's privacy masks for one user, for at most
//! 60 minutes (audited); that user may then view it with `--unmasked`.

use crate::call::{call, Client};
use anyhow::Result;
use camplane_proto::v1 as pb;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum MasksCmd {
    /// Let USER view CAMERA without its privacy masks for MINUTES (the chief
    /// only, at most 60, with a reason; audited).
    Lift {
        /// Who may view unmasked.
        #[arg(long)]
        user: String,
        /// The camera.
        #[arg(long)]
        camera: String,
        /// For how long, 1 to 60 minutes.
        #[arg(long)]
        minutes: u32,
        /// Why (required; kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

/// Runs a `masks` command.
pub async fn run(c: &Client, mc: MasksCmd) -> Result<i32> {
    match mc {
        MasksCmd::Lift {
            user,
            camera,
            minutes,
            reason,
        } => {
            let o = call(
                pb::masks_client::MasksClient::new(c.channel.clone()).lift(c.req(
                    pb::MaskLiftRequest {
                        user,
                        camera,
                        minutes,
                        reason,
                    },
                )?),
            )
            .await?;
            let v: serde_json::Value = serde_json::from_slice(&o.json)?;
            println!(
                "privacy masks of {} lifted for {} until {}",
                v["camera"].as_str().unwrap_or(""),
                v["user"].as_str().unwrap_or(""),
                v["expires_at"].as_str().unwrap_or("")
            );
            Ok(0)
        }
    }
}
