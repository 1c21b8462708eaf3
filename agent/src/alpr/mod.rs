//! Licence-plate reading: PP-OCRv4 text detection and recognition (ONNX Runtime),
//! then plate rules (normalisation, look-alike fixes by format, choosing the plate's
//! main line) and, across frames, voting.
//!
//! `Reader::read_path` is what `camplane-agent alpr read` runs per image;
//! [`eval`] scores reads the way `shared/checks/alpr_score.py` does.

pub mod eval;
pub mod geom;
pub mod models;
pub mod ocr;
pub mod plate;
pub mod site;
pub mod store;
pub mod track;

use geom::{Rgb, RotRect};
use plate::Region;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What reading plates can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AlprError {
    /// A model file is absent or unreadable.
    #[error("model file {path} is missing ({reason}); expected SHA-256 {sha256}; run deploy/fetch-models.sh")]
    ModelMissing {
        /// The file looked for.
        path: PathBuf,
        /// Its pinned SHA-256.
        sha256: &'static str,
        /// Why it could not be read.
        reason: String,
    },
    /// A model file's checksum is not the pinned one.
    #[error("model file {path} is corrupted: SHA-256 {got}, expected {sha256}; run deploy/fetch-models.sh")]
    ModelCorrupt {
        /// The file.
        path: PathBuf,
        /// Its pinned SHA-256.
        sha256: &'static str,
        /// What it hashes to.
        got: String,
    },
    /// ONNX Runtime failed to load or run a model.
    #[error("inference engine: {0}")]
    Engine(String),
    /// The input is not an image we can read (unknown format, truncated, too large, empty).
    #[error("bad image: {0}")]
    BadImage(String),
}

/// Largest image side we decode; larger inputs are refused before decoding.
pub const MAX_SIDE: u32 = 12_000;

/// One plate read in an image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlateRead {
    /// Upper case, letters and digits only.
    pub text: String,
    /// In [0, 1], four decimals.
    pub confidence: f64,
    /// `[x, y, w, h]` in pixels of the original image (top-left corner and size).
    #[serde(rename = "box")]
    pub bbox: [i64; 4],
}

/// Reads plates; holds the models (about 60 MB resident). One per thread.
#[derive(Debug)]
pub struct Reader {
    ocr: ocr::Ocr,
    formats: Vec<String>,
    /// Most text lines recognised per image (largest first), bounding the time.
    pub max_lines: usize,
    /// Most plates reported per image.
    pub max_plates: usize,
    /// How many plate-shaped regions of the first, whole-image detection are detected
    /// again at a closer scale (0: none).
    pub refine_regions: usize,
    /// Height, in detector pixels, a region's text line is brought to when refined.
    pub refine_line_px: f32,
}

/// Axis-aligned bounds `(x0, y0, x1, y1)`.
type Bounds = (f32, f32, f32, f32);

/// A text line with its recognised string.
struct Line {
    rect: RotRect,
    raw: String,
    conf: f32,
    aabb: (f32, f32, f32, f32),
}

impl Reader {
    /// Loads and checks the models in `dir` (see [`models::resolve_dir`]).
    pub fn load(dir: &Path, region: Region) -> Result<Reader, AlprError> {
        let ocr = ocr::Ocr::load(dir)?;
        Ok(Reader {
            ocr,
            formats: plate::formats(region),
            max_lines: 8,
            max_plates: 10,
            refine_regions: 3,
            refine_line_px: 64.0,
        })
    }

    /// Detection settings, for experiments.
    pub fn det_params_mut(&mut self) -> &mut ocr::DetParams {
        &mut self.ocr.det_params
    }

    /// Decodes an image file (JPEG or PNG) and reads it.
    pub fn read_path(&mut self, path: &Path) -> Result<Vec<PlateRead>, AlprError> {
        let img = decode(path)?;
        let rgb = Rgb {
            w: img.width() as usize,
            h: img.height() as usize,
            data: img.as_raw(),
        };
        self.read(&rgb)
    }

