//! Scheduled project triggers that run a runbook: `POST /api/{space}/projecttriggers`
//! (TriggerCreate), the paged listing (`runbooks=` a comma-separated list of runbook ids,
//! `partialName`; TriggerView), one, `PUT` (the whole trigger; TriggerEdit) and `DELETE`
//! (TriggerDelete). A `RunRunbook` action needs a runbook of the trigger's project that
//! has a published snapshot ("Only published snapshots can be used to create a scheduled
//! runbook trigger"), at least one environment, and environments and tenants of the space;
//! the filter is checked in `schedule`. Names are unique in a project.

use serde_json::{Map, Value, json};

use super::input::{contains, fabricated_name, json_body, require, string_list, text};
use super::schedule;
use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::prepared::Space;
use crate::render::{PageOf, invalid, not_found, paged};
use crate::state::State;

/// Octopus's refusal of a trigger for a runbook that was never published.
const UNPUBLISHED: &str =
    "Only published snapshots can be used to create a scheduled runbook trigger";

/// Fields the server owns: what a client sends for them is ignored.
const SERVER_FIELDS: [&str; 3] = ["Id", "SpaceId", "Links"];

fn name_of(trigger: &Value) -> &str {
    trigger["Name"].as_str().unwrap_or("")
}

pub(super) fn list(state: &State, actor: &Actor, request: &Request, space: &Space) -> Response {
    if let Err((refused, _)) = require(actor, "TriggerView") {
        return refused;
    }
    let partial = request.query("partialName").filter(|p| !p.is_empty());
    let runbooks: Option<Vec<String>> = request
        .query("runbooks")
        .filter(|r| !r.is_empty())
        .map(|r| r.split(',').map(|id| id.trim().to_lowercase()).collect());
    let mut found: Vec<&Value> = state
        .runbooks
        .triggers
        .iter()
        .filter(|t| t["SpaceId"] == space.id.as_str())
        .filter(|t| contains(name_of(t), partial.as_deref()))
        .filter(|t| {
            runbooks.as_ref().is_none_or(|ids| {
                let runbook = t["Action"]["RunbookId"].as_str().unwrap_or("");
                ids.contains(&runbook.to_lowercase())
            })
        })
        .collect();
    found.sort_by_key(|t| name_of(t).to_lowercase());
    let mut extra: Vec<(&str, String)> =
        partial.iter().map(|p| ("partialName", p.clone())).collect();
    if let Some(ids) = request.query("runbooks").filter(|r| !r.is_empty()) {
        extra.push(("runbooks", ids));
    }
    let runbook = runbooks
        .as_ref()
        .and_then(|ids| ids.first().cloned())
        .unwrap_or_else(|| "Runbooks-1".into());
    let fabricate = || {
        let n = state.fabricated_number();
        let id = format!("ProjectTriggers-{n}");
        json!({
            "Id": id,
            "Name": fabricated_name(partial.as_deref(), n),
            "Description": "",
            "ProjectId": "Projects-1",
            "SpaceId": space.id,
            "IsDisabled": true,
            "Action": {"ActionType": "RunRunbook", "RunbookId": runbook, "EnvironmentIds": ["Environments-1"], "TenantIds": [], "TenantTags": []},
            "Filter": {"FilterType": "CronExpressionSchedule", "CronExpression": "0 0 0 1 1 ?", "Timezone": "UTC"},
            "Links": {"Self": format!("/api/{}/projecttriggers/{id}", space.id)},
        })
    };
    paged(
        request,
        &state.options,
        "ProjectTrigger",
        found,
        Value::clone,
        PageOf {
            base: &format!("/api/{}/projecttriggers", space.id),
            filters: &["partialName", "runbooks"],
            extra: &extra,
            fabricate: &fabricate,
        },
    )
}

pub(super) fn one(state: &State, actor: &Actor, space: &Space, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "TriggerView") {
        return refused;
    }
    match state.runbooks.trigger(&space.id, id) {
        Some(index) => Response::json(200, &state.runbooks.triggers[index]),
        None => not_found(id),
    }
}

pub(super) fn create(state: &mut State, actor: &Actor, request: &Request, space: &Space) -> Answer {
    if let Err(refused) = require(actor, "TriggerCreate") {
        return refused;
    }
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let documents = match validate(state, space, &body, None) {
        Ok(documents) => documents,
        Err(message) => return done(invalid(&message)),
    };
    let id = state.runbooks.ids.next_id("ProjectTriggers");
    let trigger = stored(&body, &id, &space.id, documents);
    state.runbooks.triggers.push(trigger.clone());
    changed(201, &trigger, trigger.clone(), "created")
}

pub(super) fn update(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    space: &Space,
    id: &str,
) -> Answer {
    if let Err(refused) = require(actor, "TriggerEdit") {
        return refused;
    }
    let Some(index) = state.runbooks.trigger(&space.id, id) else {
        return done(not_found(id));
    };
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let current = state.runbooks.triggers[index].clone();
    let documents = match validate(state, space, &body, Some(&current)) {
        Ok(documents) => documents,
        Err(message) => return done(invalid(&message)),
    };
    let id = current["Id"].as_str().unwrap_or(id).to_string();
    let trigger = stored(&body, &id, &space.id, documents);
    state.runbooks.triggers[index] = trigger.clone();
    changed(200, &trigger, trigger.clone(), "modified")
}

