//! Unix: the watcher leaves the step's session and process group (`setsid`), and its
//! launcher exits at once, so the watcher is reparented to init (or the nearest subreaper)
//! and is no longer a descendant of the step. It closes every descriptor it inherited beyond
//! stdin, stdout and stderr, so that it keeps none of the step's pipes open. SIGTERM, SIGINT
//! and SIGHUP make it revoke, from the moment it starts: the launcher starts it with them
//! blocked, and it unblocks them once its handlers are in place. What no guard survives here: the machine or container going
//! away (a Kubernetes agent's pod, a dynamic worker torn down), which the TTL and the sweep
//! cover.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Context, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signals that make the watcher revoke.
const TERMINATION: [i32; 3] = [SIGTERM, SIGINT, SIGHUP];

pub fn detach(command: &mut Command) {
    // SAFETY: setsid(2), sigemptyset(3), sigaddset(3) and sigprocmask(2) are
    // async-signal-safe and touch only this child's own stack. setsid fails only for a
    // process group leader, which a child just forked never is.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            // Blocked until the watcher's handlers are in place (the mask survives exec): a
            // SIGTERM that comes while the watcher starts waits for them instead of killing
            // it before it could revoke.
            set_termination_mask(libc::SIG_BLOCK);
            Ok(())
        });
    }
}

/// Blocks (`SIG_BLOCK`) or unblocks (`SIG_UNBLOCK`) the termination signals for the calling
/// thread.
///
/// # Safety
/// Async-signal-safe: callable between fork and exec.
unsafe fn set_termination_mask(how: libc::c_int) {
    // SAFETY: a zeroed sigset_t is a valid argument for sigemptyset, which initialises it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in TERMINATION {
            libc::sigaddset(&mut set, signal);
        }
        libc::sigprocmask(how, &set, std::ptr::null_mut());
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

/// Calls `then` (once) on SIGTERM, SIGINT or SIGHUP, including one that came while the
/// watcher started (the launcher blocked them; they are unblocked once the handlers are in
/// place, and a pending one is delivered then).
pub fn on_termination(then: impl FnOnce() + Send + 'static) -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new(TERMINATION)
        .context("installing the guard's signal handlers")?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            then();
        }
    });
    // SAFETY: changes only this thread's signal mask.
    unsafe { set_termination_mask(libc::SIG_UNBLOCK) };
    Ok(())
}
