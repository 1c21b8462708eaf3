//! `audit`: the hash-chained audit log (verify, tail) and its monthly report.

use crate::call::{call, Client};
use anyhow::{Context, Result};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum AuditCmd {
    /// Walk the hash chain; exit 1 and name the first broken entry if any.
    Verify,
    /// Show the last entries.
    Tail {
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: u32,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Write the monthly audit report (report.html, report.csv) of the audit
    /// log's entries in MONTH, in the city's time zone (auditors, admins).
    Report {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// The directory to write report.html and report.csv into.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs an `audit` command; exit 1 when the chain is broken.
pub async fn run(c: &Client, ac: AuditCmd) -> Result<i32> {
    let mut client = pb::audit_client::AuditClient::new(c.channel.clone());
    match ac {
        AuditCmd::Verify => {
            let r = call(client.verify(c.req(pb::Empty {})?)).await?;
            if r.ok {
                println!("audit log ok: {}", r.message);
            } else {
                println!(
                    "audit log BROKEN at entry {}: {}",
                    r.first_broken_seq, r.message
                );
                return Ok(1);
            }
        }
        AuditCmd::Report { month, out } => {
            let r = call(
                pb::audit_reports_client::AuditReportsClient::new(c.channel.clone())
                    .monthly(c.req(pb::AuditReportRequest { month })?),
            )
            .await?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for (name, bytes) in [("report.html", &r.html), ("report.csv", &r.csv)] {
                let p = out.join(name);
                std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
                println!("{}", p.display());
            }
            eprintln!("{} audit entries in the month", r.entries);
        }
        AuditCmd::Tail { limit, json } => {
            let r = call(client.tail(c.req(pb::TailRequest { limit })?)).await?;
            for e in r.entries {
                let v: Value = serde_json::from_slice(&e.json)?;
                if json {
                    println!("{}", serde_json::to_string(&v)?);
                } else {
                    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
                    println!(
                        "{:>6}  {}  {:<14} {:<24} {}/{}  {}",
                        e.seq,
                        s("at"),
                        s("actor"),
                        s("action"),
                        s("kind"),
                        s("name"),
                        s("result")
                    );
                }
            }
        }
    }
    Ok(0)
}
