//! `camplane-fuzz list` names the targets; `camplane-fuzz seeds TARGET DIR`
//! writes its seeds into a corpus directory and `camplane-fuzz dict TARGET
//! FILE` its libFuzzer dictionary (both used by `deploy/fuzz.sh`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let target = |name: &str| {
        camplane_fuzz::target(name).unwrap_or_else(|| {
            eprintln!("camplane-fuzz: no target {name:?} (see `camplane-fuzz list`)");
            std::process::exit(2)
        })
    };
    let done = |r: std::io::Result<()>, what: &str| {
        if let Err(e) = r {
            eprintln!("camplane-fuzz: {what}: {e}");
            std::process::exit(1)
        }
    };
    match args.as_slice() {
        ["list"] => {
            for t in camplane_fuzz::TARGETS {
                println!("{}\t{}", t.name, t.door);
            }
        }
        ["seeds", name, dir] => {
            let t = target(name);
            let dir = std::path::Path::new(dir);
            done(
                std::fs::create_dir_all(dir),
                &format!("creating {}", dir.display()),
            );
            for s in (t.seeds)() {
                let p = dir.join(camplane_fuzz::input_name(t, &s));
                done(std::fs::write(&p, s), &format!("writing {}", p.display()));
            }
        }
        ["dict", name, file] => done(
            std::fs::write(file, camplane_fuzz::dictionary(target(name))),
            &format!("writing {file}"),
        ),
        _ => {
            eprintln!("usage: camplane-fuzz list | seeds TARGET DIR | dict TARGET FILE");
            std::process::exit(2)
        }
    }
}
