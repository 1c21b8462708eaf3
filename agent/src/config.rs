//! What the controller tells the agent: cameras to record and legal holds.
//!
//! Unknown fields are refused and every problem names its path, so a bad push
//! is explained in one round trip.

use serde::{Deserialize, Serialize};

use crate::error::AgentError;

/// The model's hold types and policy ceiling, used as they are: the desired config
/// from the controller needs no copy or conversion (one contract per concept).
pub use camplane_config::model::{HoldReason, PushedHoldReason, MAX_RETENTION_DAYS};

/// A legal hold as the agent reads it: the model's, with a reason this build
/// may not know (a newer controller's) kept as sent. It holds all the same.
pub type LegalHold = camplane_config::model::LegalHoldSpec<PushedHoldReason>;

/// The desired config as the agent reads it from the controller (and from its
/// saved copy): one hold whose reason this build does not know must not make
/// the whole config unreadable, or new holds would never arrive.
pub type Desired = camplane_config::model::AgentDesired<PushedHoldReason>;

/// How the agent pulls RTP from the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// RTP interleaved in the RTSP TCP connection (survives NAT and loss-free).
    #[default]
    Tcp,
    /// RTP over UDP.
    Udp,
}

impl Transport {
    /// The value of FFmpeg's `rtsp_transport` option.
    pub fn as_ffmpeg(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_segment_seconds() -> u32 {
    60
}
fn default_retention_days() -> u32 {
    MAX_RETENTION_DAYS
}

/// One camera the agent must ingest (and usually record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Registry id; also the directory name of its recordings.
    pub id: String,
    /// Main (highest resolution) stream URL, usually `rtsp://`.
    pub main_url: String,
    /// Sub (lower resolution) stream URL, where the camera has one: carried from
    /// the controller's `streams.sub` for live view, which serves it to spare the
    /// site's uplink; recording and plate reading always use the main stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_url: Option<String>,
    /// RTSP transport, TCP unless told otherwise.
    #[serde(default)]
    pub transport: Transport,
    /// Whether segments are written (ingest and health run either way).
    #[serde(default = "default_true")]
    pub recording: bool,
    /// Target segment length; segments start on keyframes so they run slightly longer.
    #[serde(default = "default_segment_seconds")]
    pub segment_seconds: u32,
    /// Days kept; at most [`MAX_RETENTION_DAYS`].
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Whether plate reading runs on this camera.
    #[serde(default)]
    pub alpr: bool,
    /// Frames read per second on this camera (the camera spec's `alpr_fps`, in
    /// (0, 30]); none: the agent's `alpr_fps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpr_fps: Option<f64>,
    /// Where it stands: stored with each plate read of a fixed reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<camplane_config::model::LatLon>,
    /// A mobile reader: reads are located by the gateway's GPS (gpsd).
    #[serde(default)]
    pub mobile: bool,
}

/// One problem in a config document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Field path, e.g. `[1].retention_days`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl From<ConfigProblem> for AgentError {
    fn from(p: ConfigProblem) -> Self {
        AgentError::Config {
            path: p.path,
            message: p.message,
        }
    }
}

/// Whether `id` is safe as a single directory name.
pub fn valid_camera_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl CameraConfig {
    /// A camera with the defaults for everything but id and URL.
    pub fn new(id: impl Into<String>, main_url: impl Into<String>) -> Self {
        CameraConfig {
            id: id.into(),
            main_url: main_url.into(),
            sub_url: None,
            transport: Transport::Tcp,
            recording: true,
            segment_seconds: default_segment_seconds(),
            retention_days: default_retention_days(),
            alpr: false,
            alpr_fps: None,
            location: None,
            mobile: false,
        }
    }

    /// Every semantic problem, paths prefixed with `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let mut bad = |field: &str, message: String| {
            p.push(ConfigProblem {
                path: format!("{prefix}{field}"),
                message,
            })
        };
        if !valid_camera_id(&self.id) {
            bad(
                "id",
                format!(
                    "{:?} must be 1-128 of [A-Za-z0-9._-], not starting with '.'",
                    self.id
                ),
            );
        }
        if self.main_url.trim().is_empty() {
            bad("main_url", "must not be empty".into());
        }
        if self.sub_url.as_ref().is_some_and(|u| u.trim().is_empty()) {
            bad("sub_url", "must not be empty when given".into());
        }
        if !(1..=3600).contains(&self.segment_seconds) {
            bad(
                "segment_seconds",
                format!("{} is outside 1..=3600", self.segment_seconds),
            );
        }
        if let Some(fps) = self.alpr_fps {
            if let Some((field, message)) =
                camplane_config::model::alpr_fps_problem("alpr_fps", fps)
            {
                bad(&field, message);
            }
        }
        if self.retention_days == 0 || self.retention_days > MAX_RETENTION_DAYS {
            bad(
                "retention_days",
                format!(
                    "{} is outside 1..={MAX_RETENTION_DAYS} (policy maximum)",
                    self.retention_days
                ),
            );
        }
        p
    }
}

