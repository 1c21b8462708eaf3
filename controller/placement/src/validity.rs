//! Polygon validity in O(n log n), with `geo`'s verdicts and messages.
//!
//! `geo`'s `Validation` tests every pair of a ring's segments for a
//! self-intersection and relates every pair of a multipolygon's parts and of
//! a polygon's holes: a 40k-vertex ring took 10 s, a 1M-vertex one minutes.
//! Here a ring is checked by a Shamos–Hoey sweep (only segments that are
//! neighbours on the sweep line are tested, with `geo`'s own pair test), and
//! only parts or holes whose bounding boxes meet are related. The errors are
//! `geo`'s (`InvalidMultiPolygon`), found in the same order.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use geo::algorithm::validation::{GeometryIndex, InvalidMultiPolygon, InvalidPolygon, RingRole};
use geo::coordinate_position::CoordPos;
use geo::dimensions::Dimensions;
use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::{
    BoundingRect, Coord, Intersects, Line, LineString, MultiPolygon, Polygon, PreparedGeometry,
    Relate, RemoveRepeatedPoints,
};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::RTree;

use crate::limits::{Cancel, Cancelled};

/// How many sweep events run between two looks at the cancel flag.
const CANCEL_EVERY: usize = 4096;

/// Why a polygon failed: invalid (as `geo` words it) or its caller gave up.
#[derive(Debug)]
pub(crate) enum Failure {
    Invalid(InvalidMultiPolygon),
    Cancelled,
}

impl From<Cancelled> for Failure {
    fn from(_: Cancelled) -> Self {
        Failure::Cancelled
    }
}

/// `geo`'s `MultiPolygon::check_validation`: the first problem it would report.
pub(crate) fn check_multi_polygon(mp: &MultiPolygon<f64>, cancel: &Cancel) -> Result<(), Failure> {
    let boxes: Vec<Option<Rectangle<[f64; 2]>>> = mp.0.iter().map(rect_of).collect();
    let tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>> = RTree::bulk_load(
        boxes
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|b| GeomWithData::new(b, i)))
            .collect(),
    );
    for (i, polygon) in mp.0.iter().enumerate() {
        check_polygon(polygon, cancel).map_err(|f| match f {
            Failure::Invalid(InvalidMultiPolygon::InvalidPolygon(_, p)) => {
                Failure::Invalid(InvalidMultiPolygon::InvalidPolygon(GeometryIndex(i), p))
            }
            other => other,
        })?;
        // Parts whose boxes do not meet cannot overlap or touch: `geo` relates every pair.
        let Some(b) = boxes[i] else { continue };
        let mut later: Vec<usize> = tree
            .locate_in_envelope_intersecting(&b.envelope_aabb())
            .map(|g| g.data)
            .filter(|&j| j > i)
            .collect();
        later.sort_unstable();
        for j in later {
            cancel.check()?;
            let im = polygon.relate(&mp.0[j]);
            if im.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
                return Err(Failure::Invalid(InvalidMultiPolygon::ElementsOverlaps(
                    GeometryIndex(i),
                    GeometryIndex(j),
                )));
            }
            if im.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
                return Err(Failure::Invalid(InvalidMultiPolygon::ElementsTouchOnALine(
                    GeometryIndex(i),
                    GeometryIndex(j),
                )));
            }
        }
    }
    Ok(())
}

trait EnvelopeOf {
    fn envelope_aabb(&self) -> rstar::AABB<[f64; 2]>;
}

impl EnvelopeOf for Rectangle<[f64; 2]> {
    fn envelope_aabb(&self) -> rstar::AABB<[f64; 2]> {
        rstar::RTreeObject::envelope(self)
    }
}

fn rect_of<G: BoundingRect<f64>>(g: &G) -> Option<Rectangle<[f64; 2]>>
where
    G::Output: Into<Option<geo::Rect<f64>>>,
{
    g.bounding_rect()
        .into()
        .map(|r| Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]))
}

fn invalid(p: InvalidPolygon) -> Failure {
    // The index is set by the caller, which knows it.
    Failure::Invalid(InvalidMultiPolygon::InvalidPolygon(GeometryIndex(0), p))
}

