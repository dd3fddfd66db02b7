//! `setup`: an administrator prepares a space once. Plan, then apply: read what the space
//! has, compare it with what it should have, make a list of steps; `--dry-run` prints that
//! list, applying walks the same list, and a second run finds nothing to do. Each step is
//! created, updated, unchanged or skipped; only created and updated ones carry a write.
//! Writes that depend on an earlier one (the team needs the broker's id, the account its
//! external id) take those values from [`Known`], which the plan fills from what it read
//! and the writes fill as they happen. A refused write (403) stops the walk: the steps done
//! are printed, then one line names the step and the missing permission.

mod broker;
pub mod embedded;
mod oidc;
mod package;
mod plan;
mod remove;
mod report;
mod sweep;
mod templates;

use anyhow::{Context, Result};

use crate::console::Console;
use crate::exit::{ExitStatus, usage};
use crate::octopus::setup::Space;
use crate::octopus::{Client, HttpError, connect};
use crate::settings::Setup;
use plan::{Known, Plan, Step};

pub fn run(settings: &Setup, console: &Console) -> Result<ExitStatus> {
    // The package's name is checked before anything is sent.
    let package = settings
        .package
        .as_deref()
        .map(package::Local::read)
        .transpose()?;
    let client = connect::with(&settings.connection, settings.admin.clone(), console)?;
    let (space, warning) = find_space(&client, settings.space.as_deref())?;
    let mut plan = Plan {
        space,
        steps: Vec::new(),
        known: Known::default(),
        warnings: warning.into_iter().collect(),
        by_hand: Vec::new(),
    };
    if settings.remove {
        remove::plan(&client, &mut plan, settings)?;
    } else {
        package::plan(&client, &mut plan, package)?;
        templates::plan(&client, &mut plan)?;
        broker::plan(&client, &mut plan, settings)?;
        oidc::plan(&client, &mut plan, settings)?;
        sweep::plan(&client, &mut plan, settings)?;
    }
    for warning in &plan.warnings {
        console.warn(warning);
    }
    if settings.dry_run {
        report::print(console, settings, &plan, plan.steps.len(), None)?;
        return Ok(ExitStatus::Success);
    }
    let mut done = 0;
    let mut failure = None;
    for step in &plan.steps {
        if let Some(write) = &step.write
            && let Err(e) = write.apply(&client, &plan.space, &mut plan.known)
        {
            failure = Some(stopped(step, e));
            break;
        }
        done += 1;
    }
    let failure_text = failure.as_ref().map(crate::exit::one_line);
    report::print(console, settings, &plan, done, failure_text.as_deref())?;
    match failure {
        Some(e) => Err(e),
        None => Ok(ExitStatus::Success),
    }
}

/// The space named by `--space`/`OCTOPUS_SPACE`, else the default one; with a warning
/// when the value is one space's id and another's name. An id wins (`Spaces-4` is the
/// space whose id it is, whatever another is called), then an exact name, then a name in
/// another case if only one space has it; more than one is a usage error.
fn find_space(client: &Client, wanted: Option<&str>) -> Result<(Space, Option<String>)> {
    let spaces = client.spaces().context("finding the space to prepare")?;
    let Some(wanted) = wanted else {
        return match spaces.iter().find(|s| s.is_default) {
            Some(space) => Ok((space.clone(), None)),
            None => Err(usage(format!(
                "{} names no default space: choose one with --space; the spaces are {}",
                client.server().base(),
                listed(&spaces)
            ))),
        };
    };
    let by_id = spaces.iter().find(|s| s.id.eq_ignore_ascii_case(wanted));
    let named = spaces.iter().find(|s| s.name == wanted);
    if let Some(space) = by_id {
        let warning = named.filter(|n| n.id != space.id).map(|n| {
            format!(
                "'{wanted}' is the id of the space '{}' and the name of another ({}): setup prepares {}, the space whose id it is; give --space {} for the other",
                space.name, n.id, space.id, n.id
            )
        });
        return Ok((space.clone(), warning));
    }
    if let Some(space) = named {
        return Ok((space.clone(), None));
    }
    let lower = wanted.to_lowercase();
    let alike: Vec<&Space> = spaces
        .iter()
        .filter(|s| s.name.to_lowercase() == lower)
        .collect();
    match alike.as_slice() {
        [one] => Ok(((*one).clone(), None)),
        [] => Err(usage(format!(
            "no space '{wanted}' (from --space or OCTOPUS_SPACE) on {}: give a space's exact name or id; the spaces are {}",
            client.server().base(),
            listed(&spaces)
        ))),
        many => Err(usage(format!(
            "--space '{wanted}' could be any of {}: give the space's id",
            many.iter()
                .map(|s| format!("'{}' ({})", s.name, s.id))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn listed(spaces: &[Space]) -> String {
    spaces
        .iter()
        .map(|s| format!("'{}' ({})", s.name, s.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error of a step's write, as the one line `setup` ends with: a refusal (403) names
/// the step and the permission the administrator lacks, and that a rerun finishes the job.
fn stopped(step: &Step, error: anyhow::Error) -> anyhow::Error {
    let what = format!("{} '{}'", step.kind, step.name);
    let permission = error
        .downcast_ref::<HttpError>()
        .filter(|http| http.status == 403)
        .and_then(HttpError::missing_permission);
    match permission {
        Some(permission) => anyhow::anyhow!(
            "setup stopped at the {what} step: the server refused it (403) because the administrator's credential lacks the permission {permission}; grant {permission} (or run setup as someone who holds it) and run setup again to finish: the steps before it are done"
        ),
        None => error.context(format!(
            "setup stopped at the {what} step; the steps before it are done, and running setup again finishes the job"
        )),
    }
}
