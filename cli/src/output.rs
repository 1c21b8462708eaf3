//! How answers are shown: aligned tables, JSON, or YAML that `apply` takes back.

use anyhow::Result;
use camplane_config::manifest;
use camplane_config::model::Kind;
use camplane_proto::v1 as pb;
use clap::ValueEnum;
use serde_json::Value;

// Output of the placement and GIS commands (no doc comment: clap would show it).
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
}

// Output of object listings.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Table,
    Yaml,
    Json,
}

/// The JSON documents of object envelopes.
pub fn values(objects: &[pb::Object]) -> Result<Vec<Value>> {
    Ok(objects
        .iter()
        .map(|o| serde_json::from_slice(&o.json))
        .collect::<Result<_, _>>()?)
}

/// Text from the controller made safe for a terminal (one rule for the CLI and
/// the controller's reports: [`camplane_config::text::visible`]).
pub fn clean(s: &str) -> String {
    camplane_config::text::visible(s)
}

/// Prints rows (the first is the header) in columns two spaces apart; every
/// cell is [`clean`]ed.
pub fn print_table(rows: Vec<Vec<String>>) {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let widths: Vec<usize> = (0..rows.first().map_or(0, |r| r.len()))
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// A header row from column names.
pub fn header<const N: usize>(names: [&str; N]) -> Vec<String> {
    names.map(String::from).to_vec()
}

/// The value at `path` (Null when absent).
pub fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for p in path {
        cur = cur.get(p).unwrap_or(&Value::Null);
    }
    cur
}

/// A value as a table cell: `-` for none, arrays comma-separated.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Prints objects of one kind; `single`: one object asked for by name.
pub fn print_objects(kind: Kind, objs: &[Value], output: Output, single: bool) -> Result<()> {
    match output {
        Output::Json => {
            let v = if single && objs.len() == 1 {
                objs[0].clone()
            } else {
                Value::Array(objs.to_vec())
            };
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Output::Yaml => {
            let items: Vec<_> = objs
                .iter()
                .map(|o| {
                    let st = field(o, &["status"]).clone();
                    (
                        kind,
                        text(field(o, &["name"])),
                        field(o, &["spec"]).clone(),
                        (!st.is_null()).then_some(st),
                    )
                })
                .collect();
            print!("{}", manifest::render_yaml(&items));
        }
        Output::Table => {
            let cols: Vec<(&str, Vec<&str>)> = match kind {
                Kind::Camera => vec![
                    ("SITE", vec!["spec", "site"]),
                    ("DEPARTMENT", vec!["spec", "department"]),
                    ("KIND", vec!["spec", "kind"]),
                    ("PURPOSE", vec!["spec", "purpose"]),
                    ("STATE", vec!["status", "state"]),
                ],
                Kind::PlacementRequest => vec![
                    ("DEPARTMENT", vec!["spec", "department"]),
                    ("KIND", vec!["spec", "kind"]),
                    ("PURPOSE", vec!["spec", "purpose"]),
                    ("STATE", vec!["status", "state"]),
                ],
                Kind::Site => vec![
                    ("ADDRESS", vec!["spec", "address"]),
                    ("LAT", vec!["spec", "lat"]),
                    ("LON", vec!["spec", "lon"]),
                ],
                Kind::Department => vec![("DISPLAY NAME", vec!["spec", "display_name"])],
                Kind::User => vec![
                    ("DEPARTMENT", vec!["spec", "department"]),
                    ("ROLES", vec!["spec", "roles"]),
                ],
                Kind::LegalHold => vec![
                    ("CASE", vec!["spec", "case_number"]),
                    ("REASON", vec!["spec", "reason"]),
                    ("CAMERAS", vec!["spec", "cameras"]),
                    ("FROM", vec!["spec", "from"]),
                    ("UNTIL", vec!["spec", "until"]),
                    ("RELEASED", vec!["status", "released_at"]),
                ],
                Kind::FeeSchedule => vec![
                    ("CURRENCY", vec!["spec", "currency"]),
                    ("BASE CENTS", vec!["spec", "base_cents"]),
                    ("PER MINUTE", vec!["spec", "per_minute_cents"]),
                    ("PER FILE", vec!["spec", "per_file_cents"]),
                ],
                Kind::Agent => vec![
                    ("SITE", vec!["spec", "site"]),
                    ("CERT EXPIRES", vec!["status", "cert_expires"]),
                    ("REVOKED", vec!["status", "revoked"]),
                ],
            };
            let mut rows = vec![std::iter::once("NAME".to_string())
                .chain(cols.iter().map(|(h, _)| h.to_string()))
                .collect::<Vec<_>>()];
            for o in objs {
                rows.push(
                    std::iter::once(text(field(o, &["name"])))
                        .chain(cols.iter().map(|(_, p)| text(field(o, p))))
                        .collect(),
                );
            }
            print_table(rows);
        }
    }
    Ok(())
}
