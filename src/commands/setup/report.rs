//! What `setup` prints: the steps as a table (or, with `--json`, one object), in the future
//! tense for a dry run ("would create"), then a short checklist of what is left to do by
//! hand in a runbook.

use anyhow::Result;
use serde_json::{Value, json};

use super::embedded::TEMPLATES;
use super::oidc::account_name;
use super::package::PACKAGE_ID;
use super::plan::{Outcome, Plan};
use crate::console::{Console, neutralise_json, shown};
use crate::settings::Setup;

/// Prints the plan; `done` steps were carried out (all of them for a dry run's plan),
/// `failure` is the line a stopped run ends with.
pub fn print(
    console: &Console,
    settings: &Setup,
    plan: &Plan,
    done: usize,
    failure: Option<&str>,
) -> Result<()> {
    let checklist = if settings.remove {
        plan.by_hand.clone()
    } else {
        checklist(settings)
    };
    if settings.json {
        return print_json(console, settings, plan, done, failure, &checklist);
    }
    let space = shown(&plan.space.name);
    let what = if settings.remove { "removal" } else { "setup" };
    console.text(&if settings.dry_run {
        format!(
            "{what} plan for the space '{space}' ({}), a dry run: nothing was changed",
            plan.space.id
        )
    } else {
        format!("{what} of the space '{space}' ({})", plan.space.id)
    })?;
    let width = plan.steps.iter().map(|s| s.kind.len()).max().unwrap_or(0);
    let name_width = plan
        .steps
        .iter()
        .map(|s| shown(&s.name).chars().count())
        .max()
        .unwrap_or(0);
    for (index, step) in plan.steps.iter().enumerate() {
        let result = result(settings, step.outcome, index < done);
        console.text(&format!(
            "  {result:<12}  {:<width$}  {:<name_width$}  {}",
            step.kind,
            shown(&step.name),
            shown(&step.detail)
        ))?;
    }
    if failure.is_some() || settings.remove && checklist.is_empty() {
        return Ok(());
    }
    if plan
        .steps
        .iter()
        .any(|s| s.kind == "step template" && s.outcome == Outcome::Updated)
    {
        console.text(
            "Runbooks that already use an updated template keep its old version until you update them: open each step (Library > Step Templates > the template > Usage) and update it to the latest version.",
        )?;
    }
    console.text("Left to do by hand:")?;
    for (n, item) in checklist.iter().enumerate() {
        console.text(&format!("  {}. {item}", n + 1))?;
    }
    Ok(())
}

/// A step's result as the table shows it.
fn result(settings: &Setup, outcome: Outcome, done: bool) -> &'static str {
    match (settings.dry_run, done) {
        (true, _) => outcome.as_plan(),
        (false, true) => outcome.as_str(),
        (false, false) => "not done",
    }
}

fn print_json(
    console: &Console,
    settings: &Setup,
    plan: &Plan,
    done: usize,
    failure: Option<&str>,
    checklist: &[String],
) -> Result<()> {
    let steps: Vec<Value> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            json!({
                "Step": step.kind,
                "Name": step.name,
                "Result": result(settings, step.outcome, index < done),
                "Detail": step.detail,
            })
        })
        .collect();
    let object = json!({
        "Space": {"Id": plan.space.id, "Name": plan.space.name, "Slug": plan.space.slug},
        "DryRun": settings.dry_run,
        "Remove": settings.remove,
        "Completed": failure.is_none() && !settings.dry_run,
        "Steps": steps,
        "Warnings": plan.warnings,
        "Error": failure,
        "Runbook": {"Templates": template_names()},
        "Checklist": checklist,
    });
    console.line(&neutralise_json(&serde_json::to_string_pretty(&object)?))?;
    Ok(())
}

fn template_names() -> Vec<String> {
    TEMPLATES
        .iter()
        .filter_map(|(_, json)| serde_json::from_str::<Value>(json).ok())
        .filter_map(|t| t["Name"].as_str().map(str::to_string))
        .collect()
}

/// What is left to do by hand after this setup: a handful of lines, not one per parameter.
fn checklist(settings: &Setup) -> Vec<String> {
    let credential = match (settings.oidc, settings.broker.as_deref()) {
        (true, Some(broker)) => format!(
            "In each of those steps choose the package {PACKAGE_ID} (version {}) and, as OIDC account, '{}' (Create, Exec, Revoke, Sweep and Audit take it): no secret is stored anywhere.",
            env!("CARGO_PKG_VERSION"),
            account_name(broker)
        ),
        (false, Some(broker)) => format!(
            "In each of those steps choose the package {PACKAGE_ID} (version {}) and give the Create, Exec, Sweep and Audit steps (and Revoke, which needs it for a read-only key) an API key of {broker} as a sensitive variable (setup stores none; with --oidc no key is needed at all).",
            env!("CARGO_PKG_VERSION")
        ),
        (_, None) => format!(
            "In each of those steps choose the package {PACKAGE_ID} (version {}) and the broker's credential (run setup with --broker and --oidc to make a broker with no stored secret).",
            env!("CARGO_PKG_VERSION")
        ),
    };
    let mut items = vec![
        "In the runbook, add an 'Octopus Run Key - Create' step first, your work as 'Octopus Run Key - Run Script' steps, and an 'Octopus Run Key - Revoke' step last (or one 'Octopus Run Key - Exec' step instead of all three); the ' - Bash' twins for Linux workers without PowerShell.".to_string(),
        "Set the Revoke step's run condition to Always run, so that a failed step still revokes the key.".to_string(),
        credential,
    ];
    if settings.sweep.is_none() {
        items.push(
            "Schedule the sweep: run setup again with --sweep-project and --sweep-environment (a cancelled run on a container or the Kubernetes agent leaves its key to the TTL and the sweep).".to_string(),
        );
    }
    items
}
