//! The controller's wings (folders of controller/src) import each other without
//! circles, core imports no wing (wings keep their state through
//! `Controller::wing`), and no wing calls a door (`api`, `console`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const WINGS: [&str; 13] = [
    "core",
    "registry",
    "approvals",
    "fleet",
    "alpr",
    "recordings",
    "viewing",
    "publog",
    "audit",
    "oversight",
    "housekeeping",
    "api",
    "console",
];

/// The doors: they translate (gRPC, the console's pages) and call wings.
const DOORS: [&str; 2] = ["api", "console"];

fn sources(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(std::fs::read_to_string(&p).unwrap());
        }
    }
}

fn edges() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for wing in WINGS {
        let mut texts = Vec::new();
        sources(&src.join(wing), &mut texts);
        let mut to = BTreeSet::new();
        for other in WINGS.iter().filter(|w| **w != wing) {
            let needle = format!("crate::{other}::");
            let braced = format!("crate::{{{other}");
            if texts
                .iter()
                .any(|t| t.contains(&needle) || t.contains(&braced))
            {
                to.insert(*other);
            }
        }
        graph.insert(wing, to);
    }
    graph
}

#[test]
fn wings_import_each_other_without_circles() {
    let graph = edges();
    // Depth-first search; a node met again on the current path closes a circle.
    fn visit<'a>(
        n: &'a str,
        g: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(i) = path.iter().position(|p| *p == n) {
            panic!(
                "wings import in a circle: {} -> {n}",
                path[i..].join(" -> ")
            );
        }
        if !done.insert(n) {
            return;
        }
        path.push(n);
        for m in &g[n] {
            visit(m, g, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for w in WINGS {
        visit(w, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn api_is_imported_by_no_wing() {
    for (from, to) in edges() {
        assert!(
            from == "api" || !to.contains("api"),
            "{from} imports api: the doors translate, wings do not call them"
        );
    }
}

#[test]
fn no_door_is_imported_by_a_wing_or_another_door() {
    for (from, to) in edges() {
        for door in DOORS {
            assert!(
                from == door || !to.contains(door),
                "{from} imports {door}: the doors translate, wings do not call them"
            );
        }
    }
}

#[test]
fn core_imports_no_wing() {
    let core = &edges()["core"];
    assert!(
        core.is_empty(),
        "core imports {core:?}: the handle holds no feature state and names no wing"
    );
}
