//! `agent`: site gateways: enrolment tokens, the list, revocation, reinstatement.

use crate::call::{call, Client};
use crate::output::{print_objects, values, Output};
use anyhow::Result;
use camplane_config::model::Kind;
use camplane_proto::v1 as pb;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum AgentCmd {
    /// Register a site's gateway and print its one-time enrolment token.
    Enroll {
        /// The site.
        #[arg(long)]
        site: String,
        /// The agent's name (default: SITE-gw).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List agents.
    List,
    /// Refuse an agent from now on (its outstanding enrolment tokens are cancelled).
    Revoke {
        /// Agent name.
        name: String,
    },
    /// Let a revoked agent enrol again with a new token (admin; audited with the reason).
    Reinstate {
        /// Agent name.
        name: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

/// Runs an `agent` command.
pub async fn run(c: &Client, ac: AgentCmd) -> Result<i32> {
    let mut client = pb::fleet_client::FleetClient::new(c.channel.clone());
    match ac {
        AgentCmd::Enroll { site, name } => {
            let r = call(
                client.create_enroll_token(c.req(pb::EnrollTokenRequest { site, agent: name })?),
            )
            .await?;
            println!(
                "agent/{} registered; one-time enrolment token (valid until {}):",
                r.agent, r.expires_at
            );
            println!("{}", r.token);
        }
        AgentCmd::List => {
            let objects = crate::objects::all_pages(|after| {
                let mut client = client.clone();
                async move { call(client.list_agents(c.req(pb::ListRequest { after })?)).await }
            })
            .await?;
            print_objects(Kind::Agent, &values(&objects)?, Output::Table, false)?;
        }
        AgentCmd::Revoke { name } => {
            call(client.revoke(c.req(pb::AgentName {
                agent: name.clone(),
            })?))
            .await?;
            println!("agent/{name} revoked");
        }
        AgentCmd::Reinstate { name, reason } => {
            call(client.reinstate(c.req(pb::AgentReinstateRequest {
                agent: name.clone(),
                reason,
            })?))
            .await?;
            println!(
                "agent/{name} reinstated; it enrols again with a new token (camplane agent enroll)"
            );
        }
    }
    Ok(0)
}
