//! The Octopus package: `octopus-runkey.<version>.tar.gz`, one folder per platform, the
//! Linux binaries runnable.

use std::path::PathBuf;
use std::process::Command;

use crate::support::BIN;

#[test]
fn the_package_has_the_feed_name_and_a_folder_per_platform_with_the_run_bits() {
    let examples = PathBuf::from(BIN).parent().unwrap().join("examples");
    let packager = examples.join("package");
    assert!(packager.exists(), "cargo test builds the package example");
    let out = tempfile::tempdir().unwrap();
    // This machine's binary stands in for all three: the layout is what is tested here
    // (the cross builds themselves are tested in tests/platforms.rs).
    let status = Command::new(&packager)
        .args(["--binary", &format!("linux-x64={BIN}")])
        .args(["--binary", &format!("linux-arm64={BIN}")])
        .args(["--binary", &format!("win-x64={BIN}")])
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let name = format!("octopus-runkey.{}.tar.gz", env!("CARGO_PKG_VERSION"));
    let files: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        files,
        std::slice::from_ref(&name),
        "only the archive is left"
    );
    let listing = Command::new("tar")
        .arg("-tvzf")
        .arg(out.path().join(&name))
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    let mut files: Vec<&str> = listing.lines().filter(|l| l.starts_with('-')).collect();
    files.sort_by_key(|l| l.rsplit(' ').next().unwrap());
    assert_eq!(files.len(), 3, "{listing}");
    for (line, path) in files.iter().zip([
        "linux-arm64/octopus-runkey",
        "linux-x64/octopus-runkey",
        "win-x64/octopus-runkey.exe",
    ]) {
        assert!(line.starts_with("-rwxr-xr-x 0/0"), "{listing}");
        assert!(line.ends_with(&format!(" {path}")), "{listing}");
    }
}

#[test]
fn the_packager_wants_all_three_binaries() {
    let packager = PathBuf::from(BIN)
        .parent()
        .unwrap()
        .join("examples/package");
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(&packager)
        .args(["--binary", &format!("linux-x64={BIN}")])
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--binary linux-arm64=PATH is missing")
    );
}
