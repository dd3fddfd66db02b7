//! The sweep steps (`--sweep-project`, `--sweep-environment`, `--sweep-every`): a runbook,
//! `Sweep run keys (<broker>)`, in that project, whose one step runs the Sweep template with
//! the broker's OIDC account (no stored secret); its snapshot published (Octopus's scheduled
//! triggers run only a published snapshot); and a scheduled trigger that runs it in that
//! environment every so many minutes or hours. Then a run key a cancel left behind (on a
//! container or the Kubernetes agent, where no guard survives) outlives its run by one
//! interval at most. Each part is created once and changed only when it differs.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde_json::{Map, Value, json};

use super::broker::id_of;
use super::embedded::TEMPLATES;
use super::package::PACKAGE_ID;
use super::plan::{Apply, Known, Outcome, Plan, Step};
use crate::exit::usage;
use crate::octopus::Client;
use crate::octopus::setup::Space;
use crate::settings::{Setup, Sweep};

/// The template the sweep's step runs: PowerShell, which the default (Windows) built-in
/// worker and Octopus's Linux worker images (pwsh) both run.
const TEMPLATE: &str = "Octopus Run Key - Sweep";
const STEP: &str = "Sweep run keys";
/// The built-in feed, where `setup --package` puts the package.
const FEED: &str = "feeds-builtin";

/// The sweep's runbook for one broker.
pub fn runbook_name(username: &str) -> String {
    format!("Sweep run keys ({username})")
}

/// The sweep's trigger for one broker.
pub fn trigger_name(username: &str) -> String {
    format!("Sweep run keys ({username}) on a schedule")
}

/// Where the runbook goes: ids read by the plan.
#[derive(Clone)]
struct Place {
    project_id: String,
    environment_id: String,
    runbook: String,
    trigger: String,
    every: Duration,
}

enum Write {
    CreateRunbook(Place),
    SetProcess,
    Publish,
    Trigger {
        place: Place,
        existing: Option<Value>,
    },
}

