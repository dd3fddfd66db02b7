//! Everything the tool prints goes through here, so that the rules hold in one place:
//! service messages and informational lines on stdout, each message on its own line at
//! column 0; warnings as a `stdout-warning` block under Octopus (plain `warning:` lines on
//! stderr elsewhere); errors on stderr plus a `resultMessage` for the task summary; verbose
//! request lines on stderr, only with `--verbose`.

use std::io::{self, Write};

use crate::service_message;

#[derive(Debug, Clone, Copy)]
pub struct Console {
    under_octopus: bool,
    verbose: bool,
}

impl Console {
    pub fn new(under_octopus: bool) -> Console {
        Console {
            under_octopus,
            verbose: false,
        }
    }

    pub fn with_verbose(self, verbose: bool) -> Console {
        Console { verbose, ..self }
    }

    /// A service message or an informational line. A write failure is an error: a key whose
    /// output variable never reached Octopus must not be left live.
    pub fn line(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        writeln!(out, "{text}")?;
        out.flush()
    }

    /// Best effort: an informational line whose loss harms nothing.
    pub fn info(&self, text: &str) {
        let _ = self.line(text);
    }

    pub fn warn(&self, text: &str) {
        if self.under_octopus {
            self.info(&format!(
                "{}\n{text}\n{}",
                service_message::level("stdout-warning"),
                service_message::level("stdout-default")
            ));
        } else {
            eprintln!("octopus-runkey: warning: {text}");
        }
    }

    /// The error line on stderr and the task summary's reason on stdout.
    pub fn error(&self, text: &str) {
        eprintln!("octopus-runkey: error: {text}");
        self.summary(text);
    }

    /// The task summary's reason alone, for an error whose text was already printed
    /// (clap prints its own usage errors).
    pub fn summary(&self, text: &str) {
        self.info(&service_message::result_message(&format!(
            "octopus-runkey: {text}"
        )));
    }

    /// A `--verbose` line: requests, answers, retries. Never holds a credential.
    pub fn verbose(&self, text: &str) {
        if self.verbose {
            eprintln!("octopus-runkey: {text}");
        }
    }
}
