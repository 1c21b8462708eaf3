//! No import circles between the agent's modules: each one can be read, tested and
//! replaced knowing only what lies below it.

#[path = "support/module_graph.rs"]
mod module_graph;

use module_graph::ModuleGraph;
use std::path::Path;

fn agent() -> ModuleGraph {
    ModuleGraph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")).unwrap()
}

#[test]
fn the_agent_has_no_import_circles() {
    let g = agent();
    let circles: Vec<String> = g.cycles().iter().map(|c| c.to_string()).collect();
    assert!(
        circles.is_empty(),
        "import circles between the agent's modules (break them by moving the shared \
         part down into a lower module):\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_graph_sees_the_agents_real_imports() {
    // A reader that found nothing would pass the test above for the wrong reason.
    let g = agent();
    assert!(g.depends("supervisor", "ingest"), "{g:#?}");
    assert!(g.depends("alpr::site", "hotlist"), "{g:#?}");
    // Re-exported at the root, defined in error.rs.
    assert!(g.depends("metrics", "error"), "{g:#?}");
    // super:: paths between siblings.
    assert!(g.depends("alpr::track", "alpr::plate"), "{g:#?}");
    // A path that starts with a child module's name.
    assert!(g.depends("alpr", "alpr::ocr"), "{g:#?}");
}

#[test]
fn a_circle_is_named() {
    let g = ModuleGraph::from_files([
        (
            "lib.rs",
            "pub mod a; pub mod b; pub mod c; pub mod d; pub mod f;\npub use d::Thing;",
        ),
        (
            "a.rs",
            "use crate::b::X;\n// use crate::d::Y;\nfn f() { let _ = \"crate::d::Y\"; }",
        ),
        ("b.rs", "use crate::{c::{self, Y}, Thing};"),
        (
            "c.rs",
            "pub fn g() { crate::a::f(); }\n#[cfg(test)]\nmod tests { use crate::d::Z; }",
        ),
        (
            "d/mod.rs",
            "pub mod e; pub mod h; pub struct Thing; use e::W; fn k() { h::go(); }",
        ),
        ("d/h.rs", ""),
        (
            "d/e.rs",
            "use super::Thing; use super::super::f::Y; use crate::Thing as T;",
        ),
        ("f.rs", ""),
    ]);
    assert!(g.depends("b", "d"), "re-export followed: {g:#?}");
    assert!(g.depends("d", "d::e"), "{g:#?}");
    assert!(
        g.depends("d", "d::h"),
        "a path through a child module: {g:#?}"
    );
    assert!(!g.depends("d::e", "d"), "a child naming its parent: {g:#?}");
    assert!(g.depends("d::e", "f"), "{g:#?}");
    assert!(
        !g.depends("a", "d"),
        "comments and strings do not count: {g:#?}"
    );
    assert!(!g.depends("c", "d"), "test code does not count: {g:#?}");
    let circles = g.cycles();
    assert_eq!(circles.len(), 1, "{circles:?}");
    assert_eq!(circles[0].path, ["a", "b", "c", "a"]);
    assert_eq!(circles[0].members, ["a", "b", "c"]);
}
