//! Reading GeoJSON features: positions, lines and polygons checked as they are
//! read (WGS84 ranges, closed rings), properties (GDAL's `other_tags` too) and
//! the street class a feature's tags give under the city's rules.

use std::collections::HashMap;

use geo::{Coord, LineString, Polygon};
use geojson::{JsonObject, Position};
use serde_json::Value;

use crate::rules::{Rules, StreetClass};

pub(crate) fn position(p: &Position) -> Result<Coord<f64>, String> {
    let s = p.as_slice();
    if s.len() < 2 {
        return Err(format!(
            "a position needs longitude and latitude, found {s:?}"
        ));
    }
    let (lon, lat) = (s[0], s[1]);
    if !lon.is_finite()
        || !(-180.0..=180.0).contains(&lon)
        || !lat.is_finite()
        || !(-90.0..=90.0).contains(&lat)
    {
        return Err(format!(
            "coordinates [{lon}, {lat}] out of range (want WGS84 longitude in [-180, 180], latitude in [-90, 90])"
        ));
    }
    Ok(Coord { x: lon, y: lat })
}

pub(crate) fn line_string(ps: &[Position]) -> Result<LineString<f64>, String> {
    if ps.len() < 2 {
        return Err(format!(
            "a LineString needs at least 2 positions, found {}",
            ps.len()
        ));
    }
    Ok(LineString(
        ps.iter().map(position).collect::<Result<_, _>>()?,
    ))
}

pub(crate) fn polygon(rings: &[Vec<Position>]) -> Result<Polygon<f64>, String> {
    if rings.is_empty() {
        return Err("a polygon needs an exterior ring".into());
    }
    let mut out = Vec::with_capacity(rings.len());
    for (r, ring) in rings.iter().enumerate() {
        let role = if r == 0 {
            "exterior ring".to_string()
        } else {
            format!("interior ring {}", r - 1)
        };
        if ring.len() < 4 {
            return Err(format!(
                "polygon {role} has {} positions, needs at least 4",
                ring.len()
            ));
        }
        let coords: Vec<Coord<f64>> = ring.iter().map(position).collect::<Result<_, _>>()?;
        if coords.first() != coords.last() {
            return Err(format!(
                "polygon {role} is not closed (first and last positions differ)"
            ));
        }
        out.push(LineString(coords));
    }
    let mut it = out.into_iter();
    let exterior = it.next().unwrap_or_else(|| LineString(vec![]));
    Ok(Polygon::new(exterior, it.collect()))
}

/// Looks a property up at the top level, then inside a GDAL `other_tags`
/// field (`"key"=>"value","k2"=>"v2"`) when the top level lacks it (or has null).
pub fn property(props: &JsonObject, key: &str) -> Option<String> {
    match props.get(key) {
        Some(Value::String(s)) => return Some(s.clone()),
        Some(Value::Number(n)) => return Some(n.to_string()),
        Some(Value::Bool(b)) => return Some(b.to_string()),
        _ => {}
    }
    let Some(Value::String(tags)) = props.get("other_tags") else {
        return None;
    };
    parse_other_tags(tags)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Parses GDAL's hstore-like `other_tags`: `"k"=>"v","k2"=>"v2"` with `\"`
/// and `\\` escapes. Malformed text yields the pairs read before the fault.
pub fn parse_other_tags(s: &str) -> Vec<(String, String)> {
    fn quoted(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
        if it.next()? != '"' {
            return None;
        }
        let mut out = String::new();
        loop {
            match it.next()? {
                '\\' => out.push(it.next()?),
                '"' => return Some(out),
                c => out.push(c),
            }
        }
    }
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while matches!(it.peek(), Some(c) if c.is_whitespace() || *c == ',') {
            it.next();
        }
        if it.peek().is_none() {
            break;
        }
        let Some(k) = quoted(&mut it) else { break };
        while matches!(it.peek(), Some(c) if c.is_whitespace()) {
            it.next();
        }
        if it.next() != Some('=') || it.next() != Some('>') {
            break;
        }
        while matches!(it.peek(), Some(c) if c.is_whitespace()) {
            it.next();
        }
        if it.peek() == Some(&'"') {
            let Some(v) = quoted(&mut it) else { break };
            out.push((k, v));
        } else {
            // Unquoted value (GDAL writes NULL bare): read to the next comma.
            let mut v = String::new();
            while let Some(c) = it.peek().copied() {
                if c == ',' {
                    break;
                }
                v.push(c);
                it.next();
            }
            if v.trim() != "NULL" {
                out.push((k, v.trim().to_string()));
            }
        }
    }
    out
}

/// The class the class map gives a feature, `None` when no rule matches.
pub fn classify(props: &JsonObject, rules: &Rules) -> Option<StreetClass> {
    let mut tags: Option<HashMap<String, String>> = None;
    let mut get = |key: &str| -> Option<String> {
        match props.get(key) {
            Some(Value::String(s)) => return Some(s.clone()),
            Some(Value::Number(n)) => return Some(n.to_string()),
            Some(Value::Bool(b)) => return Some(b.to_string()),
            _ => {}
        }
        let t = tags.get_or_insert_with(|| match props.get("other_tags") {
            Some(Value::String(s)) => parse_other_tags(s).into_iter().collect(),
            _ => HashMap::new(),
        });
        t.get(key).cloned()
    };
    rules
        .class_map
        .iter()
        .find(|rule| {
            rule.when
                .iter()
                .all(|(k, want)| get(k).is_some_and(|v| want.contains(&v)))
        })
        .map(|r| r.class)
}
