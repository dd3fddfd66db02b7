//! Runbook processes and snapshots. `GET /api/{space}/runbookProcesses/{id}` reads a
//! process (a live one, or one a snapshot froze); `PUT` replaces a live process's steps,
//! but only from the `Version` the client read (a stale one is refused as Octopus refuses
//! it), and each save bumps `Version`; the server gives steps and actions without an `Id` a
//! GUID. `GET .../runbookSnapshotTemplate` names the next snapshot and the packages it must
//! pick versions for. `POST /api/{space}/runbookSnapshots` freezes the process as it is
//! (later edits are drafts) and, with `?publish=true`, makes the snapshot the runbook's
//! published one, the only one a scheduled trigger runs. Reading needs RunbookView, every
//! change RunbookEdit.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::input::{json_body, require, text};
use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::ids;
use crate::prepared::Space;
use crate::render::{invalid, not_found, octopus_date};
use crate::runbooks::{TEMPLATE_ID, TEMPLATE_VERSION, package_references};
use crate::state::State;

const CONDITIONS: [&str; 4] = ["Success", "Failure", "Always", "Variable"];

/// What Octopus answers a save made from an older `Version` than the server's.
const STALE_VERSION: &str = "Changes to this process could not be saved, because another user has made changes to it since you started editing. Please refresh the page and try again.";

pub(super) fn one(state: &State, actor: &Actor, space: &Space, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "RunbookView") {
        return refused;
    }
    match state.runbooks.any_process(&space.id, id) {
        Some(process) => Response::json(200, process),
        None => not_found(id),
    }
}

pub(super) fn update(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    space: &Space,
    id: &str,
) -> Answer {
    if let Err(refused) = require(actor, "RunbookEdit") {
        return refused;
    }
    let Some(index) = state.runbooks.process(&space.id, id) else {
        return done(if state.runbooks.any_process(&space.id, id).is_some() {
            invalid("The process of a snapshot cannot be changed.")
        } else {
            not_found(id)
        });
    };
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let current = state.runbooks.processes[index].clone();
    let version = current["Version"].as_i64().unwrap_or(0);
    match body.get("Version").and_then(Value::as_i64) {
        Some(sent) if sent == version => {}
        Some(_) => return done(invalid(STALE_VERSION)),
        None => return done(invalid("The process needs the Version it was read at.")),
    }
    let steps = match checked_steps(state, space, body.get("Steps")) {
        Ok(steps) => steps,
        Err(refused) => return refused,
    };
    let mut process = current;
    process["Steps"] = Value::Array(steps);
    process["Version"] = json!(version + 1);
    state.runbooks.processes[index] = process.clone();
    let runbook = process["RunbookId"].as_str().unwrap_or("").to_string();
    let name = runbook_name(state, &space.id, &runbook);
    let change = Change {
        message: format!("Runbook process of {name} was modified"),
        related_document_ids: vec![process["Id"].as_str().unwrap_or("").to_string(), runbook],
    };
    (Response::json(200, &process), Some(change))
}

fn runbook_name(state: &State, space_id: &str, runbook_id: &str) -> String {
    state
        .runbooks
        .runbook(space_id, runbook_id)
        .and_then(|i| state.runbooks.runbooks[i]["Name"].as_str())
        .unwrap_or(runbook_id)
        .to_string()
}