pub(super) fn delete(state: &mut State, actor: &Actor, space: &Space, id: &str) -> Answer {
    if let Err(refused) = require(actor, "TriggerDelete") {
        return refused;
    }
    let Some(index) = state.runbooks.trigger(&space.id, id) else {
        return done(not_found(id));
    };
    let trigger = state.runbooks.triggers.remove(index);
    changed(200, &trigger, json!({}), "deleted")
}

/// The ids of the project and runbook a trigger a client sends (`current`: the one it
/// replaces) names, as the server spells them; or why it is refused.
fn validate(
    state: &State,
    space: &Space,
    body: &Map<String, Value>,
    current: Option<&Value>,
) -> Result<Documents, String> {
    let name = text(body, "Name").trim();
    if name.is_empty() {
        return Err("A trigger needs a Name.".into());
    }
    if let Some(sent) = body.get("SpaceId").and_then(Value::as_str)
        && !sent.eq_ignore_ascii_case(&space.id)
    {
        return Err("The SpaceId does not match the space in the URL.".into());
    }
    let project = text(body, "ProjectId");
    let Some(project) = state.catalog.project(&space.id, project) else {
        return Err(format!(
            "The project '{project}' does not exist in space {}.",
            space.id
        ));
    };
    if let Some(current) = current
        && current["ProjectId"] != project.id.as_str()
    {
        return Err("The project of a trigger cannot be changed.".into());
    }
    let current_id = current.and_then(|c| c["Id"].as_str());
    let taken = state.runbooks.triggers.iter().any(|t| {
        t["ProjectId"] == project.id.as_str()
            && name_of(t).eq_ignore_ascii_case(name)
            && t["Id"].as_str() != current_id
    });
    if taken {
        return Err(format!(
            "A trigger with the name '{name}' already exists in this project."
        ));
    }
    let Some(action) = body.get("Action").and_then(Value::as_object) else {
        return Err("A trigger needs an Action.".into());
    };
    let kind = text(action, "ActionType");
    if kind != "RunRunbook" {
        return Err(format!(
            "'{kind}' is not an ActionType the simulator knows for a scheduled trigger: use RunRunbook."
        ));
    }
    let runbook_id = text(action, "RunbookId");
    let runbook = state
        .runbooks
        .runbook(&space.id, runbook_id)
        .map(|i| &state.runbooks.runbooks[i])
        .filter(|r| r["ProjectId"] == project.id.as_str());
    let Some(runbook) = runbook else {
        return Err(format!(
            "The runbook '{runbook_id}' does not exist in project {}.",
            project.id
        ));
    };
    if runbook["PublishedRunbookSnapshotId"].is_null() {
        return Err(UNPUBLISHED.into());
    }
    let environments = string_list(action, "EnvironmentIds");
    if environments.is_empty() {
        return Err("A runbook trigger needs at least one environment.".into());
    }
    let catalog = &state.catalog;
    if let Some(unknown) = environments
        .iter()
        .find(|e| !catalog.has_environment(&space.id, e))
    {
        return Err(format!(
            "The environment '{unknown}' does not exist in space {}.",
            space.id
        ));
    }
    if let Some(unknown) = string_list(action, "TenantIds")
        .iter()
        .find(|t| !catalog.has_tenant(&space.id, t))
    {
        return Err(format!(
            "The tenant '{unknown}' does not exist in space {}.",
            space.id
        ));
    }
    schedule::check(body.get("Filter"))?;
    Ok(Documents {
        project_id: project.id.clone(),
        runbook_id: runbook["Id"].as_str().unwrap_or("").to_string(),
    })
}

/// What a trigger names, as the server spells the ids.
struct Documents {
    project_id: String,
    runbook_id: String,
}

/// The trigger as the server keeps it: what was sent, with the server's own fields and the
/// ids of what it names as the server spells them.
fn stored(body: &Map<String, Value>, id: &str, space_id: &str, documents: Documents) -> Value {
    let mut trigger: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| !SERVER_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (field, default) in [("Description", json!("")), ("IsDisabled", json!(false))] {
        trigger.entry(field).or_insert(default);
    }
    if let Some(Value::Object(action)) = trigger.get_mut("Action") {
        for field in ["TenantIds", "TenantTags"] {
            action.entry(field).or_insert(json!([]));
        }
        action.insert("RunbookId".into(), json!(documents.runbook_id));
    }
    trigger.insert("ProjectId".into(), json!(documents.project_id));
    trigger.insert("Id".into(), json!(id));
    trigger.insert("SpaceId".into(), json!(space_id));
    trigger.insert(
        "Links".into(),
        json!({"Self": format!("/api/{space_id}/projecttriggers/{id}")}),
    );
    Value::Object(trigger)
}

fn changed(status: u16, trigger: &Value, body: Value, how: &str) -> Answer {
    let mut related = vec![trigger["Id"].as_str().unwrap_or("").to_string()];
    related.extend(trigger["Action"]["RunbookId"].as_str().map(str::to_string));
    related.extend(trigger["ProjectId"].as_str().map(str::to_string));
    let change = Change {
        message: format!("Trigger {} was {how}", name_of(trigger)),
        related_document_ids: related,
    };
    (Response::json(status, &body), Some(change))
}
