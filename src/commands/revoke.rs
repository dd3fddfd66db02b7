//! `revoke`: delete exactly this run's key, idempotently; `--sweep` also deletes this
//! tool's stale keys. A key without the marker, or with another run's marker, is never
//! deleted.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use jiff::{SignedDuration, Timestamp};

use crate::console::Console;
use crate::credential::{Credential, Role};
use crate::duration;
use crate::exit::ExitStatus;
use crate::octopus::{self, ApiKeyInfo, Client, Deleted, LastUsed, connect, status_of};
use crate::purpose::{Marker, NO_TASK};
use crate::runkey::{self, RunKeys};
use crate::settings::{Revoke, RevokeTarget, RevokeWith};

pub fn run(settings: &Revoke, console: &Console) -> Result<ExitStatus> {
    let client = match &settings.credential {
        RevokeWith::Broker(broker) => connect::broker(&settings.connection, broker, console)?,
        RevokeWith::RunKey(run_key) => {
            connect::with(&settings.connection, run_key.clone(), console)?
        }
    };
    let revoked = owner(settings, &client).and_then(|owner| {
        // A dry run deletes nothing: not even this run's own key.
        if !settings.dry_run {
            revoke_target(console, settings, &client, &owner)?;
        }
        match settings.sweep {
            Some(max_age) => sweep(console, &client, &owner, max_age, settings.dry_run),
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

fn revoke_target(console: &Console, settings: &Revoke, client: &Client, owner: &str) -> Result<()> {
    match &settings.target {
        RevokeTarget::Id { id, task } => {
            let outcome = revoke_by_id(console, settings, client, owner, id, task.as_deref())?;
            match &settings.run_key {
                Some(run_key) => {
                    confirm_run_key_gone(console, settings, client, owner, id, outcome, run_key)
                }
                None => {
                    report_by_id(console, id, &outcome);
                    Ok(())
                }
            }
        }
        RevokeTarget::Task(task) => revoke_by_task(console, settings, client, owner, task),
        RevokeTarget::Nothing => Ok(()),
    }
}

/// What became of the key `RUNKEY_API_KEY_ID` names.
enum ById {
    /// Deleted now; its purpose.
    Revoked(String),
    /// Octopus proved it gone (or absent).
    AlreadyGone,
}

fn report_by_id(console: &Console, id: &str, outcome: &ById) {
    match outcome {
        ById::Revoked(purpose) => console.info(&format!("Revoked run key {id} ({purpose}).")),
        ById::AlreadyGone => console.info(&format!("Run key {id} is already revoked.")),
    }
}

/// Revokes (or with `--keep-minted`, names) the keys that the run keys `keys` minted;
/// `marker` is the one they share (a key's whole marker, or its task's start of one).
fn revoke_minted_by(
    console: &Console,
    settings: &Revoke,
    client: &Client,
    owner: &str,
    keys: &[&ApiKeyInfo],
    marker: String,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let run = RunKeys {
        owner,
        key_ids: keys.iter().map(|key| key.id.as_str()).collect(),
        marker,
        created: keys
            .iter()
            .filter_map(|key| key.created_at())
            .min()
            .unwrap_or_else(Timestamp::now),
        last_used: match keys {
            [one] => one.last_used(),
            _ => LastUsed::Unknown,
        },
    };
    runkey::end_of_run(client, console, &run, settings.keep_minted)
}

fn revoke_by_id(
    console: &Console,
    settings: &Revoke,
    client: &Client,
    owner: &str,
    id: &str,
    task: Option<&str>,
) -> Result<ById> {
    let Some(key) = client.api_key(owner, id)? else {
        return Ok(ById::AlreadyGone);
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
    revoke_minted_by(
        console,
        settings,
        client,
        owner,
        &[&key],
        marker.to_string(),
    )?;
    let self_delete = client.credential().role() == Role::RunKey;
    match client.delete_api_key(owner, id) {
        Ok(Deleted::Now) => Ok(ById::Revoked(key.purpose().to_string())),
        Ok(Deleted::AlreadyGone) => Ok(ById::AlreadyGone),
        Err(e) if self_delete && status_of(&e) == Some(403) => {
            let until = key
                .expires_at()
                .map_or("its expiry".to_string(), octopus::utc);
            bail!(
                "the server does not let the run key delete itself ({e}), as a read-only key never can; the key stays live until {until}: give the Revoke step the broker's OIDC account (or the broker key in OCTOPUS_API_KEY), which deletes it"
            );
        }
        Err(e) => Err(e),
    }
}

/// "Revoked" means the run key no longer works. When it still does after the key
/// `RUNKEY_API_KEY_ID` names is gone, that id was another key's (a Revoke step wired to
/// another Create step): this run's own key is found by its marker and its hint (the run
/// key's first characters) and revoked, or the step fails naming the wiring.
fn confirm_run_key_gone(
    console: &Console,
    settings: &Revoke,
    client: &Client,
    owner: &str,
    id: &str,
    outcome: ById,
    run_key: &Credential,
) -> Result<()> {
    let checker = Client::new(&settings.connection, run_key.clone(), *console)?;
    let works = |checker: &Client| match checker.me() {
        Ok(_) => Ok(true),
        Err(e) if status_of(&e) == Some(401) => Ok(false),
        Err(e) => Err(e.context(
            "checking that the run key in RUNKEY_API_KEY no longer works (GET /api/users/me)",
        )),
    };
    if !works(&checker)? {
        report_by_id(console, id, &outcome);
        return Ok(());
    }
    let task = match &settings.target {
        RevokeTarget::Id { task, .. } => task.as_deref(),
        _ => None,
    };
    let hint: String = run_key.secret().expose().chars().take(HINT_LEN).collect();
    let prefix = task.map_or_else(|| Marker::any_prefix().to_string(), Marker::task_prefix);
    let own = client.find_api_keys(owner, &prefix, |key| {
        let of_this_run = Marker::parse(key.purpose())
            .is_some_and(|marker| task.is_none_or(|task| marker.task == task));
        of_this_run && key.hint().is_some_and(|h| hint.starts_with(h))
    })?;
    let what = match outcome {
        ById::Revoked(_) => "was revoked",
        ById::AlreadyGone => "names no key",
    };
    let wiring = format!(
        "RUNKEY_API_KEY_ID ({id}) {what}, but the run key in RUNKEY_API_KEY still works: they come from different create steps (check the Revoke step's RunKey.CreateStep)"
    );
    if own.len() != 1 && task.is_none() || own.is_empty() {
        bail!(
            "{wiring}; no single key of this run matches the run key ({} found), so it stays live until its expiry: map both from the same create step, or set OCTOPUS_TASK_ID to revoke every key of this run",
            own.len()
        );
    }
    console.warn(&format!(
        "{wiring}; revoking this run's own key, found by its marker, instead"
    ));
    for key in &own {
        report(console, key, &client.delete_api_key(owner, &key.id)?);
    }
    if works(&checker)? {
        bail!(
            "{wiring}; the run key still works after this run's keys ({}) were revoked, so it stays live until its expiry: map RUNKEY_API_KEY and RUNKEY_API_KEY_ID from the same create step",
            own.iter()
                .map(|k| k.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// How many characters of a key Octopus shows as its hint (`API-ABCD`).
const HINT_LEN: usize = 8;

fn revoke_by_task(
    console: &Console,
    settings: &Revoke,
    client: &Client,
    owner: &str,
    task: &str,
) -> Result<()> {
    let of_task = |key: &ApiKeyInfo| Marker::parse(key.purpose()).is_some_and(|m| m.task == task);
    if client.credential().role() == Role::RunKey {
        return revoke_by_task_with_the_run_key(console, settings, client, owner, task, of_task);
    }
    let deleted = client.delete_all_api_keys(owner, &Marker::task_prefix(task), of_task)?;
    // The broker may delete what the task's run keys minted after them.
    let keys: Vec<&ApiKeyInfo> = deleted.iter().map(|(key, _)| key).collect();
    revoke_minted_by(
        console,
        settings,
        client,
        owner,
        &keys,
        Marker::task_prefix(task),
    )?;
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
    settings: &Revoke,
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
    // What the task's run keys minted goes first, while the run key can still act.
    let all: Vec<&ApiKeyInfo> = keys.iter().collect();
    revoke_minted_by(
        console,
        settings,
        client,
        owner,
        &all,
        Marker::task_prefix(task),
    )?;
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
fn sweep(
    console: &Console,
    client: &Client,
    owner: &str,
    max_age: Duration,
    dry_run: bool,
) -> Result<()> {
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
    let age = duration::display(max_age);
    for (key, reason) in &stale {
        let why = match reason {
            Stale::TaskOver => format!(
                "its task {} is over",
                Marker::parse(key.purpose()).map_or_else(String::new, |m| m.task)
            ),
            Stale::Expired => "it expired".to_string(),
            Stale::Old => format!("it is older than {age}"),
        };
        if dry_run {
            console.info(&format!(
                "Would delete run key {} ({}): {why}.",
                key.id,
                key.purpose()
            ));
            continue;
        }
        let gone = match client.delete_api_key(owner, &key.id)? {
            Deleted::Now => "Deleted",
            Deleted::AlreadyGone => "Already gone:",
        };
        console.info(&format!(
            "{gone} run key {} ({}): {why}.",
            key.id,
            key.purpose()
        ));
    }
    let count = |reason| stale.iter().filter(|(_, r)| *r == reason).count();
    let reasons = format!(
        "{} whose task is over, {} expired, {} older than {age}",
        count(Stale::TaskOver),
        count(Stale::Expired),
        count(Stale::Old),
    );
    let live = ours.len() - stale.len();
    console.info(&if dry_run {
        format!(
            "A dry run deleted nothing: the sweep would delete {} stale run key(s): {reasons}; {live} live run key(s) would be left.",
            stale.len()
        )
    } else {
        format!(
            "Swept {} stale run key(s): {reasons}; {live} live run key(s) left.",
            stale.len()
        )
    });
    Ok(())
}
