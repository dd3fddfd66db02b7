//! `octopus-runkey`: parse the command line, run one command, report. Exit codes are
//! decided in `error` (and by the child, for `use` and `exec`).

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use octopus_runkey::cli::Cli;
use octopus_runkey::console::Console;
use octopus_runkey::error::{self, EXIT_USAGE, Outcome};
use octopus_runkey::settings::Env;
use octopus_runkey::{commands, service_message};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            let _ = e.print();
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("invalid command line");
            let summary = first.strip_prefix("error: ").unwrap_or(first);
            println!(
                "{}",
                service_message::result_message(&format!("octopus-runkey: {summary}"))
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let env = Env::from_process();
    let console = Console::new(env.under_octopus());
    match commands::run(&cli, &env, &console) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Child(code)) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            console.error(&error::one_line(&e));
            ExitCode::from(error::exit_code_for(&e))
        }
    }
}
