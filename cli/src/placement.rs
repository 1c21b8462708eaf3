//! `placement`: the offline compliance check on files, and the controller's
//! recheck and map.

use crate::call::{call, Client};
use crate::output::{header, print_table, text, Format};
use anyhow::{Context, Result};
use camplane_proto::limits::{PLACEMENT_MAX_REQUEST, PLACEMENT_MAX_RESPONSE};
use camplane_proto::v1 as pb;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;
use tonic::transport::Channel;

#[derive(Subcommand)]
pub(crate) enum PlacementCmd {
    /// Check requests against layer files, offline (no controller, no sign-in).
    /// One JSON answer per request line. Exit 0: all answered; 2: some request
    /// line was invalid (answered by an error line); 1: a layer, the rules or the
    /// requests could not be used.
    Check(CheckCli),
    /// Re-check every approved or active camera against the controller's current
    /// layers and rules; list those now out of compliance.
    Recheck {
        /// List every checked camera, not only those out of compliance.
        #[arg(long)]
        all: bool,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Draw the controller's current layers and cameras (coloured by verdict,
    /// with view sectors) as SVG.
    Map {
        /// The SVG file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args)]
pub(crate) struct CheckCli {
    /// Street centerlines (GeoJSON); required, may repeat.
    #[arg(long)]
    streets: Vec<PathBuf>,
    /// City property polygons; may repeat.
    #[arg(long)]
    city_property: Vec<PathBuf>,
    /// Other public property polygons; may repeat.
    #[arg(long)]
    other_public: Vec<PathBuf>,
    /// 911 kiosk points; may repeat.
    #[arg(long)]
    kiosks: Vec<PathBuf>,
    /// Residential housing polygons; may repeat.
    #[arg(long)]
    residential: Vec<PathBuf>,
    /// Rules YAML (default: the spec's defaults).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Requests, one JSON object per line; `-` reads standard input.
    #[arg(long)]
    requests: Option<PathBuf>,
    /// One request, inline JSON.
    #[arg(long)]
    request: Option<String>,
    /// Repair closed-but-invalid polygons (each repair reported on stderr)
    /// instead of refusing their file.
    #[arg(long)]
    repair_polygons: bool,
    /// Also write an SVG map of the layers and the checked cameras.
    #[arg(long)]
    map: Option<PathBuf>,
}

/// The placement service's client, with the wire limits of its large messages.
pub fn client(c: &Client) -> pb::placement_client::PlacementClient<Channel> {
    pb::placement_client::PlacementClient::new(c.channel.clone())
        .max_decoding_message_size(PLACEMENT_MAX_RESPONSE)
        .max_encoding_message_size(PLACEMENT_MAX_REQUEST)
}

/// `placement check`: offline; returns the exit code.
pub fn check(a: &CheckCli) -> i32 {
    let args = camplane_placement::offline::CheckArgs {
        streets: a.streets.clone(),
        city_property: a.city_property.clone(),
        other_public: a.other_public.clone(),
        kiosks: a.kiosks.clone(),
        residential: a.residential.clone(),
        rules: a.rules.clone(),
        requests: a.requests.clone(),
        request: a.request.clone(),
        repair_polygons: a.repair_polygons,
        map: a.map.clone(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let code = camplane_placement::offline::run_check(&args, &mut out, &mut std::io::stderr());
    if std::io::Write::flush(&mut out).is_err() {
        return 1;
    }
    code
}

/// Runs a `placement` command.
pub async fn run(c: &Client, pc: PlacementCmd) -> Result<i32> {
    match pc {
        PlacementCmd::Check(a) => Ok(check(&a)),
        PlacementCmd::Recheck { all, output } => {
            let r = call(client(c).recheck(c.req(pb::RecheckRequest { all })?)).await?;
            let v: Value = serde_json::from_slice(&r.json)?;
            if let Format::Json = output {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            let mut rows = vec![header([
                "CAMERA",
                "STATE",
                "REQUEST",
                "VERDICT",
                "WAS",
                "OUT OF COMPLIANCE",
                "BASES",
                "REASONS",
                "NEAREST STREET",
            ])];
            for cam in v["cameras"].as_array().into_iter().flatten() {
                let a = &cam["answer"];
                let nearest = match &a["nearest_street"] {
                    Value::Null => "-".to_string(),
                    n => format!(
                        "{} ({}, {} m)",
                        text(&n["name"]),
                        text(&n["class"]),
                        text(&n["distance_m"])
                    ),
                };
                rows.push(vec![
                    text(&cam["camera"]),
                    text(&cam["state"]),
                    text(&cam["request"]),
                    text(&cam["verdict"]),
                    text(&cam["was"]),
                    if cam["out_of_compliance"] == true {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                    text(&a["bases"]),
                    match cam["privacy_masks"].as_str() {
                        Some(m) => format!("{} ({m})", text(&a["reasons"])),
                        None => text(&a["reasons"]),
                    },
                    nearest,
                ]);
            }
            println!(
                "layers {}, rules {}: {} camera(s) out of compliance",
                serde_json::to_string(&v["layers"])?,
                text(&v["rules"]).replace('-', "defaults"),
                text(&v["out_of_compliance"])
            );
            if rows.len() > 1 {
                print_table(rows);
            }
            Ok(0)
        }
        PlacementCmd::Map { out } => {
            let r = call(client(c).map(c.req(pb::Empty {})?)).await?;
            std::fs::write(&out, r.svg.as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            println!("map written to {} ({} bytes)", out.display(), r.svg.len());
            Ok(0)
        }
    }
}
