//! GIS layers: loading and validating GeoJSON, classifying streets, and the
//! projected, R-tree-indexed form that checks run on.

use std::fmt;

use geo::{
    BoundingRect, Coord, Distance, Euclidean, Line, LineString, MultiPolygon, Point, Polygon,
};
use geojson::{Feature, GeometryValue, JsonObject};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{PointDistance, RTree, RTreeObject, AABB};
use serde_json::Value;

pub use crate::features::{classify, parse_other_tags, property};
use crate::features::{line_string, polygon, position};
use crate::limits::{Cancel, Cancelled, Limits};
use crate::polyops::union_all;
use crate::proj::LocalProjection;
use crate::rules::{Rules, StreetClass};
use crate::validity::{check_multi_polygon, Failure};
use crate::PlacementError;

/// The kinds of layer the spec names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerKind {
    /// Street and alley centerlines (LineString, MultiLineString).
    Streets,
    /// City-owned property (Polygon, MultiPolygon).
    CityProperty,
    /// Other publicly owned spaces (Polygon, MultiPolygon).
    OtherPublic,
    /// 911 kiosks (Point).
    Kiosks,
    /// Residential housing (Polygon, MultiPolygon).
    Residential,
}

impl LayerKind {
    /// The layer's name in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Streets => "streets",
            LayerKind::CityProperty => "city_property",
            LayerKind::OtherPublic => "other_public",
            LayerKind::Kiosks => "kiosks",
            LayerKind::Residential => "residential",
        }
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

struct RawStreet {
    lines: Vec<LineString<f64>>,
    props: JsonObject,
}

/// Layers as loaded (WGS84, validated), before the rules and projection are
/// applied. Add every file, then [`LayerSet::build`].
#[derive(Default)]
pub struct LayerSet {
    streets: Vec<RawStreet>,
    city: Vec<MultiPolygon<f64>>,
    other: Vec<MultiPolygon<f64>>,
    kiosks: Vec<Coord<f64>>,
    residential: Vec<MultiPolygon<f64>>,
    /// Per residential feature: its file and index there, to name it in errors.
    residential_src: Vec<(String, usize)>,
    limits: Limits,
    /// Features and bytes added so far, per layer (a layer may come from several files).
    added: std::collections::HashMap<LayerKind, (usize, u64)>,
    cancel: Cancel,
}

