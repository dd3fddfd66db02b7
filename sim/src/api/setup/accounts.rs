//! Accounts of a space, as far as `setup` needs them: list (`partialName`, `accountType`),
//! one, create, update, where they are used and delete, with Generic OIDC accounts checked
//! as Octopus checks them: subject keys from the fixed set, stored in its fixed order.
//! `GET .../{id}/usages` names the runbook steps whose action properties hold the account's
//! id and the snapshots that froze one; an account is not deleted (400) while a runbook
//! step uses it or a step template's parameter has it as default. Reading needs
//! AccountView, creating AccountCreate, updating AccountEdit, deleting AccountDelete.

use serde_json::{Map, Value, json};

use super::input::{contains, fabricated_name, json_body, require, string_list, text};
use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::prepared::Space;
use crate::render::{PageOf, invalid, not_found, paged};
use crate::runbooks::names_account;
use crate::state::State;

/// The subject keys of a Generic OIDC account, in the order Octopus keeps them.
const SUBJECT_KEYS: [&str; 8] = [
    "space",
    "project",
    "runbook",
    "tenant",
    "environment",
    "target",
    "account",
    "type",
];

const ACCOUNT_TYPES: [&str; 6] = [
    "GenericOidcAccount",
    "UsernamePassword",
    "Token",
    "AmazonWebServicesAccount",
    "AzureServicePrincipal",
    "SshKeyPair",
];

fn name_of(account: &Value) -> &str {
    account["Name"].as_str().unwrap_or("")
}

pub(super) fn list(state: &State, actor: &Actor, request: &Request, space: &Space) -> Response {
    if let Err((refused, _)) = require(actor, "AccountView") {
        return refused;
    }
    let partial = request.query("partialName").filter(|p| !p.is_empty());
    let kind = request.query("accountType").filter(|p| !p.is_empty());
    let mut found: Vec<&Value> = state
        .prepared
        .accounts
        .iter()
        .filter(|a| a["SpaceId"] == space.id.as_str())
        .filter(|a| contains(name_of(a), partial.as_deref()))
        .filter(|a| kind.as_ref().is_none_or(|k| a["AccountType"] == k.as_str()))
        .collect();
    found.sort_by_key(|a| name_of(a).to_lowercase());
    let extra: Vec<(&str, String)> = partial.iter().map(|p| ("partialName", p.clone())).collect();
    let fabricate = || {
        let n = state.fabricated_number();
        let id = format!("Accounts-{n}");
        json!({
            "Id": id,
            "Name": fabricated_name(partial.as_deref(), n),
            "AccountType": kind.as_deref().unwrap_or("UsernamePassword"),
            "SpaceId": space.id,
            "Description": "",
            "EnvironmentIds": [],
            "TenantIds": [],
            "TenantTags": [],
            "TenantedDeploymentParticipation": "Untenanted",
            "Links": {"Self": format!("/api/{}/accounts/{id}", space.id)},
        })
    };
    paged(
        request,
        &state.options,
        "Account",
        found,
        Value::clone,
        PageOf {
            base: &format!("/api/{}/accounts", space.id),
            filters: &["partialName", "accountType"],
            extra: &extra,
            fabricate: &fabricate,
        },
    )
}

fn find(state: &State, space: &Space, id: &str) -> Option<usize> {
    state
        .prepared
        .accounts
        .iter()
        .position(|a| a["Id"] == id && a["SpaceId"] == space.id.as_str())
}

pub(super) fn one(state: &State, actor: &Actor, space: &Space, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "AccountView") {
        return refused;
    }
    find(state, space, id).map_or_else(
        || not_found(id),
        |i| Response::json(200, &state.prepared.accounts[i]),
    )
}

pub(super) fn create(state: &mut State, actor: &Actor, request: &Request, space: &Space) -> Answer {
    if let Err(refused) = require(actor, "AccountCreate") {
        return refused;
    }
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let id = format!("Accounts-{}", state.next());
    match checked(state, space, body, &id) {
        Ok(account) => {
            state.prepared.accounts.push(account.clone());
            changed(201, account, "created")
        }
        Err(refused) => refused,
    }
}

