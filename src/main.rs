//! `octopus-runkey`: parse the command line, resolve the settings, run one command, report.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

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
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid command line");
            console.summary(first.strip_prefix("error: ").unwrap_or(first));
            return ExitStatus::Usage.into();
        }
    };
    let console = console.with_verbose(cli.global.verbose);
    let status = settings::resolve(&cli, &env)
        .and_then(|settings| octopus_runkey::commands::run(settings, &console));
    match status {
        Ok(status) => status.into(),
        Err(e) => {
            console.error(&one_line(&e));
            ExitStatus::of_error(&e).into()
        }
    }
}
