//! One module per subcommand, each taking its resolved settings. This one only dispatches:
//! what the commands share lives in the modules it belongs to (`runkey`, `octopus::connect`,
//! `child`).

mod audit;
mod completions;
mod create;
mod exec;
mod list;
mod revoke;
mod setup;
mod use_;

use anyhow::Result;

use crate::console::Console;
use crate::exit::ExitStatus;
use crate::guard;
use crate::settings::Settings;

pub fn run(settings: Settings, console: &Console) -> Result<ExitStatus> {
    match settings {
        Settings::Create(mint) => create::run(&mint, console),
        Settings::Use(settings) => use_::run(&settings, console),
        Settings::Revoke(settings) => revoke::run(&settings, console),
        Settings::Exec(settings) => exec::run(&settings, console),
        Settings::List(settings) => list::run(&settings, console),
        Settings::Audit(settings) => audit::run(&settings, console),
        Settings::Setup(settings) => setup::run(&settings, console),
        Settings::Completions(shell) => completions::run(shell),
        Settings::GuardLaunch => guard::launch(),
        Settings::GuardWatch => guard::watch(),
    }
}