impl LayerSet {
    /// An empty set: every layer empty, the config's default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set that refuses layers over `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        LayerSet {
            limits,
            ..Self::default()
        }
    }

    /// Work on this set (loading, validating, building) stops with
    /// [`PlacementError::Cancelled`] once `cancel` is set.
    pub fn cancel_with(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// Adds one GeoJSON FeatureCollection to a layer. A layer may come from
    /// several files. The file is refused as a whole (nothing is added) when
    /// it is not GeoJSON, has a geometry of the wrong type, coordinates out of
    /// range, or a polygon that is not closed or not valid; the error names
    /// `name` and the feature index.
    pub fn add_file(
        &mut self,
        kind: LayerKind,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), PlacementError> {
        self.add_file_with(kind, name, bytes, InvalidPolygons::Refuse)
            .map(|_| ())
    }

    /// [`LayerSet::add_file`], choosing what to do with polygons that are
    /// closed but not valid (self-intersecting rings, parts that overlap or
    /// touch along a line). With [`InvalidPolygons::Repair`] each such
    /// feature is repaired (every part made valid, then the parts unioned)
    /// and reported in the returned list, so the repair is explicit.
    pub fn add_file_with(
        &mut self,
        kind: LayerKind,
        name: &str,
        bytes: &[u8],
        invalid: InvalidPolygons,
    ) -> Result<Vec<Repair>, PlacementError> {
        let mut repairs = Vec::new();
        let fail = |feature: Option<usize>, message: String| PlacementError::Layer {
            file: name.to_string(),
            feature,
            message,
        };
        let (had_features, had_bytes) = self.added.get(&kind).copied().unwrap_or_default();
        let layer_bytes = had_bytes + bytes.len() as u64;
        if layer_bytes > self.limits.max_layer_bytes {
            return Err(fail(
                None,
                format!(
                    "the {kind} layer has {layer_bytes} bytes, more than placement.max_layer_bytes ({})",
                    self.limits.max_layer_bytes
                ),
            ));
        }
        self.cancel.check()?;
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| fail(None, format!("not GeoJSON: {e}")))?;
        let Value::Object(mut top) = doc else {
            return Err(fail(
                None,
                "not GeoJSON: expected a FeatureCollection object".into(),
            ));
        };
        match top.get("type") {
            Some(Value::String(t)) if t == "FeatureCollection" => {}
            Some(Value::String(t)) => {
                return Err(fail(
                    None,
                    format!("not a FeatureCollection (type is `{t}`)"),
                ))
            }
            _ => return Err(fail(None, "not GeoJSON: no `type` member".into())),
        }
        let Some(Value::Array(features)) = top.remove("features") else {
            return Err(fail(
                None,
                "not GeoJSON: a FeatureCollection needs a `features` array".into(),
            ));
        };
        let max_features = self.limits.max_features_per_layer;
        if had_features + features.len() > max_features {
            // Name the first feature over the limit.
            let first_over = max_features.saturating_sub(had_features);
            return Err(fail(
                Some(first_over),
                format!(
                    "the {kind} layer has {} features, more than placement.max_features_per_layer ({max_features})",
                    had_features + features.len()
                ),
            ));
        }
        let feature_count = features.len();
        let mut streets = Vec::new();
        let mut polys = Vec::new();
        let mut poly_src = Vec::new();
        let mut points = Vec::new();
        for (i, fv) in features.into_iter().enumerate() {
            self.cancel.check()?;
            let feature: Feature = serde_json::from_value(fv)
                .map_err(|e| fail(Some(i), format!("not a GeoJSON Feature: {e}")))?;
            let Some(geometry) = feature.geometry else {
                return Err(fail(Some(i), "has no geometry".into()));
            };
            let at = |m: String| fail(Some(i), m);
            // Bounded before any geometry work: every check after this is near-linear in it.
            let vertices = vertex_count(&geometry.value);
            if vertices > self.limits.max_vertices_per_feature {
                return Err(fail(
                    Some(i),
                    format!(
                        "has {vertices} positions, more than placement.max_vertices_per_feature ({})",
                        self.limits.max_vertices_per_feature
                    ),
                ));
            }
            let cancel = &self.cancel;
            match (kind, &geometry.value) {
                (LayerKind::Streets, GeometryValue::LineString { coordinates }) => {
                    streets.push(RawStreet {
                        lines: vec![line_string(coordinates).map_err(at)?],
                        props: feature.properties.unwrap_or_default(),
                    });
                }
                (LayerKind::Streets, GeometryValue::MultiLineString { coordinates }) => {
                    let lines = coordinates
                        .iter()
                        .map(|c| line_string(c))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(at)?;
                    streets.push(RawStreet {
                        lines,
                        props: feature.properties.unwrap_or_default(),
                    });
                }
                (LayerKind::Kiosks, GeometryValue::Point { coordinates }) => {
                    points.push(position(coordinates).map_err(at)?);
                }
                (
                    LayerKind::CityProperty | LayerKind::OtherPublic | LayerKind::Residential,
                    GeometryValue::Polygon { coordinates },
                ) => {
                    let mp = MultiPolygon(vec![polygon(coordinates).map_err(at)?]);
                    polys.push(
                        valid_or_repaired(mp, invalid, i, &mut repairs, cancel)?.map_err(at)?,
                    );
                    poly_src.push(i);
                }
                (
                    LayerKind::CityProperty | LayerKind::OtherPublic | LayerKind::Residential,
                    GeometryValue::MultiPolygon { coordinates },
                ) => {
                    let parts = coordinates
                        .iter()
                        .enumerate()
                        .map(|(j, p)| polygon(p).map_err(|m| format!("part {j}: {m}")))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(at)?;
                    polys.push(
                        valid_or_repaired(MultiPolygon(parts), invalid, i, &mut repairs, cancel)?
                            .map_err(at)?,
                    );
                    poly_src.push(i);
                }
                (_, other) => {
                    let want = match kind {
                        LayerKind::Streets => "LineString or MultiLineString",
                        LayerKind::Kiosks => "Point",
                        _ => "Polygon or MultiPolygon",
                    };
                    return Err(fail(
                        Some(i),
                        format!(
                            "geometry {} is not allowed in the {kind} layer (want {want})",
                            other.type_name()
                        ),
                    ));
                }
            }
        }
        self.added
            .insert(kind, (had_features + feature_count, layer_bytes));
        match kind {
            LayerKind::Streets => self.streets.extend(streets),
            LayerKind::Kiosks => self.kiosks.extend(points),
            LayerKind::CityProperty => self.city.extend(polys),
            LayerKind::OtherPublic => self.other.extend(polys),
            LayerKind::Residential => {
                self.residential.extend(polys);
                self.residential_src
                    .extend(poly_src.into_iter().map(|i| (name.to_string(), i)));
            }
        }
        Ok(repairs)
    }

    /// Classifies streets with the rules' class map and name property,
    /// projects everything onto a local transverse Mercator centred on the
    /// layers, builds the R-trees and precomputes each street's meeting part.
    pub fn build(self, rules: &Rules) -> Layers {
        Layers::build(self, rules, &Cancel::new()).expect("a flag nobody else holds is never set")
    }

    /// [`LayerSet::build`], stopping with [`PlacementError::Cancelled`] once
    /// the set's cancel flag ([`LayerSet::cancel_with`]) is set.
    pub fn try_build(self, rules: &Rules) -> Result<Layers, PlacementError> {
        let cancel = self.cancel.clone();
        Ok(Layers::build(self, rules, &cancel)?)
    }
}

