//! `recordings`: the chief's authorizations, and case-numbered exports
//! streamed into a new directory with the controller's signed manifest.

use crate::call::{call, Client};
use anyhow::{anyhow, bail, Context, Result};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub(crate) enum RecordingsCmd {
    /// The chief lets a user view (or, with --copy, copy) a camera's (or a
    /// department's) recordings until a time (audited). Viewing never includes
    /// copying.
    Authorize {
        /// The user.
        #[arg(long)]
        user: String,
        /// One camera ...
        #[arg(
            long,
            conflicts_with = "department",
            required_unless_present = "department"
        )]
        camera: Option<String>,
        /// ... or every camera of a department.
        #[arg(long)]
        department: Option<String>,
        /// When the authorization ends (RFC 3339).
        #[arg(long)]
        until: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
        /// The right to copy (export) instead of to view.
        #[arg(long)]
        copy: bool,
    },
    /// Copy a camera's segments overlapping FROM..TO (at most 24 hours) into a
    /// new or empty directory, with a manifest signed by the controller
    /// (the chief, and people the chief authorized to copy; audited with the
    /// case number and the recipient before anything is sent).
    Export {
        /// The camera.
        #[arg(long)]
        camera: String,
        /// From (RFC 3339).
        #[arg(long)]
        from: String,
        /// To (RFC 3339).
        #[arg(long)]
        to: String,
        /// Case number (the city's format).
        #[arg(long = "case")]
        case_number: String,
        /// A new or empty directory on this machine.
        #[arg(long)]
        out: PathBuf,
        /// Who receives the copy: "NAME, AGENCY" (audited, in the signed
        /// manifest). Its fee, from the camera's department's fee schedule, is
        /// recorded with it, unless --police-use.
        #[arg(long)]
        recipient: String,
        /// Re-encode with the camera's privacy masks burned in (at the site),
        /// for releases outside the police: the manifest lists the masked files
        /// and the originals' hashes.
        #[arg(long)]
        masked: bool,
        /// The police's own use (a case's evidence, the prosecutor): no fee.
        /// The chief and the police department only.
        #[arg(long)]
        police_use: bool,
    },
}

/// Runs a `recordings` command; an export is verified against `ca` when given.
pub async fn run(c: &Client, ca: Option<&PathBuf>, rc: RecordingsCmd) -> Result<i32> {
    match rc {
        RecordingsCmd::Authorize {
            user,
            camera,
            department,
            until,
            reason,
            copy,
        } => {
            let o = call(
                pb::recordings_client::RecordingsClient::new(c.channel.clone()).authorize(c.req(
                    pb::RecordingAuthorizeRequest {
                        user,
                        camera: camera.unwrap_or_default(),
                        department: department.unwrap_or_default(),
                        until,
                        reason,
                        copy,
                    },
                )?),
            )
            .await?;
            println!("{}", o.name);
            Ok(0)
        }
        RecordingsCmd::Export {
            camera,
            from,
            to,
            case_number,
            out,
            recipient,
            masked,
            police_use,
        } => {
            // Checked here too, so a typo fails before anything is asked or audited.
            camplane_export::check_recipient(&recipient).map_err(|e| anyhow!("--{e}"))?;
            let req = pb::ExportRequest {
                camera,
                from,
                to,
                case_number,
                out_dir: String::new(),
                recipient,
                masked,
                police_use,
            };
            export(c, ca, req, out).await
        }
    }
}

/// `recordings export`: streams the files into a new or empty directory.
async fn export(
    c: &Client,
    ca: Option<&PathBuf>,
    mut req: pb::ExportRequest,
    out: PathBuf,
) -> Result<i32> {
    let resolved = out_dir(&out)?;
    req.out_dir = resolved.display().to_string();
    let stream =
        call(pb::recordings_client::RecordingsClient::new(c.channel.clone()).export(c.req(req)?))
            .await?;
    let Some(got) = receive(stream, &resolved).await? else {
        return Ok(1);
    };
    match got.manifest["fee"].as_object() {
        Some(fee) => println!("fee: {}", fee_shown(fee)),
        None => println!("fee: none (police use)"),
    }
    if ca.is_some() {
        return crate::export::verify(&resolved, ca);
    }
    Ok(0)
}

