//! Scoring against OpenALPR-benchmark folders, exactly as `shared/checks/alpr_score.py`:
//! a hit is when, among the reads whose box overlaps the labelled box, the most
//! confident one has the label's text (upper case, letters and digits, no O/0 folding).

use super::{plate::normalize, AlprError, PlateRead, Reader};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Labels known to be wrong upstream (openalpr/benchmarks issue 6); scored as written,
/// reported apart. Exactly the list in `../shared/data/alpr/README.md` (EU, then US), which
/// a unit test checks.
pub const KNOWN_WRONG_LABELS: &[&str] = &[
    "OYO9FEU", "RK3OOAG", "RK6O5AB", "RKO26AJ", "RKO82AL", "RKO99AN", "59E21P1", "5DJ0529", "853FL",
];

/// One labelled image: `image x y w h PLATE` (TAB-separated) in `NAME.txt`.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Image file name, relative to the folder.
    pub image: String,
    /// Plate box `[x, y, w, h]`.
    pub bbox: [i64; 4],
    /// Normalised plate text.
    pub plate: String,
}

/// Parses one label line; `None` when it has fewer than six fields or bad numbers.
pub fn parse_label(line: &str) -> Option<Label> {
    let parts: Vec<&str> = line.trim().split('\t').collect();
    if parts.len() < 6 {
        return None;
    }
    let n = |s: &str| s.trim().parse::<i64>().ok();
    Some(Label {
        image: parts[0].to_string(),
        bbox: [n(parts[1])?, n(parts[2])?, n(parts[3])?, n(parts[4])?],
        plate: normalize(parts[5]),
    })
}

/// The labels of a folder, in the order of their `.txt` file names.
pub fn load_labels(dir: &Path) -> std::io::Result<Vec<Label>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        if let Some(l) = parse_label(&std::fs::read_to_string(&p)?) {
            out.push(l);
        }
    }
    Ok(out)
}

/// How one image scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// A read overlapped the labelled box.
    pub located: bool,
    /// The most confident overlapping read is the label's text.
    pub hit: bool,
    /// That read's text, if any.
    pub read: Option<String>,
}

/// Scores one image's reads against its label.
pub fn score(label: &Label, plates: &[PlateRead]) -> Outcome {
    let [x, y, w, h] = label.bbox;
    let mut best: Option<&PlateRead> = None;
    for p in plates {
        let [bx, by, bw, bh] = p.bbox;
        if bx < x + w
            && x < bx + bw
            && by < y + h
            && y < by + bh
            && best.is_none_or(|b| p.confidence > b.confidence)
        {
            best = Some(p);
        }
    }
    match best {
        None => Outcome {
            located: false,
            hit: false,
            read: None,
        },
        Some(b) => {
            let t = normalize(&b.text);
            Outcome {
                located: true,
                hit: t == label.plate,
                read: Some(t),
            }
        }
    }
}

/// Upper median, as the Python scorer takes it (`sorted(ms)[len // 2]`).
pub fn median(ms: &[f64]) -> f64 {
    if ms.is_empty() {
        return f64::NAN;
    }
    let mut v = ms.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// One JSON line of `alpr read --json`.
pub fn json_line(
    image: &str,
    result: &Result<Vec<PlateRead>, AlprError>,
    elapsed_ms: f64,
) -> String {
    let ms = (elapsed_ms * 10.0).round() / 10.0;
    let v = match result {
        Ok(plates) => serde_json::json!({"image": image, "plates": plates, "elapsed_ms": ms}),
        Err(e) => {
            serde_json::json!({"image": image, "plates": [], "error": e.to_string(), "elapsed_ms": ms})
        }
    };
    v.to_string()
}

/// One image's row group in the table `alpr read` prints without `--json`.
pub struct TableImage<'a> {
    /// The image as given on the command line.
    pub image: &'a str,
    /// Its reads, or why it could not be read.
    pub result: &'a Result<Vec<PlateRead>, AlprError>,
    /// Milliseconds spent on it (decode included).
    pub elapsed_ms: f64,
}

