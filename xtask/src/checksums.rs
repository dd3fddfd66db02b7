//! `SHA256SUMS`: one line per file of the release, `<sha256 in hex>  <name>`, the format of
//! GNU `sha256sum`, so that `sha256sum -c SHA256SUMS` (or `--ignore-missing` with only some
//! files downloaded) checks them.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

pub const SUMS: &str = "SHA256SUMS";

/// The SHA-256 of a file's bytes, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Writes `dir/SHA256SUMS` over the files `names` (in `dir`), sorted by name.
pub fn write_sums(dir: &Path, names: &[String]) -> Result<()> {
    let mut names: Vec<&String> = names.iter().collect();
    names.sort();
    let mut text = String::new();
    for name in names {
        text.push_str(&format!("{}  {name}\n", sha256_file(&dir.join(name))?));
    }
    std::fs::write(dir.join(SUMS), text)
        .with_context(|| format!("writing {}", dir.join(SUMS).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_of_a_file_is_its_sha256_in_lower_case_hex() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("abc"), "abc").unwrap();
        // FIPS 180-2's example.
        assert_eq!(
            sha256_file(&dir.path().join("abc")).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_sums_are_sorted_by_name_two_spaces_after_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.zip"), "").unwrap();
        std::fs::write(dir.path().join("a.tar.gz"), "abc").unwrap();
        write_sums(dir.path(), &["b.zip".into(), "a.tar.gz".into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(SUMS)).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.tar.gz\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b.zip\n"
        );
    }
}
