//! The agent's config file (`camplane-agent --config FILE`).

use crate::{from_yaml_strict, locate, Error, Problem, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The whole agent config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// Controller addresses (`https://host:port`), tried in turn.
    pub controllers: Vec<String>,
    /// The controller's CA certificate (its `tls.ca_cert_file`), copied to the gateway.
    pub ca_file: PathBuf,
    /// File holding the one-time enrolment token (`camplane agent enroll`); read
    /// once, at the first start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enroll_token_file: Option<PathBuf>,
    /// Where identity, config, spool and recordings live.
    pub data_dir: PathBuf,
    /// Seconds between health reports.
    #[serde(default = "default_report")]
    pub report_interval_seconds: u64,
    /// Target segment length.
    #[serde(default = "default_segment")]
    pub segment_seconds: u32,
    /// Keep at least this many bytes free on the recordings' filesystem.
    #[serde(default = "default_min_free_bytes")]
    pub min_free_bytes: u64,
    /// Keep at least this share (0-100) of it free.
    #[serde(default = "default_min_free_percent")]
    pub min_free_percent: f64,
    /// Frames read per second on each ALPR camera.
    #[serde(default = "default_alpr_fps")]
    pub alpr_fps: f64,
    /// Where the ALPR models are (`deploy/fetch-models.sh` puts them in `.models/`);
    /// unset: `$CAMPLANE_MODELS`, then `/var/lib/camplane/models`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models_dir: Option<PathBuf>,
    /// Which versions of the ALPR models read plates: `fp32`, `int8` (made by
    /// `deploy/fetch-models.sh`) or `mixed` (the int8 detector for the first look, the
    /// fp32 one for the closer looks, the fp32 recognisers);
    /// unset: the agent's default, mixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpr_precision: Option<AlprPrecision>,
    /// Whose plates the ALPR cameras read: `any` (every format the reader knows: US, EU,
    /// Brazil), `us`, `eu` or `br`; unset: any. A region's plates are scored on its
    /// formats, and `us` fixes no look-alike to fit a format (US plates may be vanity
    /// plates of any shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpr_region: Option<AlprRegion>,
    /// gpsd's address (`host:port`, usually `127.0.0.1:2947`) on a gateway with
    /// mobile readers: their reads take the GPS position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpsd: Option<String>,
    /// Where to serve Prometheus metrics (`host:port`, plain HTTP, `/metrics`);
    /// none serves none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
}

/// The precision of the ALPR models (`alpr_precision`, `camplane-agent alpr read
/// --precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlprPrecision {
    /// The float models as published (run as their folded graphs: the same function in
    /// fewer passes over memory; agent/models/quantize).
    Fp32,
    /// Their int8 versions (agent/models/quantize).
    Int8,
    /// The int8 text detector for the first look (the whole frame, or where something
    /// moved), the float detector for the closer looks and the float recognisers: the
    /// first look is most of the detector's time, and int8 loses reads on the boxes the
    /// recognisers read and in the recognisers.
    Mixed,
}

impl AlprPrecision {
    /// The name in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            AlprPrecision::Fp32 => "fp32",
            AlprPrecision::Int8 => "int8",
            AlprPrecision::Mixed => "mixed",
        }
    }
}

impl std::fmt::Display for AlprPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlprPrecision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "fp32" => Ok(AlprPrecision::Fp32),
            "int8" => Ok(AlprPrecision::Int8),
            "mixed" => Ok(AlprPrecision::Mixed),
            other => Err(format!("unknown precision {other:?} (fp32, int8, mixed)")),
        }
    }
}

/// Whose plates an agent reads (`alpr_region`, `camplane-agent alpr read --region`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlprRegion {
    /// Every format the reader knows (the default: a reader need not know its country).
    #[default]
    Any,
    /// The United States.
    Us,
    /// Europe.
    Eu,
    /// Brazil (the old `LLLDDDD` and Mercosul `LLLDLDD`).
    Br,
}

impl AlprRegion {
    /// The name in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            AlprRegion::Any => "any",
            AlprRegion::Us => "us",
            AlprRegion::Eu => "eu",
            AlprRegion::Br => "br",
        }
    }
}

impl std::fmt::Display for AlprRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlprRegion {
    type Err = String;
    /// Case-insensitive on the command line; empty is `any`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "any" | "" => Ok(AlprRegion::Any),
            "us" => Ok(AlprRegion::Us),
            "eu" => Ok(AlprRegion::Eu),
            "br" => Ok(AlprRegion::Br),
            other => Err(format!("unknown region {other:?} (any, us, eu, br)")),
        }
    }
}

fn default_alpr_fps() -> f64 {
    2.0
}

fn default_report() -> u64 {
    60
}
fn default_segment() -> u32 {
    60
}
fn default_min_free_bytes() -> u64 {
    2 << 30
}
fn default_min_free_percent() -> f64 {
    5.0
}

