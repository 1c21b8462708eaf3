//! `hotlist`: the lists the agents match every plate read against.

use crate::call::{call, Client};
use crate::output::{field, print_table, text};
use anyhow::{anyhow, Context, Result};
use camplane_proto::limits::{HOTLIST_MAX_FILE, HOTLIST_MAX_MESSAGE};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum HotlistCmd {
    /// Load a CSV file as a new version of the list of one source and category;
    /// agents receive the change within seconds. Rows that cannot be used are
    /// listed with their line numbers and the rest is loaded (exit 2); a file
    /// with no usable row changes nothing (exit 1). A custom or investigative
    /// list (source CUSTOM or category investigative) is one case's list: it
    /// needs --case, --purpose and --expires, and waits for another
    /// supervisor's approval (exit 4, the approval's id on the last line).
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
        /// Custom and investigative lists: the case number (the city's format;
        /// at most 32 of A-Z, a-z, 0-9, - and _).
        #[arg(long = "case")]
        case_number: Option<String>,
        /// Custom and investigative lists: why the list is kept (at most 200 characters).
        #[arg(long)]
        purpose: Option<String>,
        /// Custom and investigative lists: when the list lapses, RFC 3339 or
        /// YYYY-MM-DD (the end of that day, UTC); at most 30 days ahead.
        #[arg(long)]
        expires: Option<String>,
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
            case_number,
            purpose,
            expires,
            file,
        } => {
            let mut cols =
                camplane_config::hotlist::Columns::parse_spec(&columns).map_err(|e| anyhow!(e))?;
            cols.header = !no_header;
            // The wire's limit, checked before the file is read into memory.
            let size = std::fs::metadata(&file)
                .with_context(|| format!("reading {}", file.display()))?
                .len();
            if size > HOTLIST_MAX_FILE as u64 {
                return Err(anyhow!(
                    "{}: {size} bytes; at most {HOTLIST_MAX_FILE}",
                    file.display()
                ));
            }
            let csv =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            // Streamed in chunks: the controller checks the caller before it
            // reads any of the file, and the file's size as it arrives.
            let messages = pb::HotlistUpload::messages(pb::HotlistLoadRequest {
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
                case_number: case_number.unwrap_or_default(),
                purpose: purpose.unwrap_or_default(),
                expires: expires.unwrap_or_default(),
            });
            let r = call(
                pb::hotlists_client::HotlistsClient::new(c.channel.clone())
                    .max_encoding_message_size(HOTLIST_MAX_MESSAGE)
                    .upload(c.req(tokio_stream::iter(messages))?),
            )
            .await?;
            if !r.pending_approval.is_empty() {
                for b in &r.bad_rows {
                    eprintln!("{}:{}: {}", file.display(), b.line, b.reason);
                }
                eprintln!(
                    "{}: {} entries wait for another supervisor's approval; nothing is matched until then: camplane approvals approve {} --reason TEXT",
                    r.list, r.entries, r.pending_approval
                );
                println!("{}", r.pending_approval);
                return Ok(crate::search::EXIT_PENDING_APPROVAL);
            }
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
                "EXPIRES".into(),
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
                    if l["lapsed_at"].is_string() {
                        format!("lapsed {}", text(field(l, &["case", "expires"])))
                    } else {
                        text(field(l, &["case", "expires"]))
                    },
                ]);
            }
            print_table(rows);
        }
    }
    Ok(0)
}
