//! `exec`: create, use and revoke in one step. The key is revoked whether the command
//! succeeds, fails, cannot start, or the run is cancelled (SIGINT/SIGTERM go to the command
//! first, then the key is revoked).

use anyhow::{Result, anyhow};

use super::create::{RunKey, mint, settle};
use super::{broker_client, child_env};
use crate::child::{self, Signals};
use crate::console::Console;
use crate::exit::ExitStatus;
use crate::guard::{Guard, Spec, Watch};
use crate::octopus::{Client, Deleted};
use crate::service_message::mask;
use crate::settings::Exec;

pub fn run(settings: &Exec, console: &Console) -> Result<ExitStatus> {
    // Caught from here on, so that a cancel during create still ends in a revoke.
    let signals = Signals::install()?;
    let connection = &settings.mint.connection;
    let client = broker_client(connection, &settings.mint.broker, console)?;
    let key = mint(&settings.mint, &client, console, &signals)?;
    // Should this process be killed with its whole tree (Octopus's cancel), the guard revokes.
    let guard = settings.mint.guard.and_then(|_| {
        let spec = Spec::new(
            connection,
            &key.key,
            &key.id,
            &key.owner.id,
            key.guard_until(),
            Watch::Exec,
        );
        Guard::start(&spec)
            .map_err(|e| {
                console.warn(&format!(
                    "no guard watches this key: {e:#}; should this step be killed, the key expires at {}",
                    key.expires_text()
                ))
            })
            .ok()
    });

    let outcome = match console.line(&mask(key.key.expose())) {
        Ok(()) => {
            console.info(&key.summary());
            let env = child_env(connection, &key.key, settings.space.as_deref());
            child::run(&settings.cmd, &env, &signals)
        }
        Err(e) => Err(anyhow!(
            "writing the mask for the run key failed ({e}); the command was not run"
        )),
    };
    let revoked = revoke(&client, &key);
    if let Ok(message) = &revoked {
        console.info(message);
        if let Some(guard) = guard {
            guard.stand_down();
        }
    }
    // A guard still holding its pipe when this process ends revokes once more itself.
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

fn revoke(client: &Client, key: &RunKey) -> Result<String> {
    // A create attempt whose answer was lost may have been finished by a slow server after
    // it was settled: look once more, now that the command has run.
    let late: usize = key
        .lost_attempts
        .iter()
        .filter_map(|marker| settle(client, &key.owner.id, marker).ok())
        .sum();
    let late = if late > 0 {
        format!(" Also deleted {late} key(s) left by a create attempt whose answer was lost.")
    } else {
        String::new()
    };
    match client.delete_api_key(&key.owner.id, &key.id) {
        Ok(Deleted::Now) => Ok(format!("Revoked run key {}.{late}", key.id)),
        Ok(Deleted::AlreadyGone) => Ok(format!("Run key {} was already revoked.{late}", key.id)),
        Err(e) => Err(e.context(format!(
            "run key {} stays live until {}; delete it in the broker account's API keys, or run 'octopus-runkey revoke --sweep'",
            key.id,
            key.expires_text()
        ))),
    }
}
