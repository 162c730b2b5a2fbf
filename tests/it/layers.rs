//! The pipeline's layering, read from the source: every `crate::…` path a file names is
//! resolved to the file that defines it, and
//! * no stage imports a stage downstream of it in [`STAGES`] (the order `lib.rs` draws);
//! * no two files import each other, directly or through others (no cycles).
//!
//! `mod` declarations and a parent's `pub use child::…` re-exports are not imports: they are
//! how a folder presents its files, not a dependency of the parent's code on the child's.
//! Nor is a `#[cfg(test)] mod tests { … }` block: a unit test may drive the file it tests
//! through that file's caller (a rule through the session that applies it) without the
//! shipped code depending on anything new.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules in data order; a module may import only itself and those before it.
const STAGES: &[&str] = &[
    "capture",
    "finding",
    "event",
    // Accounting every buffer registers with (issue 18 sets the budget).
    "memory",
    "decode",
    "tcp",
    // TLS over a TCP byte stream: records, hellos, certificate, key log, key schedule, decryption;
    // decrypted bytes handed on in Relays (issue 12).
    "tls",
    "http",
    // HTTP/2 frames, HPACK and extended CONNECT streams; hands DATA on in relays.
    "h2",
    "websocket",
    "engineio",
    // The application-parser switch: HTTP/1 → WebSocket, tunnel, h2c; TLS (seams).
    "dispatch",
    "handshake",
    "correlate",
    "engine",
    "present",
    "sink",
    "report",
    // Wiring: flags to configuration, and the loops that drive the engine into the sinks.
    "cli",
    "run",
    "tui",
    "lib",
    "main",
];

/// Imports that break the order today, each with the reason it is allowed for now. Empty
/// when the layering is whole; an entry that no longer matches fails the test, so the list
/// cannot go stale.
const KNOWN_VIOLATIONS: &[(&str, &str, &str)] = &[];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
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

/// `src/a/b.rs` → `["a", "b"]`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src_dir()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_owned();
    }
    parts
}

/// The file that defines the longest prefix of `path` (a module path), if any.
fn file_of(path: &[String]) -> Option<PathBuf> {
    for n in (1..=path.len()).rev() {
        let mut p = src_dir();
        for seg in &path[..n] {
            p.push(seg);
        }
        let file = p.with_extension("rs");
        if file.is_file() {
            return Some(file);
        }
    }
    None
}

/// Source with comments and string literals blanked, so paths in docs and messages are not
/// taken for imports.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('"' or '\n'); lifetimes ('a) have no closing quote nearby.
            let end = b[i + 1..].iter().position(|&c| c == b'\'').unwrap_or(0);
            i += end + 2;
            out.push_str("' '");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = drop_aliases(tree);
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.len().saturating_sub(1)];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{prefix}{e}")))
        .collect()
}

/// `a::{b as c, d}` → `a::{b,d}`: aliases removed, whitespace gone.
fn drop_aliases(tree: &str) -> String {
    let mut out = String::new();
    let mut words = tree.split_whitespace();
    while let Some(w) = words.next() {
        if w == "as" {
            if let Some(alias) = words.next() {
                out.extend(
                    alias
                        .chars()
                        .filter(|c| !(c.is_alphanumeric() || *c == '_')),
                );
            }
        } else {
            out.push_str(w);
        }
    }
    out
}

