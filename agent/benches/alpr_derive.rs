//! Derives the reader's detection and refine settings on data we may tune on, never on
//! the measuring folders us/eu/br: synthetic scenes built from the seg_and_ocr plate
//! crops (validation split only, the 20% the plate reader never trained on), and the
//! crops themselves.
//!
//! `cargo bench -p camplane-agent --bench alpr_derive` (env: `CAMPLANE_DATA_DIR`,
//! `CAMPLANE_MODELS`, `ALPR_DERIVE_LIMIT=N` for the first N validation crops).
//!
//! A scene: a frame of a common camera size (1280x720, 1920x1080, 800x600 or 640x480)
//! with a noisy two-tone background, a car-body box, one seg_and_ocr crop as the plate
//! (90 to 300 pixels wide, at most 45% of the frame's width) and zero to three other
//! crops, smaller, as other text in the scene. The plate's box is the pasted crop.
//! Everything is drawn from a fixed seed, so every run sees the same scenes.
//!
//! Each setting is swept alone from the shipped values (the others held). For a
//! setting that costs time the value printed as chosen is the cheapest (lowest median
//! ms) whose exact-read count is within [`TIE`] reads of the best; for a weight, the one
//! with the most exact reads. `DetParams::max_upscale` only acts on images
//! smaller than half the detector's side, so it is swept on the crops read whole.

use camplane_agent::alpr::eval::{self, Label};
use camplane_agent::alpr::geom::Rgb;
use camplane_agent::alpr::plate::{normalize, Region};
use camplane_agent::alpr::{models, Reader};
use image::{imageops, Rgb as Px, RgbImage};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Exact reads within which two settings count as equally good (about 1.5% of the
/// ~150 validation crops: one or two reads flip between runs of nearby settings).
const TIE: usize = 2;

fn data_dir() -> PathBuf {
    std::env::var_os("CAMPLANE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/alpr"))
        .join("openalpr-benchmarks/seg_and_ocr")
}

/// prepare.py's split: SHA-256 of the file name, as a number, modulo 5 == 0.
fn is_validation(name: &str) -> bool {
    Sha256::digest(name.as_bytes())
        .iter()
        .fold(0u32, |r, &b| (r * 256 + b as u32) % 5)
        == 0
}

