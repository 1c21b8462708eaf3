//! PP-OCRv4 text detection and recognition on ONNX Runtime (one intra-op thread).

use super::geom::{self, Pt, Rgb, RotRect};
use super::models;
use super::AlprError;
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::Tensor;
use std::path::Path;
use std::sync::OnceLock;

/// ONNX Runtime allows one environment per process; it lives for the process.
static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn environment(lib: &Path) -> Result<&'static ort::environment::Environment, AlprError> {
    ENV.get_or_init(|| {
        ort::init_from(lib)
            .map_err(|e| format!("loading {}: {e}", lib.display()))?
            .with_name("camplane-alpr")
            .build()
            .map_err(|e| format!("ONNX Runtime environment: {e}"))
    })
    .as_ref()
    .map_err(|e| AlprError::Engine(e.clone()))
}

/// Detection settings (PP-OCR's DB post-processing).
#[derive(Debug, Clone)]
pub struct DetParams {
    /// The detector sees the image scaled so its longer side is this (multiple of 32).
    pub long_side: usize,
    /// Largest upscaling of small images.
    pub max_upscale: f32,
    /// Probability threshold of the text map.
    pub thresh: f32,
    /// Least mean probability of a kept region.
    pub box_thresh: f32,
    /// How far boxes are grown (area * ratio / perimeter).
    pub unclip_ratio: f32,
}

impl Default for DetParams {
    fn default() -> Self {
        DetParams {
            long_side: 736,
            max_upscale: 2.0,
            thresh: 0.3,
            box_thresh: 0.5,
            unclip_ratio: 1.6,
        }
    }
}

/// A detected text line: its rectangle in original-image pixels and its score.
#[derive(Debug, Clone)]
pub struct TextBox {
    /// Oriented rectangle, original-image pixels.
    pub rect: RotRect,
    /// Mean text probability inside.
    pub score: f32,
}

/// A recognised line: text, mean character confidence, and per-character confidences.
#[derive(Debug, Clone)]
pub struct RecResult {
    /// Decoded text (the model's alphabet, not normalised).
    pub text: String,
    /// Mean of the per-character maxima.
    pub confidence: f32,
    /// Per character confidence.
    pub char_conf: Vec<f32>,
}

/// The two PP-OCRv4 sessions and the recogniser's alphabet.
pub struct Ocr {
    det: Session,
    rec: Session,
    /// Index 0 is the CTC blank; the model's characters; then a space.
    alphabet: Vec<String>,
    /// Detection settings.
    pub det_params: DetParams,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr")
            .field("alphabet", &self.alphabet.len())
            .finish()
    }
}

