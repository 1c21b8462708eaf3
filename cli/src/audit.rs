//! `audit`: the hash-chained audit log (verify, tail) and its monthly report.

use crate::call::{call, Client};
use anyhow::{Context, Result};
use camplane_export::checkpoint::{self, Checkpoint, CheckpointProblem, Verifier};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum AuditCmd {
    /// Walk the hash chain; exit 1 and name the first broken entry if any.
    /// With --checkpoint, also check a saved checkpoint (from
    /// /public/audit-checkpoint or a month's public log): signed by the
    /// controller's checkpoint key, and its head still the chain's entry at its size.
    Verify {
        /// A saved checkpoint note (C2SP signed note, tlog-checkpoint format).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
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
        /// The directory to write report.html and report.csv into (created
        /// owner-only if missing; the two files are created new, owner-only: an
        /// existing file or link of either name is refused).
        #[arg(long)]
        out: PathBuf,
    },
}

/// The files of a monthly report, the only names written.
const REPORT_FILES: [&str; 2] = ["report.html", "report.csv"];

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks a saved checkpoint note against the controller: its checkpoint key
/// and its chain's entry hash at the checkpoint's size. The outer error is a
/// failed call; the inner one what differs.
pub async fn verify_checkpoint(
    client: &mut pb::audit_client::AuditClient<tonic::transport::Channel>,
    c: &Client,
    note: &str,
) -> Result<std::result::Result<(Checkpoint, Verifier), CheckpointProblem>> {
    let size = match checkpoint::parse(note) {
        Ok((cp, _, _)) => cp.size,
        Err(e) => return Ok(Err(e.into())),
    };
    let r = call(client.checkpoint(c.req(pb::CheckpointRequest { size })?)).await?;
    let key = Verifier::new(&r.key_name, &r.public_key)
        .map_err(|e| anyhow::anyhow!("the controller's checkpoint key: {e}"))?;
    let hash = r.found.then_some(r.entry_hash.as_str());
    Ok(checkpoint::check_against_chain(note, &key, hash, r.head_seq).map(|cp| (cp, key)))
}

/// Runs an `audit` command; exit 1 when the chain is broken.
pub async fn run(c: &Client, ac: AuditCmd) -> Result<i32> {
    let mut client = pb::audit_client::AuditClient::new(c.channel.clone());
    match ac {
        AuditCmd::Verify { checkpoint } => {
            // Read the file first: a typo in its name fails before any call.
            let note = match &checkpoint {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                ),
                None => None,
            };
            let r = call(client.verify(c.req(pb::Empty {})?)).await?;
            let mut code = 0;
            if r.ok {
                println!("audit log ok: {}", r.message);
            } else {
                println!(
                    "audit log BROKEN at entry {}: {}",
                    r.first_broken_seq, r.message
                );
                code = 1;
            }
            if let (Some(note), Some(path)) = (note, checkpoint) {
                match verify_checkpoint(&mut client, c, &note).await? {
                    Ok((cp, key)) => {
                        println!(
                            "checkpoint ok: {} entries, head {} (entry {}), signed by {} (key id {})",
                            cp.size,
                            hex_of(&cp.hash),
                            cp.size,
                            key.name,
                            key.key_id_hex()
                        );
                        println!("checkpoint key: {}", key.vkey());
                    }
                    Err(problem) => {
                        println!("checkpoint {} REFUSED: {problem}", path.display());
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        AuditCmd::Report { month, out } => {
            for name in REPORT_FILES {
                crate::files::refuse_existing(&out.join(name))?;
            }
            let mut s = call(
                pb::audit_reports_client::AuditReportsClient::new(c.channel.clone())
                    .monthly(c.req(pb::AuditReportRequest { month })?),
            )
            .await?;
            crate::files::create_private_dir(&out)?;
            // The files arrive in chunks; only the two names the report has are written.
            let mut files: Vec<(&str, std::fs::File)> = Vec::new();
            let mut entries = 0;
            while let Some(chunk) = s.message().await.map_err(crate::call::status)? {
                entries = chunk.entries;
                let name = REPORT_FILES
                    .into_iter()
                    .find(|n| *n == chunk.file)
                    .ok_or_else(|| anyhow::anyhow!("unexpected report file {:?}", chunk.file))?;
                let p = out.join(name);
                let f = match files.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, f)) => f,
                    None => {
                        let f = crate::files::create_new_private(&p)?;
                        files.push((name, f));
                        println!("{}", p.display());
                        &mut files.last_mut().expect("just pushed").1
                    }
                };
                std::io::Write::write_all(f, &chunk.data)
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            eprintln!("{entries} audit entries in the month");
        }
        AuditCmd::Tail { limit, json } => {
            // Pages of the newest entries, newest page first, until `limit`.
            let mut pages = Vec::new();
            let (mut want, mut before) = (limit.max(1) as usize, 0);
            while want > 0 {
                let r = call(client.tail(c.req(pb::TailRequest {
                    limit: want.min(u32::MAX as usize) as u32,
                    before_seq: before,
                })?))
                .await?;
                want = want.saturating_sub(r.entries.len());
                before = r.next_before;
                let done = r.entries.is_empty() || before == 0;
                pages.push(r.entries);
                if done {
                    break;
                }
            }
            for e in pages.into_iter().rev().flatten() {
                let v: Value = serde_json::from_slice(&e.json)?;
                if json {
                    println!("{}", serde_json::to_string(&v)?);
                } else {
                    // Escaped: a stored name or result cannot forge a row.
                    let s = |k: &str| {
                        crate::output::clean(v.get(k).and_then(|x| x.as_str()).unwrap_or(""))
                    };
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