/// What to do with a polygon that is closed but not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvalidPolygons {
    /// Refuse the whole file (the spec's rule; the default).
    #[default]
    Refuse,
    /// Repair it and report the repair.
    Repair,
}

/// A feature that was repaired on load.
#[derive(Debug, Clone, PartialEq)]
pub struct Repair {
    /// Its index in the file's `features`.
    pub feature: usize,
    /// What was wrong with it.
    pub problem: String,
}

/// The positions of a geometry, counted before anything else is done with it.
fn vertex_count(g: &GeometryValue) -> usize {
    match g {
        GeometryValue::Point { .. } => 1,
        GeometryValue::MultiPoint { coordinates } | GeometryValue::LineString { coordinates } => {
            coordinates.len()
        }
        GeometryValue::MultiLineString { coordinates } | GeometryValue::Polygon { coordinates } => {
            coordinates.iter().map(Vec::len).sum()
        }
        GeometryValue::MultiPolygon { coordinates } => coordinates
            .iter()
            .flat_map(|p| p.iter().map(Vec::len))
            .sum(),
        GeometryValue::GeometryCollection { geometries } => {
            geometries.iter().map(|g| vertex_count(&g.value)).sum()
        }
    }
}

/// The polygon as loaded or repaired; the outer `Err` is a cancellation, the
/// inner one the feature's problem.
fn valid_or_repaired(
    mp: MultiPolygon<f64>,
    invalid: InvalidPolygons,
    feature: usize,
    repairs: &mut Vec<Repair>,
    cancel: &Cancel,
) -> Result<Result<MultiPolygon<f64>, String>, PlacementError> {
    let e = match check_multi_polygon(&mp, cancel) {
        Ok(()) => return Ok(Ok(mp)),
        Err(Failure::Cancelled) => return Err(PlacementError::Cancelled),
        Err(Failure::Invalid(e)) => e,
    };
    let problem = format!("polygon is not valid (it intersects itself): {e}");
    Ok(match invalid {
        InvalidPolygons::Refuse => Err(problem),
        InvalidPolygons::Repair => {
            let mut pieces = Vec::new();
            for part in &mp.0 {
                cancel.check()?;
                match crate::polyops::repair_even_odd(part) {
                    Ok(fixed) => pieces.extend(fixed.0),
                    Err(r) => return Ok(Err(format!("{problem}; repair failed: {r}"))),
                }
            }
            repairs.push(Repair { feature, problem });
            Ok(union_all(&pieces))
        }
    })
}

