//! `cargo xtask dist`: the release set, written to `target/dist/` (or `--out DIR`):
//!
//! - `octopus-runkey.<version>.tar.gz` and `octopus-runkey.<version>.zip`: the Octopus package
//!   for the built-in feed, the same tree in both (`linux-x64/octopus-runkey`,
//!   `linux-arm64/octopus-runkey`, `win-x64/octopus-runkey.exe`, the Linux binaries with their
//!   run bits). Octopus reads the package id and version from the file name alone, so the
//!   dot before the version is part of the contract; the step templates find the binary by
//!   these folder names.
//! - `octopus-runkey-<version>-<target>.tar.gz` (`.zip` for Windows): one binary for use
//!   outside Octopus, in a folder of the archive's name with the README (and any LICENSE),
//!   named as Rust tools name their release archives.
//! - `octopus-runkey-<version>-<target>.cdx.json`: each binary's software bill of materials
//!   (`sbom.rs`).
//! - `SHA256SUMS` over all of them, for `sha256sum -c`.
//!
//! Without `--binary` it builds the three binaries first (`cargo build --release --target
//! <triple>`, with the toolchains of `.cargo/config.toml`); with `--binary PLATFORM=PATH` for
//! each platform it packages binaries already built (CI builds them once, tests them, then
//! packages them). Every file's time is `SOURCE_DATE_EPOCH`, else the last commit's, so the
//! same binaries give the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

use crate::archive::{self, Entry, Format};
use crate::checksums;
use crate::sbom;

/// The package id in the built-in feed, and the binary's name.
pub const PACKAGE_ID: &str = "octopus-runkey";

/// One shipped binary.
pub struct Platform {
    /// Its folder in the Octopus package, and the name `--binary` takes.
    pub name: &'static str,
    /// The Rust target it is built for.
    pub target: &'static str,
    /// The binary's file name.
    pub binary: &'static str,
    /// Its own archive's format: zip where Windows administrators expect it.
    pub format: Format,
}

pub const PLATFORMS: [Platform; 3] = [
    Platform {
        name: "linux-x64",
        target: "x86_64-unknown-linux-musl",
        binary: PACKAGE_ID,
        format: Format::TarGz,
    },
    Platform {
        name: "linux-arm64",
        target: "aarch64-unknown-linux-musl",
        binary: PACKAGE_ID,
        format: Format::TarGz,
    },
    Platform {
        name: "win-x64",
        target: "x86_64-pc-windows-gnu",
        binary: "octopus-runkey.exe",
        format: Format::Zip,
    },
];

/// What was asked for: the binaries to package (in `PLATFORMS` order; none: build them)
/// and where to write.
pub struct Request {
    binaries: Option<Vec<PathBuf>>,
    out: Option<PathBuf>,
}

impl Request {
    /// `--binary PLATFORM=PATH` arguments: all three platforms once each, or none.
    pub fn parse(arguments: &[String], out: Option<PathBuf>) -> Result<Request> {
        if arguments.is_empty() {
            return Ok(Request {
                binaries: None,
                out,
            });
        }
        let mut given: Vec<Option<PathBuf>> = vec![None; PLATFORMS.len()];
        for argument in arguments {
            let Some((name, path)) = argument.split_once('=') else {
                bail!(
                    "--binary {argument}: give PLATFORM=PATH, e.g. linux-x64=target/x86_64-unknown-linux-musl/release/octopus-runkey"
                );
            };
            let Some(index) = PLATFORMS.iter().position(|p| p.name == name) else {
                bail!(
                    "--binary {argument}: unknown platform '{name}': linux-x64, linux-arm64 or win-x64"
                );
            };
            if given[index].replace(PathBuf::from(path)).is_some() {
                bail!("--binary {name}=PATH is given twice");
            }
        }
        let mut binaries = Vec::new();
        for (platform, path) in PLATFORMS.iter().zip(given) {
            let path = path.with_context(|| {
                format!(
                    "--binary {}=PATH is missing: give all three binaries, or none to build them",
                    platform.name
                )
            })?;
            binaries.push(path);
        }
        Ok(Request {
            binaries: Some(binaries),
            out,
        })
    }
}

/// What the release needs to know of the workspace, from `cargo metadata`.
pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub version: String,
    pub description: Option<String>,
    pub license: Option<String>,
}

