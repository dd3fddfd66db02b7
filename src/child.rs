//! Running the step's command: the run key in its environment and the broker credential
//! out of it, stdio inherited, SIGINT/SIGTERM passed on (a second signal kills it), and its
//! status kept: its exit code, or 128+N when signal N killed it.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGKILL, SIGTERM};

use crate::secret::Secret;

/// The command could not be started at all: 127 when it is not found, 126 otherwise, as a
/// shell would say.
#[derive(Debug)]
pub struct SpawnError {
    pub code: i32,
    message: String,
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpawnError {}

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

#[derive(Default)]
struct SignalState {
    child: Option<i32>,
    received: u32,
    first: Option<i32>,
}

/// SIGINT and SIGTERM, caught for as long as this lives, so that a cancelled run still
/// revokes its key. While a child runs, the first signal is passed on to it and a second
/// one kills it.
pub struct Signals {
    state: Arc<Mutex<SignalState>>,
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

impl Signals {
    pub fn install() -> Result<Signals> {
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .context("installing the SIGINT/SIGTERM handlers failed")?;
        let handle = signals.handle();
        let state = Arc::new(Mutex::new(SignalState::default()));
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            for signal in signals.forever() {
                let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
                state.received += 1;
                state.first.get_or_insert(signal);
                if let Some(pid) = state.child {
                    let to_send = if state.received == 1 { signal } else { SIGKILL };
                    // SAFETY: kill(2) with a pid we spawned and have not yet reaped.
                    unsafe { libc::kill(pid, to_send) };
                }
            }
        });
        Ok(Signals {
            state,
            handle,
            thread: Some(thread),
        })
    }

    /// The first signal received, if any: the run is being cancelled.
    pub fn cancelled(&self) -> Option<i32> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).first
    }

    fn watch(&self, pid: Option<i32>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.child = pid;
        // A signal that came while the child was being started is passed on now.
        if let (Some(pid), Some(signal)) = (pid, state.first) {
            unsafe { libc::kill(pid, signal) };
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `cmd` and returns its status. Nothing is started when the run was cancelled first.
pub fn run(cmd: &[OsString], env: &ChildEnv, signals: &Signals) -> Result<i32> {
    if let Some(signal) = signals.cancelled() {
        return Ok(128 + signal);
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
    let mut child = command.spawn().map_err(|e| {
        let name = program.to_string_lossy();
        let (code, message) = match e.kind() {
            std::io::ErrorKind::NotFound => (
                127,
                format!(
                    "the command '{name}' was not found: check its name, or give its full path"
                ),
            ),
            std::io::ErrorKind::PermissionDenied => (
                126,
                format!(
                    "the command '{name}' cannot be run (permission denied): make it executable"
                ),
            ),
            _ => (
                126,
                format!("the command '{name}' could not be started: {e}"),
            ),
        };
        SpawnError { code, message }
    })?;
    signals.watch(Some(child.id() as i32));
    let status = child.wait();
    signals.watch(None);
    let status = status.context("waiting for the command failed")?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
