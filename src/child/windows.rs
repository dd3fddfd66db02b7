//! Windows: the command runs in a Job Object of its own, created with
//! `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`. Only this process holds the job's handle, so when
//! this process ends, however it ends (Tentacle's cancel is `TerminateProcess` on the tree),
//! every process in the job ends with it, including grandchildren whose parent has already
//! exited and that a walk by parent PID would miss. The command is started suspended and
//! resumed once it is in the job, so nothing it starts escapes; the job does not allow
//! breakaway. The command shares our console: Ctrl+C and Ctrl+Break reach it from Windows
//! itself, and we catch them (`SetConsoleCtrlHandler`) so that a cancelled run still
//! revokes; a second one terminates the job. Closing the console, logoff and shutdown
//! terminate the job at once (Windows ends us a few seconds later). Exit codes pass through
//! unchanged; a tree we terminate reports 128+N, N being 2 for Ctrl+C, 21 for Ctrl+Break,
//! 15 for close, logoff and shutdown, as on Linux.
//!
//! What it cannot do: Windows has no signals, so there is nothing to forward when there is
//! no console (a Tentacle step has none: a cancel there kills, which the job makes a kill of
//! the whole tree). Processes the command leaves running in the background end when this
//! process ends, not when the command does. When the job cannot be made (a very old Windows
//! that forbids nested jobs) the command runs without one.

use std::process::Command;
use std::sync::Mutex;

use anyhow::{Result, bail};
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE, TRUE};
use windows_sys::Win32::System::Console::{
    CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT,
    SetConsoleCtrlHandler,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject,
};
use windows_sys::Win32::System::Threading::{
    CREATE_SUSPENDED, OpenProcess, OpenThread, PROCESS_SET_QUOTA, PROCESS_TERMINATE, ResumeThread,
    THREAD_SUSPEND_RESUME,
};

/// `ERROR_BAD_EXE_FORMAT`: a file that is not a Windows program (a script run directly).
pub const ENOEXEC: i32 = 193;

/// Why a file that is not a program could not be started, with the fix.
pub fn not_a_program(name: &str) -> String {
    format!(
        "the command '{name}' is not a Windows program: run a script through its interpreter, for example 'powershell -File {name}' or 'cmd /c {name}'"
    )
}

/// Starts the command suspended: [`Signals::watch`] puts it in its job, then resumes it.
pub fn own_group(command: &mut Command) {
    use std::os::windows::process::CommandExt;
    command.creation_flags(CREATE_SUSPENDED);
}

pub fn code_of(status: std::process::ExitStatus) -> i32 {
    status.code().unwrap_or(1)
}

#[derive(Default)]
struct SignalState {
    /// The job of the running command (a HANDLE as an integer: it is only ever passed to
    /// the job functions).
    job: Option<isize>,
    received: u32,
    first: Option<i32>,
}

static STATE: Mutex<SignalState> = Mutex::new(SignalState {
    job: None,
    received: 0,
    first: None,
});

fn state() -> std::sync::MutexGuard<'static, SignalState> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

fn terminate(job: isize, code: i32) {
    // SAFETY: a job handle we created and never close before the process ends.
    unsafe { TerminateJobObject(job as HANDLE, code as u32) };
}

/// The console control handler: runs on a thread Windows starts for each event.
unsafe extern "system" fn on_control(event: u32) -> i32 {
    let (number, closing) = match event {
        CTRL_C_EVENT => (2, false),
        CTRL_BREAK_EVENT => (21, false),
        CTRL_CLOSE_EVENT | CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT => (15, true),
        _ => return 0,
    };
    let job = {
        let mut state = state();
        state.received += 1;
        let first = *state.first.get_or_insert(number);
        // The command got the Ctrl+C itself (it shares the console); a second event, or the
        // console going away, ends its whole tree.
        match state.job {
            Some(job) if state.received > 1 || closing => {
                terminate(job, 128 + first);
                Some(job)
            }
            _ => None,
        }
    };
    if closing {
        // Windows ends the process when this returns: give the main thread the time to
        // revoke (a close allows 5 seconds in all).
        let _ = job;
        std::thread::sleep(std::time::Duration::from_millis(4500));
    }
    TRUE
}

/// Ctrl+C, Ctrl+Break, console close, logoff and shutdown, caught for as long as this lives,
/// so that a cancelled run still revokes its key.
pub struct Signals {
    _private: (),
}

impl Signals {
    pub fn install() -> Result<Signals> {
        // SAFETY: registers a handler function with the signature Windows expects.
        if unsafe { SetConsoleCtrlHandler(Some(on_control), TRUE) } == 0 {
            bail!(
                "installing the Ctrl+C handler failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(Signals { _private: () })
    }

    /// The first event received, as a signal number, if any: the run is being cancelled.
    pub fn cancelled(&self) -> Option<i32> {
        state().first
    }

    /// With the pid of the command just started (suspended): puts it in a job of its own
    /// and lets it run. With `None` (the command ended) the job is kept: it closes, and
    /// kills what the command left running, when this process ends.
    pub(super) fn watch(&self, pid: Option<u32>) {
        let Some(pid) = pid else {
            return;
        };
        let job = job_for(pid);
        let mut state = state();
        if let Some(job) = job {
            state.job = Some(job as isize);
            // A cancel that came while the command was being started ends it now.
            if let Some(first) = state.first {
                terminate(job as isize, 128 + first);
            }
        }
        drop(state);
        resume(pid);
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // SAFETY: removes the handler registered in install.
        unsafe { SetConsoleCtrlHandler(Some(on_control), 0) };
    }
}

/// A kill-on-close job holding process `pid`, or `None` when Windows refuses one.
fn job_for(pid: u32) -> Option<HANDLE> {
    // SAFETY: plain Win32 calls on handles created here; every failure path closes what
    // it opened.
    unsafe {
        let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
        if job.is_null() {
            return None;
        }
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        let set = SetInformationJobObject(
            job,
            JobObjectExtendedLimitInformation,
            (&raw const limits).cast(),
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
        );
        let process = OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE, 0, pid);
        let assigned =
            set != 0 && !process.is_null() && AssignProcessToJobObject(job, process) != 0;
        if !process.is_null() {
            CloseHandle(process);
        }
        if assigned {
            Some(job)
        } else {
            CloseHandle(job);
            None
        }
    }
}

/// Resumes every thread of process `pid` (a process started suspended has one).
fn resume(pid: u32) {
    // SAFETY: a snapshot of the system's threads, walked with a correctly sized entry;
    // every handle opened is closed.
    unsafe {
        let snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
        if snapshot == INVALID_HANDLE_VALUE {
            return;
        }
        let mut entry: THREADENTRY32 = std::mem::zeroed();
        entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
        let mut more = Thread32First(snapshot, &mut entry) != 0;
        while more {
            if entry.th32OwnerProcessID == pid {
                let thread = OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID);
                if !thread.is_null() {
                    ResumeThread(thread);
                    CloseHandle(thread);
                }
            }
            more = Thread32Next(snapshot, &mut entry) != 0;
        }
        CloseHandle(snapshot);
    }
}