    /// Reads the plates in an RGB image, most confident first.
    pub fn read(&mut self, img: &Rgb<'_>) -> Result<Vec<PlateRead>, AlprError> {
        if img.w == 0 || img.h == 0 || img.data.len() < img.w * img.h * 3 {
            return Err(AlprError::BadImage(format!(
                "empty image {}x{}",
                img.w, img.h
            )));
        }
        let t0 = std::time::Instant::now();
        let mut boxes = self.ocr.detect(img)?;
        boxes.retain(|b| plate_shaped(&b.rect));
        sort_by_prominence(&mut boxes);
        if self.refine_regions > 0 {
            boxes = self.refine(img, boxes)?;
        }
        let t_det = t0.elapsed();
        boxes.truncate(self.max_lines);
        let rects: Vec<RotRect> = boxes.iter().map(|b| b.rect).collect();
        let recs = self.ocr.recognize(img, &rects)?;
        if std::env::var_os("CAMPLANE_ALPR_PROFILE").is_some() {
            eprintln!(
                "alpr profile: det {:?} rec {:?} for {} lines",
                t_det,
                t0.elapsed() - t_det,
                rects.len()
            );
        }
        let lines: Vec<Line> = rects
            .iter()
            .zip(recs)
            .map(|(r, rec)| Line {
                rect: *r,
                aabb: geom::bounds(&r.corners()),
                raw: rec.text,
                conf: rec.confidence,
            })
            .collect();
        if std::env::var_os("CAMPLANE_ALPR_DEBUG").is_some() {
            for l in &lines {
                eprintln!(
                    "alpr line: box [{:.0} {:.0} {:.0} {:.0}] h {:.1} {:?} conf {:.3}",
                    l.aabb.0,
                    l.aabb.1,
                    l.aabb.2 - l.aabb.0,
                    l.aabb.3 - l.aabb.1,
                    l.rect.height(),
                    l.raw,
                    l.conf
                );
            }
        }
        Ok(self.plates_from_lines(&lines, img))
    }

    /// Detects again, at a closer scale, around the most prominent plate-shaped lines:
    /// the whole-image look is sized for speed and blurs small plates into one blob or
    /// clips their edge characters. Lines found in a window replace the first look's
    /// lines there; the others are kept after them.
    fn refine(
        &mut self,
        img: &Rgb<'_>,
        boxes: Vec<ocr::TextBox>,
    ) -> Result<Vec<ocr::TextBox>, AlprError> {
        let mut windows: Vec<(Bounds, f32)> = Vec::new();
        for b in &boxes {
            if windows.len() >= self.refine_regions {
                break;
            }
            let win = refine_window(&b.rect, img.w, img.h);
            if windows.iter().any(|(w, _)| overlaps(w, &win)) {
                continue;
            }
            let scale = (self.refine_line_px / b.rect.height()).clamp(0.5, 4.0);
            windows.push((win, scale));
        }
        let mut out: Vec<ocr::TextBox> = Vec::new();
        // Windows where the closer look found a plate-shaped line.
        let mut replaced: Vec<Bounds> = Vec::new();
        for (win, scale) in &windows {
            let mut found = self.ocr.detect_window(img, *win, *scale)?;
            found.retain(|b| plate_shaped(&b.rect));
            if std::env::var_os("CAMPLANE_ALPR_DEBUG").is_some() {
                eprintln!(
                    "alpr line: window {win:?} scale {scale:.2}: {} lines",
                    found.len()
                );
            }
            if !found.is_empty() {
                replaced.push(*win);
                out.extend(found);
            }
        }
        sort_by_prominence(&mut out);
        let inside = |b: &ocr::TextBox| {
            replaced.iter().any(|w| {
                let c = b.rect.c;
                c.x >= w.0 && c.x <= w.2 && c.y >= w.1 && c.y <= w.3
            })
        };
        out.extend(boxes.into_iter().filter(|b| !inside(b)));
        Ok(out)
    }

