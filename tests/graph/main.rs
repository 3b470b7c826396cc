//! Every crate's modules depend on each other without cycles: no module `use`s one that
//! uses it back, directly or around a loop. Read from the `use` lines of each crate's
//! `src/` (test modules aside), with names re-exported at the crate root traced to the
//! module that defines them, so a new cycle fails here, not in review.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: &[&str] = &[
    "crates/lora-core",
    "crates/lora-store",
    "crates/lora-auth",
    "crates/lora-inspect",
    "crates/lora-http",
    "crates/lora-fleet",
    "crates/lora-catalog",
    "bin",
];

/// Module path (`weights::health`) → source text outside `#[cfg(test)]`; and the crate
/// root's text.
fn modules(src: &Path) -> (BTreeMap<String, String>, String) {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, src, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let rel = rel.to_str().unwrap().replace('\\', "/");
            let name = rel.trim_end_matches("/mod").replace('/', "::");
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            out.insert(name, code.to_owned());
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    // The crate root declares and re-exports every module; it is not one of them.
    let root = out
        .remove("lib")
        .or_else(|| out.remove("main"))
        .unwrap_or_default();
    (out, root)
}

/// Names the crate root re-exports (`pub use store::{Store, OnClash};`) → their module.
fn reexports(root: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for item in root.split(';') {
        let Some(rest) = item.trim().strip_prefix("pub use ") else {
            continue;
        };
        let (module, names) = match rest.split_once("::{") {
            Some((module, names)) => (module, names.trim_end_matches('}')),
            None => match rest.rsplit_once("::") {
                Some((module, name)) => (module, name),
                None => continue,
            },
        };
        for name in names.split(',') {
            let name = name.split(" as ").last().unwrap_or_default().trim();
            if !name.is_empty() {
                map.insert(name.to_owned(), module.replace(' ', ""));
            }
        }
    }
    map
}

/// Module → the modules it `use`s.
fn graph(
    modules: &BTreeMap<String, String>,
    reexported: &BTreeMap<String, String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges = BTreeMap::new();
    for (name, code) in modules {
        let mut uses = BTreeSet::new();
        // Whole `use` items, even when rustfmt spread their groups over lines.
        for item in code.split(';') {
            let item = item.trim_start();
            let item = item.rsplit_once('\n').map_or(item, |(_, last)| {
                // Attributes and comments may precede the item on earlier lines.
                if item.contains("use ") && !last.contains("use ") {
                    item
                } else {
                    last
                }
            });
            let Some(at) = item.find("use ") else {
                continue;
            };
            let head = item[..at].trim();
            if !(head.is_empty() || head.starts_with("pub")) {
                continue;
            }
            let path: String = item[at + 4..].split_whitespace().collect();
            for target in targets(name, &path, modules, reexported) {
                if target != *name {
                    uses.insert(target);
                }
            }
        }
        // Paths written out in the code (`crate::routes::tus::TUS_VERSION`) depend as much
        // as `use` items do.
        for path in inline_paths(code) {
            for target in targets(name, &path, modules, reexported) {
                if target != *name {
                    uses.insert(target);
                }
            }
        }
        edges.insert(name.clone(), uses);
    }
    edges
}

/// Every `crate::a::b` path in `code` outside `use` items and comments, as far as it is
/// made of path segments.
fn inline_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") || line.starts_with("use ") || line.starts_with("pub use ") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            // Not part of a longer name (`lora_crate::`).
            let before = rest[..at].chars().next_back();
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                paths.push(tail[..end].trim_end_matches(':').to_owned());
            }
            rest = &tail[end..];
        }
    }
    paths
}

/// The modules a `use` path (whitespace removed) depends on.
fn targets(
    from: &str,
    path: &str,
    modules: &BTreeMap<String, String>,
    reexported: &BTreeMap<String, String>,
) -> Vec<String> {
    let (prefix, group) = match path.split_once("::{") {
        Some((prefix, group)) => (prefix, Some(group.trim_end_matches('}'))),
        None => (path, None),
    };
    let mut parts: Vec<String> = prefix
        .split("::")
        .filter(|p| !p.is_empty())
        .map(|p| p.split("as").next().unwrap_or_default().to_owned())
        .collect();
    match parts.first().map(String::as_str) {
        Some("crate") => {
            parts.remove(0);
        }
        Some("super") => {
            let mut base: Vec<String> = from.split("::").map(str::to_owned).collect();
            base.pop();
            parts.splice(0..1, base);
        }
        Some("self") => {
            parts.splice(0..1, from.split("::").map(str::to_owned));
        }
        Some(first) if modules.contains_key(&format!("{from}::{first}")) => {
            parts.splice(0..0, from.split("::").map(str::to_owned));
        }
        _ => return Vec::new(),
    }
    let mut paths = Vec::new();
    match group {
        Some(group) => {
            for member in group.split(',').filter(|m| !m.is_empty()) {
                let mut p = parts.clone();
                p.extend(member.split("::").map(str::to_owned));
                paths.push(p);
            }
        }
        None => paths.push(parts),
    }
    paths
        .into_iter()
        .filter_map(|p| {
            if p.len() == 1
                && let Some(module) = reexported.get(&p[0])
            {
                return Some(module.clone());
            }
            // The longest prefix that is a module is the one depended on.
            (1..=p.len())
                .rev()
                .map(|n| p[..n].join("::"))
                .find(|m| modules.contains_key(m))
        })
        .collect()
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        at: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == at) {
            let mut cycle = path[start..].to_vec();
            cycle.push(at.to_owned());
            return Some(cycle);
        }
        if !done.insert(at.to_owned()) {
            return None;
        }
        path.push(at.to_owned());
        for next in edges.get(at).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|m| visit(m, edges, &mut Vec::new(), &mut done))
}

