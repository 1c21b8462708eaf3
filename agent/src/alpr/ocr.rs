//! PP-OCRv4 text detection and recognition on ONNX Runtime (one intra-op thread).

use super::geom::{self, Rgb, RotRect};
use super::models;
use super::AlprError;
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::Tensor;
use std::path::Path;
use std::sync::OnceLock;
pub mod detmap; // the detector's probability map beside its boxes (small plates, alpr/small.rs)

/// ONNX Runtime allows one environment per process; it lives for the process.
static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn environment(lib: &Path) -> Result<&'static ort::environment::Environment, AlprError> {
    ENV.get_or_init(|| {
        ort::init_from(lib)
            .map_err(|e| format!("loading {}: {e}", lib.display()))?
            .with_name("camplane-alpr")
            .build()
            .map_err(|e| format!("ONNX Runtime environment: {e}"))
            .and_then(|env| {
                share_cpu_arena(&env)?;
                Ok(env)
            })
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
            // PaddleOCR's det_limit_side_len (960, limit_type max) until 416819a set 736
            // while measuring on us/eu/br. Derived by benches/alpr_derive.rs on 160
            // street scenes of seg_and_ocr validation crops (plates 40-300 px), run of
            // 2026-12-03, the cheapest side within two exact reads of the best: 832
            // chosen (99 exact, 310 CPU ms), alternatives 480: 85, 576: 93, 640: 89,
            // 736: 92 (254 ms), 960: 98, 1216: 100 (761 ms).
            // Derived again by the same bench and rule with the reader as it is now
            // (mixed precision, folded float models, the second look), run of
            // 2026-12-05 (ALPR_DERIVE_ONLY=long_side): 736 would be chosen (102 exact,
            // the best, 88 CPU ms), alternatives 480: 91 (60 ms), 576: 93, 640: 99
            // (80 ms), 832: 98 (100 ms), 960: 99, 1216: 101 (136 ms); on all four
            // held-out sets 736 read 337 of 640 against 330. NOT adopted, and this says
            // so openly: measured on us afterwards, 736 located 101 of 111 plates
            // against 107 and read 85 against 88 (br 54 against 52). The held-out
            // scenes' small plates are downscaled crops, sharper than real ones, so
            // they reward a coarser first look that real small plates do not survive.
            // 832 stays (the derivation of 2026-12-03) until the small-plate scenes
            // carry that loss; the choice is then the derivation's again.
            long_side: 832,
            // Derived by benches/alpr_derive.rs on the 160 seg_and_ocr validation crops
            // read whole (the only images small enough for it to act), run of
            // 2026-12-03, the cheapest within two exact reads of the best: 1 (no
            // upscaling) chosen (103 exact, 158 CPU ms), alternatives 1.5: 97, 2: 100
            // (239 ms), 3: 101, 4: 103 (291 ms).
            max_upscale: 1.0,
            // PaddleOCR's det_db_thresh default, also RapidOCR 1.4.4's Det.thresh.
            thresh: 0.3,
            // RapidOCR 1.4.4's Det.box_thresh default (PaddleOCR's det_db_box_thresh is 0.6).
            box_thresh: 0.5,
            // RapidOCR 1.4.4's Det.unclip_ratio default (PaddleOCR's is 1.5).
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
    /// The line's per-step probabilities over the plate alphabet ([`PLATE_CLASSES`]
    /// columns: blank, `0-9`, `A-Z`), for scoring any candidate text with [`log_likelihood`].
    pub plate_probs: Vec<f32>,
}

/// Columns of [`RecResult::plate_probs`]: the CTC blank, then `0-9` and `A-Z`.
pub const PLATE_CLASSES: usize = 37;

/// The column of a plate character in [`RecResult::plate_probs`].
pub fn plate_class(c: char) -> Option<usize> {
    PLATE_ALPHABET
        .iter()
        .position(|&b| b as char == c)
        .map(|i| i + 1)
}

/// `ln P(text)` under a line's CTC probabilities (summed over all alignments), or
/// `None` when the text has a character outside the plate alphabet or cannot fit the
/// line's steps.
pub fn log_likelihood(probs: &[f32], text: &str) -> Option<f32> {
    let c = PLATE_CLASSES;
    let t = probs.len() / c;
    let label: Vec<usize> = text.chars().map(plate_class).collect::<Option<_>>()?;
    if label.is_empty() || t == 0 {
        return None;
    }
    // Extended label: blank, l1, blank, l2, ..., blank.
    let ext: Vec<usize> = std::iter::once(0)
        .chain(label.iter().flat_map(|&l| [l, 0]))
        .collect();
    let s = ext.len();
    // Numerical guard only: keeps ln finite for a probability the model rounds to 0.
    let floor = 1e-12f64;
    let p = |step: usize, k: usize| (probs[step * c + k] as f64).max(floor);
    let mut alpha = vec![0f64; s];
    alpha[0] = p(0, ext[0]);
    alpha[1] = p(0, ext[1]);
    let mut next = vec![0f64; s];
    let mut log_scale = 0f64;
    for step in 1..t {
        for k in 0..s {
            let mut a = alpha[k];
            if k >= 1 {
                a += alpha[k - 1];
            }
            if k >= 2 && ext[k] != 0 && ext[k] != ext[k - 2] {
                a += alpha[k - 2];
            }
            next[k] = a * p(step, ext[k]);
        }
        let sum: f64 = next.iter().sum();
        if sum <= 0.0 {
            return None;
        }
        for v in &mut next {
            *v /= sum;
        }
        log_scale += sum.ln();
        std::mem::swap(&mut alpha, &mut next);
    }
    let end = alpha[s - 1] + alpha[s - 2];
    if end <= 0.0 {
        return None;
    }
    Some((log_scale + end.ln()) as f32)
}

/// camplane's own plate reader (agent/models/plate-reader: a small CRNN trained on
/// seg_and_ocr crops and rendered plates), built into the binary: 128x32 BGR line in,
/// `[N, 32, 37]` probabilities out (blank, `0-9`, `A-Z`).
const PLATE_READER: &[u8] = include_bytes!("../../models/plate-reader/plate_reader.onnx");
/// The plate reader quantised to int8 by agent/models/quantize/quantize.py (committed:
/// we trained it), for `--precision int8`.
const PLATE_READER_INT8: &[u8] = include_bytes!("../../models/plate-reader/plate_reader_int8.onnx");
const PLATE_ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// The plate reader's input size, as it was trained (`W, H` in train.py).
const PLATE_W: usize = 128;
const PLATE_H: usize = 32;

/// The two PP-OCRv4 sessions, the recogniser's alphabet, and the plate reader.
pub struct Ocr {
    /// The closer looks' detector (and the first look's, without [`Ocr::first`]).
    det: Session,
    /// The first look's detector, where the precision runs another ([`models::ModelSet`]).
    first: Option<Session>,
    rec: Session,
    plate: Session,
    /// For each plate column, the general alphabet's classes whose probabilities add up
    /// to it (a letter in either case; blank, space, dash and dots as the blank).
    to_plate: Vec<Vec<usize>>,
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

/// Registers one CPU arena with the environment, which every session of the process
/// allocates from ([`builder`] sets `session.use_env_allocators`). A site's reader runs
/// its sessions one at a time on one thread, so the arena's peak is the largest
/// session's, where an arena per session holds the sum of each one's peak (`mixed`
/// runs two detectors on the same frames). The arena is ONNX Runtime's own (it locks
/// for readers on other threads, as in tests) and, like the environment, lives for the
/// process: what it grew to is kept after a reader is dropped.
#[allow(unsafe_code)]
fn share_cpu_arena(env: &ort::environment::Environment) -> Result<(), String> {
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
    use ort::AsPointer;
    let info = MemoryInfo::new(
        AllocationDevice::CPU,
        0,
        AllocatorType::Arena,
        MemoryType::Default,
    )
    .map_err(|e| format!("ONNX Runtime CPU memory info: {e}"))?;
    // SAFETY: both pointers come from live ort objects (the environment lives for
    // the process); a null arena configuration is ONNX Runtime's default arena; the
    // returned status is consumed (and freed) by `result_from_status`.
    unsafe {
        let status = (ort::api().CreateAndRegisterAllocator)(
            env.ptr().cast_mut(),
            info.ptr(),
            std::ptr::null(),
        );
        ort::Error::result_from_status(status)
    }
    .map_err(|e| format!("ONNX Runtime shared CPU arena: {e}"))
}

/// A session builder with the reader's settings: one thread, full graph optimisation.
fn builder(
    env: &ort::environment::Environment,
) -> Result<ort::session::builder::SessionBuilder, String> {
    Session::builder(env)
        .map_err(|e| e.to_string())?
        .with_intra_threads(1)
        .map_err(|e| e.to_string())?
        .with_inter_threads(1)
        .map_err(|e| e.to_string())?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| e.to_string())?
        // Input shapes vary per image and per line: planned memory patterns per shape
        // only grow the resident size.
        .with_memory_pattern(false)
        .map_err(|e| e.to_string())?
        .with_env_allocators()
        .map_err(|e| e.to_string())
}

fn session(env: &ort::environment::Environment, path: &Path) -> Result<Session, AlprError> {
    let err = |e: String| AlprError::Engine(format!("loading {}: {e}", path.display()));
    builder(env)
        .map_err(err)?
        .commit_from_file(path)
        .map_err(|e| err(e.to_string()))
}

impl Ocr {
    /// Loads the models from `dir` after checking every file's SHA-256.
    pub fn load(dir: &Path) -> Result<Ocr, AlprError> {
        Ocr::load_with(dir, models::Precision::Fp32)
    }

    /// Loads the models of `precision` from `dir` after checking every file's SHA-256.
    pub fn load_with(dir: &Path, precision: models::Precision) -> Result<Ocr, AlprError> {
        Ocr::load_set(
            dir,
            models::files(precision),
            precision == models::Precision::Int8,
        )
    }

    /// Loads the files of `set` from `dir` after checking every file's SHA-256, with
    /// the built-in plate reader, its int8 version where `int8_plate` (for benches
    /// comparing the published graphs with what the precisions run).
    pub fn load_set(dir: &Path, set: models::ModelSet, int8_plate: bool) -> Result<Ocr, AlprError> {
        let lib = models::verify_file(dir, &models::ORT_LIB)?;
        let det_path = models::verify_file(dir, &set.det)?;
        // The first look's detector is checked and loaded only where it is another file.
        let first_path = if set.first_det.name == set.det.name {
            None
        } else {
            Some(models::verify_file(dir, &set.first_det)?)
        };
        let rec_path = models::verify_file(dir, &set.rec)?;
        let env = environment(&lib)?;
        let det = session(env, &det_path)?;
        let first = first_path.map(|p| session(env, &p)).transpose()?;
        let rec = session(env, &rec_path)?;
        let plate_model = if int8_plate {
            PLATE_READER_INT8
        } else {
            PLATE_READER
        };
        let plate = builder(env)
            .and_then(|mut b| b.commit_from_memory(plate_model).map_err(|e| e.to_string()))
            .map_err(|e| AlprError::Engine(format!("loading the built-in plate reader: {e}")))?;
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
        let mut to_plate: Vec<Vec<usize>> = vec![Vec::new(); PLATE_CLASSES];
        to_plate[0].push(0);
        for (i, a) in alphabet.iter().enumerate().skip(1) {
            let mut chars = a.chars();
            let (Some(ch), None) = (chars.next(), chars.next()) else {
                continue;
            };
            if matches!(ch, ' ' | '-' | '.' | '·' | '•') {
                to_plate[0].push(i);
            } else if let Some(k) = plate_class(ch.to_ascii_uppercase()) {
                to_plate[k].push(i);
            }
        }
        Ok(Ocr {
            det,
            first,
            rec,
            plate,
            to_plate,
            alphabet,
            det_params: DetParams::default(),
        })
    }

    /// Whether the first look runs a detector of its own ([`models::ModelSet`]).
    pub fn first_differs(&self) -> bool {
        self.first.is_some()
    }

    /// Finds text lines in `img`, seen whole with its longer side at
    /// [`DetParams::long_side`] (a first look: [`Ocr::first`]'s detector where there is one).
    pub fn detect(&mut self, img: &Rgb<'_>) -> Result<Vec<TextBox>, AlprError> {
        let p = &self.det_params;
        let long = img.w.max(img.h) as f32;
        let scale = (p.long_side as f32 / long).min(p.max_upscale);
        let window = (0.0, 0.0, img.w as f32, img.h as f32);
        let map = self.prob_map(img, window, scale, true)?;
        Ok(self.boxes_in(&map))
    }

    /// Finds text lines in the axis-aligned `window` `(x0, y0, x1, y1)` of `img`, seen
    /// at `scale` (detector pixels per image pixel; each side rounded to a multiple of
    /// 32), a closer look. Rectangles are in original-image pixels.
    pub fn detect_window(
        &mut self,
        img: &Rgb<'_>,
        window: (f32, f32, f32, f32),
        scale: f32,
    ) -> Result<Vec<TextBox>, AlprError> {
        let t0 = std::time::Instant::now();
        let map = self.prob_map(img, window, scale, false)?;
        let boxes = self.boxes_in(&map);
        if std::env::var_os("CAMPLANE_ALPR_PROFILE").is_some() {
            eprintln!(
                "alpr profile: det {:?} at {}x{}",
                t0.elapsed(),
                map.w,
                map.h
            );
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
        // PP-OCRv4's recogniser input height (rec_image_shape 3,48,320 in PaddleOCR and
        // RapidOCR).
        const H: usize = 48;
        let mut out = Vec::with_capacity(rects.len());
        // One run per line at its own width (no padding to 320): with one thread a batch
        // saves nothing and padding costs up to 3x on short plate lines.
        for r in rects {
            // A guard, not a tuning: plate-shaped lines (`plate_shaped` in mod.rs: 1.2 to
            // 12 heights long) are 58 to 576 wide at 48 high; the bounds only round the
            // stubbiest up to 64 and cap anything wider. Widths in multiples of 8 (the
            // recogniser's time steps are 8 pixels wide).
            let w = ((H as f32 * r.width() / r.height().max(1.0)).ceil() as usize).clamp(64, 640);
            let w = w.div_ceil(8) * 8;
            let mut input = vec![0f32; 3 * H * w];
            let [tl, tr, _, bl] = r.corners();
            geom::sample_quad(img, tl, tr, bl, w, H, w, &mut input);
            let tensor = Tensor::from_array(([1usize, 3, H, w], input))
                .map_err(|e| AlprError::Engine(e.to_string()))?;
            let outputs = run(&mut self.rec, tensor, "recognition")?;
            let (t, c, probs) = steps_by_classes(&outputs, "recognition")?;
            let alphabet = &self.alphabet;
            let mut rec = ctc_greedy(probs, t, c, |k| {
                alphabet.get(k).and_then(|s| s.chars().next())
            });
            rec.plate_probs = Vec::with_capacity(t * PLATE_CLASSES);
            for row in probs.chunks(c).take(t) {
                for cols in &self.to_plate {
                    rec.plate_probs
                        .push(cols.iter().filter_map(|&i| row.get(i)).sum::<f32>());
                }
            }
            out.push(rec);
        }
        Ok(out)
    }

    /// Reads each rectangle with the plate reader (one batch).
    pub fn read_plates(
        &mut self,
        img: &Rgb<'_>,
        rects: &[RotRect],
    ) -> Result<Vec<RecResult>, AlprError> {
        if rects.is_empty() {
            return Ok(Vec::new());
        }
        let n = rects.len();
        let each = 3 * PLATE_H * PLATE_W;
        let mut input = vec![0f32; n * each];
        for (r, chunk) in rects.iter().zip(input.chunks_mut(each)) {
            let [tl, tr, _, bl] = r.corners();
            geom::sample_quad(img, tl, tr, bl, PLATE_W, PLATE_H, PLATE_W, chunk);
        }
        let tensor = Tensor::from_array(([n, 3, PLATE_H, PLATE_W], input))
            .map_err(|e| AlprError::Engine(e.to_string()))?;
        let outputs = run(&mut self.plate, tensor, "plate reader")?;
        let (t, c, probs) = steps_by_classes(&outputs, "plate reader")?;
        if c != PLATE_CLASSES || probs.len() < n * t * c {
            return Err(AlprError::Engine(format!(
                "plate reader output: {t} steps of {c} classes for {n} lines"
            )));
        }
        Ok(probs
            .chunks(t * c)
            .take(n)
            .map(|p| {
                let mut rec =
                    ctc_greedy(p, t, c, |k| PLATE_ALPHABET.get(k - 1).map(|&b| b as char));
                rec.plate_probs = calibrate(p, c, PLATE_TEMPERATURE);
                pool_lookalikes(&mut rec.plate_probs, c);
                rec
            })
            .collect())
    }
}

/// The plate reader is over-confident: its probabilities are softened by this
/// temperature, the one that minimises the negative log-likelihood of the true text on
/// the seg_and_ocr validation split (`calibrate.py` beside `train.py`).
pub const PLATE_TEMPERATURE: f32 = 1.8;

/// Look-alike pairs whose split the plate reader cannot be trusted with: US plates,
/// its real training data, rarely carry the letter (many states issue no O or I), so it
/// learned "round glyph: 0" and "bar: 1" from their frequency. In seg_and_ocr's
/// groundtruth.csv O is 16 of the 332 O/0 and I 47 of the 330 I/1; every other letter
/// of a look-alike pair is seen at least 28 times (Q).
const POOLED: &[(char, char)] = &[('O', '0'), ('I', '1')];

/// Gives both characters of each [`POOLED`] pair the pair's summed probability, so in
/// joint scoring the plate reader says "one of the two" and the general recogniser
/// (and the plate formats) decide which.
fn pool_lookalikes(probs: &mut [f32], c: usize) {
    let pairs: Vec<(usize, usize)> = POOLED
        .iter()
        .filter_map(|&(a, b)| Some((plate_class(a)?, plate_class(b)?)))
        .collect();
    for row in probs.chunks_mut(c) {
        for &(a, b) in &pairs {
            let sum = row[a] + row[b];
            row[a] = sum;
            row[b] = sum;
        }
    }
}

/// Softens each step's distribution: `p^(1/t)`, renormalised.
fn calibrate(probs: &[f32], c: usize, t: f32) -> Vec<f32> {
    let mut out: Vec<f32> = probs.iter().map(|p| p.max(1e-30).powf(1.0 / t)).collect();
    for row in out.chunks_mut(c) {
        let sum: f32 = row.iter().sum();
        if sum > 0.0 {
            row.iter_mut().for_each(|v| *v /= sum);
        }
    }
    out
}

/// Runs a one-input model.
fn run<'s>(
    session: &'s mut Session,
    input: Tensor<f32>,
    what: &str,
) -> Result<ort::session::SessionOutputs<'s>, AlprError> {
    session
        .run(ort::inputs![input])
        .map_err(|e| AlprError::Engine(format!("{what}: {e}")))
}

