//! Unix: the watcher leaves the step's session and process group (`setsid`), and its
//! launcher exits at once, so the watcher is reparented to init (or the nearest subreaper)
//! and is no longer a descendant of the step. It closes every descriptor it inherited beyond
//! stdin, stdout and stderr, so that it keeps none of the step's pipes open. SIGTERM, SIGINT
//! and SIGHUP make it revoke. What no guard survives here: the machine or container going
//! away (a Kubernetes agent's pod, a dynamic worker torn down), which the TTL and the sweep
//! cover.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Context, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

pub fn detach(command: &mut Command) {
    // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent. It fails
    // only for a process group leader, which a child just forked never is.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

/// Closes every descriptor above 2 that came from the step.
pub fn close_inherited_descriptors() {
    let open: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => (3..1024).collect(),
    };
    for fd in open.into_iter().filter(|fd| *fd > 2) {
        // SAFETY: nothing in this process uses a descriptor above 2 yet; closing one that
        // is not open (the directory listing's own) only fails with EBADF.
        unsafe { libc::close(fd) };
    }
}

/// Calls `then` (once) on SIGTERM, SIGINT or SIGHUP.
pub fn on_termination(then: impl FnOnce() + Send + 'static) -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .context("installing the guard's signal handlers")?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            then();
        }
    });
    Ok(())
}