/// `code` without its `#[cfg(test)] mod … { … }` blocks (comments and strings already blanked,
/// so the braces balance).
fn without_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        let inline_mod = item.starts_with("mod ")
            && item
                .find(['{', ';'])
                .is_some_and(|i| item.as_bytes()[i] == b'{');
        if !inline_mod {
            rest = after;
            continue;
        }
        let open = item.find('{').unwrap();
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, c) in item[open..].char_indices() {
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
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Module paths a file imports (absolute, from the crate root).
fn imports(file: &Path) -> Vec<Vec<String>> {
    let code = without_test_modules(&code_only(&std::fs::read_to_string(file).unwrap()));
    let here = module_path(file);
    // The module a `super::` in this file refers to.
    let parent: Vec<String> = here[..here.len().saturating_sub(1)].to_vec();
    let mut out = Vec::new();
    let segments = |p: &str| -> Vec<String> {
        p.split("::")
            .filter(|s| !s.is_empty() && *s != "self" && *s != "*")
            .map(str::to_owned)
            .collect()
    };
    for stmt in code.split(';') {
        let stmt = stmt.trim();
        let Some(pos) = stmt.find("use ") else {
            continue;
        };
        let (head, tree) = stmt.split_at(pos);
        let tree = tree.trim_start_matches("use ").trim();
        let reexport = head.trim_end().ends_with("pub") || head.trim_end().ends_with(')');
        for path in expand(tree) {
            let abs = if let Some(rest) = path.strip_prefix("crate::") {
                segments(rest)
            } else if let Some(rest) = path.strip_prefix("super::") {
                // `use super::*` is how an inline `mod tests` reaches the file it tests.
                if rest == "*" {
                    continue;
                }
                let mut p = parent.clone();
                p.extend(segments(rest));
                p
            } else {
                continue;
            };
            let child_of_here = abs.len() > here.len() && abs[..here.len()] == here[..];
            if reexport && child_of_here {
                continue;
            }
            out.push(abs);
        }
    }
    // Paths written out in code: `crate::present::escape(…)`.
    let mut rest = code.as_str();
    while let Some(pos) = rest.find("crate::") {
        let tail = &rest[pos + 7..];
        let end = tail
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        out.push(segments(&tail[..end]));
        rest = &tail[end..];
    }
    out
}

fn stage_of(file: &Path) -> String {
    module_path(file).remove(0)
}

fn rank(stage: &str) -> usize {
    STAGES
        .iter()
        .position(|s| *s == stage)
        .unwrap_or_else(|| panic!("module `{stage}` is not placed in STAGES (tests/it/layers.rs)"))
}

fn rel(file: &Path) -> String {
    file.strip_prefix(src_dir())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// File → files it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let mut g = BTreeMap::new();
    for f in &files {
        let mut deps = BTreeSet::new();
        for path in imports(f) {
            if let Some(target) = file_of(&path) {
                if target != *f {
                    deps.insert(rel(&target));
                }
            }
        }
        g.insert(rel(f), deps);
    }
    g
}

#[test]
fn no_stage_imports_a_later_stage() {
    let g = graph();
    let mut violations = BTreeSet::new();
    for (file, deps) in &g {
        let from = stage_of(&src_dir().join(file));
        for dep in deps {
            let to = stage_of(&src_dir().join(dep));
            if rank(&to) > rank(&from) {
                violations.insert((file.clone(), dep.clone()));
            }
        }
    }
    let mut unexplained = Vec::new();
    for (file, dep) in &violations {
        if !KNOWN_VIOLATIONS
            .iter()
            .any(|(f, d, _)| f == file && d == dep)
        {
            unexplained.push(format!("{file} imports {dep}, which is downstream of it"));
        }
    }
    for (f, d, why) in KNOWN_VIOLATIONS {
        if !violations.contains(&((*f).to_owned(), (*d).to_owned())) {
            unexplained.push(format!(
                "KNOWN_VIOLATIONS lists {f} -> {d} ({why}), which no longer happens: remove it"
            ));
        }
    }
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
}

#[test]
fn no_import_cycles_between_files() {
    let g = graph();
    // Tarjan-free check: a file reaches itself through its imports.
    let mut cycles = Vec::new();
    for start in g.keys() {
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in g.get(&node).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start.clone());
                    cycles.push(cycle.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_imports() {
    // A checker that resolves nothing passes everything: prove it reads real imports.
    let g = graph();
    let engine = &g["engine.rs"];
    assert!(engine.contains("decode.rs"), "{engine:?}");
    assert!(engine.contains("tcp/flow.rs"), "{engine:?}");
    let expanded = expand("a::{b, c::{d, e as f}}");
    assert_eq!(expanded, ["a::b", "a::c::d", "a::c::e"]);
    // Only inline test modules are left out: a `#[cfg(test)]` item or `mod x;` stays.
    let code = "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n    fn f() { if x { } }\n}\n#[cfg(test)]\nmod testing;\nuse crate::c;";
    let kept = without_test_modules(code);
    assert!(
        kept.contains("crate::a") && kept.contains("crate::c"),
        "{kept}"
    );
    assert!(
        kept.contains("mod testing;") && !kept.contains("crate::b"),
        "{kept}"
    );
}
