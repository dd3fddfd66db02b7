//! `revoke`: delete exactly this run's key, idempotently; `--sweep` also deletes this
//! tool's stale keys. A key without the marker, or with another run's marker, is never
//! deleted.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use jiff::{SignedDuration, Timestamp};

use super::client;
use crate::console::Console;
use crate::credential::Role;
use crate::duration;
use crate::exit::ExitStatus;
use crate::octopus::{self, Client, Deleted, status_of};
use crate::purpose::Marker;
use crate::settings::{Revoke, RevokeTarget};

pub fn run(settings: &Revoke, console: &Console) -> Result<ExitStatus> {
    let client = client(&settings.connection, settings.credential.clone(), console)?;
    let revoked = owner(settings, &client).and_then(|owner| {
        revoke_target(console, &client, &owner, &settings.target)?;
        match settings.sweep {
            Some(max_age) => sweep(console, &client, &owner, max_age),
            None => Ok(()),
        }
    });
    match revoked {
        Err(e) if client.credential().role() == Role::RunKey && status_of(&e) == Some(401) => {
            console.info("The run key can no longer act (the server answers 401): it expired or was already revoked.");
        }
        other => other?,
    }
    Ok(ExitStatus::Success)
}

fn owner(settings: &Revoke, client: &Client) -> Result<String> {
    match &settings.owner {
        Some(owner) => Ok(owner.clone()),
        None => Ok(client
            .me()
            .context("finding the key's owner (GET /api/users/me)")?
            .id),
    }
}

fn revoke_target(
    console: &Console,
    client: &Client,
    owner: &str,
    target: &RevokeTarget,
) -> Result<()> {
    match target {
        RevokeTarget::Id { id, task } => revoke_by_id(console, client, owner, id, task.as_deref()),
        RevokeTarget::Task(task) => revoke_by_task(console, client, owner, task),
        RevokeTarget::Nothing => Ok(()),
    }
}

fn revoke_by_id(
    console: &Console,
    client: &Client,
    owner: &str,
    id: &str,
    task: Option<&str>,
) -> Result<()> {
    let Some(key) = client.api_key(owner, id)? else {
        console.info(&format!("Run key {id} is already revoked."));
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
        Ok(Deleted::Now) => console.info(&format!("Revoked run key {id} ({}).", key.purpose())),
        Ok(Deleted::AlreadyGone) => console.info(&format!("Run key {id} is already revoked.")),
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

fn revoke_by_task(console: &Console, client: &Client, owner: &str, task: &str) -> Result<()> {
    let keys: Vec<_> = client
        .list_api_keys(owner, &Marker::task_prefix(task))?
        .into_iter()
        .filter(|key| Marker::parse(key.purpose()).is_some_and(|m| m.task == task))
        .collect();
    if keys.is_empty() {
        console.info(&format!(
            "No run key of task {task} remains: already revoked."
        ));
        return Ok(());
    }
    for key in &keys {
        match client.delete_api_key(owner, &key.id)? {
            Deleted::Now => {
                console.info(&format!("Revoked run key {} ({}).", key.id, key.purpose()))
            }
            Deleted::AlreadyGone => {
                console.info(&format!("Run key {} is already revoked.", key.id))
            }
        }
    }
    Ok(())
}

/// The broker's keys with the marker that expired or are older than `max_age`. With the
/// broker credential (which `--sweep` requires) the run key's owner is the broker.
fn sweep(console: &Console, client: &Client, owner: &str, max_age: Duration) -> Result<()> {
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
    console.info(&format!(
        "Swept {} stale run key(s) (expired, or older than {}); {} live run key(s) left.",
        stale.len(),
        duration::display(max_age),
        ours.len() - stale.len()
    ));
    Ok(())
}
