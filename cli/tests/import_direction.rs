//! Imports between the CLI's top-level modules point one way: `main.rs`
//! wires, `args` is the clap surface, the command modules use the arg types
//! and the small modules below them, and nothing points back up.
//!
//! A plain scan of `cli/src`, no parser: an edge X → Y is a mention of
//! `crate::Y` (also inside `use crate::{…}`) or of `super::…::Y` that
//! climbs out to the crate root, in any file of X. Comments and
//! `#[cfg(test)]` modules are skipped: a test may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Invariant: the graph of `cli/src`'s top-level modules has no cycle.
#[test]
fn top_level_modules_form_no_import_cycle() {
    let graph = import_graph(&src_dir());
    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "import cycles among cli/src top-level modules:\n{}\n(graph: {})",
        cycles
            .iter()
            .map(|c| format!("  {}", c.join(" → ")))
            .collect::<Vec<_>>()
            .join("\n"),
        render(&graph)
    );
}

/// Invariant: `args` is pure data; it uses only modules that import
/// nothing of the crate (a value enum such as `OutputFormat`), never a
/// command module.
#[test]
fn args_uses_only_modules_that_import_nothing() {
    let graph = import_graph(&src_dir());
    let args = graph.get("args").expect("cli/src has an args module");
    let above: Vec<&String> = args
        .iter()
        .filter(|m| graph.get(*m).is_some_and(|deps| !deps.is_empty()))
        .collect();
    assert!(
        above.is_empty(),
        "args imports {above:?}, which import other modules (graph: {})",
        render(&graph)
    );
}

#[test]
fn the_scan_sees_grouped_and_super_paths() {
    let edges = |depth: usize, text: &str| {
        let tops: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
        mentions(depth, &strip(text), &tops)
    };
    let text = "use crate::{a::X, b};\nuse super::super::c::Y;\n// crate::d in a comment\n";
    assert_eq!(edges(2, text), ["a", "b", "c"].map(String::from).into());
    let test_only = "fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::d;\n}\n";
    assert!(edges(1, test_only).is_empty());
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Top-level module → the top-level modules its files mention.
fn import_graph(src: &Path) -> Graph {
    let mut tops = BTreeMap::new();
    for entry in fs::read_dir(src).expect("read cli/src") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_stem()
            .expect("a named entry")
            .to_string_lossy()
            .into_owned();
        if name == "main" {
            continue;
        }
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            tops.insert(name, path);
        }
    }
    let names: BTreeSet<String> = tops.keys().cloned().collect();
    let mut graph = Graph::new();
    for (name, path) in &tops {
        let mut deps = BTreeSet::new();
        for (file, depth) in module_files(path, 1) {
            let text = fs::read_to_string(&file).expect("read source");
            deps.extend(mentions(depth, &strip(&text), &names));
        }
        deps.remove(name);
        graph.insert(name.clone(), deps);
    }
    graph
}

/// Each `.rs` file of a module with its depth below the crate root
/// (`x.rs` and `x/mod.rs`: 1; `x/y.rs`: 2).
fn module_files(path: &Path, depth: usize) -> Vec<(PathBuf, usize)> {
    if !path.is_dir() {
        return vec![(path.to_path_buf(), depth)];
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path).expect("read module dir") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            files.extend(module_files(&p, depth + 1));
        } else if p.extension().is_some_and(|e| e == "rs") {
            let d = if p.file_name().is_some_and(|n| n == "mod.rs") {
                depth
            } else {
                depth + 1
            };
            files.push((p, d));
        }
    }
    files
}

/// The source without `//` comments and without `#[cfg(test)]` items.
/// A `//` right after `:` is a URL in a string, not a comment.
fn strip(text: &str) -> String {
    let comment = |l: &str| {
        l.match_indices("//")
            .map(|(i, _)| i)
            .find(|&i| !l[..i].ends_with(':'))
    };
    let code: Vec<&str> = text
        .lines()
        .map(|l| comment(l).map_or(l, |i| &l[..i]))
        .collect();
    let code = code.join("\n");
    let mut out = String::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // Skip to the end of the item: its first `;` or its braced body.
        let open = rest.find('{');
        let semi = rest.find(';');
        match (open, semi) {
            (Some(o), s) if s.is_none_or(|s| o < s) => {
                let mut depth = 0usize;
                let mut end = rest.len();
                for (i, c) in rest[o..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &rest[end..];
            }
            (_, Some(s)) => rest = &rest[s + 1..],
            _ => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// Top-level modules mentioned in one file's code: `crate::X`,
/// `crate::{X, …}`, and `super::` chains that reach the crate root.
fn mentions(depth: usize, code: &str, tops: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = code.as_bytes();
    let ident_at = |i: usize| {
        let end = code[i..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(code.len(), |n| i + n);
        &code[i..end]
    };
    let mut i = 0;
    while i < code.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let root = if !word_start {
            None
        } else if code[i..].starts_with("crate::") {
            Some(i + "crate::".len())
        } else if code[i..].starts_with("super::") {
            let mut j = i;
            let mut climbs = 0;
            while code[j..].starts_with("super::") {
                j += "super::".len();
                climbs += 1;
            }
            i = j;
            (climbs == depth).then_some(j)
        } else {
            None
        };
        let Some(at) = root else {
            i += 1;
            continue;
        };
        if code[at..].starts_with('{') {
            // A group: the first segment of each item at its top level.
            let mut level = 0;
            let mut item_start = true;
            for (k, c) in code[at..].char_indices() {
                match c {
                    '{' => {
                        level += 1;
                        item_start = level == 1;
                        continue;
                    }
                    '}' => {
                        level -= 1;
                        if level == 0 {
                            break;
                        }
                    }
                    ',' if level == 1 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && level == 1 => {
                        let name = ident_at(at + k);
                        if tops.contains(name) {
                            found.insert(name.to_string());
                        }
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident_at(at);
            if tops.contains(name) {
                found.insert(name.to_string());
            }
        }
        i = at;
    }
    found
}

/// Every elementary cycle, each once, starting at its smallest module.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    fn walk(graph: &Graph, start: &str, path: &mut Vec<String>, found: &mut Vec<Vec<String>>) {
        let last = path.last().expect("path starts at start").clone();
        for next in graph.get(&last).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                found.push(cycle);
            } else if next.as_str() > start && !path.contains(next) {
                path.push(next.clone());
                walk(graph, start, path, found);
                path.pop();
            }
        }
    }
    let mut found = Vec::new();
    for start in graph.keys() {
        walk(graph, start, &mut vec![start.clone()], &mut found);
    }
    found
}

fn render(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(m, deps)| {
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            format!("{m} → [{}]", deps.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