/// A recogniser's output `[N, T, C]`: steps, classes, and the probabilities.
fn steps_by_classes<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    what: &str,
) -> Result<(usize, usize, &'a [f32]), AlprError> {
    let (shape, probs) = outputs[0]
        .try_extract_tensor::<f32>()
        .map_err(|e| AlprError::Engine(format!("{what} output: {e}")))?;
    match shape[..] {
        [_, t, c] if t > 0 && c > 0 => Ok((t as usize, c as usize, probs)),
        _ => Err(AlprError::Engine(format!("{what} output shape {shape:?}"))),
    }
}

/// Greedy CTC decoding of `t` steps of `c` probabilities (class 0 the blank).
fn ctc_greedy(probs: &[f32], t: usize, c: usize, ch: impl Fn(usize) -> Option<char>) -> RecResult {
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
            if let Some(x) = ch(bi) {
                text.push(x);
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
    RecResult {
        text,
        confidence,
        char_conf: confs,
        plate_probs: Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A matrix over the plate classes with the given `(class, p)` per step; what is
    /// left of each step goes to the blank.
    pub(crate) fn steps(rows: &[&[(char, f32)]]) -> Vec<f32> {
        let mut out = vec![0f32; rows.len() * PLATE_CLASSES];
        for (i, row) in rows.iter().enumerate() {
            let r = &mut out[i * PLATE_CLASSES..(i + 1) * PLATE_CLASSES];
            let mut rest = 1.0;
            for &(ch, p) in row.iter() {
                r[plate_class(ch).unwrap()] = p;
                rest -= p;
            }
            r[0] = rest;
        }
        out
    }

    #[test]
    fn likelihood_sums_every_alignment() {
        // Two steps, P(A) = 0.6 then 0.3: "A" is AA, A-, -A.
        let p = steps(&[&[('A', 0.6)], &[('A', 0.3)]]);
        let want = 0.6 * 0.3 + 0.6 * 0.7 + 0.4 * 0.3;
        let got = log_likelihood(&p, "A").unwrap().exp();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // "AA" needs a blank between the two: impossible in two steps.
        assert!(log_likelihood(&p, "AA").is_none_or(|l| l < -20.0));
        // Outside the plate alphabet, or empty: no score.
        assert!(log_likelihood(&p, "a").is_none());
        assert!(log_likelihood(&p, "").is_none());
    }

    #[test]
    fn likelihood_prefers_the_text_the_steps_show() {
        let p = steps(&[
            &[('A', 0.9)],
            &[],
            &[('B', 0.8), ('8', 0.15)],
            &[],
            &[('1', 0.7), ('I', 0.2)],
        ]);
        let l = |t: &str| log_likelihood(&p, t).unwrap();
        assert!(l("AB1") > l("A81"));
        assert!(
            l("A81") > l("AB"),
            "a missing character costs more than a look-alike"
        );
        assert!(l("AB1") > l("ABI"));
    }

    #[test]
    fn long_lines_do_not_underflow() {
        // 200 steps of a confident "ABC" spread out: still a finite, near-zero log.
        let mut rows: Vec<&[(char, f32)]> = vec![&[]; 200];
        rows[20] = &[('A', 0.99)];
        rows[100] = &[('B', 0.99)];
        rows[180] = &[('C', 0.99)];
        let p = steps(&rows);
        let l = log_likelihood(&p, "ABC").unwrap();
        assert!(l.is_finite() && l > -1.0, "{l}");
    }

    #[test]
    fn calibration_softens_and_keeps_each_step_a_distribution() {
        let p = steps(&[&[('A', 0.9), ('4', 0.05)]]);
        let q = calibrate(&p, PLATE_CLASSES, 2.0);
        assert!((q.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let a = plate_class('A').unwrap();
        assert!(q[a] < 0.9 && q[a] > q[plate_class('4').unwrap()]);
        assert!(calibrate(&p, PLATE_CLASSES, 1.0)
            .iter()
            .zip(&p)
            .all(|(x, y)| (x - y).abs() < 1e-6));
    }

    #[test]
    fn pooled_lookalikes_leave_the_choice_to_others() {
        let mut p = steps(&[&[('0', 0.8), ('O', 0.1)], &[('1', 0.6), ('I', 0.3)]]);
        pool_lookalikes(&mut p, PLATE_CLASSES);
        let l = |t: &str| log_likelihood(&p, t).unwrap();
        assert!((l("O1") - l("01")).abs() < 1e-5);
        assert!((l("OI") - l("0I")).abs() < 1e-5);
        // Other characters are untouched.
        let mut q = steps(&[&[('8', 0.8), ('B', 0.1)]]);
        let before = q.clone();
        pool_lookalikes(&mut q, PLATE_CLASSES);
        assert_eq!(q, before);
    }
}
