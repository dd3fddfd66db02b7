//! What `setup` prints: the steps as a table (or, with `--json`, one object), then what to
//! add to a runbook: the templates, and which value each of their parameters takes. The
//! parameters are read from the embedded templates themselves, so the advice follows them.

use anyhow::Result;
use serde_json::{Value, json};

use super::embedded::TEMPLATES;
use super::oidc::ACCOUNT;
use super::package::PACKAGE_ID;
use super::plan::{Outcome, Plan};
use crate::console::{Console, neutralise_json, shown};
use crate::settings::Setup;

/// The templates' parameter for the broker's API key.
const BROKER_API_KEY: &str = "RunKey.BrokerApiKey";

/// One parameter of a shipped template and the value it takes.
struct Advice {
    template: String,
    parameter: String,
    label: String,
    value: String,
}

/// Prints the plan; `done` steps were carried out (all of them for a dry run's plan),
/// `failure` is the line a stopped run ends with.
pub fn print(
    console: &Console,
    settings: &Setup,
    plan: &Plan,
    done: usize,
    failure: Option<&str>,
) -> Result<()> {
    let advice = advice(settings);
    if settings.json {
        return print_json(console, settings, plan, done, failure, &advice);
    }
    let server = shown(&plan.space.name);
    console.text(&if settings.dry_run {
        format!(
            "setup plan for the space '{server}' ({}), a dry run: nothing was changed",
            plan.space.id
        )
    } else {
        format!("setup of the space '{server}' ({})", plan.space.id)
    })?;
    let width = plan.steps.iter().map(|s| s.kind.len()).max().unwrap_or(0);
    let name_width = plan
        .steps
        .iter()
        .map(|s| shown(&s.name).chars().count())
        .max()
        .unwrap_or(0);
    for (index, step) in plan.steps.iter().enumerate() {
        let result = if index < done {
            step.outcome.as_str()
        } else {
            "not done"
        };
        console.text(&format!(
            "  {result:<9}  {:<width$}  {:<name_width$}  {}",
            step.kind,
            shown(&step.name),
            shown(&step.detail)
        ))?;
    }
    if failure.is_some() {
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
    console.text("To use it in a runbook, add the steps of these templates and give their parameters these values:")?;
    for item in &advice {
        console.text(&format!(
            "  {}: {} ({}): {}",
            item.template, item.label, item.parameter, item.value
        ))?;
    }
    Ok(())
}

fn print_json(
    console: &Console,
    settings: &Setup,
    plan: &Plan,
    done: usize,
    failure: Option<&str>,
    advice: &[Advice],
) -> Result<()> {
    let steps: Vec<Value> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            json!({
                "Step": step.kind,
                "Name": step.name,
                "Result": if index < done { step.outcome.as_str() } else { "not done" },
                "Detail": step.detail,
            })
        })
        .collect();
    let parameters: Vec<Value> = advice
        .iter()
        .map(|a| {
            json!({
                "Template": a.template,
                "Parameter": a.parameter,
                "Label": a.label,
                "Value": a.value,
            })
        })
        .collect();
    let object = json!({
        "Space": {"Id": plan.space.id, "Name": plan.space.name, "Slug": plan.space.slug},
        "DryRun": settings.dry_run,
        "Completed": failure.is_none() && !settings.dry_run,
        "Steps": steps,
        "Warnings": plan.warnings,
        "Error": failure,
        "Runbook": {"Templates": template_names(), "Parameters": parameters},
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

/// Which value each parameter of the shipped templates takes after this setup.
fn advice(settings: &Setup) -> Vec<Advice> {
    let broker = settings.broker.as_deref();
    let mut out = Vec::new();
    for (_, json) in TEMPLATES {
        let Ok(template) = serde_json::from_str::<Value>(json) else {
            continue;
        };
        let has_oidc_parameter = template["Parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["DisplaySettings"]["Octopus.ControlType"] == "GenericOidcAccount");
        for parameter in template["Parameters"].as_array().into_iter().flatten() {
            let name = parameter["Name"].as_str().unwrap_or_default();
            let control = parameter["DisplaySettings"]["Octopus.ControlType"]
                .as_str()
                .unwrap_or_default();
            let value = match (control, name) {
                ("Package", _) => format!(
                    "{PACKAGE_ID} from the built-in feed (version {})",
                    env!("CARGO_PKG_VERSION")
                ),
                ("GenericOidcAccount", _) if settings.oidc => format!("the account '{ACCOUNT}'"),
                ("GenericOidcAccount", _) => {
                    "leave empty (run setup with --oidc to create the account)".to_string()
                }
                (_, BROKER_API_KEY) => {
                    match (settings.oidc && has_oidc_parameter, broker) {
                        (true, _) => format!("leave empty: the account '{ACCOUNT}' replaces it"),
                        (false, Some(broker)) => format!(
                            "an API key of the service account {broker} (setup stores none; with --oidc, map RUNKEY_OIDC_JWT and RUNKEY_OIDC_AUDIENCE from the account '{ACCOUNT}' instead)"
                        ),
                        (false, None) => {
                            "an API key of the broker service account (run setup with --broker to create it)".to_string()
                        }
                    }
                }
                _ => continue,
            };
            out.push(Advice {
                template: template["Name"].as_str().unwrap_or_default().to_string(),
                parameter: name.to_string(),
                label: parameter["Label"].as_str().unwrap_or(name).to_string(),
                value,
            });
        }
    }
    out
}
