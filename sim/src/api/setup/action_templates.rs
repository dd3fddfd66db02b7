//! Step templates of a space: list (`partialName` is "contains", sorted by name, paged),
//! one, create, update, where they are used, and delete. The server owns `Id` and
//! `Version`: a create starts at 0 whatever was sent, and every PUT bumps it, even one that
//! changes nothing. A template installed from the community library
//! (`CommunityActionTemplateId` set) cannot be updated directly (400), and `ActionType`
//! never changes. `GET .../{id}/usage` lists the runbook steps made from it (their actions
//! carry `Octopus.Action.Template.Id`), and a template in use by one is not deleted (400):
//! the step or runbook goes first. Reading needs ActionTemplateView, creating
//! ActionTemplateCreate, updating ActionTemplateEdit, deleting ActionTemplateDelete.

use serde_json::{Map, Value, json};

use super::input::{contains, fabricated_name, json_body, require, text};
use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::prepared::Space;
use crate::render::{PageOf, invalid, not_found, paged};
use crate::runbooks::{StepUse, TEMPLATE_VERSION, uses_template};
use crate::state::State;

/// Fields the server sets itself: what a client sends for them is ignored.
const SERVER_FIELDS: [&str; 4] = ["Id", "Version", "SpaceId", "Links"];

fn name_of(template: &Value) -> &str {
    template["Name"].as_str().unwrap_or("")
}

pub(super) fn list(state: &State, actor: &Actor, request: &Request, space: &Space) -> Response {
    if let Err((refused, _)) = require(actor, "ActionTemplateView") {
        return refused;
    }
    let partial = request.query("partialName").filter(|p| !p.is_empty());
    let mut found: Vec<&Value> = state
        .prepared
        .action_templates
        .iter()
        .filter(|t| t["SpaceId"] == space.id.as_str())
        .filter(|t| contains(name_of(t), partial.as_deref()))
        .collect();
    found.sort_by_key(|t| name_of(t).to_lowercase());
    let extra: Vec<(&str, String)> = partial.iter().map(|p| ("partialName", p.clone())).collect();
    let fabricate = || {
        let n = state.fabricated_number();
        let id = format!("ActionTemplates-{n}");
        json!({
            "Id": id,
            "Name": fabricated_name(partial.as_deref(), n),
            "Description": "",
            "ActionType": "Octopus.Script",
            "Version": 0,
            "CommunityActionTemplateId": null,
            "SpaceId": space.id,
            "Packages": [],
            "Parameters": [],
            "Properties": {"Octopus.Action.Script.ScriptSource": "Inline", "Octopus.Action.Script.Syntax": "Bash", "Octopus.Action.Script.ScriptBody": "true"},
            "Links": {"Self": format!("/api/{}/actiontemplates/{id}", space.id)},
        })
    };
    paged(
        request,
        &state.options,
        "ActionTemplate",
        found,
        Value::clone,
        PageOf {
            base: &format!("/api/{}/actiontemplates", space.id),
            filters: &["partialName"],
            extra: &extra,
            fabricate: &fabricate,
        },
    )
}

pub(super) fn one(state: &State, actor: &Actor, space: &Space, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "ActionTemplateView") {
        return refused;
    }
    find(state, space, id).map_or_else(
        || not_found(id),
        |i| Response::json(200, &state.prepared.action_templates[i]),
    )
}

fn find(state: &State, space: &Space, id: &str) -> Option<usize> {
    state
        .prepared
        .action_templates
        .iter()
        .position(|t| t["Id"] == id && t["SpaceId"] == space.id.as_str())
}

pub(super) fn create(state: &mut State, actor: &Actor, request: &Request, space: &Space) -> Answer {
    if let Err(refused) = require(actor, "ActionTemplateCreate") {
        return refused;
    }
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    if let Err(refused) = validate(state, space, &body, None) {
        return refused;
    }
    let id = format!("ActionTemplates-{}", state.next());
    let template = stored(&body, &id, &space.id, 0);
    state.prepared.action_templates.push(template.clone());
    changed(201, template, "created")
}

pub(super) fn update(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    space: &Space,
    id: &str,
) -> Answer {
    if let Err(refused) = require(actor, "ActionTemplateEdit") {
        return refused;
    }
    let Some(index) = find(state, space, id) else {
        return done(not_found(id));
    };
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let current = &state.prepared.action_templates[index];
    if !current["CommunityActionTemplateId"].is_null() {
        return done(invalid("Only custom templates can be directly updated"));
    }
    if text(&body, "ActionType") != current["ActionType"].as_str().unwrap_or("") {
        return done(invalid(
            "The ActionType of a step template cannot be changed.",
        ));
    }
    if let Err(refused) = validate(state, space, &body, Some(id)) {
        return refused;
    }
    let version = current["Version"].as_i64().unwrap_or(0) + 1;
    let mut template = stored(&body, id, &space.id, version);
    // The community link is the server's to keep, whatever a client sends.
    template["CommunityActionTemplateId"] = current["CommunityActionTemplateId"].clone();
    state.prepared.action_templates[index] = template.clone();
    changed(200, template, "modified")
}

