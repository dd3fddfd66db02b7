//! One module per subcommand, each taking its resolved settings; this one dispatches and
//! holds what several of them share.

mod create;
mod exec;
mod list;
mod revoke;
mod use_;

use anyhow::Result;

use crate::child::ChildEnv;
use crate::cli::GuardStage;
use crate::console::Console;
use crate::credential::Credential;
use crate::exit::ExitStatus;
use crate::guard;
use crate::octopus::{Client, Connection};
use crate::secret::Secret;
use crate::settings::Settings;

pub fn run(settings: Settings, console: &Console) -> Result<ExitStatus> {
    match settings {
        Settings::Create(mint) => create::run(&mint, console),
        Settings::Use(settings) => use_::run(&settings, console),
        Settings::Revoke(settings) => revoke::run(&settings, console),
        Settings::Exec(settings) => exec::run(&settings, console),
        Settings::List(settings) => list::run(&settings, console),
        Settings::Guard(GuardStage::Launch) => guard::launch(),
        Settings::Guard(GuardStage::Watch) => guard::watch(),
    }
}

/// The client for this run, with a warning first when keys would cross the network in
/// clear text.
fn client(connection: &Connection, credential: Credential, console: &Console) -> Result<Client> {
    warn_if_insecure(connection, console);
    Client::new(connection, credential, *console)
}

fn warn_if_insecure(connection: &Connection, console: &Console) {
    if connection.server.is_insecure() {
        console.warn(&format!(
            "{} uses plain http:// to another machine: API keys cross the network in clear text; use https://",
            connection.server.base()
        ));
    }
}

/// The child's environment for `use` and `exec`: the run key under every name the official
/// tools read, the broker's access token removed.
fn child_env(connection: &Connection, run_key: &Secret, space: Option<&str>) -> ChildEnv {
    let mut env = ChildEnv::default();
    let server = connection.server.base();
    env.set("OCTOPUS_URL", server.clone());
    env.set("OCTOPUS_CLI_SERVER", server);
    for name in ["OCTOPUS_API_KEY", "OCTOPUS_APIKEY", "OCTOPUS_CLI_API_KEY"] {
        env.set_secret(name, run_key);
    }
    if let Some(space) = space {
        env.set("OCTOPUS_SPACE", space);
    }
    env.remove("OCTOPUS_ACCESS_TOKEN");
    env
}
