//! `request`: placement requests and the steps of their approval chain.

use crate::call::{call, Client};
use crate::output::{print_objects, Output};
use anyhow::{anyhow, bail, Result};
use camplane_config::manifest;
use camplane_config::model::Kind;
use camplane_proto::v1 as pb;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use tonic::transport::Channel;

#[derive(Args)]
pub(crate) struct Step {
    /// Request id.
    id: String,
    /// The role to act as, when you hold several that could.
    #[arg(long = "as")]
    role: Option<String>,
    /// Why.
    #[arg(short = 'm', long = "comment", default_value = "")]
    comment: String,
}

#[derive(Subcommand)]
pub(crate) enum RequestCmd {
    /// Submit a placement request from a YAML file (kind: PlacementRequest).
    Submit {
        /// The file.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
    /// Recommend (department manager, then Chief of Police / Information Services).
    Recommend(Step),
    /// Reject at a review step.
    Reject(Step),
    /// Approve (City Manager).
    Approve(Step),
    /// Deny (City Manager).
    Deny(Step),
    /// Override the placement verdict (not_eligible, needs_review; covert: the
    /// chief only) with a written justification, so the City Manager may approve.
    Override {
        /// Request id.
        id: String,
        /// Why the camera is needed where the rules do not allow it.
        #[arg(long, required = true)]
        justification: String,
        /// chief (law enforcement) or engineer (traffic safety), when you hold both.
        #[arg(long = "as")]
        role: Option<String>,
    },
    /// Show a request and its steps.
    Show {
        /// Request id.
        id: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Yaml)]
        output: Output,
    },
}

/// Runs a `request` command; prints the request as it now stands.
pub async fn run(c: &Client, rc: RequestCmd) -> Result<i32> {
    let mut client = pb::approvals_client::ApprovalsClient::new(c.channel.clone());
    let (obj, out) = match rc {
        RequestCmd::Submit { file } => {
            let ms = manifest::load(&file).map_err(|e| anyhow!("{e}\nnothing was submitted"))?;
            let [m] = ms.as_slice() else {
                bail!("{}: give exactly one PlacementRequest", file.display())
            };
            if m.spec.kind() != Kind::PlacementRequest {
                bail!(
                    "{}: kind must be PlacementRequest, not {}",
                    file.display(),
                    m.spec.kind()
                );
            }
            let body = serde_json::json!({"name": m.name, "spec": m.spec.to_json()});
            let o = call(client.submit(c.req(pb::SubmitRequest {
                json: serde_json::to_vec(&body)?,
            })?))
            .await?;
            (o, Output::Table)
        }
        RequestCmd::Show { id, output } => (
            call(client.show(c.req(pb::RequestId { id })?)).await?,
            output,
        ),
        RequestCmd::Recommend(s) => (act(&mut client, c, s, "recommend").await?, Output::Table),
        RequestCmd::Reject(s) => (act(&mut client, c, s, "reject").await?, Output::Table),
        RequestCmd::Approve(s) => (act(&mut client, c, s, "approve").await?, Output::Table),
        RequestCmd::Deny(s) => (act(&mut client, c, s, "deny").await?, Output::Table),
        RequestCmd::Override {
            id,
            justification,
            role,
        } => {
            let s = Step {
                id,
                role,
                comment: justification,
            };
            (act(&mut client, c, s, "override").await?, Output::Table)
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&obj.json)?;
    print_objects(Kind::PlacementRequest, &[v], out, true)?;
    Ok(0)
}

async fn act(
    client: &mut pb::approvals_client::ApprovalsClient<Channel>,
    c: &Client,
    s: Step,
    action: &str,
) -> Result<pb::Object> {
    call(client.act(c.req(pb::ActRequest {
        id: s.id,
        action: action.into(),
        role: s.role.unwrap_or_default(),
        comment: s.comment,
    })?))
    .await
}
