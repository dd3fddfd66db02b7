//! `create`: mint this run's key for the broker account, hand it to later steps as a
//! sensitive output variable, and leave a guard that revokes it when the task is over.

use anyhow::{Result, anyhow};

use crate::child::Signals;
use crate::console::Console;
use crate::exit::ExitStatus;
use crate::octopus::connect;
use crate::runkey::{self, RunKey};
use crate::service_message::{mask, set_variable};
use crate::settings::Mint;

pub fn run(settings: &Mint, console: &Console) -> Result<ExitStatus> {
    // Caught from here on, so that a cancel while the key is made leaves no key behind.
    let signals = Signals::install()?;
    let client = connect::broker(&settings.connection, &settings.broker, console)?;
    let key = runkey::mint(settings, &client, console, &signals)?;
    if let Err(e) = emit(console, &key) {
        // A key whose output variable never reached Octopus could never be revoked by id.
        return Err(match client.delete_api_key(&key.owner.id, &key.id) {
            Ok(_) => anyhow!(e).context(format!(
                "writing the output variables failed, so run key {} was deleted again",
                key.id
            )),
            Err(delete) => anyhow!(e).context(format!(
                "writing the output variables failed and deleting run key {} failed too ({delete:#}): it stays live until {}; 'octopus-runkey revoke --sweep' removes it",
                key.id,
                key.expires_text()
            )),
        });
    }
    console.info(&key.summary());
    if let Some(interval) = runkey::guard_interval(settings.guard, console, &key) {
        runkey::watch_task(
            &settings.connection,
            settings.task.as_deref(),
            &client,
            console,
            &key,
            interval,
        );
    }
    Ok(ExitStatus::Success)
}

/// The mask first, so that nothing printed after it can show the key; then the variables.
fn emit(console: &Console, key: &RunKey) -> std::io::Result<()> {
    console.line(&mask(key.key.expose()))?;
    console.line(&set_variable("ApiKey", key.key.expose(), true))?;
    console.line(&set_variable("ApiKeyId", &key.id, false))?;
    console.line(&set_variable("ApiKeyOwnerId", &key.owner.id, false))?;
    console.line(&set_variable("ApiKeyExpires", &key.expires_utc(), false))?;
    console.line(&set_variable("ApiKeyPurpose", &key.purpose, false))
}