/// SplitMix64: a fixed-seed generator, so the scenes never change between runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [a, b).
    fn range(&mut self, a: f32, b: f32) -> f32 {
        a + (b - a) * (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A crop with its ground-truth plate.
struct Crop {
    img: RgbImage,
    plate: String,
    validation: bool,
}

fn load_crops() -> Vec<Crop> {
    let dir = data_dir();
    let csv_path = dir.join("groundtruth.csv");
    let csv = std::fs::read_to_string(&csv_path)
        .unwrap_or_else(|e| panic!("{}: {e} (set CAMPLANE_DATA_DIR)", csv_path.display()));
    let mut rows: Vec<(String, String)> = csv
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            Some((f.next()?.to_string(), normalize(f.nth(1)?)))
        })
        .collect();
    rows.sort();
    rows.into_iter()
        .map(|(name, plate)| {
            let p = dir.join("usimages").join(&name);
            let img = image::open(&p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .to_rgb8();
            Crop {
                img,
                validation: is_validation(&name),
                plate,
            }
        })
        .collect()
}

/// A synthetic scene around crop `k`, and its label.
fn scene(crops: &[Crop], k: usize, rng: &mut Rng) -> (RgbImage, Label) {
    const SIZES: [(u32, u32); 4] = [(1280, 720), (1920, 1080), (800, 600), (640, 480)];
    let (w, h) = SIZES[rng.below(SIZES.len())];
    let top: [f32; 3] = std::array::from_fn(|_| rng.range(40.0, 220.0));
    let bottom: [f32; 3] = std::array::from_fn(|_| rng.range(20.0, 160.0));
    let mut img = RgbImage::from_fn(w, h, |_, y| {
        let t = y as f32 / h as f32;
        Px(std::array::from_fn(|c| {
            (top[c] * (1.0 - t) + bottom[c] * t) as u8
        }))
    });
    let paste = |img: &mut RgbImage, c: &Crop, width: f32, x: i64, y: i64| {
        let s = width / c.img.width() as f32;
        let (cw, ch) = (
            (c.img.width() as f32 * s).round().max(1.0) as u32,
            (c.img.height() as f32 * s).round().max(1.0) as u32,
        );
        let small = imageops::resize(&c.img, cw, ch, imageops::FilterType::Triangle);
        imageops::overlay(img, &small, x, y);
        (cw, ch)
    };
    let target = &crops[k];
    let pw = rng.range(90.0, 300.0).min(0.45 * w as f32);
    let ph = pw * target.img.height() as f32 / target.img.width() as f32;
    let x = rng.range(0.0, w as f32 - pw) as i64;
    let y = rng.range(0.0, (h as f32 - ph).max(1.0)) as i64;
    // The car around the plate: a box of one body colour, three plates wide.
    let body: [u8; 3] = std::array::from_fn(|_| rng.range(10.0, 240.0) as u8);
    let (bx0, by0) = (
        (x as f32 - pw).max(0.0) as u32,
        (y as f32 - ph).max(0.0) as u32,
    );
    let (bx1, by1) = (
        ((x as f32 + 2.0 * pw) as u32).min(w),
        ((y as f32 + 1.6 * ph) as u32).min(h),
    );
    for yy in by0..by1 {
        for xx in bx0..bx1 {
            img.put_pixel(xx, yy, Px(body));
        }
    }
    // Other text: smaller crops elsewhere, drawn before the plate so it stays on top.
    for _ in 0..rng.below(4) {
        let other = &crops[rng.below(crops.len())];
        let ow = pw * rng.range(0.3, 0.7);
        let ox = rng.range(0.0, w as f32 - ow) as i64;
        let oy = rng.range(0.0, h as f32 * 0.9) as i64;
        paste(&mut img, other, ow, ox, oy);
    }
    let (cw, ch) = paste(&mut img, target, pw, x, y);
    // Sensor noise, up to +-8 levels.
    for p in img.pixels_mut() {
        for v in p.0.iter_mut() {
            let n = rng.range(-8.0, 8.0);
            *v = (*v as f32 + n).clamp(0.0, 255.0) as u8;
        }
    }
    let label = Label {
        image: format!("scene-{k}"),
        bbox: [x, y, cw as i64, ch as i64],
        plate: target.plate.clone(),
    };
    (img, label)
}

/// Exact reads, located reads and the median ms of the reader on `images`.
fn run(reader: &mut Reader, images: &[(RgbImage, Label)]) -> (usize, usize, f64) {
    let (mut hit, mut located) = (0, 0);
    let mut ms = Vec::with_capacity(images.len());
    for (img, label) in images {
        let rgb = Rgb {
            w: img.width() as usize,
            h: img.height() as usize,
            data: img.as_raw(),
        };
        let t = Instant::now();
        let plates = reader.read(&rgb).unwrap_or_default();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        let o = eval::score(label, &plates);
        hit += o.hit as usize;
        located += o.located as usize;
    }
    (hit, located, eval::median(&ms))
}

/// One setting's sweep: runs every value and prints the chosen one. With
/// `ALPR_DERIVE_ONLY=a,b` only the settings named there are swept.
fn sweep<T: Copy + std::fmt::Display>(
    name: &str,
    values: &[T],
    reader: &mut Reader,
    images: &[(RgbImage, Label)],
    set: impl Fn(&mut Reader, T),
    shipped: T,
    rule: Rule,
) {
    if std::env::var("ALPR_DERIVE_ONLY").is_ok_and(|only| !only.split(',').any(|o| o == name)) {
        return;
    }
    let mut results = Vec::new();
    for &v in values {
        set(reader, v);
        let (hit, located, ms) = run(reader, images);
        println!(
            "{name} = {v}: exact {hit}/{n} = {:.1}%, located {located}/{n}, median {ms:.0} ms",
            100.0 * hit as f64 / images.len().max(1) as f64,
            n = images.len()
        );
        results.push((v, hit, ms));
    }
    set(reader, shipped);
    let best = results.iter().map(|r| r.1).max().unwrap_or(0);
    let tied = results.iter().filter(|r| r.1 + TIE >= best);
    let chosen = match rule {
        Rule::Cheapest => tied.min_by(|a, b| a.2.total_cmp(&b.2)),
        Rule::Best => results.iter().find(|r| r.1 == best),
    };
    if let Some((v, hit, ms)) = chosen {
        println!("{name}: chosen {v} (exact {hit}, best {best}, median {ms:.0} ms)\n");
    }
}

/// How a sweep picks its value.
#[derive(Clone, Copy)]
enum Rule {
    /// A setting that costs time: the fastest within [`TIE`] reads of the best.
    Cheapest,
    /// A weight (no cost): the most exact reads, the first such value listed.
    Best,
}

fn main() {
    let limit: usize = std::env::var("ALPR_DERIVE_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let crops = load_crops();
    let val: Vec<usize> = (0..crops.len())
        .filter(|&k| crops[k].validation)
        .take(limit)
        .collect();
    let mut rng = Rng(0x5EED_A1B2);
    let scenes: Vec<(RgbImage, Label)> = val.iter().map(|&k| scene(&crops, k, &mut rng)).collect();
    let whole: Vec<(RgbImage, Label)> = val
        .iter()
        .map(|&k| {
            let c = &crops[k];
            let (w, h) = (c.img.width() as i64, c.img.height() as i64);
            let label = Label {
                image: format!("crop-{k}"),
                bbox: [0, 0, w, h],
                plate: c.plate.clone(),
            };
            (c.img.clone(), label)
        })
        .collect();
    println!(
        "{} synthetic scenes and {} whole crops (seg_and_ocr validation split)\n",
        scenes.len(),
        whole.len()
    );
    let dir = models::resolve_dir(None);
    let mut reader = Reader::load(&dir, Region::Any).unwrap_or_else(|e| panic!("{e}"));
    let det = reader.det_params_mut().clone();
    let (lines, regions, line_px, join, main_line) = (
        reader.max_lines,
        reader.refine_regions,
        reader.refine_line_px,
        reader.join_weight,
        reader.main_line_weight,
    );
    sweep(
        "long_side",
        &[480, 576, 640, 736, 832, 960, 1216],
        &mut reader,
        &scenes,
        |r, v| r.det_params_mut().long_side = v,
        det.long_side,
        Rule::Cheapest,
    );
    sweep(
        "max_upscale",
        &[1.0, 1.5, 2.0, 3.0, 4.0],
        &mut reader,
        &whole,
        |r, v| r.det_params_mut().max_upscale = v,
        det.max_upscale,
        Rule::Cheapest,
    );
    sweep(
        "refine_regions",
        &[0, 1, 2, 3, 4, 6],
        &mut reader,
        &scenes,
        |r, v| r.refine_regions = v,
        regions,
        Rule::Cheapest,
    );
    sweep(
        "refine_line_px",
        &[32.0, 48.0, 64.0, 80.0, 96.0],
        &mut reader,
        &scenes,
        |r, v| r.refine_line_px = v,
        line_px,
        Rule::Cheapest,
    );
    sweep(
        "max_lines",
        &[4, 6, 8, 12, 16],
        &mut reader,
        &scenes,
        |r, v| r.max_lines = v,
        lines,
        Rule::Cheapest,
    );
    sweep(
        "join_weight",
        &[0.8, 0.9, 0.95, 1.0],
        &mut reader,
        &scenes,
        |r, v| r.join_weight = v,
        join,
        Rule::Best,
    );
    sweep(
        "main_line_weight",
        &[0.25, 0.5, 0.75, 1.0],
        &mut reader,
        &whole,
        |r, v| r.main_line_weight = v,
        main_line,
        Rule::Best,
    );
}
