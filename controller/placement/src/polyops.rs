//! Polygon orientation and union that stay right on near-degenerate rings.
//!
//! `geo`'s `Winding::winding_order` (and so `Orient` and `unary_union`'s
//! choice of fill rule) decides a ring's orientation from the turn at its
//! lexicographically least vertex alone. When that vertex is the tip of a
//! hair-thin spike (a next vertex almost on the previous edge, as float
//! rounding of a projection can make), the turn there is the spike's, not the
//! ring's, so a clockwise ring is taken for counter-clockwise and the union
//! under the positive fill rule drops it whole. Here the orientation comes from
//! the ring's signed area, which a spike changes by its negligible area only.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay_rule::OverlayRule;
use i_overlay::float::overlay::{FloatOverlay, OverlayOptions};

/// Twice the signed area of a closed ring (positive when counter-clockwise),
/// taken relative to its first vertex to keep the products small.
pub(crate) fn ring_signed_area2(ring: &[Coord<f64>]) -> f64 {
    let Some(o) = ring.first() else {
        return 0.0;
    };
    ring.windows(2)
        .map(|w| (w[0].x - o.x) * (w[1].y - o.y) - (w[1].x - o.x) * (w[0].y - o.y))
        .sum()
}

fn ring_with_sign(ring: &LineString<f64>, positive: bool) -> LineString<f64> {
    let mut r = ring.clone();
    r.close();
    if (ring_signed_area2(&r.0) > 0.0) != positive {
        r.0.reverse();
    }
    r
}

/// The polygon with its exterior counter-clockwise and its holes clockwise,
/// judged by signed area.
pub(crate) fn orient_by_area(p: &Polygon<f64>) -> Polygon<f64> {
    Polygon::new(
        ring_with_sign(p.exterior(), true),
        p.interiors()
            .iter()
            .map(|r| ring_with_sign(r, false))
            .collect(),
    )
}

/// Polygons with more vertices than this skip the overlay when nothing else
/// comes near them: above ~16k segments the overlay's fragment solver grows
/// quadratically on spiky rings (a 32k-vertex star took minutes), and a valid
/// polygon alone is its own union. Below it the overlay is fast, and real
/// layers (at most a few hundred vertices a feature) stay on the one path.
const ALONE_ABOVE: usize = 4_000;

/// The union of `polys` as disjoint parts: rings oriented by signed area, then
/// one overlay under the positive fill rule (so overlaps count once and holes
/// stay holes). A large polygon whose bounding box meets no other's is taken
/// as it is (oriented): it is valid (checked or repaired on load).
pub(crate) fn union_all(polys: &[Polygon<f64>]) -> MultiPolygon<f64> {
    use geo::{BoundingRect, CoordsIter};
    use rstar::primitives::{GeomWithData, Rectangle};
    let boxes: Vec<Option<Rectangle<[f64; 2]>>> = polys
        .iter()
        .map(|p| {
            p.bounding_rect()
                .map(|r| Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]))
        })
        .collect();
    let tree = rstar::RTree::bulk_load(
        boxes
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|b| GeomWithData::new(b, i)))
            .collect(),
    );
    let alone = |i: usize| {
        polys[i].coords_count() > ALONE_ABOVE
            && boxes[i].is_some_and(|b| {
                tree.locate_in_envelope_intersecting(&rstar::RTreeObject::envelope(&b))
                    .all(|g| g.data == i)
            })
    };
    let (alone, overlaid): (Vec<usize>, Vec<usize>) = (0..polys.len()).partition(|&i| alone(i));
    let mut out = overlay_union(overlaid.iter().map(|&i| &polys[i]));
    out.0
        .extend(alone.into_iter().map(|i| orient_by_area(&polys[i])));
    out
}

fn overlay_union<'a>(polys: impl Iterator<Item = &'a Polygon<f64>>) -> MultiPolygon<f64> {
    let oriented: Vec<Polygon<f64>> = polys.map(orient_by_area).collect();
    overlay(
        oriented
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors())),
        FillRule::Positive,
    )
}

/// The area `rings` enclose by `rule`, in one overlay pass.
fn overlay<'a>(
    rings: impl Iterator<Item = &'a LineString<f64>>,
    rule: FillRule,
) -> MultiPolygon<f64> {
    let paths: Vec<Vec<[f64; 2]>> = rings
        .map(|r| {
            let mut v: Vec<[f64; 2]> = r.0.iter().map(|c| [c.x, c.y]).collect();
            // The overlay takes open paths: drop the closing vertex.
            if v.len() > 1 && v.first() == v.last() {
                v.pop();
            }
            v
        })
        .filter(|v| v.len() >= 3)
        .collect();
    if paths.is_empty() {
        return MultiPolygon(vec![]);
    }
    let shapes = FloatOverlay::with_subj_custom(&paths, OverlayOptions::ogc(), Default::default())
        .overlay(OverlayRule::Subject, rule);
    to_multi_polygon(shapes)
}

