//! The module dependency graph of one crate, read from its source files, and the
//! import circles in it. Shared by every crate's `module_graph` test: include it with
//! `#[path = "…/agent/tests/support/module_graph.rs"] mod module_graph;` and call
//! [`ModuleGraph::read`] on that crate's `src` directory.
//!
//! A module is one file (`a/b.rs` or `a/b/mod.rs` is `a::b`; `lib.rs` is the root,
//! `bin/` is left out: binaries are other crates). `a` depends on `b` when `a`'s
//! code names a path into `b`: `crate::b::…`, `super::…`, `self::…`, or one that
//! starts with a child module's name. A name the target re-exports (`pub use`) is followed to the module
//! that defines it, so `crate::Error` counts as a use of `error`. A module naming one
//! of its ancestors is left out: a child belongs to its parent, which declares it.
//! Comments, string literals and `#[cfg(test)]` items do not count.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules (`a::b`; the root is `crate`) and the modules each one depends on.
#[derive(Debug, Default)]
pub struct ModuleGraph {
    /// Every module of the crate, with the modules it depends on.
    pub edges: BTreeMap<String, BTreeSet<String>>,
}

/// Modules that import each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    /// All of them, sorted.
    pub members: Vec<String>,
    /// One closed path through them: `a -> b -> a`.
    pub path: Vec<String>,
}

impl std::fmt::Display for Circle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (modules in the circle: {})",
            self.path.join(" -> "),
            self.members.join(", ")
        )
    }
}

/// One source file: its module path (empty for the root) and cleaned code.
struct Source {
    module: Vec<String>,
    code: String,
}

impl ModuleGraph {
    /// Reads every `.rs` file under `src` (a crate's `src` directory).
    pub fn read(src: &Path) -> std::io::Result<ModuleGraph> {
        let mut sources = Vec::new();
        collect(src, src, &mut sources)?;
        Ok(ModuleGraph::from_sources(sources))
    }

    /// Builds the graph from (path relative to `src`, file text) pairs.
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> ModuleGraph {
        let sources = files
            .into_iter()
            .filter_map(|(p, text)| {
                module_of(Path::new(p)).map(|module| Source {
                    module,
                    code: clean(text),
                })
            })
            .collect();
        ModuleGraph::from_sources(sources)
    }

    fn from_sources(sources: Vec<Source>) -> ModuleGraph {
        let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
        // Names each module re-exports, with the full path they stand for.
        let mut reexports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for s in &sources {
            for (vis_pub, path, alias) in use_items(&s.code) {
                if !vis_pub {
                    continue;
                }
                if let Some(full) = absolute(&s.module, &path, &modules) {
                    reexports
                        .entry(s.module.clone())
                        .or_default()
                        .insert(alias, full);
                }
            }
        }
        let mut g = ModuleGraph::default();
        for s in &sources {
            let from = name(&s.module);
            let deps = g.edges.entry(from).or_default();
            let mut paths: Vec<Vec<String>> = use_items(&s.code)
                .into_iter()
                .filter_map(|(_, p, _)| absolute(&s.module, &p, &modules))
                .collect();
            paths.extend(
                inline_paths(&s.code)
                    .into_iter()
                    .filter_map(|p| absolute(&s.module, &p, &modules)),
            );
            for p in paths {
                let target = resolve(&p, &modules, &reexports);
                // Itself or an ancestor (which declares it): not a dependency.
                if s.module.starts_with(&target) {
                    continue;
                }
                deps.insert(name(&target));
            }
        }
        g
    }

    /// Whether `from` depends on `to` directly.
    pub fn depends(&self, from: &str, to: &str) -> bool {
        self.edges.get(from).is_some_and(|d| d.contains(to))
    }

    /// Every import circle: each group of modules that reach each other, with the
    /// shortest closed path through its first module. Empty when there is none.
    pub fn cycles(&self) -> Vec<Circle> {
        self.strongly_connected()
            .into_iter()
            .filter(|scc| scc.len() > 1 || self.depends(&scc[0], &scc[0]))
            .map(|members| Circle {
                path: self.path_around(&members),
                members,
            })
            .collect()
    }