pub fn run(request: Request) -> Result<()> {
    let workspace = Workspace::read()?;
    let binaries = match request.binaries {
        Some(binaries) => binaries,
        None => PLATFORMS
            .iter()
            .map(|platform| build(&workspace, platform))
            .collect::<Result<_>>()?,
    };
    for (platform, binary) in PLATFORMS.iter().zip(&binaries) {
        if !binary.is_file() {
            bail!(
                "the {} binary {} does not exist",
                platform.name,
                binary.display()
            );
        }
    }
    let out = prepare_out(&workspace, request.out)?;
    let time = release_time(&workspace.root)?;
    let files = write_release(&workspace, &binaries, &out, time)?;
    for name in &files {
        let size = std::fs::metadata(out.join(name))?.len();
        println!("{} ({size} bytes)", out.join(name).display());
    }
    println!(
        "check it: cd {} && sha256sum -c SHA256SUMS; then `octopus-runkey setup --package {}.{}.tar.gz` (docs/runbook-setup.md, step 4)",
        out.display(),
        PACKAGE_ID,
        workspace.version
    );
    Ok(())
}

/// Writes the release set into `out` (which exists and is empty); the names of the files,
/// `SHA256SUMS` last.
pub fn write_release(
    workspace: &Workspace,
    binaries: &[PathBuf],
    out: &Path,
    time: Timestamp,
) -> Result<Vec<String>> {
    let version = &workspace.version;
    let mut files = Vec::new();

    // The Octopus package: one folder per platform, the same tree as .tar.gz and .zip.
    let mut package = Vec::new();
    for (platform, binary) in PLATFORMS.iter().zip(binaries) {
        package.push(Entry::dir(format!("{}/", platform.name)));
        package.push(Entry::executable(
            format!("{}/{}", platform.name, platform.binary),
            binary,
        ));
    }
    for format in [Format::TarGz, Format::Zip] {
        let name = format!("{PACKAGE_ID}.{version}.{}", format.extension());
        archive::write(format, &out.join(&name), &package, time)?;
        files.push(name);
    }

    // One archive per platform, and its binary's bill of materials.
    let documents = readme_and_licenses(&workspace.root)?;
    let lock =
        std::fs::read_to_string(workspace.root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let checksums = sbom::lock_checksums(&lock);
    for (platform, binary) in PLATFORMS.iter().zip(binaries) {
        let stem = format!("{PACKAGE_ID}-{version}-{}", platform.target);
        let mut entries = vec![
            Entry::dir(format!("{stem}/")),
            Entry::executable(format!("{stem}/{}", platform.binary), binary),
        ];
        for document in &documents {
            let file_name = document.file_name().and_then(|n| n.to_str()).unwrap();
            entries.push(Entry::file(format!("{stem}/{file_name}"), document));
        }
        let name = format!("{stem}.{}", platform.format.extension());
        archive::write(platform.format, &out.join(&name), &entries, time)?;
        files.push(name);

        let tree = sbom::Tree::read(&workspace.root, PACKAGE_ID, platform.target)?;
        let shipped = sbom::Binary {
            name: PACKAGE_ID,
            version,
            description: workspace.description.as_deref(),
            license: workspace.license.as_deref(),
            target: platform.target,
            file_name: platform.binary,
            sha256: &checksums::sha256_file(binary)?,
        };
        let document = sbom::cyclonedx(&shipped, &tree, &checksums, time);
        let name = format!("{stem}.cdx.json");
        let mut text = serde_json::to_string_pretty(&document)?;
        text.push('\n');
        std::fs::write(out.join(&name), text)
            .with_context(|| format!("writing {}", out.join(&name).display()))?;
        files.push(name);
    }

    checksums::write_sums(out, &files)?;
    files.push(checksums::SUMS.to_string());
    Ok(files)
}

impl Workspace {
    /// `cargo metadata --no-deps` of the workspace this xtask belongs to.
    fn read() -> Result<Workspace> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask/ is inside the workspace")
            .to_path_buf();
        let output = cargo()
            .args(["metadata", "--no-deps", "--locked", "--format-version", "1"])
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .output()
            .context("running cargo metadata")?;
        if !output.status.success() {
            bail!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let metadata: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("reading cargo metadata's answer")?;
        let package = metadata["packages"]
            .as_array()
            .and_then(|packages| packages.iter().find(|p| p["name"] == PACKAGE_ID))
            .with_context(|| format!("cargo metadata lists no package {PACKAGE_ID}"))?;
        let text = |value: &serde_json::Value| value.as_str().map(str::to_string);
        Ok(Workspace {
            root: text(&metadata["workspace_root"])
                .context("cargo metadata gave no workspace_root")?
                .into(),
            target_dir: text(&metadata["target_directory"])
                .context("cargo metadata gave no target_directory")?
                .into(),
            version: text(&package["version"]).context("the package has no version")?,
            description: text(&package["description"]),
            license: text(&package["license"]),
        })
    }
}

/// The cargo that runs this task (`cargo xtask` sets `CARGO`), else the one on PATH, without
/// the variables `cargo run` set for the xtask itself: ring's build script watches
/// `CARGO_MANIFEST_DIR`, so with them every `cargo xtask dist` and the next plain `cargo
/// build --target` would rebuild each other's binaries from scratch.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_xtask = name.starts_with("CARGO_PKG_")
            || matches!(
                &*name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_RUSTC_CURRENT_DIR"
            );
        if set_for_xtask {
            command.env_remove(&*name);
        }
    }
    command
}

