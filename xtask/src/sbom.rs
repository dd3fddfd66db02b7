//! The software bill of materials of one shipped binary: a CycloneDX 1.5 JSON document that
//! a security team can load into Dependency-Track, grype or trivy without running anything
//! of ours, and tie to the binary it describes by the binary's SHA-256 (in
//! `metadata.component.hashes`, the same sum as `sha256sum` of the extracted file).
//!
//! The crates are the ones cargo compiles for that target: `cargo tree -e normal --target
//! <triple>` of the binary's package alone, so that features enabled only by the workspace's
//! other members (the simulator, this xtask, the tests) do not add crates the binary lacks,
//! as `cargo metadata`'s whole-workspace resolve would. Each crate has its version, its
//! licence expression, its crates.io package URL and the SHA-256 that Cargo.lock holds for
//! its `.crate`. Crates linked into the binary have scope `required`; the proc-macros that
//! generated some of its code, and what only they use, ran in the compiler and are
//! `excluded`. Build scripts' own dependencies (a C compiler driver) are not listed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::dist::cargo;

/// One crate of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// Where it comes from when that is not crates.io (a path, a git URL).
    pub source: Option<String>,
    pub proc_macro: bool,
    pub license: Option<String>,
    pub repository: Option<String>,
}

/// The dependency tree of one package for one target: `crates[0]` is the package itself.
#[derive(Debug)]
pub struct Tree {
    pub crates: Vec<Crate>,
    /// (dependent, dependency), as indices into `crates`.
    pub edges: BTreeSet<(usize, usize)>,
}

/// The fields `cargo tree` prints per line, tab-separated.
const TREE_FORMAT: &str = "{p}\t{l}\t{r}";

impl Tree {
    /// `cargo tree` of `package` for `target`: normal dependencies only (not dev, not build).
    pub fn read(root: &Path, package: &str, target: &str) -> Result<Tree> {
        let output = cargo()
            .args(["tree", "--locked", "--package", package, "--target", target])
            .args([
                "--edges",
                "normal",
                "--prefix",
                "depth",
                "--format",
                TREE_FORMAT,
            ])
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .output()
            .context("running cargo tree")?;
        if !output.status.success() {
            bail!(
                "cargo tree --target {target} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Tree::parse(&String::from_utf8_lossy(&output.stdout))
            .with_context(|| format!("reading cargo tree's answer for {target}"))
    }

    /// Reads `cargo tree --prefix depth --format "{p}\t{l}\t{r}"`: each line is the depth,
    /// then the crate; a crate shown before ends in ` (*)` and its dependencies are not
    /// repeated, so every edge is seen once, under the crate's first appearance.
    pub fn parse(text: &str) -> Result<Tree> {
        let mut crates: Vec<Crate> = Vec::new();
        let mut index: HashMap<(String, String, Option<String>), usize> = HashMap::new();
        let mut edges = BTreeSet::new();
        // The path from the root to the line before: the crate at each depth.
        let mut path: Vec<usize> = Vec::new();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            let depth: usize = line[..digits]
                .parse()
                .with_context(|| format!("no depth at the start of '{line}'"))?;
            let line = &line[digits..];
            let line = line.strip_suffix(" (*)").unwrap_or(line);
            let mut fields = line.split('\t');
            let package = fields.next().unwrap_or_default();
            let nonempty = |field: Option<&str>| field.filter(|f| !f.is_empty()).map(String::from);
            let license = nonempty(fields.next());
            let repository = nonempty(fields.next());
            let krate = parse_package(package, license, repository)
                .with_context(|| format!("cannot read the crate in '{line}'"))?;
            let key = (
                krate.name.clone(),
                krate.version.clone(),
                krate.source.clone(),
            );
            let id = *index.entry(key).or_insert_with(|| {
                crates.push(krate);
                crates.len() - 1
            });
            if depth > path.len() {
                bail!("'{line}' is at depth {depth}, deeper than the line before allows");
            }
            if depth == 0 && id != 0 {
                bail!("'{line}' is a second root");
            }
            path.truncate(depth);
            if let Some(&parent) = path.last() {
                edges.insert((parent, id));
            }
            path.push(id);
        }
        if crates.is_empty() {
            bail!("cargo tree printed no crate");
        }
        Ok(Tree { crates, edges })
    }

    /// Whether each crate is linked into the binary: reached from the root without passing
    /// through a proc-macro.
    pub fn linked(&self) -> Vec<bool> {
        let mut linked = vec![false; self.crates.len()];
        let mut next = vec![0];
        while let Some(id) = next.pop() {
            if linked[id] || self.crates[id].proc_macro {
                continue;
            }
            linked[id] = true;
            next.extend(self.dependencies(id));
        }
        linked
    }

    fn dependencies(&self, id: usize) -> impl Iterator<Item = usize> + '_ {
        self.edges
            .range((id, 0)..(id + 1, 0))
            .map(|&(_, dependency)| dependency)
    }
}

