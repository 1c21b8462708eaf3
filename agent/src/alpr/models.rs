//! Where the ALPR model files live and how they are checked.
//!
//! `deploy/fetch-models.sh` takes them, pinned by version and SHA-256, out of the PyPI
//! wheels `rapidocr-onnxruntime==1.4.4` (PP-OCRv4 detection and recognition) and
//! `onnxruntime==1.31.1` (`libonnxruntime.so`, loaded at run time). The sums below must
//! match the script's.
//!
//! The int8 versions of the two PP-OCRv4 models are made from those by
//! `agent/models/quantize/quantize.py` with the committed calibration ranges (the
//! script runs it in a virtual environment of pinned wheels and checks the sums below);
//! the plate reader's int8 version is committed beside its float one.

use super::AlprError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One file the reader needs, with its pinned SHA-256.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    /// File name inside the models directory.
    pub name: &'static str,
    /// Expected SHA-256, lower-case hex.
    pub sha256: &'static str,
}

/// PP-OCRv4 text detection (DB), from rapidocr-onnxruntime 1.4.4.
pub const DET: ModelFile = ModelFile {
    name: "ch_PP-OCRv4_det_infer.onnx",
    sha256: "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
};
/// PP-OCRv4 text recognition (CTC; character table in metadata key `character`).
pub const REC: ModelFile = ModelFile {
    name: "ch_PP-OCRv4_rec_infer.onnx",
    sha256: "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
};
/// ONNX Runtime 1.31.1 shared library, from the onnxruntime wheel.
pub const ORT_LIB: ModelFile = ModelFile {
    name: "libonnxruntime.so",
    sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
};

/// [`DET`] quantised to int8 (agent/models/quantize, by deploy/fetch-models.sh).
pub const DET_INT8: ModelFile = ModelFile {
    name: "ch_PP-OCRv4_det_infer_int8.onnx",
    sha256: "ed9b7a0deffe8d7f69fc9015e093769cdfc0e016bd9826401a03d894e13f9130",
};
/// [`REC`] quantised to int8 (agent/models/quantize, by deploy/fetch-models.sh).
pub const REC_INT8: ModelFile = ModelFile {
    name: "ch_PP-OCRv4_rec_infer_int8.onnx",
    sha256: "a3d49fdb907f143e4fc8fbbab00d54ab96103793670425ac527d8f3a249ce52b",
};

/// [`DET`]'s graph simplified, float in and float out (agent/models/quantize, step 3,
/// by deploy/fetch-models.sh): PP-LCNetV3's scalar affine blocks folded into the
/// convolutions and `x * clip(x + 3, 0, 6) / 6` written as one `HardSwish`. The same
/// function (outputs within 6e-7 of the published graph's on random inputs), in fewer
/// passes over memory: 75 against 94 ms at 832x480 (profile of 2026-12-05, one thread).
pub const DET_FOLDED: ModelFile = ModelFile {
    name: "ch_PP-OCRv4_det_infer_folded.onnx",
    sha256: "e052cb0b20e7b174ab4ccd9d3cb0f8817d461bbb2182f26a6707669b17913ee1",
};
/// [`REC`]'s graph simplified as [`DET_FOLDED`]: probabilities within 3e-6 of the
/// published graph's on random inputs, 12.4 against 16.3 ms at 48x240.
pub const REC_FOLDED: ModelFile = ModelFile {
    name: "ch_PP-OCRv4_rec_infer_folded.onnx",
    sha256: "1d006becb84ecb44d312e1b467fb30c4e88098182361ca754978cc2aab8f2ebb",
};

/// Everything [`verify`] checks.
pub const ALL: [ModelFile; 7] = [
    DET, REC, ORT_LIB, DET_INT8, REC_INT8, DET_FOLDED, REC_FOLDED,
];

/// Which versions of the models read plates (config `alpr_precision`, `--precision`).
pub use camplane_config::agent::AlprPrecision as Precision;

/// The files a precision runs: the detector of the first look (the whole image, or the
/// window where something moved), the detector of the closer looks (refine, second
/// look: the boxes that are read) and the general recogniser.
#[derive(Debug, Clone, Copy)]
pub struct ModelSet {
    /// The first look's detector.
    pub first_det: ModelFile,
    /// The closer looks' detector.
    pub det: ModelFile,
    /// The general recogniser.
    pub rec: ModelFile,
}

