//! Placement benchmark on the real Vracar data (plain std timing, medians).
//! Streets + parks (as city property) + the synthetic residential strips
//! (loaded with explicit repair: 17 of its rings are bow-ties).
//! Run: cargo bench -p camplane-placement

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use camplane_placement::{
    check, check_bruteforce, InvalidPolygons, LayerKind, LayerSet, Layers, Purpose, Request, Rules,
    View,
};

fn data(rel: &str) -> Vec<u8> {
    let dir = match std::env::var_os("CAMPLANE_DATA_DIR") {
        Some(d) => PathBuf::from(d).join("gis"),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/gis"
        )),
    };
    let p = dir.join(rel);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "GIS data missing at {} ({e}); set CAMPLANE_DATA_DIR",
            p.display()
        )
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn rate(
    layers: &Layers,
    rules: &Rules,
    reqs: &[Request],
    f: fn(&Layers, &Rules, &Request) -> camplane_placement::Answer,
    runs: usize,
) -> f64 {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        for r in reqs {
            black_box(f(layers, rules, r));
        }
        times.push(t.elapsed());
    }
    reqs.len() as f64 / median(times).as_secs_f64()
}

fn main() {
    let streets = data("vracar/streets.geojson");
    let parks = data("vracar/parks.geojson");
    let residential = data("vracar/residential_synthetic.geojson");
    let rules = Rules::default();

    let load_times: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let mut set = LayerSet::new();
            set.add_file(LayerKind::Streets, "vracar/streets.geojson", &streets)
                .expect("streets load");
            black_box(set.build(&rules));
            t.elapsed()
        })
        .collect();
    println!(
        "street layer load (parse + validate + classify + project + index), median of 5: {:.1} ms",
        median(load_times).as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let mut set = LayerSet::new();
    set.add_file(LayerKind::Streets, "streets", &streets)
        .expect("streets");
    set.add_file(LayerKind::CityProperty, "parks", &parks)
        .expect("parks");
    set.add_file_with(
        LayerKind::Residential,
        "residential",
        &residential,
        InvalidPolygons::Repair,
    )
    .expect("residential");
    let layers = set.build(&rules);
    println!(
        "all layers load: {:.1} ms ({} streets kept)",
        t.elapsed().as_secs_f64() * 1e3,
        layers.streets.len()
    );

    // Random points in the data's bounding box (lon 20.455..20.49, lat 44.79..44.81 roughly: taken from the streets).
    let doc: serde_json::Value = serde_json::from_slice(&streets).expect("json");
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for f in doc["features"].as_array().expect("features") {
        for c in f["geometry"]["coordinates"].as_array().expect("coords") {
            let (x, y) = (c[0].as_f64().unwrap_or(0.0), c[1].as_f64().unwrap_or(0.0));
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    let mut rng = Rng(0x5eed);
    let reqs: Vec<Request> = (0..2000)
        .map(|k| {
            let mut r = Request::new(
                format!("b{k}"),
                y0 + (y1 - y0) * rng.f(),
                x0 + (x1 - x0) * rng.f(),
                Purpose::PersonalSafety,
            );
            if k % 2 == 0 {
                r.view = Some(View {
                    heading_deg: 360.0 * rng.f(),
                    fov_deg: 30.0 + 120.0 * rng.f(),
                    range_m: 20.0 + 60.0 * rng.f(),
                });
            }
            r
        })
        .collect();
    for r in reqs.iter().take(200) {
        assert_eq!(
            check(&layers, &rules, r),
            check_bruteforce(&layers, &rules, r)
        );
    }
    let indexed = rate(&layers, &rules, &reqs, check, 7);
    let brute = rate(&layers, &rules, &reqs[..400], check_bruteforce, 3);
    let no_view: Vec<Request> = reqs.iter().filter(|r| r.view.is_none()).cloned().collect();
    let with_view: Vec<Request> = reqs.iter().filter(|r| r.view.is_some()).cloned().collect();
    println!("bbox lon {x0:.4}..{x1:.4} lat {y0:.4}..{y1:.4}; 2000 points, half with a view");
    println!("indexed:     {indexed:>10.0} checks/s (single thread, median of 7)");
    println!(
        "  without view {:>8.0} checks/s, with view {:>8.0} checks/s",
        rate(&layers, &rules, &no_view, check, 5),
        rate(&layers, &rules, &with_view, check, 5)
    );
    println!("brute force: {brute:>10.0} checks/s (first 400 of the same points, median of 3)");
    println!("ratio indexed / brute force: {:.1}x", indexed / brute);
}
