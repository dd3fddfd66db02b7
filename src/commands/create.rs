//! `create`: mint this run's key for the broker account and hand it to later steps as a
//! sensitive output variable. Also the first half of `exec` ([`mint`]).

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use jiff::{SignedDuration, Timestamp};

use super::broker_client;
use crate::child::Signals;
use crate::console::Console;
use crate::duration;
use crate::exit::{ExitStatus, Interrupted};
use crate::guard::{Guard, Spec, Watch};
use crate::octopus::{self, Client, Created, User, status_of};
use crate::purpose::{self, Marker, NO_TASK, Operator, Starter};
use crate::secret::Secret;
use crate::service_message::{mask, set_variable};
use crate::settings::{Mint, OperatorSource};

/// A key this run made.
pub struct RunKey {
    pub id: String,
    pub owner: User,
    pub key: Secret,
    /// The expiry the server answered with; `None` when it named none.
    pub expires: Option<Timestamp>,
    /// The expiry asked for.
    pub requested: Timestamp,
    pub purpose: String,
    /// Who the purpose names, for the summary line.
    pub operator: String,
    /// Markers of create attempts whose answer was lost. A slow server may still finish one
    /// after it was settled; `exec` looks for them again when it revokes.
    pub lost_attempts: Vec<Marker>,
}

impl RunKey {
    pub fn summary(&self) -> String {
        format!(
            "Created run key {} for {}, owned by {}, expires {}.",
            self.id,
            self.operator,
            self.owner.describe(),
            self.expires_text()
        )
    }

    /// `ApiKeyExpires`: what the server said, or empty when it said nothing.
    pub fn expires_utc(&self) -> String {
        self.expires.map(octopus::utc).unwrap_or_default()
    }

    /// For messages: the expiry, or what is known of it.
    pub fn expires_text(&self) -> String {
        self.expires.map_or_else(
            || "at the server's default expiry (the server named none)".to_string(),
            octopus::utc,
        )
    }

    /// How long a guard may need to watch: until the key expires, or when the server named
    /// no expiry, a week at most.
    pub fn guard_until(&self) -> Timestamp {
        self.expires.unwrap_or_else(|| {
            Timestamp::now()
                .checked_add(SignedDuration::from_hours(24 * 7))
                .unwrap_or(self.requested)
        })
    }
}

pub fn run(settings: &Mint, console: &Console) -> Result<ExitStatus> {
    // Caught from here on, so that a cancel while the key is made leaves no key behind.
    let signals = Signals::install()?;
    let client = broker_client(&settings.connection, &settings.broker, console)?;
    let key = mint(settings, &client, console, &signals)?;
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
    if let Some(interval) = settings.guard {
        start_guard(settings, &client, console, &key, interval);
    }
    Ok(ExitStatus::Success)
}

