//! `camera`: health and active-collection windows as the agents report them,
//! and the camera life cycle (activate, suspend, retire).

use crate::call::{call, Client};
use crate::output::{field, header, print_objects, print_table, text, values, Output};
use anyhow::Result;
use camplane_config::model::Kind;
use camplane_proto::v1 as pb;
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Subcommand)]
pub(crate) enum CameraCmd {
    /// Health of every camera as their agents report it.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Active-collection windows: when each camera actually delivered video.
    Windows {
        /// Only this camera.
        #[arg(long)]
        camera: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Activate (needs an approved placement request).
    Activate(CamArgs),
    /// Suspend.
    Suspend(CamArgs),
    /// Retire for good.
    Retire(CamArgs),
    /// The camera's own user name and password, kept apart from its spec.
    #[command(subcommand)]
    Credentials(CredentialsCmd),
}

#[derive(Subcommand)]
pub(crate) enum CredentialsCmd {
    /// Set a camera's user name and password (Information Services). The
    /// controller keeps them sealed and sends them only to the camera's agent;
    /// `get` never shows them.
    Set {
        /// Camera name.
        name: String,
        /// The camera's user name.
        #[arg(long)]
        user: String,
        /// Read the password from standard input (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Args)]
pub(crate) struct CamArgs {
    /// Camera name.
    name: String,
    /// Why.
    #[arg(long, default_value = "")]
    reason: String,
}

/// Runs a `camera` command.
pub async fn run(c: &Client, cc: CameraCmd) -> Result<i32> {
    match cc {
        CameraCmd::Status { json } => status(c, json).await?,
        CameraCmd::Windows { camera, json } => windows(c, camera, json).await?,
        CameraCmd::Activate(a) => transition(c, "activate", a).await?,
        CameraCmd::Suspend(a) => transition(c, "suspend", a).await?,
        CameraCmd::Retire(a) => transition(c, "retire", a).await?,
        CameraCmd::Credentials(CredentialsCmd::Set { name, user, .. }) => {
            let password = crate::login::password_from_stdin()?;
            if password.is_empty() {
                anyhow::bail!("no password on standard input");
            }
            call(
                pb::cameras_client::CamerasClient::new(c.channel.clone()).set_credentials(c.req(
                    pb::CameraCredentialsRequest {
                        camera: name.clone(),
                        username: user,
                        password,
                    },
                )?),
            )
            .await?;
            println!("camera/{name} credentials set");
        }
    }
    Ok(0)
}

async fn status(c: &Client, json: bool) -> Result<()> {
    let objects = crate::objects::all_pages(|after| async move {
        call(
            pb::fleet_client::FleetClient::new(c.channel.clone())
                .camera_status(c.req(pb::ListRequest { after })?),
        )
        .await
    })
    .await?;
    let hs = values(&objects)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&hs)?);
        return Ok(());
    }
    let mut rows = vec![header([
        "AGENT",
        "CAMERA",
        "STATE",
        "FPS",
        "KB/S",
        "RECONNECTS",
        "LAST PACKET",
        "REPORTED",
        "LAST ERROR",
    ])];
    for h in &hs {
        let agent = text(field(h, &["agent"]));
        let at = text(field(h, &["received_at"]));
        for cam in field(h, &["health", "cameras"])
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let kbps = field(&cam, &["bytes_per_sec"])
                .as_f64()
                .map(|b| format!("{:.0}", b / 1000.0))
                .unwrap_or("-".into());
            let fps = field(&cam, &["fps"])
                .as_f64()
                .map(|f| format!("{f:.1}"))
                .unwrap_or("-".into());
            rows.push(vec![
                agent.clone(),
                text(field(&cam, &["id"])),
                text(field(&cam, &["state"])),
                fps,
                kbps,
                text(field(&cam, &["reconnects"])),
                text(field(&cam, &["last_packet"])),
                at.clone(),
                text(field(&cam, &["last_error"])),
            ]);
        }
    }
    print_table(rows);
    Ok(())
}

async fn windows(c: &Client, camera: Option<String>, json: bool) -> Result<()> {
    let objects = crate::objects::all_pages(|after| async move {
        call(
            pb::fleet_client::FleetClient::new(c.channel.clone())
                .windows(c.req(pb::ListRequest { after })?),
        )
        .await
    })
    .await?;
    let ws: Vec<Value> = values(&objects)?
        .into_iter()
        .filter(|w| camera.as_deref().is_none_or(|c| w["camera"] == c))
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&ws)?);
        return Ok(());
    }
    let mut rows = vec![header(["AGENT", "CAMERA", "START", "END"])];
    for w in &ws {
        rows.push(vec![
            text(field(w, &["agent"])),
            text(field(w, &["camera"])),
            text(field(w, &["start"])),
            text(field(w, &["end"])),
        ]);
    }
    print_table(rows);
    Ok(())
}

async fn transition(c: &Client, action: &str, a: CamArgs) -> Result<()> {
    let o = call(
        pb::cameras_client::CamerasClient::new(c.channel.clone()).transition(c.req(
            pb::CameraAction {
                name: a.name,
                action: action.into(),
                reason: a.reason,
            },
        )?),
    )
    .await?;
    let v: Value = serde_json::from_slice(&o.json)?;
    print_objects(Kind::Camera, &[v], Output::Table, true)
}
