//! `policy acknowledge`: the signed-in user acknowledges the city's policy
//! themselves, shown its version and its text's SHA-256, giving their own
//! password again. `policy propose|signoff|status|reviews`: its annual review
//! by the police, Engineering, Information Services, the City Attorney and the
//! City Manager.

use crate::call::{call, Client};
use crate::login::password_from_stdin;
use crate::output::{clean, field, header, print_table, text};
use anyhow::{Context, Result};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum PolicyCmd {
    /// Show the policy's version and SHA-256, then acknowledge it with your own
    /// password (read from standard input with --password-stdin).
    Acknowledge {
        /// Read your password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Open the review of a new version of the policy (the chief, an engineer,
    /// an admin, the City Attorney or the City Manager); prints the version last.
    Propose {
        /// The new text.
        file: PathBuf,
        /// Its version.
        #[arg(long)]
        version: String,
    },
    /// Sign a proposed version off for your party; the fifth party's signoff
    /// puts it in force, and every user acknowledges it again.
    Signoff {
        /// The version.
        version: String,
        /// The party you sign for, when your roles name several: police,
        /// engineering, information_services, city_attorney, city_manager.
        #[arg(long = "as")]
        party: Option<String>,
    },
    /// The version in force, when it was last reviewed and when the next
    /// review is due.
    Status,
    /// Every review, newest first, with its signoffs.
    Reviews {
        /// Output as JSON lines.
        #[arg(long)]
        json: bool,
    },
}

fn review_row(v: &serde_json::Value) -> Vec<String> {
    let signed: Vec<String> = field(v, &["signoffs"])
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(p, s)| format!("{p}: {}", text(field(s, &["by"]))))
                .collect()
        })
        .unwrap_or_default();
    vec![
        text(field(v, &["version"])),
        text(field(v, &["stage"])),
        text(field(v, &["proposed_by"])),
        text(field(v, &["proposed_at"])),
        clean(&signed.join(", ")),
        text(field(v, &["sha256"])),
    ]
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
        PolicyCmd::Propose { file, version } => {
            let body = std::fs::read(&file)
                .with_context(|| format!("reading the policy text {}", file.display()))?;
            let mut c2 = pb::policy_review_client::PolicyReviewClient::new(c.channel.clone());
            let o = call(c2.propose(c.req(pb::PolicyProposeRequest {
                version,
                text: body,
            })?))
            .await?;
            let v: serde_json::Value = serde_json::from_slice(&o.json)?;
            println!(
                "review opened: version {} (SHA-256 {}); waiting for police, engineering, information_services, city_attorney, city_manager",
                text(field(&v, &["version"])),
                text(field(&v, &["sha256"]))
            );
            println!("{}", clean(&o.name));
        }
        PolicyCmd::Signoff { version, party } => {
            let mut c2 = pb::policy_review_client::PolicyReviewClient::new(c.channel.clone());
            let o = call(c2.signoff(c.req(pb::PolicySignoffRequest {
                version,
                party: party.unwrap_or_default(),
            })?))
            .await?;
            let v: serde_json::Value = serde_json::from_slice(&o.json)?;
            if text(field(&v, &["stage"])) == "in_force" {
                println!(
                    "version {} is in force from now: every user acknowledges it again (`camplane policy acknowledge`)",
                    clean(&o.name)
                );
            } else {
                let all = [
                    "police",
                    "engineering",
                    "information_services",
                    "city_attorney",
                    "city_manager",
                ];
                let waiting: Vec<&str> = all
                    .into_iter()
                    .filter(|p| field(&v, &["signoffs", p]).is_null())
                    .collect();
                println!(
                    "signed off version {}; waiting for {}",
                    clean(&o.name),
                    waiting.join(", ")
                );
            }
        }
        PolicyCmd::Status => {
            let mut c2 = pb::policy_review_client::PolicyReviewClient::new(c.channel.clone());
            let o = call(c2.status(c.req(pb::Empty {})?)).await?;
            let v: serde_json::Value = serde_json::from_slice(&o.json)?;
            println!("version in force: {}", text(field(&v, &["version"])));
            println!("SHA-256: {}", text(field(&v, &["sha256"])));
            println!("took effect: {}", text(field(&v, &["took_effect_at"])));
            println!("last review: {}", text(field(&v, &["last_review_at"])));
            println!("next review due: {}", text(field(&v, &["review_due"])));
            println!("open review: {}", text(field(&v, &["open_review"])));
            if v["review_overdue"] == true {
                println!("the annual review is OVERDUE");
            }
        }
        PolicyCmd::Reviews { json } => {
            let mut c2 = pb::policy_review_client::PolicyReviewClient::new(c.channel.clone());
            let l = call(c2.reviews(c.req(pb::Empty {})?)).await?;
            let vals = crate::output::values(&l.objects)?;
            if json {
                for v in &vals {
                    println!("{v}");
                }
            } else {
                let mut rows = vec![header([
                    "VERSION",
                    "STAGE",
                    "PROPOSED BY",
                    "PROPOSED AT",
                    "SIGNOFFS",
                    "SHA-256",
                ])];
                rows.extend(vals.iter().map(review_row));
                print_table(rows);
            }
        }
    }
    Ok(0)
}