/// `name vX.Y.Z`, then `(proc-macro)` and/or `(<source>)` for a crate not from crates.io.
fn parse_package(text: &str, license: Option<String>, repository: Option<String>) -> Result<Crate> {
    let mut words = text.splitn(3, ' ');
    let name = words.next().filter(|n| !n.is_empty()).context("no name")?;
    let version = words
        .next()
        .and_then(|v| v.strip_prefix('v'))
        .context("no version")?;
    let mut proc_macro = false;
    let mut source = None;
    let mut rest = words.next().unwrap_or_default().trim();
    while let Some(open) = rest.strip_prefix('(') {
        let close = open.find(')').context("an unclosed parenthesis")?;
        match &open[..close] {
            "proc-macro" => proc_macro = true,
            other => source = Some(other.to_string()),
        }
        rest = open[close + 1..].trim_start();
    }
    if !rest.is_empty() {
        bail!("unexpected '{rest}'");
    }
    Ok(Crate {
        name: name.to_string(),
        version: version.to_string(),
        source,
        proc_macro,
        license,
        repository,
    })
}

/// The checksums Cargo.lock holds for crates.io packages: (name, version) -> SHA-256 of the
/// `.crate` file, as crates.io publishes it.
pub fn lock_checksums(lock: &str) -> HashMap<(String, String), String> {
    let mut sums = HashMap::new();
    let mut name = None;
    let mut version = None;
    let mut from_crates_io = false;
    let value = |line: &str, key: &str| {
        line.strip_prefix(key)
            .and_then(|rest| rest.trim_start().strip_prefix('='))
            .map(|rest| rest.trim().trim_matches('"').to_string())
    };
    for line in lock.lines() {
        if line.trim() == "[[package]]" {
            (name, version, from_crates_io) = (None, None, false);
        } else if let Some(v) = value(line, "name") {
            name = Some(v);
        } else if let Some(v) = value(line, "version") {
            version = Some(v);
        } else if let Some(v) = value(line, "source") {
            from_crates_io = v == "registry+https://github.com/rust-lang/crates.io-index"
                || v == "sparse+https://index.crates.io/";
        } else if let Some(sum) = value(line, "checksum")
            && from_crates_io
            && let (Some(name), Some(version)) = (&name, &version)
        {
            sums.insert((name.clone(), version.clone()), sum);
        }
    }
    sums
}

/// The shipped binary the document describes.
pub struct Binary<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub description: Option<&'a str>,
    pub license: Option<&'a str>,
    pub target: &'a str,
    pub file_name: &'a str,
    pub sha256: &'a str,
}

