//! Builds the static release binary and writes the Octopus package
//! `octopus-runkey.<version>.tar.gz` (version from Cargo.toml, the binary at the archive's
//! root with its run bit), ready to upload to the built-in feed.
//!
//! `cargo run --release --example package` writes it to `target/package/`.
//! `--binary PATH` packages an existing binary instead of building; `--out DIR` picks the
//! folder.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const PACKAGE_ID: &str = "octopus-runkey";

fn main() -> ExitCode {
    match run() {
        Ok(path) => {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            println!(
                "{} ({size} bytes): upload it to Library > Packages",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("package: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut binary = None;
    let mut out = root.join("target").join("package");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--binary" => binary = Some(PathBuf::from(args.next().ok_or("--binary needs a path")?)),
            "--out" => out = PathBuf::from(args.next().ok_or("--out needs a folder")?),
            other => {
                return Err(format!(
                    "unknown argument '{other}': use --binary PATH and --out DIR"
                ));
            }
        }
    }
    let binary = match binary {
        Some(path) => path,
        None => build(root)?,
    };
    write_package(&binary, &out, env!("CARGO_PKG_VERSION"))
}

fn build(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", PACKAGE_ID])
        .current_dir(root)
        .status()
        .map_err(|e| format!("running cargo failed: {e}"))?;
    if !status.success() {
        return Err("cargo build --release failed".into());
    }
    Ok(root
        .join("target/x86_64-unknown-linux-gnu/release")
        .join(PACKAGE_ID))
}

/// `<out>/octopus-runkey.<version>.tar.gz` holding one file, `octopus-runkey`, mode 0755,
/// owned by root, so that it extracts the same on every worker.
fn write_package(binary: &Path, out: &Path, version: &str) -> Result<PathBuf, String> {
    if !binary.is_file() {
        return Err(format!("{} does not exist", binary.display()));
    }
    let stage = out.join(format!(".stage-{}", std::process::id()));
    std::fs::create_dir_all(&stage).map_err(|e| format!("creating {}: {e}", stage.display()))?;
    let staged = stage.join(PACKAGE_ID);
    std::fs::copy(binary, &staged).map_err(|e| format!("copying the binary: {e}"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let archive = out.join(format!("{PACKAGE_ID}.{version}.tar.gz"));
    let status = Command::new("tar")
        .args(["--owner=0", "--group=0", "--numeric-owner", "-czf"])
        .arg(&archive)
        .arg("-C")
        .arg(&stage)
        .arg(PACKAGE_ID)
        .status()
        .map_err(|e| format!("running tar failed: {e}"))?;
    let _ = std::fs::remove_dir_all(&stage);
    if !status.success() {
        return Err("tar failed".into());
    }
    Ok(archive)
}
