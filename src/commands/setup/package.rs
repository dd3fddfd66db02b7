//! The package step: the all-platform package `octopus-runkey.<version>.<ext>` in the
//! space's built-in feed. Octopus takes id and version from the file name alone, so the
//! name is checked before anything is sent: it must parse as this package, at this
//! binary's own version (the templates this binary installs run the binary of the package).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::plan::{Apply, Known, Outcome, Plan, Step};
use crate::exit::usage;
use crate::octopus::Client;
use crate::octopus::setup::Space;

pub const PACKAGE_ID: &str = "octopus-runkey";
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// What the built-in feed accepts, longest first (`.tar.gz` before `.gz` would match).
const EXTENSIONS: [&str; 7] = [
    ".tar.bz2", ".tar.gz", ".nupkg", ".tgz", ".tar", ".zip", ".jar",
];

/// The package file given with `--package`, its name checked.
pub struct Local {
    pub path: PathBuf,
    pub file_name: String,
}

impl Local {
    /// Checks the file's name: `octopus-runkey.<this version>.<ext>`. Exit 2 otherwise.
    pub fn read(path: &Path) -> Result<Local> {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shown = path.display();
        let Some((version, _)) = version_of(&file_name) else {
            return Err(usage(format!(
                "--package {shown}: the file name is not {PACKAGE_ID}.<version>.<ext> (.zip, .tar.gz, .tgz, .tar, .tar.bz2, .nupkg or .jar), and Octopus reads the package id and version from the name alone; give the package as the release names it: {PACKAGE_ID}.{VERSION}.tar.gz"
            )));
        };
        if version != VERSION {
            return Err(usage(format!(
                "--package {shown} is version {version}, but this binary is {VERSION}: its templates would run another binary; give {PACKAGE_ID}.{VERSION}.<ext>, or run the setup of version {version}"
            )));
        }
        Ok(Local {
            path: path.to_path_buf(),
            file_name,
        })
    }
}

/// (version, extension) of `octopus-runkey.<version>.<ext>`.
fn version_of(file_name: &str) -> Option<(&str, &str)> {
    let lower = file_name.to_ascii_lowercase();
    let extension = EXTENSIONS.iter().find(|ext| lower.ends_with(*ext))?;
    let stem = &file_name[..file_name.len() - extension.len()];
    let version = stem.strip_prefix(PACKAGE_ID)?.strip_prefix('.')?;
    let numeric = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = numeric.split('.').collect();
    let well_formed = (1..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    well_formed.then_some((version, *extension))
}

/// The upload of the package to the built-in feed.
pub struct Upload {
    pub path: PathBuf,
    pub file_name: String,
}

impl Apply for Upload {
    fn apply(&self, client: &Client, space: &Space, _: &mut Known) -> Result<()> {
        let bytes = std::fs::read(&self.path)
            .with_context(|| format!("--package {}: cannot read it", self.path.display()))?;
        client.upload_package(&space.id, &self.file_name, &bytes)?;
        Ok(())
    }
}

pub fn plan(client: &Client, plan: &mut Plan, package: Option<Local>) -> Result<()> {
    let name = format!("{PACKAGE_ID} {VERSION}");
    let Some(local) = package else {
        plan.steps.push(Step::new(
            "package",
            name,
            Outcome::Skipped,
            "no --package given",
        ));
        return Ok(());
    };
    let exists = client
        .package_exists(&plan.space.id, PACKAGE_ID, VERSION)
        .context("checking the built-in feed for the package")?;
    plan.steps.push(if exists {
        Step::new(
            "package",
            name,
            Outcome::Unchanged,
            "already in the built-in feed",
        )
    } else {
        Step::new(
            "package",
            name,
            Outcome::Created,
            format!("upload {} to the built-in feed", local.file_name),
        )
        .writes(Upload {
            path: local.path,
            file_name: local.file_name,
        })
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::version_of;

    #[test]
    fn only_the_release_name_gives_a_version() {
        assert_eq!(
            version_of("octopus-runkey.1.2.0.tar.gz"),
            Some(("1.2.0", ".tar.gz"))
        );
        assert_eq!(
            version_of("octopus-runkey.1.2.0-rc.1.zip"),
            Some(("1.2.0-rc.1", ".zip"))
        );
        assert_eq!(version_of("octopus-runkey-1.2.0.zip"), None);
        assert_eq!(version_of("octopus-runkey.1.2.0.rar"), None);
        assert_eq!(version_of("other.1.2.0.zip"), None);
        assert_eq!(version_of("octopus-runkey.latest.zip"), None);
    }
}