/// `geo`'s `Polygon` validation (the first problem), holes related only
/// when their boxes meet.
fn check_polygon(p: &Polygon<f64>, cancel: &Cancel) -> Result<(), Failure> {
    if p.exterior().0.is_empty() && p.interiors().is_empty() {
        return Ok(());
    }
    for (k, ring) in std::iter::once(p.exterior())
        .chain(p.interiors())
        .enumerate()
    {
        if ring.0.is_empty() {
            continue;
        }
        let role = if k == 0 {
            RingRole::Exterior
        } else {
            RingRole::Interior(k - 1)
        };
        if ring.remove_repeated_points().0.len() < 4 {
            return Err(invalid(InvalidPolygon::TooFewPointsInRing(role)));
        }
        if ring_self_intersects(ring, cancel)? {
            return Err(invalid(InvalidPolygon::SelfIntersection(role)));
        }
        if let Some(c) = ring
            .0
            .iter()
            .position(|c| !(c.x.is_finite() && c.y.is_finite()))
        {
            return Err(invalid(InvalidPolygon::NonFiniteCoord(
                role,
                geo::algorithm::validation::CoordIndex(c),
            )));
        }
    }
    if !p.interiors().iter().any(|r| !r.0.is_empty()) {
        return Ok(());
    }
    let exterior = Polygon::new(p.exterior().clone(), vec![]);
    let prepared_exterior = PreparedGeometry::from(&exterior);
    let holes: Vec<Polygon<f64>> = p
        .interiors()
        .iter()
        .map(|r| Polygon::new(r.clone(), vec![]))
        .collect();
    let boxes: Vec<Option<Rectangle<[f64; 2]>>> = holes.iter().map(rect_of).collect();
    let tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>> = RTree::bulk_load(
        boxes
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|b| GeomWithData::new(b, i)))
            .collect(),
    );
    for (i, hole) in holes.iter().enumerate() {
        if hole.exterior().0.is_empty() {
            continue;
        }
        cancel.check()?;
        let prepared = PreparedGeometry::from(hole);
        let outside = prepared_exterior.relate(&prepared);
        if !outside.is_contains() {
            return Err(invalid(
                InvalidPolygon::InteriorRingNotContainedInExteriorRing(RingRole::Interior(i)),
            ));
        }
        if outside.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
            return Err(invalid(InvalidPolygon::IntersectingRingsOnALine(
                RingRole::Exterior,
                RingRole::Interior(i),
            )));
        }
        let Some(b) = boxes[i] else { continue };
        let mut later: Vec<usize> = tree
            .locate_in_envelope_intersecting(&b.envelope_aabb())
            .map(|g| g.data)
            .filter(|&j| j > i)
            .collect();
        later.sort_unstable();
        for j in later {
            if holes[j].exterior().0.is_empty() {
                continue;
            }
            cancel.check()?;
            let im = prepared.relate(&holes[j]);
            if im.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
                return Err(invalid(InvalidPolygon::IntersectingRingsOnAnArea(
                    RingRole::Interior(i),
                    RingRole::Interior(j),
                )));
            }
            if im.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
                return Err(invalid(InvalidPolygon::IntersectingRingsOnALine(
                    RingRole::Interior(i),
                    RingRole::Interior(j),
                )));
            }
        }
    }
    Ok(())
}

/// `geo`'s pair rule: two of a ring's segments clash when they meet, unless
/// one starts where the other ends (neighbours along the ring).
fn clash(a: &Line<f64>, b: &Line<f64>) -> bool {
    a.start != b.end && a.end != b.start && a.intersects(b)
}

/// A segment as the sweep sees it: `l` before `r` (by x, then y).
#[derive(Clone, Copy, Debug)]
struct Swept {
    l: Coord<f64>,
    r: Coord<f64>,
    idx: usize,
}

fn lex(a: Coord<f64>, b: Coord<f64>) -> Ordering {
    a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y))
}

fn side(o: Orientation) -> Ordering {
    // A point left of (above) a segment sorts after it.
    match o {
        Orientation::CounterClockwise => Ordering::Less,
        Orientation::Clockwise => Ordering::Greater,
        Orientation::Collinear => Ordering::Equal,
    }
}

