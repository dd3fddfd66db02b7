//! Everything the tool prints goes through here, so that the rules hold in one place:
//! service messages and informational lines on stdout, each message on its own line at
//! column 0; warnings as a `stdout-warning` block under Octopus (plain `warning:` lines on
//! stderr elsewhere); errors on stderr plus a `resultMessage` for the task summary.

use std::io::{self, Write};

use crate::service_message;

pub struct Console {
    under_octopus: bool,
}

impl Console {
    pub fn new(under_octopus: bool) -> Console {
        Console { under_octopus }
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

    pub fn error(&self, text: &str) {
        eprintln!("octopus-runkey: error: {text}");
        self.info(&service_message::result_message(&format!(
            "octopus-runkey: {text}"
        )));
    }
}
