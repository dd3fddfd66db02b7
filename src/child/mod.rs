//! Running the step's command: the run key in its environment and the broker credential
//! out of it, stdio inherited, its own process group, SIGINT/SIGTERM passed on to that group
//! (a second signal kills it), and its status kept: its exit code, or 128+N when signal N
//! killed it. What differs between platforms lives in one file each (`unix.rs`); callers
//! see only [`Signals`], [`ChildEnv`] and [`run`].

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;

use std::ffi::OsString;
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

fn cannot_start(program: &OsString, error: &std::io::Error) -> CannotStart {
    let name = program.to_string_lossy();
    let (status, message) = match error.kind() {
        std::io::ErrorKind::NotFound => (
            ExitStatus::CommandNotFound,
            format!("the command '{name}' was not found: check its name, or give its full path"),
        ),
        std::io::ErrorKind::PermissionDenied => (
            ExitStatus::CommandCannotRun,
            format!("the command '{name}' cannot be run (permission denied): make it executable"),
        ),
        _ => (
            ExitStatus::CommandCannotRun,
            format!("the command '{name}' could not be started: {error}"),
        ),
    };
    CannotStart { status, message }
}
