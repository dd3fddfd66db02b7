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
mod report;
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
    let space = find_space(&client, settings.space.as_deref())?;
    let mut plan = Plan {
        space,
        steps: Vec::new(),
        known: Known::default(),
        warnings: Vec::new(),
    };
    package::plan(&client, &mut plan, package)?;
    templates::plan(&client, &mut plan)?;
    broker::plan(&client, &mut plan, settings)?;
    oidc::plan(&client, &mut plan, settings)?;
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

/// The space named by `--space`/`OCTOPUS_SPACE` (a name or an id), else the default one.
fn find_space(client: &Client, wanted: Option<&str>) -> Result<Space> {
    let spaces = client.spaces().context("finding the space to prepare")?;
    let found = match wanted {
        Some(wanted) => spaces
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(wanted) || s.name == wanted),
        None => spaces.iter().find(|s| s.is_default),
    };
    if let Some(space) = found {
        return Ok(space.clone());
    }
    let names: Vec<String> = spaces
        .iter()
        .map(|s| format!("'{}' ({})", s.name, s.id))
        .collect();
    Err(match wanted {
        Some(wanted) => usage(format!(
            "no space '{wanted}' (from --space or OCTOPUS_SPACE) on {}: give a space's exact name or id; the spaces are {}",
            client.server().base(),
            names.join(", ")
        )),
        None => usage(format!(
            "{} names no default space: choose one with --space; the spaces are {}",
            client.server().base(),
            names.join(", ")
        )),
    })
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
