//! The Octopus package: `octopus-runkey.<version>.tar.gz`, the binary at its root, runnable.

use std::path::PathBuf;
use std::process::Command;

use crate::support::BIN;

#[test]
fn the_package_has_the_feed_name_and_the_binary_at_its_root_with_its_run_bit() {
    let examples = PathBuf::from(BIN).parent().unwrap().join("examples");
    let packager = examples.join("package");
    assert!(packager.exists(), "cargo test builds the package example");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(&packager)
        .arg("--binary")
        .arg(BIN)
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
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 1, "{listing}");
    assert!(lines[0].starts_with("-rwxr-xr-x 0/0"), "{listing}");
    assert!(lines[0].ends_with(" octopus-runkey"), "{listing}");
}
