use camplane_agent::alpr::geom::{self, Rgb};
use camplane_agent::alpr::ocr::Ocr;
use camplane_agent::alpr::models;

fn main() {
    let dir = models::resolve_dir(None);
    let mut ocr = Ocr::load(&dir).unwrap();
    let d = "/work/shared/data/alpr/openalpr-benchmarks/us/";
    for f in std::env::args().skip(1) {
        let lab = std::fs::read_to_string(format!("{d}{f}.txt")).unwrap();
        let p: Vec<&str> = lab.trim().split('\t').collect();
        let b: Vec<f32> = p[1..5].iter().map(|v| v.parse().unwrap()).collect();
        let img = image::open(format!("{d}{}", p[0])).unwrap().to_rgb8();
        let rgb = Rgb { w: img.width() as usize, h: img.height() as usize, data: img.as_raw() };
        for (ls, th, bt) in [(832usize, 0.3f32, 0.5f32), (832, 0.15, 0.25), (832, 0.05, 0.1), (1280, 0.3, 0.5), (1664, 0.3, 0.5)] {
            ocr.det_params.long_side = ls;
            ocr.det_params.thresh = th;
            ocr.det_params.box_thresh = bt;
            let boxes = ocr.detect(&rgb).unwrap();
            let near: Vec<String> = boxes.iter().filter_map(|t| {
                let (x0, y0, x1, y1) = geom::bounds(&t.rect.corners());
                if x1 > b[0] - b[2] && x0 < b[0] + 2.0 * b[2] && y1 > b[1] - b[3] && y0 < b[1] + 2.0 * b[3] {
                    Some(format!("[{x0:.0} {y0:.0} {:.0}x{:.0} h{:.1} s{:.2}]", x1 - x0, y1 - y0, t.rect.height(), t.score))
                } else { None }
            }).collect();
            println!("{f} {:?} ls{ls} th{th} bt{bt}: {} boxes, near: {}", b, boxes.len(), near.join(" "));
        }
    }
}