    /// Tarjan's algorithm over the module names.
    fn strongly_connected(&self) -> Vec<Vec<String>> {
        struct St<'a> {
            g: &'a ModuleGraph,
            next: usize,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on: BTreeSet<&'a str>,
            out: Vec<Vec<String>>,
        }
        fn visit<'a>(st: &mut St<'a>, v: &'a str) {
            st.index.insert(v, st.next);
            st.low.insert(v, st.next);
            st.next += 1;
            st.stack.push(v);
            st.on.insert(v);
            let g = st.g;
            for w in g.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !st.index.contains_key(w) {
                    visit(st, w);
                    let lw = st.low[w];
                    let lv = st.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if st.on.contains(w) {
                    let iw = st.index[w];
                    let lv = st.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if st.low[v] == st.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = st.stack.pop() {
                    st.on.remove(w);
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                scc.sort();
                st.out.push(scc);
            }
        }
        let mut st = St {
            g: self,
            next: 0,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on: BTreeSet::new(),
            out: Vec::new(),
        };
        for v in self.edges.keys() {
            if !st.index.contains_key(v.as_str()) {
                visit(&mut st, v);
            }
        }
        st.out
    }

    /// The shortest import circle through the group's first module.
    fn path_around(&self, scc: &[String]) -> Vec<String> {
        let inside: BTreeSet<&str> = scc.iter().map(String::as_str).collect();
        self.shortest(&scc[0], &scc[0], &inside)
    }

    /// Shortest path `from -> … -> to` inside `inside` (breadth first); at least one hop.
    fn shortest(&self, from: &str, to: &str, inside: &BTreeSet<&str>) -> Vec<String> {
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        let mut seen = BTreeSet::new();
        while let Some(v) = queue.pop_front() {
            for w in self.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !inside.contains(w) || !seen.insert(w) {
                    continue;
                }
                prev.insert(w, v);
                if w == to {
                    let mut path = vec![to.to_string()];
                    let mut at = to;
                    loop {
                        at = prev[at];
                        path.push(at.to_string());
                        if at == from {
                            break;
                        }
                    }
                    path.reverse();
                    return path;
                }
                queue.push_back(w);
            }
        }
        vec![from.to_string(), to.to_string()]
    }
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<Source>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        let rel = p.strip_prefix(root).expect("under root");
        if p.is_dir() {
            if rel != Path::new("bin") {
                collect(root, &p, out)?;
            }
        } else if let Some(module) = module_of(rel) {
            let text = std::fs::read_to_string(&p)?;
            out.push(Source {
                module,
                code: clean(&text),
            });
        }
    }
    Ok(())
}

/// `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` and `main.rs` the root.
fn module_of(rel: &Path) -> Option<Vec<String>> {
    if rel.extension()? != "rs" || rel.starts_with("bin") {
        return None;
    }
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    Some(parts)
}

/// The code with comments and literals blanked and `#[cfg(test)]` items removed.
fn clean(text: &str) -> String {
    drop_test_items(&blank_comments_and_literals(text))
}