impl AgentConfig {
    /// Parses and validates config text; every problem is reported.
    pub fn parse(file: &str, text: &str) -> Result<AgentConfig> {
        let cfg: AgentConfig = from_yaml_strict(file, text, 0, "").map_err(Error::Invalid)?;
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: String| {
            problems.push(Problem {
                file: file.into(),
                line: locate::line_of_path(text, path).map(|l| l + 1),
                column: None,
                path: path.into(),
                message,
            })
        };
        if cfg.controllers.is_empty() {
            bad(
                "controllers",
                "at least one controller address is needed".into(),
            );
        }
        for (i, c) in cfg.controllers.iter().enumerate() {
            if !c.starts_with("https://") {
                bad(
                    &format!("controllers.{i}"),
                    format!("{c:?}: agents talk to controllers over TLS only (https://)"),
                );
            }
        }
        if !(1..=3600).contains(&cfg.report_interval_seconds) {
            bad("report_interval_seconds", "must be 1..=3600".into());
        }
        if !(1..=3600).contains(&cfg.segment_seconds) {
            bad("segment_seconds", "must be 1..=3600".into());
        }
        if let Some(g) = &cfg.gpsd {
            let ok = g
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                bad("gpsd", format!("{g:?} is not host:port"));
            }
        }
        if let Some(m) = &cfg.metrics_listen {
            if m.parse::<std::net::SocketAddr>().is_err() {
                bad("metrics_listen", format!("{m:?} is not an address:port"));
            }
        }
        if let Some((field, message)) = crate::model::alpr_fps_problem("alpr_fps", cfg.alpr_fps) {
            bad(&field, message);
        }
        if !(0.0..=90.0).contains(&cfg.min_free_percent) {
            bad("min_free_percent", "must be 0..=90".into());
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// Reads and validates a config file.
    pub fn load(path: &std::path::Path) -> Result<AgentConfig> {
        let text = crate::read_file(path)?;
        Self::parse(&path.display().to_string(), &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_camera_field_and_plain_http_are_refused() {
        let t = "controllers: [http://x:1]\nca_file: /ca.pem\ndata_dir: /d\ncolour: red\n";
        let e = AgentConfig::parse("a.yaml", t).unwrap_err();
        assert_eq!(e.problems()[0].path, "colour");
        let t = "controllers: [http://x:1]\nca_file: /ca.pem\ndata_dir: /d\n";
        let e = AgentConfig::parse("a.yaml", t).unwrap_err();
        assert_eq!(e.problems()[0].path, "controllers.0");
    }

    #[test]
    fn alpr_precision_is_fp32_int8_or_mixed_and_anything_else_names_the_field() {
        let base = "controllers: [https://x:1]\nca_file: /ca.pem\ndata_dir: /d\n";
        let cfg = AgentConfig::parse("a.yaml", base).unwrap();
        assert_eq!(cfg.alpr_precision, None);
        for (v, want) in [
            ("fp32", AlprPrecision::Fp32),
            ("int8", AlprPrecision::Int8),
            ("mixed", AlprPrecision::Mixed),
        ] {
            let cfg =
                AgentConfig::parse("a.yaml", &format!("{base}alpr_precision: {v}\n")).unwrap();
            assert_eq!(cfg.alpr_precision, Some(want));
            assert_eq!(want.to_string().parse::<AlprPrecision>(), Ok(want));
        }
        let e = AgentConfig::parse("a.yaml", &format!("{base}alpr_precision: fp16\n")).unwrap_err();
        let p = &e.problems()[0];
        assert_eq!(p.path, "alpr_precision", "{p:?}");
        assert_eq!(p.file, "a.yaml");
        assert!(p.message.contains("fp16"), "{p:?}");
        assert!("fp16".parse::<AlprPrecision>().is_err());
    }

    #[test]
    fn alpr_region_is_any_us_eu_or_br_and_anything_else_names_the_field() {
        let base = "controllers: [https://x:1]\nca_file: /ca.pem\ndata_dir: /d\n";
        let cfg = AgentConfig::parse("a.yaml", base).unwrap();
        assert_eq!(cfg.alpr_region, None);
        assert_eq!(cfg.alpr_region.unwrap_or_default(), AlprRegion::Any);
        for (v, want) in [
            ("any", AlprRegion::Any),
            ("us", AlprRegion::Us),
            ("eu", AlprRegion::Eu),
            ("br", AlprRegion::Br),
        ] {
            let cfg = AgentConfig::parse("a.yaml", &format!("{base}alpr_region: {v}\n")).unwrap();
            assert_eq!(cfg.alpr_region, Some(want));
            assert_eq!(want.to_string().parse::<AlprRegion>(), Ok(want));
        }
        assert_eq!("US".parse::<AlprRegion>(), Ok(AlprRegion::Us));
        let e = AgentConfig::parse("a.yaml", &format!("{base}alpr_region: iowa\n")).unwrap_err();
        let p = &e.problems()[0];
        assert_eq!(p.path, "alpr_region", "{p:?}");
        assert!(p.message.contains("iowa"), "{p:?}");
        let e = "iowa".parse::<AlprRegion>().unwrap_err();
        assert!(e.contains("any, us, eu, br"), "{e}");
    }
}
