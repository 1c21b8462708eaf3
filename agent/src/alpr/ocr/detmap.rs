//! The detector's text-probability map beside its boxes, for the small-plate look
//! (`alpr::small`): a plate too small for the whole-image look often leaves a weak
//! trace in the map under the box threshold. A child of `ocr` so that it runs the same
//! detector session: [`Ocr::detect_window`] is [`Ocr::prob_map`] then [`Ocr::boxes_in`],
//! so the reader's first look keeps the map its boxes came from.

use super::{AlprError, Ocr, TextBox};
use crate::alpr::geom::{self, Pt, Rgb};
use ort::value::Tensor;

/// The detector's text probability over a window of the image.
#[derive(Debug, Clone, Default)]
pub struct ProbMap {
    /// Row-major probabilities, `w * h`.
    pub prob: Vec<f32>,
    /// Map width.
    pub w: usize,
    /// Map height.
    pub h: usize,
    /// The image window `(x0, y0, x1, y1)` the map covers.
    pub window: (f32, f32, f32, f32),
}

impl ProbMap {
    /// Image pixels per map pixel, horizontally and vertically.
    pub fn scale(&self) -> (f32, f32) {
        let (x0, y0, x1, y1) = self.window;
        (
            (x1 - x0) / self.w.max(1) as f32,
            (y1 - y0) / self.h.max(1) as f32,
        )
    }

    /// A map point in image pixels.
    pub fn to_image(&self, p: Pt) -> Pt {
        let (sx, sy) = self.scale();
        Pt {
            x: self.window.0 + p.x * sx,
            y: self.window.1 + p.y * sy,
        }
    }
}

impl Ocr {
    /// The detector's map of `window` seen at `scale`; by the first look's detector when
    /// `first_look` (see [`models::ModelSet`](crate::alpr::models::ModelSet)).
    pub fn prob_map(
        &mut self,
        img: &Rgb<'_>,
        window: (f32, f32, f32, f32),
        scale: f32,
        first_look: bool,
    ) -> Result<ProbMap, AlprError> {
        let (x0, y0, x1, y1) = window;
        // PaddleOCR's DetResizeForTest: each side rounded to a multiple of 32, at least 32.
        let round32 = |v: f32| (((v / 32.0).round() as usize).max(1)) * 32;
        let (dw, dh) = (round32((x1 - x0) * scale), round32((y1 - y0) * scale));
        let mut input = vec![0f32; 3 * dw * dh];
        geom::resize_window(img, window, dw, dh, geom::Norm::DET, &mut input);
        let tensor = Tensor::from_array(([1usize, 3, dh, dw], input))
            .map_err(|e| AlprError::Engine(e.to_string()))?;
        let det = match (&mut self.first, first_look) {
            (Some(f), true) => f,
            _ => &mut self.det,
        };
        let outputs = det
            .run(ort::inputs![tensor])
            .map_err(|e| AlprError::Engine(format!("detection: {e}")))?;
        let (shape, prob) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| AlprError::Engine(format!("detection output: {e}")))?;
        let (h, w) = match shape[..] {
            [_, _, h, w] if h > 0 && w > 0 => (h as usize, w as usize),
            _ => {
                return Err(AlprError::Engine(format!(
                    "detection output shape {shape:?}"
                )))
            }
        };
        Ok(ProbMap {
            prob: prob[..w * h].to_vec(),
            w,
            h,
            window,
        })
    }

    /// The text boxes of a map, in image pixels, by PP-OCR's DB post-processing.
    pub fn boxes_in(&self, map: &ProbMap) -> Vec<TextBox> {
        let p = &self.det_params;
        let mut boxes = Vec::new();
        // 1000: PaddleOCR's and RapidOCR's max_candidates default.
        for r in geom::regions(&map.prob, map.w, map.h, p.thresh, 1000) {
            if r.score < p.box_thresh || r.boundary.len() < 3 {
                continue;
            }
            let Some(rect) = geom::min_area_rect(&r.boundary) else {
                continue;
            };
            // PaddleOCR's DBPostProcess min_size (3), before unclipping...
            if rect.width().min(rect.height()) < 3.0 {
                continue;
            }
            let (w, h) = (rect.width(), rect.height());
            let d = w * h * p.unclip_ratio / (2.0 * (w + h));
            let grown = rect.grow(d);
            // ...and min_size + 2 after it, as PaddleOCR's DBPostProcess.
            if grown.width().min(grown.height()) < 5.0 {
                continue;
            }
            // Back to original pixels (x and y scale nearly alike; corners map exactly).
            let c = grown.corners().map(|q| map.to_image(q));
            let Some(rect) = geom::min_area_rect(&c) else {
                continue;
            };
            boxes.push(TextBox {
                rect,
                score: r.score,
            });
        }
        boxes
    }
}