/// The steps sent, checked as Octopus checks them, with defaults and ids filled in.
fn checked_steps(state: &State, space: &Space, sent: Option<&Value>) -> Result<Vec<Value>, Answer> {
    let refuse = |message: String| Err(done(invalid(&message)));
    let Some(sent) = sent.map(|s| s.as_array()) else {
        return Ok(Vec::new());
    };
    let Some(sent) = sent else {
        return refuse("Steps must be a list.".into());
    };
    let mut step_names = HashSet::new();
    let mut action_names = HashSet::new();
    let mut steps = Vec::new();
    for (n, step) in sent.iter().enumerate() {
        let Some(step) = step.as_object() else {
            return refuse("Each step must be an object.".into());
        };
        let mut step = step.clone();
        let name = text(&step, "Name").trim().to_string();
        if name.is_empty() {
            return refuse(format!("Step {} needs a Name.", n + 1));
        }
        if !step_names.insert(name.to_lowercase()) {
            return refuse(format!(
                "Step names must be unique: '{name}' is used twice."
            ));
        }
        let condition = step
            .get("Condition")
            .and_then(Value::as_str)
            .unwrap_or("Success")
            .to_string();
        if !CONDITIONS.contains(&condition.as_str()) {
            return refuse(format!("'{condition}' is not a step condition."));
        }
        if n == 0 && condition != "Success" {
            return refuse(format!(
                "The first step ('{name}') cannot have a run condition other than Success."
            ));
        }
        let actions = match step.get("Actions").and_then(Value::as_array) {
            Some(actions) if !actions.is_empty() => actions.clone(),
            _ => return refuse(format!("Step '{name}' needs at least one action.")),
        };
        let mut checked = Vec::new();
        for action in actions {
            let Some(mut action) = action.as_object().cloned() else {
                return refuse(format!("Each action of step '{name}' must be an object."));
            };
            let action_name = text(&action, "Name").trim().to_string();
            if action_name.is_empty() || text(&action, "ActionType").is_empty() {
                return refuse(format!(
                    "Each action of step '{name}' needs a Name and an ActionType."
                ));
            }
            if !action_names.insert(action_name.to_lowercase()) {
                return refuse(format!(
                    "Action names must be unique: '{action_name}' is used twice."
                ));
            }
            check_template(state, space, &action, &action_name)?;
            fill(
                &mut action,
                &[
                    ("IsDisabled", json!(false)),
                    ("IsRequired", json!(false)),
                    ("Environments", json!([])),
                    ("ExcludedEnvironments", json!([])),
                    ("Channels", json!([])),
                    ("TenantTags", json!([])),
                    ("WorkerPoolId", Value::Null),
                    ("WorkerPoolVariable", Value::Null),
                    ("Container", json!({"Image": null, "FeedId": null})),
                    ("Properties", json!({})),
                    ("Packages", json!([])),
                ],
            );
            checked.push(Value::Object(action));
        }
        fill(
            &mut step,
            &[
                ("Condition", json!(condition)),
                ("StartTrigger", json!("StartAfterPrevious")),
                ("PackageRequirement", json!("LetOctopusDecide")),
                ("Properties", json!({})),
            ],
        );
        step.insert("Name".into(), json!(name));
        step.insert("Actions".into(), Value::Array(checked));
        steps.push(Value::Object(step));
    }
    Ok(steps)
}

/// Adds each `(field, default)` missing from `object`, and an `Id` (a GUID) when it has none.
fn fill(object: &mut Map<String, Value>, defaults: &[(&str, Value)]) {
    for (field, default) in defaults {
        object.entry(*field).or_insert_with(|| default.clone());
    }
    let has_id = object
        .get("Id")
        .and_then(Value::as_str)
        .is_some_and(|id| !id.is_empty());
    if !has_id {
        object.insert("Id".into(), json!(ids::guid()));
    }
}

/// An action made from a step template names one of the space's, and its version as text.
fn check_template(
    state: &State,
    space: &Space,
    action: &Map<String, Value>,
    name: &str,
) -> Result<(), Answer> {
    let properties = action.get("Properties");
    let Some(template) = properties.and_then(|p| p.get(TEMPLATE_ID)) else {
        return Ok(());
    };
    let known = template.as_str().is_some_and(|id| {
        state
            .prepared
            .action_templates
            .iter()
            .any(|t| t["Id"] == id && t["SpaceId"] == space.id.as_str())
    });
    if !known {
        return Err(done(invalid(&format!(
            "The step template {template} of action '{name}' does not exist in this space."
        ))));
    }
    match properties.and_then(|p| p.get(TEMPLATE_VERSION)) {
        Some(Value::String(_)) => Ok(()),
        _ => Err(done(invalid(&format!(
            "Action '{name}' needs the {TEMPLATE_VERSION} of its step template, as text."
        )))),
    }
}

/// `GET .../runbookProcesses/{id}/runbookSnapshotTemplate`.
pub(super) fn snapshot_template(state: &State, actor: &Actor, space: &Space, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "RunbookView") {
        return refused;
    }
    let Some(process) = state.runbooks.any_process(&space.id, id) else {
        return not_found(id);
    };
    let runbook_id = process["RunbookId"].as_str().unwrap_or("");
    let project = state
        .catalog
        .project(&space.id, process["ProjectId"].as_str().unwrap_or(""))
        .map(|p| p.name.clone());
    let packages: Vec<Value> = package_references(process)
        .into_iter()
        .map(|p| {
            json!({
                "ActionName": p.action_name,
                "StepName": p.step_name,
                "PackageReferenceName": p.reference_name,
                "PackageId": p.package_id,
                "FeedId": p.feed_id,
                "IsResolvable": p.is_resolvable(),
                "ProjectName": project,
                "VersionSelectedLastRelease": null,
            })
        })
        .collect();
    Response::json(
        200,
        &json!({
            "RunbookProcessId": process["Id"],
            "RunbookId": runbook_id,
            "NextNameIncrement": next_name(state, &space.id, runbook_id),
            "Packages": packages,
            "GitResources": [],
            "Links": {},
        }),
    )
}

