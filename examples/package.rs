//! The release: builds the three shipped binaries and writes the Octopus package
//! `octopus-runkey.<version>.tar.gz` (version from Cargo.toml) for the built-in feed, with
//! one folder per platform:
//!
//! - `linux-x64/octopus-runkey`: x86_64-unknown-linux-musl, static;
//! - `linux-arm64/octopus-runkey`: aarch64-unknown-linux-musl, static;
//! - `win-x64/octopus-runkey.exe`: x86_64-pc-windows-gnu, no DLL beyond Windows' own.
//!
//! `cargo run --release --example package` builds all three (the targets and C toolchains
//! of `.cargo/config.toml` must be installed: `.ci/run` installs them) and writes the package
//! to `target/package/`. `--binary PLATFORM=PATH` (all three) packages existing binaries
//! instead of building; `--out DIR` picks the folder. The Linux binaries carry their run bit
//! in the archive, and the step templates set it again after extraction.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const PACKAGE_ID: &str = "octopus-runkey";

/// (folder in the package, Rust target, file name).
const PLATFORMS: [(&str, &str, &str); 3] = [
    ("linux-x64", "x86_64-unknown-linux-musl", "octopus-runkey"),
    (
        "linux-arm64",
        "aarch64-unknown-linux-musl",
        "octopus-runkey",
    ),
    ("win-x64", "x86_64-pc-windows-gnu", "octopus-runkey.exe"),
];

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
    let mut given: Vec<(String, PathBuf)> = Vec::new();
    let mut out = root.join("target").join("package");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--binary" => {
                let value = args.next().ok_or("--binary needs PLATFORM=PATH")?;
                let (platform, path) = value
                    .split_once('=')
                    .ok_or("--binary needs PLATFORM=PATH")?;
                if !PLATFORMS.iter().any(|(folder, ..)| *folder == platform) {
                    return Err(format!(
                        "unknown platform '{platform}': linux-x64, linux-arm64 or win-x64"
                    ));
                }
                given.push((platform.to_string(), PathBuf::from(path)));
            }
            "--out" => out = PathBuf::from(args.next().ok_or("--out needs a folder")?),
            other => {
                return Err(format!(
                    "unknown argument '{other}': use --binary PLATFORM=PATH and --out DIR"
                ));
            }
        }
    }
    let mut binaries = Vec::new();
    for (folder, target, file) in PLATFORMS {
        let path = if given.is_empty() {
            build(root, target)?.join(file)
        } else {
            given
                .iter()
                .find(|(platform, _)| platform == folder)
                .map(|(_, path)| path.clone())
                .ok_or_else(|| format!("--binary {folder}=PATH is missing"))?
        };
        binaries.push((folder, file, path));
    }
    write_package(&binaries, &out, env!("CARGO_PKG_VERSION"))
}

/// `cargo build --release --target <target>`; the folder holding its binary.
fn build(root: &Path, target: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--bin",
            PACKAGE_ID,
            "--target",
            target,
        ])
        .current_dir(root)
        .status()
        .map_err(|e| format!("running cargo failed: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --release --target {target} failed (rustup target add {target}; the C toolchain is in .cargo/config.toml)"
        ));
    }
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target_dir.join(target).join("release"))
}

/// `<out>/octopus-runkey.<version>.tar.gz` holding `<platform>/<binary>` for each, mode
/// 0755, owned by root, so that it extracts the same on every worker.
fn write_package(
    binaries: &[(&str, &str, PathBuf)],
    out: &Path,
    version: &str,
) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let stage = out.join(format!(".stage-{}", std::process::id()));
    let result = (|| {
        for (folder, file, binary) in binaries {
            if !binary.is_file() {
                return Err(format!("{} does not exist", binary.display()));
            }
            let dir = stage.join(folder);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            let staged = dir.join(file);
            std::fs::copy(binary, &staged).map_err(|e| format!("copying the binary: {e}"))?;
            std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }
        let archive = out.join(format!("{PACKAGE_ID}.{version}.tar.gz"));
        let status = Command::new("tar")
            .args([
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--sort=name",
                "-czf",
            ])
            .arg(&archive)
            .arg("-C")
            .arg(&stage)
            .args(binaries.iter().map(|(folder, ..)| folder))
            .status()
            .map_err(|e| format!("running tar failed: {e}"))?;
        if !status.success() {
            return Err("tar failed".into());
        }
        Ok(archive)
    })();
    let _ = std::fs::remove_dir_all(&stage);
    result
}
