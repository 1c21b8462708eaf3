//! `camplane placement check`: layers and rules from files, requests from a
//! file, stdin or the command line, one answer line per request.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::answer::error_line;
use crate::layers::{InvalidPolygons, LayerKind, LayerSet, Layers};
use crate::rules::Rules;
use crate::{map, parse_request_line, try_check, PlacementError, RequestError};

/// The command's arguments.
#[derive(Debug, Clone, Default)]
pub struct CheckArgs {
    /// Street centerline files (at least one).
    pub streets: Vec<PathBuf>,
    /// City property files.
    pub city_property: Vec<PathBuf>,
    /// Other public property files.
    pub other_public: Vec<PathBuf>,
    /// 911 kiosk files.
    pub kiosks: Vec<PathBuf>,
    /// Residential housing files.
    pub residential: Vec<PathBuf>,
    /// The rules file; the spec's defaults without one.
    pub rules: Option<PathBuf>,
    /// A JSON-lines file of requests, `-` for stdin.
    pub requests: Option<PathBuf>,
    /// One request given inline.
    pub request: Option<String>,
    /// Repair polygons that are closed but not valid (each repair is
    /// reported on stderr) instead of refusing their file.
    pub repair_polygons: bool,
    /// Also write an SVG map of the layers and the checked cameras here.
    pub map: Option<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, PlacementError> {
    std::fs::read(path).map_err(|source| PlacementError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Loads the rules (or the defaults) and every layer file named in `args`;
/// repairs (only with `repair_polygons`) are reported on `err`.
pub fn load(args: &CheckArgs, err: &mut impl Write) -> Result<(Rules, Layers), PlacementError> {
    if args.streets.is_empty() {
        return Err(PlacementError::Usage("--streets FILE is required".into()));
    }
    let rules = match &args.rules {
        Some(p) => Rules::from_yaml(&read(p)?, &p.display().to_string())?,
        None => Rules::default(),
    };
    let mut set = LayerSet::new();
    for (kind, paths) in [
        (LayerKind::Streets, &args.streets),
        (LayerKind::CityProperty, &args.city_property),
        (LayerKind::OtherPublic, &args.other_public),
        (LayerKind::Kiosks, &args.kiosks),
        (LayerKind::Residential, &args.residential),
    ] {
        for p in paths {
            let invalid = if args.repair_polygons {
                InvalidPolygons::Repair
            } else {
                InvalidPolygons::Refuse
            };
            let name = p.display().to_string();
            for r in set.add_file_with(kind, &name, &read(p)?, invalid)? {
                let _ = writeln!(
                    err,
                    "placement check: repaired {name}, feature {}: {}",
                    r.feature, r.problem
                );
            }
        }
    }
    let layers = set.build(&rules);
    Ok((rules, layers))
}

/// Runs the check. Exit status: 0 when every request was answered, 2 when
/// some request line was invalid or its view could not be measured (an error
/// line naming the feature; the others are still answered, in order),
/// 1 when a layer, the rules or the requests could not be used (nothing is
/// answered then).
pub fn run_check(args: &CheckArgs, out: &mut impl Write, err: &mut impl Write) -> i32 {
    let (rules, layers) = match load(args, err) {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(err, "placement check: {e}");
            return 1;
        }
    };
    let input: Box<dyn BufRead> = match (&args.request, &args.requests) {
        (Some(_), Some(_)) => {
            let _ = writeln!(
                err,
                "placement check: give --request or --requests, not both"
            );
            return 1;
        }
        (Some(line), None) => Box::new(std::io::Cursor::new(line.clone().into_bytes())),
        (None, Some(p)) if p.as_os_str() == "-" => Box::new(BufReader::new(std::io::stdin())),
        (None, Some(p)) => match std::fs::File::open(p) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => {
                let _ = writeln!(err, "placement check: cannot read {}: {e}", p.display());
                return 1;
            }
        },
        (None, None) => {
            let _ = writeln!(
                err,
                "placement check: give --requests FILE (or - for stdin) or --request JSON"
            );
            return 1;
        }
    };
    answer_lines(input, &layers, &rules, args.map.as_deref(), out, err)
}

fn answer_lines(
    mut input: impl BufRead,
    layers: &Layers,
    rules: &Rules,
    map_path: Option<&Path>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> i32 {
    let mut status = 0;
    let mut cameras = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(err, "placement check: reading requests: {e}");
                return 1;
            }
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim();
        if line.is_empty() {
            continue;
        }
        let answer_line = match parse_request_line(line) {
            Ok(req) => match try_check(layers, rules, &req) {
                Ok(a) => {
                    let s = a.to_json_line();
                    if map_path.is_some() {
                        cameras.push((req, a));
                    }
                    s
                }
                Err(e) => {
                    let _ = writeln!(err, "placement check: line {line_no}: {e}");
                    status = 2;
                    error_line(&RequestError {
                        id: Some(req.id.clone()),
                        message: e.to_string(),
                    })
                }
            },
            Err(e) => {
                let _ = writeln!(err, "placement check: line {line_no}: {e}");
                status = 2;
                error_line(&e)
            }
        };
        if writeln!(out, "{answer_line}").is_err() {
            return 1;
        }
    }
    if let Some(p) = map_path {
        if let Err(e) = std::fs::write(p, map::render_svg(layers, &cameras)) {
            let _ = writeln!(err, "placement check: cannot write {}: {e}", p.display());
            return 1;
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_that_cannot_be_measured_is_an_error_line_and_status_2() {
        let doc = serde_json::json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
                [20.0, 45.0], [20.001, 45.0], [20.001, 45.001], [20.0, 45.001], [20.0, 45.0]
            ]]}}
        ]});
        let mut set = LayerSet::new();
        set.add_file(
            LayerKind::Residential,
            "homes.geojson",
            &serde_json::to_vec(&doc).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut layers = set.build(&Rules::default());
        // A union that lost the footprint, as the old one did to Vračar feature 43.
        layers.residential = crate::layers::Areas::default();
        let input = concat!(
            r#"{"id":"c1","lat":45.0005,"lon":20.0005,"purpose":"property_protection","view":{"heading_deg":90,"fov_deg":360,"range_m":20}}"#,
            "\n",
            r#"{"id":"c2","lat":45.0005,"lon":20.0005,"purpose":"property_protection"}"#,
            "\n"
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = answer_lines(
            input.as_bytes(),
            &layers,
            &Rules::default(),
            None,
            &mut out,
            &mut err,
        );
        assert_eq!(status, 2);
        let out = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(
            lines[0].starts_with(r#"{"id":"c1","error":"layer homes.geojson, feature 0: "#),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with(r#"{"id":"c2","verdict":"#),
            "{}",
            lines[1]
        );
        assert!(String::from_utf8_lossy(&err).contains("line 1"));
    }
}
