//! How the process ends, decided here and nowhere else: 0 done, 1 the operation failed
//! (server, network, permission), 2 usage or configuration error, 126/127 when the step's
//! command cannot start (as a shell says), and for `use` and `exec` the command's own status
//! (128+N when signal N killed it). Commands return an [`ExitStatus`]; an error is mapped by
//! [`ExitStatus::of_error`].

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    Failed,
    Usage,
    /// The step's command does not exist (127).
    CommandNotFound,
    /// The step's command exists but cannot be started (126).
    CommandCannotRun,
    /// The step's command ran: its status, passed through.
    Child(i32),
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::Usage => 2,
            ExitStatus::CommandCannotRun => 126,
            ExitStatus::CommandNotFound => 127,
            ExitStatus::Child(code) => u8::try_from(code).unwrap_or(1),
        }
    }

    /// For a command whose status no exit code of 0 to 255 can carry (on Windows, an
    /// NTSTATUS such as `0xC0000005` when it crashed): one line naming it. The process then
    /// exits with that status on Windows, and 1 elsewhere; never 0.
    pub fn abnormal(self) -> Option<String> {
        let ExitStatus::Child(code) = self else {
            return None;
        };
        if (0..=255).contains(&code) {
            return None;
        }
        let status = code as u32;
        let what = match status {
            0xC000_0005 => "an access violation: it crashed",
            0xC000_00FD => "a stack overflow: it crashed",
            0xC000_0409 => "a stack buffer overrun or fail-fast exit: it crashed",
            0xC000_001D => "an illegal instruction: it crashed",
            0xC000_0094 => "an integer division by zero: it crashed",
            0xC000_0135 => "a DLL it needs was not found",
            0xC000_0142 => "a DLL failed to initialise",
            0xC000_013A => "it was ended with Ctrl+C",
            0xC000_0017 => "it ran out of memory",
            _ if status >= 0xC000_0000 => "an error status from Windows: it did not end normally",
            _ => "a status outside 0 to 255",
        };
        Some(format!(
            "the command ended with exit status 0x{status:08X} ({code}), {what}; the step fails with that status"
        ))
    }

    /// 2 for a usage error anywhere in the chain, 126/127 for a command that cannot start,
    /// 1 for everything else.
    pub fn of_error(error: &anyhow::Error) -> ExitStatus {
        if let Some(start) = error.downcast_ref::<CannotStart>() {
            start.status
        } else if let Some(interrupted) = error.downcast_ref::<Interrupted>() {
            ExitStatus::Child(128 + interrupted.signal)
        } else if error.chain().any(|cause| cause.is::<UsageError>()) {
            ExitStatus::Usage
        } else {
            ExitStatus::Failed
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

/// A mistake in the command line or the step's variables: the fix is in the runbook, not
/// on the server.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Builds an `anyhow::Error` that exits 2.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// The step's command could not be started; `status` says which of 126/127.
#[derive(Debug)]
pub struct CannotStart {
    pub status: ExitStatus,
    pub message: String,
}

impl fmt::Display for CannotStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CannotStart {}

/// SIGINT or SIGTERM stopped the command before it was done: exits 128+N, as a shell
/// reports a command killed by signal N.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: i32,
    pub message: String,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

/// The error as one line: the chain joined with ": ", with any line breaks a server put in
/// its message folded into spaces.
pub fn one_line(error: &anyhow::Error) -> String {
    let text = format!("{error:#}");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn usage_errors_exit_2_even_with_context() {
        let err = Err::<(), _>(usage("OCTOPUS_URL is not set"))
            .context("create")
            .unwrap_err();
        assert_eq!(ExitStatus::of_error(&err), ExitStatus::Usage);
        assert_eq!(ExitStatus::of_error(&err).code(), 2);
        assert_eq!(
            ExitStatus::of_error(&anyhow::anyhow!("server said no")).code(),
            1
        );
    }

    #[test]
    fn a_command_that_cannot_start_exits_like_a_shell() {
        let missing = anyhow::Error::new(CannotStart {
            status: ExitStatus::CommandNotFound,
            message: "not found".into(),
        });
        assert_eq!(ExitStatus::of_error(&missing).code(), 127);
        assert_eq!(ExitStatus::CommandCannotRun.code(), 126);
        assert_eq!(ExitStatus::Child(143).code(), 143);
        assert_eq!(ExitStatus::Child(0).code(), 0);
        assert_eq!(ExitStatus::Child(255).code(), 255);
        assert_eq!(ExitStatus::Child(143).abnormal(), None);
    }

    #[test]
    fn a_crashed_command_never_exits_0_and_is_named() {
        // Issue 22, item 8: Windows reports a crash as an NTSTATUS, a negative i32.
        let crash = ExitStatus::Child(0xC000_0005_u32 as i32);
        assert_eq!(crash.code(), 1);
        assert_eq!(
            crash.abnormal().as_deref(),
            Some(
                "the command ended with exit status 0xC0000005 (-1073741819), an access violation: it crashed; the step fails with that status"
            )
        );
        assert_eq!(ExitStatus::Child(-1).code(), 1);
        assert!(
            ExitStatus::Child(-1)
                .abnormal()
                .unwrap()
                .contains("0xFFFFFFFF")
        );
        assert_eq!(ExitStatus::Child(300).code(), 1);
        assert!(
            ExitStatus::Child(300)
                .abnormal()
                .unwrap()
                .contains("a status outside 0 to 255")
        );
        assert!(
            ExitStatus::Child(0xC000_0135_u32 as i32)
                .abnormal()
                .unwrap()
                .contains("DLL")
        );
        assert_eq!(ExitStatus::Failed.abnormal(), None);
    }

    #[test]
    fn one_line_folds_line_breaks() {
        let err = anyhow::anyhow!("first\nsecond\r\n  third").context("outer");
        assert_eq!(one_line(&err), "outer: first second third");
    }

    #[test]
    fn a_signal_while_working_exits_128_plus_n_and_says_why() {
        let err = anyhow::Error::new(Interrupted {
            signal: 15,
            message: "interrupted by signal 15".into(),
        });
        assert_eq!(ExitStatus::of_error(&err).code(), 143);
        assert_eq!(err.to_string(), "interrupted by signal 15");
        let start = CannotStart {
            status: ExitStatus::CommandNotFound,
            message: "the command 'x' was not found".into(),
        };
        assert_eq!(start.to_string(), "the command 'x' was not found");
        assert_eq!(
            format!("{:?}", std::process::ExitCode::from(ExitStatus::Usage)),
            format!("{:?}", std::process::ExitCode::from(2u8))
        );
    }
}