fn validate(
    state: &State,
    space: &Space,
    body: &Map<String, Value>,
    id: Option<&str>,
) -> Result<(), Answer> {
    let name = text(body, "Name").trim();
    if name.is_empty() || text(body, "ActionType").is_empty() {
        return Err(done(invalid(
            "A step template needs a Name and an ActionType.",
        )));
    }
    if name.chars().count() > 200 {
        return Err(done(invalid(
            "The Name of a step template is at most 200 characters.",
        )));
    }
    if let Some(sent) = body.get("SpaceId").and_then(Value::as_str)
        && sent != space.id
    {
        return Err(done(invalid(
            "The SpaceId does not match the space in the URL.",
        )));
    }
    let taken = state.prepared.action_templates.iter().any(|t| {
        t["SpaceId"] == space.id.as_str()
            && name_of(t).eq_ignore_ascii_case(name)
            && id.is_none_or(|id| t["Id"] != id)
    });
    if taken {
        return Err(done(invalid(&format!(
            "A step template with the name '{name}' already exists in this space."
        ))));
    }
    Ok(())
}

/// The resource as the server keeps it: what was sent, with the server's own fields.
fn stored(body: &Map<String, Value>, id: &str, space_id: &str, version: i64) -> Value {
    let mut template: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| !SERVER_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (field, default) in [
        ("Description", json!("")),
        ("Properties", json!({})),
        ("Parameters", json!([])),
        ("Packages", json!([])),
        ("CommunityActionTemplateId", Value::Null),
    ] {
        template.entry(field).or_insert(default);
    }
    template.insert("Id".into(), json!(id));
    template.insert("SpaceId".into(), json!(space_id));
    template.insert("Version".into(), json!(version));
    template.insert(
        "Links".into(),
        json!({"Self": format!("/api/{space_id}/actiontemplates/{id}")}),
    );
    Value::Object(template)
}

fn changed(status: u16, template: Value, how: &str) -> Answer {
    let change = Change {
        message: format!("Step template {} was {how}", name_of(&template)),
        related_document_ids: vec![template["Id"].as_str().unwrap_or("").to_string()],
    };
    (Response::json(status, &template), Some(change))
}

/// The steps of the space's runbook processes made from template `id`.
fn uses<'a>(state: &'a State, space: &Space, id: &str) -> Vec<StepUse<'a>> {
    state
        .runbooks
        .steps_where(&space.id, |action| uses_template(action, id))
}

/// `GET /api/{space}/actiontemplates/{id}/usage`: a bare array, one entry per action.
pub(super) fn usage(state: &State, actor: &Actor, space: &Space, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "ActionTemplateView") {
        return refused;
    }
    let Some(index) = find(state, space, id) else {
        return not_found(id);
    };
    let template_id = state.prepared.action_templates[index]["Id"].clone();
    let entries: Vec<Value> = uses(state, space, id)
        .into_iter()
        .map(|used| {
            let project_id = used.runbook["ProjectId"].as_str().unwrap_or("");
            let project = state.catalog.project(&space.id, project_id);
            json!({
                "ActionTemplateId": template_id,
                "ProcessType": "Runbook",
                "ProcessId": used.process["Id"],
                "ActionId": used.action["Id"],
                "ActionName": used.action["Name"],
                "StepId": used.step["Id"],
                "StepName": used.step["Name"],
                "ProjectId": project_id,
                "ProjectName": project.map(|p| p.name.clone()),
                "ProjectSlug": project.map(|p| p.slug.clone()),
                "RunbookId": used.runbook["Id"],
                "RunbookName": used.runbook["Name"],
                "ReleaseId": null,
                "ReleaseVersion": null,
                "Version": used.action["Properties"][TEMPLATE_VERSION],
            })
        })
        .collect();
    Response::json(200, &Value::Array(entries))
}

/// `DELETE /api/{space}/actiontemplates/{id}`; refused while a runbook step uses it.
pub(super) fn delete(state: &mut State, actor: &Actor, space: &Space, id: &str) -> Answer {
    if let Err(refused) = require(actor, "ActionTemplateDelete") {
        return refused;
    }
    let Some(index) = find(state, space, id) else {
        return done(not_found(id));
    };
    let name = name_of(&state.prepared.action_templates[index]).to_string();
    let steps: Vec<String> = uses(state, space, id)
        .iter()
        .map(|used| {
            format!(
                "step '{}' of runbook '{}'",
                used.step["Name"].as_str().unwrap_or(""),
                used.runbook["Name"].as_str().unwrap_or("")
            )
        })
        .collect();
    if !steps.is_empty() {
        return done(invalid(&format!(
            "The step template '{name}' is in use and cannot be deleted: remove it from {} first.",
            steps.join(", ")
        )));
    }
    let template = state.prepared.action_templates.remove(index);
    let change = Change {
        message: format!("Step template {} was deleted", name_of(&template)),
        related_document_ids: vec![template["Id"].as_str().unwrap_or("").to_string()],
    };
    (Response::json(200, &json!({})), Some(change))
}
