//! `use`: run the step's command with the run key in its environment.

use anyhow::{Context, Result};

use crate::child::{self, ChildEnv, Signals};
use crate::console::Console;
use crate::exit::ExitStatus;
use crate::octopus::connect;
use crate::settings::Use;

pub fn run(settings: &Use, console: &Console) -> Result<ExitStatus> {
    // Caught from here on: a cancel during the check means the command is never started.
    let signals = Signals::install()?;
    let connection = &settings.connection;
    if settings.check {
        let client = connect::with(connection, settings.run_key.clone(), console)?;
        let me = client.me().context("checking the run key")?;
        console.info(&format!(
            "The run key is valid: it acts as {}.",
            me.describe()
        ));
    } else {
        // The child sends the key even when this command does not.
        connect::warn_if_insecure(connection, console);
    }
    let env = ChildEnv::with_run_key(
        &connection.server.base(),
        settings.run_key.secret(),
        settings.space.as_deref(),
    );
    child::run(&settings.cmd, &env, &signals)
}
