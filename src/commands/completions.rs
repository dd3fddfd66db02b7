//! `completions <shell>`: the shell's completion script for every command and flag, made
//! by clap_complete from the same definition the binary parses with.

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Command, CommandFactory};
use clap_complete::{Shell as Generator, generate};

use crate::cli::{Cli, Shell, VERSION};
use crate::exit::ExitStatus;

pub fn run(shell: Shell) -> Result<ExitStatus> {
    let generator = match shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
        Shell::PowerShell => Generator::PowerShell,
    };
    let mut script = Vec::new();
    generate(generator, &mut offered(), "octopus-runkey", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("writing the completion script to stdout")?;
    Ok(ExitStatus::Success)
}

/// The command line as a person types it: the internal `__guard` (hidden from `--help`,
/// which clap_complete would still offer) left out.
fn offered() -> Command {
    let full = Cli::command();
    let commands: Vec<Command> = full
        .get_subcommands()
        .filter(|command| !command.is_hide_set())
        .cloned()
        .collect();
    Command::new("octopus-runkey")
        .version(VERSION)
        .args(full.get_arguments().cloned())
        .subcommands(commands)
}
