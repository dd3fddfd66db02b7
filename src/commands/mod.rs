//! One module per subcommand, each taking its resolved settings; this one dispatches and
//! holds what several of them share.

mod audit;
mod create;
mod exec;
mod list;
mod revoke;
mod setup;
mod use_;

use anyhow::Result;

use crate::child::ChildEnv;
use crate::cli::GuardStage;
use crate::console::Console;
use crate::credential::{Credential, Role, Scheme};
use crate::exit::ExitStatus;
use crate::guard;
use crate::octopus::{Client, Connection};
use crate::secret::Secret;
use crate::settings::{Broker, Settings};

pub fn run(settings: Settings, console: &Console) -> Result<ExitStatus> {
    match settings {
        Settings::Create(mint) => create::run(&mint, console),
        Settings::Use(settings) => use_::run(&settings, console),
        Settings::Revoke(settings) => revoke::run(&settings, console),
        Settings::Exec(settings) => exec::run(&settings, console),
        Settings::List(settings) => list::run(&settings, console),
        Settings::Audit(settings) => audit::run(&settings, console),
        Settings::Setup(settings) => setup::run(&settings, console),
        Settings::Guard(GuardStage::Launch) => guard::launch(),
        Settings::Guard(GuardStage::Watch) => guard::watch(),
    }
}

/// The broker's client: with its key or token as given, or with the access token that the
/// step's OIDC JWT is exchanged for.
fn broker_client(connection: &Connection, broker: &Broker, console: &Console) -> Result<Client> {
    match broker {
        Broker::Ready(credential) => client(connection, credential.clone(), console),
        Broker::Oidc { jwt, audience } => {
            let anonymous = client(connection, Credential::anonymous(), console)?;
            let token = anonymous.exchange_oidc_token(jwt, audience)?;
            Client::new(
                connection,
                Credential::new(token, Scheme::Bearer, Role::Broker, OIDC_SOURCE),
                *console,
            )
        }
    }
}

/// What messages call the access token the OIDC exchange gave.
pub const OIDC_SOURCE: &str = "the access token from RUNKEY_OIDC_JWT";

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
/// tools read; the broker's access token and OIDC JWT removed.
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
    // The broker credential in every form it can take stays out of the child.
    for name in [
        "OCTOPUS_ACCESS_TOKEN",
        "RUNKEY_OIDC_JWT",
        "RUNKEY_OIDC_AUDIENCE",
    ] {
        env.remove(name);
    }
    env
}