/// Every semantic problem of a hold, paths prefixed with `prefix`.
fn hold_problems(h: &LegalHold, prefix: &str) -> Vec<ConfigProblem> {
    let mut p = Vec::new();
    if h.case_number.trim().is_empty() {
        p.push(ConfigProblem {
            path: format!("{prefix}case_number"),
            message: "must not be empty".into(),
        });
    }
    if h.cameras.is_empty() {
        p.push(ConfigProblem {
            path: format!("{prefix}cameras"),
            message: "must name at least one camera".into(),
        });
    }
    if h.from >= h.until {
        p.push(ConfigProblem {
            path: format!("{prefix}until"),
            message: format!("{} is not after from ({})", h.until, h.from),
        });
    }
    p
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Vec<ConfigProblem>> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        vec![ConfigProblem {
            path: if path == "." { String::new() } else { path },
            message: e.into_inner().to_string(),
        }]
    })
}

/// Parses and validates a JSON list of cameras; reports every problem with its path.
pub fn cameras_from_json(text: &str) -> Result<Vec<CameraConfig>, Vec<ConfigProblem>> {
    let cams: Vec<CameraConfig> = parse_json(text)?;
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, c) in cams.iter().enumerate() {
        problems.extend(c.problems(&format!("[{i}].")));
        if !seen.insert(c.id.as_str()) {
            problems.push(ConfigProblem {
                path: format!("[{i}].id"),
                message: format!("duplicate camera id {:?}", c.id),
            });
        }
    }
    if problems.is_empty() {
        Ok(cams)
    } else {
        Err(problems)
    }
}

/// Parses and validates a JSON list of legal holds.
pub fn holds_from_json(text: &str) -> Result<Vec<LegalHold>, Vec<ConfigProblem>> {
    // The model's type tolerates unknown fields (the controller's loaders check
    // them), so list them here: a misspelt field must not pass silently.
    let mut unknown = Vec::new();
    let holds: Vec<LegalHold> = {
        let mut de = serde_json::Deserializer::from_str(text);
        let mut note = |p: serde_ignored::Path<'_>| unknown.push(json_path(&p));
        let de = serde_ignored::Deserializer::new(&mut de, &mut note);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            vec![ConfigProblem {
                path: if path == "." { String::new() } else { path },
                message: e.into_inner().to_string(),
            }]
        })?
    };
    let mut problems: Vec<_> = unknown
        .into_iter()
        .map(|(path, field)| ConfigProblem {
            path,
            message: format!("unknown field `{field}`"),
        })
        .collect();
    problems.extend(
        holds
            .iter()
            .enumerate()
            .flat_map(|(i, h)| hold_problems(h, &format!("[{i}]."))),
    );
    if problems.is_empty() {
        Ok(holds)
    } else {
        Err(problems)
    }
}