fn crate_graph(dir: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(dir)
        .join("src");
    let (modules, root) = modules(&src);
    graph(&modules, &reexports(&root))
}

#[test]
fn no_module_uses_one_that_uses_it_back() {
    for dir in CRATES {
        let edges = crate_graph(dir);
        if let Some(cycle) = find_cycle(&edges) {
            panic!("{dir}: module cycle: {}", cycle.join(" -> "));
        }
    }
}

/// The check sees the graphs: these edges exist (through groups, `super`, and names
/// re-exported at the root), so a parse failure cannot pass silently.
#[test]
fn the_graphs_are_read() {
    let store = crate_graph("crates/lora-store");
    assert!(store["recycle_bin"].contains("place"), "{store:#?}");
    assert!(store["recycle_bin"].contains("error"), "{store:#?}");
    assert!(store["publish"].contains("store"), "{store:#?}");
    let http = crate_graph("crates/lora-http");
    assert!(http["openapi"].contains("routes::upload"), "{http:#?}");
    assert!(http["routes::bin"].contains("routes"), "{http:#?}");
    assert!(http["routes::files"].contains("extract::auth"), "{http:#?}");
    // A path written out in the code, not in a `use` item.
    assert!(
        http["server::background"].contains("observe::audit"),
        "{http:#?}"
    );
    let fleet = crate_graph("crates/lora-fleet");
    assert!(fleet["fleet"].contains("keys"), "{fleet:#?}");
    let inspect = crate_graph("crates/lora-inspect");
    assert!(inspect["gram"].contains("dtype"), "{inspect:#?}");
    assert!(
        inspect["weights"].contains("weights::health"),
        "{inspect:#?}"
    );
}

/// docs/ARCHITECTURE.md's module map names every source file of every crate, and no file
/// that does not exist (an entry ending in `/` stands for a whole folder).
#[test]
fn the_module_map_names_every_module_and_only_those() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let map = doc
        .split("## Module map")
        .nth(1)
        .and_then(|rest| rest.split("```text").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("a text block under ## Module map");
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in map.lines().filter(|l| !l.trim().is_empty()) {
        if !line.starts_with(' ') {
            current = Some(line.trim().to_owned());
            documented.entry(line.trim().to_owned()).or_default();
        } else if line.starts_with("  ") && !line.starts_with("   ") {
            let dir = current.clone().expect("an entry before its source folder");
            let entry = line.split_whitespace().next().unwrap().to_owned();
            assert!(
                documented.get_mut(&dir).unwrap().insert(entry.clone()),
                "{dir}: {entry} twice"
            );
        }
    }
    let mut dirs: Vec<String> = CRATES.iter().map(|c| format!("{c}/src")).collect();
    dirs.sort();
    assert_eq!(
        documented.keys().cloned().collect::<Vec<_>>(),
        dirs,
        "the map has one section per crate"
    );
    for (dir, entries) in &documented {
        let src = root.join(dir);
        let folders: Vec<&String> = entries.iter().filter(|e| e.ends_with('/')).collect();
        let mut files = BTreeSet::new();
        collect(&src, &src, &mut files);
        let actual: BTreeSet<String> = files
            .into_iter()
            .filter(|f| !folders.iter().any(|d| f.starts_with(d.as_str())))
            .collect();
        let named: BTreeSet<String> = entries
            .iter()
            .filter(|e| !e.ends_with('/'))
            .cloned()
            .collect();
        let missing: Vec<_> = actual.difference(&named).collect();
        let extra: Vec<_> = named.difference(&actual).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{dir}: not in the map: {missing:?}; in the map but not a file: {extra:?}"
        );
        for folder in folders {
            assert!(src.join(folder).is_dir(), "{dir}: {folder} is not a folder");
        }
    }
}

fn collect(dir: &Path, src: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, src, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(src).unwrap().to_str().unwrap();
            out.insert(rel.replace('\\', "/"));
        }
    }
}

/// The README's layout table lists every crate of the workspace.
#[test]
fn the_readme_lists_every_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for dir in CRATES.iter().filter(|c| c.starts_with("crates/")) {
        assert!(
            readme.contains(&format!("| `{dir}` |")),
            "README.md's layout table does not list {dir}"
        );
    }
}
