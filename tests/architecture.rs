//! The shape of the source: no two files of `src/` or `sim/src/` import each other, directly
//! or around a circle, so that each layer can be read without the ones above it. An import
//! is any path in code that resolves into another file: `crate::a::b`, `super::x`, or
//! `child::x` for a submodule; an item reached through a re-export counts as the file that
//! re-exports it, so code imports from the module that defines an item.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// Every `.rs` file under `root`, by module path (`["octopus", "client"]`; `[]` for the
/// crate root).
fn modules(root: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            let mut module: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] {
                module.clear();
            }
            found.insert(module, path);
        }
    }
    found
}

/// The code of a file without comments, string contents and its `#[cfg(test)] mod tests`.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap()
        .to_string();
    let comments = Regex::new(r"//[^\n]*").unwrap();
    let strings = Regex::new(r#""(\\.|[^"\\])*""#).unwrap();
    strings
        .replace_all(&comments.replace_all(&text, ""), "\"\"")
        .into_owned()
}

/// The file a module path resolves into: the longest prefix that is a module of its own.
fn resolve<'a>(files: &'a BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<&'a PathBuf> {
    (0..=path.len()).rev().find_map(|n| files.get(&path[..n]))
}

/// Which files each file imports.
fn imports(root: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let files = modules(root);
    let path = Regex::new(r"(?:^|[^:\w])(crate|super|self|\w+)((?:::\w+)+)").unwrap();
    let group = Regex::new(r"\b(crate|super)((?:::\w+)*)::\{([^}]*)\}").unwrap();
    let mut graph = BTreeMap::new();
    for (module, file) in &files {
        let code = code(file);
        let parent: Vec<String> = module
            .iter()
            .take(module.len().saturating_sub(1))
            .cloned()
            .collect();
        let base = |head: &str| -> Option<Vec<String>> {
            match head {
                "crate" => Some(Vec::new()),
                "super" => Some(parent.clone()),
                "self" => Some(module.clone()),
                child
                    if files.contains_key(&[module.clone(), vec![child.to_string()]].concat()) =>
                {
                    Some([module.clone(), vec![child.to_string()]].concat())
                }
                _ => None,
            }
        };
        let mut targets = BTreeSet::new();
        for found in path.captures_iter(&code) {
            let Some(mut full) = base(&found[1]) else {
                continue;
            };
            full.extend(found[2].split("::").skip(1).map(str::to_string));
            targets.extend(resolve(&files, &full).cloned());
        }
        for found in group.captures_iter(&code) {
            let mut prefix = base(&found[1]).unwrap();
            prefix.extend(found[2].split("::").skip(1).map(str::to_string));
            for item in found[3].split(',') {
                let item = item.split(" as ").next().unwrap().trim();
                if item.is_empty() || item == "self" {
                    continue;
                }
                let mut full = prefix.clone();
                full.extend(item.split("::").map(str::to_string));
                targets.extend(resolve(&files, &full).cloned());
            }
        }
        targets.remove(file);
        graph.insert(file.clone(), targets);
    }
    graph
}

/// The groups of files that import each other around a circle (Tarjan's strongly connected
/// components with more than one file).
fn circles(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'g PathBuf, usize>,
        low: BTreeMap<&'g PathBuf, usize>,
        stack: Vec<&'g PathBuf>,
        found: Vec<Vec<PathBuf>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, file: &'g PathBuf) {
            let n = self.index.len();
            self.index.insert(file, n);
            self.low.insert(file, n);
            self.stack.push(file);
            for next in &self.graph[file] {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[next].min(self.low[file]);
                    self.low.insert(file, low);
                } else if self.stack.contains(&next) {
                    let low = self.index[next].min(self.low[file]);
                    self.low.insert(file, low);
                }
            }
            if self.low[file] == self.index[file] {
                let mut group = Vec::new();
                while let Some(top) = self.stack.pop() {
                    group.push(top.clone());
                    if top == file {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for file in graph.keys() {
        if !walk.index.contains_key(file) {
            walk.visit(file);
        }
    }
    walk.found
}

#[test]
fn no_two_files_import_each_other() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    for root in ["src", "sim/src"] {
        let found = circles(&imports(&top.join(root)));
        assert!(
            found.is_empty(),
            "files in {root}/ that import each other (move what they share into a file both import): {found:#?}"
        );
    }
}

#[test]
fn the_check_sees_a_circle_through_a_re_export() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "mod a;\nmod b;\npub use a::A;\n");
    write("a.rs", "pub struct A;\n");
    write("b.rs", "use crate::A;\n// crate::b::nothing in a comment\n");
    assert!(
        circles(&imports(dir.path())).is_empty(),
        "b imports lib, lib imports a"
    );
    write("a.rs", "use super::b::B;\npub struct A(B);\n");
    write("b.rs", "use crate::A;\npub struct B;\n");
    let found = circles(&imports(dir.path()));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].len(), 3, "a, b and lib: {found:?}");
    // A submodule's path from its parent counts too.
    write("lib.rs", "mod a;\nmod b;\nfn f() { a::g() }\n");
    write("a.rs", "pub fn g() { crate::h() }\n");
    write("b.rs", "\n");
    std::fs::write(
        dir.path().join("lib.rs"),
        "mod a;\nmod b;\nfn f() { a::g() }\npub fn h() {}\n",
    )
    .unwrap();
    assert_eq!(circles(&imports(dir.path())).len(), 1);
}