pub(super) fn update(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    space: &Space,
    id: &str,
) -> Answer {
    if let Err(refused) = require(actor, "AccountEdit") {
        return refused;
    }
    let Some(index) = find(state, space, id) else {
        return done(not_found(id));
    };
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    if text(&body, "AccountType") != state.prepared.accounts[index]["AccountType"] {
        return done(invalid("The AccountType of an account cannot be changed."));
    }
    match checked(state, space, body, id) {
        Ok(account) => {
            state.prepared.accounts[index] = account.clone();
            changed(200, account, "modified")
        }
        Err(refused) => refused,
    }
}

/// The account as stored, or why it is refused.
fn checked(
    state: &State,
    space: &Space,
    mut body: Map<String, Value>,
    id: &str,
) -> Result<Value, Answer> {
    let name = text(&body, "Name").trim().to_string();
    let kind = text(&body, "AccountType").to_string();
    if name.is_empty() {
        return Err(done(invalid("An account needs a Name.")));
    }
    if !ACCOUNT_TYPES.contains(&kind.as_str()) {
        return Err(done(invalid(&format!("'{kind}' is not an account type."))));
    }
    let taken = state.prepared.accounts.iter().any(|a| {
        a["SpaceId"] == space.id.as_str() && name_of(a).eq_ignore_ascii_case(&name) && a["Id"] != id
    });
    if taken {
        return Err(done(invalid(&format!(
            "An account with the name '{name}' already exists in this space."
        ))));
    }
    if kind == "GenericOidcAccount" {
        let keys = string_list(&body, "DeploymentSubjectKeys");
        if let Some(unknown) = keys.iter().find(|k| !SUBJECT_KEYS.contains(&k.as_str())) {
            return Err(done(invalid(&format!(
                "'{unknown}' is not a deployment subject key."
            ))));
        }
        let ordered: Vec<&str> = SUBJECT_KEYS
            .iter()
            .copied()
            .filter(|k| keys.iter().any(|sent| sent == k))
            .collect();
        body.insert("DeploymentSubjectKeys".into(), json!(ordered));
        body.entry("Audience").or_insert(json!("api://default"));
    }
    for (field, default) in [
        ("Description", json!("")),
        ("EnvironmentIds", json!([])),
        ("TenantIds", json!([])),
        ("TenantTags", json!([])),
        ("TenantedDeploymentParticipation", json!("Untenanted")),
    ] {
        body.entry(field).or_insert(default);
    }
    body.insert("Name".into(), json!(name));
    body.insert("Id".into(), json!(id));
    body.insert("SpaceId".into(), json!(space.id));
    body.insert(
        "Links".into(),
        json!({"Self": format!("/api/{}/accounts/{id}", space.id)}),
    );
    Ok(Value::Object(body))
}

fn changed(status: u16, account: Value, how: &str) -> Answer {
    let change = Change {
        message: format!("Account {} was {how}", name_of(&account)),
        related_document_ids: vec![account["Id"].as_str().unwrap_or("").to_string()],
    };
    (Response::json(status, &account), Some(change))
}

