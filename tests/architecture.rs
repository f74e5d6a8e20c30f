//! The map of ARCHITECTURE.md, checked: every `use crate::…`, `super::…` and
//! inline `crate::…` path of `src/` is an arrow from one file to another, and
//! the arrows must point down the layers and never close a loop.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on the unexpected"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may import only modules of a lower layer
/// (and its own files). Keep in step with ARCHITECTURE.md.
const LAYERS: &[&[&str]] = &[
    &["domain"],
    &["clock", "secrets", "telemetry", "headers", "metrics"],
    &["config", "assets", "jwt", "outbound"],
    &["db"],
    &["services"],
    &["email", "demo"],
    &["jobs", "error"],
    &["auth"],
    &["state"],
    &["routes"],
    &["cli"],
    &["startup"],
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&top))
}

/// Every module of the crate (as `a::b` paths, the root as "") and its file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            if parts.len() == 1 && parts[0] == "main" {
                continue; // The binary: it uses the library by its name.
            }
            found.insert(parts.join("::"), path);
        }
    }
    found
}

/// The source without comments and string literals, which mention paths
/// without importing them.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// The code without its `#[cfg(test)]` modules: unit tests may reach anywhere,
/// and their `super` is the file itself.
fn without_tests(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let Some(open) = out[at..].find('{').map(|i| at + i) else {
            break;
        };
        let mut depth = 0;
        let mut end = out.len();
        for (i, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..end, "");
    }
    out
}

/// Expands a `use` tree (`a::{b, c::{d, self}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(&tree);
        return vec![path.trim_end_matches("::self").to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(expand)
        .map(|rest| match rest.as_str() {
            "self" => prefix.to_owned(),
            _ => format!("{prefix}::{rest}"),
        })
        .collect()
}

/// The paths a file names: its `use` trees and inline `crate::`/`super::` paths.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for statement in code.split(';') {
        let s = statement.trim_start();
        let s = s.strip_prefix("pub ").unwrap_or(s);
        let s = s.strip_prefix("pub(crate) ").unwrap_or(s);
        if let Some(tree) = s.strip_prefix("use ") {
            paths.extend(expand(tree));
        }
    }
    for marker in ["crate::", "super::"] {
        for (i, _) in code.match_indices(marker) {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = code[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(path.trim_end_matches(':').to_owned());
        }
    }
    paths
}

/// The module a path lands in, from the module `here`: the longest known prefix.
fn resolve(path: &str, here: &str, known: &BTreeMap<String, PathBuf>) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<&str> = if here.is_empty() {
        Vec::new()
    } else {
        here.split("::").collect()
    };
    match segments.first().copied() {
        Some("crate") => {
            segments.remove(0);
            base.clear();
        }
        Some("super") => {
            while segments.first() == Some(&"super") {
                segments.remove(0);
                base.pop();
            }
        }
        Some("self") => {
            segments.remove(0);
        }
        // A child module named directly (2018 paths), or an external crate.
        Some(first) => {
            let child = if here.is_empty() {
                first.to_owned()
            } else {
                format!("{here}::{first}")
            };
            if !known.contains_key(&child) {
                return None;
            }
        }
        None => return None,
    }
    let mut full: Vec<&str> = base;
    full.extend(segments);
    (0..=full.len())
        .rev()
        .map(|n| full[..n].join("::"))
        .find(|candidate| known.contains_key(candidate))
}

/// Every file's imports of other files: module → modules.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    let mut graph = BTreeMap::new();
    for (module, file) in &known {
        let code = without_tests(&code_only(&std::fs::read_to_string(file).unwrap()));
        let targets: BTreeSet<String> = named_paths(&code)
            .iter()
            .filter_map(|p| resolve(p, module, &known))
            .filter(|target| target != module && !target.is_empty())
            .collect();
        graph.insert(module.clone(), targets);
    }
    graph
}

/// The strongly connected components of more than one module (Tarjan's).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn the_import_reader_sees_what_a_file_imports() {
    let known: BTreeMap<String, PathBuf> = ["", "a", "a::b", "a::b::c", "d"]
        .iter()
        .map(|m| ((*m).to_owned(), PathBuf::new()))
        .collect();
    let code = without_tests(&code_only(
        "use crate::{d, a::b::{self, Thing}};\n// use crate::hidden;\nfn f() { super::super::a::x(); let s = \"crate::d\"; }\n#[cfg(test)]\nmod tests { use crate::a::b::c; }",
    ));
    let mut found: Vec<String> = named_paths(&code)
        .iter()
        .filter_map(|p| resolve(p, "a::b::c", &known))
        .filter(|m| !m.is_empty())
        .collect();
    found.sort();
    found.dedup();
    assert_eq!(found, ["a", "a::b", "d"]);
    assert_eq!(resolve("c::x", "a::b", &known).as_deref(), Some("a::b::c"));
    assert_eq!(resolve("serde::Deserialize", "a::b", &known), None);
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("x", vec!["y"]),
        ("y", vec!["z"]),
        ("z", vec!["x"]),
        ("w", vec!["x"]),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
    .collect();
    assert_eq!(cycles(&graph), vec![vec!["x", "y", "z"]]);
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let graph = import_graph();
    assert!(graph.len() > 50, "the reader found the crate's files");
    assert!(
        graph["routes::apps::keys"].contains("services::keys"),
        "the reader follows imports"
    );
    let found = cycles(&graph);
    assert!(found.is_empty(), "import cycles: {found:#?}");
}

#[test]
fn every_import_points_down_the_layers() {
    let mut wrong = Vec::new();
    for (from, targets) in import_graph() {
        if from.is_empty() {
            continue;
        }
        let Some(from_layer) = layer_of(top(&from)) else {
            wrong.push(format!("{from}: its module is in no layer of LAYERS"));
            continue;
        };
        for to in targets {
            if top(&to) == top(&from) {
                continue;
            }
            match layer_of(top(&to)) {
                Some(to_layer) if to_layer < from_layer => {}
                _ => wrong.push(format!("{from} imports {to}")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "arrows pointing up or sideways:\n{}",
        wrong.join("\n")
    );
}
