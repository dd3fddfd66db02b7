//! One module per subcommand; this one dispatches and holds what several of them share.

mod create;
mod exec;
mod list;
mod revoke;
mod use_;

use anyhow::Result;

use crate::child::ChildEnv;
use crate::cli::{Cli, Command, GlobalArgs};
use crate::console::Console;
use crate::error::Outcome;
use crate::secret::Secret;
use crate::settings::{Connection, Env};

/// What every command gets: the global options, the environment and the console.
pub struct Ctx<'a> {
    pub global: &'a GlobalArgs,
    pub env: &'a Env,
    pub console: &'a Console,
}

impl Ctx<'_> {
    /// The server to talk to, with a warning when keys would cross the network in clear.
    fn connection(&self) -> Result<Connection> {
        let connection = Connection::resolve(self.global, self.env)?;
        if connection.is_insecure() {
            self.console.warn(&format!(
                "{} uses plain http:// to another machine: API keys cross the network in clear text; use https://",
                connection.server
            ));
        }
        Ok(connection)
    }
}

pub fn run(cli: &Cli, env: &Env, console: &Console) -> Result<Outcome> {
    let ctx = Ctx {
        global: &cli.global,
        env,
        console,
    };
    match &cli.command {
        Command::Create(args) => create::run(&ctx, args),
        Command::Use(args) => use_::run(&ctx, args),
        Command::Revoke(args) => revoke::run(&ctx, args),
        Command::Exec(args) => exec::run(&ctx, args),
        Command::List(args) => list::run(&ctx, args),
    }
}

/// The child's environment for `use` and `exec`: the run key under every name the official
/// tools read, the broker's access token removed.
fn child_env(connection: &Connection, run_key: &Secret, space: Option<String>) -> ChildEnv {
    let mut env = ChildEnv::default();
    env.set("OCTOPUS_URL", connection.server.clone());
    env.set("OCTOPUS_CLI_SERVER", connection.server.clone());
    for name in ["OCTOPUS_API_KEY", "OCTOPUS_APIKEY", "OCTOPUS_CLI_API_KEY"] {
        env.set_secret(name, run_key);
    }
    if let Some(space) = space {
        env.set("OCTOPUS_SPACE", space);
    }
    env.remove("OCTOPUS_ACCESS_TOKEN");
    env
}
