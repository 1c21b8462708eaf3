//! Each ALPR model before and after agent/models/quantize, in the same run: the
//! published float graph, its folded graph (what fp32 and mixed run: the same function
//! in fewer passes) and its int8 version; file size and the median CPU time of one call
//! on one core, pre- and post-processing included (what the reader pays per call).
//!
//! `cargo bench -p camplane-agent --bench alpr_models` (env: `CAMPLANE_DATA_DIR`,
//! `CAMPLANE_MODELS`). The input is a 1280x720 frame holding one seg_and_ocr crop of the
//! train split (never us/eu/br), 240 px wide: the detector sees the frame at its
//! shipped size, the recognisers read the crop's area as one line and as a batch of 8.

use camplane_agent::alpr::geom::{Pt, Rgb, RotRect};
use camplane_agent::alpr::models::{self, Precision};
use camplane_agent::alpr::ocr::Ocr;
use camplane_testkit::process::cpu_ms;
use image::{imageops, Rgb as Px, RgbImage};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn seg_dir() -> PathBuf {
    std::env::var_os("CAMPLANE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/alpr"))
        .join("openalpr-benchmarks/seg_and_ocr/usimages")
}

/// prepare.py's split: SHA-256 of the file name, as a number, modulo 5 == 0 is validation.
fn is_validation(name: &str) -> bool {
    Sha256::digest(name.as_bytes())
        .iter()
        .fold(0u32, |r, &b| (r * 256 + b as u32) % 5)
        == 0
}

/// The frame and the crop's rectangle in it.
fn frame() -> (RgbImage, RotRect) {
    let mut names: Vec<String> = std::fs::read_dir(seg_dir())
        .unwrap_or_else(|e| panic!("{}: {e} (set CAMPLANE_DATA_DIR)", seg_dir().display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !is_validation(n))
        .collect();
    names.sort();
    let crop = image::open(seg_dir().join(&names[0]))
        .expect("a seg_and_ocr crop")
        .to_rgb8();
    let w = 240;
    let h = w * crop.height() / crop.width();
    let small = imageops::resize(&crop, w, h, imageops::FilterType::Triangle);
    let mut img = RgbImage::from_pixel(1280, 720, Px([90, 100, 110]));
    let (x, y) = (520i64, 330i64);
    imageops::overlay(&mut img, &small, x, y);
    // The middle third of the crop's height, where its registration is.
    let rect = RotRect {
        c: Pt {
            x: x as f32 + w as f32 / 2.0,
            y: y as f32 + h as f32 / 2.0,
        },
        u: Pt { x: 1.0, y: 0.0 },
        hw: w as f32 * 0.45,
        hh: h as f32 / 6.0,
    };
    (img, rect)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median CPU ms of one call of `f` over `n` samples, after one warm-up call. A sample
/// is enough calls to last about 50 ms: the kernel adds up a thread's CPU time at
/// scheduler ticks (4 ms at 250 Hz), too coarse for a 2 ms call alone.
fn time(n: usize, mut f: impl FnMut()) -> f64 {
    let t = std::time::Instant::now();
    f();
    let once = t.elapsed().as_secs_f64() * 1e3;
    let reps = ((50.0 / once.max(0.01)).ceil() as usize).clamp(1, 1000);
    median(
        (0..n)
            .map(|_| {
                let t = cpu_ms();
                for _ in 0..reps {
                    f();
                }
                (cpu_ms() - t) / reps as f64
            })
            .collect(),
    )
}

fn main() {
    let dir = models::resolve_dir(None);
    models::verify(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (img, rect) = frame();
    let rgb = Rgb {
        w: img.width() as usize,
        h: img.height() as usize,
        data: img.as_raw(),
    };
    let eight = vec![rect; 8];
    let n = 21;
    let mut rows: Vec<(&str, [f64; 3], [f64; 3])> = vec![
        ("PP-OCRv4 detector, 1280x720 frame", [0.0; 3], [0.0; 3]),
        ("PP-OCRv4 recogniser, 1 line", [0.0; 3], [0.0; 3]),
        ("PP-OCRv4 recogniser, 8 lines", [0.0; 3], [0.0; 3]),
        ("plate reader, 1 line", [0.0; 3], [0.0; 3]),
        ("plate reader, 8 lines", [0.0; 3], [0.0; 3]),
    ];
    // The published float graphs (before anything of ours), the folded ones fp32 and
    // mixed run, and the int8 ones.
    let published = models::ModelSet {
        first_det: models::DET,
        det: models::DET,
        rec: models::REC,
    };
    let columns = [
        (published, false),
        (models::files(Precision::Fp32), false),
        (models::files(Precision::Int8), true),
    ];
    for (k, (set, int8_plate)) in columns.into_iter().enumerate() {
        let mut ocr = Ocr::load_set(&dir, set, int8_plate).unwrap_or_else(|e| panic!("{e}"));
        let (det, rec) = (set.det, set.rec);
        let size = |f: &models::ModelFile| {
            std::fs::metadata(dir.join(f.name)).map_or(0.0, |m| m.len() as f64 / 1e6)
        };
        let plate_size = if int8_plate {
            include_bytes!("../models/plate-reader/plate_reader_int8.onnx").len()
        } else {
            include_bytes!("../models/plate-reader/plate_reader.onnx").len()
        } as f64
            / 1e6;
        let sizes = [size(&det), size(&rec), size(&rec), plate_size, plate_size];
        let times = [
            time(n, || drop(ocr.detect(&rgb).unwrap())),
            time(n, || drop(ocr.recognize(&rgb, &[rect]).unwrap())),
            time(n, || drop(ocr.recognize(&rgb, &eight).unwrap())),
            time(n, || drop(ocr.read_plates(&rgb, &[rect]).unwrap())),
            time(n, || drop(ocr.read_plates(&rgb, &eight).unwrap())),
        ];
        for (row, (s, t)) in rows.iter_mut().zip(sizes.iter().zip(times)) {
            row.1[k] = *s;
            row.2[k] = t;
        }
    }
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "model, call",
        "pub. MB",
        "fp32 MB",
        "int8 MB",
        "pub. ms",
        "fp32 ms",
        "int8 ms",
        "fp32/p",
        "int8/p"
    );
    for (name, s, t) in rows {
        println!(
            "{name:<36} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>9.2} {:>9.2} {:>7.2} {:>7.2}",
            s[0],
            s[1],
            s[2],
            t[0],
            t[1],
            t[2],
            t[1] / t[0],
            t[2] / t[0]
        );
    }
    println!(
        "(pub.: the published float graphs; fp32: the folded ones fp32 and mixed run; \
         the plate reader is ours, the same float model in both)"
    );
    println!("(median CPU ms per call over {n} samples, one intra-op thread, same run)");
}
