//! `publog generate`: a month of the public log written into a directory.

use crate::call::{call, Client};
use anyhow::{bail, Context, Result};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum PublogCmd {
    /// Write a month's index.html, log.csv and log.json into DIR (a month that is
    /// over in the city's time zone). The same data gives the same bytes.
    Generate {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs a `publog` command.
pub async fn run(c: &Client, pc: PublogCmd) -> Result<i32> {
    let PublogCmd::Generate { month, out } = pc;
    let r = call(
        pb::public_log_client::PublicLogClient::new(c.channel.clone())
            .generate(c.req(pb::PublicLogRequest { month })?),
    )
    .await?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for f in &r.files {
        // Names come from the controller: take only plain file names.
        if f.name.contains(['/', '\\']) || f.name.starts_with('.') {
            bail!("the controller sent a file named {:?}; not written", f.name);
        }
        let path = out.join(&f.name);
        let tmp = out.join(format!(".{}.tmp", f.name));
        std::fs::write(&tmp, &f.content)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{} ({} bytes)", path.display(), f.content.len());
    }
    Ok(0)
}
