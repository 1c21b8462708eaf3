//! `policy acknowledge`: the signed-in user acknowledges the city's policy
//! themselves, shown its version and its text's SHA-256, giving their own
//! password again.

use crate::call::{call, Client};
use crate::login::password_from_stdin;
use anyhow::Result;
use camplane_proto::v1 as pb;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum PolicyCmd {
    /// Show the policy's version and SHA-256, then acknowledge it with your own
    /// password (read from standard input with --password-stdin).
    Acknowledge {
        /// Read your password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Runs a `policy` command.
pub async fn run(c: &Client, pc: PolicyCmd) -> Result<i32> {
    let mut client = pb::users_client::UsersClient::new(c.channel.clone());
    match pc {
        PolicyCmd::Acknowledge { password_stdin } => {
            let p = call(client.policy(c.req(pb::Empty {})?)).await?;
            println!("policy version: {}", p.version);
            println!("policy text SHA-256: {}", p.sha256);
            let password = if password_stdin {
                password_from_stdin()?
            } else {
                crate::login::prompt("your password, to acknowledge this policy")?
            };
            let done = call(
                client.acknowledge_policy(c.req(pb::AcknowledgePolicyRequest {
                    password,
                    version: p.version,
                    sha256: p.sha256,
                })?),
            )
            .await?;
            println!("acknowledged policy version {}", done.version);
        }
    }
    Ok(0)
}
