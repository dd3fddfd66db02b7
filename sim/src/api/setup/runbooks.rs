//! Runbooks of a space: `POST /api/{space}/runbooks` (a `RunRetentionPolicy` is required;
//! the server makes the runbook's empty process, `RunbookProcess-Runbooks-N`, and the
//! runbook starts unpublished, `PublishedRunbookSnapshotId` null), the paged listing
//! (`partialName` is "contains", `projectIds` a comma-separated list), one, `PUT` (the whole
//! runbook: a field left out is reset to its default, `PublishedRunbookSnapshotId` among
//! them, which unpublishes it) and `DELETE` (its process and snapshots go with it; refused
//! while a trigger runs it, the strictest of what a server might do). Names are unique in a
//! project; the project and environments named must be the space's. Reading needs
//! RunbookView, every change RunbookEdit.

use serde_json::{Map, Value, json};

use super::input::{contains, fabricated_name, json_body, require, string_list, text};
use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::prepared::Space;
use crate::render::{PageOf, invalid, not_found, paged};
use crate::runbooks::runbook_resource;
use crate::state::State;

const ENVIRONMENT_SCOPES: [&str; 3] = ["All", "Specified", "FromProjectLifecycles"];
const TENANCY_MODES: [&str; 3] = ["Untenanted", "TenantedOrUntenanted", "Tenanted"];

fn name_of(runbook: &Value) -> &str {
    runbook["Name"].as_str().unwrap_or("")
}

pub(super) fn list(state: &State, actor: &Actor, request: &Request, space: &Space) -> Response {
    if let Err((refused, _)) = require(actor, "RunbookView") {
        return refused;
    }
    let partial = request.query("partialName").filter(|p| !p.is_empty());
    let projects: Option<Vec<String>> = request
        .query("projectIds")
        .filter(|p| !p.is_empty())
        .map(|p| p.split(',').map(|id| id.trim().to_lowercase()).collect());
    let mut found: Vec<&Value> = state
        .runbooks
        .runbooks
        .iter()
        .filter(|r| r["SpaceId"] == space.id.as_str())
        .filter(|r| contains(name_of(r), partial.as_deref()))
        .filter(|r| {
            projects.as_ref().is_none_or(|ids| {
                let project = r["ProjectId"].as_str().unwrap_or("").to_lowercase();
                ids.contains(&project)
            })
        })
        .collect();
    found.sort_by_key(|r| name_of(r).to_lowercase());
    let mut extra: Vec<(&str, String)> =
        partial.iter().map(|p| ("partialName", p.clone())).collect();
    if let Some(ids) = request.query("projectIds").filter(|p| !p.is_empty()) {
        extra.push(("projectIds", ids));
    }
    let project = projects
        .as_ref()
        .and_then(|ids| ids.first().cloned())
        .unwrap_or_else(|| "Projects-1".to_string());
    let fabricate = || {
        let n = state.fabricated_number();
        let id = format!("Runbooks-{n}");
        runbook_resource(
            &Map::new(),
            &id,
            &space.id,
            &fabricated_name(partial.as_deref(), n),
            &project,
        )
    };
    paged(
        request,
        &state.options,
        "Runbook",
        found,
        Value::clone,
        PageOf {
            base: &format!("/api/{}/runbooks", space.id),
            filters: &["partialName", "projectIds"],
            extra: &extra,
            fabricate: &fabricate,
        },
    )
}

pub(super) fn one(state: &State, actor: &Actor, space: &Space, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "RunbookView") {
        return refused;
    }
    match state.runbooks.runbook(&space.id, id) {
        Some(index) => Response::json(200, &state.runbooks.runbooks[index]),
        None => not_found(id),
    }
}

pub(super) fn create(state: &mut State, actor: &Actor, request: &Request, space: &Space) -> Answer {
    if let Err(refused) = require(actor, "RunbookEdit") {
        return refused;
    }
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    if let Err(refused) = validate(state, space, &body, None) {
        return refused;
    }
    let id = state.runbooks.ids.next_id("Runbooks");
    let mut runbook = runbook_resource(
        &body,
        &id,
        &space.id,
        text(&body, "Name").trim(),
        text(&body, "ProjectId"),
    );
    // A new runbook is unpublished, whatever was sent.
    runbook["PublishedRunbookSnapshotId"] = Value::Null;
    state.runbooks.add(runbook.clone());
    changed(201, runbook, "created", Vec::new())
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
    let Some(index) = state.runbooks.runbook(&space.id, id) else {
        return done(not_found(id));
    };
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let current = state.runbooks.runbooks[index].clone();
    if let Err(refused) = validate(state, space, &body, Some(&current)) {
        return refused;
    }
    let id = current["Id"].as_str().unwrap_or(id).to_string();
    let runbook = runbook_resource(
        &body,
        &id,
        &space.id,
        text(&body, "Name").trim(),
        text(&body, "ProjectId"),
    );
    state.runbooks.runbooks[index] = runbook.clone();
    changed(200, runbook, "modified", Vec::new())
}