/// An ignored field's path in the `[1].field` form the other problems use, and its name.
fn json_path(p: &serde_ignored::Path<'_>) -> (String, String) {
    fn walk(p: &serde_ignored::Path<'_>, out: &mut String) {
        match p {
            serde_ignored::Path::Root => {}
            serde_ignored::Path::Seq { parent, index } => {
                walk(parent, out);
                out.push_str(&format!("[{index}]"));
            }
            serde_ignored::Path::Map { parent, key } => {
                walk(parent, out);
                out.push('.');
                out.push_str(key);
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut path = String::new();
    walk(p, &mut path);
    let field = match p {
        serde_ignored::Path::Map { key, .. } => key.clone(),
        _ => path.clone(),
    };
    (path, field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    #[test]
    fn defaults_apply() {
        let c = cameras_from_json(r#"[{"id":"cam-1","main_url":"rtsp://h/s"}]"#).unwrap();
        assert_eq!(c[0].transport, Transport::Tcp);
        assert!(c[0].recording);
        assert_eq!(c[0].segment_seconds, 60);
        assert_eq!(c[0].retention_days, 30);
        assert!(!c[0].alpr);
    }

    #[test]
    fn unknown_field_reports_its_path() {
        let e = cameras_from_json(
            r#"[{"id":"a","main_url":"u"},{"id":"b","main_url":"u","retention":5}]"#,
        )
        .unwrap_err();
        assert_eq!(e[0].path, "[1].retention");
        assert!(e[0].message.contains("unknown field `retention`"), "{e:?}");
    }

    #[test]
    fn bad_transport_reports_its_path() {
        let e = cameras_from_json(r#"[{"id":"a","main_url":"u","transport":"sctp"}]"#).unwrap_err();
        assert_eq!(e[0].path, "[0].transport");
    }

    #[test]
    fn every_semantic_problem_is_reported() {
        let e = cameras_from_json(
            r#"[{"id":"../x","main_url":" ","retention_days":45,"segment_seconds":0},
                {"id":"ok","main_url":"u"},{"id":"ok","main_url":"u"}]"#,
        )
        .unwrap_err();
        let paths: Vec<_> = e.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "[0].id",
                "[0].main_url",
                "[0].segment_seconds",
                "[0].retention_days",
                "[2].id"
            ]
        );
    }

    #[test]
    fn holds_parse_and_validate() {
        let h = holds_from_json(
            r#"[{"case_number":"25-01234","cameras":["c1"],"from":"2025-01-01T00:00:00Z",
                 "until":"2025-01-02T00:00:00Z","reason":"court"}]"#,
        )
        .unwrap();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert!(h[0].covers("c1", t("2024-12-31T23:59:00Z"), t("2025-01-01T00:01:00Z")));
        // The end is inclusive (the model's rule): only what starts after it is free.
        assert!(!h[0].covers("c1", t("2025-01-02T00:00:01Z"), t("2025-01-02T00:01:00Z")));
        assert!(!h[0].covers("c2", t("2025-01-01T10:00:00Z"), t("2025-01-01T10:01:00Z")));
        let e = holds_from_json(
            r#"[{"case_number":"","cameras":[],"from":"2025-01-02T00:00:00Z",
                 "until":"2025-01-01T00:00:00Z","reason":"court"}]"#,
        )
        .unwrap_err();
        assert_eq!(e.len(), 3);
        // A reason this build does not know is kept as sent: the hold holds.
        let h = holds_from_json(
            r#"[{"case_number":"1","cameras":["c"],"from":"2025-01-01T00:00:00Z",
                 "until":"2025-01-02T00:00:00Z","reason":"curiosity"}]"#,
        )
        .unwrap();
        assert_eq!(h[0].reason, PushedHoldReason::Unknown("curiosity".into()));
        assert!(h[0].covers("c", t("2025-01-01T10:00:00Z"), t("2025-01-01T10:01:00Z")));
        // A reason that is no text at all is refused, named.
        let e = holds_from_json(
            r#"[{"case_number":"1","cameras":["c"],"from":"2025-01-01T00:00:00Z",
                 "until":"2025-01-02T00:00:00Z","reason":7}]"#,
        )
        .unwrap_err();
        assert_eq!(e[0].path, "[0].reason");
        let e = holds_from_json(
            r#"[{"case_number":"1","cameras":["c"],"from":"2025-01-01T00:00:00Z",
                 "until":"2025-01-02T00:00:00Z","reason":"court","untill":"x"}]"#,
        )
        .unwrap_err();
        assert_eq!(e[0].path, "[0].untill");
        assert!(e[0].message.contains("unknown field `untill`"), "{e:?}");
    }
}
