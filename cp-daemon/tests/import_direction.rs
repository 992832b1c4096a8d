//! The arrows between coold's top-level modules point one way: transport
//! (`api/`, `broker_client/`) → wiring (`agent.rs`) aside → concerns →
//! kernel and Podman. A plain source scan, so it needs no build of the
//! modules it reads.
//!
//! Invariant: no concern names `api`, `agent` or `broker_client`; only the
//! transport speaks HTTP and only the wiring knows the whole agent.
//! Invariant: the top-level modules of `cp-daemon/src` form no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules allowed to name the transport and the wiring.
const TRANSPORT_AND_WIRING: &[&str] = &["api", "agent", "broker_client", "main", "lib"];
/// What a concern must not name.
const UPWARD: &[&str] = &["api", "agent", "broker_client"];

/// One source file: its module path inside the crate and its code with
/// comments (and, for the graph, `#[cfg(test)]` items) removed.
struct Source {
    file: PathBuf,
    module: Vec<String>,
    code: String,
    code_without_tests: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `dns/packet.rs` → [dns, packet]; `dns/mod.rs` → [dns]; `agent.rs` → [agent].
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs").to_string();
    if stem != "mod" {
        parts.push(stem);
    }
    parts
}

/// Blanks out comments and the contents of string and char literals,
/// keeping line breaks so line numbers stay true.
fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if text[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if text[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if let Some(len) = raw_string_len(rest) {
            out.push_str("\"\"");
            out.extend(rest[..len].chars().filter(|&c| c == '\n'));
            i += len;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && char_literal_len(rest).is_some() {
            i += char_literal_len(rest).expect("checked");
            out.push_str("' '");
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"…"`, `r#"…"#`, `br"…"`: the literal's length in bytes.
fn raw_string_len(s: &str) -> Option<usize> {
    let after_b = s.strip_prefix('b').unwrap_or(s);
    let after_r = after_b.strip_prefix('r')?;
    let hashes = after_r.len() - after_r.trim_start_matches('#').len();
    let body = after_r[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close)?;
    Some(s.len() - body.len() + end + close.len())
}

/// `'a'`, `'\n'`, `'\''`, `'\u{1F600}'` but not a lifetime `'a`.
fn char_literal_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix('\'')?;
    let len = if let Some(esc) = body.strip_prefix('\\') {
        1 + esc.find('\'')? + 1
    } else {
        body.chars().next()?.len_utf8()
    };
    body[len..].starts_with('\'').then_some(1 + len + 1)
}

/// Removes every item behind `#[cfg(test)]` (a `mod tests { … }`, a test
/// helper fn), keeping line breaks; returns the names of `mod x;` items so
/// their files can be skipped too.
fn strip_test_items(code: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(code.len());
    let mut test_files = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let b = item.as_bytes();
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, &c) in b.iter().enumerate() {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        let skipped = &item[..end];
        let head = skipped.trim_start_matches("#[cfg(test)]").trim();
        if let Some(name) = head
            .strip_prefix("mod ")
            .or_else(|| head.strip_prefix("pub mod "))
            .and_then(|n| n.strip_suffix(';'))
        {
            test_files.push(name.trim().to_string());
        }
        out.extend(skipped.chars().filter(|&c| c == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    (out, test_files)
}

fn sources() -> Vec<Source> {
    let root = src_dir();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut out = Vec::new();
    let mut test_only: BTreeSet<Vec<String>> = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(&root).expect("under src").to_path_buf();
        let module = module_path(&rel);
        let text = std::fs::read_to_string(&file).expect("read source");
        let code = strip_comments(&text);
        let (code_without_tests, test_mods) = strip_test_items(&code);
        for m in test_mods {
            let mut p = module.clone();
            if matches!(
                rel.file_name().and_then(|n| n.to_str()),
                Some("lib.rs" | "main.rs")
            ) {
                p.clear();
            }
            p.push(m);
            test_only.insert(p);
        }
        out.push(Source {
            file: rel,
            module,
            code,
            code_without_tests,
        });
    }
    for s in &mut out {
        if test_only.iter().any(|t| s.module.starts_with(t)) {
            s.code_without_tests = s
                .code_without_tests
                .chars()
                .filter(|&c| c == '\n')
                .collect();
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules one line of code names, as (module, how it was
/// written): `crate::x`, `crate::{x, y::z}`, and `super::` chains that
/// climb to the crate root from `module`.
fn named_modules(line: &str, module: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        let boundary = line[..i].chars().next_back().is_none_or(|c| !is_ident(c));
        if boundary && rest.starts_with("crate::") {
            let after = &rest["crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                // `crate::{a, b::c, d::{e, f}}`: the first name of each
                // top-level entry.
                let mut depth = 0;
                let mut start = true;
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => start = true,
                        c if start && is_ident(c) => {
                            let name = ident_at(&group[j..]);
                            found.push((name.to_string(), format!("crate::{name}")));
                            start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                let name = ident_at(after);
                if !name.is_empty() {
                    found.push((name.to_string(), format!("crate::{name}")));
                }
            }
            i += "crate::".len();
            continue;
        }
        if boundary && rest.starts_with("super::") {
            let mut ups = 0;
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("super::") {
                ups += 1;
                tail = t;
            }
            if ups == module.len() {
                let name = ident_at(tail);
                if !name.is_empty() {
                    found.push((name.to_string(), format!("{}{name}", "super::".repeat(ups))));
                }
            }
            i += "super::".len() * ups;
            continue;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    found
}

#[test]
fn concerns_never_name_the_transport_or_the_wiring() {
    let mut faults = Vec::new();
    for s in sources() {
        let top = &s.module[0];
        if TRANSPORT_AND_WIRING.contains(&top.as_str()) {
            continue;
        }
        for (n, line) in s.code.lines().enumerate() {
            for (name, written) in named_modules(line, &s.module) {
                if UPWARD.contains(&name.as_str()) {
                    faults.push(format!(
                        "src/{}:{}: `{written}` (a concern must not import the transport or the wiring; take the handles you need and return your own error)",
                        s.file.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        faults.is_empty(),
        "imports pointing up:\n{}",
        faults.join("\n")
    );
}

/// Edges between top-level modules, each with one place that makes it.
fn module_graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let sources = sources();
    let tops: BTreeSet<String> = sources.iter().map(|s| s.module[0].clone()).collect();
    for s in &sources {
        let top = &s.module[0];
        if top == "main" || top == "lib" {
            continue;
        }
        graph.entry(top.clone()).or_default();
        for (n, line) in s.code_without_tests.lines().enumerate() {
            for (name, _) in named_modules(line, &s.module) {
                if &name != top && tops.contains(&name) && name != "main" && name != "lib" {
                    graph
                        .entry(top.clone())
                        .or_default()
                        .entry(name)
                        .or_insert_with(|| format!("src/{}:{}", s.file.display(), n + 1));
                }
            }
        }
    }
    graph
}

/// Every elementary cycle found by a depth-first search, each reported once
/// (rotated to start at its smallest module).
fn cycles(graph: &BTreeMap<String, BTreeMap<String, String>>) -> BTreeSet<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        start: &str,
        node: &str,
        path: &mut Vec<String>,
        out: &mut BTreeSet<Vec<String>>,
    ) {
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            if next == start {
                out.insert(path.clone());
            } else if next.as_str() > start && !path.contains(next) {
                path.push(next.clone());
                walk(graph, start, next, path, out);
                path.pop();
            }
        }
    }
    let mut out = BTreeSet::new();
    for start in graph.keys() {
        walk(graph, start, start, &mut vec![start.clone()], &mut out);
    }
    out
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = module_graph();
    let found = cycles(&graph);
    let lines: Vec<String> = found
        .iter()
        .map(|c| {
            let mut hops = Vec::new();
            for (i, from) in c.iter().enumerate() {
                let to = &c[(i + 1) % c.len()];
                hops.push(format!("{from} → {to} ({})", graph[from][to]));
            }
            hops.join(", ")
        })
        .collect();
    assert!(
        lines.is_empty(),
        "cycles between top-level modules:\n{}",
        lines.join("\n")
    );
}

#[test]
fn the_scan_sees_what_it_must() {
    let m = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
    let names = |line: &str, module: &str| -> Vec<String> {
        named_modules(line, &m(module))
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    assert_eq!(
        names("use crate::api::{decode, ApiError};", "containers/create"),
        ["api"]
    );
    assert_eq!(
        names("use crate::{agent, dns::x, pools::{a, b}};", "x/y"),
        ["agent", "dns", "pools"]
    );
    assert_eq!(names("use super::super::api::Reply;", "dns/verbs"), ["api"]);
    assert!(names("use super::super::api::Reply;", "dns/a/b").is_empty());
    assert!(names("use super::types::X;", "containers/create").is_empty());
    assert!(names("let notcrate::api = 1;", "x/y").is_empty());
    assert_eq!(
        strip_comments("a // crate::api\nb /* crate::agent */ c"),
        "a \nb  c"
    );
    assert_eq!(
        strip_comments(r#"x("crate::api", 'c', r"crate::api")"#),
        r#"x("", ' ', "")"#
    );
    let (code, mods) = strip_test_items(
        "a\n#[cfg(test)]\nmod tests {\n use crate::api;\n}\nb\n#[cfg(test)]\nmod more;\n",
    );
    assert!(!code.contains("crate::api") && code.contains('b'), "{code}");
    assert_eq!(mods, ["more"]);
    let mut g: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    g.entry("a".into())
        .or_default()
        .insert("b".into(), "x".into());
    g.entry("b".into())
        .or_default()
        .insert("a".into(), "y".into());
    assert_eq!(
        cycles(&g).into_iter().collect::<Vec<_>>(),
        [vec!["a".to_string(), "b".to_string()]]
    );
}