/// `cargo build --release --target <triple>` of the shipped binary; its path.
fn build(workspace: &Workspace, platform: &Platform) -> Result<PathBuf> {
    let status = cargo()
        .args(["build", "--release", "--locked", "--package", PACKAGE_ID])
        .args(["--bin", PACKAGE_ID, "--target", platform.target])
        .arg("--manifest-path")
        .arg(workspace.root.join("Cargo.toml"))
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!(
            "cargo build --release --target {0} failed: rustup target add {0}, and install the C toolchain .cargo/config.toml names for it (CONTRIBUTING.md, Releasing)",
            platform.target
        );
    }
    Ok(workspace
        .target_dir
        .join(platform.target)
        .join("release")
        .join(platform.binary))
}

/// `target/dist/`, emptied (it holds one release at a time), or `--out DIR`, which must be
/// absent or empty so that `SHA256SUMS` covers everything in it.
fn prepare_out(workspace: &Workspace, out: Option<PathBuf>) -> Result<PathBuf> {
    let out = match out {
        Some(out) => {
            let is_empty = match std::fs::read_dir(&out) {
                Ok(mut entries) => entries.next().is_none(),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => true,
                Err(error) => {
                    return Err(error).with_context(|| format!("reading {}", out.display()));
                }
            };
            if !is_empty {
                bail!(
                    "--out {} is not empty: give a new or empty folder",
                    out.display()
                );
            }
            out
        }
        None => {
            let out = workspace.target_dir.join("dist");
            if out.exists() {
                std::fs::remove_dir_all(&out)
                    .with_context(|| format!("emptying {}", out.display()))?;
            }
            out
        }
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    Ok(out)
}

/// The time every file in the archives carries: `SOURCE_DATE_EPOCH` (the reproducible-builds
/// convention), else the last commit's, else 1980-01-01, the earliest a zip can hold.
fn release_time(root: &Path) -> Result<Timestamp> {
    if let Some(value) = std::env::var_os("SOURCE_DATE_EPOCH") {
        let value = value.to_string_lossy();
        let seconds: i64 = value.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH '{value}' is not a number of seconds since 1970")
        })?;
        return Timestamp::from_second(seconds)
            .with_context(|| format!("SOURCE_DATE_EPOCH '{value}' is out of range"));
    }
    let commit = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["log", "-1", "--format=%ct"])
        .output();
    if let Ok(output) = commit
        && output.status.success()
        && let Ok(seconds) = String::from_utf8_lossy(&output.stdout).trim().parse()
    {
        return Ok(Timestamp::from_second(seconds)?);
    }
    Ok(Timestamp::from_second(315_532_800)?)
}

/// The workspace's README.md and LICENSE*/COPYING* files, for the per-platform archives.
fn readme_and_licenses(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let upper = name.to_ascii_uppercase();
        let wanted =
            name == "README.md" || upper.starts_with("LICENSE") || upper.starts_with("COPYING");
        if wanted && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}