/// The directory an export writes into, as the files will really land
/// (symbolic links resolved): new, or empty.
pub(crate) fn out_dir(out: &Path) -> Result<PathBuf> {
    let abs = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir()?.join(out)
    };
    // The controller records the directory in the audit entry (it cannot check
    // it: it is on this machine), so it is told the one the files really land in.
    let resolved = camplane_export::resolve_path(&abs);
    if resolved.exists() {
        let mut rd = std::fs::read_dir(&resolved)
            .with_context(|| format!("--out {}: not a directory", resolved.display()))?;
        if rd.next().is_some() {
            bail!(
                "--out {}: must be a new or empty directory",
                resolved.display()
            );
        }
    }
    Ok(resolved)
}

/// What an export stream left in its directory.
pub(crate) struct Received {
    /// The signed manifest, parsed.
    pub manifest: serde_json::Value,
    /// A records request's fulfilment: the request as fulfilled.
    pub records_request: Option<serde_json::Value>,
}

/// `$12.50 USD (parks's schedule: 10 minutes, 3 files)` for a recorded fee.
pub(crate) fn fee_shown(fee: &serde_json::Map<String, serde_json::Value>) -> String {
    let cents = fee.get("cents").and_then(|v| v.as_u64()).unwrap_or(0);
    let currency = fee.get("currency").and_then(|v| v.as_str()).unwrap_or("");
    let dept = fee
        .get("department")
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    let basis = if fee.get("schedule").is_some_and(|s| s.is_object()) {
        format!(
            "{dept}'s fee schedule: {}, {}",
            count(fee.get("minutes"), "minute"),
            count(fee.get("files"), "file")
        )
    } else {
        format!("{dept} has no fee schedule")
    };
    format!("{}.{:02} {currency} ({basis})", cents / 100, cents % 100)
}

fn count(v: Option<&serde_json::Value>, what: &str) -> String {
    let n = v.and_then(|v| v.as_u64()).unwrap_or(0);
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Writes an export stream's files and manifest into `resolved`; `None` (the
/// reason printed) when it stopped before its end.
pub(crate) async fn receive(
    mut stream: tonic::Streaming<pb::ExportChunk>,
    resolved: &Path,
) -> Result<Option<Received>> {
    use std::io::Write;
    std::fs::create_dir_all(resolved)
        .with_context(|| format!("creating {}", resolved.display()))?;
    let mut current: Option<(String, std::fs::File)> = None;
    let mut files = 0usize;
    let mut bytes = 0u64;
    let mut manifest = None;
    let mut records_request = None;
    loop {
        let msg = match stream.message().await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) if manifest.is_some() => {
                // The copy is whole; what came after it (a request's
                // fulfilment) did not happen.
                eprintln!(
                    "{}: the copy is complete, but: {}",
                    resolved.display(),
                    e.message()
                );
                return Ok(None);
            }
            Err(e) => {
                eprintln!(
                    "export failed: {}; {} is incomplete",
                    e.message(),
                    resolved.display()
                );
                return Ok(None);
            }
        };
        match msg.part {
            Some(pb::export_chunk::Part::File(f)) => {
                if f.name.is_empty() || f.name.contains(['/', '\\']) || f.name.starts_with('.') {
                    bail!("the controller sent a file name that is not a plain name");
                }
                let p = resolved.join(&f.name);
                // Evidence: new, and the owner's only.
                let file = crate::files::create_new_private(&p)?;
                current = Some((f.name, file));
                files += 1;
            }
            Some(pb::export_chunk::Part::Data(d)) => {
                let (name, f) = current
                    .as_mut()
                    .ok_or_else(|| anyhow!("the controller sent bytes before a file"))?;
                f.write_all(&d).with_context(|| format!("writing {name}"))?;
                bytes += d.len() as u64;
            }
            Some(pb::export_chunk::Part::ManifestJson(m)) => {
                let p = resolved.join(camplane_export::MANIFEST);
                crate::files::create_new_private(&p)?
                    .write_all(&m)
                    .with_context(|| format!("writing {}", p.display()))?;
                manifest = Some(
                    serde_json::from_slice::<serde_json::Value>(&m)
                        .context("the controller's manifest is not JSON")?,
                );
            }
            Some(pb::export_chunk::Part::RecordsRequestJson(j)) => {
                records_request = Some(
                    serde_json::from_slice::<serde_json::Value>(&j)
                        .context("the controller's records request is not JSON")?,
                );
            }
            None => {}
        }
    }
    if let Some((name, f)) = current {
        f.sync_all().with_context(|| format!("writing {name}"))?;
    }
    let Some(manifest) = manifest else {
        eprintln!(
            "export failed: no manifest came; {} is incomplete",
            resolved.display()
        );
        return Ok(None);
    };
    println!(
        "{}: {files} files, {bytes} bytes, manifest.json signed by the controller",
        resolved.display()
    );
    Ok(Some(Received {
        manifest,
        records_request,
    }))
}