    fn plates_from_lines(&self, lines: &[Line], img: &Rgb<'_>) -> Vec<PlateRead> {
        // (text, confidence, bounds)
        let mut found: Vec<(String, f32, Bounds)> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let line_prior = main_line_prior(i, lines);
            for (text, prior) in plate::candidates(&l.raw, &self.formats) {
                found.push((text, l.conf * prior * line_prior, l.aabb));
            }
            // A plate split in two boxes on one line (wide gap between character groups).
            for (j, m) in lines.iter().enumerate() {
                if i == j || !same_line(l, m) {
                    continue;
                }
                let joined = format!("{}{}", plate::normalize(&l.raw), plate::normalize(&m.raw));
                if !(5..=8).contains(&joined.len()) {
                    continue;
                }
                let bounds = (
                    l.aabb.0.min(m.aabb.0),
                    l.aabb.1.min(m.aabb.1),
                    l.aabb.2.max(m.aabb.2),
                    l.aabb.3.max(m.aabb.3),
                );
                let lp = main_line_prior(i, lines).min(main_line_prior(j, lines));
                for (text, prior) in plate::candidates(&joined, &self.formats) {
                    found.push((text, 0.5 * (l.conf + m.conf) * prior * lp * 0.95, bounds));
                }
            }
        }
        found.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut out: Vec<PlateRead> = Vec::new();
        for (text, conf, (x0, y0, x1, y1)) in found {
            if conf <= 0.0 || out.iter().any(|p| p.text == text) {
                continue;
            }
            let x0 = x0.max(0.0).floor();
            let y0 = y0.max(0.0).floor();
            let x1 = x1.min(img.w as f32).ceil();
            let y1 = y1.min(img.h as f32).ceil();
            out.push(PlateRead {
                text,
                confidence: (conf.clamp(0.0, 1.0) as f64 * 1e4).round() / 1e4,
                bbox: [
                    x0 as i64,
                    y0 as i64,
                    (x1 - x0).max(1.0) as i64,
                    (y1 - y0).max(1.0) as i64,
                ],
            });
            if out.len() >= self.max_plates {
                break;
            }
        }
        out
    }
}

/// Lines short of a plate's proportions or tiny cannot hold 4+ readable characters.
fn plate_shaped(r: &RotRect) -> bool {
    let (w, h) = (r.width(), r.height());
    h >= 8.0 && w >= 1.2 * h && w <= 12.0 * h
}

/// Tallest and surest lines first.
fn sort_by_prominence(boxes: &mut [ocr::TextBox]) {
    boxes.sort_by(|a, b| (b.rect.height() * b.score).total_cmp(&(a.rect.height() * a.score)));
}

/// The window around a plate-shaped line worth a closer look: the line grown by its
/// height sideways (a plate split in two boxes, an edge character the first look
/// missed) and above and below (the state, slogan or city lines, which tell the main
/// line from the others).
fn refine_window(r: &RotRect, w: usize, h: usize) -> Bounds {
    let (x0, y0, x1, y1) = geom::bounds(&r.corners());
    let lh = r.height();
    (
        (x0 - lh).max(0.0),
        (y0 - lh).max(0.0),
        (x1 + lh).min(w as f32),
        (y1 + lh).min(h as f32),
    )
}

/// Whether two windows overlap.
fn overlaps(a: &Bounds, b: &Bounds) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Whether `m` continues `l` to the right on the same text line.
fn same_line(l: &Line, m: &Line) -> bool {
    let (hl, hm) = (l.rect.height(), m.rect.height());
    let ratio = hl / hm.max(1e-3);
    if !(0.75..=1.33).contains(&ratio) {
        return false;
    }
    let h = hl.max(hm);
    let dy = (l.rect.c.y - m.rect.c.y).abs();
    let gap = m.aabb.0 - l.aabb.2;
    dy < 0.35 * h && gap > -0.3 * h && gap < 1.2 * h
}