/// The overlay's shapes (each an outer path, then its holes) as polygons.
fn to_multi_polygon(shapes: Vec<Vec<Vec<[f64; 2]>>>) -> MultiPolygon<f64> {
    MultiPolygon(
        shapes
            .into_iter()
            .filter_map(|shape| {
                let mut rings = shape.into_iter().map(|path| {
                    let mut r = LineString(path.into_iter().map(|[x, y]| Coord { x, y }).collect());
                    r.close();
                    r
                });
                let exterior = rings.next()?;
                Some(Polygon::new(exterior, rings.collect()))
            })
            .collect(),
    )
}

/// A valid polygon covering what `p`'s rings enclose by the even-odd rule (the
/// rule of GEOS's MakeValid "linework" method): a bow-tie becomes its two lobes, and
/// a hole that crosses its shell is taken out where it lies inside the shell and
/// added where it lies outside. One overlay pass, robust on near-degenerate rings;
/// `geo`'s `make_valid` (constrained Delaunay) hit an internal assertion on a
/// sliver hole the fuzzer found (fuzz/tests/doors.rs `past_findings_run_without_a_panic`).
pub(crate) fn repair_even_odd(p: &Polygon<f64>) -> Result<MultiPolygon<f64>, String> {
    use geo::CoordsIter;
    if p.coords_iter()
        .any(|c| !c.x.is_finite() || !c.y.is_finite())
    {
        return Err("a coordinate is not a finite number".into());
    }
    Ok(overlay(
        std::iter::once(p.exterior()).chain(p.interiors()),
        FillRule::EvenOdd,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Area, Validation, Winding};

    #[test]
    fn a_bow_tie_is_repaired_into_its_two_lobes() {
        let bow = Polygon::new(
            LineString::from(vec![
                (0.0, 0.0),
                (2.0, 2.0),
                (2.0, 0.0),
                (0.0, 2.0),
                (0.0, 0.0),
            ]),
            vec![],
        );
        let fixed = repair_even_odd(&bow).unwrap();
        assert!(fixed.is_valid(), "{fixed:?}");
        assert_eq!(fixed.0.len(), 2);
        assert!(
            (fixed.unsigned_area() - 2.0).abs() < 1e-9,
            "{}",
            fixed.unsigned_area()
        );
        // A hole inside stays a hole; a valid polygon comes out as it went in.
        let square = Polygon::new(
            LineString::from(vec![
                (0.0, 0.0),
                (4.0, 0.0),
                (4.0, 4.0),
                (0.0, 4.0),
                (0.0, 0.0),
            ]),
            vec![LineString::from(vec![
                (1.0, 1.0),
                (1.0, 2.0),
                (2.0, 2.0),
                (2.0, 1.0),
                (1.0, 1.0),
            ])],
        );
        let same = repair_even_odd(&square).unwrap();
        assert!(same.is_valid());
        assert!((same.unsigned_area() - 15.0).abs() < 1e-9);
        let nan = Polygon::new(
            LineString::from(vec![(0.0, 0.0), (f64::NAN, 0.0), (1.0, 1.0), (0.0, 0.0)]),
            vec![],
        );
        assert!(repair_even_odd(&nan).is_err());
    }

    /// A clockwise ring whose least vertex (0, 0) is the tip of a hair-thin
    /// spike: the next vertex lies a hair past the last edge, so the turn at
    /// (0, 0) reads counter-clockwise (the shape a projection's rounding gave
    /// a real housing polygon).
    fn spiky_clockwise_ring() -> Polygon<f64> {
        let v = [
            (0.0, 0.0),
            (2.0, 2.0 - 1e-12),
            (2.0, 10.0),
            (10.0, 10.0),
            (10.0, 0.0),
            (5.0, 5.0),
            (0.0, 0.0),
        ];
        Polygon::new(
            LineString(v.iter().map(|&(x, y)| Coord { x, y }).collect()),
            vec![],
        )
    }

    #[test]
    fn orientation_follows_area_not_the_least_vertex() {
        let p = spiky_clockwise_ring();
        let o = orient_by_area(&p);
        assert!(o.signed_area() > 0.0);
        assert!(ring_signed_area2(&o.exterior().0) > 0.0);
        // The premise: the local test at the least vertex is fooled.
        assert!(p.signed_area() < 0.0);
        assert_eq!(
            p.exterior().winding_order(),
            Some(geo::winding_order::WindingOrder::CounterClockwise)
        );
    }

    #[test]
    fn union_keeps_a_ring_whatever_its_orientation() {
        let p = spiky_clockwise_ring();
        let far = Polygon::new(
            LineString(
                [
                    (100.0, 0.0),
                    (110.0, 0.0),
                    (110.0, 10.0),
                    (100.0, 10.0),
                    (100.0, 0.0),
                ]
                .iter()
                .map(|&(x, y)| Coord { x, y })
                .collect(),
            ),
            vec![],
        );
        let u = union_all(&[p.clone(), far.clone()]);
        let want = p.unsigned_area() + far.unsigned_area();
        assert!(
            (u.unsigned_area() - want).abs() < 1e-6,
            "{} vs {want}",
            u.unsigned_area()
        );
    }
}
