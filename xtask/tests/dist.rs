//! `cargo xtask dist` end to end, on stand-in binaries (`--binary`): the cross builds
//! themselves are `.ci/run`'s, and tests/platforms.rs runs them. Each stand-in holds its own
//! platform's name, so that a binary in the wrong folder or archive shows. GNU `tar` and
//! `sha256sum` read what the xtask wrote, as people and Octopus workers will.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// 2026-07-01T09:00:00Z: the time every archive entry must carry.
const EPOCH: &str = "1782896400";

/// (folder in the Octopus package, target, binary's file name, its own archive's extension).
const PLATFORMS: [(&str, &str, &str, &str); 3] = [
    (
        "linux-x64",
        "x86_64-unknown-linux-musl",
        "octopus-runkey",
        "tar.gz",
    ),
    (
        "linux-arm64",
        "aarch64-unknown-linux-musl",
        "octopus-runkey",
        "tar.gz",
    ),
    (
        "win-x64",
        "x86_64-pc-windows-gnu",
        "octopus-runkey.exe",
        "zip",
    ),
];

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The shipped package's version, from the root Cargo.toml's `[package]`.
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        let line = manifest
            .lines()
            .find(|l| l.starts_with("version = "))
            .unwrap();
        line.split('"').nth(1).unwrap().to_string()
    })
}

/// The stand-in binary of a platform: its name, then some bytes that do not compress away.
fn stand_in(platform: &str) -> Vec<u8> {
    let mut bytes = format!("stand-in for the {platform} binary\n").into_bytes();
    bytes.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    bytes
}

struct Release {
    _dir: tempfile::TempDir,
    out: PathBuf,
    binaries: PathBuf,
}

/// `cargo xtask dist --binary ... --out DIR`, run once for the tests that read its output.
fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let binaries = dir.path().join("bin");
        let out = dir.path().join("dist");
        let output = dist(&binaries, &out, &PLATFORMS.map(|p| p.0));
        assert!(output.status.success(), "{}", text(&output.stderr));
        Release {
            out,
            binaries,
            _dir: dir,
        }
    })
}

/// Writes stand-ins for `platforms` into `binaries` and packages them into `out`.
fn dist(binaries: &Path, out: &Path, platforms: &[&str]) -> Output {
    std::fs::create_dir_all(binaries).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.arg("dist").env("SOURCE_DATE_EPOCH", EPOCH);
    for platform in platforms {
        let path = binaries.join(platform);
        std::fs::write(&path, stand_in(platform)).unwrap();
        command
            .arg("--binary")
            .arg(format!("{platform}={}", path.display()));
    }
    command.arg("--out").arg(out).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// One archive entry: its mode, whether a folder, and its bytes.
#[derive(Debug, PartialEq)]
struct Entry {
    mode: u32,
    dir: bool,
    bytes: Vec<u8>,
}

fn read_tar_gz(path: &Path) -> BTreeMap<String, Entry> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut entries = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header();
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
        assert_eq!(header.mtime().unwrap().to_string(), EPOCH);
        let dir = header.entry_type().is_dir();
        let mode = header.mode().unwrap();
        let name = entry.path().unwrap().to_str().unwrap().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let name = if dir {
            format!("{}/", name.trim_end_matches('/'))
        } else {
            name
        };
        entries.insert(name, Entry { mode, dir, bytes });
    }
    entries
}

fn read_zip(path: &Path) -> BTreeMap<String, Entry> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut entries = BTreeMap::new();
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).unwrap();
        let time = file.last_modified().unwrap();
        assert_eq!(
            (time.year(), time.month(), time.day(), time.hour()),
            (2026, 7, 1, 9)
        );
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        let entry = Entry {
            mode: file.unix_mode().unwrap() & 0o7777,
            dir: file.is_dir(),
            bytes,
        };
        entries.insert(file.name().unwrap().to_string(), entry);
    }
    entries
}

#[test]
fn the_release_is_the_package_twice_an_archive_per_platform_their_sboms_and_the_sums() {
    let v = version();
    let mut expected = vec![
        format!("octopus-runkey.{v}.tar.gz"),
        format!("octopus-runkey.{v}.zip"),
        "SHA256SUMS".to_string(),
    ];
    for (_, target, _, extension) in PLATFORMS {
        expected.push(format!("octopus-runkey-{v}-{target}.{extension}"));
        expected.push(format!("octopus-runkey-{v}-{target}.cdx.json"));
    }
    expected.sort();
    assert_eq!(files_in(&release().out), expected);
}