/// The CycloneDX 1.5 document of `binary`, whose crates are `tree`.
pub fn cyclonedx(
    binary: &Binary,
    tree: &Tree,
    checksums: &HashMap<(String, String), String>,
    time: Timestamp,
) -> Value {
    let linked = tree.linked();
    let reference = |krate: &Crate| match &krate.source {
        None => purl(krate),
        Some(source) => format!("{}@{} ({source})", krate.name, krate.version),
    };
    let mut application = json!({
        "type": "application",
        "bom-ref": reference(&tree.crates[0]),
        "name": binary.name,
        "version": binary.version,
        "hashes": [{ "alg": "SHA-256", "content": binary.sha256 }],
        "properties": [
            { "name": "rust:target", "value": binary.target },
            { "name": "file", "value": binary.file_name },
        ],
    });
    if let Some(description) = binary.description {
        application["description"] = json!(description);
    }
    if let Some(license) = binary.license {
        application["licenses"] = json!([{ "expression": spdx(license) }]);
    }

    let mut components = BTreeMap::new();
    for (id, krate) in tree.crates.iter().enumerate().skip(1) {
        let mut component = json!({
            "type": "library",
            "bom-ref": reference(krate),
            "name": krate.name,
            "version": krate.version,
            "scope": if linked[id] { "required" } else { "excluded" },
        });
        if let Some(license) = &krate.license {
            component["licenses"] = json!([{ "expression": spdx(license) }]);
        }
        if krate.source.is_none() {
            component["purl"] = json!(purl(krate));
            let key = (krate.name.clone(), krate.version.clone());
            if let Some(sum) = checksums.get(&key) {
                component["hashes"] = json!([{ "alg": "SHA-256", "content": sum }]);
            }
        }
        if let Some(repository) = &krate.repository {
            component["externalReferences"] = json!([{ "type": "vcs", "url": repository }]);
        }
        components.insert(reference(krate), component);
    }

    let dependencies: Vec<Value> = (0..tree.crates.len())
        .map(|id| {
            let depends_on: BTreeSet<String> = tree
                .dependencies(id)
                .map(|dependency| reference(&tree.crates[dependency]))
                .collect();
            json!({ "ref": reference(&tree.crates[id]), "dependsOn": depends_on })
        })
        .collect();

    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": time.to_string(),
            "component": application,
        },
        "components": components.into_values().collect::<Vec<_>>(),
        "dependencies": dependencies,
    })
}

/// `pkg:cargo/<name>@<version>`, the package URL scanners match advisories against.
fn purl(krate: &Crate) -> String {
    format!(
        "pkg:cargo/{}@{}",
        krate.name,
        krate.version.replace('+', "%2B")
    )
}