/// The readable form of `alpr read`: a header, then one row per plate read (most
/// confident first) with the image, plate, confidence, box `x,y,w,h` and milliseconds,
/// columns aligned. An image with no plate gets a row of `-`; an image that could not
/// be read gets `-` and the error after the last column.
pub fn table(images: &[TableImage<'_>]) -> String {
    let mut rows: Vec<([String; 5], Option<String>)> = Vec::new();
    for i in images {
        let ms = format!("{:.1}", i.elapsed_ms);
        let dash = || "-".to_string();
        match i.result {
            Ok(plates) if !plates.is_empty() => {
                for p in plates {
                    let [x, y, w, h] = p.bbox;
                    rows.push((
                        [
                            i.image.to_string(),
                            p.text.clone(),
                            format!("{:.4}", p.confidence),
                            format!("{x},{y},{w},{h}"),
                            ms.clone(),
                        ],
                        None,
                    ));
                }
            }
            Ok(_) => rows.push(([i.image.to_string(), dash(), dash(), dash(), ms], None)),
            Err(e) => rows.push((
                [i.image.to_string(), dash(), dash(), dash(), ms],
                Some(format!("error: {e}")),
            )),
        }
    }
    let header = ["IMAGE", "PLATE", "CONFIDENCE", "BOX", "MS"].map(str::to_string);
    let mut width = header.clone().map(|h| h.len());
    for (cells, _) in &rows {
        for (w, c) in width.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    // Numbers right-aligned, text left-aligned.
    let right = [false, false, true, false, true];
    let mut out = String::new();
    for (cells, note) in std::iter::once((&header, &None)).chain(rows.iter().map(|(c, n)| (c, n))) {
        let mut line = String::new();
        for (k, c) in cells.iter().enumerate() {
            if k > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(width[k] - c.chars().count());
            if right[k] {
                line.push_str(&pad);
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&pad);
            }
        }
        if let Some(n) = note {
            line.push_str("  ");
            line.push_str(n);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Reads an image file and times it (decode included).
pub fn timed_read(reader: &mut Reader, path: &Path) -> (Result<Vec<PlateRead>, AlprError>, f64) {
    let t = Instant::now();
    let r = reader.read_path(path);
    (r, t.elapsed().as_secs_f64() * 1e3)
}

/// Per folder figures.
#[derive(Debug, Clone, Default)]
pub struct FolderScore {
    /// Folder name (its last path component).
    pub region: String,
    /// Images scored.
    pub seen: usize,
    /// Read exactly.
    pub hit: usize,
    /// Located (some read overlapped the box).
    pub located: usize,
    /// Milliseconds per image.
    pub ms: Vec<f64>,
    /// `region/image: read X want Y` lines.
    pub misses: Vec<String>,
}

impl FolderScore {
    /// Exact-read share, percent.
    pub fn exact_pct(&self) -> f64 {
        100.0 * self.hit as f64 / self.seen.max(1) as f64
    }
}

/// Reads every labelled image of `dir` and scores it; `limit` caps the images (first N).
pub fn eval_folder(
    reader: &mut Reader,
    dir: &Path,
    limit: Option<usize>,
) -> std::io::Result<FolderScore> {
    let labels = load_labels(dir)?;
    let region = dir
        .components()
        .next_back()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s = FolderScore {
        region: region.clone(),
        ..Default::default()
    };
    for label in labels.iter().take(limit.unwrap_or(usize::MAX)) {
        let (r, ms) = timed_read(reader, &dir.join(&label.image));
        s.seen += 1;
        s.ms.push(ms);
        let plates = r.unwrap_or_default();
        let o = score(label, &plates);
        s.located += o.located as usize;
        s.hit += o.hit as usize;
        if !o.hit {
            let mark = if KNOWN_WRONG_LABELS.contains(&label.plate.as_str()) {
                " (label known wrong upstream)"
            } else {
                ""
            };
            s.misses.push(match o.read {
                Some(t) => format!(
                    "{region}/{}: read {t} want {}{mark}",
                    label.image, label.plate
                ),
                None => format!(
                    "{region}/{}: no plate at the label's box (want {}){mark}",
                    label.image, label.plate
                ),
            });
        }
    }
    Ok(s)
}

/// The report `alpr eval` prints: misses, per folder lines, then the overall line.
pub fn report(scores: &[FolderScore]) -> String {
    let mut out = String::new();
    for s in scores {
        for m in &s.misses {
            out.push_str(&format!("miss {m}\n"));
        }
    }
    let mut all_ms = Vec::new();
    let (mut seen, mut hit, mut located) = (0, 0, 0);
    for s in scores {
        out.push_str(&format!(
            "{}: exact {}/{} = {:.1}%, located {}/{}, median {:.0} ms/image\n",
            s.region,
            s.hit,
            s.seen,
            s.exact_pct(),
            s.located,
            s.seen,
            median(&s.ms)
        ));
        seen += s.seen;
        hit += s.hit;
        located += s.located;
        all_ms.extend_from_slice(&s.ms);
    }
    out.push_str(&format!(
        "alpr: exact {hit}/{seen} = {:.1}%, located {:.1}%, median {:.0} ms/image\n",
        100.0 * hit as f64 / seen.max(1) as f64,
        100.0 * located as f64 / seen.max(1) as f64,
        median(&all_ms)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The labels the data README lists as known wrong upstream: the paragraph that
    /// starts "Labels known to be wrong upstream", after its last colon, as
    /// `REGION LABEL...` groups separated by `;` and ended by `.`.
    fn readme_wrong_labels(readme: &str) -> Vec<String> {
        let start = readme
            .find("Labels known to be wrong upstream")
            .expect("the data README has a \"Labels known to be wrong upstream\" paragraph");
        let para = readme[start..].split("\n\n").next().unwrap_or_default();
        let list = para.rsplit(':').next().unwrap_or_default();
        list.trim()
            .trim_end_matches('.')
            .split(';')
            .flat_map(|group| group.split_whitespace().skip(1))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn known_wrong_labels_are_exactly_the_data_readmes() {
        // The workspace root's sibling `shared/`, as the README and the other tests say.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/alpr/README.md");
        let readme = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the data README {} is needed to check KNOWN_WRONG_LABELS: {e}",
                path.display()
            )
        });
        let mut want = readme_wrong_labels(&readme);
        assert!(!want.is_empty(), "no labels found in {}", path.display());
        let mut have: Vec<String> = KNOWN_WRONG_LABELS.iter().map(|s| s.to_string()).collect();
        want.sort();
        have.sort();
        assert_eq!(have, want, "KNOWN_WRONG_LABELS against {}", path.display());
    }

    #[test]
    fn table_aligns_columns_and_shows_empty_and_failed_images() {
        let read = |text: &str, confidence, bbox| PlateRead {
            text: text.into(),
            confidence,
            bbox,
        };
        let two = Ok(vec![
            read("ABC1234", 0.9512, [412, 380, 120, 40]),
            read("ABC1Z34", 0.41, [412, 380, 120, 40]),
        ]);
        let none = Ok(Vec::new());
        let bad = Err(AlprError::BadImage(
            "notes.jpg: not a JPEG or PNG image".into(),
        ));
        let t = table(&[
            TableImage {
                image: "a/car1.jpg",
                result: &two,
                elapsed_ms: 143.26,
            },
            TableImage {
                image: "car2.jpg",
                result: &none,
                elapsed_ms: 9.0,
            },
            TableImage {
                image: "notes.jpg",
                result: &bad,
                elapsed_ms: 0.04,
            },
        ]);
        let want = "\
IMAGE       PLATE    CONFIDENCE  BOX                MS
a/car1.jpg  ABC1234      0.9512  412,380,120,40  143.3
a/car1.jpg  ABC1Z34      0.4100  412,380,120,40  143.3
car2.jpg    -                 -  -                 9.0
notes.jpg   -                 -  -                 0.0  error: bad image: notes.jpg: not a JPEG or PNG image
";
        assert_eq!(t, want, "\n{t}");
    }

    #[test]
    fn readme_list_is_parsed_by_region_groups() {
        let text =
            "intro\n\nLabels known to be wrong upstream (issue 6), mostly O/0;\nscore them: \
                    EU AB1 CD2; US 3EF.\n\nnext";
        assert_eq!(readme_wrong_labels(text), ["AB1", "CD2", "3EF"]);
    }
}