#[test]
fn the_package_has_the_feed_name_and_a_folder_per_platform_with_the_run_bits() {
    let name = format!("octopus-runkey.{}.tar.gz", version());
    let package = release().out.join(&name);
    // As a worker's tar lists it: one folder per platform, each binary runnable, root's.
    let listing = Command::new("tar")
        .arg("-tvzf")
        .arg(&package)
        .output()
        .unwrap();
    assert!(listing.status.success());
    let listing = text(&listing.stdout);
    let mut lines: Vec<&str> = listing.lines().collect();
    lines.sort_by_key(|l| l.rsplit(' ').next().unwrap());
    let expected = [
        ("drwxr-xr-x 0/0", "linux-arm64/"),
        ("-rwxr-xr-x 0/0", "linux-arm64/octopus-runkey"),
        ("drwxr-xr-x 0/0", "linux-x64/"),
        ("-rwxr-xr-x 0/0", "linux-x64/octopus-runkey"),
        ("drwxr-xr-x 0/0", "win-x64/"),
        ("-rwxr-xr-x 0/0", "win-x64/octopus-runkey.exe"),
    ];
    assert_eq!(lines.len(), expected.len(), "{listing}");
    for (line, (mode, path)) in lines.iter().zip(expected) {
        assert!(line.starts_with(mode), "{listing}");
        assert!(line.ends_with(&format!(" {path}")), "{listing}");
    }
    // Each folder holds its own platform's binary.
    let entries = read_tar_gz(&package);
    for (platform, _, binary, _) in PLATFORMS {
        assert_eq!(
            entries[&format!("{platform}/{binary}")].bytes,
            stand_in(platform)
        );
    }
}

#[test]
fn the_zip_package_holds_the_same_tree_as_the_tar_gz() {
    let v = version();
    let tar = read_tar_gz(&release().out.join(format!("octopus-runkey.{v}.tar.gz")));
    let zip = read_zip(&release().out.join(format!("octopus-runkey.{v}.zip")));
    assert_eq!(
        zip.keys().collect::<Vec<_>>(),
        tar.keys().collect::<Vec<_>>()
    );
    assert_eq!(zip, tar, "the same modes and bytes");
    assert_eq!(zip["linux-x64/octopus-runkey"].mode, 0o755);
}

#[test]
fn each_platform_archive_holds_its_one_binary_and_the_readme() {
    let v = version();
    for (platform, target, binary, extension) in PLATFORMS {
        let stem = format!("octopus-runkey-{v}-{target}");
        let path = release().out.join(format!("{stem}.{extension}"));
        let entries = match extension {
            "zip" => read_zip(&path),
            _ => read_tar_gz(&path),
        };
        let mut expected = vec![
            format!("{stem}/"),
            format!("{stem}/{binary}"),
            format!("{stem}/README.md"),
        ];
        // A LICENSE the repository adds goes in too.
        for name in files_in(workspace_root()) {
            if name.to_ascii_uppercase().starts_with("LICENSE") {
                expected.push(format!("{stem}/{name}"));
            }
        }
        expected.sort();
        assert_eq!(
            entries.keys().cloned().collect::<Vec<_>>(),
            expected,
            "{path:?}"
        );
        let shipped = &entries[&format!("{stem}/{binary}")];
        assert_eq!(shipped.bytes, stand_in(platform), "{path:?}");
        assert_eq!(shipped.mode, 0o755);
        let readme = &entries[&format!("{stem}/README.md")];
        assert_eq!(
            readme.bytes,
            std::fs::read(workspace_root().join("README.md")).unwrap()
        );
        assert_eq!(readme.mode, 0o644);
        assert!(entries[&format!("{stem}/")].dir);
    }
}

#[test]
fn sha256sums_lists_every_file_once_and_sha256sum_verifies_them() {
    let out = &release().out;
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let listed: Vec<&str> = sums
        .lines()
        .map(|line| {
            let (hash, name) = line.split_once("  ").unwrap();
            assert_eq!(hash.len(), 64, "{line}");
            assert!(
                hash.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
            name
        })
        .collect();
    let others: Vec<String> = files_in(out)
        .into_iter()
        .filter(|n| n != "SHA256SUMS")
        .collect();
    assert_eq!(listed, others, "every other file, sorted, once");
    let check = Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(out)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    assert_eq!(text(&check.stdout).matches(": OK\n").count(), others.len());
}

/// The names of a Cargo.toml table's keys (`[dependencies]`, `[target.'cfg(unix)'.dependencies]`).
fn dependencies(table: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    manifest
        .lines()
        .skip_while(|l| l.trim() != format!("[{table}]"))
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && l.contains('='))
        .map(|l| l.split('=').next().unwrap().trim().to_string())
        .collect()
}

/// Every version Cargo.lock holds of each package.
fn lock_versions() -> BTreeMap<String, BTreeSet<String>> {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap();
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut name = String::new();
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("version = ") {
            versions
                .entry(name.clone())
                .or_default()
                .insert(v.trim_matches('"').to_string());
        }
    }
    versions
}

