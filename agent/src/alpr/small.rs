//! Small plates: a second, closer look at places the whole-image detection only
//! glimpsed, and the halves of a plate split by an emblem.
//!
//! The whole-image look is sized for speed (`DetParams::long_side`): a plate whose
//! characters are under about 12 px leaves at most a weak trace in the detector's
//! probability map, under its box threshold, or a blob too short to be a plate line.
//! [`Reader::second_look`] takes the surest of those traces that no plate-shaped line
//! covers, detects again around each at a closer scale, and keeps a line found there
//! only when the plate reader reads it with confidence: its own judgement of whether
//! the place holds a plate.

use super::geom::{self, Rgb, RotRect};
use super::ocr::detmap::ProbMap;
use super::ocr::{self, TextBox};
use super::{overlaps, plate_shaped, AlprError, Bounds, Reader};

/// The second look's settings (see [`SECOND_LOOK`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecondLook {
    /// Most places looked at again per image (0: no second look).
    pub regions: usize,
    /// Text probability over which the map's weak traces count.
    pub weak_thresh: f32,
    /// Least plate-reader confidence (mean of its characters' maxima) of a line the
    /// second look found.
    pub min_conf: f32,
    /// Detector pixels per image pixel of the closer look. One scale for every place:
    /// a weak trace is a fragment of its line, too unsure a measure of its height to
    /// size the look by (as `refine` does from a whole line).
    pub scale: f32,
}

/// The shipped second look. First set by hand from geometry (two places, the map's
/// weak traces at a third of the DB threshold 0.3, a confident plate reader, twice the
/// whole-image scale); then swept by benches/alpr_derive.rs (`sweep_look`) on 30
/// standard, 30 small-plate (36-90 px) and 30 emblem-split street scenes of seg_and_ocr
/// validation crops, run of 2026-12-04 (ALPR_DERIVE_LIMIT=30: the shared machine's time
/// allowed no more). Every sweep was flat (40 exact of 90 at every value: standard 17,
/// small 11, split 12; located 29, 28, 26), so the rule kept each shipped value (within
/// 5% CPU noise of the cheapest): regions 0: 167, 1: 165, 2: 169, 3: 182 CPU ms;
/// weak_thresh 0.05: 178, 0.1: 179, 0.2: 174; scale 1.5: 169, 2: 173, 3: 182; min_conf
/// 0.6: 177, 0.7: 179, 0.8: 177, 0.9: 169. The scenes' small plates are located by the
/// whole-image look already (28 of 30): they do not yet hold the faint plates the second
/// look is for, so the derivation bounds its cost, not its gain.
pub const SECOND_LOOK: SecondLook = SecondLook {
    regions: 2,
    weak_thresh: 0.1,
    min_conf: 0.8,
    scale: 2.0,
};

/// The least window of a second look, image pixels `(w, h)`: twice the size, each way,
/// of a plate whose characters are 12 px high (the "under 12 px"), by the
/// derivation scenes' geometry (characters about 45% of a crop's height, a crop half as
/// high as wide: a 53x27 px plate), so a trace anywhere on such a plate sees all of it.
pub const MIN_WINDOW: (f32, f32) = (106.0, 54.0);

/// A place worth a second look.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// The trace's bounds, image pixels.
    pub bounds: Bounds,
    /// Its line height estimate, image pixels.
    pub line_h: f32,
    /// Its mean text probability.
    pub score: f32,
}

