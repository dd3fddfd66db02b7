//! `use`: run the step's command with the run key in its environment.

use anyhow::{Context, Result};

use super::{child_env, client, warn_if_insecure};
use crate::child::{self, Signals};
use crate::console::Console;
use crate::exit::ExitStatus;
use crate::settings::Use;

pub fn run(settings: &Use, console: &Console) -> Result<ExitStatus> {
    // Caught from here on: a cancel during the check means the command is never started.
    let signals = Signals::install()?;
    let connection = &settings.connection;
    if settings.check {
        let client = client(connection, settings.run_key.clone(), console)?;
        let me = client.me().context("checking the run key")?;
        console.info(&format!(
            "The run key is valid: it acts as {}.",
            me.describe()
        ));
    } else {
        // The child sends the key even when this command does not.
        warn_if_insecure(connection, console);
    }
    let env = child_env(
        connection,
        settings.run_key.secret(),
        settings.space.as_deref(),
    );
    child::run(&settings.cmd, &env, &signals)
}
