//! Embeds every step template of `step-templates/` in the binary, so that `setup` installs
//! exactly the templates this version ships: the binary and its templates cannot drift.
//! Also names, for `--version`, the commit the binary was built from (`RUNKEY_COMMIT` in
//! the environment, else `git rev-parse`, else `unknown`) and the target it was built for.

use std::fmt::Write;
use std::path::Path;

fn main() {
    templates();
    println!("cargo:rustc-env=RUNKEY_COMMIT={}", commit());
    println!(
        "cargo:rustc-env=RUNKEY_TARGET={}",
        std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string())
    );
}

/// The commit: given (a release built from a source archive), else asked of git.
fn commit() -> String {
    println!("cargo:rerun-if-env-changed=RUNKEY_COMMIT");
    if let Ok(given) = std::env::var("RUNKEY_COMMIT")
        && !given.trim().is_empty()
    {
        return given.trim().to_string();
    }
    // A new commit or checkout moves HEAD or the ref it names.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|text| text.trim().to_string())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

fn templates() {
    let dir = Path::new("step-templates");
    println!("cargo:rerun-if-changed=step-templates");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("step-templates/ beside Cargo.toml")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut code = String::from(
        "/// (file name, JSON) of every shipped step template.\npub const TEMPLATES: &[(&str, &str)] = &[\n",
    );
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        let absolute = std::fs::canonicalize(path).unwrap();
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            absolute.display()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("templates.rs");
    std::fs::write(out, code).unwrap();
}
