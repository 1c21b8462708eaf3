//! Small plates (issue 21): a plate too small for the whole-image look, rendered by
//! FFmpeg in a 1280x720 frame, is found by the second, closer look; a frame without a
//! plate gets no read from it. Needs the models (`deploy/fetch-models.sh`), FFmpeg and
//! fonts-dejavu-core; fails, never skips, without them.

use camplane_agent::alpr::eval::{self, Label};
use camplane_agent::alpr::plate::Region;
use camplane_agent::alpr::{models, Reader};
use std::path::Path;
use std::process::Command;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

fn reader() -> Reader {
    let dir = models::resolve_dir(None);
    if let Err(e) = models::verify(&dir) {
        panic!(
            "ALPR models not ready in {}: {e}\nrun deploy/fetch-models.sh",
            dir.display()
        );
    }
    Reader::load(&dir, Region::Any).unwrap_or_else(|e| panic!("{e}"))
}

/// A 1280x720 grey street-like frame (noise over a gradient) with, when `plate` is
/// given, a light grey plate box `w x h` at `(x, y)` holding the text in mid grey (a
/// dirty plate at dusk), `font_px` high; then a lens blur of a pixel and sensor noise;
/// written as a PNG to `out`.
fn render(out: &Path, plate: Option<(&str, u32, u32, u32, u32, u32)>) {
    let mut vf = String::from("geq=lum='80+60*Y/H+random(1)*20':cb=128:cr=128,format=rgb24");
    if let Some((text, x, y, w, h, font_px)) = plate {
        vf += &format!(
            ",drawbox=x={x}:y={y}:w={w}:h={h}:color=0xc8c8c8:t=fill,\
             drawtext=fontfile={FONT}:text={text}:fontsize={font_px}:fontcolor=0x707070:\
             x={x}+({w}-text_w)/2:y={y}+({h}-text_h)/2"
        );
    }
    vf += ",gblur=sigma=1.0,noise=alls=12";
    let st = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("color=c=gray:s=1280x720:d=1")
        .args(["-vf", &vf, "-frames:v", "1"])
        .arg(out)
        .status()
        .expect("ffmpeg (apt-get install ffmpeg)");
    assert!(st.success(), "ffmpeg could not render {}", out.display());
}

fn read(reader: &mut Reader, path: &Path) -> Vec<camplane_agent::alpr::PlateRead> {
    reader.read_path(path).unwrap_or_else(|e| panic!("{e}"))
}

/// The frame of [`a_small_plate_in_a_large_frame_is_found_by_the_second_look`], written
/// to `dir/small.png`, and its label.
fn dim_small_plate(dir: &Path) -> (std::path::PathBuf, Label) {
    let img = dir.join("small.png");
    let (x, y, w, h) = (700, 420, 60, 20);
    render(&img, Some(("KRT4825", x, y, w, h, 10)));
    let label = Label {
        image: "small.png".into(),
        bbox: [x as i64, y as i64, w as i64, h as i64],
        plate: "KRT4825".into(),
    };
    (img, label)
}

/// A 60x20 plate with 7-px-high characters (font 10 px: DejaVu Sans Bold's capitals
/// are 0.73 of its size), dim and blurred, in a 1280x720 frame: the whole-image look
/// sees it at 0.65x, characters of under 5 px, and misses it.
#[test]
fn a_small_plate_in_a_large_frame_is_found_by_the_second_look() {
    let dir = tempfile::tempdir().unwrap();
    let (img, label) = dim_small_plate(dir.path());
    let mut r = reader();
    let plates = read(&mut r, &img);
    let o = eval::score(&label, &plates);
    assert!(o.located, "the small plate is not located: {plates:?}");
    assert!(o.hit, "the small plate is misread: {plates:?}");
    // Without the second look the whole-image look alone misses it: the second look is
    // what finds it.
    r.second_look.regions = 0;
    let plates = read(&mut r, &img);
    assert!(
        !eval::score(&label, &plates).hit,
        "found without the second look: the frame does not test it ({plates:?})"
    );
}

/// Mixed precision runs the int8 detector for the first look, and its map of this dim
/// frame is blank (0.00 everywhere, where fp32's reaches 0.73 on the plate): the blank
/// first look is seen again by the float detector, so mixed reads the plate as fp32 does.
#[test]
fn a_blank_int8_first_look_is_seen_again_by_the_float_detector() {
    let dir = tempfile::tempdir().unwrap();
    let (img, label) = dim_small_plate(dir.path());
    let models = models::resolve_dir(None);
    let mut mixed = Reader::load_with(&models, Region::Any, models::Precision::Mixed)
        .unwrap_or_else(|e| panic!("{e}"));
    let plates = read(&mut mixed, &img);
    let o = eval::score(&label, &plates);
    assert!(o.located && o.hit, "mixed misses the dim plate: {plates:?}");
}

/// The second look adds nothing the plate reader does not vouch for: a frame of noise
/// alone gets no plate.
#[test]
fn a_frame_without_a_plate_gets_no_read() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("empty.png");
    render(&img, None);
    let plates = read(&mut reader(), &img);
    assert!(plates.is_empty(), "{plates:?}");
}