/// A licence field as an SPDX expression: Cargo once allowed `MIT/Apache-2.0` for `OR`.
fn spdx(license: &str) -> String {
    license.replace('/', " OR ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &str = "\
0octopus-runkey v0.1.0 (/work/main)\tApache-2.0\t
1serde v1.0.229\tMIT OR Apache-2.0\thttps://github.com/serde-rs/serde
2serde_derive v1.0.229 (proc-macro)\tMIT OR Apache-2.0\thttps://github.com/serde-rs/serde
3proc-macro2 v1.0.107\tMIT OR Apache-2.0\t
4unicode-ident v1.0.27\t(MIT OR Apache-2.0) AND Unicode-3.0\t
3quote v1.0.47\tMIT OR Apache-2.0\t
4proc-macro2 v1.0.107\tMIT OR Apache-2.0\t (*)
1ureq v3.5.1\tMIT OR Apache-2.0\t
2serde v1.0.229\tMIT OR Apache-2.0\thttps://github.com/serde-rs/serde (*)
2unicode-ident v1.0.27\t(MIT OR Apache-2.0) AND Unicode-3.0\t
1octopus-sim v0.1.0 (/work/main/sim)\t\t
";

    fn names(tree: &Tree, ids: impl Iterator<Item = usize>) -> Vec<String> {
        ids.map(|id| tree.crates[id].name.clone()).collect()
    }

    #[test]
    fn each_crate_is_read_once_with_its_version_license_and_source() {
        let tree = Tree::parse(TREE).unwrap();
        assert_eq!(
            names(&tree, 0..tree.crates.len()),
            [
                "octopus-runkey",
                "serde",
                "serde_derive",
                "proc-macro2",
                "unicode-ident",
                "quote",
                "ureq",
                "octopus-sim"
            ]
        );
        let derive = &tree.crates[2];
        assert_eq!(derive.version, "1.0.229");
        assert!(derive.proc_macro);
        assert_eq!(derive.source, None);
        assert_eq!(
            derive.repository.as_deref(),
            Some("https://github.com/serde-rs/serde")
        );
        assert_eq!(
            tree.crates[4].license.as_deref(),
            Some("(MIT OR Apache-2.0) AND Unicode-3.0")
        );
        assert_eq!(tree.crates[7].source.as_deref(), Some("/work/main/sim"));
        assert_eq!(tree.crates[7].license, None);
        assert_eq!(tree.crates[0].repository, None);
    }

    #[test]
    fn each_line_depends_from_the_line_above_it_one_level_up() {
        let tree = Tree::parse(TREE).unwrap();
        assert_eq!(
            names(&tree, tree.dependencies(0)),
            ["serde", "ureq", "octopus-sim"]
        );
        assert_eq!(names(&tree, tree.dependencies(5)), ["proc-macro2"]);
        // ureq's serde (*) is the serde shown before: an edge, and no second crate.
        assert_eq!(
            names(&tree, tree.dependencies(6)),
            ["serde", "unicode-ident"]
        );
    }

    #[test]
    fn what_only_a_proc_macro_uses_is_not_linked() {
        let tree = Tree::parse(TREE).unwrap();
        let linked = tree.linked();
        let linked: Vec<String> = names(&tree, (0..linked.len()).filter(|&id| linked[id]));
        // unicode-ident is linked through ureq, though first seen under the proc-macro.
        assert_eq!(
            linked,
            [
                "octopus-runkey",
                "serde",
                "unicode-ident",
                "ureq",
                "octopus-sim"
            ]
        );
    }

    #[test]
    fn a_line_deeper_than_its_parent_allows_is_refused() {
        let error = Tree::parse("0a v1.0.0\n2b v1.0.0\n").unwrap_err();
        assert!(format!("{error:#}").contains("depth 2"), "{error:#}");
        assert!(Tree::parse("").is_err());
        assert!(
            Tree::parse("0a 1.0.0\n").is_err(),
            "no v before the version"
        );
    }

    #[test]
    fn cargo_lock_gives_the_checksum_of_each_crates_io_package() {
        let lock = r#"
version = 4

[[package]]
name = "anyhow"
version = "1.0.104"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "aaaa"

[[package]]
name = "octopus-runkey"
version = "0.1.0"
dependencies = [
 "anyhow",
]

[[package]]
name = "forked"
version = "0.2.0"
source = "git+https://example.com/forked#0123"
checksum = "bbbb"
"#;
        let sums = lock_checksums(lock);
        assert_eq!(
            sums,
            HashMap::from([(("anyhow".into(), "1.0.104".into()), "aaaa".into())])
        );
    }

    #[test]
    fn the_document_ties_the_binary_to_its_crates() {
        let tree = Tree::parse(TREE).unwrap();
        let sums = HashMap::from([(
            ("ureq".to_string(), "3.5.1".to_string()),
            "cccc".to_string(),
        )]);
        let binary = Binary {
            name: "octopus-runkey",
            version: "0.1.0",
            description: Some("run keys"),
            license: Some("Apache-2.0"),
            target: "x86_64-unknown-linux-musl",
            file_name: "octopus-runkey",
            sha256: "dddd",
        };
        let time: Timestamp = "2026-07-01T09:00:00Z".parse().unwrap();
        let bom = cyclonedx(&binary, &tree, &sums, time);
        assert_eq!(bom["bomFormat"], "CycloneDX");
        assert_eq!(bom["metadata"]["timestamp"], "2026-07-01T09:00:00Z");
        let application = &bom["metadata"]["component"];
        assert_eq!(application["hashes"][0]["content"], "dddd");
        assert_eq!(application["licenses"][0]["expression"], "Apache-2.0");
        let components = bom["components"].as_array().unwrap();
        assert_eq!(
            components.len(),
            7,
            "every crate but the binary's own, once"
        );
        let find = |name: &str| components.iter().find(|c| c["name"] == name).unwrap();
        let ureq = find("ureq");
        assert_eq!(ureq["purl"], "pkg:cargo/ureq@3.5.1");
        assert_eq!(ureq["scope"], "required");
        assert_eq!(ureq["hashes"][0]["content"], "cccc");
        assert_eq!(find("serde_derive")["scope"], "excluded");
        assert_eq!(find("quote")["scope"], "excluded");
        assert_eq!(find("unicode-ident")["scope"], "required");
        let sim = find("octopus-sim");
        assert!(sim.get("purl").is_none(), "not a crates.io package: {sim}");
        let root_dependencies = bom["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["ref"] == application["bom-ref"])
            .unwrap();
        assert_eq!(
            root_dependencies["dependsOn"],
            json!([
                "octopus-sim@0.1.0 (/work/main/sim)",
                "pkg:cargo/serde@1.0.229",
                "pkg:cargo/ureq@3.5.1"
            ])
        );
    }

    #[test]
    fn a_slash_in_an_old_license_field_means_or() {
        assert_eq!(spdx("MIT/Apache-2.0"), "MIT OR Apache-2.0");
        assert_eq!(spdx("Apache-2.0 AND ISC"), "Apache-2.0 AND ISC");
    }
}
