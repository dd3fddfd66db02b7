//! Handing a new run key to its guard: for `create`, a guard that watches the task (when
//! there is a task and the broker may read it); for `exec`, a guard that watches `exec`
//! itself. When no guard can watch, one warning says what covers the key instead.

use std::time::Duration;

use super::key::RunKey;
use crate::console::Console;
use crate::guard::{Guard, KeyFacts, Spec, Watch};
use crate::octopus::{Client, Connection, status_of};

/// What covers a create step's key when no guard watches it.
const COVERED: &str = "the Revoke step deletes the key when the run ends normally; after a cancel it lives until its expiry";

/// How often the key's guard polls: `interval`, except for a read-only key. It cannot
/// delete itself, and a guard is given nothing else: rather than hand a process that
/// outlives the step the broker's power to mint full keys, no guard is left, and one line
/// says what covers the key.
pub fn guard_interval(
    interval: Option<Duration>,
    console: &Console,
    key: &RunKey,
) -> Option<Duration> {
    if key.read_only {
        console.info(&format!(
            "No guard watches this read-only key: it cannot delete itself, and a guard holds no broker credential. It is deleted with the broker's credential at the end of the run (exec, or the Revoke step given the broker's OIDC account); after a cancel it can still read until {}, or until the scheduled sweep deletes it.",
            key.expires_text()
        ));
        return None;
    }
    interval
}

/// The guard of a create step watches `task`, polling every `interval`; without a task, or
/// without the right to read it, there is nothing to watch.
pub fn watch_task(
    connection: &Connection,
    task: Option<&str>,
    client: &Client,
    console: &Console,
    key: &RunKey,
    interval: Duration,
) {
    let Some(task) = task else {
        console.warn(&format!(
            "no guard watches this key: OCTOPUS_TASK_ID is not set, so the end of the run cannot be seen; {COVERED} at {}",
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
            "no guard watches this key: the broker cannot read task {task} ({e:#}); {COVERED} at {}; {fix}",
            key.expires_text()
        ));
        return;
    }
    let watch = Watch::Task {
        id: task.to_string(),
        interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
    };
    match spec(connection, key, watch, false).and_then(|spec| Guard::start(&spec)) {
        Ok(guard) => guard.detach(),
        Err(e) => console.warn(&format!(
            "no guard watches this key: {e:#}; {COVERED} at {}",
            key.expires_text()
        )),
    }
}

/// The guard of an `exec` step: it revokes as soon as `exec` is gone without having
/// revoked (the whole process tree killed). `None`, after a warning, when it cannot start.
pub fn watch_exec(
    connection: &Connection,
    console: &Console,
    key: &RunKey,
    keep_minted: bool,
) -> Option<Guard> {
    spec(connection, key, Watch::Exec, keep_minted)
        .and_then(|spec| Guard::start(&spec))
        .map_err(|e| {
            console.warn(&format!(
                "no guard watches this key: {e:#}; should this step be killed, the key expires at {}",
                key.expires_text()
            ))
        })
        .ok()
}

fn spec(
    connection: &Connection,
    key: &RunKey,
    watch: Watch,
    keep_minted: bool,
) -> anyhow::Result<Spec> {
    let marker = key.marker();
    Spec::new(
        connection,
        &key.key,
        KeyFacts {
            id: &key.id,
            owner_id: &key.owner.id,
            marker: &marker,
            created: key.created,
            expires: key.guard_until(),
        },
        watch,
        keep_minted,
    )
}