/// The model files of a precision.
pub fn files(precision: Precision) -> ModelSet {
    let (first_det, det, rec) = match precision {
        // The float models run folded: the published function, in fewer passes.
        Precision::Fp32 => (DET_FOLDED, DET_FOLDED, REC_FOLDED),
        Precision::Int8 => (DET_INT8, DET_INT8, REC_INT8),
        // The first look is most of the detector's time (a 1280x720 frame at 832x480
        // against windows of about 83,000 pixels); the closer looks place the boxes
        // the recognisers read.
        Precision::Mixed => (DET_INT8, DET_FOLDED, REC_FOLDED),
    };
    ModelSet {
        first_det,
        det,
        rec,
    }
}

/// The default when nothing is configured: mixed (issue 21: int8 the default only if
/// accuracy holds). Mixed runs the int8 detector for the first look (the whole frame,
/// or the windows where something moved), the float detector for the closer looks that
/// place the boxes read and wherever the int8 first look is blank, and the float
/// recognisers. It read as fp32 did in every count, run of 2026-12-05 (release
/// `camplane-agent alpr eval`, one thread):
/// - held out first (`alpr_derive`'s four sets of seg_and_ocr validation images,
///   `ALPR_DERIVE_SAVE`): 330 of 640 exact, as fp32;
/// - then measured, exact and located: us 88 and 107 of 111 (fp32 88 and 106), eu 98
///   of 108 and br 52 of 57 (both as fp32), at 0.73x fp32's median time on us (111
///   against 152 ms);
/// - the dim 60x20 plate of `tests/alpr_small.rs`, where the int8 map is blank: read,
///   by the float look again (`Reader::detect_first`).
///
/// In video (`alpr_video`, 4 cameras, 2026-12-05 after the sessions came to share one
/// arena): 0.493 cores against fp32's 0.514, 48 of 48 plates read once by both, peak
/// 230.8 MB against 232.6. Before the shared arena the second detector session took
/// mixed's peak to 297 MB, over issue 21's 250, and fp32 stayed the default.
/// `alpr_precision: fp32` runs the published models alone (folded: the same function);
/// int8 everywhere lost 9 held-out reads (agent/models/quantize/README.md).
///
/// Since the float models run folded ([`DET_FOLDED`], [`REC_FOLDED`]; 2026-12-05), every
/// read is unchanged (held out 330 of 640 for both, us/eu/br as above) and the float
/// parts cost less: `--bench alpr` us median fp32 132 ms, mixed 106 ms, RapidOCR 385 ms
/// in the same run (ratios 0.34 and 0.27, from 0.43 and 0.29).
pub const SHIPPED_PRECISION: Precision = Precision::Mixed;

/// The models directory: `explicit` (from `--models`), else `$CAMPLANE_MODELS`, else
/// `.models` in the current directory or one of its parents (a checkout), else
/// `/var/lib/camplane/models`.
pub fn resolve_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("CAMPLANE_MODELS").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    // The checkout this binary was built from (tests and benches run from agent/).
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for root in roots {
        for dir in root.ancestors() {
            let cand = dir.join(".models");
            if cand.join(DET.name).exists() {
                return cand;
            }
        }
    }
    PathBuf::from("/var/lib/camplane/models")
}

/// Checks that `dir/file.name` exists and has the pinned SHA-256; returns its path.
pub fn verify_file(dir: &Path, file: &ModelFile) -> Result<PathBuf, AlprError> {
    let path = dir.join(file.name);
    let bytes = std::fs::read(&path).map_err(|e| AlprError::ModelMissing {
        path: path.clone(),
        sha256: file.sha256,
        reason: e.to_string(),
    })?;
    let got = hex::encode(Sha256::digest(&bytes));
    if got != file.sha256 {
        return Err(AlprError::ModelCorrupt {
            path,
            sha256: file.sha256,
            got,
        });
    }
    Ok(path)
}

/// Verifies every file in [`ALL`].
pub fn verify(dir: &Path) -> Result<(), AlprError> {
    for f in &ALL {
        verify_file(dir, f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_precision_has_its_own_pinned_files() {
        let names = |p| {
            let m = files(p);
            (m.first_det.name, m.det.name, m.rec.name)
        };
        assert_eq!(
            names(Precision::Fp32),
            (DET_FOLDED.name, DET_FOLDED.name, REC_FOLDED.name)
        );
        assert_eq!(
            names(Precision::Int8),
            (DET_INT8.name, DET_INT8.name, REC_INT8.name)
        );
        assert_eq!(
            names(Precision::Mixed),
            (DET_INT8.name, DET_FOLDED.name, REC_FOLDED.name),
            "int8 for the first look only"
        );
        for f in ALL {
            assert_eq!(f.sha256.len(), 64, "{}", f.name);
            assert!(
                f.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                f.name
            );
        }
    }
}