/// Down-weights a line when a clearly taller text line sits right above or below it
/// within the same column: that is the plate's main line and this one a state name,
/// slogan or city line.
fn main_line_prior(i: usize, lines: &[Line]) -> f32 {
    let l = &lines[i];
    let h = l.rect.height();
    let (x0, _, x1, _) = l.aabb;
    let mut prior: f32 = 1.0;
    for (j, m) in lines.iter().enumerate() {
        if i == j || plate::normalize(&m.raw).len() < 3 {
            continue;
        }
        let hm = m.rect.height();
        if hm < 1.25 * h {
            continue;
        }
        let overlap = (x1.min(m.aabb.2) - x0.max(m.aabb.0)).max(0.0);
        let dy = (l.rect.c.y - m.rect.c.y).abs();
        if overlap > 0.3 * (x1 - x0).min(m.aabb.2 - m.aabb.0) && dy < 1.5 * (h + hm) {
            prior = prior.min(0.5);
        }
    }
    prior
}

/// Decodes a JPEG or PNG into RGB8, refusing sizes over [`MAX_SIDE`] before decoding.
pub fn decode(path: &Path) -> Result<image::RgbImage, AlprError> {
    let bad = |e: String| AlprError::BadImage(format!("{}: {e}", path.display()));
    let mut reader = image::ImageReader::open(path)
        .map_err(|e| bad(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    if reader.format().is_none() {
        return Err(bad("not a JPEG or PNG image".into()));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let (w, h) = reader.into_dimensions().map_err(|e| bad(e.to_string()))?;
    if w == 0 || h == 0 {
        return Err(bad(format!("empty image {w}x{h}")));
    }
    let mut reader = image::ImageReader::open(path)
        .map_err(|e| bad(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        // The decoder fills a cut-off JPEG with grey; refuse it instead. Entropy-coded
        // data never holds FF D9 (FF is stuffed), so the end-of-image marker in the
        // last bytes is reliable.
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let tail = &bytes[bytes.len().saturating_sub(4096)..];
        if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
            return Err(bad("truncated JPEG (no end-of-image marker)".into()));
        }
    }
    let img = reader.decode().map_err(|e| bad(e.to_string()))?;
    Ok(img.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;
    use geom::Pt;

    fn rect(cx: f32, cy: f32, w: f32, h: f32) -> RotRect {
        RotRect {
            c: Pt { x: cx, y: cy },
            u: Pt { x: 1.0, y: 0.0 },
            hw: w / 2.0,
            hh: h / 2.0,
        }
    }

    #[test]
    fn refine_window_grows_a_line_by_its_height_within_the_image() {
        // A 100x20 line centred at (100, 50) in a 160x200 image.
        let w = refine_window(&rect(100.0, 50.0, 100.0, 20.0), 160, 200);
        assert_eq!(w, (30.0, 20.0, 160.0, 80.0));
    }

    #[test]
    fn only_plate_shaped_lines_are_kept() {
        assert!(plate_shaped(&rect(0.0, 0.0, 80.0, 20.0)));
        assert!(!plate_shaped(&rect(0.0, 0.0, 20.0, 20.0)), "square");
        assert!(
            !plate_shaped(&rect(0.0, 0.0, 300.0, 20.0)),
            "a long sign line"
        );
        assert!(
            !plate_shaped(&rect(0.0, 0.0, 40.0, 6.0)),
            "too small to read"
        );
    }

    #[test]
    fn windows_overlap_only_when_they_share_area() {
        let a = (0.0, 0.0, 10.0, 10.0);
        assert!(overlaps(&a, &(5.0, 5.0, 20.0, 20.0)));
        assert!(!overlaps(&a, &(10.0, 0.0, 20.0, 10.0)));
    }
}
