//! `records-request`: external requests to release records. The Public
//! Information Officer reviews and decides, after the City Attorney's advice.

use crate::call::{call, Client};
use anyhow::{bail, Result};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum RecordsCmd {
    /// Record a request (Public Information Officer, city clerk); prints its id
    /// last. One naming a camera and a range holds those recordings until it closes.
    Open {
        /// Who asked (kept in the record; never published).
        #[arg(long)]
        requester: String,
        /// When it was received (RFC 3339 or YYYY-MM-DD); default now.
        #[arg(long)]
        received: Option<String>,
        /// What is asked for.
        #[arg(long)]
        describe: String,
        /// A camera whose recordings it covers (with --from and --to).
        #[arg(long, requires_all = ["from", "to"])]
        camera: Option<String>,
        /// Start of the range (RFC 3339).
        #[arg(long, requires = "camera")]
        from: Option<String>,
        /// End of the range (RFC 3339).
        #[arg(long, requires = "camera")]
        to: Option<String>,
    },
    /// The Public Information Officer takes a request up.
    Review {
        /// Request id.
        id: String,
        /// The role this step is taken as (pio).
        #[arg(long = "as")]
        as_role: Option<String>,
    },
    /// The City Attorney's advice.
    Advise {
        /// Request id.
        id: String,
        /// The advice.
        #[arg(long)]
        advice: String,
        /// The role this step is taken as (city_attorney).
        #[arg(long = "as")]
        as_role: Option<String>,
    },
    /// The Public Information Officer's decision, after the City Attorney advised.
    Decide {
        /// Request id.
        id: String,
        /// Release the records.
        #[arg(long, conflicts_with = "deny", required_unless_present = "deny")]
        release: bool,
        /// Deny the request (closes it and releases its hold).
        #[arg(long)]
        deny: bool,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Fulfil a released request (closes it and releases its hold). One that
    /// covers a camera's recordings is fulfilled with their copy: masked (the
    /// camera's privacy masks burned in at the site), signed, tied to the
    /// request, its fee from the camera's department's fee schedule recorded
    /// on the request with the manifest's SHA-256.
    Fulfil {
        /// Request id.
        id: String,
        /// A new or empty directory for the copy (requests covering recordings).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List requests with their deadlines (PIO, City Attorney, city clerk, auditors).
    List {
        /// Only those not closed.
        #[arg(long)]
        open: bool,
        /// Only those past their deadline for a decision.
        #[arg(long)]
        overdue: bool,
        /// Output as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Show one request with its steps, as JSON.
    Show {
        /// Request id.
        id: String,
    },
}

fn parse(o: &pb::Object) -> Result<serde_json::Value> {
    Ok(serde_json::from_slice(&o.json)?)
}

/// Runs a `records-request` command; a fulfilment's copy is verified against
/// `ca` when given.
pub async fn run(c: &Client, ca: Option<&PathBuf>, rc: RecordsCmd) -> Result<i32> {
    let mut client = pb::records_requests_client::RecordsRequestsClient::new(c.channel.clone());
    let step = |id: String, kind: pb::RecordsStepKind, text: String, as_role: Option<String>| {
        pb::RecordsStepRequest {
            id,
            step: kind as i32,
            text,
            as_role: as_role.unwrap_or_default(),
        }
    };
    let o = match rc {
        RecordsCmd::Open {
            requester,
            received,
            describe,
            camera,
            from,
            to,
        } => {
            let o = call(client.open(c.req(pb::RecordsOpenRequest {
                requester,
                received: received.unwrap_or_default(),
                describe,
                camera: camera.unwrap_or_default(),
                from: from.unwrap_or_default(),
                to: to.unwrap_or_default(),
            })?))
            .await?;
            let v = parse(&o)?;
            println!(
                "records request received; decision due {}{}",
                v["due"].as_str().unwrap_or("?"),
                v["hold"]
                    .as_str()
                    .map(|h| format!("; recordings held ({h})"))
                    .unwrap_or_default()
            );
            println!("{}", o.name);
            return Ok(0);
        }
        RecordsCmd::Review { id, as_role } => {
            call(client.step(c.req(step(
                id,
                pb::RecordsStepKind::RecordsStepReview,
                String::new(),
                as_role,
            ))?))
            .await?
        }
        RecordsCmd::Advise {
            id,
            advice,
            as_role,
        } => {
            call(client.step(c.req(step(
                id,
                pb::RecordsStepKind::RecordsStepAdvise,
                advice,
                as_role,
            ))?))
            .await?
        }
        RecordsCmd::Decide {
            id,
            release,
            deny,
            reason,
        } => {
            let kind = match (release, deny) {
                (true, false) => pb::RecordsStepKind::RecordsStepRelease,
                (false, true) => pb::RecordsStepKind::RecordsStepDeny,
                _ => bail!("give one of --release and --deny"),
            };
            call(client.step(c.req(step(id, kind, reason, None))?)).await?
        }
        RecordsCmd::Fulfil { id, out: Some(out) } => return fulfil(c, ca, id, out).await,
        RecordsCmd::Fulfil { id, out: None } => {
            call(client.step(c.req(step(
                id,
                pb::RecordsStepKind::RecordsStepFulfil,
                String::new(),
                None,
            ))?))
            .await?
        }
        RecordsCmd::List {
            open,
            overdue,
            json,
        } => {
            let mut after = String::new();
            if !json {
                println!(
                    "{:<22} {:<13} {:<22} {:<22} DESCRIBE",
                    "ID", "STAGE", "RECEIVED", "DUE"
                );
            }
            loop {
                let l = call(client.list(c.req(pb::RecordsListRequest {
                    open,
                    overdue,
                    after: after.clone(),
                })?))
                .await?;
                for o in &l.objects {
                    let v = parse(o)?;
                    if json {
                        println!("{}", serde_json::to_string(&v)?);
                        continue;
                    }
                    let describe: String = v["describe"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .take(50)
                        .collect();
                    println!(
                        "{:<22} {:<13} {:<22} {:<22} {}",
                        o.name,
                        v["stage"].as_str().unwrap_or("?"),
                        v["received_at"].as_str().unwrap_or(""),
                        v["due"].as_str().unwrap_or(""),
                        describe
                    );
                }
                if l.next_after.is_empty() {
                    break;
                }
                after = l.next_after;
            }
            return Ok(0);
        }
        RecordsCmd::Show { id } => {
            let o = call(client.show(c.req(pb::RecordsRequestId { id })?)).await?;
            println!("{}", serde_json::to_string_pretty(&parse(&o)?)?);
            return Ok(0);
        }
    };
    let v = parse(&o)?;
    println!(
        "records request {} {}{}",
        o.name,
        v["stage"].as_str().unwrap_or("?"),
        match v["stage"].as_str() {
            Some("denied" | "fulfilled") if v["hold"].is_string() => "; its hold is released",
            _ => "",
        }
    );
    Ok(0)
}

/// `records-request fulfil ID --out DIR`: the request's masked copy into DIR;
/// the controller fulfils the request once the signed manifest is sent.
async fn fulfil(c: &Client, ca: Option<&PathBuf>, id: String, out: PathBuf) -> Result<i32> {
    let resolved = crate::recordings::out_dir(&out)?;
    let stream = call(
        pb::recordings_client::RecordingsClient::new(c.channel.clone()).fulfil(c.req(
            pb::RecordsFulfilRequest {
                id: id.clone(),
                out_dir: resolved.display().to_string(),
            },
        )?),
    )
    .await?;
    let Some(got) = crate::recordings::receive(stream, &resolved).await? else {
        eprintln!("records request {id} is not fulfilled");
        return Ok(1);
    };
    let Some(rr) = got.records_request else {
        eprintln!("records request {id} is not fulfilled: the controller did not say so");
        return Ok(1);
    };
    if let Some(fee) = rr["fee"].as_object() {
        println!("fee: {}", crate::recordings::fee_shown(fee));
    }
    println!(
        "records request {id} {}; manifest sha256 {}{}",
        rr["stage"].as_str().unwrap_or("?"),
        rr["export"]["manifest_sha256"].as_str().unwrap_or("?"),
        if rr["hold"].is_string() {
            "; its hold is released"
        } else {
            ""
        }
    );
    if ca.is_some() {
        return crate::export::verify(&resolved, ca);
    }
    Ok(0)
}