/// "Snapshot N": the first number no snapshot of the runbook has taken.
fn next_name(state: &State, space_id: &str, runbook_id: &str) -> String {
    let taken: HashSet<String> = state
        .runbooks
        .snapshots
        .iter()
        .filter(|s| s["SpaceId"] == space_id && s["RunbookId"] == runbook_id)
        .filter_map(|s| s["Name"].as_str().map(str::to_lowercase))
        .collect();
    (1..)
        .map(|n| format!("Snapshot {n}"))
        .find(|name| !taken.contains(&name.to_lowercase()))
        .expect("a free name")
}

pub(super) fn snapshot(state: &State, actor: &Actor, space: &Space, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "RunbookView") {
        return refused;
    }
    match state.runbooks.snapshot(&space.id, id) {
        Some(snapshot) => Response::json(200, snapshot),
        None => not_found(id),
    }
}

/// `POST /api/{space}/runbookSnapshots[?publish=true]`: 201 with the snapshot.
pub(super) fn create_snapshot(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    space: &Space,
) -> Answer {
    if let Err(refused) = require(actor, "RunbookEdit") {
        return refused;
    }
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let refuse = |message: String| done(invalid(&message));
    let runbook_id = text(&body, "RunbookId");
    let Some(index) = state.runbooks.runbook(&space.id, runbook_id) else {
        return refuse(format!(
            "The runbook '{runbook_id}' does not exist in this space."
        ));
    };
    let runbook = state.runbooks.runbooks[index].clone();
    let runbook_id = runbook["Id"].as_str().unwrap_or("").to_string();
    if !runbook["ProjectId"]
        .as_str()
        .is_some_and(|p| p.eq_ignore_ascii_case(text(&body, "ProjectId")))
    {
        return refuse("The ProjectId is not the project of the runbook.".into());
    }
    let name = text(&body, "Name").trim().to_string();
    if name.is_empty() {
        return refuse("A snapshot needs a Name.".into());
    }
    let taken = state.runbooks.snapshots.iter().any(|s| {
        s["RunbookId"] == runbook_id.as_str()
            && s["Name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(&name))
    });
    if taken {
        return refuse(format!(
            "A snapshot named '{name}' already exists for this runbook."
        ));
    }
    let process_id = runbook["RunbookProcessId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let Some(process_index) = state.runbooks.process(&space.id, &process_id) else {
        return done(not_found(&process_id));
    };
    let process = state.runbooks.processes[process_index].clone();
    let selected = body
        .get("SelectedPackages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for package in package_references(&process)
        .iter()
        .filter(|p| p.is_resolvable())
    {
        let chosen = selected.iter().any(|s| {
            s["ActionName"] == package.action_name.as_str()
                && s["PackageReferenceName"] == package.reference_name.as_str()
                && s["Version"].as_str().is_some_and(|v| !v.trim().is_empty())
        });
        if !chosen {
            return refuse(format!(
                "Please select a version for the package '{}' of action '{}'.",
                package.package_id.as_deref().unwrap_or(""),
                package.action_name
            ));
        }
    }
    let number = state.runbooks.ids.next_number("RunbookSnapshots");
    let id = format!("RunbookSnapshots-{number}");
    let frozen_id = format!("{process_id}-s-{number}");
    let mut frozen = process.clone();
    frozen["Id"] = json!(frozen_id);
    frozen["Links"] = json!({"Self": format!("/api/{}/runbookProcesses/{frozen_id}", space.id)});
    state.runbooks.frozen.push(frozen);
    let snapshot = json!({
        "Id": id,
        "Name": name,
        "Notes": body.get("Notes").cloned().unwrap_or(Value::Null),
        "ProjectId": runbook["ProjectId"],
        "RunbookId": runbook_id,
        "SpaceId": space.id,
        "Assembled": octopus_date(state.now()),
        "FrozenRunbookProcessId": frozen_id,
        "FrozenProjectVariableSetId": format!("variableset-{}-s-{number}", runbook["ProjectId"].as_str().unwrap_or("")),
        "LibraryVariableSetSnapshotIds": [],
        "SelectedPackages": selected,
        "Links": {"Self": format!("/api/{}/runbookSnapshots/{id}", space.id)},
    });
    state.runbooks.snapshots.push(snapshot.clone());
    state.runbooks.processes[process_index]["LastSnapshotId"] = json!(id);
    let publish = request
        .query("publish")
        .is_some_and(|p| p.eq_ignore_ascii_case("true"));
    if publish {
        state.runbooks.runbooks[index]["PublishedRunbookSnapshotId"] = json!(id);
    }
    let runbook_name = runbook["Name"].as_str().unwrap_or("");
    let change = Change {
        message: format!(
            "Runbook snapshot {name} was created for runbook {runbook_name}{}",
            if publish { " and published" } else { "" }
        ),
        related_document_ids: vec![id, runbook_id],
    };
    (Response::json(201, &snapshot), Some(change))
}