/// Bottom-to-top order of two segments on the sweep line, exact (robust
/// orientation tests): the one that starts later is placed against the other
/// at its start, ties by its direction, then by index.
fn below(a: &Swept, b: &Swept) -> Ordering {
    if a.idx == b.idx {
        return Ordering::Equal;
    }
    if lex(a.l, b.l) == Ordering::Greater {
        return below(b, a).reverse();
    }
    let at = side(RobustKernel::orient2d(a.l, a.r, b.l));
    let dir = side(RobustKernel::orient2d(a.l, a.r, b.r));
    at.then(dir).then(a.idx.cmp(&b.idx))
}

#[derive(Clone, Copy, Debug)]
struct Key(Swept);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        below(&self.0, &other.0)
    }
}

/// Whether the ring has two segments that clash (`geo`'s
/// `linestring_has_self_intersection`), by a Shamos–Hoey sweep: segments are
/// inserted at their left end and removed at their right end (inserts first
/// at a shared point); only neighbours on the sweep line are tested, which
/// finds the leftmost clash, so the answer is `geo`'s in O(n log n).
pub(crate) fn ring_self_intersects(
    ring: &LineString<f64>,
    cancel: &Cancel,
) -> Result<bool, Cancelled> {
    let lines: Vec<Line<f64>> = ring.lines().collect();
    // A zero-length segment clashes with what runs through its point
    // without starting or ending there; the sweep needs segments of length.
    let (points, segs): (Vec<usize>, Vec<usize>) =
        (0..lines.len()).partition(|&i| lines[i].start == lines[i].end);
    let swept: Vec<Swept> = segs
        .iter()
        .map(|&i| {
            let Line { start, end } = lines[i];
            let (l, r) = if lex(start, end) == Ordering::Greater {
                (end, start)
            } else {
                (start, end)
            };
            Swept { l, r, idx: i }
        })
        .collect();
    // Events: (point, 0 = insert | 1 = remove, position in `swept`).
    let mut events: Vec<(Coord<f64>, u8, usize)> = Vec::with_capacity(swept.len() * 2);
    for (k, s) in swept.iter().enumerate() {
        events.push((s.l, 0, k));
        events.push((s.r, 1, k));
    }
    events.sort_by(|a, b| lex(a.0, b.0).then(a.1.cmp(&b.1)));
    let mut status: BTreeSet<Key> = BTreeSet::new();
    let test = |a: &Swept, b: &Swept| clash(&lines[a.idx], &lines[b.idx]);
    for (n, &(at, kind, k)) in events.iter().enumerate() {
        if n % CANCEL_EVERY == 0 {
            cancel.check()?;
        }
        // The first event at a point: every segment through it (those that
        // end or start there, and those of the sweep line that pass through
        // it) is tested against every other. Neighbours along the ring meet
        // at their shared vertex, which the pair rule allows, so the sweep's
        // neighbour tests alone can miss a clash hidden behind such a pair
        // (a spike folding back along itself, a third segment at a vertex).
        if n == 0 || events[n - 1].0 != at {
            let mut through: Vec<usize> = events[n..]
                .iter()
                .take_while(|e| e.0 == at)
                .map(|e| e.2)
                .collect();
            let probe = Key(Swept {
                l: at,
                r: at,
                idx: usize::MAX,
            });
            // Segments through `at` sort last among those not above it.
            for g in status.range(..probe).rev() {
                if through.len() >= 4
                    || RobustKernel::orient2d(g.0.l, g.0.r, at) != Orientation::Collinear
                {
                    break;
                }
                // `swept` is in ring order.
                let k = swept.binary_search_by_key(&g.0.idx, |x| x.idx).ok();
                if let Some(k) = k.filter(|k| !through.contains(k)) {
                    through.push(k);
                }
            }
            through.sort_unstable();
            through.dedup();
            // Of four segments through one point, two always clash: a
            // segment is allowed only with one ending where it starts and
            // one starting where it ends.
            if through.len() >= 4 {
                return Ok(true);
            }
            for (x, &a) in through.iter().enumerate() {
                for &b in &through[x + 1..] {
                    if test(&swept[a], &swept[b]) {
                        return Ok(true);
                    }
                }
            }
        }
        let s = Key(swept[k]);
        let prev = status.range(..s).next_back().copied();
        let next = status
            .range((std::ops::Bound::Excluded(s), std::ops::Bound::Unbounded))
            .next()
            .copied();
        if kind == 0 {
            if prev.is_some_and(|p| test(&p.0, &s.0)) || next.is_some_and(|q| test(&s.0, &q.0)) {
                return Ok(true);
            }
            status.insert(s);
        } else {
            status.remove(&s);
            if let (Some(p), Some(q)) = (prev, next) {
                if test(&p.0, &q.0) {
                    return Ok(true);
                }
            }
        }
    }
    if points.is_empty() {
        return Ok(false);
    }
    // Zero-length segments (repeated vertices): few in real rings, and each
    // is looked up in an index of the others, not tested against all.
    let tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>> = RTree::bulk_load(
        (0..lines.len())
            .map(|i| {
                let Line { start, end } = lines[i];
                GeomWithData::new(
                    Rectangle::from_corners([start.x, start.y], [end.x, end.y]),
                    i,
                )
            })
            .collect(),
    );
    for (n, &i) in points.iter().enumerate() {
        if n % CANCEL_EVERY == 0 {
            cancel.check()?;
        }
        let p = lines[i].start;
        if tree
            .locate_all_at_point(&[p.x, p.y])
            .any(|g| g.data != i && clash(&lines[i], &lines[g.data]))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Validation;

    /// `geo`'s own pair loop, the reference.
    fn brute(ring: &LineString<f64>) -> bool {
        let lines: Vec<Line<f64>> = ring.lines().collect();
        (0..lines.len()).any(|i| (0..lines.len()).any(|j| i != j && clash(&lines[i], &lines[j])))
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn ring(c: &[(f64, f64)]) -> LineString<f64> {
        let mut r = LineString(c.iter().map(|&(x, y)| Coord { x, y }).collect());
        r.close();
        r
    }

    #[test]
    fn the_sweep_agrees_with_all_pairs_on_random_rings() {
        // A small grid makes shared vertices, collinear overlaps, spikes,
        // vertical segments and repeated points common.
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let none = Cancel::default();
        let (mut simple, mut crossed) = (0, 0);
        for round in 0..40_000 {
            let n = 3 + rng.next(if round % 2 == 0 { 6 } else { 14 }) as usize;
            let grid = 2 + rng.next(5);
            let pts: Vec<(f64, f64)> = (0..n)
                .map(|_| (rng.next(grid) as f64, rng.next(grid) as f64))
                .collect();
            let r = ring(&pts);
            let want = brute(&r);
            let got = ring_self_intersects(&r, &none).unwrap();
            assert_eq!(got, want, "ring {pts:?}");
            if want {
                crossed += 1
            } else {
                simple += 1
            }
        }
        assert!(simple > 1000 && crossed > 1000, "{simple} {crossed}");
    }

    #[test]
    fn the_validation_agrees_with_geo_on_random_multipolygons() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let none = Cancel::default();
        for _ in 0..3000 {
            let parts = 1 + rng.next(3) as usize;
            let mp = MultiPolygon(
                (0..parts)
                    .map(|_| {
                        let mut rings = (0..1 + rng.next(2)).map(|_| {
                            let n = 3 + rng.next(4) as usize;
                            ring(
                                &(0..n)
                                    .map(|_| (rng.next(6) as f64, rng.next(6) as f64))
                                    .collect::<Vec<_>>(),
                            )
                        });
                        let ext = rings.next().unwrap_or_else(|| LineString(vec![]));
                        Polygon::new(ext, rings.collect())
                    })
                    .collect(),
            );
            // `geo`'s relate panics on some invalid parts (so does ours: it
            // is the same call); those cases say nothing about the order.
            let Ok(want) =
                std::panic::catch_unwind(|| mp.check_validation().err().map(|e| e.to_string()))
            else {
                continue;
            };
            let got = match check_multi_polygon(&mp, &none) {
                Ok(()) => None,
                Err(Failure::Invalid(e)) => Some(e.to_string()),
                Err(Failure::Cancelled) => unreachable!("not cancelled"),
            };
            assert_eq!(got, want, "{mp:?}");
        }
    }

    #[test]
    fn a_cancelled_sweep_stops() {
        let c = Cancel::default();
        c.cancel();
        let r = ring(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]);
        assert!(ring_self_intersects(&r, &c).is_err());
    }
}
