//! `gis`: the GIS layers the controller keeps, as versions.

use crate::call::{call, Client};
use crate::output::{field, header, print_table, text, Format};
use crate::placement::client;
use anyhow::{Context, Result};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum GisCmd {
    /// Store a new version of a layer (checked first: a bad file is refused whole,
    /// naming the file and feature).
    Load {
        /// streets, city_property, other_public, kiosks or residential.
        #[arg(long)]
        layer: String,
        /// GeoJSON files; together they make the new version.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Repair closed-but-invalid polygons (each repair is reported) instead of refusing:
        /// what the rings enclose by the even-odd rule is kept (a bow-tie becomes its two lobes).
        #[arg(long)]
        repair_polygons: bool,
    },
    /// Show every layer's versions and feature counts.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
}

/// Runs a `gis` command.
pub async fn run(c: &Client, gc: GisCmd) -> Result<i32> {
    match gc {
        GisCmd::Load {
            layer,
            files,
            repair_polygons,
        } => {
            let mut fs = Vec::new();
            for f in &files {
                let data = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
                fs.push((f.display().to_string(), data));
            }
            // Streamed in chunks: the controller signs the caller in before reading any.
            let parts = pb::LayerUpload::messages(&layer, repair_polygons, fs);
            let r = call(client(c).load_layer(c.req(tokio_stream::iter(parts))?)).await?;
            print_loaded(&r);
        }
        GisCmd::List { output } => {
            let r = call(client(c).list(c.req(pb::Empty {})?)).await?;
            let v: Value = serde_json::from_slice(&r.json)?;
            if let Format::Json = output {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            let mut rows = vec![header([
                "LAYER",
                "VERSION",
                "CURRENT",
                "FEATURES",
                "BYTES",
                "LOADED",
                "BY",
                "REFERENCED",
                "FILES",
            ])];
            for l in v.as_array().into_iter().flatten() {
                let versions = l["versions"].as_array().cloned().unwrap_or_default();
                if versions.is_empty() {
                    rows.push(vec![
                        text(&l["layer"]),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "(not loaded)".into(),
                    ]);
                }
                let referenced = l["referenced"].as_array().cloned().unwrap_or_default();
                for ver in versions {
                    rows.push(vec![
                        text(&l["layer"]),
                        text(&ver["version"]),
                        if ver["version"] == l["current"] {
                            "*"
                        } else {
                            ""
                        }
                        .into(),
                        text(&ver["features"]),
                        text(&ver["bytes"]),
                        text(&ver["loaded_at"]),
                        text(&ver["loaded_by"]),
                        if referenced.contains(&ver["version"]) {
                            "yes"
                        } else {
                            "no"
                        }
                        .into(),
                        text(&ver["files"]),
                    ]);
                }
            }
            print_table(rows);
        }
    }
    Ok(0)
}

/// Prints a stored layer (or rules) version and what loading it repaired or pruned.
pub fn print_loaded(r: &pb::LayerVersionInfo) {
    let v: Value = serde_json::from_slice(&r.json).unwrap_or(Value::Null);
    for rep in &r.repairs {
        eprintln!("repaired {rep}");
    }
    println!(
        "{} version {} stored ({} features, {} bytes, sha256 {})",
        r.layer,
        r.version,
        text(field(&v, &["features"])),
        text(field(&v, &["bytes"])),
        text(field(&v, &["sha256"]))
    );
    if !r.pruned.is_empty() {
        let p: Vec<String> = r.pruned.iter().map(|n| n.to_string()).collect();
        println!("pruned old versions no request refers to: {}", p.join(", "));
    }
}