/// The weak traces of `map` (regions over `weak_thresh`) that no plate-shaped line of
/// the first look touches, surest first. A trace is sized as PP-OCR's DB post-processing
/// sizes a box (grown by `unclip_ratio`, at least 3 map pixels before and 5 after).
pub fn places(map: &ProbMap, first: &[TextBox], weak_thresh: f32, unclip_ratio: f32) -> Vec<Place> {
    let lines: Vec<Bounds> = first
        .iter()
        .filter(|b| plate_shaped(&b.rect))
        .map(|b| geom::bounds(&b.rect.corners()))
        .collect();
    let mut out = Vec::new();
    // 1000: PaddleOCR's max_candidates, as the first look.
    for r in geom::regions(&map.prob, map.w, map.h, weak_thresh, 1000) {
        if r.boundary.len() < 3 {
            continue;
        }
        let Some(rect) = geom::min_area_rect(&r.boundary) else {
            continue;
        };
        let (w, h) = (rect.width(), rect.height());
        if w.min(h) < 3.0 {
            continue;
        }
        let grown = rect.grow(w * h * unclip_ratio / (2.0 * (w + h)));
        if grown.width().min(grown.height()) < 5.0 {
            continue;
        }
        let corners = grown.corners().map(|q| map.to_image(q));
        let Some(img_rect) = geom::min_area_rect(&corners) else {
            continue;
        };
        let bounds = geom::bounds(&corners);
        if lines.iter().any(|l| overlaps(l, &bounds)) {
            continue;
        }
        out.push(Place {
            bounds,
            line_h: img_rect.height().min(img_rect.width()),
            score: r.score,
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// The window around a place: a trace may be a fragment of a plate line, which is at
/// most about six heights long (plate-format rule, see `plate_shaped`), so it is grown
/// by three heights sideways (half a line each way) and one up and down, and to at
/// least [`MIN_WINDOW`] about its centre; within the image.
pub fn place_window(p: &Place, w: usize, h: usize) -> Bounds {
    let (x0, y0, x1, y1) = p.bounds;
    let lh = p.line_h;
    let (cx, cy) = (0.5 * (x0 + x1), 0.5 * (y0 + y1));
    let (hw, hh) = (
        (0.5 * (x1 - x0) + 3.0 * lh).max(0.5 * MIN_WINDOW.0),
        (0.5 * (y1 - y0) + lh).max(0.5 * MIN_WINDOW.1),
    );
    (
        (cx - hw).max(0.0),
        (cy - hh).max(0.0),
        (cx + hw).min(w as f32),
        (cy + hh).min(h as f32),
    )
}

/// Whether the plate reader's reading of a second-look line makes it a plate: confident
/// enough, and of a plate's length (4 to 10 characters, as `plate::candidates` takes).
pub fn vouched(read: &ocr::RecResult, min_conf: f32) -> bool {
    let n = super::plate::normalize(&read.text).len();
    read.confidence >= min_conf && (4..=10).contains(&n)
}

impl Reader {
    /// The second look (see the module's header): plate-shaped lines found closer up
    /// around the surest weak traces of `map`, each vouched for by the plate reader.
    pub(crate) fn second_look(
        &mut self,
        img: &Rgb<'_>,
        map: &ProbMap,
        first: &[TextBox],
    ) -> Result<Vec<TextBox>, AlprError> {
        let sl = self.second_look;
        if sl.regions == 0 {
            return Ok(Vec::new());
        }
        let unclip = self.ocr.det_params.unclip_ratio;
        let mut windows: Vec<(Bounds, f32)> = Vec::new();
        for p in places(map, first, sl.weak_thresh, unclip) {
            if windows.len() >= sl.regions {
                break;
            }
            let win = place_window(&p, img.w, img.h);
            if windows.iter().any(|(w, _)| overlaps(w, &win)) {
                continue;
            }
            windows.push((win, sl.scale));
        }
        let mut found: Vec<TextBox> = Vec::new();
        for (win, scale) in &windows {
            let mut boxes = self.ocr.detect_window(img, *win, *scale)?;
            boxes.retain(|b| plate_shaped(&b.rect));
            if std::env::var_os("CAMPLANE_ALPR_DEBUG").is_some() {
                eprintln!(
                    "alpr line: second look {win:?} scale {scale:.2}: {} lines",
                    boxes.len()
                );
            }
            found.extend(boxes);
        }
        if found.is_empty() {
            return Ok(found);
        }
        let rects: Vec<RotRect> = found.iter().map(|b| b.rect).collect();
        let reads = self.ocr.read_plates(img, &rects)?;
        Ok(found
            .into_iter()
            .zip(reads)
            .filter(|(_, r)| vouched(r, sl.min_conf))
            .map(|(b, _)| b)
            .collect())
    }
}

/// Boxes of the first look that are too short for a plate alone but stand beside a
/// plate-shaped line on its text line, within an emblem's gap: two characters (`1A`
/// before an emblem) are about one height long. Plate-format rule: a half holds at least
/// two characters, each at least half as wide as high (see `plate_shaped`), so it is at
/// least 0.8 heights long with the detector's margins; 8 px high as `plate_shaped`.
pub fn halves(all: &[TextBox], lines: &[TextBox]) -> Vec<(usize, TextBox)> {
    let mut out = Vec::new();
    for b in all {
        let (w, h) = (b.rect.width(), b.rect.height());
        if plate_shaped(&b.rect) || h < 8.0 || w < 0.8 * h || w > 12.0 * h {
            continue;
        }
        let bb = geom::bounds(&b.rect.corners());
        if let Some(i) = lines.iter().position(|l| {
            let lb = geom::bounds(&l.rect.corners());
            beside(bb, h, &l.rect, lb) || beside(lb, l.rect.height(), &b.rect, bb)
        }) {
            out.push((i, b.clone()));
        }
    }
    out
}

/// Whether the box of bounds `r` (line `rr`) continues the box of bounds `l` (height
/// `lh`) to the right within an emblem's gap ([`super::plate::EMBLEM_GAP`] heights),
/// on the same baseline and of a like height (as `same_line`).
fn beside(l: Bounds, lh: f32, rr: &RotRect, r: Bounds) -> bool {
    let rh = rr.height();
    let ratio = lh / rh.max(1e-3);
    let h = lh.max(rh);
    let (lc, rc) = (0.5 * (l.1 + l.3), 0.5 * (r.1 + r.3));
    let gap = r.0 - l.2;
    (0.75..=1.33).contains(&ratio)
        && (lc - rc).abs() < 0.35 * h
        && gap > -0.3 * h
        && gap < super::plate::EMBLEM_GAP * h
}

#[cfg(test)]
mod tests {
    use super::*;
    use geom::Pt;

    fn tb(cx: f32, cy: f32, w: f32, h: f32, score: f32) -> TextBox {
        TextBox {
            rect: RotRect {
                c: Pt { x: cx, y: cy },
                u: Pt { x: 1.0, y: 0.0 },
                hw: w / 2.0,
                hh: h / 2.0,
            },
            score,
        }
    }

    /// A 100x60 map of a 200x120 window: a weak trace (0.2) at map (20..40, 10..16), a
    /// strong line (0.9) at (60..90, 40..50).
    fn map() -> ProbMap {
        let (w, h) = (100, 60);
        let mut prob = vec![0.0; w * h];
        for y in 10..16 {
            for x in 20..40 {
                prob[y * w + x] = 0.2;
            }
        }
        for y in 40..50 {
            for x in 60..90 {
                prob[y * w + x] = 0.9;
            }
        }
        ProbMap {
            prob,
            w,
            h,
            window: (0.0, 0.0, 200.0, 120.0),
        }
    }

    #[test]
    fn weak_traces_no_line_covers_are_places_surest_first() {
        // The strong line is a plate-shaped first-look line: only the weak trace is left.
        let first = [tb(150.0, 90.0, 64.0, 24.0, 0.9)];
        let p = places(&map(), &first, 0.1, 1.6);
        assert_eq!(p.len(), 1, "{p:?}");
        let (x0, y0, x1, y1) = p[0].bounds;
        // Map (20..40, 10..16) is image (40..80, 20..32), grown by the unclip.
        assert!(x0 < 40.0 && x1 > 78.0 && y0 < 20.0 && y1 > 30.0, "{p:?}");
        assert!((p[0].score - 0.2).abs() < 0.05);
        // Without the first-look line both are places, the stronger first.
        let p = places(&map(), &[], 0.1, 1.6);
        assert_eq!(p.len(), 2);
        assert!(p[0].score > p[1].score);
        // Over the weak trace's probability: only the strong one.
        assert_eq!(places(&map(), &[], 0.3, 1.6).len(), 1);
    }

    #[test]
    fn a_place_window_holds_the_rest_of_a_plate_line() {
        // A long trace: grown by three heights sideways, one up and down.
        let p = Place {
            bounds: (100.0, 50.0, 200.0, 70.0),
            line_h: 20.0,
            score: 0.2,
        };
        assert_eq!(place_window(&p, 1280, 720), (40.0, 30.0, 260.0, 90.0));
        assert_eq!(place_window(&p, 220, 80), (40.0, 30.0, 220.0, 80.0));
        // A speck: the least window about its centre.
        let q = Place {
            bounds: (100.0, 50.0, 110.0, 56.0),
            line_h: 6.0,
            score: 0.2,
        };
        assert_eq!(place_window(&q, 1280, 720), (52.0, 26.0, 158.0, 80.0));
    }

    #[test]
    fn the_plate_reader_vouches_only_for_a_confident_plate_length_read() {
        let r = |text: &str, confidence: f32| ocr::RecResult {
            text: text.into(),
            confidence,
            char_conf: Vec::new(),
            plate_probs: Vec::new(),
        };
        assert!(vouched(&r("ABC1234", 0.9), 0.8));
        assert!(!vouched(&r("ABC1234", 0.7), 0.8), "unsure");
        assert!(!vouched(&r("AB1", 0.99), 0.8), "too short for a plate");
        assert!(!vouched(&r("ABCDEFGH1234", 0.99), 0.8), "too long");
    }

    /// A recognised line of one reading, its box centred at `(cx, 50)`, 24 px high.
    fn line(cx: f32, w: f32, text: &str) -> crate::alpr::Line {
        let r = tb(cx, 50.0, w, 24.0, 0.9).rect;
        crate::alpr::Line {
            rect: r,
            aabb: geom::bounds(&r.corners()),
            general: Some(ocr::RecResult {
                text: text.into(),
                confidence: 0.9,
                char_conf: Vec::new(),
                plate_probs: Vec::new(),
            }),
            plate: None,
        }
    }

    #[test]
    fn halves_past_an_emblem_join_only_when_a_format_says_so() {
        use crate::alpr::{emblem_split, plate, same_line};
        let us = plate::formats(plate::Region::Us);
        // "1A", a 36 px (1.5 heights) emblem, "MW240": too wide a gap for a plain line,
        // and DLLLDDD is a US format.
        let (l, m) = (line(72.0, 24.0, "1A"), line(155.0, 70.0, "MW240"));
        assert!(!same_line(&l, &m));
        assert!(emblem_split(&l, &m, &us));
        // The same gap between halves that fit no format: not joined.
        let (l2, m2) = (line(72.0, 36.0, "XYW"), line(161.0, 70.0, "KMN"));
        assert!(!emblem_split(&l2, &m2, &us));
        // Halves that fit, but further apart than an emblem (3 heights): not joined.
        let m3 = line(155.0 + 36.0, 70.0, "MW240");
        assert!(!emblem_split(&l, &m3, &us));
    }

    #[test]
    fn a_short_box_beside_a_line_is_a_half_and_one_far_away_is_not() {
        // "1A" (24x24) then a 40 px emblem gap, then "MW240" (70x24).
        let line = tb(155.0, 50.0, 70.0, 24.0, 0.9);
        let half = tb(72.0, 50.0, 24.0, 24.0, 0.8);
        let h = halves(&[half.clone(), line.clone()], std::slice::from_ref(&line));
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].0, 0);
        // Off the baseline, or beyond an emblem's gap.
        let low = tb(72.0, 70.0, 24.0, 24.0, 0.8);
        let far = tb(20.0, 50.0, 24.0, 24.0, 0.8);
        assert!(halves(&[low, far], std::slice::from_ref(&line)).is_empty());
        // A square speck too small to read is never a half.
        assert!(halves(&[tb(110.0, 50.0, 6.0, 6.0, 0.8)], &[line]).is_empty());
    }
}