/// `GET /api/{space}/accounts/{id}/usages`: Octopus's `AccountUsageResource`, with the
/// runbook processes and snapshots that name the account (the simulator keeps no
/// deployment processes, releases, variable sets or targets: those lists are empty).
pub(super) fn usages(state: &State, actor: &Actor, space: &Space, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "AccountView") {
        return refused;
    }
    let Some(index) = find(state, space, id) else {
        return not_found(id);
    };
    let id = state.prepared.accounts[index]["Id"].as_str().unwrap_or(id);
    let project = |project_id: &Value| {
        let project = state
            .catalog
            .project(&space.id, project_id.as_str().unwrap_or(""));
        (
            project.map(|p| p.name.clone()),
            project.map(|p| p.slug.clone()),
        )
    };
    let mut processes: Vec<Value> = Vec::new();
    for used in state
        .runbooks
        .steps_where(&space.id, |action| names_account(action, id))
    {
        let step = json!({"StepName": used.step["Name"], "StepId": used.step["Id"]});
        if let Some(entry) = processes
            .iter_mut()
            .find(|p| p["ProcessId"] == used.process["Id"])
        {
            if let Some(steps) = entry["Steps"].as_array_mut()
                && !steps.contains(&step)
            {
                steps.push(step);
            }
            continue;
        }
        let (name, slug) = project(&used.runbook["ProjectId"]);
        processes.push(json!({
            "ProjectName": name,
            "ProjectId": used.runbook["ProjectId"],
            "ProjectSlug": slug,
            "Steps": [step],
            "ProcessId": used.process["Id"],
            "RunbookId": used.runbook["Id"],
            "RunbookName": used.runbook["Name"],
        }));
    }
    let mut snapshots: Vec<Value> = Vec::new();
    for snapshot in state
        .runbooks
        .snapshots_where(&space.id, |action| names_account(action, id))
    {
        let entry = json!({"SnapshotId": snapshot["Id"], "SnapshotName": snapshot["Name"]});
        if let Some(runbook) = snapshots
            .iter_mut()
            .find(|r| r["RunbookId"] == snapshot["RunbookId"])
        {
            if let Some(list) = runbook["Snapshots"].as_array_mut() {
                list.push(entry);
            }
            continue;
        }
        let runbook_name = state
            .runbooks
            .runbook(&space.id, snapshot["RunbookId"].as_str().unwrap_or(""))
            .map(|i| state.runbooks.runbooks[i]["Name"].clone())
            .unwrap_or(Value::Null);
        snapshots.push(json!({
            "RunbookId": snapshot["RunbookId"],
            "RunbookName": runbook_name,
            "ProjectName": project(&snapshot["ProjectId"]).0,
            "ProjectId": snapshot["ProjectId"],
            "Snapshots": [entry],
        }));
    }
    Response::json(
        200,
        &json!({
            "Targets": [],
            "DeploymentProcesses": [],
            "Releases": [],
            "ProjectVariableSets": [],
            "LibraryVariableSets": [],
            "RunbookProcesses": processes,
            "RunbookSnapshots": snapshots,
            "Links": {},
        }),
    )
}

/// What keeps account `id` from being deleted: runbook steps whose actions name it, and
/// step template parameters whose default it is, in words.
fn holders(state: &State, space: &Space, id: &str) -> Vec<String> {
    let mut found: Vec<String> = state
        .runbooks
        .steps_where(&space.id, |action| names_account(action, id))
        .iter()
        .map(|used| {
            format!(
                "step '{}' of runbook '{}'",
                used.step["Name"].as_str().unwrap_or(""),
                used.runbook["Name"].as_str().unwrap_or("")
            )
        })
        .collect();
    for template in state
        .prepared
        .action_templates
        .iter()
        .filter(|t| t["SpaceId"] == space.id.as_str())
    {
        for parameter in template["Parameters"].as_array().into_iter().flatten() {
            if parameter["DefaultValue"]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case(id))
            {
                found.push(format!(
                    "the default of parameter '{}' of step template '{}'",
                    parameter["Name"].as_str().unwrap_or(""),
                    template["Name"].as_str().unwrap_or("")
                ));
            }
        }
    }
    found
}

/// `DELETE /api/{space}/accounts/{id}`; refused while something uses the account.
pub(super) fn delete(state: &mut State, actor: &Actor, space: &Space, id: &str) -> Answer {
    if let Err(refused) = require(actor, "AccountDelete") {
        return refused;
    }
    let Some(index) = find(state, space, id) else {
        return done(not_found(id));
    };
    let account_id = state.prepared.accounts[index]["Id"]
        .as_str()
        .unwrap_or(id)
        .to_string();
    let holders = holders(state, space, &account_id);
    if !holders.is_empty() {
        return done(invalid(&format!(
            "The account '{}' is in use and cannot be deleted: it is used by {}.",
            name_of(&state.prepared.accounts[index]),
            holders.join(", ")
        )));
    }
    let account = state.prepared.accounts.remove(index);
    let mut answer = changed(200, account, "deleted");
    answer.0 = Response::json(200, &json!({}));
    answer
}
