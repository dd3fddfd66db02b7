//! User roles and their grants to teams (scoped user roles). Roles are listed with
//! `/api/userroles/all` (UserRoleView). A grant gives a team a role in a space, narrowed by
//! `ProjectIds`, `ProjectGroupIds`, `EnvironmentIds` and `TenantIds`, each kept as sent,
//! where an empty list means all of that kind, not none. Grants are made with
//! `POST /api/scopeduserroles`, replaced whole with `PUT /api/scopeduserroles/{id}`,
//! deleted with `DELETE /api/scopeduserroles/{id}` (all TeamEdit), each also under a space
//! (`/api/{space}/scopeduserroles/...`), and read per team with
//! `GET /api/teams/{id}/scopeduserroles` (TeamView). A role with only system permissions
//! cannot go on a space team, a space team's grants are in its own space, and every id in
//! a scope must name a project, project group, environment or tenant of the grant's space.

use serde_json::{Map, Value, json};

use super::input::{json_body, require, string_list, text};
use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::prepared::{ScopedUserRole, Space};
use crate::render::{PageOf, invalid, not_found, paged};
use crate::state::State;

fn grant_json(grant: &ScopedUserRole) -> Value {
    json!({
        "Id": grant.id,
        "TeamId": grant.team_id,
        "UserRoleId": grant.user_role_id,
        "SpaceId": grant.space_id,
        "ProjectIds": grant.project_ids,
        "EnvironmentIds": grant.environment_ids,
        "ProjectGroupIds": grant.project_group_ids,
        "TenantIds": grant.tenant_ids,
        "Links": {"Self": format!("/api/scopeduserroles/{}", grant.id)},
    })
}

pub(super) fn roles(state: &State, actor: &Actor) -> Response {
    if let Err((refused, _)) = require(actor, "UserRoleView") {
        return refused;
    }
    let roles: Vec<Value> = state
        .prepared
        .user_roles
        .iter()
        .map(|role| {
            json!({
                "Id": role.id,
                "Name": role.name,
                "Description": "",
                "SupportedRestrictions": [],
                "SpacePermissionDescriptions": [],
                "SystemPermissionDescriptions": [],
                "GrantedSpacePermissions": role.space_permissions,
                "GrantedSystemPermissions": role.system_permissions,
                "CanBeDeleted": false,
                "Links": {"Self": format!("/api/userroles/{}", role.id)},
            })
        })
        .collect();
    Response::json(200, &Value::Array(roles))
}

/// `GET /api/teams/{id}/scopeduserroles`: the team's grants, paged, with their scopes.
pub(super) fn list(state: &State, actor: &Actor, request: &Request, team_id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "TeamView") {
        return refused;
    }
    if !state.prepared.teams.iter().any(|t| t.id == team_id) {
        return not_found(team_id);
    }
    let grants: Vec<&ScopedUserRole> = state
        .prepared
        .scoped_roles
        .iter()
        .filter(|g| g.team_id == team_id)
        .collect();
    let fabricate = || {
        let n = state.fabricated_number();
        grant_json(&ScopedUserRole {
            id: format!("ScopedUserRoles-{n}"),
            team_id: team_id.to_string(),
            user_role_id: format!("userroles-fabricated-{n}"),
            space_id: Some("Spaces-1".to_string()),
            project_ids: Vec::new(),
            environment_ids: Vec::new(),
            project_group_ids: Vec::new(),
            tenant_ids: Vec::new(),
        })
    };
    paged(
        request,
        &state.options,
        "ScopedUserRole",
        grants,
        grant_json,
        PageOf {
            base: &format!("/api/teams/{team_id}/scopeduserroles"),
            filters: &[],
            extra: &[],
            fabricate: &fabricate,
        },
    )
}

/// The grant `id`; asked under a space, only a grant in that space.
fn find(state: &State, space: Option<&Space>, id: &str) -> Option<usize> {
    state.prepared.scoped_roles.iter().position(|g| {
        g.id == id && space.is_none_or(|space| g.space_id.as_deref() == Some(space.id.as_str()))
    })
}

/// `GET /api/scopeduserroles/{id}`.
pub(super) fn one(state: &State, actor: &Actor, space: Option<&Space>, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "TeamView") {
        return refused;
    }
    match find(state, space, id) {
        Some(index) => Response::json(200, &grant_json(&state.prepared.scoped_roles[index])),
        None => not_found(id),
    }
}

/// The grant a body describes (with the id `id`), checked as Octopus checks it, and the
/// names of its role and team for the audit log.
fn checked(
    state: &State,
    space: Option<&Space>,
    body: &Map<String, Value>,
    id: String,
) -> Result<(ScopedUserRole, String, String), Answer> {
    let refuse = |message: &str| Err(done(invalid(message)));
    let Some(team) = state
        .prepared
        .teams
        .iter()
        .find(|t| t.id == text(body, "TeamId"))
    else {
        return refuse("The team does not exist.");
    };
    let Some(role) = state
        .prepared
        .user_roles
        .iter()
        .find(|r| r.id == text(body, "UserRoleId"))
    else {
        return refuse("The user role does not exist.");
    };
    let space_id = match (body.get("SpaceId").and_then(Value::as_str), space) {
        (Some(sent), Some(space)) if !sent.eq_ignore_ascii_case(&space.id) => {
            return refuse("The SpaceId does not match the space in the URL.");
        }
        (Some(sent), _) => Some(sent.to_string()),
        (None, space) => space.map(|s| s.id.clone()),
    };
    if let Some(team_space) = &team.space_id {
        if space_id.as_ref() != Some(team_space) {
            return refuse("A space team's roles must be scoped to its own space.");
        }
        if role.space_permissions.is_empty() {
            return refuse(&format!(
                "The role '{}' only has system permissions and cannot be assigned to a space team.",
                role.name
            ));
        }
    }
    let grant = ScopedUserRole {
        id,
        team_id: team.id.clone(),
        user_role_id: role.id.clone(),
        space_id,
        project_ids: string_list(body, "ProjectIds"),
        environment_ids: string_list(body, "EnvironmentIds"),
        project_group_ids: string_list(body, "ProjectGroupIds"),
        tenant_ids: string_list(body, "TenantIds"),
    };
    check_scopes(state, &grant)?;
    Ok((grant, role.name.clone(), team.name.clone()))
}

