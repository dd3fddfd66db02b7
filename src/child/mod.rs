//! Running the step's command: the run key in its environment and the broker credential
//! out of it, stdio inherited, its own process group, SIGINT/SIGTERM passed on to that group
//! (a second signal kills it), and its status kept: its exit code, or 128+N when signal N
//! killed it. What differs between platforms lives in one file each (`unix.rs`, `windows.rs`); callers
//! see only [`Signals`], [`ChildEnv`] and [`run`].

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::exit::{CannotStart, ExitStatus};
use crate::secret::Secret;

pub use platform::Signals;

/// What the child's environment gains and loses against ours.
#[derive(Debug, Default)]
pub struct ChildEnv {
    set: Vec<(&'static str, Secret)>,
    remove: Vec<&'static str>,
}

impl ChildEnv {
    /// The environment of `use` and `exec`: the run key under every name the official
    /// tools read, the server (`server`, the base URL) and the space; the broker's access
    /// token and OIDC JWT removed.
    pub fn with_run_key(server: &str, run_key: &Secret, space: Option<&str>) -> ChildEnv {
        let mut env = ChildEnv::default();
        env.set("OCTOPUS_URL", server);
        env.set("OCTOPUS_CLI_SERVER", server);
        for name in ["OCTOPUS_API_KEY", "OCTOPUS_APIKEY", "OCTOPUS_CLI_API_KEY"] {
            env.set_secret(name, run_key);
        }
        if let Some(space) = space {
            env.set("OCTOPUS_SPACE", space);
        }
        // The broker credential in every form it can take stays out of the child.
        for name in [
            "OCTOPUS_ACCESS_TOKEN",
            "RUNKEY_OIDC_JWT",
            "RUNKEY_OIDC_AUDIENCE",
        ] {
            env.remove(name);
        }
        env
    }

    pub fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.set.push((name, Secret::new(value)));
    }

    pub fn set_secret(&mut self, name: &'static str, value: &Secret) {
        self.set.push((name, value.clone()));
    }

    pub fn remove(&mut self, name: &'static str) {
        self.remove.push(name);
    }
}

/// Runs `cmd` and returns its status. Nothing is started when the run was cancelled first.
pub fn run(cmd: &[OsString], env: &ChildEnv, signals: &Signals) -> Result<ExitStatus> {
    if let Some(signal) = signals.cancelled() {
        return Ok(ExitStatus::Child(128 + signal));
    }
    let program = &cmd[0];
    let mut command = Command::new(program);
    command.args(&cmd[1..]);
    for name in &env.remove {
        command.env_remove(name);
    }
    for (name, value) in &env.set {
        command.env(name, value.expose());
    }
    platform::own_group(&mut command);
    let mut child = command.spawn().map_err(|e| cannot_start(program, &e))?;
    signals.watch(Some(child.id()));
    let status = child.wait();
    signals.watch(None);
    let status = status.context("waiting for the command failed")?;
    Ok(ExitStatus::Child(platform::code_of(status)))
}

/// Why the command did not start, with the fix: the reasons people really meet (a script
/// saved with Windows line endings, an interpreter that is not installed, a directory, a
/// script without a `#!` line) named as such.
fn cannot_start(program: &OsString, error: &std::io::Error) -> CannotStart {
    let name = program.to_string_lossy();
    let path = locate(program);
    let is_dir = path.as_deref().is_some_and(Path::is_dir);
    let (status, message) = if is_dir {
        (
            ExitStatus::CommandCannotRun,
            format!(
                "the command '{name}' is a directory: give the path of the script or program inside it"
            ),
        )
    } else if error.raw_os_error() == Some(platform::ENOEXEC) {
        (ExitStatus::CommandCannotRun, platform::not_a_program(&name))
    } else {
        match (error.kind(), path.as_deref().and_then(interpreter)) {
            (std::io::ErrorKind::NotFound, Some(line)) if line.ends_with('\r') => (
                ExitStatus::CommandNotFound,
                format!(
                    "the script '{name}' has Windows line endings (CRLF), so its #! line names '{}' with a carriage return: save it with Unix line endings (LF), for example with dos2unix",
                    line.trim_end()
                ),
            ),
            (std::io::ErrorKind::NotFound, Some(line)) => (
                ExitStatus::CommandNotFound,
                format!(
                    "the interpreter '{}' named in the #! line of '{name}' is not installed on this worker: install it, or change the #! line",
                    line.trim()
                ),
            ),
            (std::io::ErrorKind::NotFound, None) => (
                ExitStatus::CommandNotFound,
                format!(
                    "the command '{name}' was not found: check its name, or give its full path"
                ),
            ),
            (std::io::ErrorKind::PermissionDenied, _) => (
                ExitStatus::CommandCannotRun,
                format!(
                    "the command '{name}' cannot be run (permission denied): make it executable (chmod +x)"
                ),
            ),
            _ => (
                ExitStatus::CommandCannotRun,
                format!("the command '{name}' could not be started: {error}"),
            ),
        }
    };
    CannotStart { status, message }
}

/// Where `program` is: itself when it names a path, else the first match on `PATH`.
fn locate(program: &OsString) -> Option<PathBuf> {
    let path = Path::new(program);
    if path.components().count() > 1 {
        return path.exists().then(|| path.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.exists())
}

/// The interpreter a script's `#!` line names (carriage return kept), if it has one.
fn interpreter(path: &Path) -> Option<String> {
    let mut head = [0u8; 256];
    let read = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let line = head[..read].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let interpreter = line.trim_start().split([' ', '\t']).next()?;
    (!interpreter.is_empty()).then(|| interpreter.to_string())
}
