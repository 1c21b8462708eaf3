//! gpsd's JSON lines, as a mobile reader's agent receives them (TCP,
//! `?WATCH={"enable":true,"json":true}`, then one JSON object per line; `TPV`
//! objects carry the fix). Kept here, apart from the agent (which follows gpsd
//! and keeps the fixes), so the fuzz targets can parse them without the
//! agent's FFmpeg and ONNX.

use crate::model::LatLon;
use jiff::Timestamp;

/// One position fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    /// When (the receiver's time, or arrival when gpsd gives none).
    pub time: Timestamp,
    /// Where.
    pub pos: LatLon,
}

/// Parses one gpsd line; a fix for `TPV` objects with a 2D or 3D fix.
pub fn parse_tpv(line: &str, arrived: Timestamp) -> Option<Fix> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["class"] != "TPV" || v["mode"].as_u64().unwrap_or(0) < 2 {
        return None;
    }
    let (lat, lon) = (v["lat"].as_f64()?, v["lon"].as_f64()?);
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return None;
    }
    let time = v["time"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(arrived);
    Some(Fix {
        time,
        pos: LatLon { lat, lon },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpv_lines_with_a_fix() {
        let now: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        assert!(parse_tpv(r#"{"class":"VERSION","release":"3.22"}"#, now).is_none());
        assert!(parse_tpv(r#"{"class":"TPV","mode":1}"#, now).is_none());
        assert!(parse_tpv("not json", now).is_none());
        assert!(parse_tpv(r#"{"class":"TPV","mode":2,"lat":95.0,"lon":1.0}"#, now).is_none());
        let f = parse_tpv(
            r#"{"class":"TPV","mode":3,"time":"2026-06-01T12:00:01.000Z","lat":42.5,"lon":-90.66}"#,
            now,
        )
        .unwrap();
        assert_eq!(f.time.to_string(), "2026-06-01T12:00:01Z");
        assert_eq!(f.pos.lat, 42.5);
    }
}
