//! An agent speaks only for its own cameras: which cameras a report names, and
//! what is kept of it when some of them are not the reporting agent's.
//!
//! A pure function of the report and the agent's cameras; the session audits,
//! counts and acknowledges what it refuses (so the agent's spool lets it go),
//! and nothing refused reaches the store, the alerts or the public log.

use camplane_proto::kinds::ReportKind;
use serde_json::Value;

/// Longest camera name a refusal repeats (audit entries stay bounded).
pub const SHOWN_NAME: usize = 64;

/// What becomes of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Screened {
    /// Every camera it names is the agent's: stored as sent.
    Keep,
    /// A health report that also listed cameras not the agent's: stored
    /// without them (the gateway's own figures stay useful).
    Strip(Value),
    /// About a camera not the agent's: not stored at all.
    Refuse,
}

/// The cameras a report names: a window's or an alert's `camera`, a health
/// report's `cameras[].id`; for a kind this build does not know, any top-level
/// `camera` and the `id` or `camera` of each `cameras` entry.
pub fn cameras_named(kind: Option<ReportKind>, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |x: &Value| {
        if let Some(s) = x.as_str() {
            out.push(s.to_string());
        }
    };
    match kind {
        Some(ReportKind::Windows) | Some(ReportKind::Alert) => push(&v["camera"]),
        Some(ReportKind::Health) => {
            for c in v["cameras"].as_array().into_iter().flatten() {
                push(&c["id"]);
            }
        }
        None => {
            push(&v["camera"]);
            for c in v["cameras"].as_array().into_iter().flatten() {
                push(c);
                push(&c["id"]);
                push(&c["camera"]);
            }
        }
    }
    out
}

/// The rule: what is kept of a report of `kind` from an agent whose cameras
/// `own` says, and the names of the cameras that are not its own (sorted,
/// each once).
pub fn screen(
    kind: Option<ReportKind>,
    v: &Value,
    own: impl Fn(&str) -> bool,
) -> (Screened, Vec<String>) {
    let mut foreign: Vec<String> = cameras_named(kind, v)
        .into_iter()
        .filter(|c| !own(c))
        .collect();
    foreign.sort();
    foreign.dedup();
    if foreign.is_empty() {
        return (Screened::Keep, foreign);
    }
    if kind == Some(ReportKind::Health) {
        let mut kept = v.clone();
        if let Some(cams) = kept["cameras"].as_array_mut() {
            cams.retain(|c| c["id"].as_str().is_some_and(&own));
        }
        return (Screened::Strip(kept), foreign);
    }
    (Screened::Refuse, foreign)
}

/// A camera name as a refusal shows it: at most [`SHOWN_NAME`] characters,
/// control characters escaped (the name is the agent's, not a registered one).
pub fn shown(name: &str) -> String {
    name.chars()
        .take(SHOWN_NAME)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn own(c: &str) -> bool {
        c == "cam-1" || c == "cam-2"
    }

    #[test]
    fn windows_and_alerts_about_another_camera_are_refused() {
        for kind in [ReportKind::Windows, ReportKind::Alert] {
            let mine = json!({"camera": "cam-1", "plates_read": 3});
            assert_eq!(screen(Some(kind), &mine, own), (Screened::Keep, vec![]));
            for name in ["cam-9", "..", "<b>x</b>", "=cmd|' calc'!A0"] {
                let theirs = json!({"camera": name, "plates_read": 3});
                assert_eq!(
                    screen(Some(kind), &theirs, own),
                    (Screened::Refuse, vec![name.to_string()])
                );
            }
        }
    }

    #[test]
    fn health_keeps_the_agents_own_cameras_only() {
        let h = json!({"disk_free": 1, "cameras": [{"id": "cam-1"}, {"id": "cam-9"}, {"id": "cam-2"}, {"id": "cam-9"}]});
        let (s, foreign) = screen(Some(ReportKind::Health), &h, own);
        assert_eq!(foreign, ["cam-9"]);
        assert_eq!(
            s,
            Screened::Strip(json!({"disk_free": 1, "cameras": [{"id": "cam-1"}, {"id": "cam-2"}]}))
        );
        let mine = json!({"cameras": [{"id": "cam-1"}]});
        assert_eq!(
            screen(Some(ReportKind::Health), &mine, own).0,
            Screened::Keep
        );
    }

    #[test]
    fn unknown_kinds_are_screened_by_their_camera_fields() {
        for v in [
            json!({"camera": "cam-9"}),
            json!({"cameras": ["cam-9"]}),
            json!({"cameras": [{"id": "cam-9"}]}),
            json!({"cameras": [{"camera": "cam-9"}, {"camera": "cam-1"}]}),
        ] {
            assert_eq!(
                screen(None, &v, own),
                (Screened::Refuse, vec!["cam-9".into()])
            );
        }
        assert_eq!(
            screen(None, &json!({"camera": "cam-2", "x": 1}), own).0,
            Screened::Keep
        );
    }

    #[test]
    fn names_are_shown_bounded_and_escaped() {
        assert_eq!(shown("a\nb\u{1b}"), "a\\nb\\u{1b}");
        assert_eq!(shown(&"x".repeat(1000)).len(), SHOWN_NAME);
    }
}