/// A projected street feature that the class map keeps.
#[derive(Debug, Clone)]
pub struct Street {
    /// Its name, if any.
    pub name: Option<String>,
    /// Its class.
    pub class: StreetClass,
    /// Projected parts (metres).
    pub lines: Vec<LineString<f64>>,
    /// Position among all kept streets, in file order (ties go to the first).
    pub order: usize,
}

/// One segment of a street, as stored in the R-tree.
#[derive(Debug, Clone)]
pub(crate) struct Seg {
    pub line: Line<f64>,
    pub street: u32,
}

impl RTreeObject for Seg {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_corners(
            [self.line.start.x, self.line.start.y],
            [self.line.end.x, self.line.end.y],
        )
    }
}

impl PointDistance for Seg {
    fn distance_2(&self, p: &[f64; 2]) -> f64 {
        let d = seg_distance(p, &self.line);
        d * d
    }
}

/// The distance from a point to a segment (the one distance every path uses).
pub(crate) fn seg_distance(p: &[f64; 2], l: &Line<f64>) -> f64 {
    Euclidean.distance(&Point::new(p[0], p[1]), l)
}

pub(crate) type BoxIdx = GeomWithData<Rectangle<[f64; 2]>, u32>;
pub(crate) type PointIdx = GeomWithData<[f64; 2], u32>;

/// A projected area layer (city property, other public, residential).
#[derive(Debug, Clone, Default)]
pub struct Areas {
    /// One entry per feature (a Polygon becomes a one-part MultiPolygon).
    pub shapes: Vec<MultiPolygon<f64>>,
    pub(crate) tree: RTree<BoxIdx>,
}

impl Areas {
    fn new(shapes: Vec<MultiPolygon<f64>>) -> Self {
        let boxes = shapes
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.bounding_rect().map(|r| {
                    GeomWithData::new(
                        Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                        i as u32,
                    )
                })
            })
            .collect();
        Areas {
            shapes,
            tree: RTree::bulk_load(boxes),
        }
    }

    pub(crate) fn bbox(&self, i: usize) -> Option<AABB<[f64; 2]>> {
        self.shapes[i]
            .bounding_rect()
            .map(|r| AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]))
    }
}

/// The meeting parts were computed for these rules (tolerance, eligible classes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MeetKey {
    pub tolerance: f64,
    pub eligible: Vec<StreetClass>,
}

impl MeetKey {
    pub fn of(rules: &Rules) -> Self {
        let mut eligible = rules.eligible_classes.clone();
        eligible.sort();
        eligible.dedup();
        MeetKey {
            tolerance: rules.meet_tolerance_m,
            eligible,
        }
    }
}

/// Layers ready for checks: projected to metres, indexed, streets classified.
pub struct Layers {
    pub(crate) proj: LocalProjection,
    /// Kept streets, in file order.
    pub streets: Vec<Street>,
    pub(crate) seg_tree: RTree<Seg>,
    pub(crate) segs: Vec<Seg>,
    /// City property.
    pub city_property: Areas,
    /// Other public property.
    pub other_public: Areas,
    /// Residential housing, as the union of the layer's polygons (disjoint parts).
    pub residential: Areas,
    /// The residential features as loaded (projected, one entry per feature),
    /// for the check that does not trust the union.
    pub(crate) residential_features: Areas,
    /// Per entry of `residential_features`: its file and feature index.
    pub(crate) residential_src: Vec<(String, usize)>,
    /// 911 kiosks (projected).
    pub kiosks: Vec<[f64; 2]>,
    pub(crate) kiosk_tree: RTree<PointIdx>,
    /// City-property boundaries (all rings) as segments, for meeting parts.
    pub(crate) boundary_tree: RTree<Seg>,
    pub(crate) meet_key: MeetKey,
    /// Per street: the sub-segments of its meeting part (empty when eligible or not meeting).
    pub(crate) meeting: Vec<Vec<Line<f64>>>,
    rules: Rules,
}

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layers")
            .field("streets", &self.streets.len())
            .field("city_property", &self.city_property.shapes.len())
            .field("other_public", &self.other_public.shapes.len())
            .field("residential", &self.residential.shapes.len())
            .field("kiosks", &self.kiosks.len())
            .finish()
    }
}

