//! Unix: the command leads its own process group, so that a signal reaches every process
//! its script starts; SIGINT and SIGTERM are caught on a thread (signal-hook) and passed on
//! to the group, a second one sends SIGKILL to it. A child killed by signal N reports
//! 128+N, as a shell does. What no process can do here: survive SIGKILL of itself; the
//! guard covers that case.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGKILL, SIGTERM};

/// "Exec format error": a file that is neither a program nor a script with `#!`.
pub const ENOEXEC: i32 = libc::ENOEXEC;

/// Why a file that is neither a program nor a script with `#!` could not be started.
pub fn not_a_program(name: &str) -> String {
    format!(
        "the command '{name}' is not a program and has no #! line: start the script with #!/bin/sh (or the interpreter it needs), or run it as 'sh {name}'"
    )
}

/// Starts the command as the leader of a new process group (pgid = its pid).
pub fn own_group(command: &mut Command) {
    command.process_group(0);
}

pub fn code_of(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Sends `signal` to the process group led by `pid`.
fn signal_group(pid: u32, signal: i32) {
    // SAFETY: kill(2) on the group of a child we spawned and have not yet reaped; a
    // negative pid names the process group.
    unsafe { libc::kill(-(pid as i32), signal) };
}

#[derive(Default)]
struct SignalState {
    child: Option<u32>,
    received: u32,
    first: Option<i32>,
}

/// SIGINT and SIGTERM, caught from `install` until this process ends (a handler once
/// installed stays: signal-hook cannot give the default action back), so that a cancelled
/// run still revokes its key. While a child runs, the first signal is passed on to its group
/// and a second one kills the group.
pub struct Signals {
    state: Arc<Mutex<SignalState>>,
}

impl Signals {
    pub fn install() -> Result<Signals> {
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .context("installing the SIGINT/SIGTERM handlers failed")?;
        let state = Arc::new(Mutex::new(SignalState::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for signal in signals.forever() {
                let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
                state.received += 1;
                state.first.get_or_insert(signal);
                if let Some(pid) = state.child {
                    let to_send = if state.received == 1 { signal } else { SIGKILL };
                    signal_group(pid, to_send);
                }
            }
        });
        Ok(Signals { state })
    }

    /// The first signal received, if any: the run is being cancelled.
    pub fn cancelled(&self) -> Option<i32> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).first
    }

    pub(super) fn watch(&self, pid: Option<u32>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.child = pid;
        // A signal that came while the child was being started is passed on now.
        if let (Some(pid), Some(signal)) = (pid, state.first) {
            signal_group(pid, signal);
        }
    }
}