pub(super) fn delete(state: &mut State, actor: &Actor, space: &Space, id: &str) -> Answer {
    if let Err(refused) = require(actor, "RunbookEdit") {
        return refused;
    }
    let Some(index) = state.runbooks.runbook(&space.id, id) else {
        return done(not_found(id));
    };
    let id = state.runbooks.runbooks[index]["Id"]
        .as_str()
        .unwrap_or(id)
        .to_string();
    let triggers: Vec<String> = state
        .runbooks
        .triggers_of(&id)
        .map(|t| format!("'{}'", t["Name"].as_str().unwrap_or("")))
        .collect();
    if !triggers.is_empty() {
        return done(invalid(&format!(
            "The runbook is run by the trigger(s) {}: delete them first.",
            triggers.join(", ")
        )));
    }
    let runbook = state.runbooks.runbooks.remove(index);
    let book = &mut state.runbooks;
    let mut related = Vec::new();
    book.processes.retain(|p| p["RunbookId"] != id.as_str());
    book.frozen.retain(|p| p["RunbookId"] != id.as_str());
    book.snapshots.retain(|s| {
        let kept = s["RunbookId"] != id.as_str();
        if !kept {
            related.extend(s["Id"].as_str().map(str::to_string));
        }
        kept
    });
    changed_with(200, &runbook, json!({}), "deleted", related)
}

/// The checks of a runbook a client sends (`current`: the one it replaces).
fn validate(
    state: &State,
    space: &Space,
    body: &Map<String, Value>,
    current: Option<&Value>,
) -> Result<(), Answer> {
    let refuse = |message: &str| Err(done(invalid(message)));
    let name = text(body, "Name").trim();
    if name.is_empty() {
        return refuse("A runbook needs a Name.");
    }
    if name.chars().count() > 200 {
        return refuse("The Name of a runbook is at most 200 characters.");
    }
    if let Some(sent) = body.get("SpaceId").and_then(Value::as_str)
        && !sent.eq_ignore_ascii_case(&space.id)
    {
        return refuse("The SpaceId does not match the space in the URL.");
    }
    let project = text(body, "ProjectId");
    if state.catalog.project(&space.id, project).is_none() {
        return refuse(&format!(
            "The project '{project}' does not exist in space {}.",
            space.id
        ));
    }
    if let Some(current) = current
        && !current["ProjectId"]
            .as_str()
            .is_some_and(|p| p.eq_ignore_ascii_case(project))
    {
        return refuse("The project of a runbook cannot be changed.");
    }
    let current_id = current.and_then(|c| c["Id"].as_str());
    let taken = state.runbooks.runbooks.iter().any(|r| {
        r["SpaceId"] == space.id.as_str()
            && r["ProjectId"]
                .as_str()
                .is_some_and(|p| p.eq_ignore_ascii_case(project))
            && name_of(r).eq_ignore_ascii_case(name)
            && r["Id"].as_str() != current_id
    });
    if taken {
        return refuse(&format!(
            "A runbook with the name '{name}' already exists in this project."
        ));
    }
    if !body.get("RunRetentionPolicy").is_some_and(Value::is_object) {
        return refuse("The runbook needs a RunRetentionPolicy.");
    }
    let scope = body
        .get("EnvironmentScope")
        .and_then(Value::as_str)
        .unwrap_or("All");
    if !ENVIRONMENT_SCOPES.contains(&scope) {
        return refuse(&format!("'{scope}' is not an environment scope."));
    }
    let environments = string_list(body, "Environments");
    if scope == "Specified" && environments.is_empty() {
        return refuse("A runbook scoped to specified environments needs at least one.");
    }
    if let Some(unknown) = environments
        .iter()
        .find(|e| !state.catalog.has_environment(&space.id, e))
    {
        return refuse(&format!(
            "The environment '{unknown}' does not exist in space {}.",
            space.id
        ));
    }
    let tenancy = body
        .get("MultiTenancyMode")
        .and_then(Value::as_str)
        .unwrap_or("Untenanted");
    if !TENANCY_MODES.contains(&tenancy) {
        return refuse(&format!("'{tenancy}' is not a multi-tenancy mode."));
    }
    if let Some(published) = body
        .get("PublishedRunbookSnapshotId")
        .and_then(Value::as_str)
    {
        let of_this = current_id.is_some_and(|id| {
            state
                .runbooks
                .snapshot(&space.id, published)
                .is_some_and(|s| s["RunbookId"] == id)
        });
        if !of_this {
            return refuse(&format!(
                "The snapshot '{published}' is not a snapshot of this runbook."
            ));
        }
    }
    Ok(())
}

fn changed(status: u16, runbook: Value, how: &str, related: Vec<String>) -> Answer {
    let body = runbook.clone();
    changed_with(status, &runbook, body, how, related)
}

fn changed_with(status: u16, runbook: &Value, body: Value, how: &str, more: Vec<String>) -> Answer {
    let mut related = vec![runbook["Id"].as_str().unwrap_or("").to_string()];
    related.extend(runbook["ProjectId"].as_str().map(str::to_string));
    related.extend(more);
    let change = Change {
        message: format!("Runbook {} was {how}", name_of(runbook)),
        related_document_ids: related,
    };
    (Response::json(status, &body), Some(change))
}
