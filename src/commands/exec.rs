//! `exec`: create, use and revoke in one step. The key is revoked whether the command
//! succeeds, fails, cannot start, or the run is cancelled (SIGINT/SIGTERM go to the command
//! first, then the key is revoked).

use anyhow::{Result, anyhow};

use super::create::{RunKey, mint, settle};
use super::{Ctx, child_env};
use crate::child::{self, Signals};
use crate::cli::ExecArgs;
use crate::error::Outcome;
use crate::octopus::{Client, Deleted};
use crate::service_message::mask;
use crate::settings;

pub fn run(ctx: &Ctx, args: &ExecArgs) -> Result<Outcome> {
    let connection = ctx.connection()?;
    let credential = settings::require_broker_credential(ctx.env)?;
    let ttl = settings::ttl(args.key.ttl.as_deref(), ctx.env)?;
    let task = settings::task_id(ctx.env)?;
    // Caught from here on, so that a cancel during create still ends in a revoke.
    let signals = Signals::install()?;
    let client = Client::new(&connection, credential)?;
    let key = mint(ctx, &client, ttl, args.key.allow_unattributed, task)?;

    let outcome = match ctx.console.line(&mask(key.key.expose())) {
        Ok(()) => {
            ctx.console.info(&key.summary());
            let env = child_env(&connection, &key.key, settings::space(ctx.env));
            child::run(&args.command.cmd, &env, &signals)
        }
        Err(e) => Err(anyhow!(
            "writing the mask for the run key failed ({e}); the command was not run"
        )),
    };
    let revoked = revoke(&client, &key);
    if let Ok(message) = &revoked {
        ctx.console.info(message);
    }
    match (outcome, revoked) {
        (Ok(code), Ok(_)) => Ok(Outcome::Child(code)),
        (Ok(0), Err(e)) => Err(e.context("the command succeeded but revoking the run key failed")),
        (Ok(code), Err(e)) => {
            ctx.console
                .error(&format!("revoking the run key failed: {e:#}"));
            Ok(Outcome::Child(code))
        }
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(revoke_error)) => {
            ctx.console
                .error(&format!("revoking the run key failed: {revoke_error:#}"));
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
            key.expires_utc()
        ))),
    }
}
