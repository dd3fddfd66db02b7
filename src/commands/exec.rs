//! `exec`: create, use and revoke in one step. The key is revoked whether the command
//! succeeds, fails, cannot start, or the run is cancelled (SIGINT/SIGTERM go to the command
//! first, then the key is revoked); should the whole process tree be killed, its guard
//! revokes it.

use anyhow::{Result, anyhow};

use crate::child::{self, ChildEnv, Signals};
use crate::console::Console;
use crate::exit::ExitStatus;
use crate::octopus::{LastUsed, connect};
use crate::runkey;
use crate::service_message::mask;
use crate::settings::Exec;

pub fn run(settings: &Exec, console: &Console) -> Result<ExitStatus> {
    // Caught from here on, so that a cancel during create still ends in a revoke.
    let signals = Signals::install()?;
    let connection = &settings.mint.connection;
    let client = connect::broker(connection, &settings.mint.broker, console)?;
    let key = runkey::mint(&settings.mint, &client, console, &signals)?;
    let guard = runkey::guard_interval(settings.mint.guard, console, &key)
        .and_then(|_| runkey::watch_exec(connection, console, &key, settings.keep_minted));

    let outcome = match console.line(&mask(key.key.expose())) {
        Ok(()) => {
            console.info(&key.summary());
            let env = ChildEnv::with_run_key(
                &connection.server.base(),
                &key.key,
                settings.space.as_deref(),
            );
            child::run(&settings.cmd, &env, &signals)
        }
        Err(e) => Err(anyhow!(
            "writing the mask for the run key failed ({e}); the command was not run"
        )),
    };
    // Whether the key was used, where the server says, then what it changed and minted.
    let last_used = client
        .api_key(&key.owner.id, &key.id)
        .ok()
        .flatten()
        .map_or(LastUsed::Unknown, |info| info.last_used());
    let revoked = runkey::end_of_run(
        &client,
        console,
        &key.at_the_end(last_used),
        settings.keep_minted,
    )
    .and_then(|()| key.revoke(&client));
    let revoked = match (revoked, guard) {
        (Ok(message), guard) => {
            console.info(&message);
            if let Some(guard) = guard {
                guard.stand_down();
            }
            Ok(())
        }
        // The guard has the pipe to itself once this process ends without a word: it
        // revokes, and goes on asking through a restart or an outage.
        (Err(e), Some(_guard)) => Err(e.context(format!(
            "revoking run key {} failed now; its guard keeps trying, with growing waits, until Octopus confirms the key gone or it expires at {}",
            key.id,
            key.expires_text()
        ))),
        (Err(e), None) => Err(e.context(format!(
            "run key {} stays live until {}; delete it in the broker account's API keys, or run 'octopus-runkey revoke --sweep'",
            key.id,
            key.expires_text()
        ))),
    };
    match (outcome, revoked) {
        (Ok(status), Ok(_)) => Ok(status),
        (Ok(ExitStatus::Child(0)), Err(e)) => {
            Err(e.context("the command succeeded but revoking the run key failed"))
        }
        (Ok(status), Err(e)) => {
            console.error(&format!("revoking the run key failed: {e:#}"));
            Ok(status)
        }
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(revoke_error)) => {
            console.error(&format!("revoking the run key failed: {revoke_error:#}"));
            Err(e)
        }
    }
}
