//! `hotlist`: the lists the agents match every plate read against.

use crate::call::{call, Client};
use crate::output::{field, print_table, text};
use anyhow::{anyhow, Context, Result};
use camplane_proto::limits::HOTLIST_MAX_MESSAGE;
use camplane_proto::v1 as pb;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum HotlistCmd {
    /// Load a CSV file as a new version of the list of one source and category;
    /// agents receive the change within seconds. Rows that cannot be used are
    /// listed with their line numbers and the rest is loaded (exit 2); a file
    /// with no usable row changes nothing (exit 1).
    Load {
        /// NCIC, STATE_DOT or CUSTOM.
        #[arg(long)]
        source: String,
        /// stolen_vehicle, stolen_plate, warrant, suspended_or_revoked_license,
        /// protection_order or investigative.
        #[arg(long)]
        category: String,
        /// Where the fields are: `plate=COL,state=COL,reason=COL,expiry=COL`, each
        /// COL a header name or a 1-based number; `state=` drops a field.
        /// Default: columns named plate, state, reason, expiry.
        #[arg(long, default_value = "")]
        columns: String,
        /// The file has no header line (give columns by number).
        #[arg(long)]
        no_header: bool,
        /// replace (the file is the whole list), add, or remove.
        #[arg(long, default_value = "replace")]
        mode: String,
        /// Name this source in the public log.
        #[arg(long, conflicts_with = "non_public")]
        public: bool,
        /// Keep this source out of the public log.
        #[arg(long)]
        non_public: bool,
        /// The CSV file.
        file: PathBuf,
    },
    /// Lists, their versions and sizes, and which sources are public.
    List,
}

/// Runs a `hotlist` command; exit 2 when some rows were not loaded.
pub async fn run(c: &Client, hc: HotlistCmd) -> Result<i32> {
    match hc {
        HotlistCmd::Load {
            source,
            category,
            columns,
            no_header,
            mode,
            public,
            non_public,
            file,
        } => {
            let mut cols =
                camplane_config::hotlist::Columns::parse_spec(&columns).map_err(|e| anyhow!(e))?;
            cols.header = !no_header;
            let csv =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let r = call(
                pb::hotlists_client::HotlistsClient::new(c.channel.clone())
                    .max_encoding_message_size(HOTLIST_MAX_MESSAGE)
                    .load(c.req(pb::HotlistLoadRequest {
                        source,
                        category,
                        file_name: file.display().to_string(),
                        csv,
                        columns_json: serde_json::to_string(&cols)?,
                        mode,
                        public: if public {
                            Some(true)
                        } else if non_public {
                            Some(false)
                        } else {
                            None
                        },
                    })?),
            )
            .await?;
            println!(
                "hotlist {} version {}: {} entries ({} added or changed, {} removed); source {}",
                r.list,
                r.version,
                r.entries,
                r.upserted,
                r.removed,
                if r.public { "public" } else { "non-public" }
            );
            for b in &r.bad_rows {
                eprintln!("{}:{}: {}", file.display(), b.line, b.reason);
            }
            if !r.bad_rows.is_empty() {
                eprintln!(
                    "{} row{} not loaded",
                    r.bad_rows.len(),
                    if r.bad_rows.len() == 1 { "" } else { "s" }
                );
                return Ok(2);
            }
        }
        HotlistCmd::List => {
            let r = call(
                pb::hotlists_client::HotlistsClient::new(c.channel.clone())
                    .list(c.req(pb::Empty {})?),
            )
            .await?;
            let lists: Vec<Value> = serde_json::from_slice(&r.lists_json)?;
            let sources: Vec<Value> = serde_json::from_slice(&r.sources_json)?;
            let mut rows = vec![vec![
                "LIST".to_string(),
                "VERSION".into(),
                "ENTRIES".into(),
                "LOADED".into(),
                "BY".into(),
                "PUBLIC".into(),
            ]];
            for l in &lists {
                let public = sources
                    .iter()
                    .find(|s| s["source"] == l["source"])
                    .map_or("yes", |s| if s["public"] == true { "yes" } else { "no" });
                rows.push(vec![
                    text(field(l, &["list"])),
                    text(field(l, &["version"])),
                    text(field(l, &["entries"])),
                    text(field(l, &["loaded_at"])),
                    text(field(l, &["loaded_by"])),
                    public.into(),
                ]);
            }
            print_table(rows);
        }
    }
    Ok(0)
}