/// The guard of a create step watches the task; without a task, or without the right to
/// read it, there is nothing to watch, and one warning says what covers the key instead.
fn start_guard(
    settings: &Mint,
    client: &Client,
    console: &Console,
    key: &RunKey,
    interval: Duration,
) {
    let covered = "the Revoke step deletes the key when the run ends normally; after a cancel it lives until its expiry";
    let Some(task) = &settings.task else {
        console.warn(&format!(
            "no guard watches this key: OCTOPUS_TASK_ID is not set, so the end of the run cannot be seen; {covered} at {}",
            key.expires_text()
        ));
        return;
    };
    if let Err(e) = client.task(task) {
        let fix = if status_of(&e) == Some(403) {
            "give the broker's team the TaskView permission (the role Runbook consumer has it), or pass --no-guard"
        } else {
            "pass --no-guard to skip this check"
        };
        console.warn(&format!(
            "no guard watches this key: the broker cannot read task {task} ({e:#}); {covered} at {}; {fix}",
            key.expires_text()
        ));
        return;
    }
    let watch = Watch::Task {
        id: task.clone(),
        interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
    };
    let spec = Spec::new(
        &settings.connection,
        &key.key,
        &key.id,
        &key.owner.id,
        key.guard_until(),
        watch,
    );
    match Guard::start(&spec) {
        Ok(guard) => guard.detach(),
        Err(e) => console.warn(&format!(
            "no guard watches this key: {e:#}; {covered} at {}",
            key.expires_text()
        )),
    }
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

/// Creates the run key: operator, owner, then one POST. A POST whose answer was lost is
/// settled through its nonce (any key it made is deleted) and tried once more, so exactly
/// one live key results.
pub fn mint(
    settings: &Mint,
    client: &Client,
    console: &Console,
    signals: &Signals,
) -> Result<RunKey> {
    let starter = find_starter(settings, client, console)?;
    let human = purpose::human_part_of(starter.as_ref(), &settings.run);
    let operator = starter.map_or_else(
        || "nobody (unattributed run)".to_string(),
        |starter| starter.describe(),
    );
    let owner = client
        .me()
        .context("finding the broker account (GET /api/users/me)")?;
    if let Some(signal) = signals.cancelled() {
        return Err(interrupted(signal, "no key was made"));
    }
    let task = settings.task.as_deref().unwrap_or(NO_TASK);
    let ttl = SignedDuration::try_from(settings.ttl).context("the TTL is too long")?;
    let mut lost_attempts = Vec::new();
    let mut removed_total = 0;
    for attempt in 1..=2 {
        let marker = Marker::new(task)?;
        let purpose = purpose::compose(&human, &marker);
        let expires = Timestamp::now()
            .checked_add(ttl)
            .context("the TTL is too long")?;
        let created = client
            .create_api_key(&owner.id, &purpose, expires)
            .map_err(|e| explain_refusal(e, settings.ttl, client))?;
        if let Some(signal) = signals.cancelled() {
            return Err(match created {
                Created::Key(key) => match client.delete_api_key(&owner.id, &key.id) {
                    Ok(_) => interrupted(signal, &format!("the key it made ({}) was deleted", key.id)),
                    Err(e) => e.context(format!(
                        "interrupted by signal {signal} while the run key was made, and deleting key {} failed; it expires at {}",
                        key.id,
                        octopus::format_expires(expires)
                    )),
                },
                Created::Unknown(_) => match settle(client, &owner.id, &marker) {
                    Ok(removed) => interrupted(
                        signal,
                        &format!("{removed} key(s) that attempt made were deleted"),
                    ),
                    Err(e) => e.context(format!(
                        "interrupted by signal {signal} while the key was made; a key whose purpose ends with {marker} may remain until {}: run 'octopus-runkey revoke --sweep'",
                        octopus::format_expires(expires)
                    )),
                },
            });
        }
        match created {
            Created::Key(key) => {
                let answered = key.expires.as_deref().and_then(octopus::parse_timestamp);
                let honoured =
                    answered.is_some_and(|at| at <= expires + SignedDuration::from_mins(1));
                if !honoured {
                    console.warn(&format!(
                        "the server did not honour the requested expiry {}: it answered {}; the key is still revoked at the end of the run",
                        octopus::utc(expires),
                        answered.map_or("no expiry".to_string(), |at| format!("an expiry of {}", octopus::utc(at)))
                    ));
                }
                return Ok(RunKey {
                    id: key.id,
                    owner,
                    key: key.api_key,
                    expires: answered,
                    requested: expires,
                    purpose: key.purpose.unwrap_or(purpose),
                    operator,
                    lost_attempts,
                });
            }
            Created::Unknown(lost) => {
                let removed = settle(client, &owner.id, &marker).with_context(|| {
                    format!(
                        "{lost}; a key made by that attempt may remain (its purpose ends with {marker}) until {}: run 'octopus-runkey revoke --sweep' with the broker key",
                        octopus::format_expires(expires)
                    )
                })?;
                removed_total += removed;
                lost_attempts.push(marker);
                // A server that answered with an error is not a lost answer: say which.
                let answered = status_of(&lost).is_some();
                if attempt == 2 {
                    let what = if answered {
                        format!("the server failed twice creating the run key ({lost})")
                    } else {
                        format!(
                            "creating the run key failed twice without a readable answer ({lost})"
                        )
                    };
                    return Err(anyhow!(
                        "{what}; the {removed_total} key(s) those attempts made were deleted and none is left; should the server still finish one, that key expires at {} (or run 'octopus-runkey revoke --sweep')",
                        octopus::format_expires(expires)
                    ));
                }
                let what = if answered {
                    format!("the server failed creating the run key ({lost})")
                } else {
                    format!("the answer to creating the run key was lost ({lost})")
                };
                console.warn(&format!(
                    "{what}; deleted {removed} key(s) that attempt made and creating it once more"
                ));
                if let Some(wait) = lost
                    .downcast_ref::<octopus::HttpError>()
                    .and_then(|e| e.retry_after)
                {
                    std::thread::sleep(wait);
                }
            }
        }
    }
    unreachable!("the loop returns on its second attempt")
}

fn interrupted(signal: i32, what: &str) -> anyhow::Error {
    anyhow::Error::new(Interrupted {
        signal,
        message: format!("interrupted by signal {signal} while the run key was made; {what}"),
    })
}

/// Deletes every key whose marker is exactly this attempt's: the keys a lost POST made.
/// Until an unfiltered listing finds none of them.
pub fn settle(client: &Client, owner: &str, marker: &Marker) -> Result<usize> {
    let deleted = client.delete_all_api_keys(owner, &marker.to_string(), |key| {
        Marker::parse(key.purpose()).as_ref() == Some(marker)
    })?;
    Ok(deleted.len())
}

fn explain_refusal(error: anyhow::Error, ttl: Duration, client: &Client) -> anyhow::Error {
    let from_oidc = client.credential().source() == super::OIDC_SOURCE;
    if from_oidc && matches!(status_of(&error), Some(401 | 403)) {
        return anyhow!(
            "{error}; the server may not let an OIDC access token create API keys: give the step the broker's API key in OCTOPUS_API_KEY instead"
        );
    }
    if status_of(&error) == Some(400) {
        let ttl = duration::display(ttl);
        anyhow!(
            "{error}; if the server names the expiry, choose a shorter --ttl or RUNKEY_TTL (now {ttl})"
        )
    } else {
        error
    }
}

/// Who started the run: the `CreatedBy` variables, else the runbook run record. A run
/// Octopus started itself (its system user, or a record naming nobody) is a trigger run;
/// `None` only for an unattributed run that `--allow-unattributed` permits.
fn find_starter(settings: &Mint, client: &Client, console: &Console) -> Result<Option<Starter>> {
    let trigger = || {
        Some(Starter::Trigger {
            name: settings.trigger.clone(),
        })
    };
    let (space, run_id) = match &settings.operator {
        OperatorSource::Variables(operator) => return Ok(Some(Starter::Person(operator.clone()))),
        OperatorSource::Trigger => return Ok(trigger()),
        OperatorSource::Unknown => return Ok(None),
        OperatorSource::RunbookRun { space_id, run_id } => (space_id, run_id),
    };
    let run = match client.runbook_run(space, run_id) {
        Ok(run) => run,
        // --allow-unattributed means it: a record the broker may not read, or that does
        // not exist, leaves the key unattributed, with one warning that says why.
        Err(e) if settings.allow_unattributed && matches!(status_of(&e), Some(403 | 404)) => {
            console.warn(&format!(
                "runbook run {run_id} could not be read ({e:#}), so the key is unattributed: give the broker's team RunbookRunView, or map the Octopus.Deployment.CreatedBy variables"
            ));
            return Ok(None);
        }
        Err(e) => {
            return Err(e.context(format!(
                "looking up who started runbook run {run_id}, as OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME is empty"
            )));
        }
    };
    let id = run.deployed_by_id.filter(|id| !id.trim().is_empty());
    let username = run.deployed_by.filter(|u| !u.trim().is_empty());
    // Octopus's system user has no user record (404): never look it up.
    if id.as_deref().is_some_and(purpose::is_system_user) || (id.is_none() && username.is_none()) {
        return Ok(trigger());
    }
    let Some(id) = id else {
        let username = username.unwrap_or_default();
        return Ok(Some(Starter::Person(Operator {
            display_name: username.clone(),
            username,
            id: None,
        })));
    };
    match client.user(&id) {
        Ok(user) => {
            let username = username
                .or(user.username.clone())
                .unwrap_or_else(|| id.clone());
            let operator = Operator {
                display_name: user
                    .display_name
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| username.clone()),
                username,
                id: Some(id),
            };
            Ok(Some(if user.is_service == Some(true) {
                Starter::ServiceAccount(operator)
            } else {
                Starter::Person(operator)
            }))
        }
        // Reading other users needs UserView; the username still names the operator.
        Err(e) if status_of(&e) == Some(403) => {
            let username = username.unwrap_or_else(|| id.clone());
            Ok(Some(Starter::Person(Operator {
                display_name: username.clone(),
                username,
                id: Some(id),
            })))
        }
        Err(e) => Err(e.context(format!("looking up the operator {id}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_expiring(expires: Option<Timestamp>) -> RunKey {
        RunKey {
            id: "ApiKeys-1".to_string(),
            owner: User {
                id: "Users-2".to_string(),
                username: None,
                display_name: None,
                is_service: Some(true),
            },
            key: Secret::new("not-a-real-key"),
            expires,
            requested: Timestamp::now() + SignedDuration::from_hours(1),
            purpose: String::new(),
            operator: String::new(),
            lost_attempts: Vec::new(),
        }
    }

    #[test]
    fn a_guard_watches_until_the_expiry_the_server_answered() {
        let expires = Timestamp::now() + SignedDuration::from_mins(30);
        assert_eq!(key_expiring(Some(expires)).guard_until(), expires);
    }

    #[test]
    fn a_key_the_server_named_no_expiry_for_is_guarded_for_a_week() {
        let week = Timestamp::now() + SignedDuration::from_hours(168);
        let until = key_expiring(None).guard_until();
        assert!(
            until.duration_since(week).abs() < SignedDuration::from_mins(1),
            "{until} is not a week from now ({week})"
        );
    }
}
