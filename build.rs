//! Embeds every step template of `step-templates/` in the binary, so that `setup` installs
//! exactly the templates this version ships: the binary and its templates cannot drift.

use std::fmt::Write;
use std::path::Path;

fn main() {
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