fn project_mp(p: &LocalProjection, mp: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    use geo::MapCoords;
    mp.map_coords(|c| {
        let (x, y) = p.project(c.x, c.y);
        Coord { x, y }
    })
}

impl Layers {
    fn build(set: LayerSet, rules: &Rules, cancel: &Cancel) -> Result<Layers, Cancelled> {
        cancel.check()?;
        // Centre the projection on the bounding box of everything loaded.
        let mut bb: Option<(f64, f64, f64, f64)> = None;
        let mut grow = |c: &Coord<f64>| {
            bb = Some(match bb {
                None => (c.x, c.y, c.x, c.y),
                Some((a, b, x, y)) => (a.min(c.x), b.min(c.y), x.max(c.x), y.max(c.y)),
            })
        };
        for s in &set.streets {
            s.lines.iter().flat_map(|l| l.0.iter()).for_each(&mut grow);
        }
        for mp in set.city.iter().chain(&set.other).chain(&set.residential) {
            use geo::CoordsIter;
            mp.exterior_coords_iter().for_each(|c| grow(&c));
        }
        set.kiosks.iter().for_each(&mut grow);
        let proj = match bb {
            Some((a, b, x, y)) => LocalProjection::new((a + x) / 2.0, (b + y) / 2.0),
            None => LocalProjection::new(0.0, 0.0),
        };
        let pc = |c: &Coord<f64>| {
            let (x, y) = proj.project(c.x, c.y);
            Coord { x, y }
        };

        let mut streets = Vec::new();
        for raw in &set.streets {
            let Some(class) = classify(&raw.props, rules) else {
                continue;
            };
            streets.push(Street {
                name: property(&raw.props, &rules.name_property),
                class,
                lines: raw
                    .lines
                    .iter()
                    .map(|l| LineString(l.0.iter().map(pc).collect()))
                    .collect(),
                order: streets.len(),
            });
        }
        let segs: Vec<Seg> = streets
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.lines.iter().flat_map(move |l| {
                    l.lines().map(move |line| Seg {
                        line,
                        street: i as u32,
                    })
                })
            })
            .collect();
        let seg_tree = RTree::bulk_load(segs.clone());

        let city_property = Areas::new(set.city.iter().map(|m| project_mp(&proj, m)).collect());
        let other_public = Areas::new(set.other.iter().map(|m| project_mp(&proj, m)).collect());
        // Union the housing once, so that a view's share is a sum over disjoint parts.
        let residential_features = Areas::new(
            set.residential
                .iter()
                .map(|m| project_mp(&proj, m))
                .collect(),
        );
        let res_polys: Vec<Polygon<f64>> = residential_features
            .shapes
            .iter()
            .flat_map(|m| m.0.iter().cloned())
            .collect();
        cancel.check()?;
        let union = union_all(&res_polys);
        cancel.check()?;
        let residential = Areas::new(union.0.into_iter().map(|p| MultiPolygon(vec![p])).collect());

        let kiosks: Vec<[f64; 2]> = set
            .kiosks
            .iter()
            .map(|c| {
                let p = pc(c);
                [p.x, p.y]
            })
            .collect();
        let kiosk_tree = RTree::bulk_load(
            kiosks
                .iter()
                .enumerate()
                .map(|(i, p)| GeomWithData::new(*p, i as u32))
                .collect(),
        );

        let boundary: Vec<Seg> = city_property
            .shapes
            .iter()
            .enumerate()
            .flat_map(|(i, mp)| {
                mp.0.iter()
                    .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                    .flat_map(|r| r.lines())
                    .map(move |line| Seg {
                        line,
                        street: i as u32,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let boundary_tree = RTree::bulk_load(boundary);

        let mut layers = Layers {
            proj,
            streets,
            seg_tree,
            segs,
            city_property,
            other_public,
            residential,
            residential_features,
            residential_src: set.residential_src,
            kiosks,
            kiosk_tree,
            boundary_tree,
            meet_key: MeetKey::of(rules),
            meeting: Vec::new(),
            rules: rules.clone(),
        };
        let key = layers.meet_key.clone();
        layers.meeting = (0..layers.streets.len())
            .map(|i| {
                cancel.check()?;
                Ok(layers.compute_meeting_part(i, &key))
            })
            .collect::<Result<_, Cancelled>>()?;
        Ok(layers)
    }

    /// The rules the layers were built with (class map, name property).
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The projection used (centre in WGS84 degrees).
    pub fn projection(&self) -> &LocalProjection {
        &self.proj
    }

    /// Number of kept streets per class, highest class first.
    pub fn class_counts(&self) -> Vec<(StreetClass, usize)> {
        StreetClass::ALL
            .iter()
            .map(|c| (*c, self.streets.iter().filter(|s| s.class == *c).count()))
            .collect()
    }

    /// Projects WGS84 (lon, lat) to the layers' metres.
    pub fn project(&self, lon: f64, lat: f64) -> [f64; 2] {
        let (x, y) = self.proj.project(lon, lat);
        [x, y]
    }

    /// The meeting part of street `i`: the sub-segments of it that lie within
    /// the meet tolerance of an eligible street or a city-property boundary.
    /// Empty for eligible streets (the basis is for non-eligible ones).
    pub(crate) fn compute_meeting_part(&self, i: usize, key: &MeetKey) -> Vec<Line<f64>> {
        let street = &self.streets[i];
        if key.eligible.contains(&street.class) {
            return Vec::new();
        }
        let tol = key.tolerance;
        let mut out = Vec::new();
        for line in &street.lines {
            for s in line.lines() {
                let env = AABB::from_corners(
                    [s.start.x.min(s.end.x) - tol, s.start.y.min(s.end.y) - tol],
                    [s.start.x.max(s.end.x) + tol, s.start.y.max(s.end.y) + tol],
                );
                let mut spans: Vec<(f64, f64)> = Vec::new();
                for t in self.seg_tree.locate_in_envelope_intersecting(&env) {
                    let other = &self.streets[t.street as usize];
                    if t.street as usize == i || !key.eligible.contains(&other.class) {
                        continue;
                    }
                    spans.extend(span_within(&s, &t.line, tol));
                }
                for b in self.boundary_tree.locate_in_envelope_intersecting(&env) {
                    spans.extend(span_within(&s, &b.line, tol));
                }
                spans.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut merged: Vec<(f64, f64)> = Vec::new();
                for (lo, hi) in spans {
                    match merged.last_mut() {
                        Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
                        _ => merged.push((lo, hi)),
                    }
                }
                let d = s.end - s.start;
                out.extend(
                    merged
                        .into_iter()
                        .map(|(lo, hi)| Line::new(s.start + d * lo, s.start + d * hi)),
                );
            }
        }
        out
    }
}

/// The parameter interval `[lo, hi] ⊂ [0, 1]` of the points of segment `s`
/// within `tol` of segment `t`: `s` clipped to the stadium around `t` (a
/// convex set, so the points form one interval).
pub(crate) fn span_within(s: &Line<f64>, t: &Line<f64>, tol: f64) -> Option<(f64, f64)> {
    let p = s.start;
    let d = s.end - s.start;
    let dd = d.x * d.x + d.y * d.y;
    if dd == 0.0 {
        return (seg_distance(&[p.x, p.y], t) <= tol).then_some((0.0, 1.0));
    }
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    // The two end discs.
    for c in [t.start, t.end] {
        let w = p - c;
        let b = 2.0 * (d.x * w.x + d.y * w.y);
        let cc = w.x * w.x + w.y * w.y - tol * tol;
        let disc = b * b - 4.0 * dd * cc;
        if disc >= 0.0 {
            let r = disc.sqrt();
            lo = lo.min((-b - r) / (2.0 * dd));
            hi = hi.max((-b + r) / (2.0 * dd));
        }
    }
    // The rectangle along t: 0 ≤ (x - t0)·e ≤ |e|², |(x - t0) × e| ≤ tol·|e|.
    let e = t.end - t.start;
    let ee = e.x * e.x + e.y * e.y;
    if ee > 0.0 {
        let w = p - t.start;
        let mut a = f64::NEG_INFINITY;
        let mut b = f64::INFINITY;
        let el = ee.sqrt();
        let mut clip = |alpha: f64, beta: f64, min: f64, max: f64| {
            // min ≤ alpha + beta·u ≤ max
            if beta == 0.0 {
                if alpha < min || alpha > max {
                    a = f64::INFINITY;
                }
            } else {
                let (u1, u2) = ((min - alpha) / beta, (max - alpha) / beta);
                a = a.max(u1.min(u2));
                b = b.min(u1.max(u2));
            }
        };
        clip(w.x * e.x + w.y * e.y, d.x * e.x + d.y * e.y, 0.0, ee);
        clip(
            w.x * e.y - w.y * e.x,
            d.x * e.y - d.y * e.x,
            -tol * el,
            tol * el,
        );
        if a <= b {
            lo = lo.min(a);
            hi = hi.max(b);
        }
    }
    let (lo, hi) = (lo.max(0.0), hi.min(1.0));
    (lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_tags_parse() {
        let t =
            parse_other_tags(r#""lit"=>"yes","service"=>"alley","note"=>"a \"b\", c","x"=>NULL"#);
        assert_eq!(
            t,
            vec![
                ("lit".into(), "yes".into()),
                ("service".into(), "alley".into()),
                ("note".into(), "a \"b\", c".into())
            ]
        );
        let mut props = JsonObject::new();
        props.insert("service".into(), Value::Null);
        props.insert(
            "other_tags".into(),
            Value::String(r#""service"=>"alley""#.into()),
        );
        assert_eq!(property(&props, "service").as_deref(), Some("alley"));
    }

    #[test]
    fn span_of_crossing_segments() {
        // s along x from 0 to 100, t vertical at x = 40: within 1 m → u in [0.39, 0.41].
        let s = Line::new(Coord { x: 0.0, y: 0.0 }, Coord { x: 100.0, y: 0.0 });
        let t = Line::new(Coord { x: 40.0, y: -50.0 }, Coord { x: 40.0, y: 50.0 });
        let (lo, hi) = span_within(&s, &t, 1.0).unwrap();
        assert!(
            (lo - 0.39).abs() < 1e-12 && (hi - 0.41).abs() < 1e-12,
            "{lo} {hi}"
        );
        // t ending 0.5 m short of s: the end disc gives a chord.
        let t = Line::new(Coord { x: 40.0, y: 0.5 }, Coord { x: 40.0, y: 50.0 });
        let (lo, hi) = span_within(&s, &t, 1.0).unwrap();
        let half = (1.0f64 - 0.25).sqrt() / 100.0;
        assert!((lo - (0.4 - half)).abs() < 1e-12 && (hi - (0.4 + half)).abs() < 1e-12);
        // Too far.
        let t = Line::new(Coord { x: 40.0, y: 1.5 }, Coord { x: 40.0, y: 50.0 });
        assert_eq!(span_within(&s, &t, 1.0), None);
        // Beyond the end of s.
        let t = Line::new(Coord { x: 100.5, y: -5.0 }, Coord { x: 100.5, y: 5.0 });
        let (lo, hi) = span_within(&s, &t, 1.0).unwrap();
        assert!((lo - 0.995).abs() < 1e-12 && hi == 1.0);
    }
}
