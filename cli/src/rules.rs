//! `rules`: the placement rules the controller keeps, as versions.

use crate::call::{call, Client};
use crate::gis::print_loaded;
use crate::placement::client;
use anyhow::{Context, Result};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum RulesCmd {
    /// Store a new version of the placement rules (YAML, checked first).
    Apply {
        /// The rules file.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
}

/// Runs a `rules` command.
pub async fn run(c: &Client, rc: RulesCmd) -> Result<i32> {
    let RulesCmd::Apply { file } = rc;
    let data = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let r = call(client(c).apply_rules(c.req(pb::ApplyRulesRequest {
        file: Some(pb::LayerFile {
            name: file.display().to_string(),
            data,
        }),
    })?))
    .await?;
    print_loaded(&r);
    Ok(0)
}