impl Apply for Write {
    fn apply(&self, client: &Client, space: &Space, known: &mut Known) -> Result<()> {
        match self {
            Write::CreateRunbook(place) => {
                let made = client.create_runbook(
                    &space.id,
                    &json!({
                        "Name": place.runbook,
                        "ProjectId": place.project_id,
                        "Description": "Deletes the octopus-runkey run keys a cancelled run left behind (on a container or the Kubernetes agent, where no guard survives). Made by octopus-runkey setup.",
                        "MultiTenancyMode": "Untenanted",
                        "EnvironmentScope": "Specified",
                        "Environments": [place.environment_id],
                        "DefaultGuidedFailureMode": "EnvironmentDefault",
                        "RunRetentionPolicy": {"Strategy": "Default", "QuantityToKeep": 100, "Unit": "Items", "ShouldKeepForever": false},
                    }),
                )?;
                known.runbook_id = made["Id"].as_str().map(str::to_string);
                known.process_id = made["RunbookProcessId"].as_str().map(str::to_string);
            }
            Write::SetProcess => {
                let process_id = known.process_id.clone().unwrap_or_default();
                let mut process = client.runbook_process(&space.id, &process_id)?;
                process["Steps"] = json!([step(known)?]);
                client.update_runbook_process(&space.id, &process_id, &process)?;
            }
            Write::Publish => {
                let process_id = known.process_id.clone().unwrap_or_default();
                let runbook_id = known.runbook_id.clone().unwrap_or_default();
                let runbook = client.runbook(&space.id, &runbook_id)?;
                let template = client.snapshot_template(&space.id, &process_id)?;
                let packages: Vec<Value> = template["Packages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        json!({
                            "ActionName": p["ActionName"],
                            "PackageReferenceName": p["PackageReferenceName"],
                            "Version": env!("CARGO_PKG_VERSION"),
                        })
                    })
                    .collect();
                client.publish_snapshot(
                    &space.id,
                    &json!({
                        "ProjectId": runbook["ProjectId"],
                        "RunbookId": runbook_id,
                        "Name": template["NextNameIncrement"],
                        "Notes": "Published by octopus-runkey setup.",
                        "SelectedPackages": packages,
                    }),
                )?;
            }
            Write::Trigger { place, existing } => {
                let runbook_id = known.runbook_id.clone().unwrap_or_default();
                let mut body = trigger(place, &space.id, &runbook_id);
                match existing {
                    Some(current) => {
                        let id = current["Id"].as_str().unwrap_or_default().to_string();
                        body["Id"] = json!(id);
                        client.update_trigger(&space.id, &id, &body)?;
                    }
                    None => {
                        client.create_trigger(&space.id, &body)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The runbook's one step: the Sweep template, with the package from the built-in feed and
/// the broker's OIDC account; its other parameters keep their defaults.
fn step(known: &Known) -> Result<Value> {
    let (template_id, version) = known
        .templates
        .get(TEMPLATE)
        .cloned()
        .ok_or_else(|| anyhow!("the step template '{TEMPLATE}' is not in the space"))?;
    let account = known.account_id.clone().unwrap_or_default();
    let shipped = shipped_template()?;
    let mut properties: Map<String, Value> = shipped["Properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for parameter in shipped["Parameters"].as_array().into_iter().flatten() {
        let name = parameter["Name"].as_str().unwrap_or_default();
        let value = match parameter["DisplaySettings"]["Octopus.ControlType"].as_str() {
            Some("Package") => json!({"PackageId": PACKAGE_ID, "FeedId": FEED}).to_string(),
            Some("GenericOidcAccount") => account.clone(),
            _ => parameter["DefaultValue"].as_str().unwrap_or("").to_string(),
        };
        properties.insert(name.to_string(), Value::String(value));
    }
    properties.insert("Octopus.Action.Template.Id".into(), json!(template_id));
    properties.insert(
        "Octopus.Action.Template.Version".into(),
        json!(version.to_string()),
    );
    properties.insert("Octopus.Action.RunOnServer".into(), json!("true"));
    let packages: Vec<Value> = shipped["Packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let mut p = p.clone();
            p["PackageId"] = json!(PACKAGE_ID);
            p["FeedId"] = json!(FEED);
            p
        })
        .collect();
    Ok(json!({
        "Name": STEP,
        "Condition": "Success",
        "StartTrigger": "StartAfterPrevious",
        "PackageRequirement": "LetOctopusDecide",
        "Properties": {},
        "Actions": [{
            "Name": STEP,
            "ActionType": shipped["ActionType"],
            "IsDisabled": false,
            "IsRequired": false,
            "Environments": [],
            "ExcludedEnvironments": [],
            "Channels": [],
            "TenantTags": [],
            "Properties": properties,
            "Packages": packages,
        }],
    }))
}

fn shipped_template() -> Result<Value> {
    TEMPLATES
        .iter()
        .filter_map(|(_, json)| serde_json::from_str::<Value>(json).ok())
        .find(|t| t["Name"] == TEMPLATE)
        .ok_or_else(|| anyhow!("this binary ships no template '{TEMPLATE}'"))
}

/// The trigger: every N minutes (below an hour) or every N hours, all day, every day, UTC.
fn trigger(place: &Place, space: &str, runbook_id: &str) -> Value {
    let minutes = place.every.as_secs() / 60;
    let mut filter = json!({
        "FilterType": "ContinuousDailySchedule",
        "Timezone": "UTC",
        "RunAfter": "2026-01-01T00:00:00.000",
        "RunUntil": "2026-01-01T23:59:00.000",
        "DaysOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    });
    if minutes < 60 {
        filter["Interval"] = json!("OnceEveryMinute");
        filter["MinuteInterval"] = json!(minutes);
    } else {
        filter["Interval"] = json!("OnceHourly");
        filter["HourInterval"] = json!(minutes / 60);
    }
    json!({
        "Name": place.trigger,
        "Description": "Sweeps the broker's stale run keys. Made by octopus-runkey setup.",
        "ProjectId": place.project_id,
        "SpaceId": space,
        "IsDisabled": false,
        "Action": {
            "ActionType": "RunRunbook",
            "RunbookId": runbook_id,
            "EnvironmentIds": [place.environment_id],
            "TenantIds": [],
            "TenantTags": [],
        },
        "Filter": filter,
    })
}

pub fn plan(client: &Client, plan: &mut Plan, settings: &Setup) -> Result<()> {
    let (Some(sweep), Some(username)) = (&settings.sweep, settings.broker.as_deref()) else {
        return Ok(());
    };
    let place = place(client, &plan.space, sweep, username)?;
    // The sweep's step runs this version's package: it must be in the feed, or on its way.
    let package_coming = plan
        .steps
        .iter()
        .any(|s| s.kind == "package" && s.outcome != Outcome::Skipped);
    if !package_coming
        && !client
            .package_exists(&plan.space.id, PACKAGE_ID, env!("CARGO_PKG_VERSION"))
            .context("checking the built-in feed for the package the sweep runs")?
    {
        return Err(usage(format!(
            "the sweep runs the package {PACKAGE_ID} {}, which the built-in feed of {} does not hold: add --package octopus-runkey.{}.<ext>",
            env!("CARGO_PKG_VERSION"),
            plan.space.name,
            env!("CARGO_PKG_VERSION")
        )));
    }
    let found = client
        .runbooks(&plan.space.id, Some(&place.project_id), &place.runbook)
        .context("looking for the sweep's runbook")?
        .into_iter()
        .find(|r| {
            r["Name"] == place.runbook.as_str() && r["ProjectId"] == place.project_id.as_str()
        });
    let (process, published, triggers) = match &found {
        Some(runbook) => {
            let id = runbook["Id"].as_str().unwrap_or_default().to_string();
            let process_id = runbook["RunbookProcessId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            plan.known.runbook_id = Some(id.clone());
            plan.known.process_id = Some(process_id.clone());
            plan.steps.push(Step::new(
                "runbook",
                &place.runbook,
                Outcome::Unchanged,
                format!("{id} in {}", sweep.project),
            ));
            let process = client
                .runbook_process(&plan.space.id, &process_id)
                .context("reading the sweep's runbook process")?;
            let triggers = client
                .runbook_triggers(&plan.space.id, &id)
                .context("reading the sweep's triggers")?;
            (
                Some(process),
                !runbook["PublishedRunbookSnapshotId"].is_null(),
                triggers,
            )
        }
        None => {
            plan.steps.push(
                Step::new(
                    "runbook",
                    &place.runbook,
                    Outcome::Created,
                    format!(
                        "create it in {} to run in {}",
                        sweep.project, sweep.environment
                    ),
                )
                .writes(Write::CreateRunbook(place.clone())),
            );
            (None, false, Vec::new())
        }
    };
    let current = process
        .as_ref()
        .and_then(|p| p["Steps"].as_array().cloned());
    // A template this run saves gets a new version: the step follows it.
    let template_changes = plan
        .steps
        .iter()
        .any(|s| s.kind == "step template" && s.name == TEMPLATE && s.write.is_some());
    let up_to_date = !template_changes
        && current
            .as_ref()
            .is_some_and(|steps| steps.len() == 1 && same_step(&steps[0], &plan.known));
    if up_to_date {
        plan.steps.push(Step::new(
            "runbook process",
            STEP,
            Outcome::Unchanged,
            "runs the Sweep template with the broker's OIDC account",
        ));
    } else {
        plan.steps.push(
            Step::new(
                "runbook process",
                STEP,
                if current.is_some_and(|s| !s.is_empty()) {
                    Outcome::Updated
                } else {
                    Outcome::Created
                },
                "one step: the Sweep template, the package from the built-in feed, the broker's OIDC account",
            )
            .writes(Write::SetProcess),
        );
    }
    if up_to_date && published {
        plan.steps.push(Step::new(
            "snapshot",
            &place.runbook,
            Outcome::Unchanged,
            "the process is published",
        ));
    } else {
        plan.steps.push(
            Step::new(
                "snapshot",
                &place.runbook,
                Outcome::Created,
                "publish the process: scheduled triggers run only a published snapshot",
            )
            .writes(Write::Publish),
        );
    }
    let every = crate::duration::display(sweep.every);
    let existing = triggers
        .into_iter()
        .find(|t| t["Name"] == place.trigger.as_str());
    let wanted = trigger(
        &place,
        &plan.space.id,
        plan.known.runbook_id.as_deref().unwrap_or_default(),
    );
    match existing {
        Some(t) if same_trigger(&t, &wanted) => plan.steps.push(Step::new(
            "trigger",
            &place.trigger,
            Outcome::Unchanged,
            format!("every {every} in {}", sweep.environment),
        )),
        existing => {
            let outcome = if existing.is_some() {
                Outcome::Updated
            } else {
                Outcome::Created
            };
            plan.steps.push(
                Step::new(
                    "trigger",
                    &place.trigger,
                    outcome,
                    format!("run the sweep every {every} in {}", sweep.environment),
                )
                .writes(Write::Trigger {
                    place: place.clone(),
                    existing,
                }),
            )
        }
    }
    Ok(())
}

/// The project and environment by name (an unknown one is a usage error listing those
/// there are).
fn place(client: &Client, space: &Space, sweep: &Sweep, username: &str) -> Result<Place> {
    Ok(Place {
        project_id: id_of(client, space, "projects", "--sweep-project", &sweep.project)?,
        environment_id: id_of(
            client,
            space,
            "environments",
            "--sweep-environment",
            &sweep.environment,
        )?,
        runbook: runbook_name(username),
        trigger: trigger_name(username),
        every: sweep.every,
    })
}

/// Whether the process's step is the one setup would write now.
fn same_step(existing: &Value, known: &Known) -> bool {
    let Ok(wanted) = step(known) else {
        return false;
    };
    let action = |step: &Value| step["Actions"][0].clone();
    let (has, want) = (action(existing), action(&wanted));
    has["ActionType"] == want["ActionType"]
        && want["Properties"]
            .as_object()
            .into_iter()
            .flatten()
            .all(|(k, v)| has["Properties"][k] == *v)
}

fn same_trigger(existing: &Value, wanted: &Value) -> bool {
    let filter_matches = wanted["Filter"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| existing["Filter"][k] == *v);
    filter_matches
        && existing["Action"]["EnvironmentIds"] == wanted["Action"]["EnvironmentIds"]
        && existing["IsDisabled"] == false
}
