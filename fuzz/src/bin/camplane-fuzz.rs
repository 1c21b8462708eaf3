//! `camplane-fuzz [TARGET|all] [--seconds N] [--seed S] [--corpus DIR] [--out DIR]`:
//! runs fuzz targets (see the crate doc); exit 1 if any input panicked, and
//! each such input is written to `--out` (default `fuzz/findings`).

use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut which = "all".to_string();
    let (mut seconds, mut seed, mut corpus, mut out) =
        (30u64, 1u64, None::<PathBuf>, PathBuf::from("fuzz/findings"));
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("camplane-fuzz: {name} needs a value");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--seconds" => seconds = value("--seconds").parse().unwrap_or(30),
            "--seed" => seed = value("--seed").parse().unwrap_or(1),
            "--corpus" => corpus = Some(value("--corpus").into()),
            "--out" => out = value("--out").into(),
            "--list" => {
                for t in camplane_fuzz::TARGETS {
                    println!("{:<18} {}", t.name, t.door);
                }
                return;
            }
            _ if !a.starts_with('-') => which = a,
            _ => {
                eprintln!("camplane-fuzz: unknown option {a} (see --list)");
                std::process::exit(2)
            }
        }
    }
    let targets: Vec<_> = camplane_fuzz::TARGETS
        .iter()
        .filter(|t| which == "all" || t.name == which)
        .collect();
    if targets.is_empty() {
        eprintln!("camplane-fuzz: no target {which:?} (see --list)");
        std::process::exit(2);
    }
    let mut failed = false;
    for t in targets {
        let dir = corpus.as_ref().map(|d| d.join(t.name));
        let extra = dir
            .as_ref()
            .and_then(|d| std::fs::read_dir(d).ok())
            .into_iter()
            .flatten()
            .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
            .collect();
        let r = camplane_fuzz::fuzz(t, Duration::from_secs(seconds), seed, extra);
        println!(
            "{:<18} {:>9} execs in {seconds} s, {:>4} outcome classes, corpus {:>4}, slowest {:.1} ms, {} panics",
            t.name,
            r.execs,
            r.classes,
            r.corpus,
            r.slowest.as_secs_f64() * 1e3,
            r.crashes.len()
        );
        if let Some(d) = &dir {
            let _ = std::fs::create_dir_all(d);
            for input in &r.learned {
                let _ = std::fs::write(d.join(camplane_fuzz::finding_name(t, input)), input);
            }
        }
        for (msg, input) in &r.crashes {
            failed = true;
            let _ = std::fs::create_dir_all(&out);
            let path = out.join(camplane_fuzz::finding_name(t, input));
            let _ = std::fs::write(&path, input);
            println!("  PANIC {msg:?}: input in {}", path.display());
        }
        for input in &r.slow {
            let _ = std::fs::create_dir_all(&out);
            let path = out.join(format!("slow-{}", camplane_fuzz::finding_name(t, input)));
            let _ = std::fs::write(&path, input);
            println!("  SLOW input in {}", path.display());
        }
    }
    if failed {
        std::process::exit(1);
    }
}