#[test]
fn each_sbom_names_its_binary_and_the_crates_it_is_built_from_with_their_versions() {
    let v = version();
    let locked = lock_versions();
    let common = dependencies("dependencies");
    let unix = dependencies("target.'cfg(unix)'.dependencies");
    let windows = dependencies("target.'cfg(windows)'.dependencies");
    assert!(common.contains(&"ureq".to_string()) && unix.contains(&"libc".to_string()));
    assert!(windows.contains(&"windows-sys".to_string()));
    for (platform, target, binary, _) in PLATFORMS {
        let path = release()
            .out
            .join(format!("octopus-runkey-{v}-{target}.cdx.json"));
        let bom: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(bom["bomFormat"], "CycloneDX");
        assert_eq!(bom["specVersion"], "1.5");
        assert_eq!(bom["metadata"]["timestamp"], "2026-07-01T09:00:00Z");

        // The binary itself, tied to the file by its sum.
        let application = &bom["metadata"]["component"];
        assert_eq!(application["name"], "octopus-runkey");
        assert_eq!(application["version"], v);
        let sum = Command::new("sha256sum")
            .arg(release().binaries.join(platform))
            .output()
            .unwrap();
        let sum = text(&sum.stdout).split(' ').next().unwrap().to_string();
        assert_eq!(application["hashes"][0]["alg"], "SHA-256");
        assert_eq!(
            application["hashes"][0]["content"],
            sum.as_str(),
            "{platform}"
        );
        let properties = application["properties"].to_string();
        assert!(
            properties.contains(target) && properties.contains(binary),
            "{properties}"
        );

        // Its crates: each with a version that Cargo.lock holds, and a package URL.
        let components = bom["components"].as_array().unwrap();
        let mut by_name: BTreeMap<&str, &Value> = BTreeMap::new();
        for component in components {
            let name = component["name"].as_str().unwrap();
            let version = component["version"].as_str().unwrap();
            assert!(
                locked
                    .get(name)
                    .is_some_and(|versions| versions.contains(version)),
                "{platform}: {name} {version} is not in Cargo.lock"
            );
            assert_eq!(
                component["purl"].as_str().unwrap(),
                format!("pkg:cargo/{name}@{version}")
            );
            assert_eq!(
                component["hashes"][0]["content"].as_str().unwrap().len(),
                64
            );
            by_name.insert(name, component);
        }
        let expected: Vec<&String> = match platform {
            "win-x64" => common.iter().chain(&windows).collect(),
            _ => common.iter().chain(&unix).collect(),
        };
        for name in expected {
            let component = by_name
                .get(name.as_str())
                .unwrap_or_else(|| panic!("{platform}: the dependency {name} is missing"));
            assert_eq!(component["scope"], "required", "{platform}: {name}");
        }
        let absent: Vec<&String> = match platform {
            "win-x64" => unix.iter().filter(|n| *n != "libc").collect(),
            _ => windows.iter().collect(),
        };
        for name in absent {
            assert!(
                !by_name.contains_key(name.as_str()),
                "{platform} has {name}"
            );
        }
        // Not the tests' crates, nor this xtask's.
        for name in ["octopus-sim", "proptest", "tempfile", "zip", "tar", "sha2"] {
            assert!(!by_name.contains_key(name), "{platform} has {name}");
        }
        // A derive macro wrote code into the binary but is not in it.
        assert_eq!(by_name["serde_derive"]["scope"], "excluded");
        assert_eq!(by_name["serde"]["scope"], "required");

        // The dependency graph starts at the binary and names only listed crates.
        let refs: BTreeSet<&str> = components
            .iter()
            .map(|c| c["bom-ref"].as_str().unwrap())
            .chain([application["bom-ref"].as_str().unwrap()])
            .collect();
        for dependency in bom["dependencies"].as_array().unwrap() {
            assert!(refs.contains(dependency["ref"].as_str().unwrap()));
            for on in dependency["dependsOn"].as_array().unwrap() {
                assert!(refs.contains(on.as_str().unwrap()), "{on}");
            }
        }
    }
}

#[test]
fn the_same_binaries_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("dist");
    let output = dist(&dir.path().join("bin"), &again, &PLATFORMS.map(|p| p.0));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read_to_string(again.join("SHA256SUMS")).unwrap(),
        std::fs::read_to_string(release().out.join("SHA256SUMS")).unwrap()
    );
}

#[test]
fn dist_wants_all_three_binaries_and_writes_nothing_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let output = dist(&dir.path().join("bin"), &out, &["linux-x64", "linux-arm64"]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("--binary win-x64=PATH is missing"),
        "{}",
        text(&output.stderr)
    );
    assert!(!out.exists());
}

#[test]
fn dist_names_a_binary_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["dist", "--binary", "linux-x64=/nonexistent/octopus-runkey"])
        .args(["--binary", "linux-arm64=/nonexistent/octopus-runkey"])
        .args(["--binary", "win-x64=/nonexistent/octopus-runkey.exe"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr)
            .contains("the linux-x64 binary /nonexistent/octopus-runkey does not exist"),
        "{}",
        text(&output.stderr)
    );
    assert!(!out.exists());
}

#[test]
fn dist_refuses_an_out_folder_that_holds_something_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let output = dist(&dir.path().join("bin"), &out, &PLATFORMS.map(|p| p.0));
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("is not empty"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(files_in(&out), ["notes.txt"]);
}
