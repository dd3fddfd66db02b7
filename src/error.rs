//! Exit status is decided here and nowhere else: 0 done, 1 the operation failed (server,
//! network, permission), 2 usage or configuration error. A [`UsageError`] anywhere in an
//! error's chain makes it exit 2; every other error exits 1. `use` and `exec` return the
//! child's own status instead, through [`Outcome::Child`], or 127/126 when it cannot start.

use std::fmt;

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

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

/// What a command ended with, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The child's status (128+N for a child killed by signal N), passed through.
    Child(i32),
}

/// 2 for a usage error anywhere in the chain; 127/126 when the step's command could not
/// start (as a shell says); 1 for everything else.
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    if let Some(spawn) = error.downcast_ref::<crate::child::SpawnError>() {
        spawn.code as u8
    } else if error.chain().any(|cause| cause.is::<UsageError>()) {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    }
}

/// The error as one line: the chain joined with ": ", with any line breaks a server put
/// in its message folded into spaces.
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
        assert_eq!(exit_code_for(&err), 2);
        assert_eq!(exit_code_for(&anyhow::anyhow!("server said no")), 1);
    }

    #[test]
    fn one_line_folds_line_breaks() {
        let err = anyhow::anyhow!("first\nsecond\r\n  third").context("outer");
        assert_eq!(one_line(&err), "outer: first second third");
    }
}
