//! `revoke`: delete exactly this run's key, idempotently; `--sweep` also deletes this
//! tool's stale keys. A key without the marker, or with another run's marker, is never
//! deleted.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use jiff::{SignedDuration, Timestamp};

use super::Ctx;
use crate::cli::RevokeArgs;
use crate::duration;
use crate::error::{Outcome, usage};
use crate::octopus::{self, Client, Deleted, Role, status_of};
use crate::purpose::Marker;
use crate::settings::{
    self, OCTOPUS_API_KEY, RUNKEY_API_KEY, RUNKEY_API_KEY_ID, RUNKEY_API_KEY_OWNER_ID,
};

enum Target {
    /// `RUNKEY_API_KEY_ID`, checked against this run's task when that is known.
    Id { id: String, task: Option<String> },
    /// Every key whose marker names this task.
    Task(String),
    /// Only the sweep.
    Nothing,
}

pub fn run(ctx: &Ctx, args: &RevokeArgs) -> Result<Outcome> {
    let connection = ctx.connection()?;
    let broker = settings::broker_credential(ctx.env)?;
    let run_key = settings::run_key(ctx.env)?;
    let task = settings::task_id(ctx.env)?;
    let max_age = args
        .sweep
        .then(|| settings::max_age(&args.max_age))
        .transpose()?;
    if args.sweep && broker.is_none() {
        return Err(settings::missing(
            ctx.env,
            OCTOPUS_API_KEY,
            " (--sweep deletes other runs' keys, so it needs the broker credential)",
        ));
    }
    let target = match (ctx.env.get_string(RUNKEY_API_KEY_ID), task) {
        (Some(id), task) => Target::Id { id, task },
        (None, Some(task)) => Target::Task(task),
        (None, None) if args.sweep => Target::Nothing,
        (None, None) => {
            return Err(usage(format!(
                "nothing to revoke: RUNKEY_API_KEY_ID is not set: map it from {} in the step (or set OCTOPUS_TASK_ID from Octopus.Task.Id to revoke every key of this run)",
                RUNKEY_API_KEY_ID.source
            )));
        }
    };
    let credential = broker.or(run_key).ok_or_else(|| {
        settings::missing(
            ctx.env,
            RUNKEY_API_KEY,
            " (or give the step the broker key in OCTOPUS_API_KEY)",
        )
    })?;
    let client = Client::new(&connection, credential)?;

    let revoked = owner(ctx, &client).and_then(|owner| {
        revoke_target(ctx, &client, &owner, target)?;
        match max_age {
            Some(max_age) => sweep(ctx, &client, &owner, max_age),
            None => Ok(()),
        }
    });
    match revoked {
        Err(e) if client.credential().role() == Role::RunKey && status_of(&e) == Some(401) => {
            ctx.console.info("The run key can no longer act (the server answers 401): it expired or was already revoked.");
        }
        other => other?,
    }
    Ok(Outcome::Done)
}

fn owner(ctx: &Ctx, client: &Client) -> Result<String> {
    match ctx.env.get_string(RUNKEY_API_KEY_OWNER_ID) {
        Some(owner) => Ok(owner),
        None => Ok(client
            .me()
            .context("finding the key's owner (GET /api/users/me)")?
            .id),
    }
}

fn revoke_target(ctx: &Ctx, client: &Client, owner: &str, target: Target) -> Result<()> {
    match target {
        Target::Id { id, task } => revoke_by_id(ctx, client, owner, &id, task.as_deref()),
        Target::Task(task) => revoke_by_task(ctx, client, owner, &task),
        Target::Nothing => Ok(()),
    }
}

fn revoke_by_id(
    ctx: &Ctx,
    client: &Client,
    owner: &str,
    id: &str,
    task: Option<&str>,
) -> Result<()> {
    let Some(key) = client.api_key(owner, id)? else {
        ctx.console
            .info(&format!("Run key {id} is already revoked."));
        return Ok(());
    };
    let marker = Marker::parse(key.purpose()).ok_or_else(|| {
        anyhow!(
            "key {id} was not made by octopus-runkey (its purpose has no [runkey ...] marker), so it is not deleted: check that RUNKEY_API_KEY_ID comes from the create step's ApiKeyId output"
        )
    })?;
    if let Some(task) = task
        && marker.task != task
    {
        bail!(
            "key {id} belongs to another run ({}), not this one ({task}), so it is not deleted: check which create step RUNKEY_API_KEY_ID comes from",
            marker.task
        );
    }
    let self_delete = client.credential().role() == Role::RunKey;
    match client.delete_api_key(owner, id) {
        Ok(Deleted::Now) => ctx
            .console
            .info(&format!("Revoked run key {id} ({}).", key.purpose())),
        Ok(Deleted::AlreadyGone) => ctx
            .console
            .info(&format!("Run key {id} is already revoked.")),
        Err(e) if self_delete && status_of(&e) == Some(403) => {
            let until = key
                .expires_at()
                .map_or("its expiry".to_string(), octopus::utc);
            bail!(
                "the server does not let the run key delete itself ({e}); the key stays live until {until}: give the revoke step the broker key in OCTOPUS_API_KEY"
            );
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

fn revoke_by_task(ctx: &Ctx, client: &Client, owner: &str, task: &str) -> Result<()> {
    let keys: Vec<_> = client
        .list_api_keys(owner, &Marker::task_prefix(task))?
        .into_iter()
        .filter(|key| Marker::parse(key.purpose()).is_some_and(|m| m.task == task))
        .collect();
    if keys.is_empty() {
        ctx.console.info(&format!(
            "No run key of task {task} remains: already revoked."
        ));
        return Ok(());
    }
    for key in &keys {
        match client.delete_api_key(owner, &key.id)? {
            Deleted::Now => {
                ctx.console
                    .info(&format!("Revoked run key {} ({}).", key.id, key.purpose()))
            }
            Deleted::AlreadyGone => ctx
                .console
                .info(&format!("Run key {} is already revoked.", key.id)),
        }
    }
    Ok(())
}

/// The broker's keys with the marker that expired or are older than `max_age`. With the
/// broker credential (which `--sweep` requires) the run key's owner is the broker.
fn sweep(ctx: &Ctx, client: &Client, owner: &str, max_age: Duration) -> Result<()> {
    let now = Timestamp::now();
    let oldest = now
        .checked_sub(SignedDuration::try_from(max_age)?)
        .unwrap_or(Timestamp::MIN);
    let ours: Vec<_> = client
        .list_api_keys(owner, Marker::any_prefix())?
        .into_iter()
        .filter(|key| Marker::parse(key.purpose()).is_some())
        .collect();
    let stale: Vec<_> = ours
        .iter()
        .filter(|key| {
            key.expires_at().is_some_and(|at| at <= now)
                || key.created_at().is_some_and(|at| at <= oldest)
        })
        .collect();
    for key in &stale {
        client.delete_api_key(owner, &key.id)?;
    }
    ctx.console.info(&format!(
        "Swept {} stale run key(s) (expired, or older than {}); {} live run key(s) left.",
        stale.len(),
        duration::display(max_age),
        ours.len() - stale.len()
    ));
    Ok(())
}