fn blank_comments_and_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(i + k).copied().unwrap_or('\0');
        if c[i] == '/' && at(1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && at(1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if (c[i] == 'r' || (c[i] == 'b' && at(1) == 'r')) && !prev_is_ident(&c, i) && {
            let s = if c[i] == 'b' { i + 2 } else { i + 1 };
            let mut j = s;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            c.get(j) == Some(&'"')
        } {
            // Raw string: r#"…"#, as many # at the end as at the start.
            let s = if c[i] == 'b' { i + 2 } else { i + 1 };
            let mut j = s;
            while c[j] == '#' {
                j += 1;
            }
            let hashes = j - s;
            j += 1;
            while j < c.len() {
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{1F}'); otherwise a lifetime or label.
            if at(1) == '\\' {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if at(2) == '\'' {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c[i]);
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

/// Blanks every item marked `#[cfg(test)]` (a `{ … }` block or up to `;`).
fn drop_test_items(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(start) = out.find("#[cfg(test)]") {
        let c: Vec<char> = out.chars().collect();
        let first = out[..start].chars().count();
        let mut j = first;
        let mut depth = 0usize;
        while j < c.len() {
            match c[j] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ';' if depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        let end = (j + 1).min(c.len());
        out = c[..first]
            .iter()
            .chain(std::iter::repeat_n(&' ', 1))
            .chain(c[end..].iter())
            .collect();
    }
    out
}

/// Every `use` declaration, expanded: (is `pub`, path segments, name it binds).
fn use_items(code: &str) -> Vec<(bool, Vec<String>, String)> {
    let toks = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == "use" {
            // `pub use`, `pub(crate) use`: visible to other modules.
            let vis_pub = i > 0
                && (toks[i - 1] == "pub" || (toks[i - 1] == ")" && i >= 4 && toks[i - 4] == "pub"));
            let mut j = i + 1;
            let mut trees = Vec::new();
            use_tree(&toks, &mut j, Vec::new(), &mut trees);
            for (p, alias) in trees {
                out.push((vis_pub, p, alias));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Parses one use tree at `toks[*j]` with the `prefix` so far.
fn use_tree(
    toks: &[String],
    j: &mut usize,
    mut prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, String)>,
) {
    if toks.get(*j).is_some_and(|t| t == "::") {
        *j += 1; // a leading `::` (extern crate path)
    }
    loop {
        let Some(t) = toks.get(*j) else { return };
        if t == "{" {
            *j += 1;
            loop {
                match toks.get(*j).map(String::as_str) {
                    None => return,
                    Some("}") => {
                        *j += 1;
                        return;
                    }
                    Some(",") => *j += 1,
                    Some(_) => use_tree(toks, j, prefix.clone(), out),
                }
            }
        }
        if t == "*" {
            *j += 1;
            out.push((prefix, "*".into()));
            return;
        }
        if !is_ident(t) {
            return;
        }
        prefix.push(t.clone());
        *j += 1;
        if toks.get(*j).is_some_and(|t| t == "::") {
            *j += 1;
            continue;
        }
        let mut alias = prefix.last().cloned().unwrap_or_default();
        if toks.get(*j).is_some_and(|t| t == "as") {
            alias = toks.get(*j + 1).cloned().unwrap_or_default();
            *j += 2;
        }
        if alias == "self" && prefix.len() > 1 {
            // `use a::b::{self}` binds `b`.
            prefix.pop();
            alias = prefix.last().cloned().unwrap_or_default();
        }
        out.push((prefix, alias));
        return;
    }
}

/// Paths outside `use` (`crate::a::f()`, `child::T`); which of them lead into this
/// crate is for [`absolute`] to say.
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let toks = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let starts = is_ident(&toks[i])
            && toks.get(i + 1).is_some_and(|t| t == "::")
            && !(i > 0 && (toks[i - 1] == "::" || toks[i - 1] == "use"));
        if !starts {
            i += 1;
            continue;
        }
        let mut p = vec![toks[i].clone()];
        let mut j = i + 1;
        while toks.get(j).is_some_and(|t| t == "::") && toks.get(j + 1).is_some_and(|t| is_ident(t))
        {
            p.push(toks[j + 1].clone());
            j += 2;
        }
        out.push(p);
        i = j;
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && t.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Identifiers, `::` and single punctuation characters.
fn tokens(code: &str) -> Vec<String> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_alphanumeric() || c[i] == '_' {
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(c[s..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else if c[i].is_whitespace() {
            i += 1;
        } else {
            out.push(c[i].to_string());
            i += 1;
        }
    }
    out
}

/// The path from the crate root that `path`, written in `module`, stands for;
/// None for another crate's path (or a local name that is not a child module).
fn absolute(
    module: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut at: Vec<String> = module.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str)? {
        "crate" => {
            at.clear();
            rest = &rest[1..];
        }
        "self" => rest = &rest[1..],
        "super" => {
            while rest.first().is_some_and(|s| s == "super") {
                at.pop();
                rest = &rest[1..];
            }
        }
        first => {
            let mut child = module.to_vec();
            child.push(first.to_string());
            if !modules.contains(&child) {
                return None;
            }
        }
    }
    at.extend(rest.iter().cloned());
    Some(at)
}

/// The module a full path lands in: its longest module prefix, following a
/// re-exported name to where it comes from.
fn resolve(
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
    reexports: &BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
) -> Vec<String> {
    let mut path = path.to_vec();
    for _ in 0..8 {
        let mut n = path.len();
        while n > 0 && !modules.contains(&path[..n]) {
            n -= 1;
        }
        let module = path[..n].to_vec();
        let Some(next) = path.get(n) else {
            return module;
        };
        match reexports.get(&module).and_then(|r| r.get(next)) {
            Some(target) if *target != path[..=n] => {
                let mut p = target.clone();
                p.extend(path[n + 1..].iter().cloned());
                path = p;
            }
            _ => return module,
        }
    }
    path
}
