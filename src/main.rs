//! `octopus-runkey`: parse the command line, resolve the settings, run one command, report.

use std::process::ExitCode;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use octopus_runkey::cli::Cli;
use octopus_runkey::console::Console;
use octopus_runkey::exit::{ExitStatus, one_line};
use octopus_runkey::settings::{self, Env};

fn main() -> ExitCode {
    let env = Env::from_process();
    let console = Console::new(env.under_octopus());
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            let _ = e.print();
            console.summary(&usage_summary(&e));
            return ExitStatus::Usage.into();
        }
    };
    let console = console.with_verbose(cli.global.verbose);
    let status = settings::resolve(&cli, &env)
        .and_then(|settings| octopus_runkey::commands::run(settings, &console));
    match status {
        Ok(status) => {
            if let Some(line) = status.abnormal() {
                console.error(&line);
                // Windows carries the whole status (an NTSTATUS) to the step, as the
                // command's own would be.
                #[cfg(windows)]
                if let ExitStatus::Child(code) = status {
                    std::process::exit(code);
                }
            }
            status.into()
        }
        Err(e) => {
            console.error(&one_line(&e));
            ExitStatus::of_error(&e).into()
        }
    }
}

/// The task summary for a command line clap refused: what was wrong and the fix, in one
/// line (clap's own text, with its usage and tips, went to stderr).
fn usage_summary(error: &clap::Error) -> String {
    // clap names the missing arguments as a list.
    let missing: Vec<&str> = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::Strings(names)) => names.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    match error.kind() {
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "no command given: name one of create, use, revoke, exec, list, audit or setup (octopus-runkey --help describes them)".to_string()
        }
        ErrorKind::MissingRequiredArgument if missing.iter().any(|n| n.contains("CMD")) => {
            "the command to run is missing: give it after --, like: octopus-runkey use -- ./restart-web.sh".to_string()
        }
        // clap always names them for this kind.
        ErrorKind::MissingRequiredArgument => {
            format!(
                "a required argument is missing: {}; see 'octopus-runkey <command> --help'",
                missing.join(", ")
            )
        }
        _ => {
            let text = error.to_string();
            let first = text.lines().next().unwrap_or("invalid command line");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            // clap's tip for a typo ("a similar subcommand exists: 'revoke'").
            let suggested = [ContextKind::SuggestedSubcommand, ContextKind::SuggestedArg]
                .into_iter()
                .find_map(|kind| match error.get(kind) {
                    Some(ContextValue::String(one)) => Some(one.clone()),
                    Some(ContextValue::Strings(many)) => many.first().cloned(),
                    _ => None,
                });
            match suggested {
                Some(similar) => format!(
                    "{first} (did you mean '{similar}'?); see 'octopus-runkey <command> --help'"
                ),
                None => format!("{first}; see 'octopus-runkey <command> --help'"),
            }
        }
    }
}
