//! The release archives, `.tar.gz` and `.zip`, written the same way every time: entries in
//! the order given, owned by root (0/0), with fixed modes (0755 for folders and binaries,
//! 0644 for documents) and one fixed time, so that they extract the same on every worker and
//! the same binaries give the same bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use jiff::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    TarGz,
    Zip,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::TarGz => "tar.gz",
            Format::Zip => "zip",
        }
    }
}

/// One entry of an archive: a folder (its path ends in `/`) or a file copied from `source`.
pub struct Entry {
    path: String,
    source: Option<PathBuf>,
    mode: u32,
}

impl Entry {
    pub fn dir(path: String) -> Entry {
        debug_assert!(path.ends_with('/'));
        Entry {
            path,
            source: None,
            mode: 0o755,
        }
    }

    pub fn executable(path: String, source: &Path) -> Entry {
        Entry {
            path,
            source: Some(source.to_path_buf()),
            mode: 0o755,
        }
    }

    pub fn file(path: String, source: &Path) -> Entry {
        Entry {
            path,
            source: Some(source.to_path_buf()),
            mode: 0o644,
        }
    }
}

/// Writes `entries` to `path` as `format`.
pub fn write(format: Format, path: &Path, entries: &[Entry], time: Timestamp) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let result = match format {
        Format::TarGz => write_tar_gz(BufWriter::new(file), entries, time),
        Format::Zip => write_zip(BufWriter::new(file), entries, time),
    };
    result.with_context(|| format!("writing {}", path.display()))
}

fn write_tar_gz(out: impl Write, entries: &[Entry], time: Timestamp) -> Result<()> {
    // No file name or time in the gzip header (as `gzip -n`): the tar entries carry the time.
    let gzip = flate2::GzBuilder::new().write(out, flate2::Compression::best());
    let mut tar = tar::Builder::new(gzip);
    let mtime = u64::try_from(time.as_second()).context("a time before 1970")?;
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_mode(entry.mode);
        match &entry.source {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, &entry.path, std::io::empty())?;
            }
            Some(source) => {
                let file =
                    File::open(source).with_context(|| format!("reading {}", source.display()))?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(file.metadata()?.len());
                tar.append_data(&mut header, &entry.path, file)?;
            }
        }
    }
    tar.into_inner()?.finish()?.flush()?;
    Ok(())
}

fn write_zip<W: Write + std::io::Seek>(out: W, entries: &[Entry], time: Timestamp) -> Result<()> {
    let mut zip = zip::ZipWriter::new(out);
    let options = zip::write::SimpleFileOptions::default().last_modified_time(zip_time(time)?);
    for entry in entries {
        let options = options.unix_permissions(entry.mode);
        match &entry.source {
            None => zip.add_directory(entry.path.as_str(), options)?,
            Some(source) => {
                let mut file =
                    File::open(source).with_context(|| format!("reading {}", source.display()))?;
                zip.start_file(
                    entry.path.as_str(),
                    options.compression_method(zip::CompressionMethod::Deflated),
                )?;
                std::io::copy(&mut file, &mut zip)?;
            }
        }
    }
    zip.finish()?.flush()?;
    Ok(())
}

/// A zip entry's time: civil time in UTC (the format has no zone), from 1980 on.
fn zip_time(time: Timestamp) -> Result<zip::DateTime> {
    let earliest = Timestamp::from_second(315_532_800)?;
    let utc = time.max(earliest).to_zoned(jiff::tz::TimeZone::UTC);
    zip::DateTime::from_date_and_time(
        u16::try_from(utc.year())?,
        u8::try_from(utc.month())?,
        u8::try_from(utc.day())?,
        u8::try_from(utc.hour())?,
        u8::try_from(utc.minute())?,
        u8::try_from(utc.second())?,
    )
    .map_err(|error| anyhow::anyhow!("{time} cannot be a zip entry's time: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zip_time_is_the_civil_time_in_utc_to_the_even_second() {
        let time: Timestamp = "2026-07-01T09:30:45Z".parse().unwrap();
        let zip = zip_time(time).unwrap();
        assert_eq!(
            (zip.year(), zip.month(), zip.day(), zip.hour(), zip.minute()),
            (2026, 7, 1, 9, 30)
        );
        // The format keeps seconds in steps of two.
        assert_eq!(zip.second(), 44);
    }

    #[test]
    fn a_time_before_1980_becomes_the_earliest_a_zip_holds() {
        let zip = zip_time(Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!((zip.year(), zip.month(), zip.day()), (1980, 1, 1));
        assert_eq!((zip.hour(), zip.minute(), zip.second()), (0, 0, 0));
    }
}
