//! `revoke`: delete exactly this run's key, idempotently; `--sweep` also deletes this
//! tool's stale keys. A key without the marker, or with another run's marker, is never
//! deleted.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use jiff::{SignedDuration, Timestamp};

use crate::console::Console;
use crate::credential::Role;
use crate::duration;
use crate::exit::ExitStatus;
use crate::octopus::{self, ApiKeyInfo, Client, Deleted, connect, status_of};
use crate::purpose::{Marker, NO_TASK};
use crate::settings::{Revoke, RevokeTarget, RevokeWith};

pub fn run(settings: &Revoke, console: &Console) -> Result<ExitStatus> {
    let client = match &settings.credential {
        RevokeWith::Broker(broker) => connect::broker(&settings.connection, broker, console)?,
        RevokeWith::RunKey(run_key) => {
            connect::with(&settings.connection, run_key.clone(), console)?
        }
    };
    let revoked = owner(settings, &client).and_then(|owner| {
        revoke_target(console, &client, &owner, &settings.target)?;
        match settings.sweep {
            Some(max_age) => sweep(console, &client, &owner, max_age),
            None => Ok(()),
        }
    });
    match revoked {
        // The run key is the one target: a key that can no longer act is gone. (Revoke by
        // task decides this itself: there the run key may be one target of several.)
        Err(e)
            if client.credential().role() == Role::RunKey
                && status_of(&e) == Some(401)
                && matches!(settings.target, RevokeTarget::Id { .. }) =>
        {
            console.info(CANNOT_ACT);
        }
        Err(e)
            if client.credential().role() == Role::RunKey
                && status_of(&e) == Some(401)
                && matches!(settings.target, RevokeTarget::Task(_)) =>
        {
            bail!(
                "{e:#}; the run key can no longer act, so the other keys of this task cannot be checked with it: give the revoke step the broker key in OCTOPUS_API_KEY (the guard and 'revoke --sweep' remove them too)"
            );
        }
        other => other?,
    }
    Ok(ExitStatus::Success)
}

const CANNOT_ACT: &str =
    "The run key can no longer act (the server answers 401): it expired or was already revoked.";

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
    let of_task = |key: &ApiKeyInfo| Marker::parse(key.purpose()).is_some_and(|m| m.task == task);
    if client.credential().role() == Role::RunKey {
        return revoke_by_task_with_the_run_key(console, client, owner, task, of_task);
    }
    let deleted = client.delete_all_api_keys(owner, &Marker::task_prefix(task), of_task)?;
    if deleted.is_empty() {
        console.info(&format!(
            "No run key of task {task} remains: already revoked."
        ));
    }
    for (key, deleted) in &deleted {
        report(console, key, deleted);
    }
    Ok(())
}

fn report(console: &Console, key: &ApiKeyInfo, deleted: &Deleted) {
    match deleted {
        Deleted::Now => console.info(&format!("Revoked run key {} ({}).", key.id, key.purpose())),
        Deleted::AlreadyGone => console.info(&format!("Run key {} is already revoked.", key.id)),
    }
}

/// With only the run key, deleting its own key ends what it can do: every later request
/// answers 401. So the task's other keys go first and the keys that may be its own (their
/// hint is the run key's first characters) last; a 401 while other keys remain is a
/// failure that names them.
fn revoke_by_task_with_the_run_key(
    console: &Console,
    client: &Client,
    owner: &str,
    task: &str,
    of_task: impl Fn(&ApiKeyInfo) -> bool,
) -> Result<()> {
    let own_hint: String = client
        .credential()
        .secret()
        .expose()
        .chars()
        .take(8)
        .collect();
    let mut keys = client.find_api_keys(owner, &Marker::task_prefix(task), of_task)?;
    if keys.is_empty() {
        console.info(&format!(
            "No run key of task {task} remains: already revoked."
        ));
        return Ok(());
    }
    let maybe_own = |key: &ApiKeyInfo| key.hint().is_none_or(|hint| own_hint.starts_with(hint));
    keys.sort_by_key(|key| maybe_own(key));
    // Once a key that may be its own is deleted, a 401 means it was: what is left is live.
    let mut own_deleted = false;
    for (i, key) in keys.iter().enumerate() {
        match client.delete_api_key(owner, &key.id) {
            Ok(deleted) => {
                own_deleted |= maybe_own(key) && matches!(deleted, Deleted::Now);
                report(console, key, &deleted)
            }
            Err(e) if status_of(&e) == Some(401) => {
                let left: Vec<&str> = keys[i..].iter().map(|k| k.id.as_str()).collect();
                if left.len() == 1 && maybe_own(key) && !own_deleted {
                    // The one key left was the run key itself, already gone.
                    console.info(CANNOT_ACT);
                    return Ok(());
                }
                bail!(
                    "the run key stopped working (401) with {} key(s) of task {task} left ({}): give the revoke step the broker key in OCTOPUS_API_KEY, or run 'octopus-runkey revoke --sweep'; they expire at their TTL",
                    left.len(),
                    left.join(", ")
                );
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Why the sweep deletes a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stale {
    TaskOver,
    Expired,
    Old,
}

/// The broker's keys with the marker whose task is over, that expired, or that are older
/// than `max_age`. With the broker credential (which `--sweep` requires) the run key's
/// owner is the broker. The listing is unfiltered: a server's filter is no proof.
fn sweep(console: &Console, client: &Client, owner: &str, max_age: Duration) -> Result<()> {
    let now = Timestamp::now();
    let oldest = now
        .checked_sub(SignedDuration::try_from(max_age)?)
        .unwrap_or(Timestamp::MIN);
    let ours: Vec<_> = client
        .list_api_keys(owner, "")?
        .into_iter()
        .filter_map(|key| Marker::parse(key.purpose()).map(|marker| (key, marker)))
        .collect();
    let mut tasks: HashMap<String, bool> = HashMap::new();
    let mut tasks_unreadable = None;
    let mut stale = Vec::new();
    for (key, marker) in &ours {
        let reason = if key.expires_at().is_some_and(|at| at <= now) {
            Some(Stale::Expired)
        } else if key.created_at().is_some_and(|at| at <= oldest) {
            Some(Stale::Old)
        } else if marker.task != NO_TASK && tasks_unreadable.is_none() {
            let over = match tasks.get(&marker.task) {
                Some(over) => *over,
                None => match client.task(&marker.task) {
                    Ok(task) => *tasks.entry(marker.task.clone()).or_insert(task.is_over()),
                    Err(e) if status_of(&e) == Some(403) => {
                        tasks_unreadable = Some(e);
                        false
                    }
                    // An unknown task (404) or a passing failure: the age rules still apply.
                    Err(_) => *tasks.entry(marker.task.clone()).or_insert(false),
                },
            };
            over.then_some(Stale::TaskOver)
        } else {
            None
        };
        if let Some(reason) = reason {
            stale.push((key, reason));
        }
    }
    if let Some(e) = tasks_unreadable {
        console.warn(&format!(
            "the sweep cannot tell which runs are over ({e:#}); it deletes only expired and old keys"
        ));
    }
    for (key, _) in &stale {
        client.delete_api_key(owner, &key.id)?;
    }
    let count = |reason| stale.iter().filter(|(_, r)| *r == reason).count();
    console.info(&format!(
        "Swept {} stale run key(s): {} whose task is over, {} expired, {} older than {}; {} live run key(s) left.",
        stale.len(),
        count(Stale::TaskOver),
        count(Stale::Expired),
        count(Stale::Old),
        duration::display(max_age),
        ours.len() - stale.len()
    ));
    Ok(())
}
