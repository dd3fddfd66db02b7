//! Everything the tool prints goes through here, so that the rules hold in one place:
//! service messages and informational lines on stdout, each message on its own line at
//! column 0; warnings as a `stdout-warning` block under Octopus (plain `warning:` lines on
//! stderr elsewhere); errors on stderr plus a `resultMessage` for the task summary; verbose
//! request lines on stderr, only with `--verbose`. Calamari reads `##octopus` anywhere in a
//! line as the start of a service message, so every line but the tool's own messages has
//! it neutralised: people's text (names, runbook titles, purposes) cannot write one. And
//! every line has the credentials this process holds taken out (`secret::redact`): a server
//! or proxy that quotes a key or a JWT in its error cannot have it printed.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::secret::redact;
use crate::service_message;

#[derive(Debug, Clone, Copy)]
pub struct Console {
    under_octopus: bool,
    verbose: bool,
    summary: bool,
}

impl Console {
    pub fn new(under_octopus: bool) -> Console {
        Console {
            under_octopus,
            verbose: false,
            // The task summary is Octopus's: outside it the line would be base64 on stdout.
            summary: under_octopus,
        }
    }

    /// Whether the tool runs as an Octopus step (Tentacle's or Calamari's variables are set).
    pub fn under_octopus(&self) -> bool {
        self.under_octopus
    }

    pub fn with_verbose(self, verbose: bool) -> Console {
        Console { verbose, ..self }
    }

    /// A service message or an informational line. A write failure is an error: a key whose
    /// output variable never reached Octopus must not be left live.
    pub fn line(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        writeln!(out, "{}", redact(text))?;
        out.flush()
    }

    /// A line of text (a table, JSON) whose writing must succeed, `##octopus` neutralised.
    pub fn text(&self, text: &str) -> io::Result<()> {
        self.line(&neutralise(text, "## octopus"))
    }

    /// Best effort: an informational line whose loss harms nothing. One line: any control
    /// character in it is shown escaped.
    pub fn info(&self, text: &str) {
        let _ = self.text(&shown(text));
    }

    pub fn warn(&self, text: &str) {
        let text = neutralise(&shown(text), "## octopus");
        if self.under_octopus {
            let _ = self.line(&format!(
                "{}\n{text}\n{}",
                service_message::level("stdout-warning"),
                service_message::level("stdout-default")
            ));
        } else {
            eprintln!("octopus-runkey: warning: {}", redact(&text));
        }
    }

    /// The error line on stderr and the task summary's reason on stdout.
    pub fn error(&self, text: &str) {
        eprintln!(
            "octopus-runkey: error: {}",
            redact(&neutralise(&shown(text), "## octopus"))
        );
        self.summary(text);
    }

    /// The task summary's reason alone, for an error whose text was already printed
    /// (clap prints its own usage errors).
    pub fn summary(&self, text: &str) {
        if !self.summary {
            return;
        }
        let _ = self.line(&service_message::result_message(&format!(
            "octopus-runkey: {}",
            redact(text)
        )));
    }

    /// A `--verbose` line: requests, answers, retries. Never holds a credential.
    pub fn verbose(&self, text: &str) {
        if self.verbose {
            eprintln!(
                "octopus-runkey: {}",
                redact(&neutralise(&shown(text), "## octopus"))
            );
        }
    }
}

/// People's and servers' text as a line may show it: control characters (C0, DEL, C1),
/// Unicode line and paragraph separators and format characters (bidi overrides,
/// zero-width characters) written as escapes (`\n`, `\u{1b}`), so that no name or message
/// can start a line, forge a row, move the cursor or hide what follows.
pub fn shown(text: &str) -> Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || crate::purpose::is_format_char(c)
    };
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// RFC 4180: quoted when it holds a comma or quote; control characters shown escaped (a
/// line break would forge a row); a leading `=`, `+`, `-`, `@`, tab or carriage return is
/// prefixed with `'` so that a spreadsheet does not run it as a formula.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{}", shown(text))
    } else {
        shown(text).into_owned()
    };
    if text.contains([',', '"']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// `text` with every `##octopus` (in any case) replaced by `with`.
pub fn neutralise(text: &str, with: &str) -> String {
    const MARK: &str = "##octopus";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(at) = lower[from..].find(MARK) {
        out.push_str(&text[from..from + at]);
        out.push_str(with);
        from += at + MARK.len();
    }
    out.push_str(&text[from..]);
    out
}

/// JSON text with `##octopus` inside its strings written as `\u0023#octopus`, and the
/// Unicode line and paragraph separators (which JSON allows raw) as `\u2028`/`\u2029`: the
/// same strings to a JSON reader, nothing to Calamari or a terminal.
pub fn neutralise_json(json: &str) -> String {
    neutralise(json, "\\u0023#octopus")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("\t=SUM(A1)"), "'\\t=SUM(A1)");
        assert_eq!(csv_field("\r-2"), "'\\r-2");
        assert_eq!(csv_field("two\nrows"), "two\\nrows");
    }

    #[test]
    fn control_and_format_characters_are_shown_escaped() {
        assert_eq!(shown("plain ünïcode"), "plain ünïcode");
        assert_eq!(shown("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(shown("hide\u{1b}[1Athis"), "hide\\u{1b}[1Athis");
        assert_eq!(
            shown("\u{7f}\u{85}\u{2028}\u{2029}\u{202e}"),
            "\\u{7f}\\u{85}\\u{2028}\\u{2029}\\u{202e}"
        );
    }

    #[test]
    fn service_message_marks_in_text_are_broken_in_any_case() {
        assert_eq!(
            neutralise(
                "Jane ##octopus[setVariable name='x'] and ##OCTOPUS[mask]",
                "## octopus"
            ),
            "Jane ## octopus[setVariable name='x'] and ## octopus[mask]"
        );
        assert_eq!(neutralise("plain ünïcode", "-"), "plain ünïcode");
        let json =
            serde_json::to_string(&serde_json::json!({"Purpose": "a ##octopus[mask] b"})).unwrap();
        let safe = neutralise_json(&json);
        assert!(!safe.to_ascii_lowercase().contains("##octopus"), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["Purpose"], "a ##octopus[mask] b");
    }
}