fn session(env: &ort::environment::Environment, path: &Path) -> Result<Session, AlprError> {
    let err = |e: String| AlprError::Engine(format!("loading {}: {e}", path.display()));
    Session::builder(env)
        .map_err(|e| err(e.to_string()))?
        .with_intra_threads(1)
        .map_err(|e| err(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| err(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| err(e.to_string()))?
        // Input shapes vary per image and per line: planned memory patterns per shape
        // only grow the resident size.
        .with_memory_pattern(false)
        .map_err(|e| err(e.to_string()))?
        .commit_from_file(path)
        .map_err(|e| err(e.to_string()))
}

impl Ocr {
    /// Loads the models from `dir` after checking every file's SHA-256.
    pub fn load(dir: &Path) -> Result<Ocr, AlprError> {
        let lib = models::verify_file(dir, &models::ORT_LIB)?;
        let det_path = models::verify_file(dir, &models::DET)?;
        let rec_path = models::verify_file(dir, &models::REC)?;
        let env = environment(&lib)?;
        let det = session(env, &det_path)?;
        let rec = session(env, &rec_path)?;
        let table = rec
            .metadata()
            .ok()
            .and_then(|m| m.custom("character"))
            .ok_or_else(|| {
                AlprError::Engine(format!("{}: no `character` metadata", rec_path.display()))
            })?;
        let mut alphabet = vec![String::new()];
        alphabet.extend(table.lines().map(str::to_string));
        alphabet.push(" ".to_string());
        Ok(Ocr {
            det,
            rec,
            alphabet,
            det_params: DetParams::default(),
        })
    }

    /// Finds text lines in `img`, seen whole with its longer side at
    /// [`DetParams::long_side`].
    pub fn detect(&mut self, img: &Rgb<'_>) -> Result<Vec<TextBox>, AlprError> {
        let p = &self.det_params;
        let long = img.w.max(img.h) as f32;
        let scale = (p.long_side as f32 / long).min(p.max_upscale);
        let window = (0.0, 0.0, img.w as f32, img.h as f32);
        self.detect_window(img, window, scale)
    }

    /// Finds text lines in the axis-aligned `window` `(x0, y0, x1, y1)` of `img`, seen
    /// at `scale` (detector pixels per image pixel; each side rounded to a multiple of
    /// 32). Rectangles are in original-image pixels.
    pub fn detect_window(
        &mut self,
        img: &Rgb<'_>,
        window: (f32, f32, f32, f32),
        scale: f32,
    ) -> Result<Vec<TextBox>, AlprError> {
        let p = self.det_params.clone();
        let profile = std::env::var_os("CAMPLANE_ALPR_PROFILE").is_some();
        let t0 = std::time::Instant::now();
        let (x0, y0, x1, y1) = window;
        let round32 = |v: f32| (((v / 32.0).round() as usize).max(1)) * 32;
        let (dw, dh) = (round32((x1 - x0) * scale), round32((y1 - y0) * scale));
        let mut input = vec![0f32; 3 * dw * dh];
        geom::resize_window(img, window, dw, dh, geom::Norm::DET, &mut input);
        let tensor = Tensor::from_array(([1usize, 3, dh, dw], input))
            .map_err(|e| AlprError::Engine(e.to_string()))?;
        let outputs = self
            .det
            .run(ort::inputs![tensor])
            .map_err(|e| AlprError::Engine(format!("detection: {e}")))?;
        let (shape, prob) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| AlprError::Engine(format!("detection output: {e}")))?;
        let (ph, pw) = (shape[2] as usize, shape[3] as usize);
        let (sx, sy) = ((x1 - x0) / pw as f32, (y1 - y0) / ph as f32);
        let mut boxes = Vec::new();
        for r in geom::regions(prob, pw, ph, p.thresh, 1000) {
            if r.score < p.box_thresh || r.boundary.len() < 3 {
                continue;
            }
            let Some(rect) = geom::min_area_rect(&r.boundary) else {
                continue;
            };
            if rect.width().min(rect.height()) < 3.0 {
                continue;
            }
            let (w, h) = (rect.width(), rect.height());
            let d = w * h * p.unclip_ratio / (2.0 * (w + h));
            let grown = rect.grow(d);
            if grown.width().min(grown.height()) < 5.0 {
                continue;
            }
            // Back to original pixels (x and y scale nearly alike; corners map exactly).
            let c = grown.corners().map(|q| Pt {
                x: x0 + q.x * sx,
                y: y0 + q.y * sy,
            });
            let Some(rect) = geom::min_area_rect(&c) else {
                continue;
            };
            boxes.push(TextBox {
                rect,
                score: r.score,
            });
        }
        if profile {
            eprintln!("alpr profile: det {:?} at {dw}x{dh}", t0.elapsed());
        }
        Ok(boxes)
    }

    /// Reads the text in each rectangle of `img` (one batch).
    pub fn recognize(
        &mut self,
        img: &Rgb<'_>,
        rects: &[RotRect],
    ) -> Result<Vec<RecResult>, AlprError> {
        if rects.is_empty() {
            return Ok(Vec::new());
        }
        const H: usize = 48;
        let mut out = Vec::with_capacity(rects.len());
        // One run per line at its own width (no padding to 320): with one thread a batch
        // saves nothing and padding costs up to 3x on short plate lines.
        for r in rects {
            let w = ((H as f32 * r.width() / r.height().max(1.0)).ceil() as usize).clamp(64, 640);
            let w = w.div_ceil(8) * 8;
            let mut input = vec![0f32; 3 * H * w];
            let [tl, tr, _, bl] = r.corners();
            geom::sample_quad(img, tl, tr, bl, w, H, w, &mut input);
            let tensor = Tensor::from_array(([1usize, 3, H, w], input))
                .map_err(|e| AlprError::Engine(e.to_string()))?;
            let outputs = self
                .rec
                .run(ort::inputs![tensor])
                .map_err(|e| AlprError::Engine(format!("recognition: {e}")))?;
            let (shape, probs) = outputs[0]
                .try_extract_tensor::<f32>()
                .map_err(|e| AlprError::Engine(format!("recognition output: {e}")))?;
            let (t, c) = (shape[1] as usize, shape[2] as usize);
            let mut text = String::new();
            let mut confs = Vec::new();
            let mut prev = usize::MAX;
            for step in 0..t {
                let row = &probs[step * c..(step + 1) * c];
                let (mut bi, mut bv) = (0usize, f32::MIN);
                for (i, &v) in row.iter().enumerate() {
                    if v > bv {
                        bi = i;
                        bv = v;
                    }
                }
                if bi != 0 && bi != prev {
                    if let Some(ch) = self.alphabet.get(bi) {
                        text.push_str(ch);
                        confs.push(bv);
                    }
                }
                prev = bi;
            }
            let confidence = if confs.is_empty() {
                0.0
            } else {
                confs.iter().sum::<f32>() / confs.len() as f32
            };
            out.push(RecResult {
                text,
                confidence,
                char_conf: confs,
            });
        }
        Ok(out)
    }
}
