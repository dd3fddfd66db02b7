//! The end of a run (the Revoke step, `exec`): the broker's audit log is read once, from the
//! run key's creation on, to put on the task page what this run's key changed (each audited
//! change, and whether the key was used at all), as lines in the task log and, under
//! Octopus, as an attached CSV artifact; and to find the keys a script minted with the run
//! key (Octopus lets every full-access key create keys for its own user). Those carry no
//! marker, so `list`, revoke and the sweep would never see them: they are revoked with the
//! run key, each named, unless `--keep-minted`.

use anyhow::{Context, Result};
use jiff::{SignedDuration, Timestamp};

use crate::console::{Console, csv_field};
use crate::octopus::events::{Event, made_with, minted_in};
use crate::octopus::{self, Client, Deleted, LastUsed, status_of};
use crate::service_message::create_artifact;

/// This run's key (or a task's run keys) at the end of the run.
pub struct RunKeys<'a> {
    pub owner: &'a str,
    pub key_ids: Vec<&'a str>,
    /// The run key's marker, `[runkey <task>/<nonce>]`, or the start every marker of the
    /// task shares (`[runkey <task>/`).
    pub marker: String,
    /// When the (first) run key was made: the audit log is read from then on.
    pub created: Timestamp,
    /// Whether it was used, as far as the server says.
    pub last_used: LastUsed,
}

impl RunKeys<'_> {
    fn named(&self) -> String {
        match self.key_ids.as_slice() {
            [one] => format!("run key {one}"),
            _ => format!(
                "the run keys of {}",
                self.marker
                    .trim_start_matches("[runkey ")
                    .trim_end_matches('/')
            ),
        }
    }
}

/// Says what the run key changed and revokes (or, with `keep_minted`, names) the keys it
/// minted. Not being allowed to read the audit log is one warning, not a failure: the run
/// key itself is still revoked.
pub fn end_of_run(
    client: &Client,
    console: &Console,
    run: &RunKeys,
    keep_minted: bool,
) -> Result<()> {
    let since = run.created - SignedDuration::from_mins(1);
    let events = match client.events(run.owner, since, Timestamp::now()) {
        Ok(events) => events,
        Err(e) if status_of(&e) == Some(403) => {
            console.warn(&format!(
                "what {} changed in this run, and any key a script minted with it, cannot be read ({e:#}): give the broker's team EventView (the role Runbook consumer has it)",
                run.named()
            ));
            return Ok(());
        }
        Err(e) => {
            return Err(e.context(format!(
                "reading what {} changed (GET /api/events)",
                run.named()
            )));
        }
    };
    report_changes(console, run, &events);
    let minted = minted_in(&events, &run.key_ids, &run.marker);
    if minted.is_empty() {
        return Ok(());
    }
    if keep_minted {
        console.warn(&format!(
            "kept {} key(s) that {} made ({}), as --keep-minted asks: they live until their expiry",
            minted.len(),
            run.named(),
            minted.join(", ")
        ));
        return Ok(());
    }
    for id in &minted {
        match client.delete_api_key(run.owner, id)? {
            Deleted::Now => console.info(&format!("Revoked key {id}, which {} made.", run.named())),
            Deleted::AlreadyGone => console.info(&format!(
                "Key {id}, which {} made, is already revoked.",
                run.named()
            )),
        }
    }
    Ok(())
}

/// The run key's audited changes, oldest first, in the task log and (under Octopus) as an
/// artifact.
fn report_changes(console: &Console, run: &RunKeys, events: &[Event]) {
    let changes: Vec<&Event> = events
        .iter()
        .rev()
        .filter(|event| made_with(event, &run.key_ids, &run.marker))
        .collect();
    let used = match run.last_used {
        LastUsed::At(at) => format!(" It was last used at {}.", octopus::utc(at)),
        LastUsed::Never => " It was never used.".to_string(),
        LastUsed::Unknown => String::new(),
    };
    let named = run.named();
    let mut named_upper = named.clone();
    named_upper[..1].make_ascii_uppercase();
    if changes.is_empty() {
        console.info(&format!(
            "{named_upper} made no audited change in this run (Octopus audits changes, not reads).{used}"
        ));
    } else {
        console.info(&format!(
            "{named_upper} made {} audited change(s) in this run:{used}",
            changes.len()
        ));
        for event in &changes {
            console.info(&format!(
                "  {}  {}  {}",
                event
                    .occurred_at()
                    .map_or_else(|| event.occurred.clone().unwrap_or_default(), octopus::utc),
                event.category.as_deref().unwrap_or(""),
                event.message.as_deref().unwrap_or("")
            ));
        }
    }
    // Nothing changed: the line above says so, and no empty file is attached.
    if console.under_octopus()
        && !changes.is_empty()
        && let Err(e) = attach(console, run, &changes)
    {
        console.warn(&format!(
            "the list of what {named} changed could not be attached to the task ({e:#}); it is in the task log above"
        ));
    }
}

/// `runkey-changes-<key id>.csv` in the working folder, attached to the task.
fn attach(console: &Console, run: &RunKeys, changes: &[&Event]) -> Result<()> {
    let mut csv = String::from("Occurred,Category,Message,EventId\n");
    for event in changes {
        let fields = [
            event
                .occurred_at()
                .map_or_else(|| event.occurred.clone().unwrap_or_default(), octopus::utc),
            event.category.clone().unwrap_or_default(),
            event.message.clone().unwrap_or_default(),
            event.id.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        csv.push_str(&line.join(","));
        csv.push('\n');
    }
    let name = format!(
        "runkey-changes-{}.csv",
        run.key_ids.first().copied().unwrap_or("run")
    );
    let path = std::env::current_dir()
        .context("finding the working folder")?
        .join(&name);
    std::fs::write(&path, &csv).with_context(|| format!("writing {}", path.display()))?;
    console.line(&create_artifact(
        &path.display().to_string(),
        &name,
        csv.len() as u64,
    ))?;
    Ok(())
}