/// Every id of a scope names something of that kind in the grant's space.
fn check_scopes(state: &State, grant: &ScopedUserRole) -> Result<(), Answer> {
    let catalog = &state.catalog;
    let Some(space_id) = grant.space_id.as_deref() else {
        if grant.is_whole_space() {
            return Ok(());
        }
        return Err(done(invalid(
            "A grant without a space cannot be scoped to projects, environments or tenants.",
        )));
    };
    let unknown = [
        (
            "project",
            first_missing(&grant.project_ids, |id| {
                catalog.project(space_id, id).is_some()
            }),
        ),
        (
            "project group",
            first_missing(&grant.project_group_ids, |id| {
                catalog.has_project_group(space_id, id)
            }),
        ),
        (
            "environment",
            first_missing(&grant.environment_ids, |id| {
                catalog.has_environment(space_id, id)
            }),
        ),
        (
            "tenant",
            first_missing(&grant.tenant_ids, |id| catalog.has_tenant(space_id, id)),
        ),
    ];
    if let Some((kind, Some(id))) = unknown.into_iter().find(|(_, id)| id.is_some()) {
        return Err(done(invalid(&format!(
            "The {kind} '{id}' does not exist in space {space_id}."
        ))));
    }
    Ok(())
}

/// The first of `ids` that `exists` says does not.
fn first_missing(ids: &[String], exists: impl Fn(&str) -> bool) -> Option<&String> {
    ids.iter().find(|id| !exists(id))
}

/// `POST /api/scopeduserroles`: a new grant (201).
pub(super) fn create(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    space: Option<&Space>,
) -> Answer {
    if let Err(refused) = require(actor, "TeamEdit") {
        return refused;
    }
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let id = format!("ScopedUserRoles-{}", state.next());
    let (grant, role, team) = match checked(state, space, &body, id) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    state.prepared.scoped_roles.push(grant.clone());
    let change = Change {
        message: format!("Role {role} was granted to team {team}"),
        related_document_ids: vec![grant.id.clone(), grant.team_id.clone()],
    };
    (Response::json(201, &grant_json(&grant)), Some(change))
}

/// `PUT /api/scopeduserroles/{id}`: the grant replaced by the body, whole (a list left out
/// becomes empty: all of its kind). Its team cannot change.
pub(super) fn update(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    space: Option<&Space>,
    id: &str,
) -> Answer {
    if let Err(refused) = require(actor, "TeamEdit") {
        return refused;
    }
    let Some(index) = find(state, space, id) else {
        return done(not_found(id));
    };
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    if body
        .get("Id")
        .and_then(Value::as_str)
        .is_some_and(|sent| sent != id)
    {
        return done(invalid("The Id in the body does not match the URL."));
    }
    let current = state.prepared.scoped_roles[index].clone();
    let (grant, role, team) = match checked(state, space, &body, current.id.clone()) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    if grant.team_id != current.team_id {
        return done(invalid("The team of a grant cannot be changed."));
    }
    state.prepared.scoped_roles[index] = grant.clone();
    let change = Change {
        message: format!("Role {role} granted to team {team} was modified"),
        related_document_ids: vec![grant.id.clone(), grant.team_id.clone()],
    };
    (Response::json(200, &grant_json(&grant)), Some(change))
}

/// `DELETE /api/scopeduserroles/{id}`: the team no longer holds the role there.
pub(super) fn delete(state: &mut State, actor: &Actor, space: Option<&Space>, id: &str) -> Answer {
    if let Err(refused) = require(actor, "TeamEdit") {
        return refused;
    }
    let Some(index) = find(state, space, id) else {
        return done(not_found(id));
    };
    let grant = state.prepared.scoped_roles.remove(index);
    let name = |found: Option<&str>, fallback: &str| found.unwrap_or(fallback).to_string();
    let role = name(
        state
            .prepared
            .user_roles
            .iter()
            .find(|r| r.id == grant.user_role_id)
            .map(|r| r.name.as_str()),
        &grant.user_role_id,
    );
    let team = name(
        state
            .prepared
            .teams
            .iter()
            .find(|t| t.id == grant.team_id)
            .map(|t| t.name.as_str()),
        &grant.team_id,
    );
    let change = Change {
        message: format!("Role {role} was revoked from team {team}"),
        related_document_ids: vec![grant.id.clone(), grant.team_id.clone()],
    };
    (Response::json(200, &json!({})), Some(change))
}
