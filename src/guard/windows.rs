//! Windows: the watcher is started with `DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP` (no
//! console, so the step's Ctrl+C never reaches it), and with `CREATE_BREAKAWAY_FROM_JOB` when
//! this process is in a job that allows it, so that a job the step runs in does not take the
//! watcher with it. Its launcher exits at once: Tentacle finds a step's processes by parent
//! PID and start time, and the watcher's parent is then gone, so the walk does not find it.
//! Before starting the watcher the launcher makes every handle it holds non-inheritable: it
//! inherited the step's own handles (the pipes Tentacle reads the step's output from), and a
//! watcher holding them would keep the step's output open after the step ended. The watcher
//! then holds its stdin pipe and the null device only.
//!
//! What it cannot do here: a detached process has no console and no window, so a Tentacle
//! service restart or a shutdown ends it without notice (no revoke: the TTL and the sweep
//! cover that); console control events, when there are any, make it revoke. Started from
//! inside a job that forbids breakaway (a `use` or `exec` command that runs `create`), it
//! ends with that job.

use std::process::Command;
use std::sync::Mutex;

use anyhow::{Result, bail};
use windows_sys::Win32::Foundation::{
    GetHandleInformation, HANDLE, HANDLE_FLAG_INHERIT, SetHandleInformation, TRUE,
};
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::JobObjects::{
    IsProcessInJob, JOB_OBJECT_LIMIT_BREAKAWAY_OK, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JobObjectExtendedLimitInformation, QueryInformationJobObject,
};
use windows_sys::Win32::System::Threading::{
    CREATE_BREAKAWAY_FROM_JOB, CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS, GetCurrentProcess,
};

pub fn detach(command: &mut Command) {
    use std::os::windows::process::CommandExt;
    no_handle_inherited();
    let mut flags = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;
    if may_break_away() {
        flags |= CREATE_BREAKAWAY_FROM_JOB;
    }
    command.creation_flags(flags);
}

/// Whether this process is in a job that lets it start children outside it (false when it
/// is in no job: there is nothing to leave).
fn may_break_away() -> bool {
    // SAFETY: queries about this process and its own job (a null job handle names it).
    unsafe {
        let mut in_job = 0;
        if IsProcessInJob(GetCurrentProcess(), std::ptr::null_mut(), &mut in_job) == 0
            || in_job == 0
        {
            return false;
        }
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
        let queried = QueryInformationJobObject(
            std::ptr::null_mut(),
            JobObjectExtendedLimitInformation,
            (&raw mut limits).cast(),
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            std::ptr::null_mut(),
        );
        queried != 0 && limits.BasicLimitInformation.LimitFlags & JOB_OBJECT_LIMIT_BREAKAWAY_OK != 0
    }
}

/// Clears the inherit flag of every handle of this process. Windows offers no list of a
/// process's handles short of the native API, so every value a handle can have in a young
/// process is tried (handle values are multiples of 4). The child still gets its stdio:
/// the standard library hands it inheritable duplicates.
fn no_handle_inherited() {
    for value in (4..=0x4_0000usize).step_by(4) {
        let handle = value as HANDLE;
        let mut flags = 0;
        // SAFETY: GetHandleInformation fails harmlessly on a value that is no handle; the
        // flag is cleared only on handles that exist.
        unsafe {
            if GetHandleInformation(handle, &mut flags) != 0 && flags & HANDLE_FLAG_INHERIT != 0 {
                SetHandleInformation(handle, HANDLE_FLAG_INHERIT, 0);
            }
        }
    }
}

/// The watcher holds only what its launcher handed it (see [`detach`]): nothing to close.
pub fn close_inherited_descriptors() {}

static ON_TERMINATION: Mutex<Option<Box<dyn FnOnce() + Send>>> = Mutex::new(None);

unsafe extern "system" fn on_control(_event: u32) -> i32 {
    let then = ON_TERMINATION
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(then) = then {
        then();
        // Windows ends the process when a close or shutdown handler returns: let the main
        // thread revoke first.
        std::thread::sleep(std::time::Duration::from_millis(4500));
    }
    TRUE
}

/// Calls `then` (once) on a console control event (Ctrl+C, Ctrl+Break, close, logoff,
/// shutdown), when there is a console to send one.
pub fn on_termination(then: impl FnOnce() + Send + 'static) -> Result<()> {
    *ON_TERMINATION.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(then));
    // SAFETY: registers a handler function with the signature Windows expects.
    if unsafe { SetConsoleCtrlHandler(Some(on_control), TRUE) } == 0 {
        bail!("installing the guard's signal handlers failed");
    }
    Ok(())
}
