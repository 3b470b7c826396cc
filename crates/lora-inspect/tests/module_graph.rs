//! The crate's modules depend on each other without cycles: no module `use`s one that
//! uses it back, directly or around a loop (a parent and its child included). Read from
//! the `use` lines of src/ (test modules aside), so a new cycle fails here, not in review.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`weights::health`) → source text, outside `#[cfg(test)]`.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, src, out);
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let rel = rel.to_str().unwrap().replace('\\', "/");
            let name = rel.trim_end_matches("/mod").replace('/', "::");
            // The crate root declares and re-exports every module; it is not one of them.
            if name == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            out.insert(name, code.to_owned());
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&src, &src, &mut out);
    out
}

/// Module → the modules it `use`s.
fn graph(modules: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut edges = BTreeMap::new();
    for (name, code) in modules {
        let mut uses = BTreeSet::new();
        for line in code.lines() {
            let line = line.trim_start();
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub(super) "))
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            let Some(path) = line.strip_prefix("use ") else {
                continue;
            };
            // `crate::a::b::{C, d}` or `super::a as b;`: the path before any group or alias.
            let path = path.split([' ', '{', ';']).next().unwrap_or_default();
            let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
            match parts.first() {
                Some(&"crate") => {
                    parts.remove(0);
                }
                Some(&"super") => {
                    let mut base: Vec<&str> = name.split("::").collect();
                    base.pop();
                    parts.splice(0..1, base);
                }
                Some(&"self") => {
                    parts.splice(0..1, name.split("::"));
                }
                // A child module, named relatively (`pub use health::WeightStats`).
                Some(first) if modules.contains_key(&format!("{name}::{first}")) => {
                    parts.splice(0..0, name.split("::"));
                }
                _ => continue,
            }
            // The longest prefix that is a module is the one depended on.
            let target = (1..=parts.len())
                .rev()
                .map(|n| parts[..n].join("::"))
                .find(|p| modules.contains_key(p));
            if let Some(target) = target
                && target != *name
            {
                uses.insert(modules.get_key_value(&target).unwrap().0.as_str());
            }
        }
        edges.insert(name.as_str(), uses);
    }
    edges
}

fn find_cycle<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        at: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(start) = path.iter().position(|m| *m == at) {
            let mut cycle = path[start..].to_vec();
            cycle.push(at);
            return Some(cycle);
        }
        if !done.insert(at) {
            return None;
        }
        path.push(at);
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

#[test]
fn no_module_uses_one_that_uses_it_back() {
    let modules = modules();
    let edges = graph(&modules);
    // The check sees the graph: these edges exist, so a parse failure cannot pass silently.
    assert!(edges["gram"].contains("dtype"), "{edges:#?}");
    assert!(
        edges["pickle::machine"].contains("pickle::opcode"),
        "{edges:#?}"
    );
    assert!(edges["weights::strength"].contains("gram"), "{edges:#?}");
    assert!(edges["weights"].contains("weights::health"), "{edges:#?}");
    if let Some(cycle) = find_cycle(&edges) {
        panic!("module cycle: {}", cycle.join(" -> "));
    }
}
